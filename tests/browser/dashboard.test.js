// The dashboard in a real headless Chromium against the real server: what an on-call person
// sees and does. Run with `npm test` here after `cargo build` (CI runs it after `cargo test`).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import {
  freshDatabase, startServer, sendHook, callApi, launchBrowser, openPage, screenshotDir, INTEGRATION,
} from './harness.js';

let browser;

before(async () => {
  browser = await launchBrowser();
});

after(async () => {
  await browser.close();
});

/** Runs `body` with a server on a fresh database, and always cleans up after it. */
async function withServer(body, options = {}) {
  const database = freshDatabase();
  const server = await startServer(database.db, options);
  try {
    await body(server, database);
  } finally {
    await server.stop();
    database.remove();
  }
}

const ALERTS = [
  { event_type: 'create', Id: 'disk-db1', Title: 'Disk almost full on db1', Severity: 'critical', Tags: ['storage', 'prod'] },
  { event_type: 'create', Id: 'latency-api', Title: 'API latency above 2 s', Severity: 'warning', Tags: ['prod'] },
  { event_type: 'create', Id: 'cert-www', Title: 'Certificate expires in 10 days', Severity: 'info' },
  { event_type: 'create', Id: 'backup-nightly', Title: 'Nightly backup failed', Severity: 'error', Tags: ['storage'] },
];

/** Four alerts: two open, one acknowledged through the API, one resolved by its sender. */
async function seed(server) {
  for (const alert of ALERTS) {
    await sendHook(server, alert);
  }
  await sendHook(server, { event_type: 'create', Id: 'disk-db1', Title: 'Disk almost full on db1', Severity: 'critical', Tags: ['storage', 'prod'] });
  const acknowledged = await callApi(server, `/v1/alerts/${INTEGRATION}/latency-api/acknowledge`, {
    method: 'POST',
    body: { by: 'alice', note: 'looking at the load balancer' },
  });
  assert.equal(acknowledged.status, 200);
  await sendHook(server, { event_type: 'resolve', Id: 'cert-www' });
}

function row(page, id) {
  return page.locator(`#alerts tbody tr[data-id="${id}"]`);
}

async function waitForLive(page) {
  await page.locator('#live[data-status="live"]').waitFor({ timeout: 15000 });
}

/** Uncaught errors and Content-Security-Policy refusals the page ran into. */
function problems(page) {
  return page.problems.filter((text) => !/Failed to load resource/.test(text));
}

test('lists open and acknowledged alerts first, with labels, counts and ages', async () => {
  await withServer(async (server) => {
    await seed(server);
    const page = await openPage(browser);
    const response = await page.goto(server.address);
    const csp = response.headers()['content-security-policy'];
    assert.match(csp, /default-src 'self'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    await row(page, 'cert-www').waitFor();

    const ids = await page.locator('#alerts tbody tr').evaluateAll((rows) => rows.map((r) => r.dataset.id));
    // Active alerts newest change first, then the resolved one.
    assert.deepEqual(ids, ['latency-api', 'disk-db1', 'backup-nightly', 'cert-www']);

    const disk = row(page, 'disk-db1');
    assert.equal(await disk.locator('.badge').nth(0).textContent(), 'open');
    assert.equal(await disk.locator('.badge').nth(1).textContent(), 'critical');
    assert.equal(await disk.locator('td').nth(4).textContent(), '2', 'occurrences');
    assert.equal(await disk.locator('td').nth(5).textContent(), '1', 'episode');
    assert.deepEqual(await disk.locator('.tag').allTextContents(), ['storage', 'prod']);
    const age = disk.locator('time');
    assert.match(await age.textContent(), /^opened (just now|\d+ min ago)$/);
    assert.ok((await age.getAttribute('title')).length > 0, 'the exact time on hover');
    assert.equal(await row(page, 'latency-api').locator('.badge').first().textContent(), 'acknowledged');
    assert.match(await row(page, 'cert-www').locator('time').textContent(), /^resolved /);

    await page.locator('#stat-open').filter({ hasText: '2' }).waitFor();
    assert.equal(await page.locator('#stat-acknowledged').textContent(), '1');
    assert.match(await page.locator('#stat-mtta').textContent(), /^\d+ s$/);
    assert.match(await page.locator('#stat-mttr').textContent(), /^\d+ s$/);

    await page.screenshot({ path: join(screenshotDir, 'dashboard-list-1280.png'), fullPage: true });
    const narrow = await openPage(browser, 375, 'dark');
    await narrow.goto(server.address);
    await row(narrow, 'cert-www').waitFor();
    const overflow = await narrow.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the page is ${overflow} px wider than 375 px`);
    const tableOverflow = await narrow.locator('.table-wrap').first().evaluate((wrap) => wrap.scrollWidth - wrap.clientWidth);
    assert.ok(tableOverflow <= 0, `the table needs ${tableOverflow} px of sideways scrolling at 375 px`);
    assert.ok(await row(narrow, 'disk-db1').locator('.meta .badge', { hasText: 'critical' }).isVisible(), 'severity shown');
    await narrow.screenshot({ path: join(screenshotDir, 'dashboard-list-375.png'), fullPage: true });
    assert.deepEqual(problems(page), []);
    assert.deepEqual(problems(narrow), []);
  });
});

test('updates a row in place when its resolve arrives, and adds new alerts live', async () => {
  await withServer(async (server) => {
    await seed(server);
    const page = await openPage(browser);
    await page.goto(server.address);
    // The resolved alert comes last, in the list's second read: then the list is complete.
    await row(page, 'cert-www').waitFor();
    await waitForLive(page);
    const before = await page.locator('#alerts tbody tr').count();
    assert.equal(before, ALERTS.length);

    await sendHook(server, { event_type: 'resolve', Id: 'disk-db1' });
    await row(page, 'disk-db1').locator('.badge', { hasText: 'resolved' }).waitFor({ timeout: 5000 });
    await sendHook(server, { event_type: 'create', Id: 'queue-depth', Title: 'Queue depth rising', Severity: 'warning' });
    await row(page, 'queue-depth').waitFor({ timeout: 5000 });
    assert.equal(await page.locator('#alerts tbody tr').first().getAttribute('data-id'), 'queue-depth');
    assert.equal(await page.locator('#alerts tbody tr').count(), before + 1);
    await page.locator('#stat-open').filter({ hasText: '2' }).waitFor({ timeout: 5000 });
    assert.equal(await page.evaluate(() => location.pathname), '/', 'no reload happened');
    assert.deepEqual(problems(page), []);
  });
});

test('acknowledges from the detail view with the keyboard, and shows the timeline', async () => {
  await withServer(async (server) => {
    await seed(server);
    const page = await openPage(browser);
    await page.goto(server.address);
    await row(page, 'disk-db1').waitFor();

    await row(page, 'disk-db1').locator('button.link').focus();
    await page.keyboard.press('Enter');
    const dialog = page.locator('#detail');
    await dialog.waitFor();
    assert.equal(await page.locator('#detail-title').textContent(), 'Disk almost full on db1');
    await page.locator('#timeline tbody tr').nth(1).waitFor();
    const outcomes = await page.locator('#timeline tbody tr td:nth-child(3)').allTextContents();
    assert.deepEqual(outcomes, ['created', 'deduplicated']);

    await page.locator('#action-note').fill('on it, rotating logs');
    await page.locator('#action-by').fill('bob');
    await page.screenshot({ path: join(screenshotDir, 'dashboard-detail-1280.png') });
    await page.locator('#acknowledge').click();
    await page.locator('#timeline tbody tr').nth(2).waitFor();
    const last = page.locator('#timeline tbody tr').nth(2);
    assert.deepEqual(await last.locator('td').allTextContents().then((cells) => cells.slice(1)), [
      'acknowledge', 'acknowledged', '', 'api', 'bob', 'on it, rotating logs',
    ]);
    assert.ok(await page.locator('#acknowledge').isDisabled(), 'an acknowledged alert cannot be acknowledged again');
    await row(page, 'disk-db1').locator('.badge', { hasText: 'acknowledged' }).waitFor();
    const stored = await callApi(server, `/v1/alerts/${INTEGRATION}/disk-db1`);
    assert.equal(stored.body.state, 'acknowledged');
    assert.equal(stored.body.acknowledged_by, 'bob');

    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });

    const narrow = await openPage(browser, 375);
    await narrow.goto(server.address);
    await row(narrow, 'disk-db1').click();
    await narrow.locator('#timeline tbody tr').nth(2).waitFor();
    await narrow.screenshot({ path: join(screenshotDir, 'dashboard-detail-375.png') });
    assert.deepEqual(problems(page), []);
  });
});

test('shows the API error when an action is refused with 409', async () => {
  await withServer(async (server) => {
    await seed(server);
    const page = await openPage(browser);
    // No live stream for this page, so it cannot learn that the alert was resolved meanwhile.
    await page.route('**/v1/stream', (route) => route.abort());
    await page.goto(server.address);
    await row(page, 'backup-nightly').click();
    await page.locator('#detail-title').filter({ hasText: 'Nightly backup failed' }).waitFor();

    await sendHook(server, { event_type: 'resolve', Id: 'backup-nightly' });
    await page.locator('#resolve').click();
    const error = page.locator('#action-error');
    await error.waitFor();
    assert.match(await error.textContent(), /resolved/i);
    await page.locator('#detail-fields .badge', { hasText: 'resolved' }).waitFor();
    assert.ok(await page.locator('#resolve').isDisabled());
  });
});

test('filters from the URL, and mirrors the form back into it', async () => {
  await withServer(async (server) => {
    await seed(server);
    await sendHook(server, { event_type: 'create', Id: 'disk-db2', Title: 'Disk almost full on db2', Severity: 'critical' }, 'db');
    const page = await openPage(browser);
    await page.goto(`${server.address}/?severity=critical&q=DISK`);
    await page.locator('#alerts tbody tr').nth(1).waitFor();
    const ids = await page.locator('#alerts tbody tr').evaluateAll((rows) => rows.map((r) => r.dataset.id));
    assert.deepEqual(ids.sort(), ['disk-db1', 'disk-db2']);
    assert.equal(await page.locator('select[name=severity]').inputValue(), 'critical');
    assert.equal(await page.locator('input[name=q]').inputValue(), 'DISK');

    await page.locator('select[name=integration] option[value=db]').waitFor({ state: 'attached' });
    await page.locator('select[name=integration]').selectOption('db');
    await page.waitForURL(/integration=db/);
    await page.locator('#alerts tbody tr[data-id="disk-db1"]').waitFor({ state: 'detached' });
    await row(page, 'disk-db2').waitFor();
    assert.deepEqual(await page.locator('#alerts tbody tr').evaluateAll((rows) => rows.map((r) => r.dataset.id)), ['disk-db2']);

    await page.locator('input[name=tag]').fill('storage');
    await page.locator('select[name=integration]').selectOption('');
    await page.waitForURL((url) => url.search.includes('tag=storage') && !url.search.includes('integration'));
    await page.locator('#alerts tbody tr[data-id="disk-db1"]').waitFor();
    assert.equal(await page.locator('#alerts tbody tr').count(), 1);

    await page.goto(`${server.address}/?state=resolved`);
    await row(page, 'cert-www').waitFor();
    assert.equal(await page.locator('#alerts tbody tr').count(), 1);
    await page.goto(`${server.address}/?q=nothing-like-this`);
    await page.locator('#empty').waitFor();
  });
});

test('reconnects after the server restarts and catches up on what it missed', async () => {
  const database = freshDatabase();
  let server = await startServer(database.db);
  try {
    await seed(server);
    const page = await openPage(browser);
    await page.goto(server.address);
    await row(page, 'disk-db1').waitFor();
    await waitForLive(page);
    // One event seen live gives the page an event id to resume from.
    await sendHook(server, { event_type: 'create', Id: 'before-restart', Title: 'Raised before the restart' });
    await row(page, 'before-restart').waitFor({ timeout: 5000 });

    const port = server.port;
    await server.stop();
    await page.locator('#live[data-status="reconnecting"]').waitFor({ timeout: 15000 });
    assert.match(await page.locator('#live').textContent(), /reconnecting/);

    server = await startServer(database.db, { port });
    // Sent at once, most likely before the page is back: it arrives through Last-Event-ID.
    await sendHook(server, { event_type: 'resolve', Id: 'disk-db1' });
    await sendHook(server, { event_type: 'create', Id: 'after-restart', Title: 'Raised after the restart' });
    await waitForLive(page);
    await row(page, 'disk-db1').locator('.badge', { hasText: 'resolved' }).waitFor({ timeout: 15000 });
    await row(page, 'after-restart').waitFor({ timeout: 5000 });
    assert.equal(await page.locator('#alerts tbody tr[data-id="after-restart"]').count(), 1, 'shown once');
  } finally {
    await server.stop();
    database.remove();
  }
});

test('asks for the API token once and keeps it for the tab', async () => {
  await withServer(async (server) => {
    await sendHook(server, ALERTS[0]);
    const page = await openPage(browser);
    await page.goto(server.address);
    const form = page.locator('#token-form');
    await form.waitFor();
    assert.equal(await page.locator('#alerts tbody tr').count(), 0);

    await page.locator('#token-input').fill('not-the-token');
    await page.locator('#token-form button').click();
    await page.locator('#token-error').filter({ hasText: 'refused' }).waitFor();

    await page.locator('#token-input').fill('api-token-for-the-page');
    await page.locator('#token-form button').click();
    await row(page, 'disk-db1').waitFor();
    await waitForLive(page);
    await sendHook(server, { event_type: 'resolve', Id: 'disk-db1' });
    await row(page, 'disk-db1').locator('.badge', { hasText: 'resolved' }).waitFor({ timeout: 5000 });

    await page.reload();
    await row(page, 'disk-db1').waitFor();
    assert.ok(await form.isHidden(), 'the token is remembered in this tab');
  }, { env: { ALERTGATE_API_TOKEN: 'api-token-for-the-page' } });
});

test('renders 500 alerts', async () => {
  await withServer(async (server) => {
    const batch = Array.from({ length: 500 }, (_, n) => ({
      event_type: 'create',
      Id: `load-${n}`,
      Title: `Load alert number ${n}`,
      Severity: ['critical', 'error', 'warning', 'info'][n % 4],
      Tags: [`shard-${n % 7}`],
    }));
    await sendHook(server, batch);
    const page = await openPage(browser);
    const started = Date.now();
    await page.goto(server.address);
    await page.locator('#alerts tbody tr').nth(99).waitFor();
    const firstPage = Date.now() - started;
    for (let rows = 100; rows < 500; rows += 100) {
      await page.locator('#more').click();
      await page.locator('#alerts tbody tr').nth(rows + 99).waitFor();
    }
    const all = Date.now() - started;
    assert.equal(await page.locator('#alerts tbody tr').count(), 500);
    // A full last page cannot know it was the last: one more click finds nothing and says so.
    if (await page.locator('#more').isVisible()) {
      await page.locator('#more').click();
      await page.locator('#more').waitFor({ state: 'hidden' });
    }
    assert.equal(await page.locator('#alerts tbody tr').count(), 500);
    const navigation = await page.evaluate(() => {
      const [entry] = performance.getEntriesByType('navigation');
      return Math.round(entry.domContentLoadedEventEnd);
    });
    console.log(`# 500 alerts: page ready ${navigation} ms, first 100 rows ${firstPage} ms, all 500 rows (5 pages) ${all} ms`);
  });
});
