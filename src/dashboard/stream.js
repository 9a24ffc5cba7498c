// The live stream: reads /v1/stream and hands on each alert that changed, reconnecting after a
// drop or a restart; and the indicator in the corner that says how it is going.
//
// It follows the EventSource rules: `id:` lines are remembered and sent back as Last-Event-ID
// when it reconnects, so nothing is missed across a drop or a restart.

import { isUnauthorized, openStream } from './api.js';
import { $ } from './format.js';

/** The server sends a heartbeat every 15 s; this much silence means the connection is dead. */
const STREAM_SILENCE_MS = 40000;
/** Longest wait between reconnection attempts. */
const MAX_RETRY_MS = 10000;

const stream = { controller: null, lastEventId: null, session: 0 };

/** Shows the connection's `status` ("live", "reconnecting", …) in the corner. */
export function setLive(status, text) {
  const node = $('#live');
  node.dataset.status = status;
  node.textContent = text || status;
}

export function stopStream() {
  stream.session += 1;
  if (stream.controller) stream.controller.abort();
  stream.controller = null;
}

/**
 * Reads /v1/stream until stopped, reconnecting with growing pauses, and calls `onAlert(alert)`
 * for each alert that changed. Resolves once the first connection is up (or has failed), so the
 * list can be read after the stream has started and no change falls between the two. `onGap()`
 * is called when a reconnection could not resume where the last connection stopped.
 */
export function startStream({ onAlert, onGap }) {
  stopStream();
  const session = stream.session;
  return new Promise((connected) => {
    (async () => {
      let failures = 0;
      let reconnect = false;
      while (session === stream.session) {
        setLive(reconnect ? 'reconnecting' : 'connecting', reconnect ? 'reconnecting…' : 'connecting');
        try {
          await readStream(session, reconnect, connected, { onAlert, onGap });
          failures = 0;
        } catch (error) {
          if (isUnauthorized(error)) {
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
 * One connection: parses Server-Sent Events as they arrive and hands on each `alert` event.
 * A reconnect without an event id to resume from (nothing had arrived yet) cannot know what it
 * missed, so it reports a gap once it is up.
 */
async function readStream(session, reconnect, connected, { onAlert, onGap }) {
  const controller = new AbortController();
  stream.controller = controller;
  const resuming = stream.lastEventId !== null;
  let silence = setTimeout(() => controller.abort(), STREAM_SILENCE_MS);
  try {
    const response = await openStream(stream.lastEventId, controller.signal);
    setLive('live', 'live');
    connected();
    if (reconnect && !resuming) onGap();
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
          if (event.type === 'alert' && event.data.length) receive(event.data.join('\n'), onAlert);
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

/** Hands on the alert an event carries; data that is not JSON is skipped. */
function receive(data, onAlert) {
  let alert;
  try {
    alert = JSON.parse(data);
  } catch {
    return;
  }
  onAlert(alert);
}
