#!/usr/bin/env python3
"""Slow clients against a real server: how much memory can they make it hold?

Starts the binary (default target/release/alertgate) on a free loopback port with a temporary
database and a token integration, then runs three loads one after another, printing the server's
resident memory (VmRSS) before each and its peak during it:

  bodies   CONNECTIONS connections to /v2/enqueue (no credential needed) declaring a 1 MiB body
           and trickling a few bytes every half second
  stream   STREAM_CLIENTS /v1/stream clients that never read while ALERTS alerts with a 900 KB
           Meta arrive
           (the same alerts are sent once before the clients connect, so what taking them costs
           by itself is in the figure before)
  replay   REPLAY_CLIENTS clients resuming from Last-Event-ID 0 that never read

Loopback only; every load is bounded in count and time, and the server is stopped at the end.

  bench/slow_clients.py [BINARY]
Settings (environment): CONNECTIONS (5000), STREAM_CLIENTS (10), ALERTS (50), REPLAY_CLIENTS (50).
"""
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

BINARY = sys.argv[1] if len(sys.argv) > 1 else "target/release/alertgate"
CONNECTIONS = int(os.environ.get("CONNECTIONS", 5000))
STREAM_CLIENTS = int(os.environ.get("STREAM_CLIENTS", 10))
ALERTS = int(os.environ.get("ALERTS", 50))
REPLAY_CLIENTS = int(os.environ.get("REPLAY_CLIENTS", 50))
TOKEN = "slow-clients-token"

# Both ends of every connection are in this process and the server's.
_, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

workdir = tempfile.mkdtemp(prefix="alertgate-slow-")
env = dict(os.environ, ALERTGATE_DB=os.path.join(workdir, "slow.db"), RUST_LOG="warn")
for name in ("ALERTGATE_API_TOKEN", "ALERTGATE_ADMIN_TOKEN", "ALERTGATE_BIND"):
    env.pop(name, None)
subprocess.run([BINARY, "integration", "add", "tok", "--secret", TOKEN], env=env, check=True,
               stdout=subprocess.DEVNULL)
server = subprocess.Popen([BINARY, "serve", "--bind", "127.0.0.1:0"], env=env,
                          stdout=subprocess.PIPE, text=True)


def listening_address():
    deadline = time.time() + 30
    while time.time() < deadline:
        line = server.stdout.readline()
        if line.startswith("alertgate listening on "):
            return line.split()[3].replace("http://", "")
    raise SystemExit("the server did not start")


ADDRESS = listening_address()
HOST, PORT = ADDRESS.split(":")[0], int(ADDRESS.split(":")[1])


def rss_mib():
    with open(f"/proc/{server.pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) // 1024
    return 0


def peak_over(seconds, between=None):
    peak, deadline = rss_mib(), time.time() + seconds
    while time.time() < deadline:
        if between:
            between()
        time.sleep(0.5)
        peak = max(peak, rss_mib())
    return peak


def connect():
    return socket.create_connection((HOST, PORT), timeout=5)


def post_alert(n, meta_bytes, round_):
    body = json.dumps({"event_type": "create", "Id": f"large-{n}", "Title": f"Large {n}",
                       "Meta": {"blob": "m" * meta_bytes, "round": round_}}).encode()
    request = urllib.request.Request(f"http://{ADDRESS}/hooks/tok", data=body, method="POST",
                                     headers={"content-type": "application/json",
                                              "pagertree-token": TOKEN})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 202, response.status


def stream_client(last_event_id=None):
    client = connect()
    resume = f"Last-Event-ID: {last_event_id}\r\n" if last_event_id is not None else ""
    client.sendall(f"GET /v1/stream HTTP/1.1\r\nHost: x\r\n{resume}\r\n".encode())
    return client


def report(name, before, peak, started):
    print(f"{name}: RSS {before} MiB -> peak {peak} MiB (+{peak - before} MiB) "
          f"in {time.time() - started:.1f} s", flush=True)


def bodies():
    started, before = time.time(), rss_mib()
    held = []
    for _ in range(CONNECTIONS):
        client = connect()
        client.sendall(b"POST /v2/enqueue HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                       b"Content-Length: 1048576\r\n\r\n{\"payload\": \"")
        held.append(client)

    def trickle():
        for client in held:
            try:
                client.sendall(b"x" * 64)
            except OSError:
                pass
    peak = peak_over(5, trickle)
    refused = 0
    for client in held:
        client.settimeout(0.01)
        try:
            refused += b" 503 " in client.recv(64)
        except OSError:
            pass
        client.close()
    report(f"bodies: {CONNECTIONS} connections declaring 1 MiB ({refused} answered 503)",
           before, peak, started)


def stream():
    started = time.time()
    # The alerts once without clients first, so what taking them costs by itself is in `before`.
    for n in range(ALERTS):
        post_alert(n, 900_000, 0)
    clients = [stream_client() for _ in range(STREAM_CLIENTS)]
    time.sleep(1)
    before = rss_mib()
    for n in range(ALERTS):
        post_alert(n, 900_000, 1)
    peak = peak_over(5)
    report(f"stream: {STREAM_CLIENTS} clients never reading, {ALERTS} alerts of 900 KB",
           before, peak, started)
    for client in clients:
        client.close()


def replay():
    started, before = time.time(), peak_over(1)
    clients = [stream_client(0) for _ in range(REPLAY_CLIENTS)]
    peak = peak_over(10)
    report(f"replay: {REPLAY_CLIENTS} clients from Last-Event-ID 0 never reading "
           f"({2 * ALERTS} events, alerts of 900 KB)", before, peak, started)
    for client in clients:
        client.close()


try:
    print(f"{BINARY} on {ADDRESS}: RSS {rss_mib()} MiB at start", flush=True)
    bodies()
    time.sleep(2)
    stream()
    time.sleep(2)
    replay()
    with urllib.request.urlopen(f"http://{ADDRESS}/healthz", timeout=10) as health:
        print(f"healthz after: {health.status}")
finally:
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
