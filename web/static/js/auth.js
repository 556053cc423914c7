// Credentials. When the gateway asks for them (a 401), the UI asks the person for an API token,
// keeps it in this tab's sessionStorage only (never localStorage, never in an address) and
// sends it as Authorization: Bearer with every API call. GET /whoami says whom the gateway
// takes the token for and what it may do; the header shows it, and the views hide what the
// token may not do (showIf, can). With authentication off none of this shows.

import { setCredentials, whoami, ApiError } from './api.js';
import { h, clear } from './dom.js';
import { parsePermissions, allows, anyKey, scope, needed } from './permissions.js';

const TOKEN_KEY = 'kv-gateway.token';
// Only when sessionStorage is unavailable (disabled by the browser): the token then lives as
// long as the page, and nowhere else.
let memoryToken = null;

/** currentToken is the token this tab sends, or null. */
export function currentToken() {
  try {
    return window.sessionStorage.getItem(TOKEN_KEY) || memoryToken;
  } catch {
    return memoryToken;
  }
}

function keepToken(token) {
  try {
    window.sessionStorage.setItem(TOKEN_KEY, token);
    memoryToken = null;
  } catch {
    memoryToken = token;
  }
}

function dropToken() {
  try {
    window.sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // Nothing stored.
  }
  memoryToken = null;
}

// identity is the last answer of /whoami, with its permissions parsed; null while unknown.
let identity = null;
// authRequired: the gateway has asked for credentials (or named a token), so the header shows
// the token state.
let authRequired = false;
// declined: the person closed the prompt; 401s are then shown as errors (with a button that
// asks again) instead of opening the prompt at every request.
let declined = false;
let loading = null;
let prompt = null;
let refresh = () => {};

const OFF = { auth: 'off', id: null, permissions: ['*:*'], expires: null };

function identityFrom(body) {
  const b = body && typeof body === 'object' ? body : {};
  const texts = Array.isArray(b.permissions) ? b.permissions.filter((p) => typeof p === 'string') : [];
  const { valid, invalid } = parsePermissions(texts);
  return {
    auth: typeof b.auth === 'string' ? b.auth : 'off',
    id: typeof b.id === 'string' ? b.id : null,
    permissions: texts,
    expires: typeof b.expires === 'string' ? b.expires : null,
    perms: valid,
    invalid,
  };
}

function setIdentity(id) {
  identity = id;
  if (id && id.auth !== 'off') authRequired = true;
  renderIdentity();
  applyBindings();
}

/** limited is true when an identity with permissions is known (authentication on). */
function limited() {
  return !!identity && identity.auth !== 'off';
}

/** currentIdentity is the /whoami answer in use ({ auth, id, permissions, expires }), or null. */
export function currentIdentity() {
  return identity;
}

/**
 * initAuth wires the token into every API call and draws the header's token state.
 * refreshView re-renders the current view (after a token is entered or forgotten).
 */
export function initAuth({ refreshView }) {
  refresh = refreshView || refresh;
  setCredentials({ token: currentToken, onUnauthorized });
  const dialog = document.getElementById('token-dialog');
  document.getElementById('token-cancel').addEventListener('click', () => dialog.close('cancel'));
  renderIdentity();
}

/**
 * ensureIdentity resolves to the caller's identity, asking /whoami once (and, on a 401, the
 * person for a token). It resolves null when that is unknown (prompt closed, gateway down):
 * the views then show everything and the gateway's answers tell.
 */
export function ensureIdentity(signal) {
  if (identity || declined) return Promise.resolve(identity);
  if (!loading) loading = loadIdentity().finally(() => { loading = null; });
  return untilAborted(loading, signal);
}

async function loadIdentity() {
  try {
    setIdentity(identityFrom(await whoami()));
  } catch (err) {
    // A gateway without /whoami authenticates nobody.
    if (err instanceof ApiError && (err.status === 404 || err.status === 405)) setIdentity({ ...identityFrom(OFF) });
    // Anything else (the prompt closed, a network failure, a rate limit) leaves it unknown.
  }
  return identity;
}

/** onUnauthorized answers a 401 of an API call: true to send the call again with a new token. */
async function onUnauthorized(problem, sentToken, signal) {
  authRequired = true;
  const now = currentToken();
  // Another call got a token entered meanwhile: use it.
  if (now && now !== sentToken) return true;
  // The token in use (or none) is refused: who it was no longer counts.
  if (identity) setIdentity(null);
  else renderIdentity();
  if (declined) return false;
  return untilAborted(askForToken(problem), signal);
}

/**
 * askForToken opens the token prompt (once, however many calls wait on it) and resolves true
 * when a token the gateway accepts was entered, false when the person closed the prompt.
 * problem, when given, is the 401 that asked for it.
 */
export function askForToken(problem = null) {
  if (!prompt) prompt = openPrompt(problem).finally(() => { prompt = null; });
  return prompt;
}

/** enterToken asks for a token (header button, error panels) and shows the view again with it. */
export async function enterToken() {
  if (await askForToken()) refresh();
}

/** forgetToken removes the token from this tab; the next 401 asks for one again. */
export function forgetToken() {
  dropToken();
  declined = false;
  setIdentity(null);
  refresh();
}

/** cleanToken takes what was pasted: spaces around it, a "Bearer " or the "#" of the line `gateway token new` prints. */
function cleanToken(text) {
  return text.trim().replace(/^#\s*/, '').replace(/^Bearer\s+/i, '').trim();
}

function problemBox(box, { heading, title, detail, status, type }) {
  const meta = [];
  if (status) meta.push(h('span', { class: 'problem-status' }, `HTTP ${status}`));
  if (type && type !== 'about:blank') meta.push(h('code', { class: 'problem-type' }, type));
  box.replaceChildren(
    heading ? h('p', { class: 'problem-context' }, heading) : '',
    h('p', { class: 'problem-title' }, title),
    detail ? h('p', { class: 'problem-detail' }, detail) : '',
    meta.length ? h('p', { class: 'problem-meta' }, meta) : '');
  box.hidden = false;
}

function openPrompt(problem) {
  const dialog = document.getElementById('token-dialog');
  const form = document.getElementById('token-form');
  const input = document.getElementById('token-input');
  const box = document.getElementById('token-problem');
  const ok = document.getElementById('token-ok');
  input.value = '';
  box.hidden = true;
  clear(box);
  if (problem) problemBox(box, { heading: 'The gateway answered:', ...problem });
  return new Promise((resolve) => {
    let settled = false;
    let checking = 0;
    const onSubmit = async (ev) => {
      ev.preventDefault();
      const token = cleanToken(input.value);
      if (!token) {
        problemBox(box, { title: 'Paste a token first.' });
        input.focus();
        return;
      }
      if (!/^[\x21-\x7e]+$/.test(token)) {
        problemBox(box, { title: 'This is not a token', detail: 'A token is one word of visible ASCII characters (kvgw.<id>.<secret>, or a JWT): it cannot hold spaces or other characters.' });
        input.select();
        return;
      }
      const mine = ++checking;
      ok.disabled = true;
      ok.setAttribute('aria-busy', 'true');
      try {
        // The token is checked before it is kept: a wrong one is refused here, with the reason.
        let who = null;
        try {
          who = identityFrom(await whoami({ headers: { Authorization: `Bearer ${token}` }, authorize: false }));
        } catch (err) {
          if (!(err instanceof ApiError && (err.status === 404 || err.status === 405))) throw err;
        }
        if (settled || mine !== checking) return;
        keepToken(token);
        declined = false;
        settled = true;
        setIdentity(who);
        // Emptied before the dialog goes, so nothing is left in the page to offer to save.
        input.value = '';
        dialog.close('ok');
      } catch (err) {
        if (settled || mine !== checking) return;
        const e = err instanceof ApiError ? err : new ApiError({ title: 'Something went wrong', detail: String(err && err.message ? err.message : err) });
        problemBox(box, { heading: e.status === 401 ? 'This token was not accepted.' : 'The token could not be checked.', ...e });
        input.select();
        input.focus();
      } finally {
        if (mine === checking) {
          ok.disabled = false;
          ok.removeAttribute('aria-busy');
        }
      }
    };
    const onClose = () => {
      form.removeEventListener('submit', onSubmit);
      dialog.removeEventListener('close', onClose);
      input.value = '';
      const accepted = settled;
      settled = true;
      // Closing a prompt that a 401 opened: further 401s are shown, not prompted for. (One
      // opened from a button changes nothing: the token in use, if any, stays.)
      if (!accepted && problem) {
        declined = true;
        renderIdentity();
      }
      resolve(accepted);
    };
    form.addEventListener('submit', onSubmit);
    dialog.addEventListener('close', onClose);
    dialog.returnValue = '';
    if (!dialog.open) dialog.showModal();
    input.focus();
  });
}

function untilAborted(promise, signal) {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(new DOMException('The operation was aborted.', 'AbortError'));
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(new DOMException('The operation was aborted.', 'AbortError'));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then((v) => {
      signal.removeEventListener('abort', onAbort);
      resolve(v);
    }, (err) => {
      signal.removeEventListener('abort', onAbort);
      reject(err);
    });
  });
}

// The header: which token is in use, its permissions and expiry, and a way to forget it.

function kindLabel(id) {
  return id.auth === 'jwt' ? 'JWT' : id.auth === 'token' ? 'Token' : id.auth;
}

function kindLong(id) {
  return id.auth === 'jwt' ? 'a JWT of the OpenID Connect issuer' : id.auth === 'token' ? 'an API token' : id.auth;
}

function expiryText(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const text = d.toLocaleString(undefined, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', timeZoneName: 'short' });
  return d.getTime() <= Date.now() ? `${text} (expired)` : text;
}

function renderIdentity() {
  const box = document.getElementById('identity');
  if (!box) return;
  const show = identity ? identity.auth !== 'off' : authRequired;
  box.hidden = !show;
  if (!show) {
    clear(box);
    return;
  }
  if (!identity) {
    box.replaceChildren(h('span', { class: 'identity-none', 'data-identity': 'none' }, 'No API token'),
      h('button', { type: 'button', class: 'link-button', 'data-action': 'enter-token', onclick: () => enterToken() }, 'Enter token…'));
    return;
  }
  const id = identity;
  const details = h('details', { class: 'identity-menu' });
  const close = () => {
    details.open = false;
  };
  details.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape' && details.open) {
      close();
      details.querySelector('summary').focus();
    }
  });
  details.append(
    h('summary', { 'aria-label': `${kindLabel(id)} in use: ${id.id ?? 'unnamed'}. Show details` },
      h('span', { class: 'identity-kind' }, kindLabel(id)), ' ',
      h('span', { class: 'mono identity-id', 'data-identity': 'id' }, id.id ?? '—')),
    h('div', { class: 'identity-panel' },
      h('dl', { class: 'identity-facts' },
        h('div', {}, h('dt', {}, 'Signed in with'), h('dd', { 'data-identity': 'kind' }, kindLong(id))),
        h('div', {}, h('dt', {}, id.auth === 'jwt' ? 'Subject' : 'Token id'), h('dd', { class: 'mono' }, id.id ?? '—')),
        h('div', {}, h('dt', {}, 'Expires'), h('dd', { 'data-identity': 'expires' },
          id.expires ? h('time', { dateTime: id.expires }, expiryText(id.expires)) : 'never')),
        h('div', {}, h('dt', {}, 'Permissions'), h('dd', {},
          id.permissions.length
            ? h('ul', { class: 'identity-perms', 'data-identity': 'permissions' }, id.permissions.map((p) => h('li', {}, h('code', {}, p))))
            : h('span', { class: 'muted' }, 'none')))),
      h('p', { class: 'hint' }, 'The token is kept in this browser tab only, until the tab is closed or the token is forgotten.'),
      h('div', { class: 'button-row' },
        h('button', { type: 'button', 'data-action': 'change-token', onclick: () => { close(); enterToken(); } }, 'Use another token…'),
        h('button', { type: 'button', class: 'danger', 'data-action': 'forget-token', onclick: () => { close(); forgetToken(); } }, 'Forget token'))));
  box.replaceChildren(details);
}

// A click elsewhere closes the identity panel.
document.addEventListener('click', (ev) => {
  const open = document.querySelector('.identity-menu[open]');
  if (open && !open.contains(ev.target)) open.open = false;
});

// What the identity may do. Without a known identity (authentication off, or not known yet)
// everything is shown and the gateway decides.

/** can reports whether the identity may do action ('read' | 'write' | 'delete') on key of bucket. */
export function can(action, bucket, key) {
  return !limited() || allows(identity.perms, action, bucket, key);
}

/** canAny reports whether the identity may do action on at least one key of bucket. */
export function canAny(action, bucket) {
  return !limited() || anyKey(identity.perms, action, bucket);
}

/** keyScope is where the identity may do action in bucket: { all } or { prefixes }. */
export function keyScope(action, bucket) {
  return limited() ? scope(identity.perms, action, bucket) : { all: true, prefixes: [] };
}

/** who names the identity in messages: Token “reader”, JWT “alice”. */
export function who() {
  return identity && identity.id !== null ? `${kindLabel(identity)} “${identity.id}”` : 'This token';
}

/**
 * denial says why the identity may not do action on key of bucket (key '' or undefined: the
 * bucket), in the gateway's words, or null when it may.
 */
export function denial(action, bucket, key = '') {
  const ok = key === '' ? canAny(action, bucket) : can(action, bucket, key);
  if (ok) return null;
  const what = key === '' ? `bucket “${bucket}”` : `key “${key}” of bucket “${bucket}”`;
  return `${who()} may not ${action} ${what}: it lacks the permission ${needed(action, bucket, key)}.`;
}

// Elements whose look depends on the identity, updated whenever it changes.
const bound = new WeakMap();

/** bindIdentity runs update(el) now and whenever the identity changes, while el is in the page. */
export function bindIdentity(el, update) {
  bound.set(el, update);
  el.setAttribute('data-identity-bound', '');
  update(el);
  return el;
}

/** showIf hides el while test() is false (test is run again when the identity changes). */
export function showIf(el, test) {
  return bindIdentity(el, (e) => {
    e.hidden = !test();
  });
}

/** applyBindings updates every bound element under root. */
export function applyBindings(root = document) {
  for (const el of root.querySelectorAll('[data-identity-bound]')) {
    const update = bound.get(el);
    if (update) update(el);
  }
}
