// The alertgate on-call dashboard: a client of the /v1 API and nothing else. This entry module
// wires the others together and starts the page:
//
//   api.js      the client of /v1: fetch, the API token, ApiFailure
//   token.js    the prompt for the API token, shown on a 401
//   format.js   DOM nodes built from text only, times and durations
//   filters.js  the filters, read from and mirrored into the URL
//   list.js     the alert list, paged and kept current
//   detail.js   the detail dialog: one alert, its timeline, Acknowledge and Resolve
//   stream.js   the live stream from /v1/stream and the indicator in the corner
//   stats.js    the header numbers from /v1/stats

import { openDetail, setUpDetail, showChangeInDetail } from './detail.js';
import { filtersFromUrl, setUpFilters, showFilters } from './filters.js';
import { refreshAges } from './format.js';
import { refreshList, reloadList, setUpList, showChangeInList } from './list.js';
import { loadStats, statsChanged } from './stats.js';
import { startStream } from './stream.js';
import { isAskingForToken, setUpTokenPrompt } from './token.js';

/** An alert changed, live or through an action here: its row, and the dialog if it shows it. */
function applyChange(alert) {
  showChangeInList(alert);
  showChangeInDetail(alert);
}

/** Connects the stream first, then reads the list and the numbers. */
async function start() {
  const filters = filtersFromUrl();
  showFilters(filters);
  await startStream({
    onAlert(alert) {
      applyChange(alert);
      statsChanged();
    },
    // The stream came back without knowing what it missed: read everything again.
    onGap() {
      refreshList();
      loadStats();
    },
  });
  if (isAskingForToken()) return;
  loadStats();
  reloadList(filters);
}

setUpTokenPrompt({ onToken: start });
setUpFilters({ onChange: reloadList });
setUpList({ onOpen: openDetail });
setUpDetail({ onChange: applyChange });
setInterval(refreshAges, 30000);
setInterval(loadStats, 60000);
start();
