// Capabilities of a bucket: where it is served (GET /buckets/{bucket}): its target, the provider's name of it, which
// of the interfaces store, atomics and batch its target serves, and the limits of its requests.
// The views use it to show the bucket's capabilities, to hide or disable what its target lacks
// and to check sizes against the bucket's own limits (not the gateway's) before sending.

import { ApiError, bucketInfo, maxValueBytes, batchLimits } from './api.js';
import { canAny } from './auth.js';

export const INTERFACES = ['store', 'atomics', 'batch'];

/** isNoSuchStore tells a 404 /problems/no-such-store: no route of the gateway matches the bucket. */
export function isNoSuchStore(err) {
  return err instanceof ApiError && err.status === 404 && /\/problems\/no-such-store$/.test(err.type || '');
}

/**
 * bucketState says what is known of where bucket is served:
 *   { status: 'ok', info }          the gateway's answer
 *   { status: 'no-route', error }   no route matches the bucket (404 no-such-store)
 *   { status: 'no-read' }           the token may not read the bucket, which the answer needs
 *   { status: 'unavailable', error } any other failure (an older gateway, a network error)
 * It never throws (but an abort of signal).
 */
export async function bucketState(bucket, { fresh = false, signal } = {}) {
  if (!canAny('read', bucket)) return { status: 'no-read' };
  try {
    const info = await abortable(bucketInfo(bucket, { fresh }), signal);
    return { status: 'ok', info };
  } catch (err) {
    if (err && err.name === 'AbortError') throw err;
    if (isNoSuchStore(err)) return { status: 'no-route', error: err };
    return { status: 'unavailable', error: err };
  }
}

function abortable(promise, signal) {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(new DOMException('The view was left.', 'AbortError'));
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(new DOMException('The view was left.', 'AbortError'));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/**
 * within resolves to promise's value, or to undefined after ms (the promise still runs: a view
 * shows what it has and applies the rest when it comes).
 */
export function within(promise, ms) {
  let t;
  return Promise.race([promise, new Promise((r) => { t = setTimeout(r, ms); })]).finally(() => clearTimeout(t));
}

/** interfaceState is the state of one interface in state: served, not-served, fallback, unknown. */
export function interfaceState(state, name) {
  const v = state && state.status === 'ok' && state.info.interfaces ? state.info.interfaces[name] : undefined;
  return typeof v === 'string' && v !== '' ? v : 'unknown';
}

/** targetName is the bucket's target as the gateway names it, or null when not known. */
export function targetName(state) {
  return state && state.status === 'ok' && typeof state.info.target === 'string' ? state.info.target : null;
}

const positive = (n) => (Number.isInteger(n) && n > 0 ? n : null);

/**
 * limitsFor returns the limits that apply to bucket's requests: the bucket's own (from its
 * target) where the gateway says them, else the gateway's from its spec:
 *   { maxValueBytes, maxBatchItems, maxBatchBodyBytes, maxBatchResultBytes  (null: not known)
 *     batch: { maxItems, maxBodyBytes }   what one batch call is built to carry
 *     lowered: { maxValueBytes, ... }     true where the bucket's target sets a lower limit
 *     target, state }
 */
export async function limitsFor(bucket, { state = null, signal } = {}) {
  const [specValue, specBatch, st] = await Promise.all([
    maxValueBytes(), batchLimits(), state ? Promise.resolve(state) : bucketState(bucket, { signal })]);
  const own = (st.status === 'ok' && st.info.limits && typeof st.info.limits === 'object') ? st.info.limits : {};
  const pick = (mine, gateway) => {
    const m = positive(mine);
    if (m === null) return gateway;
    return gateway === null ? m : Math.min(m, gateway);
  };
  const maxValue = pick(own.maxValueBytes, specValue);
  const items = pick(own.maxBatchItems, null);
  const body = positive(own.maxBatchBodyBytes);
  return {
    maxValueBytes: maxValue,
    maxBatchItems: items,
    maxBatchBodyBytes: body,
    maxBatchResultBytes: positive(own.maxBatchResultBytes),
    batch: {
      maxItems: items === null ? specBatch.maxItems : Math.min(items, specBatch.maxItems),
      // The same margin as the spec's body limit gets (batchLimits): the item sizes are estimates.
      maxBodyBytes: body === null ? specBatch.maxBodyBytes : Math.min(Math.floor(body * 0.9), specBatch.maxBodyBytes),
    },
    lowered: {
      maxValueBytes: positive(own.maxValueBytes) !== null && specValue !== null && own.maxValueBytes < specValue,
    },
    target: targetName(st),
    state: st,
  };
}
