// The REST API on the gateway's own origin. Every failure becomes an ApiError carrying the
// problem+json title and detail (or a description of the network failure), so views never
// have to look at raw responses to report an error.

import { base64ToBytes, bytesToBase64 } from './format.js';

/** ApiError is a failed API call: an HTTP problem response or a network failure. */
export class ApiError extends Error {
  constructor({ status = 0, title, detail = '', type = '', instance = '', extra = null, network = false }) {
    super(detail ? `${title}: ${detail}` : title);
    this.name = 'ApiError';
    this.status = status;
    this.title = title;
    this.detail = detail;
    this.type = type;
    this.instance = instance;
    this.extra = extra;
    this.network = network;
  }
}

const problemMembers = new Set(['type', 'title', 'status', 'detail', 'instance']);

/** problemFromResponse reads a failed response into an ApiError, whatever its body is. */
export async function problemFromResponse(res) {
  let text = '';
  try {
    text = await res.text();
  } catch {
    // The body could not be read; the status line still says what happened.
  }
  const ct = res.headers.get('Content-Type') || '';
  if (/json/i.test(ct) && text) {
    try {
      const p = JSON.parse(text);
      if (p && typeof p === 'object' && !Array.isArray(p)) {
        const extra = {};
        for (const [k, v] of Object.entries(p)) if (!problemMembers.has(k)) extra[k] = v;
        return new ApiError({
          status: res.status,
          title: typeof p.title === 'string' && p.title ? p.title : statusTitle(res),
          detail: typeof p.detail === 'string' ? p.detail : '',
          type: typeof p.type === 'string' ? p.type : '',
          instance: typeof p.instance === 'string' ? p.instance : '',
          extra: Object.keys(extra).length ? extra : null,
        });
      }
    } catch {
      // Not JSON after all: fall through to the plain-text form.
    }
  }
  return new ApiError({ status: res.status, title: statusTitle(res), detail: text.slice(0, 2000) });
}

function statusTitle(res) {
  return `HTTP ${res.status}${res.statusText ? ' ' + res.statusText : ''}`;
}

let credentials = {
  token: () => null,
  onUnauthorized: async () => false,
};

/**
 * setCredentials tells the API how to authenticate (done once by auth.js): token() is the
 * bearer token to send, or null; onUnauthorized(problem, sentToken, signal) runs when a call
 * answers 401 and resolves true when the call should be sent again (a new token was entered).
 */
export function setCredentials({ token, onUnauthorized }) {
  if (token) credentials.token = token;
  if (onUnauthorized) credentials.onUnauthorized = onUnauthorized;
}

function hasHeader(headers, name) {
  return Object.keys(headers).some((k) => k.toLowerCase() === name);
}

const MAX_AUTH_RETRIES = 4;

/**
 * send makes one API call and returns its Response, whatever the status. It carries the bearer
 * token (unless authorize is false or the caller set Authorization itself); a 401 asks for a
 * token through onUnauthorized and, once one is entered, sends the same request again. A
 * network failure is thrown as an ApiError with network set.
 */
export async function send(method, url, { body, headers = {}, signal, authorize = true } = {}) {
  for (let attempt = 0; ; attempt++) {
    const own = hasHeader(headers, 'authorization');
    const token = authorize && !own ? credentials.token() : null;
    const h = token ? { ...headers, Authorization: `Bearer ${token}` } : headers;
    let res;
    try {
      res = await fetch(url, { method, body, headers: h, signal, cache: 'no-store', credentials: 'same-origin' });
    } catch (err) {
      if (err && err.name === 'AbortError') throw err;
      throw new ApiError({
        title: 'Network error',
        detail: `The gateway could not be reached (${err && err.message ? err.message : err}). Check that it is running, then try again.`,
        network: true,
      });
    }
    if (res.status !== 401 || !authorize || own || attempt >= MAX_AUTH_RETRIES) return res;
    const problem = await problemFromResponse(res.clone());
    if (!(await credentials.onUnauthorized(problem, token, signal))) return res;
  }
}

/**
 * request sends one API call and returns the Response when its status is 2xx or 304. Any other
 * status is thrown as an ApiError built from the problem document; a network failure is thrown
 * as an ApiError with network set. A 401 first asks for a token (see send).
 */
export async function request(method, url, opts = {}) {
  const res = await send(method, url, opts);
  if (!res.ok && res.status !== 304) throw await problemFromResponse(res);
  return res;
}

async function json(res) {
  const text = await res.text();
  try {
    return JSON.parse(text);
  } catch {
    throw new ApiError({ status: res.status, title: 'Unexpected response', detail: 'The gateway answered with a body that is not JSON.' });
  }
}

const enc = encodeURIComponent;

/** bucketPath is the API path of a bucket; the name is one percent-encoded segment. */
export function bucketPath(bucket) {
  return `/buckets/${enc(bucket)}`;
}

/** keyPath is the API path of a key; a key containing "/" stays one segment (%2F). */
export function keyPath(bucket, key) {
  return `${bucketPath(bucket)}/keys/${enc(key)}`;
}

/** getValue returns the value's bytes. An absent key is an ApiError with status 404. */
export async function getValue(bucket, key, opts = {}) {
  const res = await request('GET', keyPath(bucket, key), opts);
  return new Uint8Array(await res.arrayBuffer());
}

/** putValue stores bytes (Uint8Array, ArrayBuffer or Blob) verbatim as the key's value. */
export async function putValue(bucket, key, bytes) {
  await request('PUT', keyPath(bucket, key), {
    body: bytes,
    headers: { 'Content-Type': 'application/octet-stream' },
  });
}

/** exists reports whether the key is present (HEAD, which does not transfer the value). */
export async function exists(bucket, key) {
  try {
    await request('HEAD', keyPath(bucket, key));
    return true;
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return false;
    throw err;
  }
}

/** deleteKey removes the key; deleting an absent key succeeds. */
export async function deleteKey(bucket, key) {
  await request('DELETE', keyPath(bucket, key));
}

/**
 * listKeys returns one page: { keys: string[], cursor: string|null }. cursor is opaque and is
 * passed back verbatim to get the next page.
 */
export async function listKeys(bucket, { limit, cursor, prefix } = {}, opts = {}) {
  const q = new URLSearchParams();
  if (limit) q.set('limit', String(limit));
  if (cursor) q.set('cursor', cursor);
  if (prefix) q.set('prefix', prefix);
  const qs = q.toString();
  const res = await request('GET', `${bucketPath(bucket)}/keys${qs ? '?' + qs : ''}`, opts);
  const body = await json(res);
  return {
    keys: Array.isArray(body.keys) ? body.keys : [],
    cursor: typeof body.cursor === 'string' && body.cursor !== '' ? body.cursor : null,
  };
}

/** MAX_U64 is the largest increment delta (and counter) the API accepts. */
export const MAX_U64 = (1n << 64n) - 1n;

/**
 * increment adds delta (a decimal string, 0..2^64-1) to the counter and returns the new value as
 * a decimal string. Both travel as JSON numbers; they are written and read as text so values
 * above 2^53 (where JavaScript numbers lose precision) stay exact.
 */
export async function increment(bucket, key, delta = '1') {
  const d = String(delta).trim();
  if (!/^\d+$/.test(d) || BigInt(d) > MAX_U64) {
    throw new ApiError({ title: 'Invalid delta', detail: 'The delta must be a whole number from 0 to 18446744073709551615.' });
  }
  const res = await request('POST', `${keyPath(bucket, key)}/increment`, {
    body: `{"delta":${BigInt(d).toString()}}`,
    headers: { 'Content-Type': 'application/json' },
  });
  const text = await res.text();
  const m = /"value"\s*:\s*"?(\d+)"?/.exec(text);
  if (!m) throw new ApiError({ status: res.status, title: 'Unexpected response', detail: 'The increment answer carries no value.' });
  return m[1];
}

/**
 * batchGet fetches many keys at once, in chunks of at most limits.maxItems (default: the spec's
 * maxItems). It returns [{ key, value: Uint8Array|null }] in request order (null: absent).
 */
export async function batchGet(bucket, keys, limits = null) {
  const { maxItems: max } = limits || await batchLimits();
  const out = [];
  for (let i = 0; i < keys.length; i += max) {
    const chunk = keys.slice(i, i + max);
    const res = await request('POST', `${bucketPath(bucket)}/batch/get`, {
      body: JSON.stringify({ keys: chunk }),
      headers: { 'Content-Type': 'application/json' },
    });
    const body = await json(res);
    for (const item of body.items || []) {
      out.push({ key: item.key, value: item.value === null || item.value === undefined ? null : base64ToBytes(item.value) });
    }
  }
  return out;
}

/**
 * batchSet stores [{ key, value: Uint8Array }] in as many calls as the limits need: at most
 * maxItems items and about maxBodyBytes of JSON per call (limits: { maxItems, maxBodyBytes },
 * the bucket's; default: the spec's). onProgress(stored, total) runs after each call.
 */
export async function batchSet(bucket, items, onProgress = () => {}, limits = null) {
  const { maxItems, maxBodyBytes } = limits || await batchLimits();
  let done = 0;
  let chunk = [];
  let size = 0;
  const flush = async () => {
    await request('POST', `${bucketPath(bucket)}/batch/set`, {
      body: JSON.stringify({ items: chunk }),
      headers: { 'Content-Type': 'application/json' },
    });
    done += chunk.length;
    chunk = [];
    size = 0;
    onProgress(done, items.length);
  };
  for (const { key, value } of items) {
    const item = { key, value: bytesToBase64(value) };
    // Worst case for the key: every character escaped as \uXXXX. Braces, quotes, names: 32.
    const itemSize = key.length * 6 + item.value.length + 32;
    if (chunk.length && (chunk.length >= maxItems || size + itemSize > maxBodyBytes)) await flush();
    chunk.push(item);
    size += itemSize;
  }
  if (chunk.length) await flush();
}

/**
 * listAllKeys follows the cursor to the end and returns every key (with the given prefix).
 * onPage is called with the number of keys so far.
 */
export async function listAllKeys(bucket, { prefix = '', onPage = () => {} } = {}) {
  const all = [];
  let cursor = null;
  for (let pages = 0; pages < 1_000_000; pages++) {
    const page = await listKeys(bucket, { limit: 1000, cursor, prefix });
    all.push(...page.keys);
    onPage(all.length);
    if (!page.cursor || page.cursor === cursor) break;
    cursor = page.cursor;
  }
  return all;
}

/**
 * whoami returns who the gateway takes the caller for: { auth: 'token'|'jwt'|'off', id,
 * permissions, expires }. headers and authorize are passed to send (the token prompt checks a
 * token before keeping it).
 */
export async function whoami({ headers = {}, authorize = true, signal } = {}) {
  const res = await request('GET', '/whoami', { headers: { Accept: 'application/json', ...headers }, authorize, signal });
  return json(res);
}

const INFO_TTL_MS = 10_000;
const infoCache = new Map();

/**
 * bucketInfo answers where the gateway serves bucket (GET /buckets/{bucket}): { bucket, route:
 * { index, pattern }, target, providerBucket, interfaces: { store, atomics, batch }, limits }.
 * Answers are kept for a few seconds (fresh skips that); a failure is thrown as an ApiError (a
 * bucket no route matches: 404 /problems/no-such-store) and not kept.
 */
export function bucketInfo(bucket, { fresh = false } = {}) {
  const hit = infoCache.get(bucket);
  if (hit && !fresh && Date.now() - hit.at < INFO_TTL_MS) return hit.promise;
  const promise = request('GET', bucketPath(bucket), { headers: { Accept: 'application/json' } })
    .then(json)
    .then((body) => {
      if (!body || typeof body !== 'object' || Array.isArray(body)) {
        throw new ApiError({ title: 'Unexpected response', detail: 'The bucket description is not a JSON object.' });
      }
      return body;
    })
    .catch((err) => {
      if (infoCache.get(bucket) === entry) infoCache.delete(bucket);
      throw err;
    });
  const entry = { at: Date.now(), promise };
  infoCache.set(bucket, entry);
  if (infoCache.size > 64) infoCache.delete(infoCache.keys().next().value);
  return promise;
}

/**
 * readiness is GET /readyz?verbose: { status, targets: [{ name, ready, status, message, routes,
 * readyBucket }] } whether the gateway is ready (200) or not (503, the same members in the
 * problem). Anything else is thrown as an ApiError.
 */
export async function readiness({ signal } = {}) {
  const res = await send('GET', '/readyz?verbose', { headers: { Accept: 'application/json' }, signal });
  if (!res.ok && res.status !== 503) throw await problemFromResponse(res);
  const body = await json(res);
  return { status: res.ok ? 'ready' : 'not-ready', targets: Array.isArray(body.targets) ? body.targets : [] };
}

let specPromise = null;

/** openapi returns the gateway's OpenAPI document (fetched once, then cached). */
export function openapi() {
  if (!specPromise) {
    specPromise = request('GET', '/openapi.json', { headers: { Accept: 'application/json' } })
      .then(json)
      .catch((err) => {
        specPromise = null;
        throw err;
      });
  }
  return specPromise;
}

/** resolveRef follows a local "#/..." $ref in doc (several hops); other values are returned as is. */
export function resolveRef(doc, node, seen = new Set()) {
  while (node && typeof node === 'object' && typeof node.$ref === 'string') {
    if (seen.has(node.$ref) || !node.$ref.startsWith('#/')) return node;
    seen.add(node.$ref);
    let target = doc;
    for (const part of node.$ref.slice(2).split('/')) {
      const name = part.replace(/~1/g, '/').replace(/~0/g, '~');
      target = target && typeof target === 'object' ? target[name] : undefined;
    }
    if (target === undefined) return node;
    node = target;
  }
  return node;
}

/**
 * maxValueBytes is the largest value the gateway stores, as its spec states it
 * (info.x-limits.maxValueBytes), or null when the spec does not say or cannot be read: the
 * server's 413 then tells.
 */
export function maxValueBytes() {
  return openapi()
    .then((doc) => {
      const n = doc.info && doc.info['x-limits'] && doc.info['x-limits'].maxValueBytes;
      return Number.isInteger(n) && n >= 0 ? n : null;
    })
    .catch(() => null);
}

const DEFAULT_BATCH_MAX = 100;
const DEFAULT_BATCH_BODY = 8 << 20;
let limitsPromise = null;

/**
 * batchLimits is what one batch call may carry, as the spec states it: maxItems (the batch
 * schemas' maxItems or info.x-limits.maxBatchItems, else 100) and maxBodyBytes
 * (info.x-limits.maxBatchBodyBytes, else 8 MiB).
 */
export function batchLimits() {
  if (!limitsPromise) {
    limitsPromise = openapi()
      .then((doc) => {
        const found = [];
        for (const [p, field] of [['/buckets/{bucket}/batch/get', 'keys'], ['/buckets/{bucket}/batch/set', 'items']]) {
          const op = doc.paths && doc.paths[p] && doc.paths[p].post;
          const rb = op && resolveRef(doc, op.requestBody);
          const media = rb && rb.content && rb.content['application/json'];
          const schema = media && resolveRef(doc, media.schema);
          const prop = schema && schema.properties && resolveRef(doc, schema.properties[field]);
          if (prop && Number.isInteger(prop.maxItems) && prop.maxItems > 0) found.push(prop.maxItems);
        }
        const x = (doc.info && doc.info['x-limits']) || {};
        if (Number.isInteger(x.maxBatchItems) && x.maxBatchItems > 0) found.push(x.maxBatchItems);
        const body = Number.isInteger(x.maxBatchBodyBytes) && x.maxBatchBodyBytes > 1024 ? x.maxBatchBodyBytes : DEFAULT_BATCH_BODY;
        return { maxItems: found.length ? Math.min(...found) : DEFAULT_BATCH_MAX, maxBodyBytes: Math.floor(body * 0.9) };
      })
      .catch(() => ({ maxItems: DEFAULT_BATCH_MAX, maxBodyBytes: DEFAULT_BATCH_BODY }));
  }
  return limitsPromise;
}
