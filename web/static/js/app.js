// Entry point: hash routing, the bucket picker in the header, and a last line of defence that
// turns any uncaught failure into a readable message instead of a blank screen.

import { h, clear } from './dom.js';
import { errorPanel, notify, clearNotices, renderRecentOptions, href, toApiError, setRefresher, refresh } from './ui.js';
import { renderHome } from './views/home.js';
import { renderBucket } from './views/bucket.js';
import { renderKey } from './views/key.js';
import { renderNewKey } from './views/newkey.js';
import { renderBatch } from './views/batch.js';
import { renderReference } from './views/reference.js';
import { initAuth, ensureIdentity, applyBindings } from './auth.js';

/**
 * parseRoute turns a location hash into { name, params, query }. Path segments are
 * percent-decoded once, so "#/buckets/a%2Fb/keys/c%2Fd" names bucket "a/b" and key "c/d".
 */
export function parseRoute(hash) {
  let s = hash.startsWith('#') ? hash.slice(1) : hash;
  let qs = '';
  const qi = s.indexOf('?');
  if (qi >= 0) {
    qs = s.slice(qi + 1);
    s = s.slice(0, qi);
  }
  const query = Object.fromEntries(new URLSearchParams(qs));
  const raw = s.split('/').filter((p, i) => !(i === 0 && p === ''));
  if (raw.length && raw[raw.length - 1] === '' && raw.length > 1) raw.pop();
  let seg;
  try {
    seg = raw.map((p) => decodeURIComponent(p));
  } catch {
    return { name: 'notfound', params: { reason: 'The address contains a malformed percent-encoding.' }, query };
  }
  if (seg.length === 0 || (seg.length === 1 && seg[0] === '')) return { name: 'home', params: {}, query };
  if (seg[0] === 'api' && seg.length === 1) return { name: 'api', params: {}, query };
  if (seg[0] === 'buckets' && seg.length >= 2 && seg[1] !== '') {
    const bucket = seg[1];
    if (seg.length === 2) return { name: 'bucket', params: { bucket }, query };
    if (seg.length === 3 && seg[2] === 'batch') return { name: 'batch', params: { bucket }, query };
    if (seg.length === 3 && seg[2] === 'new') return { name: 'new', params: { bucket }, query };
    if (seg.length === 4 && seg[2] === 'keys' && seg[3] !== '') return { name: 'key', params: { bucket, key: seg[3] }, query };
  }
  return { name: 'notfound', params: {}, query };
}

const views = {
  home: renderHome,
  bucket: renderBucket,
  key: renderKey,
  new: renderNewKey,
  batch: renderBatch,
  api: renderReference,
  notfound: renderNotFound,
};

function renderNotFound(view, { params }) {
  document.title = 'Not found · Key-value gateway';
  view.append(
    h('h1', { tabIndex: -1 }, 'Page not found'),
    h('p', {}, params.reason || 'This address does not name a view of the gateway.'),
    h('p', {}, h('a', { href: href.home() }, 'Go to the bucket list')));
}

let current = null;

/** route renders the view the address names, cancelling the requests of the previous one. */
async function route({ focus }) {
  if (current) current.abort();
  const controller = new AbortController();
  current = controller;
  const r = parseRoute(location.hash);
  clearNotices();
  const main = document.getElementById('main');
  // Counts renders, so a test (or anything else) can tell a fresh view from the previous one.
  main.dataset.renders = String(Number(main.dataset.renders || 0) + 1);
  const view = h('div', { class: `view view-${r.name}`, 'data-view': r.name, 'aria-busy': 'true' });
  clear(main).append(view);
  for (const a of document.querySelectorAll('[data-nav]')) {
    const on = (a.dataset.nav === 'api') === (r.name === 'api');
    if (on) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const input = document.getElementById('bucket-input');
  if (r.params.bucket !== undefined && document.activeElement !== input) input.value = r.params.bucket;
  try {
    // Who the caller is decides what the view offers; with authentication on and no token yet,
    // this is where the token prompt opens.
    await ensureIdentity(controller.signal);
    await views[r.name](view, { params: r.params, query: r.query, signal: controller.signal });
    applyBindings(view);
  } catch (err) {
    if (err && err.name === 'AbortError') return;
    if (!view.querySelector('h1')) view.append(h('h1', { tabIndex: -1 }, 'Something went wrong'));
    view.append(errorPanel(err, { retry: () => refresh() }));
  } finally {
    if (current === controller) view.setAttribute('aria-busy', 'false');
  }
  // After a navigation, focus moves to the new view's heading, unless the view already placed
  // it (the pager keeps it on the button that was pressed).
  if (focus && current === controller && !view.contains(document.activeElement)) {
    const heading = view.querySelector('h1');
    if (heading) heading.focus({ preventScroll: false });
  }
}

function start() {
  renderRecentOptions();
  document.getElementById('bucket-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const input = document.getElementById('bucket-input');
    const bucket = input.value;
    if (bucket.trim() === '') {
      input.focus();
      return;
    }
    location.hash = href.bucket(bucket);
  });
  // The skip link targets #main, which is not a route: move focus without touching the address.
  document.getElementById('skip-link').addEventListener('click', (ev) => {
    ev.preventDefault();
    document.getElementById('main').focus();
  });
  window.addEventListener('hashchange', () => route({ focus: true }));
  setRefresher(() => route({ focus: true }));
  initAuth({ refreshView: () => route({ focus: true }) });
  if (!location.hash || location.hash === '#') history.replaceState(null, '', href.home());
  route({ focus: false });
}

// Anything a view did not catch is still shown to the person, never a blank screen.
window.addEventListener('error', (ev) => {
  notify(`Something went wrong: ${ev.message || 'unknown error'}`, 'error');
});
window.addEventListener('unhandledrejection', (ev) => {
  if (ev.reason && ev.reason.name === 'AbortError') return;
  const e = toApiError(ev.reason);
  notify(e.detail ? `${e.title}: ${e.detail}` : e.title, 'error');
});

start();
