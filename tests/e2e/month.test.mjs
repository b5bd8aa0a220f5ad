// End-to-end (issue 14), on one stack, in two tests.
//
// 1. On the first cron after a fresh start (the month's first session), IV rank is known for every
//    watchlist symbol (the IV history backfill runs before the chain step),
//    the data-quality gate finds every simulated symbol live
//    (symbol_quality, /health's data_quality, /symbols/SPY/quality's stored
//    state and since when), and every proposal's rationale cites the IV rank
//    it used with the days it rests on.
// 2. The rest of a simulated month driven through the real Worker's crons over local
//    D1: the bridge's simulated clock starts at the month's first session
//    (`--sim-start`) and is moved to 10:00 New York of each session
//    (`POST /sim/clock`); the 15-minute cron is fired with that scheduled
//    time, which the Worker goes by under CRON_CLOCK=scheduled (with
//    MARKET_HOURS_MODE=enforce, so the market-hours gate reads it too).
//    Proposals include credit spreads and iron condors as well as debit
//    trades, each citing its IV rank; the report prints realized vs implied
//    vol per symbol, the IV rank distribution and proposals by strategy.
//    (The same month natively: sim-market/tests/month.rs.)
// Run: SAS_BRIDGE_BIN=target/debug/broker-bridge node_modules/.bin/node --test tests/e2e/month.test.mjs

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { startStack } from '../lib/stack.mjs';

const WATCHLIST = ['AAPL', 'MSFT', 'NVDA', 'AMZN', 'GOOGL', 'META', 'TSLA', 'SPY', 'QQQ', 'IWM'];

/** The month's sessions: NYSE trading days from 2026-11-02 (no holiday
 *  but Thanksgiving, 2026-11-26, in it), at 10:00 New York (15:00 UTC in
 *  November, after the DST change of 2026-11-01). */
function monthSessions(count) {
  const out = [];
  const closed = new Set(['2026-11-26']);
  for (let d = Date.UTC(2026, 10, 2); out.length < count; d += 86_400_000) {
    const day = new Date(d);
    const wd = day.getUTCDay();
    const iso = day.toISOString().slice(0, 10);
    if (wd === 0 || wd === 6 || closed.has(iso)) continue;
    out.push({ date: iso, at: d + 15 * 3_600_000 });
  }
  return out;
}

describe('a fresh start, then a simulated month through the real crons', () => {
  const SESSIONS = monthSessions(21);
  let stack;

  const bridgePost = async (p, body) => {
    const res = await fetch(`${stack.bridgeUrl}${p}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.bridgeToken}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
    return { status: res.status, json: await res.json().catch(() => null) };
  };

  before(async () => {
    // Every symbol's year of IV history in the first run (10 distinct
    // contracts break no pacing rule).
    stack = await startStack({
      marketHoursMode: 'enforce',
      vars: { CRON_CLOCK: 'scheduled', IV_BACKFILL_PER_RUN: '10' },
      bridgeArgs: ['--sim-start', new Date(SESSIONS[0].at - 15 * 60_000).toISOString()],
    });
  });
  after(async () => {
    await stack?.stop();
  });

  test('IV rank is known for every watchlist symbol on the first cron', async () => {
    const first = SESSIONS[0];
    const moved = await bridgePost('/sim/clock', { at: new Date(first.at).toISOString() });
    assert.equal(moved.status, 200, JSON.stringify(moved.json));
    const run = await stack.fireCron({ time: first.at });
    assert.equal(run.status, 'ok', JSON.stringify(run));
    assert.equal(run.started_at.slice(0, 10), first.date, JSON.stringify(run));
    const rows = await stack.d1(
      `SELECT symbol, iv_rank, iv_history_days FROM underlying_metrics_intraday
        WHERE ts = (SELECT MAX(ts) FROM underlying_metrics_intraday m WHERE m.symbol = underlying_metrics_intraday.symbol)
        ORDER BY symbol`,
    );
    assert.deepEqual(rows.map((r) => r.symbol), [...WATCHLIST].sort());
    for (const r of rows) {
      assert.ok(r.iv_rank !== null && r.iv_rank >= 0 && r.iv_rank <= 100, JSON.stringify(r));
      assert.ok(r.iv_history_days >= 200, `rests on a year of IB/sim closes: ${JSON.stringify(r)}`);
    }
    console.log(`first cron IV ranks: ${rows.map((r) => `${r.symbol}=${r.iv_rank.toFixed(0)}(${r.iv_history_days}d)`).join(' ')}`);

    // The gate's verdicts: every simulated symbol live, since this run.
    const quality = await stack.d1('SELECT symbol, state, since_ms, checked_ms, reasons_json FROM symbol_quality ORDER BY symbol');
    assert.deepEqual(quality.map((q) => q.symbol), [...WATCHLIST].sort());
    for (const q of quality) {
      assert.equal(q.state, 'live', JSON.stringify(q));
      assert.equal(q.since_ms, q.checked_ms);
      assert.equal(q.reasons_json, '[]');
    }
    const health = await stack.api('/health', { auth: false });
    assert.equal(health.status, 200);
    const dq = health.json.data_quality;
    assert.deepEqual(
      { live: dq.live, delayed: dq.delayed, failing: dq.failing, unknown: dq.unknown },
      { live: 10, delayed: 0, failing: 0, unknown: 0 },
      health.text,
    );
    for (const s of WATCHLIST) assert.ok(!health.text.includes(`"${s}"`), 'no symbol names on the public /health');

    // One symbol's stored state on /symbols/{s}/quality: live, since this run.
    const spy = quality.find((q) => q.symbol === 'SPY');
    const report = await stack.api('/symbols/SPY/quality');
    assert.equal(report.status, 200, report.text);
    const stored = report.json.stored;
    assert.equal(stored.state, 'live', report.text);
    assert.equal(stored.since_ms, spy.since_ms);
    assert.equal(Date.parse(stored.since), spy.since_ms);
    assert.equal(stored.checked_ms, spy.checked_ms);
    assert.deepEqual(stored.reasons, []);
    assert.ok(stored.held_secs >= 0 && stored.kept_contracts > 0, report.text);
    assert.equal(stored.note, null);
    console.log(`SPY stored quality: ${stored.state} since ${stored.since} (${stored.kept_contracts}/${stored.input_contracts} contracts kept)`);

    // Proposals of this run cite the IV rank they used and its days.
    const proposals = await stack.api('/proposals?limit=50');
    assert.equal(proposals.status, 200, proposals.text);
    const list = proposals.json.proposals ?? [];
    assert.ok(list.length > 0, 'the first session proposes');
    for (const p of list) {
      assert.match(p.rationale, /IV rank \d+ \(over \d+ days\)/, p.rationale);
    }
    console.log(`first cron proposals: ${list.map((p) => p.strategy).join(', ') || 'none'}`);
  });

  test('21 sessions of crons: credit spreads, iron condors and debit trades, each citing its IV rank', async () => {
    const t0 = Date.now();
    for (const s of SESSIONS.slice(1)) {
      const moved = await bridgePost('/sim/clock', { at: new Date(s.at).toISOString() });
      assert.equal(moved.status, 200, `${s.date}: ${JSON.stringify(moved.json)}`);
      const run = await stack.fireCron({ time: s.at });
      assert.ok(run, `${s.date}: no run recorded`);
      assert.equal(run.started_at.slice(0, 10), s.date, `the run goes by the scheduled time: ${JSON.stringify(run)}`);
      assert.equal(run.status, 'ok', `${s.date}: ${JSON.stringify(run)}`);
    }
    const cronSecs = (Date.now() - t0) / 1000;

    // One row per symbol and session, each with its IV rank on a year.
    const daily = await stack.d1(
      'SELECT symbol, date, spot, atm_iv_30d, iv_rank, iv_history_days, rv_20d FROM underlying_metrics_daily ORDER BY symbol, date',
    );
    const dates = [...new Set(daily.map((r) => r.date))].sort();
    assert.deepEqual(dates, SESSIONS.map((s) => s.date));
    assert.equal(daily.length, SESSIONS.length * WATCHLIST.length);
    for (const r of daily) {
      assert.ok(r.iv_rank !== null && r.iv_history_days >= 200, JSON.stringify(r));
    }
    // One market: prices move from session to session (they are not
    // re-seeded at the same level every day) and by no more than a
    // session's worth.
    for (const sym of WATCHLIST) {
      const spots = daily.filter((r) => r.symbol === sym).map((r) => r.spot);
      assert.ok(new Set(spots.map((x) => x.toFixed(2))).size > SESSIONS.length / 2, `${sym} moves: ${spots}`);
      for (let i = 1; i < spots.length; i += 1) {
        const jump = Math.abs(Math.log(spots[i] / spots[i - 1]));
        assert.ok(jump < 0.25, `${sym} ${dates[i]}: ${spots[i - 1]} -> ${spots[i]}`);
      }
    }

    const proposals = await stack.d1('SELECT strategy, trade_date, rationale FROM proposals ORDER BY id');
    const byStrategy = {};
    for (const p of proposals) byStrategy[p.strategy] = (byStrategy[p.strategy] ?? 0) + 1;
    for (const p of proposals) {
      assert.match(p.rationale, /IV rank \d+ \(over \d+ days\)/, p.rationale);
    }
    const has = (...names) => names.some((n) => byStrategy[n] > 0);
    assert.ok(has('bull_put_credit_spread', 'bear_call_credit_spread'), `credit spreads: ${JSON.stringify(byStrategy)}`);
    assert.ok(has('iron_condor'), `iron condors: ${JSON.stringify(byStrategy)}`);
    assert.ok(
      has('bull_call_debit_spread', 'bear_put_debit_spread', 'long_call', 'long_put', 'call_calendar', 'put_calendar'),
      `debit trades: ${JSON.stringify(byStrategy)}`,
    );
    assert.ok(new Set(proposals.map((p) => p.trade_date)).size >= SESSIONS.length / 2, 'proposals across the month');

    // The report.
    const ranks = daily.map((r) => r.iv_rank);
    const bucket = (lo, hi) => ranks.filter((x) => x >= lo && (x < hi || (hi === 100 && x <= 100))).length;
    console.log(`month: ${SESSIONS.length} sessions ${dates[0]}..${dates[dates.length - 1]}, ${WATCHLIST.length} symbols, crons in ${cronSecs.toFixed(1)} s`);
    console.log(`IV rank distribution over ${ranks.length} symbol-days: ${[0, 20, 40, 60, 80].map((lo) => `${lo}-${lo + 20}: ${bucket(lo, lo + 20)}`).join(', ')}`);
    // Realized vs implied (both stored as fractions; printed in vol points).
    let ivOverRv = 0;
    let both = 0;
    for (const sym of WATCHLIST) {
      const rows = daily.filter((r) => r.symbol === sym && r.rv_20d !== null && r.atm_iv_30d !== null);
      const iv = (100 * rows.reduce((a, r) => a + r.atm_iv_30d, 0)) / rows.length;
      const rv = (100 * rows.reduce((a, r) => a + r.rv_20d, 0)) / rows.length;
      ivOverRv += rows.filter((r) => r.atm_iv_30d > r.rv_20d).length;
      both += rows.length;
      console.log(`  ${sym.padEnd(5)} IV ${iv.toFixed(1)} RV ${rv.toFixed(1)} (IV-RV ${(iv - rv).toFixed(1)} points), spot ${rows[0]?.spot} -> ${rows[rows.length - 1]?.spot}`);
    }
    console.log(`IV above RV on ${ivOverRv} of ${both} symbol-days`);
    assert.ok(ivOverRv > both / 2, 'implied usually a little above realized');
    console.log(`proposals: ${proposals.length} ${JSON.stringify(byStrategy)}`);
    const condors = await stack.d1("SELECT symbol, trade_date FROM proposals WHERE strategy = 'iron_condor' ORDER BY id");
    console.log(`iron condors: ${condors.map((c) => `${c.symbol} ${c.trade_date}`).join(', ')}`);
  });
});
