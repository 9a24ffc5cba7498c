#!/usr/bin/env python3
"""Writes a wrk Lua script that sends pre-generated, HMAC-signed pagertree bodies.

The mix is create, create, acknowledge, resolve per Id (2:1:1) over `--ids` distinct Ids, in
rounds, so each Id sees its lifecycle again and again; `--batch N` puts N events in each request.
Signatures are computed here, once, so wrk spends its time sending rather than hashing.
"""
import argparse
import hashlib
import hmac
import json

parser = argparse.ArgumentParser()
parser.add_argument("--key", required=True)
parser.add_argument("--prefix", required=True, help="fresh per run, so a run starts with new Ids")
parser.add_argument("--ids", type=int, default=1000)
parser.add_argument("--batch", type=int, default=1)
parser.add_argument("--path", default="/hooks/bench")
parser.add_argument("--out", required=True)
args = parser.parse_args()

ACTIONS = ["create", "create", "acknowledge", "resolve"]
# Ids go in chunks of at most 1,000, each chunk through the whole mix before the next, so any
# stretch of a few thousand requests holds the 2:1:1 mix however many Ids there are.
CHUNK = 1000
events = []
for chunk in range(0, args.ids, CHUNK):
    for action in ACTIONS:
        for n in range(chunk, min(chunk + CHUNK, args.ids)):
            event = {"event_type": action, "Id": f"{args.prefix}-{n}"}
            if action == "create":
                event["Title"] = f"Disk almost full on node {n}"
                event["Severity"] = "warning"
            events.append(event)

requests = []
for start in range(0, len(events), args.batch):
    chunk = events[start:start + args.batch]
    body = json.dumps(chunk[0] if args.batch == 1 else chunk, separators=(",", ":"))
    signature = hmac.new(args.key.encode(), body.encode(), hashlib.sha256).hexdigest()
    requests.append((body, signature))


def lua_string(text):
    return "[==[" + text + "]==]"


with open(args.out, "w") as out:
    out.write("local bodies = {\n")
    for body, _ in requests:
        out.write("  " + lua_string(body) + ",\n")
    out.write("}\nlocal signatures = {\n")
    for _, signature in requests:
        out.write('  "' + signature + '",\n')
    out.write("}\n")
    out.write(f"""
local count = #bodies
local next_index = 1
local thread_number = 0

function setup(thread)
  thread:set("offset", thread_number * math.floor(count / 2))
  thread_number = thread_number + 1
end

function init(args)
  next_index = (offset or 0) % count + 1
end

function request()
  local i = next_index
  next_index = next_index % count + 1
  return wrk.format("POST", "{args.path}", {{
    ["Content-Type"] = "application/json",
    ["X-Signature"] = signatures[i],
  }}, bodies[i])
end
""")
