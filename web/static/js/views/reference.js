// The API reference, rendered from the gateway's own /openapi.json: operations grouped by tag,
// with parameters, request bodies and responses, and a form per operation that sends a real
// request and shows the status, headers and body of the answer.

import { openapi, resolveRef, send, ApiError } from '../api.js';
import { h, append, field, uid, setBusy, downloadBlob } from '../dom.js';
import { decodeUtf8, prettyJson, hexDump, formatSize } from '../format.js';
import { errorPanel, refresh } from '../ui.js';
import { markdown, inline } from '../markdown.js';
import { askForToken } from '../auth.js';

const METHODS = ['get', 'put', 'post', 'delete', 'head', 'patch', 'options'];
const MAX_DEPTH = 8;

export async function renderReference(view, { query }) {
  document.title = 'API reference · Key-value gateway';
  view.append(h('h1', { tabIndex: -1 }, 'API reference'));
  const loading = h('p', { class: 'muted' }, 'Loading /openapi.json…');
  view.append(loading);
  let doc;
  try {
    doc = await openapi();
  } catch (err) {
    loading.replaceWith(errorPanel(err, { heading: 'The API description could not be loaded.', retry: () => refresh() }));
    return;
  }
  loading.remove();

  const info = doc.info || {};
  view.append(h('section', { class: 'card api-info', 'aria-label': 'About the API' },
    h('p', { class: 'api-title' }, h('strong', {}, info.title || 'API'), info.version ? h('span', { class: 'badge' }, `version ${info.version}`) : null,
      doc.openapi ? h('span', { class: 'badge' }, `OpenAPI ${doc.openapi}`) : null),
    info.description ? h('details', { class: 'api-about' }, h('summary', {}, 'About this API'), paragraphs(info.description, 3)) : null,
    h('p', {}, 'The document: ', h('a', { href: '/openapi.yaml' }, 'openapi.yaml'), ' · ', h('a', { href: '/openapi.json' }, 'openapi.json'))));

  const groups = groupOperations(doc);
  const toc = h('nav', { class: 'card toc', 'aria-label': 'Operations' },
    h('h2', {}, 'Operations'),
    h('ul', {}, groups.map((g) => h('li', {}, h('span', { class: 'toc-tag' }, g.name),
      h('ul', {}, g.ops.map((o) => h('li', {}, h('a', { href: `#/api?op=${encodeURIComponent(o.id)}` },
        h('span', { class: `method method-${o.method}` }, o.method.toUpperCase()), ' ', h('span', { class: 'mono' }, o.path)))))))));
  view.append(toc);

  let target = null;
  for (const g of groups) {
    const section = h('section', { class: 'tag-group', 'aria-labelledby': `tag-${slug(g.name)}` },
      h('h2', { id: `tag-${slug(g.name)}` }, g.name),
      paragraphs(g.description));
    for (const o of g.ops) {
      const el = operationView(doc, o);
      if (query.op && query.op === o.id) {
        el.open = true;
        target = el;
      }
      section.append(el);
    }
    view.append(section);
  }
  if (target) {
    target.scrollIntoView({ block: 'start' });
    target.querySelector('summary').focus();
  }
}

function slug(s) {
  return String(s).toLowerCase().replace(/[^a-z0-9]+/g, '-');
}

function paragraphs(text, headingLevel = 4) {
  if (!text) return null;
  return markdown(text, { headingLevel });
}

/** groupOperations lists the operations by their first tag, in the order the document's tags are declared. */
export function groupOperations(doc) {
  const byTag = new Map();
  for (const t of doc.tags || []) byTag.set(t.name, { name: t.name, description: t.description || '', ops: [] });
  for (const [path, item0] of Object.entries(doc.paths || {})) {
    const item = resolveRef(doc, item0) || {};
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      const tag = (op.tags && op.tags[0]) || 'default';
      if (!byTag.has(tag)) byTag.set(tag, { name: tag, description: '', ops: [] });
      const params = mergeParams(doc, item.parameters, op.parameters);
      byTag.get(tag).ops.push({ id: op.operationId || `${method}-${path}`, method, path, op, params });
    }
  }
  return [...byTag.values()].filter((g) => g.ops.length);
}

function mergeParams(doc, pathParams = [], opParams = []) {
  const out = new Map();
  for (const p0 of [...pathParams, ...opParams]) {
    const p = resolveRef(doc, p0);
    if (p && p.name) out.set(`${p.in}:${p.name}`, p);
  }
  return [...out.values()];
}

function operationView(doc, o) {
  const { op, method, path, params } = o;
  const details = h('details', { class: 'op', 'data-op': o.id, id: `op-${slug(o.id)}` });
  details.append(h('summary', {},
    h('span', { class: `method method-${method}` }, method.toUpperCase()), ' ',
    h('span', { class: 'mono op-path' }, path),
    op.summary ? h('span', { class: 'op-summary' }, op.summary) : null,
    op.deprecated ? h('span', { class: 'badge' }, 'deprecated') : null));
  const body = h('div', { class: 'op-body' });
  details.append(body);
  // The body is built when first opened: a large spec stays quick to show.
  let built = false;
  const build = () => {
    if (built) return;
    built = true;
    append(body, [
      op.operationId ? h('p', { class: 'muted' }, 'Operation ', h('code', {}, op.operationId)) : null,
      paragraphs(op.description),
      paramsView(doc, params),
      requestBodyView(doc, op.requestBody),
      responsesView(doc, op.responses),
      tryIt(doc, o)]);
  };
  details.addEventListener('toggle', () => {
    if (details.open) build();
    // The address names the operation last opened, so it can be shared; replaceState keeps
    // opening and closing out of the history.
    if (!location.hash.startsWith('#/api')) return;
    const target = `#/api?op=${encodeURIComponent(o.id)}`;
    if (details.open) history.replaceState(null, '', target);
    else if (location.hash === target) history.replaceState(null, '', '#/api');
  });
  if (details.open) build();
  // `open` may be set before the element is attached (deep link); build then as well.
  queueMicrotask(() => { if (details.open) build(); });
  return details;
}

function paramsView(doc, params) {
  if (!params.length) return null;
  return h('div', { class: 'op-part' }, h('h3', {}, 'Parameters'),
    h('div', { class: 'table-wrap' }, h('table', { class: 'param-table' },
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Name'), h('th', { scope: 'col' }, 'In'), h('th', { scope: 'col' }, 'Schema'), h('th', { scope: 'col' }, 'Description'))),
      h('tbody', {}, params.map((p) => h('tr', {},
        h('th', { scope: 'row' }, h('code', {}, p.name), p.required ? h('span', { class: 'req' }, ' required') : null),
        h('td', { 'data-label': 'In' }, p.in),
        h('td', { 'data-label': 'Schema' }, schemaView(doc, p.schema || (p.content && Object.values(p.content)[0] && Object.values(p.content)[0].schema), 0)),
        p.description ? h('td', { 'data-label': 'Description' }, inline(p.description)) : h('td', {})))))));
}

function requestBodyView(doc, rb0) {
  const rb = resolveRef(doc, rb0);
  if (!rb) return null;
  return h('div', { class: 'op-part' }, h('h3', {}, 'Request body', rb.required ? h('span', { class: 'req' }, ' required') : null),
    paragraphs(rb.description),
    contentView(doc, rb.content));
}

/**
 * contentView lists the media types of a body and their schemas. A named schema (a $ref) is
 * folded under its name unless expand is set, so the same Problem schema repeated under every
 * error status doesn't bury the rest.
 */
function contentView(doc, content, { expand = true } = {}) {
  if (!content) return null;
  return h('ul', { class: 'content-list' }, Object.entries(content).map(([type, media]) => {
    const schema = media && media.schema;
    let view = null;
    if (schema && schema.$ref && !expand) {
      view = h('details', { class: 'schema-fold' }, h('summary', {}, `Schema ${schema.$ref.split('/').pop()}`), schemaView(doc, schema, 0));
    } else if (schema) {
      view = schemaView(doc, schema, 0);
    }
    return h('li', {}, h('code', { class: 'media-type' }, type), view);
  }));
}

function responsesView(doc, responses) {
  if (!responses) return null;
  return h('div', { class: 'op-part' }, h('h3', {}, 'Responses'),
    h('ul', { class: 'responses' }, Object.entries(responses).map(([code, r0]) => {
      const r = resolveRef(doc, r0) || {};
      const headers = r.headers ? Object.entries(r.headers).map(([name, h0]) => {
        const hd = resolveRef(doc, h0) || {};
        return h('li', {}, h('code', {}, name), hd.description ? [' — ', inline(hd.description)] : '');
      }) : [];
      return h('li', { class: 'response', 'data-status': code },
        h('p', {}, h('span', { class: `status status-${String(code)[0]}` }, code), ' ', inline(r.description || '')),
        headers.length ? h('div', {}, h('p', { class: 'muted' }, 'Headers'), h('ul', {}, headers)) : null,
        contentView(doc, r.content, { expand: /^2/.test(code) }));
    })));
}

function typeLabel(s) {
  let t = s.type;
  if (Array.isArray(t)) t = t.join(' | ');
  if (!t) {
    if (s.properties) t = 'object';
    else if (s.items) t = 'array';
    else t = 'any';
  }
  if (s.nullable) t += ' | null';
  if (s.format) t += ` (${s.format})`;
  return t;
}

function constraints(s) {
  const c = [];
  if (s.enum) c.push(`one of ${s.enum.map((v) => JSON.stringify(v)).join(', ')}`);
  if (s.const !== undefined) c.push(`= ${JSON.stringify(s.const)}`);
  for (const [k, label] of [['minimum', '≥'], ['maximum', '≤'], ['exclusiveMinimum', '>'], ['exclusiveMaximum', '<']]) {
    if (typeof s[k] === 'number') c.push(`${label} ${s[k]}`);
  }
  if (s.minLength !== undefined) c.push(`min length ${s.minLength}`);
  if (s.maxLength !== undefined) c.push(`max length ${s.maxLength}`);
  if (s.minItems !== undefined) c.push(`min items ${s.minItems}`);
  if (s.maxItems !== undefined) c.push(`max items ${s.maxItems}`);
  if (s.pattern) c.push(`pattern ${s.pattern}`);
  if (s.default !== undefined) c.push(`default ${JSON.stringify(s.default)}`);
  return c;
}

/** schemaView renders a JSON Schema as nested lists: type, constraints, description, properties. */
function schemaView(doc, s0, depth) {
  if (!s0) return h('span', { class: 'muted' }, 'any');
  const name = s0.$ref ? s0.$ref.split('/').pop() : null;
  const s = resolveRef(doc, s0);
  if (depth > MAX_DEPTH) return h('span', { class: 'muted' }, name || '…');
  const head = h('span', { class: 'schema-head' },
    name ? h('span', { class: 'schema-name' }, name, ': ') : null,
    h('span', { class: 'schema-type' }, typeLabel(s)));
  const cons = constraints(s);
  const parts = [head];
  if (cons.length) parts.push(h('span', { class: 'schema-cons' }, ` — ${cons.join('; ')}`));
  if (s.description) parts.push(h('span', { class: 'schema-desc' }, inline(s.description)));
  for (const comb of ['oneOf', 'anyOf', 'allOf']) {
    if (Array.isArray(s[comb])) {
      parts.push(h('div', { class: 'schema-comb' }, h('span', { class: 'muted' }, comb), h('ul', {}, s[comb].map((x) => h('li', {}, schemaView(doc, x, depth + 1))))));
    }
  }
  if (s.properties) {
    const required = new Set(s.required || []);
    parts.push(h('ul', { class: 'schema-props' }, Object.entries(s.properties).map(([prop, ps]) => h('li', {},
      h('code', {}, prop), required.has(prop) ? h('span', { class: 'req' }, ' required') : null, ' ',
      schemaView(doc, ps, depth + 1)))));
  }
  if (s.items) parts.push(h('div', { class: 'schema-items' }, h('span', { class: 'muted' }, 'items: '), schemaView(doc, s.items, depth + 1)));
  if (s.additionalProperties && typeof s.additionalProperties === 'object') {
    parts.push(h('div', { class: 'schema-items' }, h('span', { class: 'muted' }, 'additional properties: '), schemaView(doc, s.additionalProperties, depth + 1)));
  }
  return h('div', { class: 'schema' }, parts);
}

/** sample builds an example value for a schema: its example, default or first enum value, else a placeholder. */
function sample(doc, s0, depth = 0) {
  const s = resolveRef(doc, s0);
  if (!s || depth > MAX_DEPTH) return null;
  if (s.example !== undefined) return s.example;
  if (Array.isArray(s.examples) && s.examples.length) return s.examples[0];
  if (s.default !== undefined) return s.default;
  if (Array.isArray(s.enum) && s.enum.length) return s.enum[0];
  for (const comb of ['oneOf', 'anyOf', 'allOf']) if (Array.isArray(s[comb]) && s[comb].length) return sample(doc, s[comb][0], depth + 1);
  const type = Array.isArray(s.type) ? s.type.find((t) => t !== 'null') : s.type;
  if (type === 'object' || s.properties) {
    const o = {};
    for (const [k, v] of Object.entries(s.properties || {})) o[k] = sample(doc, v, depth + 1);
    return o;
  }
  if (type === 'array') return [sample(doc, s.items, depth + 1)];
  if (type === 'integer' || type === 'number') return typeof s.minimum === 'number' ? Math.max(s.minimum, 1) : 1;
  if (type === 'boolean') return true;
  if (type === 'string') return s.format === 'byte' ? 'aGVsbG8=' : 'string';
  return null;
}

function mediaExample(doc, media) {
  if (!media) return '';
  let v;
  if (media.example !== undefined) v = media.example;
  else if (media.examples && Object.keys(media.examples).length) {
    const ex = resolveRef(doc, Object.values(media.examples)[0]);
    v = ex && ex.value;
  } else if (media.schema) v = sample(doc, media.schema);
  if (v === undefined || v === null) return '';
  return typeof v === 'string' ? v : JSON.stringify(v, null, 2);
}

function paramExample(doc, p) {
  if (p.example !== undefined) return String(p.example);
  if (p.examples && Object.keys(p.examples).length) {
    const ex = resolveRef(doc, Object.values(p.examples)[0]);
    if (ex && ex.value !== undefined) return String(ex.value);
  }
  const s = resolveRef(doc, p.schema);
  if (s && s.example !== undefined) return String(s.example);
  if (p.in === 'path') return '';
  return '';
}

/** baseURL is where the operations live: the spec's first server when it is on this origin, else "/". */
function basePath(doc) {
  const server = doc.servers && doc.servers[0] && doc.servers[0].url;
  if (!server) return '';
  try {
    const u = new URL(server, location.origin);
    if (u.origin !== location.origin) return '';
    return u.pathname.replace(/\/+$/, '');
  } catch {
    return '';
  }
}

function tryIt(doc, o) {
  const { op, method, path, params } = o;
  const form = h('form', { class: 'try-it', 'data-form': 'try-it', 'aria-label': `Try ${method.toUpperCase()} ${path}` });
  const inputs = [];
  const usable = params.filter((p) => p.in === 'path' || p.in === 'query' || p.in === 'header');
  for (const p of usable) {
    // Required parameters start with the spec's example; optional ones only show it, so a
    // request sends nothing the person did not choose.
    const required = p.in === 'path' || !!p.required;
    const example = paramExample(doc, p);
    const input = h('input', {
      name: `${p.in}:${p.name}`, value: required ? example : '', placeholder: !required && example ? `e.g. ${example}` : '',
      autocomplete: 'off', spellcheck: false, required, 'data-param': p.name,
    });
    inputs.push({ p, input });
  }
  const rb = resolveRef(doc, op.requestBody);
  let typeSelect = null;
  let bodyArea = null;
  let bodyFile = null;
  if (rb && rb.content) {
    const types = Object.keys(rb.content);
    typeSelect = h('select', { name: 'content-type' }, types.map((t) => h('option', { value: t }, t)));
    bodyArea = h('textarea', { name: 'body', rows: 6, spellcheck: false, class: 'mono', value: mediaExample(doc, rb.content[types[0]]) });
    bodyFile = h('input', { type: 'file', name: 'body-file' });
    typeSelect.addEventListener('change', () => {
      bodyArea.value = mediaExample(doc, rb.content[typeSelect.value]);
      syncFileField();
    });
  }
  // A file as the body makes sense for raw bytes, not for a JSON document.
  const fileField = bodyFile ? field('Or send a file as the body', bodyFile) : null;
  function syncFileField() {
    if (!fileField) return;
    fileField.hidden = /json/i.test(typeSelect.value);
    if (fileField.hidden) bodyFile.value = '';
  }
  syncFileField();
  const sendBtn = h('button', { type: 'submit', class: 'primary' }, 'Send request');
  const out = h('div', { class: 'result try-result', 'aria-live': 'polite' });

  append(form, [
    h('h3', {}, 'Try it'),
    inputs.length ? h('div', { class: 'param-grid' }, inputs.map(({ p, input }) => field(`${p.name} (${p.in}${p.required || p.in === 'path' ? ', required' : ''})`, input, p.in === 'path' ? 'Sent percent-encoded as one path segment.' : null))) : null,
    typeSelect ? field('Content type', typeSelect) : null,
    bodyArea ? field('Request body', bodyArea) : null,
    bodyFile ? fileField : null,
    h('div', { class: 'button-row' }, sendBtn),
    out]);

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    let url = basePath(doc) + path;
    const q = new URLSearchParams();
    const headers = {};
    for (const { p, input } of inputs) {
      const v = input.value;
      if (p.in === 'path') url = url.replace(`{${p.name}}`, encodeURIComponent(v));
      else if (v === '') continue;
      else if (p.in === 'query') q.set(p.name, v);
      else headers[p.name] = v;
    }
    if ([...q.keys()].length) url += `?${q}`;
    let body;
    if (bodyArea && method !== 'get' && method !== 'head') {
      const file = !fileField.hidden && bodyFile.files && bodyFile.files[0];
      if (file) body = file;
      else if (bodyArea.value !== '' || rb.required) body = bodyArea.value;
      if (body !== undefined) headers['Content-Type'] = typeSelect.value;
    }
    const done = setBusy(sendBtn);
    out.replaceChildren(h('p', { class: 'muted' }, `${method.toUpperCase()} ${url} …`));
    const t0 = performance.now();
    try {
      // send carries this tab's API token, and on a 401 asks for one and sends again; a 401
      // still shown here means the prompt was closed.
      const res = await send(method.toUpperCase(), url, { headers, body });
      const buf = new Uint8Array(await res.arrayBuffer());
      out.replaceChildren(responseView(method, url, res, buf, Math.round(performance.now() - t0), () => form.requestSubmit()));
    } catch (err) {
      out.replaceChildren(errorPanel(err instanceof ApiError ? err : new ApiError({ title: 'Network error', detail: `The request did not reach the gateway: ${err.message}`, network: true })));
    } finally {
      done();
    }
  });
  return form;
}

function responseView(method, url, res, buf, ms, resend) {
  const ct = res.headers.get('Content-Type') || '';
  const headerLines = [];
  res.headers.forEach((v, k) => headerLines.push(`${k}: ${v}`));
  let bodyEl;
  if (buf.length === 0) {
    bodyEl = h('p', { class: 'muted' }, method === 'head' ? 'No body (HEAD).' : 'No body.');
  } else {
    const text = decodeUtf8(buf);
    const pretty = text !== null && /json/i.test(ct) ? prettyJson(text) : null;
    if (pretty !== null) bodyEl = h('pre', { class: 'value', 'data-result': 'body' }, pretty);
    else if (text !== null) bodyEl = h('pre', { class: 'value', 'data-result': 'body' }, text.length > 200_000 ? text.slice(0, 200_000) + '\n…' : text);
    else {
      bodyEl = h('div', {},
        h('p', { class: 'muted' }, `Binary body, ${formatSize(buf.length)}. First bytes:`),
        h('pre', { class: 'value value-hex', 'data-result': 'body' }, hexDump(buf, { maxBytes: 512, bytesPerLine: window.matchMedia('(max-width: 40rem)').matches ? 8 : 16 })),
        h('button', { type: 'button', onclick: () => downloadBlob(buf, 'response.bin') }, 'Download body'));
    }
  }
  const headingId = uid('resp');
  return h('section', { class: 'response-view', 'aria-labelledby': headingId },
    h('p', { id: headingId, class: 'response-line' },
      h('span', { class: `status status-${String(res.status)[0]}`, 'data-result': 'status' }, `${res.status}${res.statusText ? ' ' + res.statusText : ''}`),
      ' ', h('span', { class: 'mono break' }, `${method.toUpperCase()} ${url}`), h('span', { class: 'muted' }, ` · ${ms} ms`)),
    h('details', { class: 'resp-headers', open: true }, h('summary', {}, `Response headers (${headerLines.length})`),
      h('pre', { class: 'value', 'data-result': 'headers' }, headerLines.join('\n'))),
    h('h4', { class: 'resp-body-heading' }, 'Response body'),
    bodyEl,
    res.status === 401 ? h('div', { class: 'button-row' }, h('button', { type: 'button', 'data-action': 'enter-token', onclick: async () => {
      if (await askForToken()) resend();
    } }, 'Enter an API token and send again…')) : null);
}
