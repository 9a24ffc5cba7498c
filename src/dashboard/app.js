// The alertgate on-call dashboard: a client of the /v1 API and nothing else.
//
// Everything shown is built with textContent, never innerHTML, so an alert's title or note can
// never become markup. The API token, when the server asks for one, lives in sessionStorage and
// travels as a Bearer header; the live stream is read with fetch for the same reason (EventSource
// cannot send headers), and follows the EventSource rules: `id:` lines are remembered and sent
// back as Last-Event-ID when it reconnects, so nothing is missed across a drop or a restart.
'use strict';

const TOKEN_KEY = 'alertgate.token';
const BY_KEY = 'alertgate.by';
/** Alerts fetched per "load more". */
const PAGE_SIZE = 100;
/** Timeline events fetched per page. */
const EVENTS_PAGE_SIZE = 100;
/** The server sends a heartbeat every 15 s; this much silence means the connection is dead. */
const STREAM_SILENCE_MS = 40000;
/** Longest wait between reconnection attempts. */
const MAX_RETRY_MS = 10000;
/** Header numbers are refreshed at most this often while events stream in. */
const STATS_INTERVAL_MS = 2000;
const FILTER_NAMES = ['state', 'integration', 'severity', 'tag', 'q'];
const ACTIVE_STATES = ['open', 'acknowledged'];

const $ = (selector) => document.querySelector(selector);

/** An answer from the API other than 2xx, carrying its `error.message`. */
class ApiFailure extends Error {
  constructor(status, body) {
    super((body && body.error && body.error.message) || `The server answered ${status}.`);
    this.status = status;
    this.body = body;
  }
}

// ---------------------------------------------------------------- the API

function authHeaders() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { Authorization: `Bearer ${token}` } : {};
}

/** Calls the API; answers the parsed JSON body, throws ApiFailure for anything but 2xx. */
async function api(path, options = {}) {
  const response = await fetch(path, {
    ...options,
    headers: { Accept: 'application/json', ...authHeaders(), ...(options.headers || {}) },
  });
  const text = await response.text();
  let body = null;
  if (text) {
    try {
      body = JSON.parse(text);
    } catch {
      body = null;
    }
  }
  if (response.status === 401) {
    askForToken();
  }
  if (!response.ok) {
    throw new ApiFailure(response.status, body);
  }
  return body;
}

function alertPath(alert) {
  return `/v1/alerts/${encodeURIComponent(alert.integration)}/${encodeURIComponent(alert.id)}`;
}

function keyOf(alert) {
  return `${alert.integration}\u0000${alert.id}`;
}

// ---------------------------------------------------------------- the token

let tokenRequested = false;

/** Shows the token form; once a token is given, everything starts again with it. */
function askForToken() {
  if (tokenRequested) return;
  tokenRequested = true;
  stopStream();
  const form = $('#token-form');
  const hadToken = sessionStorage.getItem(TOKEN_KEY) !== null;
  sessionStorage.removeItem(TOKEN_KEY);
  $('#token-error').textContent = hadToken ? 'That token was refused. Try again.' : '';
  form.hidden = false;
  $('#filters').hidden = true;
  $('#token-input').focus();
  setLive('offline', 'needs a token');
}

$('#token-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const token = $('#token-input').value.trim();
  if (!token) return;
  sessionStorage.setItem(TOKEN_KEY, token);
  $('#token-input').value = '';
  $('#token-form').hidden = true;
  $('#filters').hidden = false;
  tokenRequested = false;
  start();
});

// ---------------------------------------------------------------- formatting

const exactTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });

/** "just now", "12 min", "3 h", "4 d": how long ago `iso` was. */
function ago(iso) {
  const seconds = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (seconds < 45) return 'just now';
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.round(minutes / 60);
  if (hours < 48) return `${hours} h ago`;
  return `${Math.round(hours / 24)} d ago`;
}

/** A duration in seconds as "42 s", "7 min", "2.5 h" or "3.1 d". */
function duration(seconds) {
  if (seconds === null || seconds === undefined) return '–';
  if (seconds < 60) return `${Math.round(seconds)} s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  if (seconds < 86400) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86400).toFixed(1)} d`;
}

function element(tag, properties = {}, children = []) {
  const node = document.createElement(tag);
  Object.assign(node, properties);
  for (const child of children) {
    node.append(child);
  }
  return node;
}

/** A `<time>` showing "opened 12 min ago", the exact time on hover. */
function relativeTime(prefix, iso) {
  const node = element('time', { dateTime: iso, title: exactTime.format(new Date(iso)) });
  node.dataset.prefix = prefix;
  node.textContent = `${prefix} ${ago(iso)}`;
  return node;
}

function badge(kind, value) {
  const node = element('span', { className: `badge ${kind}-${value}`, textContent: value });
  return node;
}

// ---------------------------------------------------------------- filters and the URL

/** The filters the URL asks for. */
function filtersFromUrl() {
  const params = new URLSearchParams(location.search);
  const filters = {};
  for (const name of FILTER_NAMES) {
    filters[name] = params.get(name) || '';
  }
  return filters;
}

function showFilters(filters) {
  const form = $('#filters');
  for (const name of FILTER_NAMES) {
    const field = form.elements[name];
    if (field.tagName === 'SELECT' && filters[name] && !hasOption(field, filters[name])) {
      field.append(element('option', { value: filters[name], textContent: filters[name] }));
    }
    field.value = filters[name];
  }
}

function hasOption(select, value) {
  return Array.from(select.options).some((option) => option.value === value);
}

function filtersFromForm() {
  const form = $('#filters');
  const filters = {};
  for (const name of FILTER_NAMES) {
    filters[name] = form.elements[name].value.trim();
  }
  return filters;
}

/** Puts the filters in the address bar, so the view can be shared. */
function mirrorInUrl(filters) {
  const params = new URLSearchParams();
  for (const name of FILTER_NAMES) {
    if (filters[name]) params.set(name, filters[name]);
  }
  const query = params.toString();
  const url = query ? `?${query}` : location.pathname;
  if (url !== `${location.search || location.pathname}`) {
    history.pushState(null, '', url);
  }
}

/** Whether an alert belongs in the list the filters describe. */
function matches(alert, filters) {
  if (filters.state && !filters.state.split(',').includes(alert.state)) return false;
  if (filters.integration && alert.integration !== filters.integration) return false;
  if (filters.severity && !filters.severity.split(',').includes(alert.severity)) return false;
  if (filters.tag && !(alert.tags || []).includes(filters.tag)) return false;
  if (filters.q && !alert.title.toLowerCase().includes(filters.q.toLowerCase())) return false;
  return true;
}

$('#filters').addEventListener('submit', (event) => {
  event.preventDefault();
  const filters = filtersFromForm();
  mirrorInUrl(filters);
  reloadList(filters);
});

for (const select of document.querySelectorAll('#filters select')) {
  select.addEventListener('change', () => $('#filters').requestSubmit());
}

window.addEventListener('popstate', () => {
  const filters = filtersFromUrl();
  showFilters(filters);
  reloadList(filters);
});

// ---------------------------------------------------------------- the alert list

/**
 * The list being shown: rows by alert key, and where "load more" goes on. Without a state
 * filter the list reads two segments, active alerts then resolved ones, so what needs someone
 * always comes first.
 */
const list = {
  generation: 0,
  filters: {},
  segments: [],
  segment: 0,
  cursor: null,
  rows: new Map(),
  loading: false,
};

function segmentsFor(filters) {
  return filters.state ? [filters.state] : [ACTIVE_STATES.join(','), 'resolved'];
}

function reloadList(filters) {
  list.generation += 1;
  list.filters = filters;
  list.segments = segmentsFor(filters);
  list.segment = 0;
  list.cursor = null;
  list.rows.clear();
  list.loading = false;
  $('#alerts tbody').replaceChildren();
  $('#list-error').hidden = true;
  loadMore();
}

/** Fetches the next PAGE_SIZE alerts, moving on to the next segment when one runs out. */
async function loadMore() {
  if (list.loading || list.segment >= list.segments.length) return;
  list.loading = true;
  const generation = list.generation;
  const more = $('#more');
  more.disabled = true;
  let added = 0;
  try {
    while (added < PAGE_SIZE && list.segment < list.segments.length) {
      const params = new URLSearchParams();
      for (const name of FILTER_NAMES) {
        if (list.filters[name]) params.set(name, list.filters[name]);
      }
      params.set('state', list.segments[list.segment]);
      params.set('limit', String(PAGE_SIZE - added));
      if (list.cursor) params.set('cursor', list.cursor);
      const page = await api(`/v1/alerts?${params}`);
      if (generation !== list.generation) return;
      for (const alert of page.alerts) {
        if (appendAlert(alert)) added += 1;
      }
      if (page.next_cursor) {
        list.cursor = page.next_cursor;
      } else {
        list.segment += 1;
        list.cursor = null;
      }
    }
  } catch (error) {
    if (generation === list.generation && !(error instanceof ApiFailure && error.status === 401)) {
      showListError(error);
    }
  } finally {
    if (generation === list.generation) {
      list.loading = false;
      more.disabled = false;
      more.hidden = list.segment >= list.segments.length;
      $('#empty').hidden = list.rows.size > 0 || !more.hidden;
      updateCaption();
    }
  }
}

function showListError(error) {
  const node = $('#list-error');
  node.textContent = `Could not load alerts: ${error.message}`;
  node.hidden = false;
}

function updateCaption() {
  const count = list.rows.size;
  $('#alerts-caption').textContent = `${count} alert${count === 1 ? '' : 's'} shown`;
}

/** Adds an alert read from a page at the end; answers false when it was already shown. */
function appendAlert(alert) {
  const shown = list.rows.get(keyOf(alert));
  if (shown) {
    if (alert.updated_at > shown.alert.updated_at) updateRow(shown, alert);
    return false;
  }
  const row = { alert, tr: renderRow(alert) };
  list.rows.set(keyOf(alert), row);
  $('#alerts tbody').append(row.tr);
  return true;
}

/** Applies an alert that changed: its row is updated in place, or a new one put where it belongs. */
function applyChange(alert) {
  const shown = list.rows.get(keyOf(alert));
  if (shown) {
    updateRow(shown, alert);
  } else if (matches(alert, list.filters)) {
    const row = { alert, tr: renderRow(alert) };
    const tbody = $('#alerts tbody');
    if (list.segments.length === 1 || ACTIVE_STATES.includes(alert.state)) {
      tbody.prepend(row.tr);
    } else {
      // A resolved alert in the active-first view: first among the resolved, if any are shown;
      // otherwise "load more" reaches it in its turn.
      const firstResolved = Array.from(list.rows.values()).find((r) => r.alert.state === 'resolved');
      if (!firstResolved) return;
      tbody.insertBefore(row.tr, firstResolved.tr);
    }
    list.rows.set(keyOf(alert), row);
    $('#empty').hidden = true;
    updateCaption();
  }
  if (detail.alert && keyOf(detail.alert) === keyOf(alert)) {
    showDetail(alert, { reloadTimeline: true });
  }
}

function updateRow(row, alert) {
  row.alert = alert;
  const tr = renderRow(alert);
  row.tr.replaceWith(tr);
  row.tr = tr;
  tr.classList.add('changed');
}

function renderRow(alert) {
  const open = element('button', { type: 'button', className: 'link', textContent: alert.title });
  open.addEventListener('click', (event) => {
    event.stopPropagation();
    openDetail(alert.integration, alert.id);
  });
  // On a narrow screen the severity and integration columns fold into this line.
  const narrowSeverity = badge('severity', alert.severity);
  narrowSeverity.classList.add('narrow-only');
  const meta = element('div', { className: 'meta' }, [
    narrowSeverity,
    element('span', { className: 'narrow-only', textContent: alert.integration }),
    ...(alert.tags || []).map((tag) => element('span', { className: 'tag', textContent: tag })),
  ]);
  const age = alert.state === 'resolved' && alert.resolved_at
    ? relativeTime('resolved', alert.resolved_at)
    : relativeTime('opened', alert.opened_at);
  const tr = element('tr', {}, [
    element('td', {}, [badge('state', alert.state)]),
    element('td', { className: 'wide-only' }, [badge('severity', alert.severity)]),
    element('td', { className: 'title' }, [open, meta]),
    element('td', { className: 'wide-only', textContent: alert.integration }),
    element('td', { className: 'num wide-only', textContent: String(alert.occurrences) }),
    element('td', { className: 'num wide-only', textContent: String(alert.episode) }),
    element('td', { className: 'age' }, [age]),
  ]);
  tr.dataset.integration = alert.integration;
  tr.dataset.id = alert.id;
  tr.dataset.state = alert.state;
  tr.addEventListener('click', () => openDetail(alert.integration, alert.id));
  return tr;
}

$('#more').addEventListener('click', () => loadMore());

/** Keeps "12 min ago" true. */
function refreshAges() {
  for (const node of document.querySelectorAll('time[data-prefix]')) {
    node.textContent = `${node.dataset.prefix} ${ago(node.dateTime)}`;
  }
}

// ---------------------------------------------------------------- the header numbers

let statsTimer = null;
let statsDue = false;

async function loadStats() {
  try {
    const stats = await api('/v1/stats');
    $('#stat-open').textContent = String(stats.by_state.open);
    $('#stat-acknowledged').textContent = String(stats.by_state.acknowledged);
    $('#stat-mtta').textContent = duration(stats.mtta_seconds);
    $('#stat-mttr').textContent = duration(stats.mttr_seconds);
    const select = $('#filters').elements.integration;
    for (const name of Object.keys(stats.by_integration).sort()) {
      if (!hasOption(select, name)) {
        select.append(element('option', { value: name, textContent: name }));
      }
    }
  } catch {
    // The list shows what went wrong; the numbers keep their last values.
  }
}

/** Refreshes the numbers soon, at most once per STATS_INTERVAL_MS however many events arrive. */
function statsChanged() {
  if (statsTimer) {
    statsDue = true;
    return;
  }
  loadStats();
  statsTimer = setTimeout(() => {
    statsTimer = null;
    if (statsDue) {
      statsDue = false;
      statsChanged();
    }
  }, STATS_INTERVAL_MS);
}

// ---------------------------------------------------------------- the live stream

const stream = { controller: null, lastEventId: null, session: 0 };

function setLive(status, text) {
  const node = $('#live');
  node.dataset.status = status;
  node.textContent = text || status;
}

function stopStream() {
  stream.session += 1;
  if (stream.controller) stream.controller.abort();
  stream.controller = null;
}

/**
 * Reads /v1/stream until stopped, reconnecting with growing pauses. Resolves once the first
 * connection is up (or has failed), so the list can be read after the stream has started and
 * no change falls between the two.
 */
function startStream() {
  stopStream();
  const session = stream.session;
  return new Promise((connected) => {
    (async () => {
      let failures = 0;
      let reconnect = false;
      while (session === stream.session) {
        setLive(reconnect ? 'reconnecting' : 'connecting', reconnect ? 'reconnecting…' : 'connecting');
        try {
          await readStream(session, reconnect, connected);
          failures = 0;
        } catch (error) {
          if (error instanceof ApiFailure && error.status === 401) {
            connected();
            return;
          }
          failures += 1;
        }
        connected();
        if (session !== stream.session) return;
        reconnect = true;
        setLive('reconnecting', 'reconnecting…');
        const pause = Math.min(MAX_RETRY_MS, 500 * 2 ** Math.min(failures, 5));
        await new Promise((resume) => setTimeout(resume, pause * (0.75 + Math.random() / 2)));
      }
    })();
  });
}

/**
 * One connection: parses Server-Sent Events as they arrive and applies each `alert` event.
 * A reconnect without an event id to resume from (nothing had arrived yet) cannot know what it
 * missed, so the list is read again once it is up.
 */
async function readStream(session, reconnect, connected) {
  const controller = new AbortController();
  stream.controller = controller;
  const headers = { Accept: 'text/event-stream', ...authHeaders() };
  const resuming = stream.lastEventId !== null;
  if (resuming) headers['Last-Event-ID'] = stream.lastEventId;
  let silence = setTimeout(() => controller.abort(), STREAM_SILENCE_MS);
  try {
    const response = await fetch('/v1/stream', { headers, signal: controller.signal, cache: 'no-store' });
    if (response.status === 401) askForToken();
    if (!response.ok) throw new ApiFailure(response.status, null);
    setLive('live', 'live');
    connected();
    if (reconnect && !resuming) {
      reloadList(list.filters);
      loadStats();
    }
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    let event = { id: null, type: 'message', data: [] };
    for (;;) {
      const { value, done } = await reader.read();
      if (done || session !== stream.session) return;
      clearTimeout(silence);
      silence = setTimeout(() => controller.abort(), STREAM_SILENCE_MS);
      buffer += value;
      const lines = buffer.split('\n');
      buffer = lines.pop();
      for (const raw of lines) {
        const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
        if (line === '') {
          if (event.id !== null) stream.lastEventId = event.id;
          if (event.type === 'alert' && event.data.length) receive(event.data.join('\n'));
          event = { id: null, type: 'message', data: [] };
          continue;
        }
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        let text = colon < 0 ? '' : line.slice(colon + 1);
        if (text.startsWith(' ')) text = text.slice(1);
        if (field === 'id') event.id = text;
        else if (field === 'event') event.type = text;
        else if (field === 'data') event.data.push(text);
      }
    }
  } finally {
    clearTimeout(silence);
  }
}

function receive(data) {
  let alert;
  try {
    alert = JSON.parse(data);
  } catch {
    return;
  }
  applyChange(alert);
  statsChanged();
}

// ---------------------------------------------------------------- the detail dialog

/** The alert shown in the dialog; `timeline` counts reloads so a late page is never appended twice. */
const detail = { alert: null, cursor: null, generation: 0, timeline: 0 };

async function openDetail(integration, id) {
  const dialog = $('#detail');
  detail.generation += 1;
  const generation = detail.generation;
  $('#action-error').hidden = true;
  $('#action-note').value = '';
  $('#action-by').value = localStorage.getItem(BY_KEY) || '';
  try {
    const alert = await api(alertPath({ integration, id }));
    if (generation !== detail.generation) return;
    showDetail(alert, { reloadTimeline: true });
    if (!dialog.open) dialog.showModal();
  } catch (error) {
    if (!(error instanceof ApiFailure && error.status === 401)) showListError(error);
  }
}

function showDetail(alert, { reloadTimeline }) {
  detail.alert = alert;
  $('#detail-title').textContent = alert.title;
  const fields = [
    ['State', badge('state', alert.state)],
    ['Severity', badge('severity', alert.severity)],
    ['Integration', alert.integration],
    ['Id', alert.id],
    ['Occurrences', String(alert.occurrences)],
    ['Episode', String(alert.episode)],
    ['Opened', timeText(alert.opened_at)],
    ['First seen', timeText(alert.created_at)],
    ['Acknowledged', alert.acknowledged_at ? `${timeText(alert.acknowledged_at)}${alert.acknowledged_by ? ` by ${alert.acknowledged_by}` : ''}` : '–'],
    ['Resolved', alert.resolved_at ? `${timeText(alert.resolved_at)}${alert.resolved_by ? ` by ${alert.resolved_by}` : ''}` : '–'],
    ['Updated', timeText(alert.updated_at)],
  ];
  if (alert.tags && alert.tags.length) fields.push(['Tags', alert.tags.join(', ')]);
  if (alert.description) fields.push(['Description', alert.description]);
  if (alert.meta && Object.keys(alert.meta).length) {
    fields.push(['Meta', element('pre', { textContent: JSON.stringify(alert.meta, null, 2) })]);
  }
  $('#detail-fields').replaceChildren(...fields.flatMap(([name, value]) => [
    element('dt', { textContent: name }),
    element('dd', {}, [value]),
  ]));
  $('#acknowledge').disabled = alert.state !== 'open';
  $('#resolve').disabled = alert.state === 'resolved';
  if (reloadTimeline) {
    detail.timeline += 1;
    detail.cursor = null;
    $('#timeline tbody').replaceChildren();
    loadTimeline();
  }
}

function timeText(iso) {
  return iso ? exactTime.format(new Date(iso)) : '–';
}

async function loadTimeline() {
  const alert = detail.alert;
  const timeline = detail.timeline;
  const params = new URLSearchParams({ limit: String(EVENTS_PAGE_SIZE) });
  if (detail.cursor) params.set('cursor', detail.cursor);
  const more = $('#timeline-more');
  more.disabled = true;
  try {
    const page = await api(`${alertPath(alert)}/events?${params}`);
    if (timeline !== detail.timeline || !detail.alert || keyOf(alert) !== keyOf(detail.alert)) return;
    const tbody = $('#timeline tbody');
    for (const entry of page.events) {
      tbody.append(element('tr', {}, [
        element('td', {}, [element('time', { dateTime: entry.at, textContent: timeText(entry.at) })]),
        element('td', { textContent: entry.action }),
        element('td', { textContent: entry.outcome }),
        element('td', { textContent: entry.reason || '' }),
        element('td', { textContent: entry.source }),
        element('td', { textContent: entry.by || '' }),
        element('td', { className: 'note', textContent: entry.note || '' }),
      ]));
    }
    detail.cursor = page.next_cursor;
    more.hidden = !page.next_cursor;
  } catch (error) {
    showActionError(`Could not load the timeline: ${error.message}`);
  } finally {
    if (timeline === detail.timeline) more.disabled = false;
  }
}

function showActionError(message) {
  const node = $('#action-error');
  node.textContent = message;
  node.hidden = false;
}

$('#timeline-more').addEventListener('click', () => loadTimeline());

$('#detail').addEventListener('click', (event) => {
  if (event.target.closest('[data-close]')) $('#detail').close();
});

$('#detail').addEventListener('close', () => {
  detail.alert = null;
  detail.generation += 1;
});

$('#action-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const action = event.submitter && event.submitter.value;
  if (!detail.alert || !action) return;
  const note = $('#action-note').value.trim();
  const by = $('#action-by').value.trim();
  if (by) localStorage.setItem(BY_KEY, by);
  const body = {};
  if (note) body.note = note;
  if (by) body.by = by;
  $('#action-error').hidden = true;
  const buttons = $('#action-form').querySelectorAll('button');
  for (const button of buttons) button.disabled = true;
  try {
    const answer = await api(`${alertPath(detail.alert)}/${action}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
    $('#action-note').value = '';
    applyChange(answer.alert);
    statsChanged();
  } catch (error) {
    showActionError(error.message);
    if (error instanceof ApiFailure && error.body && error.body.alert) {
      // 409: the alert moved on meanwhile; show it as it is now, with the reason.
      applyChange(error.body.alert);
    } else if (detail.alert) {
      showDetail(detail.alert, { reloadTimeline: false });
    }
  }
});

// ---------------------------------------------------------------- start

/** Connects the stream first, then reads the list and the numbers. */
async function start() {
  const filters = filtersFromUrl();
  showFilters(filters);
  await startStream();
  if (tokenRequested) return;
  loadStats();
  reloadList(filters);
}

setInterval(refreshAges, 30000);
setInterval(loadStats, 60000);
start();
