// What the browser test files share: a live gateway (with its embedded NATS server and
// JetStream provider) started from GATEWAY_BIN or built here, headless Chromium (Debian's
// package) driven by playwright-core, and helpers that wait for the UI's views to render.
// Not a test file itself (node --test runs *.test.mjs).

import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdir } from 'node:fs/promises';
import { createWriteStream, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';

// stopProcess ends a child with SIGTERM, and with SIGKILL if it is still running 10 s later.
async function stopProcess(proc) {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const done = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGTERM');
  const stopped = await Promise.race([done.then(() => true), sleep(10_000).then(() => false)]);
  if (!stopped) {
    proc.kill('SIGKILL');
    await Promise.race([done, sleep(5_000)]);
  }
}

export const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '..', '..');
export const artifacts = path.resolve(process.env.ARTIFACTS_DIR || path.join(here, 'artifacts'));
export const chromiumPath = process.env.CHROMIUM_BIN || '/usr/bin/chromium';

// Chromium's own background traffic (updates, sync, QUIC probes) is switched off: the tests
// talk to 127.0.0.1 only.
export const chromiumArgs = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let built = null;

/** gatewayBinary is GATEWAY_BIN, or ./cmd/gateway built into work (once per process). */
export async function gatewayBinary(work) {
  if (process.env.GATEWAY_BIN) return path.resolve(process.env.GATEWAY_BIN);
  if (!built) {
    const out = path.join(work, 'gateway');
    built = promisify(execFile)('go', ['build', '-o', out, './cmd/gateway'], { cwd: repoRoot, timeout: 8 * 60_000, maxBuffer: 16 << 20 }).then(() => out);
  }
  return built;
}

/**
 * startGateway runs a gateway on free ports with its data under work, logging to
 * ARTIFACTS_DIR/<logName>, and waits until readyPath (default /readyz) answers 2xx. It returns
 * { base, natsUrl, proc, log(), stop() } (natsUrl: its embedded NATS server's, for providers
 * started beside it); extraArgs are added to its command line.
 */
export async function startGateway({ work, logName = 'gateway.log', extraArgs = [], readyPath = '/readyz' }) {
  const bin = await gatewayBinary(work);
  const httpPort = await freePort();
  const natsPort = await freePort();
  const dataDir = path.join(work, 'data');
  await mkdir(dataDir, { recursive: true });
  const base = `http://127.0.0.1:${httpPort}`;
  const logFile = createWriteStream(path.join(artifacts, logName));
  const proc = spawn(bin, ['--http-addr', `127.0.0.1:${httpPort}`, '--nats-listen', `127.0.0.1:${natsPort}`, '--data-dir', dataDir, ...extraArgs], {
    cwd: work,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let tail = '';
  const keep = (chunk) => {
    logFile.write(chunk);
    tail = (tail + chunk.toString()).slice(-8000);
  };
  proc.stdout.on('data', keep);
  proc.stderr.on('data', keep);
  let exited = null;
  proc.on('exit', (code, signal) => { exited = { code, signal }; logFile.end(); });
  const handle = {
    base,
    natsUrl: `nats://127.0.0.1:${natsPort}`,
    proc,
    log: () => tail,
    stop: () => stopProcess(proc),
  };
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (exited) throw new Error(`gateway exited early (${JSON.stringify(exited)}):\n${tail}`);
    try {
      const res = await fetch(`${base}${readyPath}`, { signal: AbortSignal.timeout(2000) });
      if (res.ok) return handle;
    } catch {
      // Not listening yet.
    }
    await sleep(200);
  }
  await handle.stop();
  throw new Error(`gateway not ready within 60 s:\n${tail}`);
}

/**
 * startProvider runs the gateway binary as a standalone provider ("gateway provider") on the
 * NATS server at natsUrl, serving prefix from memory, logging to ARTIFACTS_DIR/<logName>.
 * extraArgs are added (e.g. --interfaces store). It returns { proc, log(), stop() } once the
 * provider says it serves.
 */
export async function startProvider({ work, natsUrl, prefix, logName = `provider-${prefix}.log`, extraArgs = [] }) {
  const bin = await gatewayBinary(work);
  const logFile = createWriteStream(path.join(artifacts, logName));
  const proc = spawn(bin, ['provider', '--nats-url', natsUrl, '--backend', 'memory', '--prefix', prefix, '--log-format', 'json', ...extraArgs], {
    cwd: work,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let tail = '';
  let serving = false;
  const keep = (chunk) => {
    logFile.write(chunk);
    tail = (tail + chunk.toString()).slice(-8000);
    if (/"msg":"provider serving"/.test(tail)) serving = true;
  };
  proc.stdout.on('data', keep);
  proc.stderr.on('data', keep);
  let exited = null;
  proc.on('exit', (code, signal) => { exited = { code, signal }; logFile.end(); });
  const handle = {
    proc,
    log: () => tail,
    stop: () => stopProcess(proc),
  };
  const deadline = Date.now() + 30_000;
  while (!serving) {
    if (exited) throw new Error(`provider ${prefix} exited early (${JSON.stringify(exited)}):\n${tail}`);
    if (Date.now() > deadline) {
      await handle.stop();
      throw new Error(`provider ${prefix} not serving within 30 s:\n${tail}`);
    }
    await sleep(100);
  }
  return handle;
}

/** waitFor polls check() (async, truthy when done) every 100 ms until it is, or fails after ms. */
export async function waitFor(what, check, ms = 20_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check().catch(() => null);
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/**
 * hardLimit ends the process after ms, whatever hangs, killing the gateways first; it also
 * kills them when the process exits. gateways() returns the handles to kill.
 */
export function hardLimit(ms, gateways) {
  const kill = () => {
    for (const g of gateways()) if (g && g.proc.exitCode === null) g.proc.kill('SIGKILL');
  };
  const t = setTimeout(() => {
    kill();
    console.error('browser tests: hard time limit reached');
    process.exit(1);
  }, ms);
  t.unref();
  process.on('exit', kill);
}

export async function launchBrowser() {
  assert.ok(existsSync(chromiumPath), `${chromiumPath} is missing: run tests/browser/setup.sh`);
  return chromium.launch({ executablePath: chromiumPath, args: chromiumArgs, headless: true, timeout: 60_000 });
}

/** newPage opens a page in ctx whose script errors and CSP violations are pushed to errors. */
export async function newPage(ctx, errors) {
  const page = await ctx.newPage();
  page.setDefaultTimeout(15_000);
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error' && /Content.Security.Policy|Refused to/i.test(msg.text())) errors.push(`console: ${msg.text()}`);
  });
  return page;
}

/**
 * nav runs action (a click, a goto, a back) and waits until the UI rendered a new view of the
 * given kind and finished loading it. The app counts its renders on <main>, so the view that
 * was there before the action is never mistaken for the new one.
 */
export async function nav(page, view, action) {
  const before = await page.evaluate(() => Number(document.getElementById('main')?.dataset.renders || 0)).catch(() => 0);
  await action();
  await page.waitForFunction(([n, want]) => {
    const main = document.getElementById('main');
    const v = main && main.querySelector(':scope > .view');
    return !!v && Number(main.dataset.renders) > n && v.dataset.view === want && v.getAttribute('aria-busy') === 'false';
  }, [before, view]);
}

export async function shot(page, name, { fullPage = true } = {}) {
  await page.screenshot({ path: path.join(artifacts, `${name}.png`), fullPage });
}

/** a11yProblems lists controls without a label and buttons without text on the page. */
export function a11yProblems(page) {
  return page.evaluate(() => {
    const out = [];
    for (const el of document.querySelectorAll('input, select, textarea')) {
      if (el.type === 'hidden') continue;
      if (!el.labels?.length && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby')) out.push(`unlabelled ${el.tagName.toLowerCase()}[name=${el.name}]`);
    }
    for (const b of document.querySelectorAll('button')) {
      if (!b.textContent.trim() && !b.getAttribute('aria-label')) out.push(`button without text: ${b.outerHTML.slice(0, 80)}`);
    }
    // Leftovers of a rendering bug: "null", "undefined" or "[object ...]" as text.
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      if (n.parentElement.closest('code, pre')) continue; // a value or a literal may well be "null"
      if (/^(null|undefined)+$|\[object /.test(n.nodeValue.trim())) out.push(`stray text ${JSON.stringify(n.nodeValue)} in ${n.parentElement.tagName}`);
    }
    return out;
  });
}

export async function assertNoHorizontalScroll(page, what) {
  const { sw, iw } = await page.evaluate(() => ({ sw: document.documentElement.scrollWidth, iw: window.innerWidth }));
  assert.ok(sw <= iw, `${what}: page is ${sw}px wide in a ${iw}px viewport`);
}
