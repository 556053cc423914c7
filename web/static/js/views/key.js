// One key: its size and value (UTF-8 text, pretty JSON, hex dump, base64), download, edit,
// upload, increment and delete. The selected view is part of the address (?view=hex).

import { getValue, increment, deleteKey, MAX_U64 } from '../api.js';
import { h, field, downloadBlob, setBusy } from '../dom.js';
import { decodeUtf8, prettyJson, hexDump, bytesToBase64, formatSize, downloadName } from '../format.js';
import { href, errorPanel, inputError, breadcrumbs, bucketTabs, tabs, confirmDialog, notify, refresh, rememberBucket } from '../ui.js';
import { valueEditor } from './editor.js';
import { can, denial, showIf, bindIdentity } from '../auth.js';
import { bucketState, isNoSuchStore, interfaceState, within } from '../capabilities.js';
import { noRoutePanel, lackNote } from './served.js';

const TEXT_LIMIT = 1 << 20; // characters of text or base64 shown; the download has everything
const HEX_LIMIT = 64 << 10; // bytes in the hex dump

function truncatedNote(shown, total, unit) {
  return h('p', { class: 'note' }, `Showing the first ${shown.toLocaleString('en-US')} of ${total.toLocaleString('en-US')} ${unit}. Download the value to see all of it.`);
}

function textPanel(bytes, text) {
  if (bytes.length === 0) return h('p', { class: 'muted' }, 'The value is empty (0 bytes).');
  if (text === null) return h('p', { class: 'note' }, 'This value is not valid UTF-8 text: it is binary. The Hex and Base64 views show its bytes.');
  const shown = text.length > TEXT_LIMIT ? text.slice(0, TEXT_LIMIT) : text;
  return h('div', {}, text.length > TEXT_LIMIT ? truncatedNote(TEXT_LIMIT, text.length, 'characters') : null,
    h('pre', { class: 'value value-text', 'data-value': 'text' }, shown));
}

function jsonPanel(text) {
  if (text === null) return h('p', { class: 'note' }, 'This value is binary, so it is not JSON.');
  const pretty = text.length <= 8 * TEXT_LIMIT ? prettyJson(text) : null;
  if (pretty === null) {
    let why = '';
    try {
      JSON.parse(text);
    } catch (err) {
      why = ` (${err.message})`;
    }
    return h('p', { class: 'note' }, `This value is not a JSON document${why}. The Text view shows it as it is.`);
  }
  return h('pre', { class: 'value value-json', 'data-value': 'json' }, pretty);
}

function hexPanel(bytes) {
  if (bytes.length === 0) return h('p', { class: 'muted' }, 'The value is empty (0 bytes).');
  const narrow = window.matchMedia('(max-width: 40rem)').matches;
  return h('div', {}, bytes.length > HEX_LIMIT ? truncatedNote(HEX_LIMIT, bytes.length, 'bytes') : null,
    h('pre', { class: 'value value-hex', 'data-value': 'hex' }, hexDump(bytes, { bytesPerLine: narrow ? 8 : 16, maxBytes: HEX_LIMIT, offsetDigits: narrow ? 4 : 8 })));
}

function base64Panel(bytes) {
  if (bytes.length === 0) return h('p', { class: 'muted' }, 'The value is empty (0 bytes): its base64 is the empty string.');
  const limitBytes = (TEXT_LIMIT / 4) * 3;
  const shown = bytes.length > limitBytes ? bytes.subarray(0, limitBytes) : bytes;
  return h('div', {}, bytes.length > limitBytes ? truncatedNote(limitBytes, bytes.length, 'bytes') : null,
    h('pre', { class: 'value value-base64 wrap', 'data-value': 'base64' }, bytesToBase64(shown)));
}

function kind(bytes, text) {
  if (text === null) return 'binary';
  if (bytes.length && /^\s*[{[]/.test(text) && prettyJson(text) !== null) return 'JSON';
  return 'UTF-8 text';
}

export async function renderKey(view, { params, query, signal }) {
  const { bucket, key } = params;
  document.title = `${key} · ${bucket} · Key-value gateway`;
  view.append(
    breadcrumbs([{ label: 'Buckets', href: href.home() }, { label: bucket, href: href.bucket(bucket) }, { label: key }]),
    h('h1', { tabIndex: -1 }, h('span', { class: 'kicker' }, 'Key '), h('span', { class: 'mono break' }, key)),
    bucketTabs(bucket, null));

  // Where the bucket is served decides whether the counter is offered.
  const served = bucketState(bucket, { signal }).catch(() => null);
  let bytes;
  try {
    bytes = await getValue(bucket, key, { signal });
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    if (isNoSuchStore(err)) {
      // No bucket to create the key in: no route matches it, or its provider has no such bucket.
      const state = await within(served, 1500);
      view.append(state && state.status === 'no-route'
        ? noRoutePanel(bucket, state)
        : errorPanel(err, { heading: `Could not read key “${key}” of bucket “${bucket}”.`, retry: () => refresh() }));
      return;
    }
    view.append(errorPanel(err, { heading: `Could not read key “${key}” of bucket “${bucket}”.`, retry: err.status === 404 ? null : () => refresh() }));
    if (err.status === 404) {
      view.append(showIf(createSection(bucket, key), () => can('write', bucket, key)),
        bindIdentity(h('p', { class: 'note', 'data-access': 'create' }), (el) => {
          const why = denial('write', bucket, key);
          el.hidden = !why;
          el.textContent = why ? `${why} Creating it is not offered.` : '';
        }));
    }
    return;
  }
  rememberBucket(bucket);

  const display = h('section', { class: 'card', 'aria-labelledby': 'value-heading' });
  const editor = valueEditor({
    bucket,
    getTarget: () => ({ bucket, key }),
    onSaved: async () => {
      await reload();
    },
  });
  let selected = ['text', 'json', 'hex', 'base64'].includes(query.view) ? query.view : null;

  const showValue = () => {
    const text = decodeUtf8(bytes);
    const k = kind(bytes, text);
    if (!selected) selected = k === 'JSON' ? 'json' : k === 'binary' ? 'hex' : 'text';
    display.replaceChildren(
      h('h2', { id: 'value-heading' }, 'Value'),
      h('dl', { class: 'facts' },
        h('div', {}, h('dt', {}, 'Size'), h('dd', { 'data-fact': 'size' }, formatSize(bytes.length))),
        h('div', {}, h('dt', {}, 'Content'), h('dd', { 'data-fact': 'kind' }, k))),
      h('div', { class: 'button-row' },
        h('button', { type: 'button', 'data-action': 'download', onclick: () => downloadBlob(bytes, downloadName(key, bytes)) }, 'Download'),
        h('button', { type: 'button', 'data-action': 'reload', onclick: async (ev) => {
          const done = setBusy(ev.currentTarget);
          try {
            await reload();
            notify('Value reloaded.');
          } finally {
            done();
          }
        } }, 'Reload'),
        showIf(h('button', { type: 'button', class: 'danger', 'data-action': 'delete', onclick: onDelete }, 'Delete…'), () => can('delete', bucket, key))),
      tabs({
        label: 'Show the value as',
        selected,
        items: [
          { id: 'text', label: 'Text', render: () => textPanel(bytes, text) },
          { id: 'json', label: 'JSON', render: () => jsonPanel(text) },
          { id: 'hex', label: 'Hex', render: () => hexPanel(bytes) },
          { id: 'base64', label: 'Base64', render: () => base64Panel(bytes) },
        ],
        onSelect: (id) => {
          selected = id;
          history.replaceState(null, '', href.key(bucket, key, { view: id }));
        },
      }));
    const t = decodeUtf8(bytes);
    editor.textarea.value = t === null ? '' : t;
    editor.hint.textContent = t === null
      ? 'The current value is binary, so the text box starts empty; saving text replaces the value.'
      : 'Saving stores exactly this text, encoded as UTF-8.';
  };

  const reload = async () => {
    try {
      bytes = await getValue(bucket, key);
      showValue();
    } catch (err) {
      display.replaceChildren(h('h2', { id: 'value-heading' }, 'Value'), errorPanel(err, { heading: 'Could not read the value again.' }));
    }
  };

  async function onDelete() {
    const ok = await confirmDialog({
      title: 'Delete this key?',
      message: ['Key ', h('code', {}, key), ' will be deleted from bucket ', h('code', {}, bucket), '. This cannot be undone.'],
      confirmLabel: 'Delete key',
    });
    if (!ok) return;
    try {
      await deleteKey(bucket, key);
      notify(`Deleted key “${key}”.`, 'ok', { survive: true });
      location.hash = href.bucket(bucket);
    } catch (err) {
      notify(`${err.title || 'Delete failed'}${err.detail ? ': ' + err.detail : ''}`, 'error');
    }
  }

  const editSection = h('section', { class: 'card', 'aria-labelledby': 'edit-heading' },
    h('h2', { id: 'edit-heading' }, 'Edit'),
    editor.textForm, editor.fileForm);

  const deltaInput = h('input', { name: 'delta', value: '1', inputMode: 'numeric', pattern: '[0-9]+', autocomplete: 'off', required: true });
  const incResult = h('div', { class: 'result', 'aria-live': 'polite' });
  const incBtn = h('button', { type: 'submit' }, 'Increment');
  const counterSection = h('section', { class: 'card', 'aria-labelledby': 'counter-heading' },
    h('h2', { id: 'counter-heading' }, 'Counter'),
    h('p', { class: 'muted' }, 'Adds the delta (a whole number from 0 to 2^64−1) to the value read as a decimal number; an absent key counts from 0.'),
    h('form', { class: 'inline-fields', 'data-form': 'increment', noValidate: true, onsubmit: async (ev) => {
      ev.preventDefault();
      incResult.replaceChildren();
      if (counterSection.dataset.lacks) return;
      const d = deltaInput.value.trim();
      if (!/^\d+$/.test(d) || BigInt(d) > MAX_U64) {
        incResult.replaceChildren(errorPanel(inputError('The delta must be a whole number from 0 to 18446744073709551615.')));
        deltaInput.focus();
        return;
      }
      const done = setBusy(incBtn);
      try {
        const value = await increment(bucket, key, d);
        incResult.replaceChildren(h('p', { class: 'ok', role: 'status' }, 'New value: ', h('output', { 'data-result': 'counter', class: 'mono strong' }, value)));
        await reload();
      } catch (err) {
        incResult.replaceChildren(errorPanel(err, { heading: 'The counter was not incremented.' }));
      } finally {
        done();
      }
    } },
    Object.assign(field('Delta', deltaInput), { className: 'field narrow' }),
    incBtn),
    incResult);

  showIf(editSection, () => can('write', bucket, key));
  showIf(counterSection, () => can('write', bucket, key));
  showValue();
  view.append(accessNote(bucket, key), display, editSection, counterSection);

  // A target without atomics: the counter stays in view, disabled, and says why.
  const applyServed = (state) => {
    if (!state || interfaceState(state, 'atomics') !== 'not-served' || counterSection.dataset.lacks) return;
    counterSection.dataset.lacks = 'atomics';
    const note = lackNote(state, 'atomics');
    note.id = `${counterSection.querySelector('h2').id}-lacks`;
    counterSection.querySelector('h2').after(note);
    deltaInput.disabled = true;
    incBtn.disabled = true;
    incBtn.setAttribute('aria-describedby', note.id);
  };
  served.then(applyServed);
  await within(served, 1500);
}

/**
 * accessNote says, when the token may not change this key, what it lacks and that editing,
 * the counter or deleting are therefore not offered. It is empty (hidden) otherwise.
 */
function accessNote(bucket, key) {
  return bindIdentity(h('p', { class: 'note', 'data-access': 'key' }), (el) => {
    const missing = ['write', 'delete'].filter((a) => !can(a, bucket, key));
    el.hidden = missing.length === 0;
    if (el.hidden) {
      el.replaceChildren();
      return;
    }
    const hidden = missing.includes('write')
      ? (missing.includes('delete') ? 'Editing, the counter and deleting are not offered.' : 'Editing and the counter are not offered.')
      : 'Deleting is not offered.';
    el.replaceChildren(missing.map((a) => denial(a, bucket, key)).join(' ') + ' ' + hidden);
  });
}

function createSection(bucket, key) {
  const editor = valueEditor({
    bucket,
    getTarget: () => ({ bucket, key }),
    saveTextLabel: 'Create with this text',
    uploadLabel: 'Create from file',
    fileLabel: 'Or create it from a file (any bytes, stored verbatim)',
    onSaved: async () => {
      notify(`Created key “${key}”.`, 'ok', { survive: true });
      await refresh();
    },
  });
  return h('section', { class: 'card', 'aria-labelledby': 'create-heading' },
    h('h2', { id: 'create-heading' }, 'Create this key'),
    editor.textForm, editor.fileForm);
}
