// Real-browser test of the dashboard against the real local stack
// (bridge + `wrangler dev` with local D1 serving web/dist).
//
// Run: node_modules/.bin/node --test tests/browser/dashboard.test.mjs
// Needs: scripts/build (Worker + bridge; web/node_modules via npm ci in web/), /usr/bin/chromium.
// Screenshots land in tests/artifacts/ (gitignored).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startStack } from '../lib/stack.mjs';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const webDir = path.join(repoRoot, 'web');
const artifactsDir = path.join(repoRoot, 'tests', 'artifacts');
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const DESKTOP = { width: 1366, height: 900 };
const PHONE = { width: 375, height: 812 };

/** Same formatting the dashboard uses (web/src/format.ts), to compare shown text with API numbers. */
function formatPrice(value) {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—';
  const digits = Math.abs(value) < 1 ? 4 : 2;
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}
function formatNumber(value, decimals) {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—';
  return value.toLocaleString('en-US', { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
}

/** Builds web/dist with the web package's own Vite, run by this Node. */
function buildDashboard() {
  const viteBin = path.join(webDir, 'node_modules', 'vite', 'bin', 'vite.js');
  if (!existsSync(viteBin)) {
    throw new Error(`web/node_modules is missing: run "npm ci" in ${webDir} first`);
  }
  const result = spawnSync(process.execPath, [viteBin, 'build', '--logLevel', 'warn'], {
    cwd: webDir,
    encoding: 'utf8',
    env: { ...process.env, VITE_API_BASE: '' },
  });
  if (result.status !== 0) {
    throw new Error(`vite build failed:\n${result.stdout}\n${result.stderr}`);
  }
  assert.ok(existsSync(path.join(webDir, 'dist', 'index.html')), 'web/dist/index.html was built');
}

/** Horizontal overflow report: page scroll width and any element poking past the viewport or its cell. */
async function horizontalOverflow(page) {
  return page.evaluate(() => {
    const width = window.innerWidth;
    const offenders = [];
    // Screen-reader-only content is clipped on purpose: skip it and its children.
    const visuallyHidden = (el) => {
      for (let node = el; node && node !== document.body; node = node.parentElement) {
        if (getComputedStyle(node).clip !== 'auto') return true;
      }
      return false;
    };
    for (const el of document.querySelectorAll('body *')) {
      const rect = el.getBoundingClientRect();
      if (rect.width === 0 && rect.height === 0) continue;
      if (visuallyHidden(el)) continue;
      if (rect.right > width + 0.5 || rect.left < -0.5) {
        offenders.push(`${el.tagName.toLowerCase()}.${el.className} [${Math.round(rect.left)}, ${Math.round(rect.right)}]`);
      }
    }
    for (const cell of document.querySelectorAll('td, th')) {
      if (visuallyHidden(cell)) continue;
      if (cell.scrollWidth > cell.clientWidth + 1) {
        offenders.push(`${cell.tagName.toLowerCase()} content ${cell.scrollWidth}px in ${cell.clientWidth}px: ${cell.textContent}`);
      }
    }
    return { scrollWidth: document.documentElement.scrollWidth, width, offenders: offenders.slice(0, 10) };
  });
}

describe('dashboard in a real browser against the local stack', { timeout: 600_000 }, () => {
  let stack;
  let browser;
  /** What the API itself says, fetched from Node with the token: the page must show the same. */
  let api;

  async function apiGet(pathAndQuery) {
    const { status, json } = await stack.api(pathAndQuery);
    return { status, body: json };
  }

  before(async () => {
    mkdirSync(artifactsDir, { recursive: true });
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing (apt-get install chromium)`);
    buildDashboard();
    // wrangler.toml's [assets] serves web/dist; market hours are ignored so the cron always ingests.
    stack = await startStack({ marketHoursMode: 'ignore' });
    // Two ingestion runs so every symbol has history to draw. The simulated
    // market moves in one-second steps and quotes are keyed by (symbol, time):
    // two runs inside one step store one point, so let a step pass between them.
    await stack.fireCron();
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    await stack.fireCron();
    const [latest, opportunities, runs, health, proposals] = await Promise.all([
      apiGet('/market/latest'),
      apiGet('/search/opportunities?limit=10'),
      apiGet('/ingest/runs?limit=10'),
      apiGet('/health'),
      apiGet('/proposals?status=pending'),
    ]);
    assert.equal(latest.status, 200, 'GET /market/latest');
    assert.equal(opportunities.status, 200, 'GET /search/opportunities');
    assert.equal(runs.status, 200, 'GET /ingest/runs');
    assert.equal(health.status, 200, 'GET /health');
    api = { latest: latest.body, opportunities: opportunities.body, runs: runs.body, health: health.body, proposals };
    assert.ok(api.latest.quotes.length > 0, 'the cron ingested quotes');
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  });

  after(async () => {
    await browser?.close();
    await stack?.stop();
  });

  /** Navigates to the dashboard with `fragment`; failures are re-thrown without the URL (it holds a token). */
  /** Today is the landing page: once the token fragment is read, the market page is one navigation away. */
  async function gotoDashboard(page, fragment) {
    try {
      await page.goto(`${stack.workerUrl}/${fragment}`);
    } catch (error) {
      throw new Error(`loading the dashboard failed: ${String(error.message).split(stack.apiToken).join('<token>')}`);
    }
    // The token was read and stripped from the address bar (and so from history), leaving the landing page.
    // (Messages never print the URL: it would put the token in the test log.)
    await page.waitForFunction(() => !window.location.hash.includes('token'));
    assert.equal(await page.evaluate(() => window.location.hash), '');
    await page.getByTestId('trading-state').waitFor();
    await page.getByTestId('nav-market').click();
    await page.waitForFunction(() => window.location.hash === '#/market');
  }

  /** A fresh context (own storage) per scenario. */
  async function openPage(viewport, fragment, colorScheme = 'light') {
    const context = await browser.newContext({ viewport, colorScheme });
    const page = await context.newPage();
    const consoleErrors = [];
    page.on('pageerror', (error) => consoleErrors.push(String(error)));
    await gotoDashboard(page, fragment);
    return { context, page, consoleErrors };
  }

  test('desktop: health, quotes, opportunities and runs match the API; token leaves the URL', async () => {
    const { context, page, consoleErrors } = await openPage(DESKTOP, `#token=${stack.apiToken}`);
    try {
      await page.locator('[data-testid=quote-row]').first().waitFor();
      await page.locator('[data-testid=opportunity]').first().waitFor();

      // The token left the address bar (gotoDashboard checked the landing page's empty fragment).
      assert.ok(!page.url().includes('token'), 'URL still carries the token fragment');
      assert.ok(!page.url().includes(stack.apiToken), 'token value is not in the URL');
      assert.equal(await page.evaluate(() => window.location.hash), '#/market');

      // Health badges.
      assert.equal(await page.getByTestId('health-overall').textContent(), api.health.status);
      assert.equal(await page.getByTestId('health-d1').getAttribute('data-state'), api.health.d1.ok ? 'ok' : 'bad');
      assert.equal(await page.getByTestId('health-bridge').getAttribute('data-state'), api.health.bridge.ok ? 'ok' : 'bad');
      const ingestBadge = await page.getByTestId('health-last-ingest').textContent();
      assert.ok(api.health.last_ingest, '/health reports the last ingestion after the cron ran');
      assert.match(ingestBadge, new RegExp(`^${api.health.last_ingest.status} · (just now|\\d+ s ago|\\d+ min ago)$`));

      // Every ingested symbol has a row with its price, bid/ask and data type.
      const rows = page.locator('[data-testid=quote-row]');
      assert.equal(await rows.count(), api.latest.quotes.length);
      for (const quote of api.latest.quotes) {
        const row = page.locator(`[data-testid=quote-row][data-symbol="${quote.symbol}"]`);
        assert.equal(await row.count(), 1, `row for ${quote.symbol}`);
        const last = (await row.getByTestId('quote-last').textContent()).trim();
        assert.equal(last, formatPrice(quote.last), `${quote.symbol} last price`);
        assert.notEqual(last, '—', `${quote.symbol} has a price`);
        assert.equal((await row.getByTestId('data-type').textContent()).trim(), quote.data_type.replace(/_/g, ' '));
      }
      // With two ingestion runs the price charts have something to draw.
      await page.locator('[data-testid=quote-row] [data-testid=sparkline]').first().waitFor();
      if (api.latest.quotes.some((q) => q.data_type !== 'live')) {
        assert.ok(await page.getByTestId('data-type-notice').isVisible(), 'non-live data is called out');
      }

      // Ranked opportunities: same order as the API, with each factor's normalized value and contribution.
      const items = page.locator('[data-testid=opportunity]');
      assert.equal(await items.count(), api.opportunities.opportunities.length);
      assert.ok(api.opportunities.opportunities.length > 0, 'the API ranked something');
      for (const [index, opportunity] of api.opportunities.opportunities.entries()) {
        const item = items.nth(index);
        assert.equal(await item.getAttribute('data-symbol'), opportunity.symbol);
        assert.equal(await item.getAttribute('data-rank'), String(opportunity.rank));
        assert.equal((await item.getByTestId('opportunity-score').textContent()).trim(), formatNumber(opportunity.score, 1));
        const factorRows = item.locator('[data-testid=factor-row]');
        assert.equal(await factorRows.count(), opportunity.factors.length, `${opportunity.symbol} factor rows`);
        for (const factor of opportunity.factors) {
          const row = item.locator(`[data-testid=factor-row][data-factor="${factor.name}"]`);
          assert.equal((await row.getByTestId('factor-normalized').textContent()).trim(), formatNumber(factor.normalized, 0));
          const expectedPoints = factor.normalized === null ? '—' : formatNumber(factor.contribution, 1);
          assert.equal((await row.getByTestId('factor-contribution').textContent()).trim(), expectedPoints);
          assert.equal((await row.getByTestId('factor-label').textContent()).trim(), factor.label);
        }
      }

      // Ingestion runs.
      const runRows = page.locator('[data-testid=run-row]');
      assert.equal(await runRows.count(), api.runs.runs.length);
      assert.equal(await runRows.first().getAttribute('data-status'), api.runs.runs[0].status);

      // Proposals: shown only when the API has some; a missing route (404) hides the section quietly.
      const pending = api.proposals.status === 200 ? (api.proposals.body.proposals ?? []) : [];
      assert.equal(await page.getByTestId('proposals').count(), pending.length > 0 ? 1 : 0);
      assert.equal(await page.getByTestId('error-banner').count(), 0, 'no error banner on a healthy stack');
      assert.equal(await page.getByTestId('token-form').count(), 0);

      // Manual refresh goes back to the API.
      const refreshed = page.waitForResponse((r) => r.url().endsWith('/market/latest') && r.status() === 200);
      await page.getByTestId('refresh-button').click();
      await refreshed;
      await page.waitForFunction(() => document.querySelector('[data-testid=refresh-button]')?.getAttribute('aria-busy') === 'false');

      // Accessibility basics: one h1, a heading per section, named buttons and charts, real table headers.
      assert.equal(await page.locator('h1').count(), 1);
      for (const name of ['System health', 'Latest quotes', 'Ranked opportunities', 'Recent ingestion runs']) {
        assert.equal(await page.getByRole('heading', { level: 2, name }).count(), 1, `heading "${name}"`);
      }
      const unnamed = await page.evaluate(() =>
        [...document.querySelectorAll('button, [role=img], [role=meter]')]
          .filter((el) => !(el.getAttribute('aria-label') || el.textContent || '').trim())
          .map((el) => el.outerHTML.slice(0, 80)),
      );
      assert.deepEqual(unnamed, [], 'controls and charts without an accessible name');
      assert.equal(await page.locator('[data-testid=quotes-table] thead th[scope=col]').count(), 6);
      assert.equal(await page.locator('[data-testid=quotes-table] tbody th[scope=row]').count(), api.latest.quotes.length);

      await page.screenshot({ path: path.join(artifactsDir, 'dashboard-desktop.png'), fullPage: true });
      assert.deepEqual(consoleErrors, []);
    } finally {
      await context.close();
    }
  });

  test('a wrong token shows the token form, and a right one recovers', async () => {
    const { context, page } = await openPage(DESKTOP, '#token=wrong-token-for-test');
    try {
      const form = page.getByTestId('token-form');
      await form.waitFor();
      assert.ok(!page.url().includes('wrong-token-for-test'), 'even a wrong token leaves the URL');
      assert.equal(await page.getByTestId('quote-row').count(), 0);
      // /health needs no token, so it still shows.
      assert.equal(await page.getByTestId('health-overall').textContent(), api.health.status);
      await page.screenshot({ path: path.join(artifactsDir, 'dashboard-token-form.png'), fullPage: true });

      await page.getByLabel('API token', { exact: true }).fill(stack.apiToken);
      await page.getByTestId('token-submit').click();
      await page.locator('[data-testid=quote-row]').first().waitFor();
      assert.equal(await form.count(), 0, 'form goes away once the token works');
      assert.equal(await page.evaluate(() => window.localStorage.getItem('sas.apiToken')), stack.apiToken);
    } finally {
      await context.close();
    }
  });

  test('an API error shows a non-blocking banner with the JSON message; other panels keep working', async () => {
    const context = await browser.newContext({ viewport: DESKTOP });
    const page = await context.newPage();
    try {
      // Only this one route is made to fail (intercepted in the browser); everything else is the real API.
      await page.route('**/search/opportunities?*', (route) =>
        route.fulfill({
          status: 503,
          contentType: 'application/json',
          body: JSON.stringify({ error: 'ranking_unavailable', message: 'ranking is temporarily unavailable' }),
        }),
      );
      await gotoDashboard(page, `#token=${stack.apiToken}`);
      const banner = page.getByTestId('error-banner');
      await banner.waitFor();
      const text = await banner.textContent();
      assert.match(text, /ranking is temporarily unavailable/);
      assert.match(text, /ranking_unavailable/);
      assert.equal(await page.locator('[aria-live=polite] [data-testid=error-banner]').count(), 1, 'banner is in a live region');
      await page.locator('[data-testid=quote-row]').first().waitFor();
      assert.equal(await page.getByTestId('quote-row').count(), api.latest.quotes.length, 'quotes still render');
      assert.equal(await page.getByTestId('token-form').count(), 0, 'a 503 is not an auth problem');
      await page.screenshot({ path: path.join(artifactsDir, 'dashboard-error-banner.png') });

      // Dismissing hides it; the next refresh against the healthy route brings no banner back.
      await page.getByRole('button', { name: 'Dismiss errors' }).click();
      assert.equal(await banner.count(), 0);
      await page.unroute('**/search/opportunities?*');
      await page.getByTestId('refresh-button').click();
      await page.locator('[data-testid=opportunity]').first().waitFor();
      assert.equal(await page.getByTestId('error-banner').count(), 0);
    } finally {
      await context.close();
    }
  });

  test('pending proposals appear in their own section when the API lists some', async () => {
    // GET /proposals is not implemented by the Worker yet (it answers 404, which hides the section:
    // checked in the desktop test). Here its future response is injected in the browser to check the rendering.
    const context = await browser.newContext({ viewport: PHONE });
    const page = await context.newPage();
    try {
      const proposal = {
        id: 'p-test-1',
        symbol: api.latest.quotes[0].symbol,
        strategy: 'bull_put_spread',
        created_at: new Date().toISOString(),
        expires_at: new Date(Date.now() + 3_600_000).toISOString(),
        rationale: 'Injected by the browser test to check how a proposal renders.',
        entry: { net_price_mid: 1.23 },
        max_profit: 123,
        max_loss: 377,
        score: 61.5,
      };
      await page.route('**/proposals?*', (route) =>
        route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify({ proposals: [proposal] }) }),
      );
      await gotoDashboard(page, `#token=${stack.apiToken}`);
      const section = page.getByTestId('proposals');
      await section.waitFor();
      assert.equal(await section.getByRole('heading', { level: 2 }).textContent(), 'Pending proposals');
      const item = section.locator(`[data-testid=proposal][data-proposal-id="${proposal.id}"]`);
      assert.match(await item.textContent(), /Bull put spread/);
      assert.match(await item.textContent(), /377\.00/);
      const overflow = await horizontalOverflow(page);
      assert.deepEqual(overflow.offenders, []);
      await section.screenshot({ path: path.join(artifactsDir, 'dashboard-proposals-phone.png') });
    } finally {
      await context.close();
    }
  });

  test('phone (375x812): nothing overflows horizontally, light and dark', async () => {
    for (const colorScheme of ['light', 'dark']) {
      const { context, page } = await openPage(PHONE, `#token=${stack.apiToken}`, colorScheme);
      try {
        await page.locator('[data-testid=quote-row] [data-testid=sparkline]').first().waitFor();
        await page.locator('[data-testid=opportunity]').first().waitFor();
        const overflow = await horizontalOverflow(page);
        assert.ok(overflow.scrollWidth <= PHONE.width, `page is ${overflow.scrollWidth}px wide`);
        assert.deepEqual(overflow.offenders, [], 'elements overflowing the phone viewport');
        await page.screenshot({ path: path.join(artifactsDir, `dashboard-phone-${colorScheme}.png`), fullPage: true });
        await page.screenshot({ path: path.join(artifactsDir, `dashboard-phone-${colorScheme}-top.png`) });
        await page.locator('[data-testid=opportunity]').first().screenshot({
          path: path.join(artifactsDir, `dashboard-phone-${colorScheme}-opportunity.png`),
        });
      } finally {
        await context.close();
      }
    }
  });

  // Last: it stops the bridge.
  test('bridge down: health turns degraded and the failed ingestion run is listed', async () => {
    await stack.stopBridge();
    const failedRun = await stack.fireCron();
    assert.ok(failedRun && failedRun.status !== 'ok', `run after stopping the bridge: ${JSON.stringify(failedRun)}`);
    const { context, page } = await openPage(DESKTOP, `#token=${stack.apiToken}`);
    try {
      await page.locator('[data-testid=run-row]').first().waitFor();
      assert.equal(await page.getByTestId('health-overall').textContent(), 'degraded');
      assert.equal(await page.getByTestId('health-bridge').getAttribute('data-state'), 'bad');
      assert.equal(await page.getByTestId('health-d1').getAttribute('data-state'), 'ok');
      const newest = page.locator('[data-testid=run-row]').first();
      assert.equal(await newest.getAttribute('data-run-id'), String(failedRun.id));
      assert.equal(await newest.getAttribute('data-status'), failedRun.status);
      if (failedRun.error) assert.ok((await newest.textContent()).includes(failedRun.error), 'the run error is shown');
      const health = (await stack.api('/health', { auth: false })).json;
      const bridgeText = await page.getByTestId('health-bridge').textContent();
      assert.equal(bridgeText, health.bridge.error ? `down · ${health.bridge.error}` : 'down');
      // Quotes from before the outage are still shown.
      assert.equal(await page.getByTestId('quote-row').count(), api.latest.quotes.length);
      await page.screenshot({ path: path.join(artifactsDir, 'dashboard-bridge-down.png'), fullPage: true });
    } finally {
      await context.close();
    }
  });
});
