// Batch operations on a bucket: fetch a pasted list of keys at once, import a JSON file of
// key/values, and export the bucket (every page) as such a file. The file format is described
// in format.js (buildExport, parseImport) and shown on the page.

import { batchGet, batchSet, listAllKeys } from '../api.js';
import { h, field, downloadBlob, setBusy } from '../dom.js';
import { decodeUtf8, formatSize, shortSize, parseKeyList, parseImport, buildExport, exportFileName, ImportFormatError } from '../format.js';
import { href, errorPanel, inputError, breadcrumbs, bucketTabs, rememberBucket } from '../ui.js';
import { bucketAccessNote } from './bucket.js';
import { can, canAny, denial, showIf } from '../auth.js';
import { bucketState, limitsFor, within } from '../capabilities.js';
import { noRoutePanel, lackNote } from './served.js';

const PREVIEW_CHARS = 80;

/**
 * refusedKeys checks keys against the caller's permissions before a batch is sent (the gateway
 * refuses a whole batch for one key out of scope) and returns an input error naming the first
 * refused key and how many there are, or null.
 */
function refusedKeys(action, bucket, keys) {
  const refused = keys.filter((k) => !can(action, bucket, k));
  if (!refused.length) return null;
  const more = refused.length > 1 ? ` ${refused.length} of the ${keys.length} keys are out of its reach; nothing was sent.` : ' Nothing was sent.';
  return inputError(denial(action, bucket, refused[0]) + more);
}

function preview(value) {
  if (value === null) return h('span', { class: 'muted' }, 'absent');
  const text = decodeUtf8(value);
  if (text === null) return h('span', { class: 'muted' }, 'binary');
  if (text === '') return h('span', { class: 'muted' }, 'empty');
  return h('span', { class: 'mono' }, text.length > PREVIEW_CHARS ? text.slice(0, PREVIEW_CHARS) + '…' : text);
}

const exampleItems = `{
  "items": [
    { "key": "greeting", "value": "aGVsbG8=" },
    { "key": "dir/file.txt", "value": "VGV4dA==" }
  ]
}`;
const exampleUtf8 = `{
  "encoding": "utf8",
  "items": [ { "key": "greeting", "value": "hello" } ]
}`;
const examplePlain = `{
  "greeting": "hello",
  "config": { "debug": true }
}`;

/**
 * oversized refuses, before anything is sent, an import with a value over the bucket's limit
 * (the gateway would refuse the call that carries it, after the ones before were stored).
 */
function oversized(items, limits, bucket) {
  const max = limits.maxValueBytes;
  if (max === null) return null;
  const big = items.filter((it) => it.value.length > max);
  if (!big.length) return null;
  const where = limits.lowered.maxValueBytes
    ? `bucket “${bucket}” stores values of at most ${formatSize(max)}, the limit of its target “${limits.target}”`
    : `this gateway stores values of at most ${formatSize(max)}`;
  const more = big.length > 1 ? ` ${big.length} of the ${items.length} values are too large;` : '';
  return inputError(`The value of key “${big[0].key}” is ${formatSize(big[0].value.length)}; ${where}.${more} Nothing was sent.`);
}

export async function renderBatch(view, { params, signal }) {
  const { bucket } = params;
  document.title = `Batch · ${bucket} · Key-value gateway`;
  rememberBucket(bucket);
  const served = bucketState(bucket, { signal });

  // Get many keys.
  const keysArea = h('textarea', { name: 'keys', rows: 6, spellcheck: false, class: 'mono' });
  const getResult = h('div', { class: 'result', 'aria-live': 'polite' });
  const getBtn = h('button', { type: 'submit', class: 'primary' }, 'Fetch keys');
  const getForm = h('form', { 'data-form': 'batch-get', onsubmit: async (ev) => {
    ev.preventDefault();
    const keys = parseKeyList(keysArea.value);
    if (!keys.length) {
      getResult.replaceChildren(errorPanel(inputError('Paste at least one key, one per line.')));
      keysArea.focus();
      return;
    }
    const refused = refusedKeys('read', bucket, keys);
    if (refused) {
      getResult.replaceChildren(errorPanel(refused));
      return;
    }
    const done = setBusy(getBtn);
    getResult.replaceChildren(h('p', { class: 'muted' }, `Fetching ${keys.length} keys…`));
    try {
      const items = await batchGet(bucket, keys, (await limitsFor(bucket)).batch);
      const found = items.filter((it) => it.value !== null).length;
      getResult.replaceChildren(
        h('p', { role: 'status', class: 'ok' }, `${found} of ${items.length} keys found.`),
        h('div', { class: 'table-wrap' }, h('table', { class: 'batch-table' },
          h('caption', { class: 'visually-hidden' }, 'Fetched keys'),
          h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Key'), h('th', { scope: 'col' }, 'Size'), h('th', { scope: 'col' }, 'Value'))),
          h('tbody', {}, items.map((it) => h('tr', { 'data-key': it.key, 'data-present': it.value !== null ? 'true' : 'false' },
            h('th', { scope: 'row' }, h('a', { href: href.key(bucket, it.key), class: 'mono break' }, it.key)),
            h('td', {}, it.value === null ? '—' : formatSize(it.value.length)),
            h('td', { class: 'preview' }, preview(it.value))))))),
        h('div', { class: 'button-row' }, h('button', { type: 'button', onclick: () => {
          const present = items.filter((it) => it.value !== null);
          downloadBlob(JSON.stringify(buildExport(bucket, present), null, 2) + '\n', exportFileName(bucket), 'application/json');
        } }, 'Save found values as a JSON file')));
    } catch (err) {
      getResult.replaceChildren(errorPanel(err, { heading: 'The keys could not be fetched.' }));
    } finally {
      done();
    }
  } },
  field('Keys, one per line', keysArea, 'Each line is one key, exactly as written (spaces included); blank lines are skipped.'),
  h('div', { class: 'button-row' }, getBtn),
  getResult);

  // Import.
  const fileInput = h('input', { type: 'file', name: 'import', accept: '.json,application/json' });
  const importResult = h('div', { class: 'result', 'aria-live': 'polite' });
  const importBtn = h('button', { type: 'submit', class: 'primary' }, 'Import');
  const importForm = h('form', { 'data-form': 'import', onsubmit: async (ev) => {
    ev.preventDefault();
    const file = fileInput.files && fileInput.files[0];
    if (!file) {
      importResult.replaceChildren(errorPanel(inputError('Choose a JSON file first.')));
      fileInput.focus();
      return;
    }
    const done = setBusy(importBtn);
    let stored = 0;
    let total = 0;
    try {
      const { items, skipped } = parseImport(await file.text());
      if (!items.length) throw new ImportFormatError('The file holds no key/values to import.');
      const refused = refusedKeys('write', bucket, items.map((it) => it.key));
      if (refused) throw refused;
      const limits = await limitsFor(bucket);
      const tooBig = oversized(items, limits, bucket);
      if (tooBig) throw tooBig;
      total = items.length;
      const progress = h('p', { class: 'muted' }, `Importing ${items.length} keys…`);
      importResult.replaceChildren(progress);
      await batchSet(bucket, items, (n) => {
        stored = n;
        progress.textContent = `Imported ${n} of ${total} keys…`;
      }, limits.batch);
      importResult.replaceChildren(h('p', { role: 'status', class: 'ok' },
        `Imported ${items.length} ${items.length === 1 ? 'key' : 'keys'} from “${file.name}” into bucket “${bucket}”${skipped ? ` (${skipped} null values skipped)` : ''}. `,
        h('a', { href: href.bucket(bucket) }, 'List the keys')));
    } catch (err) {
      importResult.replaceChildren(errorPanel(err, {
        heading: stored ? `The import stopped: ${stored} of ${total} keys were stored.` : 'Nothing was imported.',
      }));
    } finally {
      done();
    }
  } },
  field('JSON file to import', fileInput, ' '),
  h('div', { class: 'button-row' }, importBtn),
  importResult);
  // How the import is split, by this bucket's limits.
  const splitHint = importForm.querySelector('.hint');
  splitHint.setAttribute('data-limit-hint', '');
  limitsFor(bucket).then((l) => {
    const own = l.maxBatchItems !== null;
    splitHint.textContent = `Sent in calls of at most ${l.batch.maxItems.toLocaleString('en-US')} ${l.batch.maxItems === 1 ? 'key' : 'keys'}${own ? ' (this bucket’s limit)' : ''}` +
      (l.maxValueBytes !== null ? `; values of at most ${shortSize(l.maxValueBytes)}${l.lowered.maxValueBytes ? ` (the limit of target “${l.target}”)` : ''}.` : '.');
  });

  // Export.
  const prefixInput = h('input', { name: 'prefix', autocomplete: 'off', spellcheck: false });
  const exportResult = h('div', { class: 'result', 'aria-live': 'polite' });
  const exportBtn = h('button', { type: 'submit', class: 'primary' }, 'Export');
  const exportForm = h('form', { 'data-form': 'export', onsubmit: async (ev) => {
    ev.preventDefault();
    const done = setBusy(exportBtn);
    const progress = h('p', { class: 'muted' }, 'Listing keys…');
    exportResult.replaceChildren(progress);
    try {
      const keys = await listAllKeys(bucket, { prefix: prefixInput.value, onPage: (n) => { progress.textContent = `Listing keys… ${n} so far`; } });
      progress.textContent = `Fetching ${keys.length} values…`;
      const items = (await batchGet(bucket, keys, (await limitsFor(bucket)).batch)).filter((it) => it.value !== null);
      items.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      const name = exportFileName(bucket);
      const body = JSON.stringify(buildExport(bucket, items), null, 2) + '\n';
      downloadBlob(body, name, 'application/json');
      const total = items.reduce((s, it) => s + it.value.length, 0);
      exportResult.replaceChildren(h('p', { role: 'status', class: 'ok' }, `Exported ${items.length} ${items.length === 1 ? 'key' : 'keys'} (${formatSize(total)} of values) to “${name}”.`));
    } catch (err) {
      exportResult.replaceChildren(errorPanel(err, { heading: 'The export failed.' }));
    } finally {
      done();
    }
  } },
  field('Only keys starting with (optional)', prefixInput),
  h('div', { class: 'button-row' }, exportBtn),
  exportResult);

  const servedSlot = h('div', { class: 'served-slot', 'data-served-slot': '' });
  let noRoute = false;
  const sections = [];
  const section = (el, test) => {
    sections.push(el);
    return showIf(el, () => test() && !noRoute);
  };
  view.append(
    breadcrumbs([{ label: 'Buckets', href: href.home() }, { label: bucket, href: href.bucket(bucket) }, { label: 'Batch' }]),
    h('h1', { tabIndex: -1 }, h('span', { class: 'kicker' }, 'Batch · '), h('span', { class: 'mono break' }, bucket)),
    bucketTabs(bucket, 'batch'),
    bucketAccessNote(bucket),
    servedSlot,
    section(h('section', { class: 'card', 'aria-labelledby': 'bget-heading' },
      h('h2', { id: 'bget-heading' }, 'Fetch many keys'),
      getForm), () => canAny('read', bucket)),
    section(h('section', { class: 'card', 'aria-labelledby': 'import-heading' },
      h('h2', { id: 'import-heading' }, 'Import key/values'),
      h('p', {}, 'Stores every key/value of a JSON file in this bucket, replacing existing values. Accepted forms:'),
      h('details', { class: 'format' },
        h('summary', {}, 'File formats'),
        h('p', {}, h('strong', {}, 'Items with base64 values'), ' — the export format and the body of POST …/batch/set:'),
        h('pre', { class: 'example' }, exampleItems),
        h('p', {}, h('strong', {}, 'Items with text values'), ' — add "encoding": "utf8":'),
        h('pre', { class: 'example' }, exampleUtf8),
        h('p', {}, h('strong', {}, 'A plain object'), ' — each member is a key; string values are stored as UTF-8 text, any other JSON value as its JSON text:'),
        h('pre', { class: 'example' }, examplePlain)),
      importForm), () => canAny('write', bucket)),
    section(h('section', { class: 'card', 'aria-labelledby': 'export-heading' },
      h('h2', { id: 'export-heading' }, 'Export the bucket'),
      h('p', {}, 'Follows every page of the key list, fetches the values in batches and saves them as a JSON file in the items format above, sorted by key. Import it into any bucket to copy the data.'),
      exportForm), () => canAny('read', bucket)));

  // A bucket no route matches: nothing to fetch, import or export. Batch made key by key: a note.
  const apply = (state) => {
    if (!state || noRoute) return;
    if (state.status === 'no-route') {
      noRoute = true;
      for (const el of sections) el.hidden = true;
      servedSlot.replaceChildren(noRoutePanel(bucket, state));
      return;
    }
    servedSlot.replaceChildren(lackNote(state, 'batch') || '');
  };
  served.then(apply, () => {});
  apply(await within(served.catch(() => null), 1500));
}
