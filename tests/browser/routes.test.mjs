// Browser tests of what the UI shows of where a bucket is served (GET /buckets/{bucket}), with a
// gateway that routes buckets to several providers (--routes): "tiny-*" to a standalone memory
// provider with low limits (1 KiB values, 5 items per batch call), "plain" to a provider that
// serves the store interface only (no atomics, batch made key by key) under the name "shared",
// and everything else to the gateway's embedded provider. Both providers are the gateway binary
// run as "gateway provider" against the gateway's embedded NATS server.
//
//   bash tests/browser/setup.sh && node --test tests/browser/routes.test.mjs

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  artifacts, startGateway, startProvider, waitFor, hardLimit, launchBrowser, newPage as harnessPage, nav, shot,
  a11yProblems, assertNoHorizontalScroll,
} from './harness.mjs';

const enc = encodeURIComponent;
const HARD_LIMIT_MS = 8 * 60_000;
const KIB = 1024;

let work;
let gateway;
let providers = [];
let base;
let browser;
let context;
let routesFile;
const pageErrors = [];

const routes = (catchAll) => `targets:
  local: {embedded: true}
  tiny: {prefix: uitest.tiny, limits: {max_value_bytes: 1KiB, max_batch_items: 5}}
  bare: {prefix: uitest.bare}
routes:
  - {bucket: "tiny-*", target: tiny}
  - {bucket: plain, target: bare, as: shared}
${catchAll ? '  - {bucket: "*", target: local}\n' : ''}`;

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

async function describeBucket(bucket) {
  const res = await fetch(`${base}/buckets/${enc(bucket)}`);
  return { status: res.status, body: await res.json() };
}

function newPage(ctx = context) {
  return harnessPage(ctx, pageErrors);
}

async function open(page, hash, view) {
  await nav(page, view, () => page.goto(`${base}/${hash}`));
}

/** servedFacts reads the bucket view's capabilities card. */
function servedFacts(page) {
  return page.locator('section.served').evaluate((s) => ({
    status: s.dataset.served,
    target: s.querySelector('[data-served-fact="target"]')?.textContent ?? null,
    route: s.querySelector('[data-served-fact="route"]')?.textContent ?? null,
    providerBucket: s.querySelector('[data-served-fact="provider-bucket"]')?.textContent ?? null,
    interfaces: Object.fromEntries([...s.querySelectorAll('[data-interface]')].map((li) => [li.dataset.interface, li.dataset.state])),
    limits: Object.fromEntries([...s.querySelectorAll('[data-limit]')].map((d) => [d.dataset.limit, d.querySelector('dd').textContent])),
    notes: [...s.querySelectorAll('[data-explains]')].map((li) => li.textContent),
  }));
}

/** recordCalls collects the API calls a page makes that match test(url, method). */
function recordCalls(page, test) {
  const calls = [];
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (test(u, r.method())) calls.push({ method: r.method(), path: u.pathname, body: r.postData() });
  });
  return calls;
}

describe('browser UI with routed buckets', { timeout: HARD_LIMIT_MS }, () => {
  before(async () => {
    hardLimit(HARD_LIMIT_MS, () => [gateway, ...providers]);
    await mkdir(artifacts, { recursive: true });
    work = await mkdtemp(path.join(tmpdir(), 'gateway-ui-routes-'));
    routesFile = path.join(work, 'routes.yaml');
    await writeFile(routesFile, routes(true));
    // /readyz waits for every target: the providers start once the gateway's NATS server is up.
    gateway = await startGateway({ work, logName: 'gateway-routes.log', extraArgs: ['--routes', routesFile, '--log-format', 'json'], readyPath: '/healthz' });
    base = gateway.base;
    providers = await Promise.all([
      startProvider({ work, natsUrl: gateway.natsUrl, prefix: 'uitest.tiny' }),
      startProvider({ work, natsUrl: gateway.natsUrl, prefix: 'uitest.bare', extraArgs: ['--interfaces', 'store'] }),
    ]);
    await waitFor('/readyz with both providers', async () => (await fetch(`${base}/readyz`)).ok, 30_000);
    // The gateway learns what each target serves: wait until it says so.
    await waitFor('the interfaces of target bare', async () => (await describeBucket('plain')).body.interfaces?.atomics === 'not-served');
    browser = await launchBrowser();
    context = await browser.newContext({ viewport: { width: 1280, height: 900 }, colorScheme: 'light' });
  }, { timeout: 3 * 60_000 });

  after(async () => {
    if (browser) await browser.close().catch(() => {});
    if (gateway) await gateway.stop();
    await Promise.all(providers.map((p) => p.stop()));
    if (work) await rm(work, { recursive: true, force: true }).catch(() => {});
  }, { timeout: 60_000 });

  test('the bucket view shows the target, route, interfaces and limits the gateway states', async () => {
    const tiny = await describeBucket('tiny-x');
    assert.equal(tiny.status, 200);
    assert.equal(tiny.body.target, 'tiny');
    assert.equal(tiny.body.limits.maxValueBytes, KIB);

    const page = await newPage();
    await open(page, '#/buckets/tiny-x', 'bucket');
    const facts = await servedFacts(page);
    assert.deepEqual(facts, {
      status: 'ok',
      target: 'tiny',
      route: 'tiny-*',
      providerBucket: null, // the same name as the bucket's: not shown
      interfaces: { store: 'served', atomics: 'served', batch: 'served' },
      limits: {
        maxValueBytes: '1 KiB (the target’s)',
        maxBatchItems: '5',
        maxBatchBodyBytes: `${tiny.body.limits.maxBatchBodyBytes / (1 << 20)} MiB`,
        maxBatchResultBytes: `${tiny.body.limits.maxBatchResultBytes / (1 << 20)} MiB`,
      },
      notes: [],
    });
    assert.ok(await page.locator('section.served').isVisible());
    assert.deepEqual(await a11yProblems(page), []);
    await shot(page, 'routes-bucket-tiny');

    // A bucket of the catch-all route: the embedded provider, the gateway's limits.
    const other = await describeBucket('wide');
    await open(page, '#/buckets/wide', 'bucket');
    const wide = await servedFacts(page);
    assert.equal(wide.target, 'local');
    assert.equal(wide.route, '*');
    assert.deepEqual(wide.interfaces, { store: 'served', atomics: 'served', batch: 'served' });
    assert.equal(wide.limits.maxValueBytes, `${other.body.limits.maxValueBytes / (1 << 20)} MiB`);
    assert.equal(wide.limits.maxBatchItems, other.body.limits.maxBatchItems.toLocaleString('en-US'));

    // On a phone the card wraps instead of widening the page.
    const phone = await browser.newContext({ viewport: { width: 375, height: 812 }, colorScheme: 'dark', isMobile: true, hasTouch: true });
    const small = await newPage(phone);
    await open(small, '#/buckets/plain', 'bucket');
    await assertNoHorizontalScroll(small, 'bucket capabilities at 375px');
    await shot(small, 'routes-bucket-phone-dark');
    await phone.close();
    await page.close();
  });

  test('a target without atomics and batch: the counter is disabled with the reason, batch is made key by key', async () => {
    await apiPut('plain', 'visits', '41');
    const page = await newPage();
    await open(page, '#/buckets/plain', 'bucket');
    const facts = await servedFacts(page);
    assert.equal(facts.target, 'bare');
    assert.equal(facts.providerBucket, 'shared', 'the provider’s name of the bucket differs: shown');
    assert.deepEqual(facts.interfaces, { store: 'served', atomics: 'not-served', batch: 'fallback' });
    assert.equal(facts.notes.length, 2);
    assert.match(facts.notes[0], /does not serve atomics: counters \(increment\) are not available/);
    assert.match(facts.notes[1], /batch is made key by key/i);
    assert.deepEqual(await page.locator('.key-list a').allTextContents(), ['visits']);
    await shot(page, 'routes-bucket-plain');

    // The key: the counter stays in view, disabled, and says why; no increment is sent.
    const increments = recordCalls(page, (u) => u.pathname.endsWith('/increment'));
    await nav(page, 'key', () => page.locator('.key-list a', { hasText: 'visits' }).click());
    const counter = page.locator('section', { has: page.getByRole('heading', { name: 'Counter' }) });
    await counter.locator('[data-lacks="atomics"]', { hasText: 'target “bare” does not serve the atomics interface' }).waitFor();
    assert.equal(await page.getByRole('button', { name: 'Increment' }).isDisabled(), true);
    assert.equal(await page.getByLabel('Delta').isDisabled(), true);
    await page.getByRole('button', { name: 'Increment' }).click({ force: true, timeout: 2000 }).catch(() => {});
    assert.ok(await page.getByRole('button', { name: 'Save text' }).isVisible(), 'editing is still offered');
    assert.deepEqual(increments, []);
    await shot(page, 'routes-key-no-atomics');
    // What the gateway answers to an increment anyway.
    const res = await fetch(`${base}/buckets/plain/keys/visits/increment`, { method: 'POST', body: '{"delta":1}', headers: { 'Content-Type': 'application/json' } });
    assert.equal(res.status, 501);
    assert.equal((await res.json()).type, '/problems/not-implemented');

    // A bucket whose target serves atomics keeps its counter.
    await apiPut('wide', 'visits', '1');
    await open(page, '#/buckets/wide/keys/visits', 'key');
    assert.equal(await page.getByRole('button', { name: 'Increment' }).isEnabled(), true);
    assert.equal(await page.locator('[data-lacks]').count(), 0);

    // Batch made key by key: the batch page says so, and an import works.
    await open(page, '#/buckets/plain/batch', 'batch');
    await page.locator('[data-lacks="batch"]', { hasText: 'batch is made key by key' }).waitFor();
    const file = path.join(work, 'plain-import.json');
    await writeFile(file, JSON.stringify({ encoding: 'utf8', items: [{ key: 'a', value: 'one' }, { key: 'b', value: 'two' }] }));
    await page.getByLabel('JSON file to import').setInputFiles(file);
    await page.getByRole('button', { name: 'Import', exact: true }).click();
    await page.locator('form[data-form="import"] [role="status"]', { hasText: 'Imported 2 keys' }).waitFor();
    assert.equal(new TextDecoder().decode((await apiGet('plain', 'b')).bytes), 'two');
    await page.getByLabel('Keys, one per line').fill('a\nb\nnone\n');
    await page.getByRole('button', { name: 'Fetch keys' }).click();
    await page.locator('form[data-form="batch-get"] [role="status"]', { hasText: '2 of 3 keys found' }).waitFor();
    await page.close();
  });

  test('a file over the tiny target’s 1 KiB limit is refused before sending for tiny-x, accepted for another bucket', async () => {
    const page = await newPage();
    const puts = recordCalls(page, (u, m) => m === 'PUT');
    await open(page, '#/buckets/tiny-x/new', 'new');
    const fileInput = page.getByLabel('Or create it from a file');
    await page.locator('[data-form="file"] [data-limit-hint]', { hasText: 'Values in this bucket are at most 1 KiB, the limit of its target “tiny”.' }).waitFor();
    await page.getByLabel('Key', { exact: true }).fill('big.bin');
    await fileInput.setInputFiles({ name: 'big.bin', mimeType: 'application/octet-stream', buffer: Buffer.alloc(KIB + 1, 7) });
    const refused = page.locator('[data-form="file"] .problem');
    await refused.locator('.problem-detail', { hasText: '“big.bin” is 1,025 bytes (1.0 KiB); bucket “tiny-x” stores values of at most 1,024 bytes (1.0 KiB), the limit of its target “tiny”.' }).waitFor();
    assert.match(await refused.textContent(), /This file cannot be stored/);
    await shot(page, 'routes-upload-refused');
    await page.getByRole('button', { name: 'Create from file' }).click();
    await refused.locator('.problem-context', { hasText: 'The file was not stored.' }).waitFor();
    // Text over the limit is refused the same way.
    await page.getByLabel('Value as text (UTF-8)').fill('x'.repeat(KIB + 1));
    await page.getByRole('button', { name: 'Create with this text' }).click();
    await page.locator('[data-form="text"] .problem-detail', { hasText: 'bucket “tiny-x” stores values of at most 1,024 bytes' }).waitFor();
    assert.deepEqual(puts, [], 'nothing over the limit was sent');
    assert.equal((await apiGet('tiny-x', 'big.bin')).status, 404);

    // Exactly the limit is stored.
    await fileInput.setInputFiles({ name: 'fits.bin', mimeType: 'application/octet-stream', buffer: Buffer.alloc(KIB, 1) });
    await nav(page, 'key', () => page.getByRole('button', { name: 'Create from file' }).click());
    assert.deepEqual((await apiGet('tiny-x', 'big.bin')).bytes, new Uint8Array(KIB).fill(1));

    // The same 1 KiB + 1 file in a bucket of the embedded provider: accepted and stored.
    await open(page, '#/buckets/wide/new', 'new');
    await page.getByLabel('Key', { exact: true }).fill('big.bin');
    await page.getByLabel('Or create it from a file').setInputFiles({ name: 'big.bin', mimeType: 'application/octet-stream', buffer: Buffer.alloc(KIB + 1, 7) });
    assert.equal(await page.locator('[data-form="file"] .problem').count(), 0, 'no refusal in bucket wide');
    await nav(page, 'key', () => page.getByRole('button', { name: 'Create from file' }).click());
    assert.deepEqual((await apiGet('wide', 'big.bin')).bytes, new Uint8Array(KIB + 1).fill(7));
    assert.deepEqual(puts.map((p) => p.path), ['/buckets/tiny-x/keys/big.bin', '/buckets/wide/keys/big.bin']);

    // What the UI spared the person: the gateway's own answer for tiny-x.
    const res = await fetch(`${base}/buckets/tiny-x/keys/other`, { method: 'PUT', body: Buffer.alloc(KIB + 1), headers: { 'Content-Type': 'application/octet-stream' } });
    assert.equal(res.status, 413);
    assert.equal((await res.json()).limit, KIB);
    await page.close();
  });

  test('batch import into tiny-x splits within its 5 items per call; values over its limit are refused first', async () => {
    const page = await newPage();
    const sets = recordCalls(page, (u) => u.pathname.endsWith('/batch/set'));
    const gets = recordCalls(page, (u) => u.pathname.endsWith('/batch/get'));
    await open(page, '#/buckets/tiny-x/batch', 'batch');
    await page.locator('form[data-form="import"] [data-limit-hint]', { hasText: 'Sent in calls of at most 5 keys (this bucket’s limit); values of at most 1 KiB (the limit of target “tiny”).' }).waitFor();
    const items = Array.from({ length: 12 }, (_, i) => ({ key: `item-${String(i).padStart(2, '0')}`, value: `value ${i}` }));
    const file = path.join(work, 'tiny-import.json');
    await writeFile(file, JSON.stringify({ encoding: 'utf8', items }));
    await page.getByLabel('JSON file to import').setInputFiles(file);
    await page.getByRole('button', { name: 'Import', exact: true }).click();
    await page.locator('form[data-form="import"] [role="status"]', { hasText: 'Imported 12 keys' }).waitFor();
    assert.deepEqual(sets.map((c) => JSON.parse(c.body).items.length), [5, 5, 2]);
    assert.equal(new TextDecoder().decode((await apiGet('tiny-x', 'item-11')).bytes), 'value 11');

    // Fetching the 12 keys goes in calls of at most 5 as well.
    await page.getByLabel('Keys, one per line').fill(items.map((it) => it.key).join('\n'));
    await page.getByRole('button', { name: 'Fetch keys' }).click();
    await page.locator('form[data-form="batch-get"] [role="status"]', { hasText: '12 of 12 keys found' }).waitFor();
    assert.deepEqual(gets.map((c) => JSON.parse(c.body).keys.length), [5, 5, 2]);

    // One value over 1 KiB: refused before any call, nothing stored.
    sets.length = 0;
    const over = path.join(work, 'tiny-over.json');
    await writeFile(over, JSON.stringify({ encoding: 'utf8', items: [{ key: 'ok', value: 'small' }, { key: 'huge', value: 'x'.repeat(KIB + 1) }] }));
    await page.getByLabel('JSON file to import').setInputFiles(over);
    await page.getByRole('button', { name: 'Import', exact: true }).click();
    await page.locator('form[data-form="import"] .problem-detail',
      { hasText: 'The value of key “huge” is 1,025 bytes (1.0 KiB); bucket “tiny-x” stores values of at most 1,024 bytes (1.0 KiB), the limit of its target “tiny”. Nothing was sent.' }).waitFor();
    assert.deepEqual(sets, []);
    assert.equal((await apiGet('tiny-x', 'ok')).status, 404);
    await shot(page, 'routes-batch-tiny');

    // The gateway's answer to a call over the limit, which the split avoids.
    const res = await fetch(`${base}/buckets/tiny-x/batch/set`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ items: Array.from({ length: 6 }, (_, i) => ({ key: `k${i}`, value: '' })) }),
    });
    assert.equal(res.status, 400);

    // A bucket of the embedded provider takes the same import in one call.
    sets.length = 0;
    await open(page, '#/buckets/wide/batch', 'batch');
    await page.getByLabel('JSON file to import').setInputFiles(file);
    await page.getByRole('button', { name: 'Import', exact: true }).click();
    await page.locator('form[data-form="import"] [role="status"]', { hasText: 'Imported 12 keys' }).waitFor();
    assert.deepEqual(sets.map((c) => JSON.parse(c.body).items.length), [12]);
    await page.close();
  });

  test('a bucket no route matches says so in every view, and offers nothing to do', async () => {
    // The routes file without its catch-all route: only tiny-* and plain are served.
    await writeFile(routesFile, routes(false));
    gateway.proc.kill('SIGHUP');
    await waitFor('the routes without "*"', async () => (await describeBucket('nowhere')).status === 404);
    const problem = (await describeBucket('nowhere')).body;
    assert.equal(problem.type, '/problems/no-such-store');

    const page = await newPage();
    await open(page, '#/buckets/nowhere', 'bucket');
    const panel = page.locator('[data-no-route]');
    await panel.waitFor();
    assert.match(await panel.locator('.problem-context').textContent(), /^Bucket “nowhere” is not served by this gateway: no route of its routes file matches this name/);
    assert.equal(await panel.locator('.problem-title').textContent(), problem.title);
    assert.equal(await panel.locator('.problem-detail').textContent(), problem.detail);
    assert.equal(await page.locator('.problem').count(), 1, 'one problem, not the list’s as well');
    assert.equal(await page.locator('section.served').count(), 0);
    assert.equal(await page.getByRole('button', { name: 'Apply' }).isVisible(), false, 'no filter');
    assert.equal(await page.locator('.key-list').count(), 0);
    assert.deepEqual(await a11yProblems(page), []);
    await shot(page, 'routes-no-route');

    // A key of it: no "Create this key".
    await open(page, '#/buckets/nowhere/keys/k', 'key');
    await page.locator('[data-no-route]').waitFor();
    assert.equal(await page.getByRole('heading', { name: 'Create this key' }).count(), 0);
    // The new-key page offers no form, the batch page nothing to run.
    await open(page, '#/buckets/nowhere/new', 'new');
    await page.locator('[data-no-route]').waitFor();
    assert.equal(await page.getByRole('button', { name: 'Create with this text' }).isVisible(), false);
    await open(page, '#/buckets/nowhere/batch', 'batch');
    await page.locator('[data-no-route]').waitFor();
    for (const name of ['Fetch keys', 'Import', 'Export']) {
      assert.equal(await page.getByRole('button', { name, exact: true }).isVisible(), false, `${name} is not offered`);
    }
    // The routed buckets still work.
    await open(page, '#/buckets/tiny-x', 'bucket');
    assert.equal((await servedFacts(page)).target, 'tiny');
    assert.equal(await page.locator('[data-no-route]').count(), 0);
    await page.close();
    await writeFile(routesFile, routes(true));
    gateway.proc.kill('SIGHUP');
  });

  test('limits are written compactly: whole KiB, MiB and GiB, else the exact size', async () => {
    const page = await newPage();
    await open(page, '#/', 'home');
    const out = await page.evaluate(async () => {
      const f = await import('/ui/js/format.js');
      return [1024, 1536, 64 << 20, 1 << 30, 1000, 3 * 1024 * 1024 + 1].map((n) => f.shortSize(n));
    });
    assert.deepEqual(out, ['1 KiB', '1,536 bytes (1.5 KiB)', '64 MiB', '1 GiB', '1,000 bytes', '3,145,729 bytes (3.0 MiB)']);
    await page.close();
  });

  test('no script errors or CSP violations happened', () => {
    assert.deepEqual(pageErrors, []);
  });
});
