// Forms that write a value: as typed UTF-8 text, or as the raw bytes of a file (binary
// included). Both PUT the bytes verbatim as application/octet-stream. A value over the
// bucket's limit (its target's, else the gateway's) is refused here, before any byte is sent.

import { putValue } from '../api.js';
import { limitsFor } from '../capabilities.js';
import { h, field, setBusy, uid } from '../dom.js';
import { encodeUtf8, formatSize, shortSize } from '../format.js';
import { errorPanel, inputError } from '../ui.js';

/**
 * valueEditor returns the text form and the file form for a key of bucket. getTarget() returns
 * { bucket, key } or throws an Error whose message is shown (e.g. an empty key). onSaved({
 * bucket, key, size, source }) runs after a successful write.
 */
export function valueEditor({ bucket, getTarget, initialText = '', textNote = null, onSaved, textLabel = 'Value as text (UTF-8)', saveTextLabel = 'Save text', uploadLabel = 'Upload file', fileLabel = 'Or replace the value with a file (any bytes, stored verbatim)', beforeSave = async () => true }) {
  const textarea = h('textarea', { name: 'value', rows: 8, spellcheck: false, value: initialText, class: 'mono', id: uid('value') });
  const hint = h('p', { class: 'hint', id: `${textarea.id}-hint` }, textNote || '');
  textarea.setAttribute('aria-describedby', hint.id);
  const textResult = h('div', { class: 'result', 'aria-live': 'polite' });
  const saveBtn = h('button', { type: 'submit', class: 'primary' }, saveTextLabel);
  const textForm = h('form', { class: 'editor-form', 'data-form': 'text', onsubmit: async (ev) => {
    ev.preventDefault();
    textResult.replaceChildren();
    const done = setBusy(saveBtn);
    try {
      const target = getTarget();
      const bytes = encodeUtf8(textarea.value);
      await checkSize('The text', bytes.length, target.bucket);
      if (!(await beforeSave(target))) return;
      await putValue(target.bucket, target.key, bytes);
      textResult.replaceChildren(h('p', { class: 'ok', role: 'status' }, `Saved ${formatSize(bytes.length)}.`));
      await onSaved({ ...target, size: bytes.length, source: 'text' });
    } catch (err) {
      textResult.replaceChildren(errorPanel(err, { heading: 'The value was not saved.' }));
    } finally {
      done();
    }
  } },
  h('div', { class: 'field' }, h('label', { for: textarea.id }, textLabel), textarea, hint),
  h('div', { class: 'button-row' }, saveBtn),
  textResult);

  const fileInput = h('input', { type: 'file', name: 'file' });
  const fileResult = h('div', { class: 'result', 'aria-live': 'polite' });
  // Say at once when the chosen file is too large, rather than after an upload.
  fileInput.addEventListener('change', async () => {
    fileResult.replaceChildren();
    const file = fileInput.files && fileInput.files[0];
    if (!file) return;
    try {
      await checkSize(`“${file.name}”`, file.size, bucket);
    } catch (err) {
      if (fileInput.files && fileInput.files[0] === file) fileResult.replaceChildren(errorPanel(err, { heading: 'This file cannot be stored.' }));
    }
  });
  const uploadBtn = h('button', { type: 'submit' }, uploadLabel);
  const fileForm = h('form', { class: 'editor-form', 'data-form': 'file', onsubmit: async (ev) => {
    ev.preventDefault();
    fileResult.replaceChildren();
    const file = fileInput.files && fileInput.files[0];
    if (!file) {
      fileResult.replaceChildren(errorPanel(inputError('Choose a file first.')));
      fileInput.focus();
      return;
    }
    const done = setBusy(uploadBtn);
    try {
      const target = getTarget();
      await checkSize(`“${file.name}”`, file.size, target.bucket);
      if (!(await beforeSave(target))) return;
      await putValue(target.bucket, target.key, file);
      fileResult.replaceChildren(h('p', { class: 'ok', role: 'status' }, `Uploaded “${file.name}”, ${formatSize(file.size)}.`));
      await onSaved({ ...target, size: file.size, source: 'file' });
    } catch (err) {
      fileResult.replaceChildren(errorPanel(err, { heading: 'The file was not stored.' }));
    } finally {
      done();
    }
  } },
  field(fileLabel, fileInput, ' '),
  h('div', { class: 'button-row' }, uploadBtn),
  fileResult);
  // The largest value this bucket takes, under the file field.
  const limitHint = fileForm.querySelector('.hint');
  limitHint.setAttribute('data-limit-hint', '');
  limitsFor(bucket).then((l) => {
    if (l.maxValueBytes === null) {
      limitHint.remove();
      fileInput.removeAttribute('aria-describedby');
      return;
    }
    limitHint.textContent = l.lowered.maxValueBytes
      ? `Values in this bucket are at most ${shortSize(l.maxValueBytes)}, the limit of its target “${l.target}”.`
      : `Values are at most ${shortSize(l.maxValueBytes)}.`;
  });

  return { textForm, fileForm, textarea, hint };
}

/**
 * checkSize throws an input error when size bytes exceed the value limit of bucket: its
 * target's when the gateway states one for it, else the gateway's.
 */
export async function checkSize(what, size, bucket) {
  const l = await limitsFor(bucket);
  const max = l.maxValueBytes;
  if (max !== null && size > max) {
    const where = l.lowered.maxValueBytes
      ? `bucket “${bucket}” stores values of at most ${formatSize(max)}, the limit of its target “${l.target}”`
      : `this gateway stores values of at most ${formatSize(max)}`;
    throw inputError(`${what} is ${formatSize(size)}; ${where}.`);
  }
}
