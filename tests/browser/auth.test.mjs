// Browser tests of the UI against a gateway that requires API tokens (--auth-file): the token
// prompt on a 401, the token kept in sessionStorage only and never in an address, the token in
// use shown in the header, actions the token may not do hidden, forgetting the token, a wrong
// or revoked token, and the client-side permission matcher held to the gateway's rules.
//
//   bash tests/browser/setup.sh && node --test tests/browser/
//
// Tokens are made with `$GATEWAY_BIN token new`, as an operator would.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, mkdir, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import {
  artifacts, startGateway, gatewayBinary, hardLimit, launchBrowser, newPage as harnessPage, nav, shot,
  a11yProblems, assertNoHorizontalScroll, sleep,
} from './harness.mjs';

const enc = encodeURIComponent;
const HARD_LIMIT_MS = 8 * 60_000;
const TOKEN_KEY = 'kv-gateway.token';

let work;
let gateway;
let base;
let browser;
let authFile;
const pageErrors = [];
// id -> { token, entry, expires }
const tokens = {};

/** makeToken runs `gateway token new` and returns the token and the auth file entry it prints. */
async function makeToken(id, permissions, extra = []) {
  const bin = await gatewayBinary(work);
  const { stdout } = await promisify(execFile)(bin, ['token', 'new', '--id', id, ...extra, ...permissions], { timeout: 60_000 });
  const lines = stdout.split('\n');
  const tokenLine = lines.find((l) => /^#\s+kvgw\./.test(l));
  assert.ok(tokenLine, `no token in the output of token new:\n${stdout}`);
  const token = tokenLine.replace(/^#\s+/, '').trim();
  assert.match(token, new RegExp(`^kvgw\\.${id}\\.[A-Za-z0-9_-]+$`));
  const entry = lines.filter((l) => l.trim() !== '' && !l.startsWith('#')).join('\n') + '\n';
  const exp = /^\s+expires:\s*(\S+)$/m.exec(entry);
  tokens[id] = { token, entry, expires: exp ? exp[1] : null };
}

async function writeAuthFile(ids) {
  await writeFile(authFile, 'tokens:\n' + ids.map((id) => tokens[id].entry).join(''));
}

async function api(method, pathname, { token = tokens.admin.token, body, headers = {} } = {}) {
  return fetch(`${base}${pathname}`, {
    method, body, headers: { ...(token ? { Authorization: `Bearer ${token}` } : {}), ...headers },
  });
}

async function apiPut(bucket, key, value) {
  const res = await api('PUT', `/buckets/${enc(bucket)}/keys/${enc(key)}`, { body: value, headers: { 'Content-Type': 'application/octet-stream' } });
  assert.equal(res.status, 204, `PUT ${bucket}/${key}: ${res.status} ${await res.text()}`);
}

async function apiGet(bucket, key) {
  const res = await api('GET', `/buckets/${enc(bucket)}/keys/${enc(key)}`);
  return { status: res.status, text: await res.text() };
}

/** problemOf is the problem document the gateway answers for a request. */
async function problemOf(method, pathname, token) {
  const res = await api(method, pathname, { token });
  assert.match(res.headers.get('content-type') || '', /application\/problem\+json/);
  return { status: res.status, challenge: res.headers.get('www-authenticate'), ...(await res.json()) };
}

/**
 * fresh opens a page in a new browser context (its own sessionStorage) that records every
 * request's URL and Authorization header.
 */
async function fresh(options = {}) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 }, colorScheme: 'light', ...options });
  const page = await harnessPage(ctx, pageErrors);
  const requests = [];
  page.on('request', (r) => {
    const rec = { url: r.url(), method: r.method(), auth: undefined };
    requests.push(rec);
    rec.done = r.allHeaders().then((h) => { rec.auth = h.authorization ?? null; }).catch(() => { rec.auth = null; });
  });
  const settled = async () => {
    await Promise.all(requests.map((r) => r.done));
    return requests;
  };
  return { ctx, page, requests: settled };
}

const tokenDialog = (page) => page.getByRole('dialog', { name: 'API token needed' });

/** waitView waits until the current view is of the given kind and finished loading. */
function waitView(page, view) {
  return page.waitForFunction((want) => {
    const v = document.querySelector('#main > .view');
    return !!v && v.dataset.view === want && v.getAttribute('aria-busy') === 'false';
  }, view);
}

/** enterToken types token into the open prompt and submits it. */
async function enterToken(page, token) {
  const dialog = tokenDialog(page);
  await dialog.waitFor();
  await dialog.getByLabel('API token').fill(token);
  await dialog.getByRole('button', { name: 'Use token' }).click();
}

/** signIn opens hash, answers the prompt with the token of id and waits for the view. */
async function signIn(page, hash, view, id) {
  await page.goto(`${base}/${hash}`);
  await enterToken(page, tokens[id].token);
  await tokenDialog(page).waitFor({ state: 'hidden' });
  await waitView(page, view);
}

const storedToken = (page) => page.evaluate((k) => sessionStorage.getItem(k), TOKEN_KEY);

/** noTokenAnywhere checks that token appears in no address, storage but sessionStorage, or cookie. */
async function assertTokenOnlyInSession(page, token, requests) {
  const secret = token.split('.').pop();
  assert.ok(!page.url().includes(secret), `the page address holds the token: ${page.url()}`);
  for (const r of requests) assert.ok(!r.url.includes(secret), `a request address holds the token: ${r.url}`);
  const where = await page.evaluate((s) => ({
    local: Object.keys(localStorage).filter((k) => (localStorage.getItem(k) || '').includes(s) || k.includes(s)),
    cookie: document.cookie.includes(s),
    entries: performance.getEntries().map((e) => e.name).filter((n) => n.includes(s)),
    href: location.href.includes(s),
    historyState: JSON.stringify(history.state ?? null).includes(s),
  }), secret);
  assert.deepEqual(where, { local: [], cookie: false, entries: [], href: false, historyState: false });
}

describe('browser UI with API tokens', { timeout: HARD_LIMIT_MS }, () => {
  before(async () => {
    hardLimit(HARD_LIMIT_MS, () => [gateway]);
    await mkdir(artifacts, { recursive: true });
    work = await mkdtemp(path.join(tmpdir(), 'gateway-ui-auth-'));
    authFile = path.join(work, 'auth.yaml');
    await makeToken('admin', ['*:*'], ['--expires', '720h']);
    await makeToken('reader', ['read:*']);
    await makeToken('scoped', ['read:scoped:pub/', 'write:scoped:pub/']);
    await makeToken('temp', ['*:*']);
    await writeAuthFile(['admin', 'reader', 'scoped', 'temp']);
    // Every wrong token here is on purpose: the limit of unauthenticated requests is lifted
    // so that they never answer 429.
    gateway = await startGateway({ work, logName: 'gateway-auth.log', extraArgs: ['--auth-file', authFile, '--anonymous-rate-limit', '1000:1000'] });
    base = gateway.base;
    browser = await launchBrowser();

    for (const k of ['alice', 'bob', 'carol']) await apiPut('users', k, `profile of ${k}`);
    await apiPut('users', 'visits', '41');
    for (const k of ['pub/a', 'pub/b', 'priv/x']) await apiPut('scoped', k, `value ${k}`);
  }, { timeout: 5 * 60_000 });

  after(async () => {
    if (browser) await browser.close().catch(() => {});
    if (gateway) await gateway.stop();
    if (work) await rm(work, { recursive: true, force: true }).catch(() => {});
  }, { timeout: 60_000 });

  test('the API needs a token: 401 problem with a Bearer challenge', async () => {
    const p = await problemOf('GET', '/buckets/users/keys', null);
    assert.equal(p.status, 401);
    assert.equal(p.type, '/problems/unauthenticated');
    assert.match(p.challenge, /^Bearer realm="wrpc-kv-gateway"/);
    const who = await (await api('GET', '/whoami')).json();
    assert.deepEqual({ ...who, expires: undefined }, { auth: 'token', id: 'admin', permissions: ['*:*'], expires: undefined });
    assert.equal(who.expires, tokens.admin.expires);
  });

  test('a 401 opens the token prompt; with the token, buckets and keys load; it stays in sessionStorage only', async () => {
    const { ctx, page, requests } = await fresh();
    const expected = await problemOf('GET', '/whoami', null);
    await page.goto(`${base}/#/buckets/users`);
    const dialog = tokenDialog(page);
    await dialog.waitFor();
    assert.equal(await page.locator('#token-input').getAttribute('type'), 'password');
    assert.equal(await page.locator('#token-problem .problem-detail').textContent(), expected.detail);
    assert.match(await dialog.textContent(), /kept in this browser tab only/);
    assert.equal(await page.evaluate(() => document.activeElement.id), 'token-input', 'focus starts in the token field');
    assert.deepEqual(await a11yProblems(page), []);
    await shot(page, 'auth-prompt', { fullPage: false });

    // The full line `token new` printed ("#   kvgw....") is accepted as well.
    await enterToken(page, `#   ${tokens.admin.token}`);
    await dialog.waitFor({ state: 'hidden' });
    await waitView(page, 'bucket');
    assert.deepEqual(await page.locator('.key-list a').allTextContents(), ['alice', 'bob', 'carol', 'visits']);
    assert.equal(await storedToken(page), tokens.admin.token);

    // The token in use, its kind and expiry.
    const identity = page.locator('#identity');
    await identity.locator('[data-identity="id"]', { hasText: 'admin' }).waitFor();
    await identity.locator('summary').click();
    assert.equal(await identity.locator('[data-identity="kind"]').textContent(), 'an API token');
    assert.equal(await identity.locator('[data-identity="expires"] time').getAttribute('datetime'), tokens.admin.expires);
    assert.deepEqual(await identity.locator('[data-identity="permissions"] li').allTextContents(), ['*:*']);
    assert.deepEqual(await a11yProblems(page), []);
    await shot(page, 'auth-identity', { fullPage: false });
    await page.keyboard.press('Escape');
    assert.equal(await identity.locator('details').getAttribute('open'), null, 'Escape closes the panel');

    // Everything is offered to a *:* token.
    await nav(page, 'key', () => page.locator('.key-list a', { hasText: 'visits' }).click());
    for (const name of ['Delete…', 'Save text', 'Upload file', 'Increment']) {
      assert.ok(await page.getByRole('button', { name, exact: true }).isVisible(), `${name} is offered`);
    }
    assert.equal(await page.locator('[data-access]:visible').count(), 0, 'no access note');
    await page.getByLabel('Delta').fill('1');
    await page.getByRole('button', { name: 'Increment' }).click();
    await page.locator('[data-result="counter"]', { hasText: /^42$/ }).waitFor();
    await nav(page, 'bucket', () => page.goBack());

    // A reload keeps the token of this tab: no prompt.
    await page.reload();
    await waitView(page, 'bucket');
    assert.equal(await tokenDialog(page).isVisible(), false);
    await page.locator('.key-list a', { hasText: 'alice' }).waitFor();

    // Every API request carried it, as a header; no address ever did.
    const reqs = await requests();
    const apiReqs = reqs.filter((r) => /\/(buckets|whoami)/.test(new URL(r.url).pathname));
    assert.ok(apiReqs.length >= 5, `${apiReqs.length} API requests`);
    const withToken = apiReqs.filter((r) => r.auth === `Bearer ${tokens.admin.token}`);
    const without = apiReqs.filter((r) => !r.auth);
    assert.equal(without.length, 1, 'only the first /whoami went without a token: ' + JSON.stringify(without));
    assert.equal(new URL(without[0].url).pathname, '/whoami');
    assert.equal(withToken.length, apiReqs.length - 1);
    await assertTokenOnlyInSession(page, tokens.admin.token, reqs);
    await ctx.close();
  });

  test('a wrong token shows the 401 detail and is asked for again; closing the prompt shows the 401', async () => {
    const { ctx, page } = await fresh();
    await page.goto(`${base}/#/buckets/users`);
    const dialog = tokenDialog(page);
    const detail = page.locator('#token-problem .problem-detail');

    const wrongSecret = `kvgw.admin.${'A'.repeat(43)}`;
    const unknown = await problemOf('GET', '/whoami', wrongSecret);
    await enterToken(page, wrongSecret);
    await page.locator('#token-problem .problem-context', { hasText: 'This token was not accepted.' }).waitFor();
    assert.equal(await detail.textContent(), unknown.detail);
    assert.match(await page.locator('#token-problem .problem-meta').textContent(), /HTTP 401/);
    assert.ok(await dialog.isVisible(), 'the prompt stays open');
    await shot(page, 'auth-wrong-token', { fullPage: false });

    const foreign = await problemOf('GET', '/whoami', 'not-a-gateway-token');
    assert.notEqual(foreign.detail, unknown.detail);
    await enterToken(page, 'not-a-gateway-token');
    await detail.filter({ hasText: foreign.detail }).waitFor();
    assert.equal(await storedToken(page), null, 'a refused token is not kept');

    // Closing the prompt: the view shows the 401 as a problem, with a way to enter a token.
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await waitView(page, 'bucket');
    const panel = page.locator('.problem[data-status="401"]');
    await panel.waitFor();
    const missing = await problemOf('GET', '/buckets/users/keys', null);
    assert.equal(await panel.locator('.problem-title').textContent(), missing.title);
    assert.equal(await panel.locator('.problem-detail').textContent(), missing.detail);
    await page.locator('#identity [data-identity="none"]', { hasText: 'No API token' }).waitFor();
    await shot(page, 'auth-declined');

    await panel.getByRole('button', { name: 'Enter an API token…' }).click();
    await enterToken(page, tokens.reader.token);
    await dialog.waitFor({ state: 'hidden' });
    await page.locator('.key-list a', { hasText: 'alice' }).waitFor();
    await page.locator('#identity [data-identity="id"]', { hasText: 'reader' }).waitFor();
    await ctx.close();
  });

  test('a read-only token: listing and reading work, writing, deleting and increment are hidden', async () => {
    const { ctx, page } = await fresh();
    await signIn(page, '#/buckets/users', 'bucket', 'reader');
    assert.deepEqual(await page.locator('.key-list a').allTextContents(), ['alice', 'bob', 'carol', 'visits']);
    const tabs = page.locator('.subnav');
    assert.equal(await tabs.getByRole('link', { name: 'New key' }).count(), 0, 'no New key tab');
    assert.ok(await tabs.getByRole('link', { name: 'Batch' }).isVisible());
    assert.equal(await page.locator('[data-access="bucket"]').textContent(), 'Token “reader” may not write or delete keys in this bucket.');
    // Where the bucket is served (GET /buckets/users, which needs read, so the reader sees it):
    // the card says what the gateway answers the same token.
    const described = await (await api('GET', '/buckets/users', { token: tokens.reader.token })).json();
    const served = page.locator('section.served[data-served="ok"]');
    assert.equal(await served.locator('[data-served-fact="target"]').textContent(), described.target);
    assert.equal(await served.locator('[data-served-fact="route"]').textContent(), described.route.pattern);
    assert.deepEqual(await served.locator('[data-interface]').evaluateAll((lis) => Object.fromEntries(lis.map((li) => [li.dataset.interface, li.dataset.state]))), described.interfaces);
    await page.locator('#identity summary').click();
    assert.equal(await page.locator('#identity [data-identity="expires"]').textContent(), 'never');
    await page.locator('#identity summary').click();
    await shot(page, 'auth-read-only-bucket');

    await nav(page, 'key', () => page.locator('.key-list a', { hasText: 'alice' }).click());
    assert.equal(await page.locator('[data-value="text"]').textContent(), 'profile of alice');
    for (const name of ['Delete…', 'Save text', 'Upload file', 'Increment']) {
      assert.equal(await page.getByRole('button', { name, exact: true }).count(), 0, `${name} is hidden`);
    }
    assert.equal(await page.getByRole('heading', { name: 'Edit' }).count(), 0);
    assert.equal(await page.getByRole('heading', { name: 'Counter' }).count(), 0);
    assert.ok(await page.getByRole('button', { name: 'Download' }).isVisible());
    assert.ok(await page.getByRole('button', { name: 'Reload' }).isVisible());
    assert.equal(await page.locator('[data-access="key"]').textContent(),
      'Token “reader” may not write key “alice” of bucket “users”: it lacks the permission write:users:alice. ' +
      'Token “reader” may not delete key “alice” of bucket “users”: it lacks the permission delete:users:alice. ' +
      'Editing, the counter and deleting are not offered.');
    assert.deepEqual(await a11yProblems(page), []);
    await shot(page, 'auth-read-only-key');

    // An absent key: no "Create this key".
    await nav(page, 'key', () => page.goto(`${base}/#/buckets/users/keys/nobody`));
    await page.locator('.problem[data-status="404"]').waitFor();
    assert.equal(await page.getByRole('heading', { name: 'Create this key' }).count(), 0);
    await page.locator('[data-access="create"]', { hasText: 'lacks the permission write:users:nobody' }).waitFor();

    // The new-key page opened by its address offers no form.
    await nav(page, 'new', () => page.goto(`${base}/#/buckets/users/new`));
    assert.equal(await page.getByRole('button', { name: 'Create with this text' }).count(), 0);
    assert.ok(await page.locator('[data-access="bucket"]').isVisible());

    // Batch: fetching and export are offered, import is not.
    await nav(page, 'batch', () => page.goto(`${base}/#/buckets/users/batch`));
    assert.equal(await page.getByRole('button', { name: 'Import', exact: true }).count(), 0);
    assert.ok(await page.getByRole('button', { name: 'Export' }).isVisible());
    await page.getByLabel('Keys, one per line').fill('alice\nnobody\n');
    await page.getByRole('button', { name: 'Fetch keys' }).click();
    await page.locator('form[data-form="batch-get"] [role="status"]', { hasText: '1 of 2 keys found' }).waitFor();

    // What the gateway says to a write anyway (here from the API reference): 403 with the reason.
    const forbidden = await problemOf('PUT', '/buckets/users/keys/alice', tokens.reader.token);
    assert.equal(forbidden.status, 403);
    assert.equal(forbidden.type, '/problems/forbidden');
    await nav(page, 'api', () => page.goto(`${base}/#/api?op=putValue`));
    const form = page.locator('details.op[data-op="putValue"] form[data-form="try-it"]');
    await form.getByLabel(/^bucket \(path/).fill('users');
    await form.getByLabel(/^key \(path/).fill('alice');
    await form.getByRole('button', { name: 'Send request' }).click();
    await form.locator('[data-result="status"]', { hasText: /^403/ }).waitFor();
    assert.equal(JSON.parse(await form.locator('[data-result="body"]').textContent()).detail, forbidden.detail);
    assert.equal((await apiGet('users', 'alice')).text, 'profile of alice');
    await ctx.close();
  });

  test('a token scoped to a key prefix: the list shows its keys only, a 403 shows the problem', async () => {
    const { ctx, page } = await fresh();
    await signIn(page, '#/buckets/scoped', 'bucket', 'scoped');
    assert.deepEqual(await page.locator('.key-list a').allTextContents(), ['pub/a', 'pub/b']);
    assert.equal(await page.locator('[data-access="bucket"]').textContent(),
      'Token “scoped” may read only the keys starting with “pub/” (the list shows those); may write only keys starting with “pub/”; may not delete keys in this bucket.');
    await shot(page, 'auth-prefix-bucket');

    // A key under the prefix: editing yes, deleting no.
    await nav(page, 'key', () => page.locator('.key-list a', { hasText: 'pub/a' }).click());
    assert.ok(await page.getByRole('button', { name: 'Save text' }).isVisible());
    assert.equal(await page.getByRole('button', { name: 'Delete…' }).count(), 0);
    await page.locator('[data-access="key"]', { hasText: 'Deleting is not offered.' }).waitFor();

    // A key outside it, opened by its address: the gateway's 403, title and detail.
    const expected = await problemOf('GET', `/buckets/scoped/keys/${enc('priv/x')}`, tokens.scoped.token);
    assert.equal(expected.status, 403);
    await nav(page, 'key', () => page.goto(`${base}/#/buckets/scoped/keys/${enc('priv/x')}`));
    const panel = page.locator('.problem[data-status="403"]');
    await panel.waitFor();
    assert.equal(await panel.locator('.problem-title').textContent(), expected.title);
    assert.equal(await panel.locator('.problem-detail').textContent(), expected.detail);
    assert.match(expected.detail, /lacks the permission read:scoped:priv\/x/);
    await shot(page, 'auth-forbidden');

    // New key: outside the prefix refused before any request, inside it created.
    await nav(page, 'new', () => page.goto(`${base}/#/buckets/scoped/new`));
    const puts = [];
    page.on('request', (r) => { if (r.method() === 'PUT') puts.push(r.url()); });
    await page.getByLabel('Key', { exact: true }).fill('priv/y');
    await page.getByLabel('Value as text (UTF-8)').fill('nope');
    await page.getByRole('button', { name: 'Create with this text' }).click();
    await page.locator('[data-form="text"] .problem-detail',
      { hasText: 'Token “scoped” may not write key “priv/y” of bucket “scoped”: it lacks the permission write:scoped:priv/y.' }).waitFor();
    assert.deepEqual(puts, []);
    await page.getByLabel('Key', { exact: true }).fill('pub/new');
    await nav(page, 'key', () => page.getByRole('button', { name: 'Create with this text' }).click());
    assert.equal((await apiGet('scoped', 'pub/new')).text, 'nope');
    assert.equal((await apiGet('scoped', 'priv/y')).status, 404);
    await ctx.close();
  });

  test('forgetting the token clears sessionStorage and brings the prompt back', async () => {
    const { ctx, page } = await fresh();
    await signIn(page, '#/buckets/users', 'bucket', 'admin');
    assert.equal(await storedToken(page), tokens.admin.token);
    const dialog = tokenDialog(page);
    // "Use another token…" closed without one changes nothing.
    await page.locator('#identity summary').click();
    await page.getByRole('button', { name: 'Use another token…' }).click();
    await dialog.waitFor();
    assert.equal(await page.locator('#token-problem').isHidden(), true, 'no problem to show');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    assert.equal(await storedToken(page), tokens.admin.token);
    await page.locator('#identity [data-identity="id"]', { hasText: 'admin' }).waitFor();
    await nav(page, 'key', () => page.locator('.key-list a', { hasText: 'alice' }).click());
    assert.ok(await page.getByRole('button', { name: 'Delete…' }).isVisible());

    await page.locator('#identity summary').click();
    await page.getByRole('button', { name: 'Forget token' }).click();
    await dialog.waitFor();
    assert.equal(await storedToken(page), null);
    assert.equal(await page.locator('#token-problem .problem-detail').textContent(), (await problemOf('GET', '/whoami', null)).detail);
    await page.locator('#identity [data-identity="none"]').waitFor();
    assert.equal(await page.locator('[data-value="text"]').count(), 0, 'the value seen with the token is gone');
    await shot(page, 'auth-forgotten', { fullPage: false });

    // The prompt comes back after a reload too, and another token can be entered.
    await page.reload();
    await enterToken(page, tokens.reader.token);
    await dialog.waitFor({ state: 'hidden' });
    await waitView(page, 'key');
    assert.equal(await page.getByRole('button', { name: 'Delete…' }).count(), 0);
    await page.locator('#identity [data-identity="id"]', { hasText: 'reader' }).waitFor();
    assert.equal(await storedToken(page), tokens.reader.token);
    await ctx.close();
  });

  test('a token revoked while in use: the call that got the 401 is sent again with the new token', async () => {
    const { ctx, page, requests } = await fresh();
    await signIn(page, '#/buckets/users', 'bucket', 'temp');
    assert.ok(await page.locator('.subnav').getByRole('link', { name: 'New key' }).isVisible());

    await writeAuthFile(['admin', 'reader', 'scoped']);
    gateway.proc.kill('SIGHUP');
    let revoked = null;
    for (let i = 0; i < 100 && !revoked; i++) {
      const res = await api('GET', '/whoami', { token: tokens.temp.token });
      if (res.status === 401) revoked = await res.json();
      else await sleep(100);
    }
    assert.ok(revoked, 'the gateway still accepts the removed token');

    await page.locator('.key-list a', { hasText: 'bob' }).click();
    await page.locator('#token-problem .problem-detail', { hasText: revoked.detail }).waitFor();
    await enterToken(page, tokens.reader.token);
    await tokenDialog(page).waitFor({ state: 'hidden' });
    await waitView(page, 'key');
    assert.equal(await page.locator('[data-value="text"]').textContent(), 'profile of bob');
    // The new identity applies at once: read-only.
    assert.equal(await page.getByRole('button', { name: 'Delete…' }).count(), 0);
    assert.equal(await page.locator('.subnav').getByRole('link', { name: 'New key' }).count(), 0);

    const gets = (await requests()).filter((r) => r.method === 'GET' && new URL(r.url).pathname === '/buckets/users/keys/bob');
    assert.deepEqual(gets.map((r) => r.auth), [`Bearer ${tokens.temp.token}`, `Bearer ${tokens.reader.token}`]);
    await ctx.close();
  });

  test('the token menu fits a phone in dark mode', async () => {
    const { ctx, page } = await fresh({ viewport: { width: 375, height: 812 }, colorScheme: 'dark', isMobile: true, hasTouch: true });
    await signIn(page, '#/buckets/users', 'bucket', 'admin');
    await page.locator('#identity summary').click();
    await page.locator('#identity [data-identity="kind"]').waitFor();
    await assertNoHorizontalScroll(page, 'token menu at 375px');
    await shot(page, 'auth-phone-dark-identity');
    await ctx.close();
  });

  test('the permission matcher agrees with the gateway', async () => {
    const { ctx, page } = await fresh();
    await page.goto(`${base}/ui/favicon.svg`);
    // [permission, bucket, key, allowed actions (read, write, delete) or "invalid", needed write
    // permission]: what the gateway's auth package answers for each (auth/permission.go).
    const cases = [
      ['read:users', 'users', 'alice', 'r--', 'write:users:alice'],
      ['read:users', 'users2', 'alice', '---', 'write:users2:alice'],
      ['read:users/*', 'users/eu', 'a', 'r--', 'write:users/eu:a'],
      ['read:users/*', 'users/', 'a', 'r--', 'write:users/:a'],
      ['read:users/*', 'users', 'a', '---', 'write:users:a'],
      ['write:cache:sessions/', 'cache', 'sessions/1', '-w-', 'write:cache:sessions/1'],
      ['write:cache:sessions/', 'cache', 'other', '---', 'write:cache:other'],
      ['write:cache:sessions/', 'cache', 'sessions', '---', 'write:cache:sessions'],
      ['read,delete:*', 'x', 'k', 'r-d', 'write:x:k'],
      ['read,delete:*', '', '', 'r-d', 'write:'],
      ['*:tmp-*-eu', 'tmp-a-eu', 'k', 'rwd', 'write:tmp-a-eu:k'],
      ['*:tmp-*-eu', 'tmp--eu', 'k', 'rwd', 'write:tmp--eu:k'],
      ['*:tmp-*-eu', 'tmp-eu', 'k', '---', 'write:tmp-eu:k'],
      ['*:tmp-*-eu', 'tmp-a-eu-b-eu', 'k', 'rwd', 'write:tmp-a-eu-b-eu:k'],
      ['*:tmp-*-eu', 'tmp-a-us', 'k', '---', 'write:tmp-a-us:k'],
      ['read:a%3Ab%2A:p:q', 'a:b*', 'p:q1', 'r--', 'write:a%3Ab%2A:p:q1'],
      ['read:a%3Ab%2A:p:q', 'a:bx', 'p:q1', '---', 'write:a%3Abx:p:q1'],
      ['read:a%3Ab%2A:p:q', 'a:b*', 'p:', '---', 'write:a%3Ab%2A:p:'],
      ['read:100%25:%25off', '100%', '%off/x', 'r--', 'write:100%25:%25off/x'],
      ['read:100%25:%25off', '100%25', '%off', '---', 'write:100%2525:%25off'],
      ['read:*a*b*', 'xaybz', 'k', 'r--', 'write:xaybz:k'],
      ['read:*a*b*', 'ba', 'k', '---', 'write:ba:k'],
      ['read:ключ:ключ/', 'ключ', 'ключ/x', 'r--', 'write:ключ:ключ/x'],
      ['read:%D0%BA%D0%BB%D1%8E%D1%87', 'ключ', 'x', 'r--', 'write:ключ:x'],
      ['read:*:%F0%9F%8E%89', 'any', '🎉party', 'r--', 'write:any:🎉party'],
      ['read: write :b', 'b', 'k', '---', 'write:b:k'],
      ['read:b:a+b', 'b', 'a+b', 'r--', 'write:b:a+b'],
      ['read:b:a+b', 'b', 'a b', '---', 'write:b:a b'],
      ['write,delete:b', 'b', 'k', '-wd', 'write:b:k'],
      ['*,read:b', 'b', 'k', 'rwd', 'write:b:k'],
      ['read:', '', '', 'invalid', 'write:'],
      ['read', 'b', '', 'invalid', 'write:b'],
      ['admin:users', 'users', '', 'invalid', 'write:users'],
      ['read,:b', 'b', '', 'invalid', 'write:b'],
      ['Read:b', 'b', '', 'invalid', 'write:b'],
      ['read:%zz', '%zz', '', 'invalid', 'write:%25zz'],
      ['read:%4', '%4', '', 'invalid', 'write:%254'],
      ['read:b:%zz', 'b', '%zz', 'invalid', 'write:b:%25zz'],
      ['read:%FF', 'x', '', 'invalid', 'write:x'],
      ['read:b:%C3', 'b', '', 'invalid', 'write:b'],
      ['read:%C3%BC', 'ü', '', 'r--', 'write:ü'],
      ['read:*%2A', 'x*', '', 'r--', 'write:x%2A'],
      ['read:*%2A', 'x', '', '---', 'write:x'],
    ];
    const got = await page.evaluate(async (cs) => {
      const P = await import('/ui/js/permissions.js');
      const out = cs.map(([perm, bucket, key]) => {
        let allowed;
        try {
          const p = P.parsePermission(perm);
          allowed = ['read', 'write', 'delete'].map((a, i) => (P.permits(p, a, bucket, key) ? 'rwd'[i] : '-')).join('');
        } catch (e) {
          allowed = e.name === 'PermissionError' ? 'invalid' : `threw ${e.name}`;
        }
        return [perm, bucket, key, allowed, P.needed('write', bucket, key)];
      });
      // Several permissions: the scope of a listing, and a pattern made to backtrack.
      const { valid, invalid } = P.parsePermissions([' read:scoped:pub/ ', 'read:scoped:docs/', 'write:scoped:pub/', 'read:*-logs', 'bogus']);
      const slow = P.parsePermission('read:' + '*a'.repeat(200) + 'b');
      const t0 = performance.now();
      const slowMatch = P.matchesBucket(slow, 'a'.repeat(2000));
      return {
        out,
        invalid: invalid.map((i) => i.text),
        scopes: [P.scope(valid, 'read', 'scoped'), P.scope(valid, 'write', 'scoped'), P.scope(valid, 'read', 'app-logs'), P.scope(valid, 'delete', 'scoped')],
        any: [P.anyKey(valid, 'read', 'scoped'), P.anyKey(valid, 'read', 'other')],
        many: [P.allows(valid, 'read', 'scoped', 'docs/x'), P.allows(valid, 'write', 'scoped', 'docs/x')],
        slow: [slowMatch, performance.now() - t0 < 1000],
      };
    }, cases);
    assert.deepEqual(got.out, cases);
    assert.deepEqual(got.invalid, ['bogus']);
    assert.deepEqual(got.scopes, [
      { all: false, prefixes: ['pub/', 'docs/'] },
      { all: false, prefixes: ['pub/'] },
      { all: true, prefixes: [] },
      { all: false, prefixes: [] },
    ]);
    assert.deepEqual(got.any, [true, false]);
    assert.deepEqual(got.many, [true, false]);
    assert.deepEqual(got.slow, [false, true]);
    await ctx.close();
  });

  test('no script errors or CSP violations happened', () => {
    assert.deepEqual(pageErrors, []);
  });
});
