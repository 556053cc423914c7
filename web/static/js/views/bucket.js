// A bucket's keys, page by page with the API's opaque cursor, filtered by prefix.
//
// The address carries prefix, limit and the current page's cursor, so a page can be bookmarked.
// The cursors of the pages seen so far are kept in memory per (bucket, prefix, limit), which is
// what "Previous page" walks back through; a link opened cold starts a new stack at its cursor.

import { listKeys } from '../api.js';
import { h, field } from '../dom.js';
import { href, errorPanel, rememberBucket, breadcrumbs, bucketTabs, refresh } from '../ui.js';
import { canAny, keyScope, who, showIf, bindIdentity } from '../auth.js';
import { bucketState, limitsFor, within } from '../capabilities.js';
import { servedPanel, noRoutePanel } from './served.js';

export const DEFAULT_LIMIT = 20;
const pagers = new Map();
let focusAfterRender = null;

function clampLimit(v) {
  const n = Number.parseInt(v, 10);
  if (!Number.isFinite(n) || n < 1) return DEFAULT_LIMIT;
  return Math.min(n, 1000);
}

export async function renderBucket(view, { params, query, signal }) {
  const { bucket } = params;
  const prefix = query.prefix || '';
  const limit = clampLimit(query.limit);
  const cursor = query.cursor || '';
  document.title = `${bucket} · Key-value gateway`;

  const stateKey = JSON.stringify([bucket, prefix, limit]);
  let pager = pagers.get(stateKey);
  if (pager && pager.cursors.includes(cursor)) {
    pager.index = pager.cursors.indexOf(cursor);
  } else {
    pager = { cursors: [cursor], index: 0 };
    pagers.set(stateKey, pager);
  }
  const fromStart = pager.cursors[0] === '';
  const go = (c) => {
    location.hash = href.bucket(bucket, { prefix, limit: limit === DEFAULT_LIMIT ? '' : limit, cursor: c });
  };

  const prefixInput = h('input', { name: 'prefix', value: prefix, autocomplete: 'off', spellcheck: false });
  const limitInput = h('input', { name: 'limit', type: 'number', min: 1, max: 1000, step: 1, value: String(limit), inputMode: 'numeric' });
  const filterForm = h('form', { class: 'card filter-form', role: 'search', 'aria-label': 'Filter keys', onsubmit: (ev) => {
    ev.preventDefault();
    const l = clampLimit(limitInput.value);
    location.hash = href.bucket(bucket, { prefix: prefixInput.value, limit: l === DEFAULT_LIMIT ? '' : l });
  } },
  h('div', { class: 'inline-fields' },
    field('Key prefix', prefixInput),
    field('Page size', limitInput),
    h('button', { type: 'submit' }, 'Apply'),
    prefix ? h('a', { href: href.bucket(bucket, { limit: limit === DEFAULT_LIMIT ? '' : limit }), class: 'button-link' }, 'Clear filter') : null));

  const results = h('section', { class: 'card', 'aria-labelledby': 'keys-heading' });
  // Where the bucket is served: asked beside the key list, shown when it comes (the view waits
  // for it a little, so that it usually appears with the list).
  const servedSlot = h('div', { class: 'served-slot', 'data-served-slot': '' });
  view.append(
    breadcrumbs([{ label: 'Buckets', href: href.home() }, { label: bucket }]),
    h('h1', { tabIndex: -1 }, h('span', { class: 'kicker' }, 'Bucket '), h('span', { class: 'mono break' }, bucket)),
    bucketTabs(bucket, 'keys'),
    bucketAccessNote(bucket),
    servedSlot,
    filterForm,
    results);

  let noRoute = false;
  const served = bucketState(bucket, { fresh: true, signal }).then(async (state) => {
    const limits = state.status === 'ok' || state.status === 'unavailable' ? await limitsFor(bucket, { state }) : null;
    if (signal && signal.aborted) return;
    if (state.status === 'no-route') {
      // Nothing of this bucket can be listed: say why, once, instead of the list's own 404.
      noRoute = true;
      servedSlot.replaceChildren(noRoutePanel(bucket, state));
      filterForm.hidden = true;
      results.hidden = true;
      return;
    }
    // A 401 or 403 here is the list's to tell.
    const quiet = state.status === 'unavailable' && [401, 403].includes(state.error && state.error.status);
    servedSlot.replaceChildren(quiet ? '' : (servedPanel(bucket, state, limits) || ''));
  }).catch(() => {});

  results.append(h('h2', { id: 'keys-heading' }, prefix ? `Keys starting with “${prefix}”` : 'Keys'), h('p', { class: 'muted' }, 'Loading keys…'));
  const [listed] = await Promise.all([
    listKeys(bucket, { limit, cursor, prefix }, { signal }).then((p) => ({ page: p }), (err) => ({ err })),
    within(served, 1500),
  ]);
  if (listed.err) {
    const err = listed.err;
    if (err.name === 'AbortError') throw err;
    if (noRoute) return;
    results.replaceChildren(h('h2', { id: 'keys-heading' }, 'Keys'), errorPanel(err, { heading: `Could not list the keys of bucket “${bucket}”.`, retry: () => refresh() }));
    return;
  }
  const page = listed.page;
  rememberBucket(bucket);
  // The next page's cursor becomes the next entry of the stack (forgetting any stale tail).
  if (page.cursor) {
    pager.cursors.length = pager.index + 1;
    pager.cursors.push(page.cursor);
  } else {
    pager.cursors.length = pager.index + 1;
  }

  const pageNo = pager.index + 1;
  const status = `${fromStart ? `Page ${pageNo}` : `Page ${pageNo} from the linked position`} · ${page.keys.length} ${page.keys.length === 1 ? 'key' : 'keys'}${page.cursor ? ' · more follow' : ' · last page'}`;
  const list = page.keys.length
    ? h('ul', { class: 'key-list', 'aria-label': 'Keys on this page' }, page.keys.map((k) => h('li', {}, h('a', { href: href.key(bucket, k), class: 'mono' }, k))))
    : h('p', { class: 'empty' }, prefix ? `No keys start with “${prefix}”${pager.index ? ' on this page' : ''}.` : (pager.index ? 'No more keys.' : 'This bucket has no keys yet. '),
      !prefix && !pager.index ? showIf(h('a', { href: href.newKey(bucket) }, 'Create one'), () => canAny('write', bucket)) : null);

  const firstBtn = h('button', { type: 'button', disabled: pager.index === 0 && fromStart, onclick: () => {
    focusAfterRender = 'first';
    go('');
  } }, 'First page');
  const prevBtn = h('button', { type: 'button', disabled: pager.index === 0, onclick: () => {
    focusAfterRender = 'prev';
    go(pager.cursors[pager.index - 1]);
  } }, 'Previous page');
  const nextBtn = h('button', { type: 'button', disabled: !page.cursor, onclick: () => {
    focusAfterRender = 'next';
    go(page.cursor);
  } }, 'Next page');
  firstBtn.dataset.pager = 'first';
  prevBtn.dataset.pager = 'prev';
  nextBtn.dataset.pager = 'next';

  results.replaceChildren(
    h('h2', { id: 'keys-heading' }, prefix ? `Keys starting with “${prefix}”` : 'Keys'),
    h('p', { class: 'page-status', role: 'status', id: 'page-status' }, status),
    list,
    h('nav', { class: 'pager', 'aria-label': 'Pages' }, firstBtn, prevBtn, nextBtn));

  if (focusAfterRender) {
    const want = { first: firstBtn, prev: prevBtn, next: nextBtn }[focusAfterRender];
    focusAfterRender = null;
    // A disabled button cannot take focus; the page status is the next best place.
    (want && !want.disabled ? want : (nextBtn.disabled ? prevBtn : nextBtn)).focus();
  }
}

const quoteList = (xs) => xs.map((x) => `“${x}”`).join(', ');

/**
 * bucketAccessNote tells a caller with limited permissions what it may do in the bucket: which
 * keys the list shows (a token scoped to prefixes sees only those) and that it may not write or
 * delete. Hidden when the caller may do everything.
 */
export function bucketAccessNote(bucket) {
  return bindIdentity(h('p', { class: 'note', 'data-access': 'bucket' }), (el) => {
    const clauses = [];
    const read = keyScope('read', bucket);
    if (!read.all) {
      clauses.push(read.prefixes.length
        ? `may read only the keys starting with ${quoteList(read.prefixes)} (the list shows those)`
        : 'may not read any key');
    }
    const write = keyScope('write', bucket);
    const del = keyScope('delete', bucket);
    if (!write.all && !write.prefixes.length && !del.all && !del.prefixes.length) {
      clauses.push('may not write or delete keys');
    } else {
      if (!write.all) clauses.push(write.prefixes.length ? `may write only keys starting with ${quoteList(write.prefixes)}` : 'may not write keys');
      if (!del.all) clauses.push(del.prefixes.length ? `may delete only keys starting with ${quoteList(del.prefixes)}` : 'may not delete keys');
    }
    el.hidden = clauses.length === 0;
    el.textContent = clauses.length ? `${who()} ${clauses.join('; ')} in this bucket.` : '';
  });
}
