// The filters: read from the URL, shown in the form, mirrored back into the URL so a view can be
// shared, and applied to alerts that arrive live.

import { $, element, hasOption } from './format.js';

export const FILTER_NAMES = ['state', 'integration', 'severity', 'tag', 'q'];

/** Calls `onChange(filters)` when the form is applied or the browser goes back or forward. */
export function setUpFilters({ onChange }) {
  $('#filters').addEventListener('submit', (event) => {
    event.preventDefault();
    const filters = filtersFromForm();
    mirrorInUrl(filters);
    onChange(filters);
  });

  for (const select of document.querySelectorAll('#filters select')) {
    select.addEventListener('change', () => $('#filters').requestSubmit());
  }

  window.addEventListener('popstate', () => {
    const filters = filtersFromUrl();
    showFilters(filters);
    onChange(filters);
  });
}

/** The filters the URL asks for. */
export function filtersFromUrl() {
  const params = new URLSearchParams(location.search);
  const filters = {};
  for (const name of FILTER_NAMES) {
    filters[name] = params.get(name) || '';
  }
  return filters;
}

export function showFilters(filters) {
  const form = $('#filters');
  for (const name of FILTER_NAMES) {
    const field = form.elements[name];
    if (field.tagName === 'SELECT' && filters[name] && !hasOption(field, filters[name])) {
      field.append(element('option', { value: filters[name], textContent: filters[name] }));
    }
    field.value = filters[name];
  }
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
export function matches(alert, filters) {
  if (filters.state && !filters.state.split(',').includes(alert.state)) return false;
  if (filters.integration && alert.integration !== filters.integration) return false;
  if (filters.severity && !filters.severity.split(',').includes(alert.severity)) return false;
  if (filters.tag && !(alert.tags || []).includes(filters.tag)) return false;
  if (filters.q && !alert.title.toLowerCase().includes(filters.q.toLowerCase())) return false;
  return true;
}
