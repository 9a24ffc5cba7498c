// The header numbers from /v1/stats: open, acknowledged, MTTA and MTTR; and the integrations they
// name, offered in the filter form.

import { api } from './api.js';
import { $, duration, element, hasOption } from './format.js';

/** Header numbers are refreshed at most this often while events stream in. */
const STATS_INTERVAL_MS = 2000;

let statsTimer = null;
let statsDue = false;

export async function loadStats() {
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
export function statsChanged() {
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
