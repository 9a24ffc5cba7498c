// How the page shows values: DOM nodes built from text, times and durations.
//
// Everything shown is built with textContent, never innerHTML, so an alert's title or note can
// never become markup; `element` is the one way the other modules make nodes.

const exactTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });

/** The first element the selector finds. */
export const $ = (selector) => document.querySelector(selector);

/** A new `tag` element with `properties` (textContent, never innerHTML) and `children`. */
export function element(tag, properties = {}, children = []) {
  const node = document.createElement(tag);
  Object.assign(node, properties);
  for (const child of children) {
    node.append(child);
  }
  return node;
}

/** A coloured label with its name, such as the state or severity of an alert. */
export function badge(kind, value) {
  const node = element('span', { className: `badge ${kind}-${value}`, textContent: value });
  return node;
}

/** Whether the `<select>` offers `value`. */
export function hasOption(select, value) {
  return Array.from(select.options).some((option) => option.value === value);
}

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
export function duration(seconds) {
  if (seconds === null || seconds === undefined) return '–';
  if (seconds < 60) return `${Math.round(seconds)} s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  if (seconds < 86400) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86400).toFixed(1)} d`;
}

/** The exact time, in the reader's locale; "–" when there is none. */
export function timeText(iso) {
  return iso ? exactTime.format(new Date(iso)) : '–';
}

/** A `<time>` showing "opened 12 min ago", the exact time on hover. */
export function relativeTime(prefix, iso) {
  const node = element('time', { dateTime: iso, title: exactTime.format(new Date(iso)) });
  node.dataset.prefix = prefix;
  node.textContent = `${prefix} ${ago(iso)}`;
  return node;
}

/** Keeps "12 min ago" true. */
export function refreshAges() {
  for (const node of document.querySelectorAll('time[data-prefix]')) {
    node.textContent = `${node.dataset.prefix} ${ago(node.dateTime)}`;
  }
}
