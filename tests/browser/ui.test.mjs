// Browser tests of the gateway's UI: headless Chromium (Debian's package) driven by
// playwright-core, against a live gateway started here with its embedded NATS server and
// JetStream provider. Screenshots of the main views are kept in ARTIFACTS_DIR.
//
//   bash tests/browser/setup.sh && node --test tests/browser/
//
// GATEWAY_BIN names a built gateway; without it the test builds ./cmd/gateway first.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, readFile, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  artifacts, startGateway, hardLimit, launchBrowser, newPage as harnessPage, nav, shot,
  a11yProblems, assertNoHorizontalScroll,
} from './harness.mjs';

const enc = encodeURIComponent;

// A hard stop for the whole file: whatever hangs, the run ends and the gateway dies with it.
const HARD_LIMIT_MS = 12 * 60_000;

let work; // temporary directory for this run
let gateway; // the gateway's handle (harness.mjs startGateway)
let base; // http://127.0.0.1:<port>
let browser;
let context; // desktop, light
const pageErrors = [];

// API helpers for seeding and checking, straight over HTTP.
async function apiPut(bucket, key, body) {
  const res = await fetch(`${base}/buckets/${enc(bucket)}/keys/${enc(key)}`, {
    method: 'PUT', body, headers: { 'Content-Type': 'application/octet-stream' },
  });
  assert.equal(res.status, 204, `PUT ${bucket}/${key}: ${res.status} ${await res.text()}`);
}

async function apiGet(bucket, key) {
  const res = await fetch(`${base}/buckets/${enc(bucket)}/keys/${enc(key)}`);
  return { status: res.status, bytes: new Uint8Array(await res.arrayBuffer()) };
}

function newPage(ctx = context) {
  return harnessPage(ctx, pageErrors);
}

/** open goes to a hash route and waits until the view finished loading. */
async function open(page, hash, view) {
  await nav(page, view, () => page.goto(`${base}/${hash}`));
}

const allBytes = Uint8Array.from({ length: 256 }, (_, i) => i);

describe('browser UI', { timeout: HARD_LIMIT_MS }, () => {
  before(async () => {
    hardLimit(HARD_LIMIT_MS, () => [gateway]);
    await mkdir(artifacts, { recursive: true });
    work = await mkdtemp(path.join(tmpdir(), 'gateway-ui-'));
    gateway = await startGateway({ work });
    base = gateway.base;
    browser = await launchBrowser();
    context = await browser.newContext({ viewport: { width: 1280, height: 900 }, colorScheme: 'light', acceptDownloads: true });
  }, { timeout: 10 * 60_000 });

  after(async () => {
    if (browser) await browser.close().catch(() => {});
    if (gateway) await gateway.stop();
    if (work) await rm(work, { recursive: true, force: true }).catch(() => {});
  }, { timeout: 60_000 });

  test('the UI is served with its content types, ETag and a strict CSP', async () => {
    const res = await fetch(`${base}/`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type'), /^text\/html/);
    const csp = res.headers.get('content-security-policy') || '';
    assert.match(csp, /default-src 'self'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    const etag = res.headers.get('etag');
    assert.ok(etag, 'ETag');
    const again = await fetch(`${base}/`, { headers: { 'If-None-Match': etag } });
    assert.equal(again.status, 304);
    const js = await fetch(`${base}/ui/js/app.js`);
    assert.match(js.headers.get('content-type'), /^text\/javascript/);
  });

  test('with authentication off nothing about tokens shows and no Authorization is sent', async () => {
    const who = await (await fetch(`${base}/whoami`)).json();
    assert.deepEqual(who, { auth: 'off', id: null, permissions: ['*:*'], expires: null });
    const page = await newPage();
    const sent = [];
    page.on('request', (r) => { sent.push(r.allHeaders().then((h) => h.authorization)); });
    await open(page, '#/', 'home');
    await open(page, '#/buckets/ui-off', 'bucket');
    assert.equal(await page.locator('#identity').isHidden(), true, 'no token menu');
    assert.equal(await page.locator('#token-dialog').isHidden(), true, 'no token prompt');
    assert.equal(await page.locator('[data-access]:visible').count(), 0, 'no access note');
    assert.ok(await page.locator('.subnav').getByRole('link', { name: 'New key' }).isVisible());
    assert.deepEqual((await Promise.all(sent)).filter(Boolean), [], 'no Authorization header');
    assert.equal(await page.evaluate(() => sessionStorage.length), 0);
    await page.close();
  });

  test('home, then create text and JSON values through the UI and see every view', async () => {
    const page = await newPage();
    await open(page, '#/', 'home');
    await shot(page, 'home');
    assert.deepEqual(await a11yProblems(page), []);

    await page.getByLabel('Bucket name').fill('ui-test');
    await nav(page, 'bucket', () => page.getByRole('button', { name: 'Open bucket' }).click());
    assert.equal(new URL(page.url()).hash, '#/buckets/ui-test');
    await nav(page, 'new', () => page.locator('.subnav').getByRole('link', { name: 'New key' }).click());
    assert.deepEqual(await a11yProblems(page), []);
    await page.getByLabel('Key', { exact: true }).fill('greeting');
    await page.getByLabel('Value as text (UTF-8)').fill('hello world');
    await shot(page, 'new-key');
    await nav(page, 'key', () => page.getByRole('button', { name: 'Create with this text' }).click());
    assert.equal(new URL(page.url()).hash, '#/buckets/ui-test/keys/greeting');
    await assert.doesNotReject(page.locator('[data-fact="size"]', { hasText: '11 bytes' }).waitFor());
    assert.equal(await page.locator('[data-value="text"]').textContent(), 'hello world');
    assert.deepEqual(await a11yProblems(page), []);
    await shot(page, 'key-text');

    await page.getByRole('tab', { name: 'Hex' }).click();
    assert.match(await page.locator('[data-value="hex"]').textContent(), /^00000000  68 65 6c 6c 6f 20 77 6f  72 6c 64 .*\|hello world\|$/);
    assert.match(new URL(page.url()).hash, /\?view=hex$/);
    await shot(page, 'key-hex');
    await page.getByRole('tab', { name: 'Base64' }).click();
    assert.equal(await page.locator('[data-value="base64"]').textContent(), 'aGVsbG8gd29ybGQ=');
    await shot(page, 'key-base64');
    await page.getByRole('tab', { name: 'JSON' }).click();
    await page.locator('[data-panel="json"]', { hasText: 'not a JSON document' }).waitFor();

    // Keyboard: arrow keys move between the tabs.
    await page.getByRole('tab', { name: 'Text' }).focus();
    await page.keyboard.press('ArrowRight');
    assert.equal(await page.getByRole('tab', { name: 'JSON' }).getAttribute('aria-selected'), 'true');
    assert.equal(await page.evaluate(() => document.activeElement.dataset.tab), 'json');

    // A JSON value opens on the JSON view, pretty-printed, numbers beyond 2^53 kept exactly.
    const json = '{"name":"gateway","big":12345678901234567890,"list":[1,2,{"x":null}],"empty":{}}';
    await apiPut('ui-test', 'config.json', json);
    await open(page, '#/buckets/ui-test/keys/config.json', 'key');
    assert.equal(await page.getByRole('tab', { name: 'JSON' }).getAttribute('aria-selected'), 'true');
    assert.equal(await page.locator('[data-value="json"]').textContent(),
      '{\n  "name": "gateway",\n  "big": 12345678901234567890,\n  "list": [\n    1,\n    2,\n    {\n      "x": null\n    }\n  ],\n  "empty": {}\n}');
    assert.equal(await page.locator('[data-fact="kind"]').textContent(), 'JSON');
    await shot(page, 'key-json');
    await page.close();
  });

  test('list keys page by page with the cursor, and filter by prefix', async () => {
    const bucket = 'paging';
    const want = [];
    for (let i = 0; i < 45; i++) want.push(`item-${String(i).padStart(2, '0')}`);
    for (const k of want) await apiPut(bucket, k, `value ${k}`);
    await apiPut(bucket, 'other/one', 'x');

    const page = await newPage();
    await open(page, `#/buckets/${bucket}`, 'bucket');
    await page.getByLabel('Page size').fill('10');
    await nav(page, 'bucket', () => page.getByRole('button', { name: 'Apply' }).click());
    assert.match(new URL(page.url()).hash, /limit=10/);
    const seen = [];
    const pages = [];
    for (let n = 0; n < 20; n++) {
      const keys = await page.locator('.key-list a').allTextContents();
      assert.ok(keys.length <= 10, `page ${n + 1} has ${keys.length} keys`);
      pages.push(keys);
      seen.push(...keys);
      if (n === 1) await shot(page, 'bucket-page-2');
      const next = page.getByRole('button', { name: 'Next page' });
      if (await next.isDisabled()) break;
      await nav(page, 'bucket', () => next.click());
      const focused = await page.evaluate(() => document.activeElement && document.activeElement.dataset.pager);
      const last = await page.getByRole('button', { name: 'Next page' }).isDisabled();
      assert.equal(focused, last ? 'prev' : 'next', 'focus stays on the pager');
    }
    assert.equal(seen.length, new Set(seen).size, 'no key twice');
    assert.deepEqual([...seen].sort(), [...want, 'other/one'].sort());
    assert.ok(pages.length >= 5, `${pages.length} pages`);
    await page.locator('#page-status', { hasText: 'last page' }).waitFor();

    // Previous walks back through the cursor stack.
    await nav(page, 'bucket', () => page.getByRole('button', { name: 'Previous page' }).click());
    assert.deepEqual(await page.locator('.key-list a').allTextContents(), pages[pages.length - 2]);
    // The browser's back button too.
    await nav(page, 'bucket', () => page.goBack());
    assert.deepEqual(await page.locator('.key-list a').allTextContents(), pages[pages.length - 1]);
    await nav(page, 'bucket', () => page.getByRole('button', { name: 'First page' }).click());
    assert.deepEqual(await page.locator('.key-list a').allTextContents(), pages[0]);

    // Prefix filter.
    await page.getByLabel('Key prefix').fill('item-1');
    await nav(page, 'bucket', () => page.getByRole('button', { name: 'Apply' }).click());
    assert.match(new URL(page.url()).hash, /prefix=item-1/);
    const filtered = [];
    for (let n = 0; n < 5; n++) {
      filtered.push(...(await page.locator('.key-list a').allTextContents()));
      const next = page.getByRole('button', { name: 'Next page' });
      if (await next.isDisabled()) break;
      await nav(page, 'bucket', () => next.click());
    }
    assert.deepEqual(filtered.sort(), want.filter((k) => k.startsWith('item-1')));
    assert.deepEqual(await a11yProblems(page), []);
    await shot(page, 'bucket-prefix');

    // The bucket is remembered as recent.
    await open(page, '#/', 'home');
    await page.locator('.recent-list a', { hasText: bucket }).waitFor();
    await page.close();
  });

  test('edit a value as text', async () => {
    await apiPut('ui-test', 'editable', 'first version');
    const page = await newPage();
    await open(page, '#/buckets/ui-test/keys/editable', 'key');
    const area = page.getByLabel('Value as text (UTF-8)');
    assert.equal(await area.inputValue(), 'first version');
    await area.fill('second version, ünïcødé ✓');
    await page.getByRole('button', { name: 'Save text' }).click();
    await page.locator('[data-value="text"]', { hasText: 'second version, ünïcødé ✓' }).waitFor();
    const got = await apiGet('ui-test', 'editable');
    assert.equal(new TextDecoder().decode(got.bytes), 'second version, ünïcødé ✓');
    await shot(page, 'key-edit');
    await page.close();
  });

  test('upload a binary file (every byte value) and download it back byte-identical', async () => {
    const file = path.join(work, 'all-bytes.bin');
    await writeFile(file, allBytes);
    const page = await newPage();
    await open(page, '#/buckets/ui-test/new', 'new');
    await page.getByLabel('Key', { exact: true }).fill('files/all-bytes');
    await page.getByLabel('Or create it from a file').setInputFiles(file);
    await nav(page, 'key', () => page.getByRole('button', { name: 'Create from file' }).click());
    assert.equal(new URL(page.url()).hash, '#/buckets/ui-test/keys/files%2Fall-bytes');
    assert.equal(await page.locator('[data-fact="kind"]').textContent(), 'binary');
    assert.equal(await page.getByRole('tab', { name: 'Hex' }).getAttribute('aria-selected'), 'true');
    const hex = await page.locator('[data-value="hex"]').textContent();
    assert.equal(hex.split('\n').length, 16);
    assert.match(hex, /^000000f0  f0 f1 f2 f3 f4 f5 f6 f7  f8 f9 fa fb fc fd fe ff  \|\.{16}\|$/m);
    await shot(page, 'key-binary');

    const stored = await apiGet('ui-test', 'files/all-bytes');
    assert.deepEqual(stored.bytes, allBytes, 'stored bytes');

    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Download' }).click(),
    ]);
    assert.equal(download.suggestedFilename(), 'all-bytes.bin');
    const saved = path.join(work, 'downloaded.bin');
    await download.saveAs(saved);
    assert.deepEqual(new Uint8Array(await readFile(saved)), allBytes, 'downloaded bytes');

    // Replacing a value with an uploaded file from the key view.
    await page.getByLabel('Or replace the value with a file').setInputFiles({ name: 'small.bin', mimeType: 'application/octet-stream', buffer: Buffer.from([0, 1, 2, 0xff]) });
    await page.getByRole('button', { name: 'Upload file' }).click();
    await page.locator('[data-fact="size"]', { hasText: '4 bytes' }).waitFor();
    assert.deepEqual((await apiGet('ui-test', 'files/all-bytes')).bytes, new Uint8Array([0, 1, 2, 0xff]));

    // A file over the gateway's limit is refused as soon as it is chosen, and never sent.
    const spec = await (await fetch(`${base}/openapi.json`)).json();
    const max = spec.info['x-limits'].maxValueBytes;
    const puts = [];
    page.on('request', (r) => { if (r.method() === 'PUT') puts.push(r.url()); });
    await page.getByLabel('Or replace the value with a file').setInputFiles({ name: 'huge.bin', mimeType: 'application/octet-stream', buffer: Buffer.alloc(max + 1) });
    const refused = page.locator('[data-form="file"] .problem');
    await refused.locator('.problem-detail', { hasText: `“huge.bin” is ${(max + 1).toLocaleString('en-US')} bytes` }).waitFor();
    assert.match(await refused.textContent(), /This file cannot be stored/);
    await shot(page, 'key-upload-too-large');
    await page.getByRole('button', { name: 'Upload file' }).click();
    await refused.locator('.problem-detail', { hasText: `at most ${max.toLocaleString('en-US')} bytes` }).waitFor();
    assert.deepEqual(puts, [], 'no upload of a file over the limit');
    assert.deepEqual((await apiGet('ui-test', 'files/all-bytes')).bytes, new Uint8Array([0, 1, 2, 0xff]));
    await page.close();
  });

  test('increment a counter and see the new value, exactly, also above 2^53', async () => {
    await apiPut('ui-test', 'counter', '40');
    const page = await newPage();
    await open(page, '#/buckets/ui-test/keys/counter', 'key');
    await page.getByLabel('Delta').fill('2');
    await page.getByRole('button', { name: 'Increment' }).click();
    await page.locator('[data-result="counter"]', { hasText: /^42$/ }).waitFor();
    await page.locator('[data-value="text"]', { hasText: /^42$/ }).waitFor();
    await shot(page, 'key-increment');

    await apiPut('ui-test', 'counter', '9007199254740990');
    await page.getByRole('button', { name: 'Reload' }).click();
    await page.getByLabel('Delta').fill('3');
    await page.getByRole('button', { name: 'Increment' }).click();
    await page.locator('[data-result="counter"]', { hasText: /^9007199254740993$/ }).waitFor();
    assert.equal(new TextDecoder().decode((await apiGet('ui-test', 'counter')).bytes), '9007199254740993');

    // A delta that is not a number is refused before any request.
    await page.getByLabel('Delta').fill('-1');
    await page.getByRole('button', { name: 'Increment' }).click();
    await page.locator('.problem', { hasText: 'whole number' }).waitFor();
    await page.close();
  });

  test('delete asks for confirmation in a dialog', async () => {
    await apiPut('ui-test', 'doomed', 'bye');
    const page = await newPage();
    await open(page, '#/buckets/ui-test/keys/doomed', 'key');
    await page.getByRole('button', { name: 'Delete…' }).click();
    const dialog = page.getByRole('dialog', { name: 'Delete this key?' });
    await dialog.waitFor();
    assert.equal(await page.locator('#confirm-message').textContent(), 'Key doomed will be deleted from bucket ui-test. This cannot be undone.');
    assert.deepEqual(await a11yProblems(page), []);
    assert.equal(await page.evaluate(() => document.activeElement.id), 'confirm-cancel', 'focus starts on Cancel');
    await shot(page, 'delete-dialog', { fullPage: false });
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'hidden' });
    assert.equal((await apiGet('ui-test', 'doomed')).status, 200, 'Cancel keeps the key');

    await page.getByRole('button', { name: 'Delete…' }).click();
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    assert.equal((await apiGet('ui-test', 'doomed')).status, 200, 'Escape keeps the key');

    await page.getByRole('button', { name: 'Delete…' }).click();
    await nav(page, 'bucket', () => dialog.getByRole('button', { name: 'Delete key' }).click());
    assert.equal(new URL(page.url()).hash, '#/buckets/ui-test');
    await page.locator('.notice', { hasText: 'Deleted key “doomed”' }).waitFor();
    assert.equal((await apiGet('ui-test', 'doomed')).status, 404);
    await page.close();
  });

  test('batch import (items and plain object) and export of every page', async () => {
    const bucket = 'batch-test';
    const items = [];
    for (let i = 0; i < 30; i++) items.push({ key: `k/${String(i).padStart(2, '0')}`, value: Buffer.from(`value ${i}`).toString('base64') });
    items.push({ key: 'binary', value: Buffer.from(allBytes).toString('base64') });
    const itemsFile = path.join(work, 'import-items.json');
    await writeFile(itemsFile, JSON.stringify({ items }));
    const plainFile = path.join(work, 'import-plain.json');
    await writeFile(plainFile, JSON.stringify({ 'plain text': 'héllo', 'plain json': { a: [1, 2] } }));
    const badFile = path.join(work, 'import-bad.json');
    await writeFile(badFile, JSON.stringify({ items: [{ key: 'x', value: '***' }] }));

    const page = await newPage();
    await open(page, `#/buckets/${bucket}/batch`, 'batch');
    assert.deepEqual(await a11yProblems(page), []);
    const fileInput = page.getByLabel('JSON file to import');
    await fileInput.setInputFiles(itemsFile);
    await page.getByRole('button', { name: 'Import', exact: true }).click();
    await page.locator('form[data-form="import"] [role="status"]', { hasText: 'Imported 31 keys' }).waitFor();
    await fileInput.setInputFiles(plainFile);
    await page.getByRole('button', { name: 'Import', exact: true }).click();
    await page.locator('form[data-form="import"] [role="status"]', { hasText: 'Imported 2 keys' }).waitFor();
    await fileInput.setInputFiles(badFile);
    await page.getByRole('button', { name: 'Import', exact: true }).click();
    await page.locator('form[data-form="import"] .problem', { hasText: 'not valid base64' }).waitFor();
    assert.deepEqual((await apiGet(bucket, 'binary')).bytes, allBytes);
    assert.equal(new TextDecoder().decode((await apiGet(bucket, 'plain json')).bytes), '{"a":[1,2]}');

    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Export' }).click(),
    ]);
    assert.equal(download.suggestedFilename(), `${bucket}.keys.json`);
    const saved = path.join(work, 'export.json');
    await download.saveAs(saved);
    const exported = JSON.parse(await readFile(saved, 'utf8'));
    assert.equal(exported.bucket, bucket);
    assert.equal(exported.encoding, 'base64');
    const expected = [...items,
      { key: 'plain text', value: Buffer.from('héllo').toString('base64') },
      { key: 'plain json', value: Buffer.from('{"a":[1,2]}').toString('base64') },
    ].sort((a, b) => (a.key < b.key ? -1 : 1));
    assert.deepEqual(exported.items, expected);
    await page.locator('form[data-form="export"] [role="status"]', { hasText: 'Exported 33 keys' }).waitFor();
    await shot(page, 'batch-import-export');

    // The exported file imports into another bucket unchanged.
    await open(page, '#/buckets/batch-copy/batch', 'batch');
    await page.getByLabel('JSON file to import').setInputFiles(saved);
    await page.getByRole('button', { name: 'Import', exact: true }).click();
    await page.locator('form[data-form="import"] [role="status"]', { hasText: 'Imported 33 keys' }).waitFor();
    assert.deepEqual((await apiGet('batch-copy', 'binary')).bytes, allBytes);
    await page.close();
  });

  test('batch import splits into calls within the limits the spec states', async () => {
    const page = await newPage();
    // The same document with small limits: 3 items or about 2,000 bytes of JSON per call.
    await page.route('**/openapi.json', async (route) => {
      const res = await route.fetch();
      const doc = await res.json();
      doc.info['x-limits'] = { ...(doc.info['x-limits'] || {}), maxBatchItems: 3, maxBatchBodyBytes: 2000 };
      await route.fulfill({ response: res, json: doc });
    });
    const calls = [];
    page.on('request', (req) => { if (req.url().endsWith('/batch/set')) calls.push(req.postDataJSON().items.length); });
    const items = [];
    for (let i = 0; i < 4; i++) items.push({ key: `small-${i}`, value: Buffer.from('x').toString('base64') });
    for (let i = 0; i < 3; i++) items.push({ key: `big-${i}`, value: Buffer.alloc(1000, i).toString('base64') });
    const file = path.join(work, 'import-limits.json');
    await writeFile(file, JSON.stringify({ items }));
    await open(page, '#/buckets/limits/batch', 'batch');
    await page.getByLabel('JSON file to import').setInputFiles(file);
    await page.getByRole('button', { name: 'Import', exact: true }).click();
    await page.locator('form[data-form="import"] [role="status"]', { hasText: 'Imported 7 keys' }).waitFor();
    assert.deepEqual(calls, [3, 2, 1, 1], "3 small (item limit), 1 small + 1 big, then one big per call (byte limit)");
    assert.deepEqual((await apiGet('limits', 'big-2')).bytes, new Uint8Array(Buffer.alloc(1000, 2)));
    await page.close();
  });

  test('batch get of pasted keys', async () => {
    const page = await newPage();
    await open(page, '#/buckets/batch-test/batch', 'batch');
    await page.getByLabel('Keys, one per line').fill('k/00\nmissing key\n\nplain text\nbinary\n');
    await page.getByRole('button', { name: 'Fetch keys' }).click();
    await page.locator('form[data-form="batch-get"] [role="status"]', { hasText: '3 of 4 keys found' }).waitFor();
    const rows = page.locator('.batch-table tbody tr');
    assert.deepEqual(await rows.evaluateAll((trs) => trs.map((tr) => [tr.dataset.key, tr.dataset.present])),
      [['k/00', 'true'], ['missing key', 'false'], ['plain text', 'true'], ['binary', 'true']]);
    assert.equal(await rows.nth(0).locator('.preview').textContent(), 'value 0');
    assert.equal(await rows.nth(2).locator('.preview').textContent(), 'héllo');
    assert.equal(await rows.nth(3).locator('.preview').textContent(), 'binary');
    await shot(page, 'batch-get');
    await page.close();
  });

  test('API reference is rendered from /openapi.json and try-it sends a request', async () => {
    const spec = await (await fetch(`${base}/openapi.json`)).json();
    let opCount = 0;
    for (const item of Object.values(spec.paths)) {
      for (const m of ['get', 'put', 'post', 'delete', 'head', 'patch', 'options']) if (item[m]) opCount++;
    }
    const list = spec.paths['/buckets/{bucket}/keys'].get;
    const page = await newPage();
    await open(page, '#/api', 'api');
    assert.equal(await page.locator('details.op').count(), opCount);
    if (spec.info && spec.info.title) await page.locator('.api-info', { hasText: spec.info.title }).waitFor();
    await shot(page, 'api-reference');

    const op = page.locator('details.op').filter({ has: page.locator('summary .method', { hasText: /^GET$/ }) })
      .filter({ has: page.locator('summary .op-path', { hasText: /^\/buckets\/\{bucket\}\/keys$/ }) });
    assert.equal(await op.count(), 1);
    await op.locator('summary').click();
    await op.locator('h3', { hasText: 'Parameters' }).waitFor();
    if (list.operationId) assert.equal(new URL(page.url()).hash, `#/api?op=${enc(list.operationId)}`, 'the address names the open operation');
    await op.locator('h3', { hasText: 'Responses' }).waitFor();
    const form = op.locator('form[data-form="try-it"]');
    await form.getByLabel(/^bucket \(path/).fill('paging');
    await form.getByLabel(/^limit \(query/).fill('3');
    await form.getByRole('button', { name: 'Send request' }).click();
    await form.locator('[data-result="status"]', { hasText: /^200/ }).waitFor();
    const body = JSON.parse(await form.locator('[data-result="body"]').textContent());
    assert.equal(body.keys.length, 3);
    assert.match(await form.locator('[data-result="headers"]').textContent(), /content-type: application\/json/i);
    assert.deepEqual(await a11yProblems(page), []);
    await shot(page, 'api-try-it');

    await page.close();

    // An operation is deep-linkable: opened cold, the link shows it open.
    if (list.operationId) {
      const cold = await newPage();
      await open(cold, `#/api?op=${enc(list.operationId)}`, 'api');
      assert.equal(await cold.locator(`details.op[data-op="${list.operationId}"]`).getAttribute('open'), '');
      await cold.locator(`details.op[data-op="${list.operationId}"] form[data-form="try-it"]`).waitFor();
      await cold.close();
    }
  });

  test('deep links: a bucket and a key with "/" and non-ASCII open directly; back and forward work', async () => {
    const bucket = 'deep/bücket ✓';
    const key = 'a/b/ünï cødé?#&=+%.txt';
    await apiPut(bucket, key, 'deep value');
    const page = await newPage();
    await nav(page, 'key', () => page.goto(`${base}/#/buckets/${enc(bucket)}/keys/${enc(key)}`));
    assert.equal(await page.locator('h1 .mono').textContent(), key);
    assert.equal(await page.locator('[data-value="text"]').textContent(), 'deep value');
    assert.equal(await page.title(), `${key} · ${bucket} · Key-value gateway`);
    await shot(page, 'deep-link-key');

    await nav(page, 'bucket', () => page.locator('.breadcrumbs').getByRole('link', { name: bucket }).click());
    assert.equal(new URL(page.url()).hash, `#/buckets/${enc(bucket)}`);
    assert.deepEqual(await page.locator('.key-list a').allTextContents(), [key]);
    await nav(page, 'key', () => page.goBack());
    assert.equal(await page.locator('h1 .mono').textContent(), key);
    await nav(page, 'bucket', () => page.goForward());
    await nav(page, 'key', () => page.locator('.key-list a', { hasText: key }).click());
    assert.equal(new URL(page.url()).hash, `#/buckets/${enc(bucket)}/keys/${enc(key)}`);

    // A bucket link opened cold.
    const page2 = await newPage();
    await nav(page2, 'bucket', () => page2.goto(`${base}/#/buckets/${enc(bucket)}`));
    assert.deepEqual(await page2.locator('.key-list a').allTextContents(), [key]);
    await page2.close();
    await page.close();
  });

  test('failures are shown as the problem title and detail', async () => {
    const missing = await fetch(`${base}/buckets/ui-test/keys/${enc('no such key')}`);
    assert.equal(missing.status, 404);
    assert.match(missing.headers.get('content-type'), /application\/problem\+json/);
    const problem = await missing.json();

    const page = await newPage();
    await open(page, `#/buckets/ui-test/keys/${enc('no such key')}`, 'key');
    const panel = page.locator('.problem');
    await panel.waitFor();
    assert.equal(await panel.locator('.problem-title').textContent(), problem.title);
    if (problem.detail) assert.equal(await panel.locator('.problem-detail').textContent(), problem.detail);
    assert.match(await panel.locator('.problem-meta').textContent(), /HTTP 404/);
    await page.locator('h2', { hasText: 'Create this key' }).waitFor();
    await shot(page, 'problem-not-found');

    // A network failure: requests that never reach the gateway.
    await page.route('**/buckets/**', (route) => route.abort('connectionrefused'));
    await open(page, '#/buckets/ui-test', 'bucket');
    await page.locator('.problem .problem-title', { hasText: 'Network error' }).waitFor();
    await shot(page, 'problem-network');
    await page.unroute('**/buckets/**');
    // Once the gateway answers again, "Try again" shows the keys.
    await nav(page, 'bucket', () => page.getByRole('button', { name: 'Try again' }).click());
    await page.locator('.key-list a', { hasText: 'greeting' }).waitFor();

    // An unknown route in the address.
    await open(page, '#/no/such/view', 'notfound');
    await page.locator('h1', { hasText: 'Page not found' }).waitFor();
    await page.close();
  });

  test('phone width and dark mode stay readable', async () => {
    const shots = [
      ['#/', 'home'],
      ['#/buckets/paging?limit=10', 'bucket'],
      [`#/buckets/ui-test/keys/config.json`, 'key'],
      [`#/buckets/ui-test/keys/files%2Fall-bytes?view=hex`, 'key'],
      ['#/buckets/batch-test/batch', 'batch'],
      ['#/api?op=listKeys', 'api'],
    ];
    for (const [scheme, width, height] of [['dark', 375, 812], ['light', 375, 812], ['dark', 1280, 900]]) {
      const ctx = await browser.newContext({ viewport: { width, height }, colorScheme: scheme, isMobile: width < 600, hasTouch: width < 600 });
      const page = await newPage(ctx);
      for (const [hash, view] of shots) {
        await open(page, hash, view);
        if (view === 'api') {
          // Long descriptions, tables and an operation opened: still no sideways scrolling.
          const about = page.locator('details.api-about > summary');
          if (await about.count()) await about.click();
        }
        await assertNoHorizontalScroll(page, `${hash} at ${width}px ${scheme}`);
        const name = `${width < 600 ? 'phone' : 'desktop'}-${scheme}-${view}${hash.includes('view=hex') ? '-hex' : ''}`;
        await shot(page, name);
      }
      if (scheme === 'dark') {
        const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
        assert.equal(bg, 'rgb(15, 19, 24)', 'dark background');
      }
      await ctx.close();
    }
  });

  test('keyboard only: skip link, open a bucket, a key and the delete dialog', async () => {
    const page = await newPage();
    await open(page, '#/', 'home');
    const active = () => page.evaluate(() => {
      const el = document.activeElement;
      return { id: el.id, tag: el.tagName, text: el.textContent.trim(), outline: getComputedStyle(el).outlineStyle, pager: el.dataset.pager || '' };
    });
    const tabTo = async (pred, key = 'Tab', max = 40) => {
      for (let i = 0; i < max; i++) {
        await page.keyboard.press(key);
        const a = await active();
        if (pred(a)) return a;
      }
      throw new Error('focus never reached the control');
    };
    await page.keyboard.press('Tab');
    assert.equal((await active()).text, 'Skip to content');
    await page.keyboard.press('Enter');
    assert.equal((await active()).id, 'main');
    assert.equal(new URL(page.url()).hash, '#/', 'the skip link does not change the route');

    await open(page, '#/api', 'api');
    await tabTo((a) => a.id === 'bucket-input', 'Shift+Tab');
    await page.keyboard.type('paging');
    await nav(page, 'bucket', () => page.keyboard.press('Enter'));
    assert.equal((await active()).tag, 'H1', 'focus moves to the new view');
    const link = await tabTo((a) => a.tag === 'A' && /^item-/.test(a.text));
    assert.notEqual(link.outline, 'none', 'focused links are outlined');
    await nav(page, 'key', () => page.keyboard.press('Enter'));
    assert.equal(await page.locator('h1 .mono').textContent(), link.text);
    const del = await tabTo((a) => a.text === 'Delete…');
    assert.notEqual(del.outline, 'none', 'focused buttons are outlined');
    await page.keyboard.press('Enter');
    await page.getByRole('dialog').waitFor();
    assert.equal((await active()).id, 'confirm-cancel');
    await page.keyboard.press('Escape');
    await page.getByRole('dialog').waitFor({ state: 'hidden' });
    assert.equal((await active()).text, 'Delete…', 'focus returns to the button that opened the dialog');
    assert.equal((await apiGet('paging', link.text)).status, 200);
    await page.close();
  });

  test('pure helpers: base64, UTF-8, hex, JSON, file names, import format, Markdown', async () => {
    const page = await newPage();
    await open(page, '#/', 'home');
    const r = await page.evaluate(async () => {
      const f = await import('/ui/js/format.js');
      const md = await import('/ui/js/markdown.js');
      const all = Uint8Array.from({ length: 256 }, (_, i) => i);
      const out = {};
      out.b64 = f.bytesToBase64(f.base64ToBytes(f.bytesToBase64(all))) === f.bytesToBase64(all);
      out.b64url = Array.from(f.base64ToBytes('-_8')).join(',');
      try { f.base64ToBytes('a$b'); out.b64bad = 'accepted'; } catch (e) { out.b64bad = e.name; }
      out.utf8bad = f.decodeUtf8(new Uint8Array([0xc3, 0x28]));
      out.utf8 = f.decodeUtf8(f.encodeUtf8('ünï ✓ 🎉'));
      out.hexPartial = f.hexDump(new Uint8Array([0x41, 0, 0x7f]));
      out.json = f.prettyJson('{"a":"x,{\\"}:[","n":[ ]}');
      out.notJson = f.prettyJson('{a:1}');
      out.names = [f.downloadName('dir/photo.png', all), f.downloadName('notes', f.encodeUtf8('hi')), f.downloadName('cfg', f.encodeUtf8('{"a":1}')),
        f.downloadName('a/b/', all), f.downloadName('..', all), f.exportFileName('x/y')];
      out.importItems = f.parseImport('{"items":[{"key":"k","value":"aGk="},{"key":"gone","value":null}]}');
      out.importUtf8 = f.parseImport('{"encoding":"utf8","items":[{"key":"k","value":"hi"}]}');
      out.importPlain = f.parseImport('{"t":"hi","n":12,"o":{"a":[1]}}');
      const errs = [];
      for (const bad of ['[1]', 'nope', '{"items":[{"key":"","value":""}]}', '{"encoding":"latin1","items":[{"key":"k","value":""}]}', '{"items":[{"key":"k","value":5}]}']) {
        try { f.parseImport(bad); errs.push('accepted'); } catch (e) { errs.push(e.name); }
      }
      out.importErrors = errs;
      out.keys = f.parseKeyList('a\r\n\n b \na\nc/d');
      const exp = f.buildExport('b', [{ key: 'k', value: all }], new Date(0));
      out.exportRoundTrip = f.bytesToBase64(f.parseImport(JSON.stringify(exp)).items[0].value) === f.bytesToBase64(all);
      out.exportShape = Object.keys(exp);
      const m = md.markdown('# T\n\npara `code` **b** [l](/x) [bad](javascript:void)\n\n| a | b |\n|---|---|\n| `x\\|y` | 2 |\n\n- one\n- two\n\n```\n<b>\n```');
      out.md = [...m.children].map((c) => c.tagName + ':' + c.textContent);
      out.mdLinks = [...m.querySelectorAll('a')].map((a) => a.getAttribute('href'));
      return out;
    });
    const text = (a) => a.map((it) => ({ key: it.key, value: Object.values(it.value) }));
    assert.equal(r.b64, true);
    assert.equal(r.b64url, '251,255');
    assert.equal(r.b64bad, 'RangeError');
    assert.equal(r.utf8bad, null);
    assert.equal(r.utf8, 'ünï ✓ 🎉');
    assert.equal(r.hexPartial, '00000000  41 00 7f' + ' '.repeat(40) + '  |A..|');
    assert.equal(r.json, '{\n  "a": "x,{\\"}:[",\n  "n": []\n}');
    assert.equal(r.notJson, null);
    assert.deepEqual(r.names, ['photo.png', 'notes.txt', 'cfg.json', 'b.bin', 'value.bin', 'x_y.keys.json']);
    assert.deepEqual(text(r.importItems.items), [{ key: 'k', value: [104, 105] }]);
    assert.equal(r.importItems.skipped, 1);
    assert.deepEqual(text(r.importUtf8.items), [{ key: 'k', value: [104, 105] }]);
    assert.deepEqual(r.importPlain.items.map((it) => [it.key, Buffer.from(Object.values(it.value)).toString()]), [['t', 'hi'], ['n', '12'], ['o', '{"a":[1]}']]);
    assert.deepEqual(r.importErrors, Array(5).fill('ImportFormatError'));
    assert.deepEqual(r.keys, ['a', ' b ', 'c/d']);
    assert.equal(r.exportRoundTrip, true);
    assert.deepEqual(r.exportShape, ['bucket', 'exported', 'encoding', 'items']);
    assert.deepEqual(r.md, ['H3:T', 'P:para code b l bad', 'DIV:abx|y2', 'UL:onetwo', 'PRE:<b>']);
    assert.deepEqual(r.mdLinks, ['/x']);
    await page.close();
  });

  test('no script errors or CSP violations happened', () => {
    assert.deepEqual(pageErrors, []);
  });
});
