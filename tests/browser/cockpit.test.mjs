// Real-browser test of the trading cockpit (Proposals, Market, Control) against
// the real local stack: bridge (simulated broker) + `wrangler dev --local`.
//
// Run: node_modules/.bin/node --test --test-concurrency=1 tests/browser/cockpit.test.mjs
// Needs: worker/build, target/release/broker-bridge, web/node_modules (npm ci), /usr/bin/chromium.
// Screenshots land in tests/artifacts/ (gitignored).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startStack } from '../lib/stack.mjs';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const webDir = path.join(repoRoot, 'web');
const artifactsDir = path.join(repoRoot, 'tests', 'artifacts');
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const WIDE = { width: 1280, height: 900 };
const PHONE = { width: 375, height: 812 };
const AXE = readFileSync(path.join(webDir, 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');

function buildWeb() {
  const viteBin = path.join(webDir, 'node_modules', 'vite', 'bin', 'vite.js');
  const result = spawnSync(process.execPath, [viteBin, 'build', '--logLevel', 'error'], {
    cwd: webDir, encoding: 'utf8', env: { ...process.env, VITE_API_BASE: '' },
  });
  if (result.status !== 0) throw new Error(`vite build failed:\n${result.stdout}\n${result.stderr}`);
}

/** Runs axe-core in the page; returns the serious and critical violations. */
async function axeSerious(page) {
  await page.addScriptTag({ content: AXE });
  const violations = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const result = await axe.run(document, { resultTypes: ['violations'] });
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }));
  });
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

describe('trading cockpit in a real browser against the local stack', { timeout: 900_000 }, () => {
  let stack;
  let browser;
  let pending;

  before(async () => {
    mkdirSync(artifactsDir, { recursive: true });
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing`);
    buildWeb();
    // Same settings as tests/e2e/proposals.test.mjs so the cron generates proposals at any hour.
    stack = await startStack({ marketHoursMode: 'ignore', vars: { MIN_OPTION_VOLUME: '0', TRADING_MODE: 'paper' } });
    for (let i = 0; i < 3; i += 1) {
      await stack.fireCron();
      await new Promise((r) => setTimeout(r, 1_100));
    }
    const res = await stack.api('/proposals?status=pending');
    assert.equal(res.status, 200, res.text);
    pending = res.json.proposals;
    assert.ok(pending.length >= 3, `the cron generated ${pending.length} proposals`);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  });

  after(async () => {
    await browser?.close();
    await stack?.stop();
  });

  // wrangler dev can answer a navigation with an empty 5xx while workerd
  // restarts under load (Chromium: ERR_HTTP_RESPONSE_CODE_FAILURE); retry
  // such a navigation twice, logging it, before failing the test.
  async function goto(page, url) {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await page.goto(url);
      } catch (e) {
        if (attempt >= 3 || !/ERR_HTTP_RESPONSE_CODE_FAILURE/.test(e.message)) throw e;
        console.warn(`navigation to ${url.replace(/#token=.*/, '#token=…')} failed (${e.message.split('\n')[0]}); retrying`);
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  async function open(viewport, hashPath = '/') {
    const context = await browser.newContext({ viewport });
    const page = await context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    // Token first (stored, stripped), then the route.
    await goto(page, `${stack.workerUrl}/#token=${stack.apiToken}`);
    await page.locator('[data-testid=nav-market]').waitFor();
    if (hashPath !== '/') await goto(page, `${stack.workerUrl}/#${hashPath}`);
    return { context, page, errors };
  }

  test('approve through the UI: confirm → re-pricing shown → submitted', async () => {
    const p = pending[0];
    const { context, page, errors } = await open(WIDE, '/proposals');
    try {
      await page.locator(`[data-testid=proposal-item][data-proposal-id="${p.id}"] [data-testid=proposal-link]`).click();
      await page.getByTestId('proposal-detail').waitFor();
      await page.getByTestId('payoff-chart').waitFor();
      assert.equal(await page.getByTestId('leg-row').count(), p.legs.length);
      // The P&L today (Black-Scholes at the legs' IV) is drawn next to the expiry curve when the legs share one expiry.
      const oneExpiry = new Set(p.legs.map((l) => l.expiry)).size === 1 && p.legs.every((l) => l.quote?.iv > 0);
      assert.equal(await page.getByTestId('payoff-chart').getAttribute('data-today'), String(oneExpiry));
      assert.equal((await page.getByTestId('rationale').textContent()).trim(), p.rationale);
      await stack.fireMonitor(); // the every-minute monitor: fresh risk inputs
      await page.getByTestId('approve-button').click();
      await page.getByTestId('approve-confirm').waitFor();
      // Slow the approval down in the browser so the re-pricing state is observable.
      await page.route('**/approve', async (route) => {
        await new Promise((r) => setTimeout(r, 800));
        await route.continue();
      });
      const button = page.getByTestId('approve-confirm-button');
      await button.click();
      await page.waitForFunction(() => document.querySelector('[data-testid=approve-confirm-button]')?.textContent === 'Re-pricing…');
      assert.equal(await button.getAttribute('aria-busy'), 'true');
      const result = page.getByTestId('approve-result');
      await result.waitFor({ timeout: 30_000 });
      assert.equal(await result.getAttribute('data-order-status'), 'submitted', await result.textContent());
      assert.match(await result.textContent(), /Order submitted/);
      const after = await stack.api(`/proposals/${p.id}`);
      assert.equal(after.json.status, 'approved');
      assert.equal(after.json.order.status, 'submitted');
      // The detail then shows the checks the approval passed, as the API stores them.
      const stored = after.json.risk_checks;
      assert.equal(stored.length, 1, JSON.stringify(stored));
      assert.equal(stored[0].approved, true);
      assert.equal(stored[0].unreadable, false);
      assert.ok(stored[0].checks.length >= 5, JSON.stringify(stored[0]));
      assert.ok(stored[0].checks.every((c) => c.verdict === 'pass'), JSON.stringify(stored[0].checks));
      await page.reload();
      const block = page.getByTestId('stored-risk-check').first();
      await block.waitFor({ timeout: 15_000 });
      assert.equal(await block.getAttribute('data-approved'), 'true');
      assert.equal(await block.getByTestId('stored-risk-check-actor').textContent(), stored[0].actor);
      const rows = block.getByTestId('stored-check-row');
      assert.equal(await rows.count(), stored[0].checks.length);
      for (const [i, c] of stored[0].checks.entries()) {
        assert.equal(await rows.nth(i).getAttribute('data-check'), c.name);
        assert.equal(await rows.nth(i).getAttribute('data-verdict'), c.verdict);
      }
      assert.equal(await page.getByTestId('risk-limits').count(), 0, 'a decided proposal shows no limit use of today');
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });

  test('reject with a reason', async () => {
    const p = pending[1];
    const { context, page } = await open(PHONE, `/proposals/${p.id}`);
    try {
      await page.getByTestId('reject-button').click();
      const confirm = page.getByTestId('reject-confirm-button');
      assert.ok(await confirm.isDisabled(), 'no rejection without a reason');
      await page.getByLabel('Reason for rejecting (required)').fill('spread too wide for me');
      await confirm.click();
      await page.getByTestId('reject-result').waitFor();
      const after = await stack.api(`/proposals/${p.id}`);
      assert.equal(after.json.status, 'rejected');
      assert.equal(after.json.decision_reason, 'spread too wide for me');
    } finally {
      await context.close();
    }
  });

  test('kill switch on (from the Control page) → approval refused visibly; then off again', async () => {
    const p = pending[2];
    const { context, page } = await open(WIDE, '/control');
    try {
      await page.getByTestId('kill-switch-toggle').click();
      await page.getByLabel('Reason (required, audited)').fill('browser test drill');
      await page.getByTestId('kill-switch-confirm-button').click();
      await page.waitForFunction(() => document.querySelector('[data-testid=kill-switch]')?.getAttribute('data-on') === 'true');
      assert.equal((await stack.api('/kill-switch')).json.on, true);

      await page.goto(`${stack.workerUrl}/#/proposals/${p.id}`);
      await stack.fireMonitor(); // the every-minute monitor: fresh risk inputs
      await page.getByTestId('approve-button').click();
      await page.getByTestId('approve-confirm-button').click();
      const refusal = page.getByTestId('action-refusal');
      await refusal.waitFor();
      assert.equal(await refusal.getAttribute('data-kind'), 'kill_switch_on');
      assert.match(await refusal.textContent(), /kill switch is on/);
      assert.equal((await stack.api(`/proposals/${p.id}`)).json.status, 'pending');
      await page.screenshot({ path: path.join(artifactsDir, 'cockpit-kill-switch-refusal-1280.png'), fullPage: true });

      // The audit log, filtered to this proposal, shows the refusal.
      await page.goto(`${stack.workerUrl}/#/control`);
      await page.getByTestId('audit-filter').fill(p.id);
      await page.getByRole('button', { name: 'Filter' }).click();
      await page.locator(`[data-testid=audit-entry][data-entity-id="${p.id}"]`).first().waitFor();
      const others = await page.locator(`[data-testid=audit-entry]:not([data-entity-id="${p.id}"])`).count();
      assert.equal(others, 0, 'filter shows only this proposal');

      await page.getByTestId('kill-switch-toggle').click();
      await page.getByLabel('Reason (required, audited)').fill('drill over');
      await page.getByTestId('kill-switch-confirm-button').click();
      await page.waitForFunction(() => document.querySelector('[data-testid=kill-switch]')?.getAttribute('data-on') === 'false');
    } finally {
      await context.close();
    }
  });

  test('Control: the trader halts and resumes through the risk state (confirmed, audited); a strategy switched off and on; audit filtered by kind', async () => {
    await stack.fireMonitor(); // fresh risk inputs (net liquidation, bridge seen): no automatic halt stands
    const { context, page, errors } = await open(PHONE, '/control');
    try {
      const panel = page.getByTestId('risk-state');
      await page.locator('[data-testid=risk-limit]').first().waitFor();
      const limits = (await stack.api('/risk')).json.limits;
      assert.equal(await page.getByTestId('risk-limit').count(), limits.length, 'every limit has a row');
      await page.getByTestId('risk-halted').click();
      const confirm = page.getByTestId('risk-confirm-button');
      assert.ok(await confirm.isDisabled(), 'no halt without a reason');
      await page.getByTestId('risk-reason-input').fill('browser drill: FOMC');
      await confirm.click();
      await page.waitForFunction(() => document.querySelector('[data-testid=risk-state]')?.getAttribute('data-mode') === 'halted');
      const halted = (await stack.api('/risk')).json;
      assert.equal(halted.kill_switch_on, true, 'the trader halt sets the kill switch');
      const reason = panel.locator('[data-testid=risk-reason][data-key="halt:kill_switch"]');
      await reason.waitFor();
      assert.match(await reason.textContent(), /browser drill: FOMC/);

      // Today shows the same state and why.
      await page.getByTestId('nav-today').click();
      await page.waitForFunction(() => document.querySelector('[data-testid=trading-state]')?.getAttribute('data-state') === 'halted');
      assert.match(await page.getByTestId('risk-reasons').textContent(), /Kill switch: browser drill: FOMC/);
      // Today also says which market-data type each symbol has.
      const latest = (await stack.api('/market/latest')).json.quotes;
      await page.locator('[data-testid=data-type-group]').first().waitFor();
      for (const type of new Set(latest.map((q) => q.data_type))) {
        const group = page.locator(`[data-testid=data-type-group][data-type="${type}"]`);
        const text = await group.textContent();
        for (const q of latest.filter((x) => x.data_type === type)) assert.ok(text.includes(q.symbol), `${q.symbol} under ${type}: ${text}`);
      }

      await page.getByTestId('nav-control').click();
      await page.getByTestId('risk-active').click();
      await page.getByTestId('risk-reason-input').fill('drill over');
      await page.getByTestId('risk-confirm-button').click();
      await page.waitForFunction(() => document.querySelector('[data-testid=risk-state]')?.getAttribute('data-mode') === 'active');
      assert.equal((await stack.api('/risk')).json.kill_switch_on, false);

      // A strategy switch: off with a reason, then on again.
      const item = page.locator('[data-testid=strategy][data-strategy=iron_condor]');
      await item.getByTestId('strategy-toggle').click();
      await item.getByLabel(/Reason to disable iron condor/).fill('no condors this week');
      await item.getByTestId('strategy-confirm-button').click();
      await page.waitForFunction(() => document.querySelector('[data-testid=strategy][data-strategy=iron_condor]')?.getAttribute('data-enabled') === 'false');
      const off = (await stack.api('/strategies')).json.strategies.find((x) => x.strategy === 'iron_condor');
      assert.equal(off.enabled, false);
      assert.equal(off.reason, 'no condors this week');
      await item.getByTestId('strategy-toggle').click();
      await item.getByLabel(/Reason to enable iron condor/).fill('back on');
      await item.getByTestId('strategy-confirm-button').click();
      await page.waitForFunction(() => document.querySelector('[data-testid=strategy][data-strategy=iron_condor]')?.getAttribute('data-enabled') === 'true');

      // The audit log filtered by kind (by the Worker: GET /audit?action=) shows only that kind.
      await page.locator('[data-testid=audit-entry]').first().waitFor();
      const audit = (await stack.api('/audit?limit=200')).json.entries;
      const kind = audit.find((e) => e.action !== 'proposal_created')?.action ?? 'proposal_created';
      await page.getByTestId('audit-filter-kind').selectOption(kind);
      const expected = audit.filter((e) => e.action === kind).length;
      await page.waitForFunction((n) => document.querySelectorAll('[data-testid=audit-entry]').length === n, expected);
      assert.equal(await page.locator(`[data-testid=audit-entry]:not([data-action="${kind}"])`).count(), 0);
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });

  test('Performance: statistics from /performance, the shadow P&L totals (or "not available yet" on a 501); the symbol page draws the IV smile', async () => {
    const { context, page, errors } = await open(WIDE, '/performance');
    try {
      await page.locator('[data-testid=performance-stats] dl').waitFor();
      const to = new Intl.DateTimeFormat('en-CA', { timeZone: 'America/New_York' }).format(new Date());
      const from = new Intl.DateTimeFormat('en-CA', { timeZone: 'America/New_York' }).format(new Date(Date.now() - 29 * 86_400_000));
      const perf = (await stack.api(`/performance?from=${from}&to=${to}`)).json;
      const t = perf.trades;
      assert.equal((await page.getByTestId('stat-trades').textContent()).trim(), `${t.trades} (${t.wins} / ${t.losses})`);
      const shadow = await stack.api('/performance/shadow');
      const section = page.getByTestId('performance-shadow');
      if (shadow.status === 501) {
        await page.getByTestId('shadow-not-available').waitFor();
        assert.match(await section.textContent(), /Not available yet/);
      } else {
        assert.equal(shadow.status, 200, shadow.text);
        await page.waitForFunction(() => document.querySelector('[data-testid=performance-shadow]')?.getAttribute('data-available') === 'true');
        const sh = (await stack.api(`/performance/shadow?from=${from}&to=${to}`)).json;
        assert.equal((await page.getByTestId('shadow-trades').textContent()).trim(), `${sh.total.trades} (${sh.total.closed} / ${sh.total.following})`);
        assert.equal(await page.getByTestId('shadow-row').count(), sh.trades.length);
      }

      const symbol = (await stack.api('/market/latest')).json.quotes[0].symbol;
      await page.getByTestId('nav-market').click();
      await page.locator(`[data-testid=quote-row][data-symbol="${symbol}"] [data-testid=symbol-link]`).click();
      await page.waitForFunction((s) => window.location.hash === `#/market/${s}`, symbol);
      await page.locator('[data-testid=smile-chart] canvas').waitFor();
      await page.locator('[data-testid=metrics-row]').first().waitFor();
      const chain = (await stack.api(`/symbols/${symbol}/chain`)).json;
      assert.equal(await page.getByTestId('chain-expiry').count(), chain.expiries.length);
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });

  test('every page: screenshots at 375 and 1280 px, zero serious/critical axe findings, no overflow on the phone', async () => {
    const pages = [
      { name: 'today', hash: '/', ready: '[data-testid=trading-state][data-mode]' },
      { name: 'market', hash: '/market', ready: '[data-testid=quote-row]' },
      { name: 'proposals', hash: '/proposals', ready: '[data-testid=proposal-item]' },
      { name: 'proposal-detail', hash: `/proposals/${pending[0].id}`, ready: '[data-testid=payoff-chart] canvas' },
      { name: 'control', hash: '/control', ready: '[data-testid=audit-entry]' },
      { name: 'performance', hash: '/performance', ready: '[data-testid=drawdown-chart] canvas' },
      { name: 'symbol', hash: `/market/${pending[0].symbol}`, ready: '[data-testid=smile-chart] canvas' },
    ];
    const findings = {};
    for (const scheme of ['light', 'dark']) {
      for (const [label, viewport] of [['375', PHONE], ['1280', WIDE]]) {
        const context = await browser.newContext({ viewport, colorScheme: scheme });
        const page = await context.newPage();
        try {
          await goto(page, `${stack.workerUrl}/#token=${stack.apiToken}`);
          for (const target of pages) {
            await goto(page, `${stack.workerUrl}/#${target.hash}`);
            await page.locator(target.ready).first().waitFor();
            await page.waitForFunction(() => document.querySelector('[data-testid=refresh-button]')?.getAttribute('aria-busy') === 'false');
            if (scheme === 'light') {
              await page.screenshot({ path: path.join(artifactsDir, `cockpit-${target.name}-${label}.png`), fullPage: true });
            }
            const serious = await axeSerious(page);
            if (serious.length > 0) findings[`${target.name}@${label}/${scheme}`] = serious;
            if (viewport === PHONE) {
              const width = await page.evaluate(() => document.documentElement.scrollWidth);
              assert.ok(width <= PHONE.width, `${target.name}: page is ${width}px wide on a phone`);
            }
          }
        } finally {
          await context.close();
        }
      }
    }
    assert.deepEqual(findings, {}, 'serious or critical accessibility findings');
  });
});
