// What the browser tests share: the real alertgate binary on a free port with a temporary
// database, hooks sent the way a monitoring tool sends them, and Debian's headless Chromium.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The binary under test: ALERTGATE_BIN, or the debug build that `cargo test` leaves. */
export const binary = process.env.ALERTGATE_BIN || join(root, 'target', 'debug', 'alertgate');

/** The integration the tests send to, with token auth. */
export const INTEGRATION = 'web';
export const HOOK_TOKEN = 'web-hook-token';

/** A fresh database with the `web` integration (and `db` as a second one), in its own folder. */
export function freshDatabase() {
  const folder = mkdtempSync(join(tmpdir(), 'alertgate-browser-'));
  const db = join(folder, 'alertgate.db');
  for (const [name, secret] of [[INTEGRATION, HOOK_TOKEN], ['db', 'db-hook-token']]) {
    execFileSync(binary, ['integration', 'add', name, '--secret', secret], {
      env: { ...cleanEnv(), ALERTGATE_DB: db },
      stdio: 'ignore',
    });
  }
  return { db, remove: () => rmSync(folder, { recursive: true, force: true }) };
}

function cleanEnv() {
  const env = { ...process.env, RUST_LOG: 'warn' };
  delete env.ALERTGATE_API_TOKEN;
  delete env.ALERTGATE_ADMIN_TOKEN;
  delete env.ALERTGATE_BIND;
  return env;
}

/**
 * Starts `alertgate serve` on `port` (0: a free one) and answers once it listens, with its
 * address and a `stop()` that sends SIGTERM and waits for the exit.
 */
export async function startServer(db, { port = 0, env = {} } = {}) {
  const child = spawn(binary, ['serve', '--bind', `127.0.0.1:${port}`, '--workers', '2'], {
    env: { ...cleanEnv(), ALERTGATE_DB: db, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const lines = createInterface({ input: child.stdout });
  const address = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the server did not start in 30 s')), 30000);
    child.once('exit', (code) => reject(new Error(`the server exited with ${code}`)));
    lines.on('line', (line) => {
      const match = /^alertgate listening on (\S+)/.exec(line);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
  });
  return {
    address,
    port: Number(new URL(address).port),
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** POSTs a PagerTree-format body to /hooks/web; answers the response after checking it is 202. */
export async function sendHook(server, body, integration = INTEGRATION) {
  const secret = integration === INTEGRATION ? HOOK_TOKEN : `${integration}-hook-token`;
  const response = await fetch(`${server.address}/hooks/${integration}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'pagertree-token': secret },
    body: JSON.stringify(body),
  });
  if (response.status !== 202) {
    throw new Error(`hook answered ${response.status}: ${await response.text()}`);
  }
  return response;
}

/** Calls the /v1 API as curl would. */
export async function callApi(server, path, { method = 'GET', body, token } = {}) {
  const headers = { 'Content-Type': 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(`${server.address}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

/** Debian's Chromium, headless, with nothing reaching out to the network. */
export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/**
 * A new page at `width` that records console errors and failed CSP checks, so a test can assert
 * the page ran clean.
 */
export async function openPage(browser, width = 1280, colorScheme = 'light') {
  const context = await browser.newContext({
    viewport: { width, height: width < 600 ? 800 : 900 },
    colorScheme,
  });
  const page = await context.newPage();
  page.problems = [];
  page.on('console', (message) => {
    if (message.type() === 'error') page.problems.push(message.text());
  });
  page.on('pageerror', (error) => page.problems.push(String(error)));
  return page;
}

/** Where screenshots go: SCREENSHOT_DIR (docs/ when refreshing them), else a temporary folder. */
export const screenshotDir = process.env.SCREENSHOT_DIR || mkdtempSync(join(tmpdir(), 'alertgate-shots-'));
