// The token prompt: shown when the API answers 401, it takes the API token for this tab.

import { forgetToken, hasToken, onUnauthorized, saveToken } from './api.js';
import { $ } from './format.js';
import { setLive, stopStream } from './stream.js';

let tokenRequested = false;

/** Whether the page is waiting for a token, and so should not read anything yet. */
export function isAskingForToken() {
  return tokenRequested;
}

/** Makes every 401 show the prompt; once a token is given, `onToken` starts everything again. */
export function setUpTokenPrompt({ onToken }) {
  onUnauthorized(askForToken);
  $('#token-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const token = $('#token-input').value.trim();
    if (!token) return;
    saveToken(token);
    $('#token-input').value = '';
    $('#token-form').hidden = true;
    $('#filters').hidden = false;
    tokenRequested = false;
    onToken();
  });
}

/** Shows the token form, once however many requests were refused, and stops the stream. */
function askForToken() {
  if (tokenRequested) return;
  tokenRequested = true;
  stopStream();
  const form = $('#token-form');
  const hadToken = hasToken();
  forgetToken();
  $('#token-error').textContent = hadToken ? 'That token was refused. Try again.' : '';
  form.hidden = false;
  $('#filters').hidden = true;
  $('#token-input').focus();
  setLive('offline', 'needs a token');
}
