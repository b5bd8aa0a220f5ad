// End-to-end "trading week" of the position engine: the real Worker under
// `wrangler dev --local` (local D1, the monitor fired through /__scheduled)
// and the real broker bridge on the simulated market, whose books survive a
// bridge restart (--sim-state, like IB keeps the account).
//
// Three approved trades fill (one partially), every monitor run marks them,
// one closes at take profit and one at stop loss after driven moves (the
// closing order reaches the bridge in the run that decides it), a bridge
// restart in the middle of an exit leaves exactly one closing order, an
// injected drift stops entries and pauses an exit until acknowledged, then
// the time exit closes the third; realized P&L equals the fills minus
// commissions to the cent, and all of it is in the audit log.
// Run after scripts/build: node --test tests/e2e/positions.test.mjs

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { startStack } from '../lib/stack.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const nyToday = () => new Intl.DateTimeFormat('en-CA', { timeZone: 'America/New_York' }).format(new Date());
const LIVE = new Set(['submitting', 'submitted', 'working', 'partially_filled', 'cancel_pending', 'unknown']);
const BRIDGE_LIVE = new Set(['pending_submit', 'submitted', 'partially_filled', 'pending_cancel', 'unknown']);

/** Realized P&L of a position computed from its fills: cash of every fill
 * (options × 100) minus commissions, in dollars. */
function realizedFromFills(fills) {
  let cents = 0;
  for (const f of fills) {
    const mult = f.contract.type === 'option' ? 100 : 1;
    cents += Math.round(-f.quantity * f.price * mult * 100);
    cents -= Math.round((f.commission ?? 0) * 100);
  }
  return cents / 100;
}

describe('position engine: a trading week on the simulated market', () => {
  let stack;
  let stateDir;
  const trades = {};

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
  // In production the position monitor runs every minute and keeps the risk
  // engine's inputs fresh (equity, reconciliation, bridge seen); the tests
  // fire it right before each approval, as the cron would have.
  const post = async (p, body) => {
    if (/\/approve$/.test(p)) await stack.fireMonitor();
    return stack.api(p, { method: 'POST', body: JSON.stringify(body ?? {}) });
  };
  const detail = async (id) => {
    const r = await stack.api(`/positions/${id}`);
    assert.equal(r.status, 200, r.text);
    return r.json;
  };
  const byKey = (key) => bridgeFetch(`/orders/by-key/${encodeURIComponent(key)}`);
  const monitor = async () => {
    const run = await stack.fireMonitor();
    assert.ok(run, 'a monitor run record');
    assert.equal(run.status, 'ok', `${JSON.stringify(run)}\n${stack.logTail('wrangler', 40)}`);
    return run;
  };
  const openPositions = async () => (await stack.api('/positions?status=open')).json.positions;
  const liveClosingAtBridge = async (key) => {
    const { json } = await bridgeFetch('/orders');
    return json.orders.filter((o) => o.idempotency_key.startsWith(`${key}:x`) && BRIDGE_LIVE.has(o.status));
  };
  const closeOut = async (id, { maxMs = 150_000 } = {}) => {
    const deadline = Date.now() + maxMs;
    for (;;) {
      await monitor();
      const d = await detail(id);
      if (d.position.status === 'closed') return d;
      const live = d.orders.filter((o) => o.purpose === 'exit' && LIVE.has(o.status));
      assert.ok(live.length <= 1, `two live closing orders: ${JSON.stringify(live)}`);
      if (Date.now() > deadline) assert.fail(`position ${id} not closed: ${JSON.stringify(d.orders)}`);
      await sleep(3000);
    }
  };
  const assertRealizedIsFills = (d) => {
    const expected = realizedFromFills(d.fills);
    assert.ok(Math.abs(d.position.realized - expected) < 0.005,
      `realized ${d.position.realized} != fills ${expected}: ${JSON.stringify(d.fills)}`);
  };

  before(async () => {
    stateDir = mkdtempSync(path.join(os.tmpdir(), 'sas-sim-state-'));
    stack = await startStack({
      marketHoursMode: 'ignore',
      // IB paper accounts start with 1,000,000 USD.
      bridgeArgs: ['--sim-state', path.join(stateDir, 'sim-state.json'), '--sim-cash', '1000000'],
      vars: {
        MIN_OPTION_VOLUME: '0',
        PROPOSAL_TTL_SECONDS: '3600',
        TRADING_MODE: 'paper',
        EXIT_REPRICE_AFTER_SECS: '30',
      },
    });
  });
  after(async () => {
    await stack?.stop();
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  });

  test('three approved trades fill, one partially; every monitor run marks them', async () => {
    for (let i = 0; i < 4; i += 1) await stack.fireCron();
    const pending = (await stack.api('/proposals?status=pending')).json.proposals;
    assert.ok(pending.length >= 3, `need 3 proposals, got ${pending.length}`);
    // The partial one needs at least two contracts.
    const sorted = [...pending].sort((a, b) => b.contracts - a.contracts);
    const [c, a, b] = sorted;
    assert.ok(c.contracts >= 2, `partial fill needs 2+ contracts: ${c.contracts}`);
    trades.spare = sorted[3] ?? null;
    for (const [name, p] of [['a', a], ['b', b]]) {
      const r = await post(`/proposals/${p.id}/approve`, {});
      assert.equal(r.status, 200, r.text);
      trades[name] = { proposal: p, key: p.idempotency_key };
    }
    await sim({ fill: 'partial' });
    const rc = await post(`/proposals/${c.id}/approve`, {});
    assert.equal(rc.status, 200, rc.text);
    trades.c = { proposal: c, key: c.idempotency_key };

    const first = await monitor();
    assert.equal(first.positions, 3);
    const list = (await stack.api('/positions')).json.positions;
    for (const name of ['a', 'b', 'c']) {
      const pos = list.find((p) => p.key === trades[name].key);
      assert.ok(pos, `position of ${name}`);
      trades[name].id = pos.id;
    }
    // The partial entry's remainder is cancelled once its proposal expired.
    await stack.d1(`UPDATE positions SET entry_expires_at = 1 WHERE id = ${trades.c.id}`);
    await monitor();
    await monitor();
    await sim({ fill: 'full' });
    const dc = await detail(trades.c.id);
    assert.equal(dc.position.status, 'open');
    assert.ok(dc.position.entry_filled_units >= 1 && dc.position.entry_filled_units < dc.position.planned_units,
      `partial: ${dc.position.entry_filled_units}/${dc.position.planned_units}`);
    assert.equal(dc.orders.find((o) => o.purpose === 'entry').status, 'cancelled');
    for (const name of ['a', 'b']) {
      const d = await detail(trades[name].id);
      assert.equal(d.position.status, 'open');
      assert.equal(d.position.entry_filled_units, d.position.planned_units);
      assert.ok(d.fills.length >= 2);
      // Open: nothing realized but the commissions paid.
      const paid = d.fills.reduce((sum, f) => sum + Math.round((f.commission ?? 0) * 100), 0) / 100;
      assert.ok(Math.abs(d.position.realized + paid) < 0.005, `${d.position.realized} vs -${paid}`);
    }
    // Each run marks every open position (trustworthy or refused with a reason).
    for (let i = 0; i < 2; i += 1) {
      const run = await monitor();
      assert.equal(run.marks_ok + run.marks_rejected, 3, JSON.stringify(run));
    }
    const d = await detail(trades.a.id);
    assert.ok(d.marks.length >= 4, `marks of a: ${d.marks.length}`);
    assert.ok(d.progress && typeof d.progress.take_profit_pnl === 'number');
  });

  test('a driven move closes one trade at take profit, the closing order sent in the run that decided it', async () => {
    const t = trades.a;
    const dir = t.proposal.strategy.startsWith('bear') ? -1 : 1;
    let fired = null;
    for (let step = 0; step < 25 && !fired; step += 1) {
      await sim({ symbol: t.proposal.symbol, move_pct: dir * 1.0 });
      await monitor();
      const d = await detail(t.id);
      if (d.position.exit_reason) {
        fired = d;
        // Sent in the same run.
        const order = await byKey(`${t.key}:x0`);
        assert.equal(order.status, 200, `closing order not at the bridge after the deciding run`);
      }
    }
    assert.ok(fired, 'take profit never fired');
    assert.equal(fired.position.exit_reason, 'take_profit');
    const closed = await closeOut(t.id);
    assert.equal(closed.position.open_units, 0);
    assertRealizedIsFills(closed);
  });

  test('a stop loss confirmed on two marks reaches the bridge in that run; a bridge restart mid-exit leaves one closing order', async () => {
    const t = trades.b;
    const dir = t.proposal.strategy.startsWith('bear') ? 1 : -1;
    await sim({ fill: 'none' });
    let confirming = false;
    let fired = false;
    for (let step = 0; step < 30 && !fired; step += 1) {
      if (!confirming) await sim({ symbol: t.proposal.symbol, move_pct: dir * 1.0 });
      const before = await byKey(`${t.key}:x0`);
      await monitor();
      const d = await detail(t.id);
      const decision = d.marks[0]?.decision?.decision;
      if (d.position.exit_reason) {
        assert.equal(d.position.exit_reason, 'stop_loss');
        assert.equal(before.status, 404, 'nothing was sent before the stop was confirmed');
        assert.equal((await byKey(`${t.key}:x0`)).status, 200, 'the confirming run sent the closing order');
        fired = true;
      } else if (decision === 'confirming') {
        assert.equal((await byKey(`${t.key}:x0`)).status, 404, 'one mark beyond the stop sends nothing');
        confirming = true;
      }
    }
    assert.ok(fired, 'stop never fired');
    assert.equal((await liveClosingAtBridge(t.key)).length, 1);
    // The bridge restarts while the closing order rests.
    await stack.stopBridge();
    await stack.startBridge();
    await monitor();
    await monitor();
    assert.equal((await liveClosingAtBridge(t.key)).length, 1, 'exactly one closing order after the restart');
    await sim({ fill: 'full' });
    const closed = await closeOut(t.id);
    assert.equal(closed.position.exit_reason, 'stop_loss');
    assertRealizedIsFills(closed);
    // Re-pricing never left two live closing orders at the bridge.
    const all = (await bridgeFetch('/orders')).json.orders.filter((o) => o.idempotency_key.startsWith(`${t.key}:x`));
    assert.ok(all.filter((o) => BRIDGE_LIVE.has(o.status)).length === 0);
  });

  test('an injected drift stops entries and pauses the exit until acknowledged; then the time exit closes the third trade', async () => {
    const t = trades.c;
    // A manual trade at the broker: 1 share of the underlying.
    const q = await bridgeFetch(`/quote?symbol=${t.proposal.symbol}`);
    assert.equal(q.status, 200);
    const limit = Math.ceil(q.json.ask * 1.02 * 100) / 100;
    const manual = await bridgeFetch('/orders', {
      method: 'POST',
      body: {
        idempotency_key: 'manual-trade-1',
        legs: [{ instrument: { type: 'stock', symbol: t.proposal.symbol }, action: 'buy', ratio: 1 }],
        quantity: 1,
        limit_price: limit,
        tif: 'day',
      },
    });
    assert.ok([200, 201].includes(manual.status), JSON.stringify(manual.json));
    await monitor();
    let recon = (await stack.api('/reconciliation')).json;
    assert.equal(recon.standing, false, 'one sighting is not yet a drift');
    await monitor();
    recon = (await stack.api('/reconciliation')).json;
    assert.equal(recon.standing, true, JSON.stringify(recon));
    assert.ok(recon.drifts.some((d) => d.kind === 'stock_position'));
    // Entries stop: an approval is refused while the drift stands.
    if (trades.spare) {
      const r = await post(`/proposals/${trades.spare.id}/approve`, {});
      assert.equal(r.status, 409, r.text);
      assert.equal(r.json.error, 'reconciliation_drift');
    }
    // The time exit is due today, but the exit is paused.
    await stack.d1(`UPDATE positions SET exit_plan = json_set(exit_plan, '$.time_exit_date', '${nyToday()}') WHERE id = ${t.id}`);
    await monitor();
    await monitor();
    let d = await detail(t.id);
    assert.equal(d.position.exit_reason, null);
    assert.equal(d.paused_by_drift, true);
    assert.equal(d.marks[0].decision.decision, 'paused');
    assert.equal((await byKey(`${t.key}:x0`)).status, 404);
    // A stale fingerprint is refused; the current one is acknowledged.
    const stale = await post('/reconciliation/ack', { fingerprint: '0000000000000000', note: 'x' });
    assert.equal(stale.status, 409, stale.text);
    const ack = await post('/reconciliation/ack', { fingerprint: recon.fingerprint, note: 'manual hedge, known' });
    assert.equal(ack.status, 200, ack.text);
    assert.equal(ack.json.standing, false);
    await monitor();
    d = await detail(t.id);
    assert.equal(d.position.exit_reason, 'time_exit');
    assert.equal((await byKey(`${t.key}:x0`)).status, 200, 'the closing order went out in that run');
    const closed = await closeOut(t.id);
    assertRealizedIsFills(closed);
    // A manual close of a closed position: 409 with its state; unknown: 404.
    const again = await post(`/positions/${t.id}/close`, {});
    assert.equal(again.status, 409, again.text);
    assert.equal(again.json.position.status, 'closed');
    assert.equal((await post('/positions/999999/close', {})).status, 404);
  });

  test('P&L, orders and the audit log tell the whole week', async () => {
    assert.equal((await openPositions()).length, 0);
    const pnl = (await stack.api('/pnl')).json;
    let sum = 0;
    for (const name of ['a', 'b', 'c']) sum += (await detail(trades[name].id)).position.realized;
    assert.ok(Math.abs(pnl.realized - sum) < 0.011, `${pnl.realized} vs ${sum}`);
    assert.ok(pnl.equity.length > 5);
    assert.ok(pnl.equity.every((e) => typeof e.net_liquidation === 'number'));
    const orders = (await stack.api('/orders')).json.orders;
    assert.ok(orders.filter((o) => o.purpose === 'exit').length >= 3);
    const actions = new Set((await stack.api('/audit?limit=500')).json.entries.map((e) => e.action));
    for (const a of ['position_tracked', 'fills_recorded', 'position_state_changed', 'exit_triggered',
      'exit_order_created', 'order_state_changed', 'order_cancel_requested', 'drift_detected', 'drift_acknowledged']) {
      assert.ok(actions.has(a), `audit lacks ${a}: ${[...actions].join(', ')}`);
    }
    // The Worker's filters: one position's entries (its own and those naming
    // it), one kind, and the next page by `before`.
    const all = (await stack.api('/audit?limit=500')).json.entries;
    const id = String(trades.a.id);
    const mine = (await stack.api(`/audit?limit=500&position=${id}`)).json.entries;
    assert.ok(mine.length > 0 && mine.length < all.length, `${mine.length} of ${all.length}`);
    for (const e of mine) {
      const own = e.entity === 'position' && e.entity_id === id;
      const named = String(e.details?.position_id ?? '') === id;
      assert.ok(own || named, JSON.stringify(e));
    }
    const expected = all.filter((e) => (e.entity === 'position' && e.entity_id === id) || String(e.details?.position_id ?? '') === id);
    assert.deepEqual(mine.map((e) => e.id), expected.map((e) => e.id));
    assert.ok(mine.some((e) => e.action === 'exit_triggered'), 'its exit is in its entries');
    const kind = (await stack.api('/audit?limit=500&action=exit_triggered')).json;
    assert.ok(kind.entries.length >= 3 && kind.entries.every((e) => e.action === 'exit_triggered'));
    assert.ok(kind.actions.includes('drift_acknowledged'));
    assert.equal((await stack.api('/audit?action=not_a_kind')).status, 400);
    const page1 = (await stack.api('/audit?limit=5')).json;
    assert.equal(page1.next_before, page1.entries[4].id);
    const page2 = (await stack.api(`/audit?limit=5&before=${page1.next_before}`)).json;
    assert.deepEqual(page2.entries.map((e) => e.id), all.slice(5, 10).map((e) => e.id));
    const runs = (await stack.api('/monitor/runs?limit=200')).json.runs;
    assert.ok(runs.every((r) => r.status === 'ok'));
    const ms = runs.map((r) => r.ms).filter((x) => typeof x === 'number');
    console.log(`monitor runs: ${runs.length}, ms max ${Math.max(...ms)}, rows max ${Math.max(...runs.map((r) => r.rows_written))}`);
  });
});
