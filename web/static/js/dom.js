// Small DOM helpers. Everything the UI shows is built with these, never with innerHTML, so
// keys and values from the store are always text, never markup.

/**
 * h creates an element. attrs: properties and attributes; "class", "for", "data-*", "aria-*"
 * and "role" become attributes, "on<event>" adds a listener, anything else is set as a property.
 * children: nodes, strings (as text), numbers, arrays of those; null/undefined/false are skipped.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      el.addEventListener(name.slice(2).toLowerCase(), value);
    } else if (name === 'class' || name === 'for' || name === 'role' || name === 'list' ||
               name.startsWith('data-') || name.startsWith('aria-')) {
      el.setAttribute(name, value === true ? '' : String(value));
    } else {
      el[name] = value;
    }
  }
  append(el, children);
  return el;
}

/** append adds children (same forms as h) to el and returns el. */
export function append(el, children) {
  for (const child of [children].flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** clear removes all children of el and returns el. */
export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

let idCounter = 0;
/** uid returns a document-unique id with the given prefix, to tie labels to controls. */
export function uid(prefix = 'f') {
  idCounter += 1;
  return `${prefix}-${idCounter}`;
}

/**
 * field returns a label and a control tied together by id, wrapped in a div.field.
 * control is an element created by the caller (input, select, textarea).
 */
export function field(labelText, control, hint) {
  if (!control.id) control.id = uid('field');
  let hintEl = null;
  if (hint) {
    hintEl = h('p', { class: 'hint', id: `${control.id}-hint` }, hint);
    control.setAttribute('aria-describedby', hintEl.id);
  }
  return h('div', { class: 'field' }, h('label', { for: control.id }, labelText), control, hintEl);
}

/** downloadBlob offers bytes (Blob or BufferSource) to the user as a file named filename. */
export function downloadBlob(data, filename, type = 'application/octet-stream') {
  const blob = data instanceof Blob ? data : new Blob([data], { type });
  const url = URL.createObjectURL(blob);
  const a = h('a', { href: url, download: filename, class: 'visually-hidden' }, 'download');
  document.body.append(a);
  a.click();
  a.remove();
  // Revoke later: the download has to start reading the blob first.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** setBusy marks a button as working (disabled, aria-busy) until the returned function is called. */
export function setBusy(button) {
  const wasDisabled = button.disabled;
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  return () => {
    button.disabled = wasDisabled;
    button.removeAttribute('aria-busy');
  };
}
