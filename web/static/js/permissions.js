// Permissions as the gateway states them (GET /whoami), evaluated here with the gateway's own
// grammar and matching rules (auth/permission.go), so the UI can hide what a token may not do.
// The gateway still decides: this only keeps people from pressing buttons that would be refused.
//
// A permission is ACTIONS:BUCKET[:PREFIX]:
//   ACTIONS  read, write, delete, several joined by commas, or * for all three
//   BUCKET   a name in which an unescaped * stands for any run of characters (none included)
//   PREFIX   everything after the second colon, a key prefix; empty means every key
// In BUCKET and PREFIX %XX is a byte, so ':' '*' '%' are written %3A %2A %25. Names and keys are
// compared as UTF-8 bytes, exactly like the gateway's Go strings.

const encoder = new TextEncoder();
const strictDecoder = new TextDecoder('utf-8', { fatal: true });

/** The actions of the API: read is GET, HEAD, listing and batch/get; write is PUT, batch/set and increment; delete is DELETE and batch/delete. */
export const READ = 1;
export const WRITE = 2;
export const DELETE = 4;
export const ALL = READ | WRITE | DELETE;

const ACTION_BITS = { read: READ, write: WRITE, delete: DELETE };

/** actionBit turns 'read' | 'write' | 'delete' (or a bit mask) into a bit mask. */
function actionBit(a) {
  if (typeof a === 'number') return a;
  const bit = ACTION_BITS[a];
  if (!bit) throw new TypeError(`unknown action ${JSON.stringify(a)}`);
  return bit;
}

/** actionText is the text of a mask, as the gateway writes it: read, write, delete, *, or a comma list. */
export function actionText(mask) {
  if (mask === ALL) return '*';
  return Object.entries(ACTION_BITS).filter(([, b]) => mask & b).map(([n]) => n).join(',');
}

const MAX_PERMISSION_BYTES = 2048;

/** PermissionError is a permission text that does not parse. */
export class PermissionError extends Error {
  constructor(text, why) {
    super(`invalid permission ${JSON.stringify(text.length > 80 ? text.slice(0, 80) + '…' : text)}: ${why}`);
    this.name = 'PermissionError';
  }
}

// Go's unicode.IsSpace, which strings.TrimSpace uses (JavaScript's trim differs: it trims
// U+FEFF and keeps U+0085).
const GO_SPACE = '[\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]';
const TRIM_RE = new RegExp(`^${GO_SPACE}+|${GO_SPACE}+$`, 'g');
function goTrimSpace(s) {
  return s.replace(TRIM_RE, '');
}

function wellFormed(s) {
  if (typeof s.isWellFormed === 'function') return s.isWellFormed();
  return !/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(s);
}

function isHex(c) {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46);
}

function unhex(c) {
  if (c <= 0x39) return c - 0x30;
  if (c >= 0x61) return c - 0x61 + 10;
  return c - 0x41 + 10;
}

function validUtf8(bytes) {
  try {
    strictDecoder.decode(bytes);
    return true;
  } catch {
    return false;
  }
}

/** decodePattern decodes a bucket pattern: unescaped * are wildcards, %XX are bytes. Returns null when malformed. */
function decodePattern(text) {
  const s = encoder.encode(text);
  const bytes = [];
  const wild = [];
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === 0x2a) { // '*'
      bytes.push(c);
      wild.push(true);
    } else if (c === 0x25) { // '%'
      if (i + 2 >= s.length || !isHex(s[i + 1]) || !isHex(s[i + 2])) return { error: 'bad %XX escape' };
      bytes.push((unhex(s[i + 1]) << 4) | unhex(s[i + 2]));
      wild.push(false);
      i += 2;
    } else {
      bytes.push(c);
      wild.push(false);
    }
  }
  const out = Uint8Array.from(bytes);
  if (!validUtf8(out)) return { error: 'not UTF-8 once decoded' };
  return { bytes: out, wild };
}

/** unescapePrefix is Go's url.PathUnescape: %XX are bytes, '+' stays '+'. Returns null when malformed. */
function unescapePrefix(text) {
  const s = encoder.encode(text);
  const bytes = [];
  for (let i = 0; i < s.length; i++) {
    if (s[i] === 0x25) {
      if (i + 2 >= s.length || !isHex(s[i + 1]) || !isHex(s[i + 2])) return null;
      bytes.push((unhex(s[i + 1]) << 4) | unhex(s[i + 2]));
      i += 2;
    } else {
      bytes.push(s[i]);
    }
  }
  const out = Uint8Array.from(bytes);
  return validUtf8(out) ? out : null;
}

/**
 * parsePermission reads the text of one permission into { actions, bucket, wild, prefix, text }
 * (bucket and prefix as UTF-8 bytes, wild marking the wildcard bytes of bucket). It throws a
 * PermissionError for anything the gateway would refuse.
 */
export function parsePermission(text) {
  const fail = (why) => { throw new PermissionError(String(text), why); };
  if (typeof text !== 'string') fail('not a string');
  if (!wellFormed(text)) fail('not valid UTF-8');
  if (encoder.encode(text).length > MAX_PERMISSION_BYTES) fail(`longer than ${MAX_PERMISSION_BYTES} bytes`);
  const colon = text.indexOf(':');
  if (colon < 0) fail('want ACTIONS:BUCKET[:PREFIX], e.g. read:users');
  let actions = 0;
  for (const a of text.slice(0, colon).split(',')) {
    const name = goTrimSpace(a);
    if (name === '*') actions |= ALL;
    else if (Object.hasOwn(ACTION_BITS, name)) actions |= ACTION_BITS[name];
    else fail(`unknown action ${JSON.stringify(a)} (want read, write, delete or *)`);
  }
  const rest = text.slice(colon + 1);
  const second = rest.indexOf(':');
  const bucketText = second < 0 ? rest : rest.slice(0, second);
  const prefixText = second < 0 ? '' : rest.slice(second + 1);
  if (bucketText === '') fail('no bucket pattern');
  const pattern = decodePattern(bucketText);
  if (pattern.error) fail(`bucket pattern: ${pattern.error}`);
  const prefix = unescapePrefix(prefixText);
  if (prefix === null) fail('key prefix: bad %XX escape or not UTF-8');
  return { actions, bucket: pattern.bytes, wild: pattern.wild, prefix, text };
}

/**
 * parsePermissions reads each text (trimmed, as the gateway does). Texts that do not parse are
 * returned in invalid and allow nothing.
 */
export function parsePermissions(texts) {
  const valid = [];
  const invalid = [];
  for (const t of Array.isArray(texts) ? texts : []) {
    try {
      valid.push(parsePermission(goTrimSpace(String(t))));
    } catch (err) {
      invalid.push({ text: t, error: err.message });
    }
  }
  return { valid, invalid };
}

/**
 * globMatch is the gateway's matching: * (where wild is set) matches any run of bytes, every
 * other byte itself. Iterative, backtracking to the last star: linear in practice.
 */
function globMatch(pattern, wild, s) {
  let pi = 0;
  let si = 0;
  let star = -1;
  let mark = 0;
  while (si < s.length) {
    if (pi < pattern.length && wild[pi]) {
      star = pi;
      mark = si;
      pi++;
    } else if (pi < pattern.length && pattern[pi] === s[si]) {
      pi++;
      si++;
    } else if (star >= 0) {
      pi = star + 1;
      mark++;
      si = mark;
    } else {
      return false;
    }
  }
  while (pi < pattern.length && wild[pi]) pi++;
  return pi === pattern.length;
}

function hasPrefix(s, prefix) {
  if (prefix.length > s.length) return false;
  for (let i = 0; i < prefix.length; i++) if (s[i] !== prefix[i]) return false;
  return true;
}

const asBytes = (s) => (s instanceof Uint8Array ? s : encoder.encode(String(s)));

/** matchesBucket reports whether permission p's pattern matches bucket. */
export function matchesBucket(p, bucket) {
  return globMatch(p.bucket, p.wild, asBytes(bucket));
}

/** permits reports whether permission p allows action on key of bucket. */
export function permits(p, action, bucket, key) {
  const a = actionBit(action);
  return (p.actions & a) === a && matchesBucket(p, bucket) && hasPrefix(asBytes(key), p.prefix);
}

/** allows reports whether any of perms (parsed) allows action on key of bucket. */
export function allows(perms, action, bucket, key) {
  const b = asBytes(bucket);
  const k = asBytes(key);
  return perms.some((p) => permits(p, action, b, k));
}

/**
 * scope is where perms allow action in bucket: { all: true } when some permission covers every
 * key, else { all: false, prefixes: [string] } (empty: no key at all), like the gateway's
 * Identity.Prefixes.
 */
export function scope(perms, action, bucket) {
  const a = actionBit(action);
  const b = asBytes(bucket);
  const prefixes = [];
  for (const p of perms) {
    if ((p.actions & a) !== a || !matchesBucket(p, b)) continue;
    if (p.prefix.length === 0) return { all: true, prefixes: [] };
    prefixes.push(new TextDecoder().decode(p.prefix));
  }
  return { all: false, prefixes: [...new Set(prefixes)] };
}

/** anyKey reports whether perms allow action on at least one key of bucket. */
export function anyKey(perms, action, bucket) {
  const s = scope(perms, action, bucket);
  return s.all || s.prefixes.length > 0;
}

/**
 * needed is the text of the narrowest permission allowing action on key of bucket (key '' for
 * the whole bucket), written as the gateway's 403 names it: ':' '*' '%' of the bucket and '%'
 * of the key escaped.
 */
export function needed(action, bucket, key = '') {
  const b = String(bucket).replace(/[*:%]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
  const k = String(key).replace(/%/g, '%25');
  return `${actionText(actionBit(action))}:${b}${k ? ':' + k : ''}`;
}
