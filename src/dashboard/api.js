// The client of the /v1 API: the only module that calls fetch, and where the API token is kept.
//
// The token, when the server asks for one, lives in sessionStorage and travels as a Bearer
// header, on the live stream too (which is why the stream is read with fetch: EventSource cannot
// send headers). A 401 from anywhere goes to one handler, the token prompt.

const TOKEN_KEY = 'alertgate.token';

/** An answer from the API other than 2xx, carrying its `error.message`. */
export class ApiFailure extends Error {
  constructor(status, body) {
    super((body && body.error && body.error.message) || `The server answered ${status}.`);
    this.status = status;
    this.body = body;
  }
}

/** Whether `error` is the API refusing the token (the token prompt has been shown for it). */
export function isUnauthorized(error) {
  return error instanceof ApiFailure && error.status === 401;
}

/** What a 401 does; the token prompt sets it. */
let unauthorized = () => {};

export function onUnauthorized(handler) {
  unauthorized = handler;
}

export function hasToken() {
  return sessionStorage.getItem(TOKEN_KEY) !== null;
}

export function saveToken(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function forgetToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

function authHeaders() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { Authorization: `Bearer ${token}` } : {};
}

/** Calls the API; answers the parsed JSON body, throws ApiFailure for anything but 2xx. */
export async function api(path, options = {}) {
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
    unauthorized();
  }
  if (!response.ok) {
    throw new ApiFailure(response.status, body);
  }
  return body;
}

/**
 * Opens /v1/stream, resuming after `lastEventId` when there is one; answers the response once
 * its headers are in, throws ApiFailure for anything but 2xx.
 */
export async function openStream(lastEventId, signal) {
  const headers = { Accept: 'text/event-stream', ...authHeaders() };
  if (lastEventId !== null) headers['Last-Event-ID'] = lastEventId;
  const response = await fetch('/v1/stream', { headers, signal, cache: 'no-store' });
  if (response.status === 401) unauthorized();
  if (!response.ok) throw new ApiFailure(response.status, null);
  return response;
}

export function alertPath(alert) {
  return `/v1/alerts/${encodeURIComponent(alert.integration)}/${encodeURIComponent(alert.id)}`;
}

/** What tells two alerts apart: their integration and their id. */
export function keyOf(alert) {
  return `${alert.integration}\u0000${alert.id}`;
}
