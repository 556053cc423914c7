// Shared pieces of the interface: error panels, notices, the confirmation dialog, tabs,
// recently used buckets, and links to views.

import { ApiError } from './api.js';
import { h, append, clear, uid } from './dom.js';
import { enterToken, canAny, showIf } from './auth.js';

const enc = encodeURIComponent;

/** Links to views (hash routes). Every segment is percent-encoded, so keys with "/" work. */
export const href = {
  home: () => '#/',
  api: () => '#/api',
  bucket: (bucket, query) => `#/buckets/${enc(bucket)}${queryString(query)}`,
  key: (bucket, key, query) => `#/buckets/${enc(bucket)}/keys/${enc(key)}${queryString(query)}`,
  batch: (bucket) => `#/buckets/${enc(bucket)}/batch`,
  newKey: (bucket) => `#/buckets/${enc(bucket)}/new`,
};

function queryString(query) {
  if (!query) return '';
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

/**
 * errorPanel renders a failure for people: the problem's title and detail, its status and type,
 * and any extension members. Works for ApiError, other Errors and anything thrown.
 */
export function errorPanel(err, { heading, retry } = {}) {
  const e = toApiError(err);
  const titleId = uid('err');
  const extra = e.extra ? h('pre', { class: 'problem-extra' }, JSON.stringify(e.extra, null, 2)) : null;
  const meta = [];
  if (e.status) meta.push(h('span', { class: 'problem-status' }, `HTTP ${e.status}`));
  if (e.type && e.type !== 'about:blank') meta.push(h('code', { class: 'problem-type' }, e.type));
  return h('div', { class: 'problem', role: 'alert', 'aria-labelledby': titleId, 'data-status': e.status || 'network' },
    heading ? h('p', { class: 'problem-context' }, heading) : null,
    h('p', { class: 'problem-title', id: titleId }, e.title),
    e.detail ? h('p', { class: 'problem-detail' }, e.detail) : null,
    meta.length ? h('p', { class: 'problem-meta' }, meta) : null,
    extra,
    retry || e.status === 401 ? h('div', { class: 'button-row' },
      // A 401 here means the token prompt was closed (or the token refused): offer it again.
      e.status === 401 ? h('button', { type: 'button', class: 'primary', 'data-action': 'enter-token', onclick: () => enterToken() }, 'Enter an API token…') : null,
      retry ? h('button', { type: 'button', onclick: retry }, 'Try again') : null) : null);
}

/** inputError is a problem with what the person typed or chose, found before any request. */
export function inputError(detail) {
  return new ApiError({ title: 'Check your input', detail });
}

/** toApiError turns anything thrown into an ApiError-shaped object, never losing the message. */
export function toApiError(err) {
  if (err instanceof ApiError) return err;
  const msg = err && err.message ? err.message : String(err);
  if (err && err.name === 'ImportFormatError') return new ApiError({ title: 'The file cannot be imported', detail: msg });
  return new ApiError({ title: 'Something went wrong', detail: msg });
}

let refresher = () => {};

/** setRefresher registers how refresh re-renders the current view (done once by app.js). */
export function setRefresher(fn) {
  refresher = fn;
}

/** refresh renders the current view again from the same address. */
export function refresh() {
  return refresher();
}

let noticeTimer = null;
/**
 * notify shows a short status message at the top of the page (polite live region). It goes
 * away after a while or at the next navigation; survive keeps it through one navigation, for
 * an action that moves to another view (deleting a key shows the bucket).
 */
export function notify(message, kind = 'ok', { survive = false } = {}) {
  const box = document.getElementById('notices');
  clear(box);
  box.dataset.survive = survive ? '1' : '';
  box.append(h('p', { class: `notice notice-${kind}`, role: kind === 'error' ? 'alert' : 'status' }, message));
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => clear(box), 8000);
}

/** clearNotices removes the notices at a navigation, except one that asked to survive it. */
export function clearNotices() {
  const box = document.getElementById('notices');
  if (box.dataset.survive === '1') box.dataset.survive = '';
  else clear(box);
}

/**
 * confirmDialog asks a yes/no question in a modal <dialog> and resolves true when the person
 * confirms. Escape and Cancel resolve false; focus starts on Cancel.
 */
export function confirmDialog({ title, message, confirmLabel = 'Delete' }) {
  const dialog = document.getElementById('confirm-dialog');
  document.getElementById('confirm-title').textContent = title;
  const msg = document.getElementById('confirm-message');
  append(clear(msg), message);
  document.getElementById('confirm-ok').textContent = confirmLabel;
  dialog.returnValue = '';
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'confirm'), { once: true });
    dialog.showModal();
    document.getElementById('confirm-cancel').focus();
  });
}

/**
 * tabs builds an accessible tab list (arrow keys, Home/End) over panels. items: [{ id, label,
 * render: () => Node }]. selected: the initial id. onSelect(id) is called on changes.
 */
export function tabs({ label, items, selected, onSelect = () => {} }) {
  const base = uid('tabs');
  const list = h('div', { class: 'tablist', role: 'tablist', 'aria-label': label });
  const panels = h('div', { class: 'tabpanels' });
  const buttons = [];
  const panelEls = [];
  const select = (id, focus) => {
    items.forEach((it, i) => {
      const on = it.id === id;
      buttons[i].setAttribute('aria-selected', on ? 'true' : 'false');
      buttons[i].tabIndex = on ? 0 : -1;
      panelEls[i].hidden = !on;
      if (on && !panelEls[i].dataset.rendered) {
        panelEls[i].append(it.render());
        panelEls[i].dataset.rendered = '1';
      }
      if (on && focus) buttons[i].focus();
    });
  };
  items.forEach((it, i) => {
    const b = h('button', {
      type: 'button', role: 'tab', id: `${base}-${it.id}-tab`, 'aria-controls': `${base}-${it.id}`,
      'data-tab': it.id, class: 'tab',
      onclick: () => { select(it.id, false); onSelect(it.id); },
      onkeydown: (ev) => {
        let j = null;
        if (ev.key === 'ArrowRight') j = (i + 1) % items.length;
        else if (ev.key === 'ArrowLeft') j = (i - 1 + items.length) % items.length;
        else if (ev.key === 'Home') j = 0;
        else if (ev.key === 'End') j = items.length - 1;
        if (j === null) return;
        ev.preventDefault();
        select(items[j].id, true);
        onSelect(items[j].id);
      },
    }, it.label);
    buttons.push(b);
    list.append(b);
    const p = h('div', { role: 'tabpanel', id: `${base}-${it.id}`, 'aria-labelledby': b.id, tabIndex: 0, class: 'tabpanel', 'data-panel': it.id });
    panelEls.push(p);
    panels.append(p);
  });
  select(items.some((it) => it.id === selected) ? selected : items[0].id, false);
  return h('div', { class: 'tabs' }, list, panels);
}

const RECENT_KEY = 'kv-gateway.recent-buckets';
const RECENT_MAX = 12;

/** recentBuckets returns the buckets opened in this browser, most recent first. */
export function recentBuckets() {
  try {
    const v = JSON.parse(localStorage.getItem(RECENT_KEY) || '[]');
    return Array.isArray(v) ? v.filter((b) => typeof b === 'string' && b !== '') : [];
  } catch {
    return [];
  }
}

/** rememberBucket moves bucket to the front of the recent list. */
export function rememberBucket(bucket) {
  const list = [bucket, ...recentBuckets().filter((b) => b !== bucket)].slice(0, RECENT_MAX);
  try {
    localStorage.setItem(RECENT_KEY, JSON.stringify(list));
  } catch {
    // Storage full or disabled: the list is a convenience, nothing breaks without it.
  }
  renderRecentOptions();
}

/** forgetBucket removes bucket from the recent list. */
export function forgetBucket(bucket) {
  try {
    localStorage.setItem(RECENT_KEY, JSON.stringify(recentBuckets().filter((b) => b !== bucket)));
  } catch {
    // See rememberBucket.
  }
  renderRecentOptions();
}

/** renderRecentOptions fills the bucket input's datalist with the recent buckets. */
export function renderRecentOptions() {
  const dl = document.getElementById('recent-buckets');
  if (!dl) return;
  clear(dl).append(...recentBuckets().map((b) => h('option', { value: b })));
}

/** breadcrumbs renders a navigation trail: [{label, href}], the last entry being the current page. */
export function breadcrumbs(items) {
  return h('nav', { class: 'breadcrumbs', 'aria-label': 'Breadcrumb' },
    h('ol', {}, items.map((it, i) => h('li', {},
      i === items.length - 1
        ? h('span', { 'aria-current': 'page' }, it.label)
        : h('a', { href: it.href }, it.label)))));
}

/**
 * bucketTabs is the navigation between a bucket's pages (keys, new key, batch). "New key" shows
 * only to a caller who may write some key of the bucket, "Batch" to one who may read or write.
 */
export function bucketTabs(bucket, current) {
  const link = (id, label, target) => h('li', {}, h('a', { href: target, 'aria-current': id === current ? 'page' : null }, label));
  return h('nav', { class: 'subnav', 'aria-label': 'Bucket' },
    h('ul', {},
      link('keys', 'Keys', href.bucket(bucket)),
      showIf(link('new', 'New key', href.newKey(bucket)), () => canAny('write', bucket)),
      showIf(link('batch', 'Batch', href.batch(bucket)), () => canAny('read', bucket) || canAny('write', bucket))));
}
