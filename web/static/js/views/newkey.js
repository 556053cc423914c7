// Create a key in a bucket from typed text or a file. Asks before replacing an existing key.

import { exists } from '../api.js';
import { h, field } from '../dom.js';
import { href, breadcrumbs, bucketTabs, confirmDialog, notify, inputError } from '../ui.js';
import { valueEditor } from './editor.js';
import { bucketAccessNote } from './bucket.js';
import { can, canAny, denial, showIf } from '../auth.js';
import { bucketState, within } from '../capabilities.js';
import { noRoutePanel } from './served.js';

export async function renderNewKey(view, { params, query, signal }) {
  const { bucket } = params;
  document.title = `New key · ${bucket} · Key-value gateway`;
  const keyInput = h('input', { name: 'key', autocomplete: 'off', spellcheck: false, required: true, value: query.key || '', class: 'mono' });
  const served = bucketState(bucket, { signal });
  const editor = valueEditor({
    bucket,
    getTarget: () => {
      if (keyInput.value === '') {
        keyInput.focus();
        throw inputError('Type a key name first.');
      }
      // Refused here, in the gateway's words, rather than after the value was sent.
      const why = denial('write', bucket, keyInput.value);
      if (why) {
        keyInput.focus();
        throw inputError(why);
      }
      return { bucket, key: keyInput.value };
    },
    saveTextLabel: 'Create with this text',
    uploadLabel: 'Create from file',
    fileLabel: 'Or create it from a file (any bytes, stored verbatim)',
    textNote: 'Stored exactly as typed, encoded as UTF-8.',
    beforeSave: async ({ bucket: b, key }) => {
      if (!can('read', b, key)) {
        // HEAD needs read: without it, whether the key exists cannot be told.
        return confirmDialog({
          title: 'Replace any existing value?',
          message: [`${denial('read', b, key)} So it cannot be told whether key `, h('code', {}, key), ' exists already; saving replaces any value it has.'],
          confirmLabel: 'Save anyway',
        });
      }
      if (!(await exists(b, key))) return true;
      return confirmDialog({
        title: 'Replace the existing value?',
        message: ['Key ', h('code', {}, key), ' already exists in bucket ', h('code', {}, b), '. Its value will be replaced.'],
        confirmLabel: 'Replace value',
      });
    },
    onSaved: ({ key }) => {
      notify(`Saved key “${key}”.`, 'ok', { survive: true });
      location.hash = href.key(bucket, key);
    },
  });
  const form = h('section', { class: 'card', 'aria-label': 'New key' },
    field('Key', keyInput, 'Any UTF-8 text, “/” included.'),
    editor.textForm,
    editor.fileForm);
  let noRoute = false;
  view.append(
    breadcrumbs([{ label: 'Buckets', href: href.home() }, { label: bucket, href: href.bucket(bucket) }, { label: 'New key' }]),
    h('h1', { tabIndex: -1 }, h('span', { class: 'kicker' }, 'New key in '), h('span', { class: 'mono break' }, bucket)),
    bucketTabs(bucket, 'new'),
    bucketAccessNote(bucket),
    showIf(form, () => canAny('write', bucket) && !noRoute));
  // A bucket no route matches takes no key: say so instead of offering the form.
  const apply = (state) => {
    if (!state || state.status !== 'no-route' || noRoute) return;
    noRoute = true;
    form.hidden = true;
    form.before(noRoutePanel(bucket, state));
  };
  served.then(apply, () => {});
  apply(await within(served.catch(() => null), 1500));
}
