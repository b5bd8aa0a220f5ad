// See scripts/bench-ui. The cockpit's budget (issue 12), measured in real
// headless Chromium against a real local stack (tests/lib/stack.mjs: the
// Worker under wrangler dev with local D1, the simulated bridge), loopback only.
//
// 1. Initial JavaScript, gzipped: the entry script and its modulepreloads in
//    web/dist/index.html (what every first visit downloads), and what the
//    landing page actually fetched as script. Budget 200 KB.
// 2. Each page's data visible after navigation: in-app (the route changes on a
//    freshly loaded page with an empty query cache; the budget, 1 s) and a full
//    page load of the address (document + JS + data, token stored, HTTP cache
//    warm; reported), until the page's data elements are visible;
//    BENCH_UI_LOADS (default 5) runs per page and kind.
// 3. Approve click -> order acknowledged by the simulated bridge: the time from
//    the click on "Confirm approve" to the result showing the order submitted to
//    the bridge (the Worker re-prices, runs the pre-trade checks, sends the order
//    and records the bridge's answer before it replies), over BENCH_UI_APPROVALS
//    (default 20) approvals. Budget p95 < 2 s.
//
// Writes a JSON summary to stdout's last line and to tests/artifacts/bench-ui.json.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { chromium } from 'playwright-core';
import { ROOT, startStack } from '../../tests/lib/stack.mjs';

const LOADS = Math.max(1, Number(process.env.BENCH_UI_LOADS ?? 5));
const APPROVALS = Math.max(1, Number(process.env.BENCH_UI_APPROVALS ?? 20));
// The first approval after the stack starts pays for workerd compiling the Worker's code paths: not counted.
const WARMUP = Math.max(0, Number(process.env.BENCH_UI_WARMUP ?? 1));
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const webDir = path.join(ROOT, 'web');
const dist = path.join(webDir, 'dist');
const artifacts = path.join(ROOT, 'tests', 'artifacts');

const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return null;
  // Nearest rank: the smallest value with at least q of the samples at or below it.
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
};
// wrangler dev can answer a navigation with an empty 5xx while workerd restarts
// under load (Chromium: ERR_HTTP_RESPONSE_CODE_FAILURE): retry such a navigation.
async function retrying(navigate) {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await navigate();
    } catch (e) {
      if (attempt >= 3 || !/ERR_HTTP_RESPONSE_CODE_FAILURE|ERR_EMPTY_RESPONSE/.test(e.message)) throw e;
      console.warn(`navigation failed (${e.message.split('\n')[0]}); retrying`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}
const goto = (page, url) => retrying(() => page.goto(url));
const kb = (bytes) => Math.round((bytes / 1024) * 10) / 10;

// ---- 1. Build and measure the initial JavaScript ----
const vite = spawnSync(process.execPath, [path.join(webDir, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--logLevel', 'error'], {
  cwd: webDir,
  encoding: 'utf8',
  env: { ...process.env, VITE_API_BASE: '' },
});
if (vite.status !== 0) throw new Error(`vite build failed:\n${vite.stdout}\n${vite.stderr}`);
const html = readFileSync(path.join(dist, 'index.html'), 'utf8');
const initialFiles = [
  ...html.matchAll(/<script[^>]+type="module"[^>]+src="([^"]+)"/g),
  ...html.matchAll(/<link[^>]+rel="modulepreload"[^>]+href="([^"]+)"/g),
].map((m) => m[1].replace(/^\.?\//, ''));
const gz = (file) => gzipSync(readFileSync(path.join(dist, file)), { level: 9 }).length;
const initialGzip = initialFiles.reduce((sum, f) => sum + gz(f), 0);
console.log(`initial JS (index.html entry + modulepreload): ${initialFiles.join(', ')} = ${kb(initialGzip)} KB gzipped (budget 200 KB)`);

// ---- The stack: proposals at any hour, limits wide enough for 20 open trades ----
const stack = await startStack({
  marketHoursMode: 'ignore',
  bridgeArgs: ['--sim-cash', '10000000'],
  vars: {
    MIN_OPTION_VOLUME: '0',
    TRADING_MODE: 'paper',
    MAX_PROPOSALS_PER_DAY: '20',
    MAX_OPEN_PER_SYMBOL: '5',
    RISK_MAX_OPEN_POSITIONS: '100',
    RISK_MAX_POSITIONS_PER_CLUSTER: '100',
    RISK_CORRELATION_THRESHOLD: '1',
    RISK_MAX_HEAT_PCT: '100',
    RISK_MAX_LOSS_PER_TRADE_PCT: '100',
    RISK_MAX_NET_DELTA_SHARES: '1000000',
    RISK_MAX_VEGA_PCT: '100',
    RISK_MAX_THETA_PCT: '100',
  },
});
let browser;
try {
  let lastMonitor = 0;
  const monitor = async () => {
    await stack.fireMonitor();
    lastMonitor = Date.now();
  };
  const pendingProposals = async () => {
    const res = await stack.api('/proposals?status=pending&limit=100');
    if (res.status !== 200) throw new Error(`/proposals: ${res.status} ${res.text}`);
    return res.json.proposals;
  };
  for (let i = 0; i < 3; i += 1) {
    await stack.fireCron();
    await new Promise((r) => setTimeout(r, 1_100));
  }
  await monitor();
  // The generator stops at MAX_PROPOSALS_PER_DAY (at most 20) and dedups by
  // idempotency key, so one day's crons give only a handful: copy the pending
  // ones into fresh pending proposals under new keys (the key travels to the
  // bridge, so every copy places its own order), enough for the approvals.
  const templates = await pendingProposals();
  if (templates.length === 0) throw new Error('the cron generated no proposal');
  const copies = Math.ceil((APPROVALS + 5) / templates.length);
  const columns = (await stack.d1('PRAGMA table_info(proposals)'))
    .map((c) => c.name)
    .filter((n) => n !== 'id' && !/^(decided|decision|approved_|order_)/.test(n));
  const select = columns.map((n) =>
    n === 'idempotency_key' ? `p.idempotency_key || '-bench-' || n.i`
      : n === 'proposal_json' ? `replace(p.proposal_json, p.idempotency_key, p.idempotency_key || '-bench-' || n.i)`
        : n === 'status' ? `'pending'`
          : `p.${n}`);
  await stack.d1(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${copies})
    INSERT INTO proposals (${columns.join(', ')}) SELECT ${select.join(', ')} FROM proposals p, n WHERE p.status = 'pending'`);
  console.log(`${templates.length} generated proposals, ${(await pendingProposals()).length} pending after copying each ${copies} times`);

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const scripts = new Map();
  page.on('response', async (res) => {
    if (res.request().resourceType() === 'script' && res.url().startsWith(stack.workerUrl)) scripts.set(new URL(res.url()).pathname, res.url());
  });
  await goto(page, `${stack.workerUrl}/#token=${stack.apiToken}`);
  await page.locator('[data-testid=trading-state][data-mode]').waitFor({ timeout: 30_000 });
  const landingScripts = [...scripts.keys()].map((p) => p.replace(/^\//, ''));
  const landingGzip = landingScripts.reduce((sum, f) => sum + gz(f), 0);
  console.log(`JS fetched by the landing page (Today): ${landingScripts.join(', ')} = ${kb(landingGzip)} KB gzipped`);

  // ---- 3. Approvals through the UI ----
  const approvals = [];
  const refusals = [];
  const tried = new Set();
  let warmups = 0;
  while (approvals.length < APPROVALS) {
    const pending = (await pendingProposals()).filter((p) => !tried.has(p.id));
    if (pending.length === 0) break;
    const p = pending[0];
    tried.add(p.id);
    // The risk checks want fresh inputs (the every-minute monitor): refresh them outside the timing.
    if (Date.now() - lastMonitor > 45_000) await monitor();
    await goto(page, `${stack.workerUrl}/#/proposals/${p.id}`);
    await page.getByTestId('approve-button').click();
    const confirm = page.getByTestId('approve-confirm-button');
    await confirm.waitFor();
    const t0 = Date.now();
    await confirm.click();
    const settled = await Promise.race([
      page.getByTestId('approve-result').waitFor({ timeout: 30_000 }).then(() => 'result'),
      page.getByTestId('action-refusal').waitFor({ timeout: 30_000 }).then(() => 'refusal'),
    ]);
    const ms = Date.now() - t0;
    if (settled === 'refusal') {
      refusals.push({ id: p.id, kind: await page.getByTestId('action-refusal').getAttribute('data-kind'), ms });
      continue;
    }
    const status = await page.getByTestId('approve-result').getAttribute('data-order-status');
    const detail = (await stack.api(`/proposals/${p.id}`)).json;
    const acknowledged = status === 'submitted' && detail.order?.status === 'submitted' && detail.order?.broker_status;
    if (!acknowledged) {
      refusals.push({ id: p.id, kind: `order ${status} / ${detail.order?.status}`, ms });
      continue;
    }
    if (warmups < WARMUP) {
      warmups += 1;
      console.log(`warm-up approval (not counted): proposal ${p.id} in ${ms} ms`);
      continue;
    }
    approvals.push(ms);
    console.log(`approval ${approvals.length}: proposal ${p.id} (${p.symbol} ${p.strategy}) acknowledged by the bridge (${detail.order.broker_status}) in ${ms} ms`);
  }
  if (refusals.length > 0) console.log(`not counted (refused or not acknowledged): ${JSON.stringify(refusals)}`);

  // ---- 2. Each page's data visible after a full load ----
  await monitor();
  const positions = (await stack.api('/positions?limit=1')).json.positions;
  const anyProposal = (await stack.api('/proposals?limit=1')).json.proposals[0];
  const pages = [
    { name: 'Today', hash: '/', ready: ['[data-testid=trading-state][data-mode]', '[data-testid=pnl-open-mid]', '[data-testid=today-pending]:not(:text("—"))'] },
    { name: 'Market', hash: '/market', ready: ['[data-testid=quote-row]', '[data-testid=opportunity]'] },
    { name: 'Proposals', hash: '/proposals', ready: ['[data-testid=proposal-item]'] },
    ...(anyProposal ? [{ name: 'Proposal detail', hash: `/proposals/${anyProposal.id}`, ready: ['[data-testid=leg-row]'] }] : []),
    { name: 'Positions', hash: '/positions', ready: ['[data-testid=position-item]'] },
    ...(positions[0] ? [{ name: 'Position detail', hash: `/positions/${positions[0].id}`, ready: ['[data-testid=position-leg]'] }] : []),
    { name: 'Performance', hash: '/performance', ready: ['[data-testid=performance-stats] dl', '[data-testid=realized-by-day] :is(table, p:not(:text("Loading")))'] },
    { name: 'Control', hash: '/control', ready: ['[data-testid=risk-limit]', '[data-testid=strategy]', '[data-testid=audit-entry]'] },
  ];
  // In-app navigation (the usual way between pages): a fresh load of a page
  // with no data (the not-found page: JS loaded, query cache empty), then the
  // route changes and the time runs until the target's data is visible.
  const navTimes = {};
  for (const target of pages) {
    const times = [];
    for (let i = 0; i < LOADS; i += 1) {
      await goto(page, `${stack.workerUrl}/#/bench-blank`);
      await retrying(() => page.reload());
      await page.getByTestId('nav-today').waitFor();
      await page.evaluate((hash) => {
        window.__benchStart = performance.now();
        window.location.hash = hash;
      }, target.hash);
      for (const sel of target.ready) await page.locator(sel).first().waitFor({ timeout: 10_000 });
      times.push(await page.evaluate(() => Math.round(performance.now() - window.__benchStart)));
    }
    navTimes[target.name] = { median: quantile(times, 0.5), max: Math.max(...times), runs: times };
    console.log(`${target.name.padEnd(16)} in-app navigation: data visible ${quantile(times, 0.5)} ms median, ${Math.max(...times)} ms max over ${LOADS} (budget 1000 ms)`);
  }

  // Full page load of the address (document, JS, data), the stricter case.
  const pageTimes = {};
  for (const target of pages) {
    const times = [];
    for (let i = 0; i < LOADS; i += 1) {
      await goto(page, `${stack.workerUrl}/#${target.hash}`);
      // A hash change alone is not a load: reload so every run fetches the document, the JS and the data.
      await retrying(() => page.reload());
      for (const sel of target.ready) await page.locator(sel).first().waitFor({ timeout: 10_000 });
      const ms = await page.evaluate(() => Math.round(performance.now()));
      times.push(ms);
    }
    pageTimes[target.name] = { median: quantile(times, 0.5), max: Math.max(...times), runs: times };
    console.log(`${target.name.padEnd(16)} full page load: data visible ${quantile(times, 0.5)} ms median, ${Math.max(...times)} ms max over ${LOADS} loads`);
  }

  const summary = {
    initial_js_gzip_kb: kb(initialGzip),
    landing_js_gzip_kb: kb(landingGzip),
    navigation_ms: navTimes,
    full_load_ms: pageTimes,
    approvals: {
      count: approvals.length,
      p50_ms: quantile(approvals, 0.5),
      p95_ms: quantile(approvals, 0.95),
      max_ms: approvals.length ? Math.max(...approvals) : null,
      not_counted: refusals.length,
    },
    budget_ok:
      initialGzip < 200 * 1024 &&
      Object.values(navTimes).every((t) => t.max < 1000) &&
      approvals.length >= APPROVALS &&
      quantile(approvals, 0.95) < 2000,
  };
  console.log(
    `approve click -> order acknowledged: p50 ${summary.approvals.p50_ms} ms, p95 ${summary.approvals.p95_ms} ms, max ${summary.approvals.max_ms} ms over ${approvals.length} approvals (budget p95 < 2000 ms)`,
  );
  mkdirSync(artifacts, { recursive: true });
  writeFileSync(path.join(artifacts, 'bench-ui.json'), `${JSON.stringify(summary, null, 2)}\n`);
  console.log(JSON.stringify(summary));
  if (!summary.budget_ok) process.exitCode = 1;
} finally {
  await browser?.close();
  await stack.stop();
}
