// What the bucket views show of where a bucket is served (capabilities.js): the capabilities panel
// of the bucket view, the panel of a bucket no route matches, and the short notes the other
// views give when the bucket's target lacks something they offer.

import { readiness } from '../api.js';
import { h, append } from '../dom.js';
import { shortSize } from '../format.js';
import { errorPanel, toApiError } from '../ui.js';
import { INTERFACES, interfaceState } from '../capabilities.js';

const LABELS = { store: 'Store', atomics: 'Atomics', batch: 'Batch' };
const STATE_TEXT = { served: 'served', 'not-served': 'not served', fallback: 'key by key', unknown: 'unknown' };
const MARKS = { served: '✓', 'not-served': '✕', fallback: '↻', unknown: '?' };

/** What each interface's state means for the person, shown beside the states that lack something. */
const EXPLAIN = {
  store: {
    'not-served': 'The target does not serve the store interface: keys can be neither read nor written.',
    unknown: 'Whether the target serves the store interface could not be asked.',
  },
  atomics: {
    'not-served': 'The target does not serve atomics: counters (increment) are not available in this bucket.',
    unknown: 'Whether the target serves atomics could not be asked; an increment may answer 501.',
  },
  batch: {
    fallback: 'Batch is made key by key: the provider lacks the batch interface, so the gateway makes one call per key. Batch operations work, more slowly.',
    'not-served': 'The target does not serve batch operations.',
    unknown: 'Whether the target serves batch could not be asked.',
  },
};

/** What each interface does, as the state's tooltip. */
const PURPOSE = {
  store: 'get, set, delete, exists and list keys',
  atomics: 'increment counters',
  batch: 'get and set many keys per call',
};

function fact(label, value, attrs = {}) {
  return h('div', attrs, h('dt', {}, label), h('dd', {}, value));
}

/**
 * servedPanel is the bucket view's card of where the bucket is served: target, route, the
 * provider's name of the bucket when it differs, each interface's state and the limits.
 * state and limits come from capabilities.js (bucketState, limitsFor). null when there is nothing
 * to show (the token may not read the bucket, or no route matches: see noRoutePanel).
 */
export function servedPanel(bucket, state, limits) {
  if (!state || state.status === 'no-read' || state.status === 'no-route') return null;
  const section = h('section', { class: 'card served', 'aria-labelledby': 'served-heading', 'data-served': state.status },
    h('h2', { id: 'served-heading', class: 'served-heading' }, 'Where it is served'));
  if (state.status !== 'ok') {
    const e = toApiError(state.error);
    section.append(h('p', { class: 'muted', 'data-served-error': '' },
      `The gateway did not say where this bucket is served (${e.status ? `HTTP ${e.status} ` : ''}${e.title}${e.detail ? `: ${e.detail}` : ''}). The gateway's limits apply as its API document states them.`));
    append(section, h('dl', { class: 'facts' }, limitFacts(limits)));
    return section;
  }
  const info = state.info;
  const route = info.route && typeof info.route === 'object' ? info.route : {};
  const where = h('dl', { class: 'facts served-where' },
    fact('Target', h('code', { 'data-served-fact': 'target' }, String(info.target ?? '—'))),
    fact('Route', [h('code', { 'data-served-fact': 'route' }, String(route.pattern ?? '—')),
      Number.isInteger(route.index) ? h('span', { class: 'muted', title: `Route ${route.index + 1} of the routes file (index ${route.index}); the first that matches wins` }, ` (#${route.index + 1})`) : null]),
    typeof info.providerBucket === 'string' && info.providerBucket !== bucket
      ? fact('Provider’s name', h('code', { 'data-served-fact': 'provider-bucket' }, info.providerBucket), { title: 'The name the provider knows this bucket by' })
      : null);

  const states = INTERFACES.map((name) => [name, interfaceState(state, name)]);
  const chips = h('ul', { class: 'interfaces', 'aria-label': 'Interfaces of the target' },
    states.map(([name, st]) => h('li', { 'data-interface': name, 'data-state': st, title: `${LABELS[name]}: ${PURPOSE[name]}` },
      h('span', { class: 'iface-name' }, LABELS[name]),
      h('span', { class: `iface-state state-${STATE_TEXT[st] ? st : 'unknown'}` },
        h('span', { 'aria-hidden': 'true' }, `${MARKS[st] || MARKS.unknown} `), STATE_TEXT[st] || st))));
  // All three unknown (a gateway without a routes file does not ask): one line says so.
  const allUnknown = states.every(([, st]) => st === 'unknown');
  // Without the store nothing else works either: the store's note says it.
  const noStore = interfaceState(state, 'store') === 'not-served';
  const why = allUnknown ? [] : states.filter(([name, st]) => EXPLAIN[name][st] && !(noStore && name !== 'store'));
  const notes = allUnknown
    ? h('ul', { class: 'iface-notes' }, h('li', { 'data-explains': 'all' }, 'The gateway does not say which interfaces the provider serves; a call it does not serve answers 501 Not implemented.'))
    : why.length ? h('ul', { class: 'iface-notes' }, why.map(([name, st]) => h('li', { 'data-explains': name }, EXPLAIN[name][st]))) : null;
  append(where, limitFacts(limits));
  append(section, [where, chips, notes]);

  // A target that serves no store is most likely down: say what its readiness probe found.
  if (interfaceState(state, 'store') !== 'served') {
    const line = h('p', { class: 'note', 'data-served-ready': '', hidden: true });
    section.append(line);
    readiness().then((r) => {
      const t = r.targets.find((x) => x && x.name === info.target);
      if (!t || t.ready) return;
      line.textContent = `Target “${info.target}” is not ready (${t.status || 'not ready'})${t.message ? `: ${t.message}` : '.'}`;
      line.hidden = false;
    }).catch(() => {});
  }
  return section;
}

/** limitFacts lists the limits that apply to the bucket's requests (entries of a dl.facts). */
function limitFacts(limits) {
  if (!limits) return [];
  const row = (key, label, value, lowered) => value === null || value === undefined ? null
    : fact(label, [value, lowered ? h('span', { class: 'muted' }, ' (the target’s)') : null], { 'data-limit': key });
  return [
    row('maxValueBytes', 'Largest value', limits.maxValueBytes === null ? null : shortSize(limits.maxValueBytes), limits.lowered.maxValueBytes),
    row('maxBatchItems', 'Keys per batch call', (limits.maxBatchItems ?? limits.batch.maxItems).toLocaleString('en-US')),
    row('maxBatchBodyBytes', 'Batch request', limits.maxBatchBodyBytes === null ? null : shortSize(limits.maxBatchBodyBytes)),
    row('maxBatchResultBytes', 'Batch answer', limits.maxBatchResultBytes === null ? null : shortSize(limits.maxBatchResultBytes))];
}

/** noRoutePanel shows that no route of the gateway matches bucket (state.status 'no-route'). */
export function noRoutePanel(bucket, state) {
  const panel = errorPanel(state.error, {
    heading: `Bucket “${bucket}” is not served by this gateway: no route of its routes file matches this name, so its keys can be neither read nor written. Check the name, or add a route for it.`,
  });
  panel.setAttribute('data-no-route', '');
  return panel;
}

/**
 * lackNote is the note a view shows instead of (or beside) what the bucket's target lacks, or
 * null: for 'atomics' not served, the counter; for 'batch' made key by key, the batch page.
 */
export function lackNote(state, name) {
  const st = interfaceState(state, name);
  const target = state && state.status === 'ok' ? state.info.target : null;
  const of = target ? `target “${target}”` : 'its target';
  if (name === 'atomics' && st === 'not-served') {
    return h('p', { class: 'note', 'data-lacks': 'atomics' },
      `Counters are not available in this bucket: ${of} does not serve the atomics interface, so an increment would answer 501 Not implemented.`);
  }
  if (name === 'batch' && st === 'fallback') {
    return h('p', { class: 'note', 'data-lacks': 'batch' },
      `In this bucket batch is made key by key: ${of} lacks the batch interface, so the gateway makes one call per key. Everything here works, more slowly.`);
  }
  if (name === 'batch' && st === 'not-served') {
    return h('p', { class: 'note', 'data-lacks': 'batch' }, `${of[0].toUpperCase()}${of.slice(1)} does not serve batch operations.`);
  }
  return null;
}
