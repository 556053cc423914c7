// Pure functions over bytes and text: base64, UTF-8, hex dumps, JSON pretty-printing, sizes,
// file names, and the import/export file format. No DOM, no network.

/** bytesToBase64 encodes bytes as standard base64 (RFC 4648 §4, with padding). */
export function bytesToBase64(bytes) {
  const u8 = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let bin = '';
  const step = 0x8000;
  for (let i = 0; i < u8.length; i += step) {
    bin += String.fromCharCode.apply(null, u8.subarray(i, i + step));
  }
  return btoa(bin);
}

/**
 * base64ToBytes decodes standard or URL-safe base64, with or without padding; whitespace is
 * ignored. It throws a RangeError on anything else, so a mistyped value is never stored mangled.
 */
export function base64ToBytes(text) {
  let s = String(text).replace(/\s+/g, '').replace(/-/g, '+').replace(/_/g, '/');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s) || s.replace(/=+$/, '').length % 4 === 1) {
    throw new RangeError('not valid base64');
  }
  s = s.replace(/=+$/, '');
  s += '='.repeat((4 - (s.length % 4)) % 4);
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** decodeUtf8 returns the bytes as text, or null when they are not valid UTF-8. */
export function decodeUtf8(bytes) {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return null;
  }
}

/** encodeUtf8 returns the UTF-8 bytes of text. */
export function encodeUtf8(text) {
  return new TextEncoder().encode(text);
}

function hex2(b) {
  return b.toString(16).padStart(2, '0');
}

/**
 * hexDump renders bytes as lines of "offset  hex bytes  |ascii|", bytesPerLine per line,
 * at most maxBytes of them. Offsets have offsetDigits hex digits, more when needed.
 */
export function hexDump(bytes, { bytesPerLine = 16, maxBytes = Infinity, offsetDigits = 8 } = {}) {
  const n = Math.min(bytes.length, maxBytes);
  const digits = Math.max(offsetDigits, Math.max(n - 1, 0).toString(16).length);
  const lines = [];
  for (let off = 0; off < n; off += bytesPerLine) {
    const row = bytes.subarray(off, Math.min(off + bytesPerLine, n));
    const hexParts = [];
    let ascii = '';
    for (let i = 0; i < bytesPerLine; i++) {
      if (i < row.length) {
        hexParts.push(hex2(row[i]));
        ascii += row[i] >= 0x20 && row[i] < 0x7f ? String.fromCharCode(row[i]) : '.';
      } else {
        hexParts.push('  ');
      }
      if (i === 7 && bytesPerLine > 8) hexParts.push('');
    }
    lines.push(`${off.toString(16).padStart(digits, '0')}  ${hexParts.join(' ')}  |${ascii}|`);
  }
  return lines.join('\n');
}

/**
 * prettyJson returns text re-indented when it is a JSON document, else null. Literals are
 * copied verbatim rather than parsed and printed again, so numbers beyond 2^53 and escapes in
 * strings are shown exactly as stored.
 */
export function prettyJson(text, indent = '  ') {
  if (typeof text !== 'string' || text.trim() === '') return null;
  try {
    JSON.parse(text);
  } catch {
    return null;
  }
  let out = '';
  let depth = 0;
  const nl = () => '\n' + indent.repeat(depth);
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j;
    } else if (c === '{' || c === '[') {
      const close = c === '{' ? '}' : ']';
      let j = i + 1;
      while (j < text.length && ' \t\r\n'.includes(text[j])) j++;
      if (text[j] === close) {
        out += c + close;
        i = j;
      } else {
        depth++;
        out += c + nl();
      }
    } else if (c === '}' || c === ']') {
      depth--;
      out += nl() + c;
    } else if (c === ',') {
      out += ',' + nl();
    } else if (c === ':') {
      out += ': ';
    } else if (!' \t\r\n'.includes(c)) {
      out += c;
    }
  }
  return out;
}

/** formatSize describes a byte count for people: "1,536 bytes (1.5 KiB)". */
export function formatSize(n) {
  const exact = `${n.toLocaleString('en-US')} ${n === 1 ? 'byte' : 'bytes'}`;
  if (n < 1024) return exact;
  const units = ['KiB', 'MiB', 'GiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${exact} (${v.toFixed(v < 10 ? 1 : 0)} ${units[u]})`;
}

/** shortSize writes a limit compactly for people: "1 KiB", "64 MiB", else the exact byte count. */
export function shortSize(n) {
  for (const [unit, size] of [['GiB', 1 << 30], ['MiB', 1 << 20], ['KiB', 1 << 10]]) {
    if (n >= size && n % size === 0) return `${(n / size).toLocaleString('en-US')} ${unit}`;
  }
  return formatSize(n);
}

/**
 * downloadName proposes a file name for a key's value: the key's last "/"-separated part,
 * without characters file systems refuse, plus .json, .txt or .bin when it has no extension.
 */
export function downloadName(key, bytes) {
  const parts = String(key).split('/').filter((p) => p !== '');
  let base = (parts.length ? parts[parts.length - 1] : '')
    .replace(/[\\/:*?"<>|\u0000-\u001f\u007f]/g, '_')
    .replace(/^[.\s]+/, '')
    .trim()
    .slice(0, 120);
  if (!base) base = 'value';
  if (!/\.[A-Za-z0-9]{1,8}$/.test(base)) {
    const text = bytes ? decodeUtf8(bytes) : null;
    if (text !== null && prettyJson(text) !== null && /^\s*[{[]/.test(text)) base += '.json';
    else if (text !== null) base += '.txt';
    else base += '.bin';
  }
  return base;
}

/** exportFileName is the file name for an export of bucket: "<bucket>.keys.json". */
export function exportFileName(bucket) {
  const safe = String(bucket).replace(/[\\/:*?"<>|\u0000-\u001f\u007f]/g, '_').replace(/^[.\s]+/, '').slice(0, 120);
  return `${safe || 'bucket'}.keys.json`;
}

/**
 * buildExport makes the export document for items [{key, value: Uint8Array}]:
 *   {"bucket": "...", "exported": "<RFC 3339 time>", "encoding": "base64",
 *    "items": [{"key": "...", "value": "<base64>"}, ...]}
 * "items" is exactly the body of POST /buckets/{bucket}/batch/set, so the file can be sent there
 * as is, and parseImport reads it back.
 */
export function buildExport(bucket, items, now = new Date()) {
  return {
    bucket,
    exported: now.toISOString(),
    encoding: 'base64',
    items: items.map(({ key, value }) => ({ key, value: bytesToBase64(value) })),
  };
}

/** ImportFormatError says what is wrong with an import file, and where. */
export class ImportFormatError extends Error {
  constructor(message) {
    super(message);
    this.name = 'ImportFormatError';
  }
}

/**
 * parseImport reads an import file's text and returns { items: [{key, value: Uint8Array}],
 * skipped } or throws an ImportFormatError saying what is wrong and where. Accepted forms:
 *
 *   1. {"items": [{"key": "k", "value": "<base64>"}, ...]} — the batch/set body and the export
 *      format. "encoding": "utf8" beside "items" means the values are UTF-8 text instead.
 *      Items whose value is null (as batch/get answers for absent keys) are skipped.
 *   2. {"some key": "text", ...} — a plain object: string values are stored as their UTF-8
 *      text; any other JSON value (number, object, array, boolean, null) is stored as its
 *      JSON text.
 */
export function parseImport(text) {
  let doc;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new ImportFormatError(`The file is not JSON: ${err.message}`);
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new ImportFormatError('The file must hold a JSON object: {"items": [...]} or {"key": "value", ...}.');
  }
  const items = [];
  let skipped = 0;
  const isItemsForm = Array.isArray(doc.items) &&
    doc.items.every((it) => it && typeof it === 'object' && !Array.isArray(it) && 'key' in it);
  if (isItemsForm) {
    const encoding = doc.encoding === undefined ? 'base64' : doc.encoding;
    if (encoding !== 'base64' && encoding !== 'utf8') {
      throw new ImportFormatError(`Unknown "encoding" ${JSON.stringify(encoding)}: use "base64" (the default) or "utf8".`);
    }
    doc.items.forEach((it, i) => {
      if (typeof it.key !== 'string' || it.key === '') {
        throw new ImportFormatError(`Item ${i + 1}: "key" must be a non-empty string.`);
      }
      if (it.value === null) {
        skipped++;
        return;
      }
      if (typeof it.value !== 'string') {
        throw new ImportFormatError(`Item ${i + 1} (${JSON.stringify(it.key)}): "value" must be a ${encoding === 'utf8' ? 'string' : 'base64 string'}.`);
      }
      let value;
      if (encoding === 'utf8') {
        value = encodeUtf8(it.value);
      } else {
        try {
          value = base64ToBytes(it.value);
        } catch {
          throw new ImportFormatError(`Item ${i + 1} (${JSON.stringify(it.key)}): "value" is not valid base64. For text values add "encoding": "utf8" beside "items".`);
        }
      }
      items.push({ key: it.key, value });
    });
    return { items, skipped };
  }
  for (const [key, v] of Object.entries(doc)) {
    if (key === '') throw new ImportFormatError('A key must not be empty.');
    items.push({ key, value: encodeUtf8(typeof v === 'string' ? v : JSON.stringify(v)) });
  }
  return { items, skipped };
}

/** parseKeyList splits pasted text into keys: one per line, blank lines dropped, duplicates kept once. */
export function parseKeyList(text) {
  const seen = new Set();
  const keys = [];
  for (const line of String(text).split(/\r?\n/)) {
    if (line.trim() === '' || seen.has(line)) continue;
    seen.add(line);
    keys.push(line);
  }
  return keys;
}
