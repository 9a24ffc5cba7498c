// The alert list: read page by page from /v1/alerts, active alerts first, and kept current as
// alerts change.

import { api, isUnauthorized, keyOf } from './api.js';
import { FILTER_NAMES, matches } from './filters.js';
import { $, badge, element, relativeTime } from './format.js';

/** Alerts fetched per "load more". */
const PAGE_SIZE = 100;
const ACTIVE_STATES = ['open', 'acknowledged'];

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

/** What choosing a row does; the entry module makes it open the detail dialog. */
let openAlert = () => {};

/** Wires "load more"; `onOpen(integration, id)` is called when a row is chosen. */
export function setUpList({ onOpen }) {
  openAlert = onOpen;
  $('#more').addEventListener('click', () => loadMore());
}

function segmentsFor(filters) {
  return filters.state ? [filters.state] : [ACTIVE_STATES.join(','), 'resolved'];
}

/** Empties the list and reads its first page with `filters`. */
export function reloadList(filters) {
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

/** Reads the list again from its first page, with the filters it has. */
export function refreshList() {
  reloadList(list.filters);
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
    if (generation === list.generation && !isUnauthorized(error)) {
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

/** Shows above the list why something could not be read. */
export function showListError(error) {
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

/** Shows an alert that changed: its row is updated in place, or a new one put where it belongs. */
export function showChangeInList(alert) {
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
    openAlert(alert.integration, alert.id);
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
  tr.addEventListener('click', () => openAlert(alert.integration, alert.id));
  return tr;
}
