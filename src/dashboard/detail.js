// The detail dialog: one alert with its timeline, and the Acknowledge and Resolve buttons.

import { alertPath, api, ApiFailure, isUnauthorized, keyOf } from './api.js';
import { $, badge, element, timeText } from './format.js';
import { showListError } from './list.js';
import { statsChanged } from './stats.js';

const BY_KEY = 'alertgate.by';
/** Timeline events fetched per page. */
const EVENTS_PAGE_SIZE = 100;

/** The alert shown in the dialog; `timeline` counts reloads so a late page is never appended twice. */
const detail = { alert: null, cursor: null, generation: 0, timeline: 0 };

/** What an action's answer does with the alert it carries; the entry module sets it. */
let applyChange = () => {};

/**
 * Wires the dialog's buttons; `onChange(alert)` is called with the alert as an action left it,
 * or as it was found when the action was refused.
 */
export function setUpDetail({ onChange }) {
  applyChange = onChange;
  $('#timeline-more').addEventListener('click', () => loadTimeline());

  $('#detail').addEventListener('click', (event) => {
    if (event.target.closest('[data-close]')) $('#detail').close();
  });

  $('#detail').addEventListener('close', () => {
    detail.alert = null;
    detail.generation += 1;
  });

  $('#action-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const action = event.submitter && event.submitter.value;
    if (!detail.alert || !action) return;
    act(action);
  });
}

/** Reads the alert and opens the dialog on it. */
export async function openDetail(integration, id) {
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
    if (!isUnauthorized(error)) showListError(error);
  }
}

/** Shows an alert that changed, with its timeline read again, when it is the one in the dialog. */
export function showChangeInDetail(alert) {
  if (detail.alert && keyOf(detail.alert) === keyOf(alert)) {
    showDetail(alert, { reloadTimeline: true });
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

/** Acknowledges or resolves the alert in the dialog, with the note and name given. */
async function act(action) {
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
}
