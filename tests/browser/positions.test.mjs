// Real-browser test of the position pages (Positions, position detail, Today,
// Performance) against the real local stack: the bridge (simulated broker,
// 1,000,000 USD like an IB paper account) + `wrangler dev --local`, the
// position monitor fired through /__scheduled.
//
// Run: node_modules/.bin/node --test --test-concurrency=1 tests/browser/positions.test.mjs
// Needs: worker/build, target/release/broker-bridge (or SAS_BRIDGE_BIN), web/node_modules
// (npm ci), /usr/bin/chromium. Screenshots land in tests/artifacts/ (gitignored).

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
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

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

describe('position pages in a real browser against the local stack', { timeout: 900_000 }, () => {
  let stack;
  let browser;
  /** a: closed from the UI; b: stays open (refused mark, exits pause, screenshots). */
  const pos = {};
  const findings = {};

  const bridgeFetch = async (p, { method = 'GET', body } = {}) => {
    const res = await fetch(`${stack.bridgeUrl}${p}`, {
      method,
      headers: {
        authorization: `Bearer ${stack.bridgeToken}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(15_000),
    });
    return { status: res.status, json: await res.json().catch(() => null) };
  };
  const sim = async (body) => {
    const r = await bridgeFetch('/sim/control', { method: 'POST', body });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    return r.json;
  };
  const monitor = async () => {
    const run = await stack.fireMonitor();
    assert.ok(run, 'a monitor run record');
    assert.equal(run.status, 'ok', `${JSON.stringify(run)}\n${stack.logTail('wrangler', 40)}`);
    return run;
  };
  const detail = async (id) => {
    const r = await stack.api(`/positions/${id}`);
    assert.equal(r.status, 200, r.text);
    return r.json;
  };
  /** Refetches everything on screen and waits until it has settled. */
  const refresh = async (page) => {
    await page.getByTestId('refresh-button').click();
    await page.waitForFunction(() => document.querySelector('[data-testid=refresh-button]')?.getAttribute('aria-busy') === 'false');
  };
  /** Axe in light and dark on the page as it is now (same URL, fresh contexts). */
  const axeBothSchemes = async (name, hash, ready) => {
    for (const scheme of ['light', 'dark']) {
      for (const [label, viewport] of [['375', PHONE], ['1280', WIDE]]) {
        const context = await browser.newContext({ viewport, colorScheme: scheme });
        const page = await context.newPage();
        try {
          await page.goto(`${stack.workerUrl}/#token=${stack.apiToken}`);
          await page.goto(`${stack.workerUrl}/#${hash}`);
          await page.locator(ready).first().waitFor();
          await page.waitForFunction(() => document.querySelector('[data-testid=refresh-button]')?.getAttribute('aria-busy') === 'false');
          if (scheme === 'light') {
            await page.screenshot({ path: path.join(artifactsDir, `positions-${name}-${label}.png`), fullPage: true });
          }
          const serious = await axeSerious(page);
          if (serious.length > 0) findings[`${name}@${label}/${scheme}`] = serious;
          if (viewport === PHONE) {
            const width = await page.evaluate(() => document.documentElement.scrollWidth);
            assert.ok(width <= PHONE.width, `${name}: page is ${width}px wide on a phone`);
          }
        } finally {
          await context.close();
        }
      }
    }
  };

  before(async () => {
    mkdirSync(artifactsDir, { recursive: true });
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing`);
    buildWeb();
    stack = await startStack({
      marketHoursMode: 'ignore',
      // IB paper accounts start with 1,000,000 USD.
      bridgeArgs: ['--sim-cash', '1000000'],
      vars: { MIN_OPTION_VOLUME: '0', PROPOSAL_TTL_SECONDS: '3600', TRADING_MODE: 'paper', EXIT_REPRICE_AFTER_SECS: '30' },
    });
    for (let i = 0; i < 4; i += 1) await stack.fireCron();
    const pending = (await stack.api('/proposals?status=pending')).json.proposals;
    assert.ok(pending.length >= 2, `need 2 proposals, got ${pending.length}`);
    for (const [name, p] of [['a', pending[0]], ['b', pending[1]]]) {
      // The every-minute monitor keeps the risk engine's inputs fresh.
      await stack.fireMonitor();
      const r = await stack.api(`/proposals/${p.id}/approve`, { method: 'POST', body: '{}' });
      assert.equal(r.status, 200, r.text);
      pos[name] = { proposal: p, key: p.idempotency_key };
    }
    for (let i = 0; i < 3; i += 1) await monitor();
    const list = (await stack.api('/positions')).json.positions;
    for (const name of ['a', 'b']) {
      const p = list.find((x) => x.key === pos[name].key);
      assert.ok(p, `position of ${name}: ${JSON.stringify(list)}`);
      assert.equal(p.status, 'open');
      assert.ok(p.mark?.ok, `position ${name} is marked: ${JSON.stringify(p.mark)}`);
      pos[name].id = p.id;
      pos[name].symbol = p.symbol;
    }
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  });

  after(async () => {
    await browser?.close();
    await stack?.stop();
  });

  async function open(viewport, hashPath) {
    const context = await browser.newContext({ viewport });
    const page = await context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`${stack.workerUrl}/#token=${stack.apiToken}`);
    await page.locator('[data-testid=nav-positions]').waitFor();
    await page.goto(`${stack.workerUrl}/#${hashPath}`);
    return { context, page, errors };
  }

  test('the Positions page lists the open positions with their marks, P&L and progress toward the exits', async () => {
    const { context, page, errors } = await open(PHONE, '/positions');
    try {
      const api = (await stack.api('/positions?status=open')).json.positions;
      for (const name of ['a', 'b']) {
        const card = page.locator(`[data-testid=position-item][data-position-id="${pos[name].id}"]`);
        await card.waitFor();
        assert.equal(await card.getAttribute('data-status'), 'open');
        const mine = api.find((p) => p.id === pos[name].id);
        const shown = (await card.getByTestId('position-unrealized').textContent()).replace('Unrealized at mid: ', '');
        const expected = mine.mark.unrealized_mid;
        // The page's money format (web/src/format.ts): cents under $100, whole dollars above.
        const digits = Math.abs(expected) < 100 ? 2 : 0;
        const amount = Math.abs(expected).toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
        assert.ok(shown.includes(amount), `${shown} vs ${expected}`);
        assert.notEqual((await card.getByTestId('position-mark-time').textContent()).trim(), 'not yet');
        // Progress toward take profit / stop loss / time exit (from the detail).
        await card.getByTestId('progress-take-profit').waitFor();
        await card.getByTestId('progress-time-exit').waitFor();
      }
      assert.match(await page.getByTestId('open-pnl-summary').textContent(), /Open P&L/);
      await page.getByTestId('no-working-orders').waitFor();
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });

  test('a refused mark shows its reason plainly, on the card and on Today', async () => {
    const b = pos.b;
    await sim({ symbol: b.symbol, spread_multiplier: 100 });
    await monitor();
    const d = await detail(b.id);
    const newest = d.marks[0];
    assert.equal(newest.ok, false, `the wide market was not refused: ${JSON.stringify(newest)}`);
    const { context, page } = await open(WIDE, '/positions');
    try {
      const refused = page.locator(`[data-testid=position-item][data-position-id="${b.id}"] [data-testid=mark-refused]`);
      await refused.waitFor();
      const text = await refused.textContent();
      assert.match(text, /^Mark refused: /);
      if (newest.decision.reason?.code === 'wide_spread') assert.match(text, /spread on .* too wide/);
      await page.goto(`${stack.workerUrl}/#/today`);
      const item = page.locator(`[data-testid=attention-item][data-position-id="${b.id}"]`);
      await item.waitFor();
      assert.match(await item.textContent(), /mark refused: /);
    } finally {
      await context.close();
    }
    await sim({ symbol: b.symbol, spread_multiplier: 1 });
    await monitor();
    assert.equal((await detail(b.id)).marks[0].ok, true);
  });

  test('the detail page shows the mark chart, legs, fills and orders; exits pause and resume with a reason', async () => {
    const b = pos.b;
    const d = await detail(b.id);
    const { context, page, errors } = await open(WIDE, '/positions');
    try {
      await page.locator(`[data-testid=position-item][data-position-id="${b.id}"] [data-testid=position-link]`).click();
      await page.getByTestId('position-detail').waitFor();
      await page.locator('[data-testid=mark-chart] canvas').waitFor();
      assert.match(await page.getByTestId('mark-chart').getAttribute('aria-label'), /Unrealized P&L over \d+ marks/);
      assert.equal(await page.getByTestId('position-leg').count(), d.legs.length);
      assert.ok(d.legs.length >= 1);
      assert.equal(await page.getByTestId('position-fill').count(), d.fills.length);
      assert.equal(await page.locator('[data-testid=position-order][data-purpose=entry]').count(), 1);
      await page.getByTestId('position-exit-plan').waitFor();
      await page.getByTestId('progress-stop-loss').waitFor();

      await page.getByTestId('exits-toggle').click();
      const confirm = page.getByTestId('exits-confirm-button');
      assert.ok(await confirm.isDisabled(), 'no pause without a reason');
      await page.getByLabel('Reason (required, audited)').fill('earnings tonight, watching by hand');
      await confirm.click();
      await page.waitForFunction(() => document.querySelector('[data-testid=exits-state]')?.textContent === 'paused');
      assert.equal((await detail(b.id)).position.exits_paused, true);
      await page.getByTestId('exits-toggle').click();
      await page.getByLabel('Reason (required, audited)').fill('earnings out');
      await page.getByTestId('exits-confirm-button').click();
      await page.waitForFunction(() => document.querySelector('[data-testid=exits-state]')?.textContent === 'running');
      assert.equal((await detail(b.id)).position.exits_paused, false);
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });

  test('Close now → confirm → closing (a second close answers 409 in place) → working order → closed', async () => {
    const a = pos.a;
    // The closing order rests until the test lets it fill, so it shows as working.
    await sim({ fill: 'none' });
    const first = await open(WIDE, `/positions/${a.id}`);
    const second = await open(PHONE, `/positions/${a.id}`);
    try {
      // The second tab opens its confirmation before the first one closes.
      await second.page.getByTestId('close-button').click();
      await second.page.getByTestId('close-confirm').waitFor();

      const { page } = first;
      await page.getByTestId('close-button').click();
      await page.getByTestId('close-confirm').waitFor();
      await page.route('**/close', async (route) => {
        await sleep(600);
        await route.continue();
      });
      await page.getByTestId('close-confirm-button').click();
      await page.waitForFunction(() => document.querySelector('[data-testid=close-confirm-button]')?.textContent === 'Closing…');
      const result = page.getByTestId('close-result');
      await result.waitFor();
      assert.equal(await result.getAttribute('data-status'), 'closing');
      assert.match(await result.textContent(), /Closing…/);
      await page.waitForFunction(() => document.querySelector('[data-testid=position-status]')?.textContent === 'closing');
      await page.getByTestId('closing-note').waitFor();
      assert.equal((await detail(a.id)).position.status, 'closing');

      // The other tab's confirmation now meets the 409: explained in place with the state.
      await second.page.getByTestId('close-confirm-button').click();
      const refusal = second.page.getByTestId('position-refusal');
      await refusal.waitFor();
      assert.equal(await refusal.getAttribute('data-kind'), 'already_closing');
      assert.equal(await refusal.getAttribute('data-state'), 'closing');
      assert.match(await refusal.textContent(), /Already closing \(manual close\)/);

      // The monitor sends the closing order; it rests at the broker.
      await monitor();
      await page.goto(`${stack.workerUrl}/#/positions`);
      const working = page.locator('[data-testid=working-order]');
      await working.first().waitFor();
      assert.match(await working.first().textContent(), /Exit \(manual close\)/);
      await page.screenshot({ path: path.join(artifactsDir, 'positions-closing-1280.png'), fullPage: true });

      await sim({ fill: 'full' });
      let closed = false;
      for (let i = 0; i < 20 && !closed; i += 1) {
        await monitor();
        closed = (await detail(a.id)).position.status === 'closed';
        if (!closed) await sleep(2000);
      }
      assert.ok(closed, `position ${a.id} did not close: ${JSON.stringify((await detail(a.id)).orders)}`);
      await refresh(page);
      const row = page.locator(`[data-testid=closed-position][data-position-id="${a.id}"]`);
      await row.waitFor();
      assert.match(await row.textContent(), /manual close/);
      await page.goto(`${stack.workerUrl}/#/positions/${a.id}`);
      await page.waitForFunction(() => document.querySelector('[data-testid=position-status]')?.textContent === 'closed');
      assert.equal(await page.getByTestId('close-button').count(), 0);
      assert.deepEqual(first.errors, []);
    } finally {
      await first.context.close();
      await second.context.close();
    }
  });

  test('Today shows the P&L; an injected drift shows its banner and is acknowledged with a note', async () => {
    const pnl = (await stack.api('/pnl?days=7')).json;
    const { context, page, errors } = await open(PHONE, '/today');
    try {
      await page.getByTestId('pnl-open-mid').waitFor();
      // The state comes from GET /risk, which may answer after the P&L: wait for it.
      await page.locator('[data-testid=trading-state]:not([data-state=""])').waitFor();
      assert.equal(await page.getByTestId('trading-state').getAttribute('data-state'), 'active');
      const today = pnl.by_day[pnl.by_day.length - 1];
      assert.ok(today && today.positions_closed >= 1, JSON.stringify(pnl.by_day));
      const realized = (await page.getByTestId('pnl-realized-today').textContent()).trim();
      assert.ok(realized.includes(Math.abs(today.realized).toFixed(2)) || realized.includes(Math.abs(Math.round(today.realized)).toLocaleString('en-US')),
        `${realized} vs ${today.realized}`);
      assert.equal((await page.getByTestId('pnl-open-positions').textContent()).trim().split(' ')[0], String(pnl.open_positions));
      const pending = (await stack.api('/proposals?status=pending')).json.proposals.length;
      // Pending proposals load beside the P&L, not with it: wait for the count.
      await page.waitForFunction(() => /^\d+$/.test(document.querySelector('[data-testid=today-pending]')?.textContent?.trim() ?? ''));
      assert.equal((await page.getByTestId('today-pending').textContent()).trim(), String(pending));
      await page.getByTestId('monitor-run').waitFor();
      await page.getByTestId('health-bridge').waitFor();
      assert.equal(await page.getByTestId('drift-banner').count(), 0);

      // A manual trade at the broker: 1 share of b's underlying; two runs confirm the drift.
      const q = await bridgeFetch(`/quote?symbol=${pos.b.symbol}`);
      assert.equal(q.status, 200);
      const manual = await bridgeFetch('/orders', {
        method: 'POST',
        body: {
          idempotency_key: 'manual-trade-browser-1',
          legs: [{ instrument: { type: 'stock', symbol: pos.b.symbol }, action: 'buy', ratio: 1 }],
          quantity: 1,
          limit_price: Math.ceil(q.json.ask * 1.02 * 100) / 100,
          tif: 'day',
        },
      });
      assert.ok([200, 201].includes(manual.status), JSON.stringify(manual.json));
      await monitor();
      await monitor();
      const recon = (await stack.api('/reconciliation')).json;
      assert.equal(recon.standing, true, JSON.stringify(recon));

      await refresh(page);
      const banner = page.getByTestId('drift-banner');
      await banner.waitFor();
      assert.equal(await banner.getAttribute('data-fingerprint'), recon.fingerprint);
      assert.match(await banner.textContent(), /the broker holds 1 share SAS does not know/);
      // The risk engine's fresh evaluation (GET /risk) halts on the standing drift, and says why.
      await page.waitForFunction(() => document.querySelector('[data-testid=trading-state]')?.getAttribute('data-state') === 'halted');
      await page.locator('[data-testid=risk-reason][data-key="halt:reconciliation_drift"]').waitFor();
      await axeBothSchemes('today-drift', '/today', '[data-testid=drift-banner]');

      await page.getByTestId('ack-button').click();
      const confirm = page.getByTestId('ack-confirm-button');
      assert.ok(await confirm.isDisabled(), 'no acknowledgement without a note');
      await page.getByLabel('What you found (required, audited)').fill('manual hedge, known');
      await confirm.click();
      await page.waitForFunction(() => document.querySelector('[data-testid=drift-banner]') === null);
      await page.waitForFunction(() => document.querySelector('[data-testid=trading-state]')?.getAttribute('data-state') === 'active');
      const after = (await stack.api('/reconciliation')).json;
      assert.equal(after.standing, false);
      assert.equal(after.acknowledged_fingerprint, recon.fingerprint);
      const audit = (await stack.api('/audit?limit=50')).json.entries;
      const ack = audit.find((e) => e.action === 'drift_acknowledged');
      assert.ok(ack, 'the acknowledgement is audited');
      assert.equal(ack.details.note, 'manual hedge, known');
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });

  test('every new page: screenshots at 375 and 1280 px, zero serious/critical axe findings in light and dark', async () => {
    await monitor();
    const pages = [
      { name: 'today', hash: '/', ready: '[data-testid=pnl-open-mid]' },
      { name: 'list', hash: '/positions', ready: '[data-testid=position-item] [data-testid=progress-take-profit]' },
      { name: 'detail-open', hash: `/positions/${pos.b.id}`, ready: '[data-testid=mark-chart] canvas' },
      { name: 'detail-closed', hash: `/positions/${pos.a.id}`, ready: '[data-testid=mark-chart] canvas' },
      { name: 'performance', hash: '/performance', ready: '[data-testid=drawdown-chart] canvas' },
    ];
    for (const target of pages) await axeBothSchemes(target.name, target.hash, target.ready);
    assert.deepEqual(findings, {}, 'serious or critical accessibility findings');
  });
});
