// End-to-end tests of the option-chain step (issue 3, Worker side): the real
// broker bridge (simulated market) behind a small fault-injecting loopback
// proxy, the Worker under `wrangler dev --local`, local D1.
// Run after scripts/build: node_modules/.bin/node --test tests/e2e/chains.test.mjs

import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';

import { freePort, startStack } from '../lib/stack.mjs';

const WATCHLIST = ['AAPL', 'MSFT', 'NVDA', 'AMZN', 'GOOGL', 'META', 'TSLA', 'SPY', 'QQQ', 'IWM'];
const WRITE_BUDGET = 5000;
const PACKED_COLUMNS = 11;

/**
 * Loopback proxy in front of the bridge. `mode` decides per request:
 * 'pass', 'down' (sockets destroyed, like a dead bridge), or a function
 * (url) => 'pass' | { status } | { delayMs }.
 */
async function startFaultProxy() {
  const state = { target: null, mode: 'pass', chainRequests: [] };
  const server = http.createServer((req, res) => {
    if (req.url.startsWith('/chain')) state.chainRequests.push(req.url);
    const decision = typeof state.mode === 'function' ? state.mode(req.url) : state.mode;
    if (decision === 'down' || !state.target) {
      req.socket.destroy();
      return;
    }
    if (decision?.status) {
      res.writeHead(decision.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'injected', message: 'injected failure' }));
      return;
    }
    const forward = () => {
      const upstream = http.request(
        `${state.target}${req.url}`,
        { method: req.method, headers: req.headers },
        (up) => {
          res.writeHead(up.statusCode, up.headers);
          up.pipe(res);
        },
      );
      upstream.on('error', () => req.socket.destroy());
      req.pipe(upstream);
    };
    if (decision?.delayMs) setTimeout(forward, decision.delayMs);
    else forward();
  });
  const port = await freePort();
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${port}`, state, close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }) };
}

const count = async (stack, sql) => (await stack.d1(sql))[0].n;

async function runDetails(stack, id) {
  const [row] = await stack.d1(
    `SELECT status, symbols_ok, symbols_failed, rows_written, chain_symbols_ok, chain_symbols_failed,
            chain_failures, rows_by_table, contract_skips, duration_ms, error
       FROM ingest_runs WHERE id = ${Number(id)}`,
  );
  return {
    ...row,
    chain_failures: row.chain_failures ? JSON.parse(row.chain_failures) : null,
    rows_by_table: row.rows_by_table ? JSON.parse(row.rows_by_table) : null,
    contract_skips: row.contract_skips ? JSON.parse(row.contract_skips) : null,
  };
}

describe('option chains, analytics and the D1 write budget', () => {
  let stack;
  let proxy;
  const runs = [];

  before(async () => {
    proxy = await startFaultProxy();
    // IB's IV history backfill (tests/e2e/iv + worker iv_history tests) is off
    // here: this suite measures the chain step and its write budget alone.
    stack = await startStack({ marketHoursMode: 'ignore', vars: { BRIDGE_URL: proxy.url, IV_BACKFILL_PER_RUN: '0' } });
    proxy.state.target = stack.bridgeUrl;
  });
  after(async () => {
    await stack?.stop();
    await proxy?.close();
  });

  test("hot tables have no secondary index but the archive's export order", async () => {
    // Migration 0007: the Postgres archive pages chains and intraday metrics
    // in (ts, ...) order; that index is the one extra row each insert pays
    // (docs/d1-write-budget.md, docs/archive.md). Nothing else.
    const indexes = await stack.d1(
      `SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL
         AND tbl_name IN ('chain_snapshots', 'underlying_metrics_intraday', 'underlying_metrics_daily', 'daily_bars')
         ORDER BY name`,
    );
    assert.deepEqual(indexes, [
      { name: 'chain_snapshots_export', tbl_name: 'chain_snapshots' },
      { name: 'underlying_metrics_intraday_export', tbl_name: 'underlying_metrics_intraday' },
    ]);
  });

  test('first cron run: chains packed per expiry, metrics, bootstrapped bars, under budget', async () => {
    const t0 = Date.now();
    const run = await stack.fireCron();
    const wallMs = Date.now() - t0;
    assert.equal(run.status, 'ok', JSON.stringify(run));
    const d = await runDetails(stack, run.id);
    runs.push({ ...d, wallMs });
    assert.equal(d.chain_symbols_ok, 10, JSON.stringify(d));
    assert.equal(d.chain_symbols_failed, 0);
    assert.ok(d.rows_written < WRITE_BUDGET, `rows_written ${d.rows_written}`);
    // rows_written = 10 quote rows + the chain step's rows + 1 (run update).
    assert.equal(d.rows_written, 10 + d.rows_by_table.chain_total + 1, JSON.stringify(d.rows_by_table));
    assert.equal(d.rows_by_table.tables.daily_bars, 10, 'one packed bar row per symbol');
    assert.ok(d.duration_ms > 0);
    console.log(`first run: rows_written=${d.rows_written} by_table=${JSON.stringify(d.rows_by_table)} duration_ms=${d.duration_ms} wall_ms=${wallMs}`);

    // One chain row per (symbol, expiry), contracts packed as JSON arrays.
    const snaps = await stack.d1('SELECT symbol, ts, expiry, dte, forward, atm_iv, contracts_json FROM chain_snapshots ORDER BY symbol, expiry');
    assert.deepEqual([...new Set(snaps.map((r) => r.symbol))], [...WATCHLIST].sort());
    let contracts = 0;
    for (const r of snaps) {
      assert.ok(r.dte >= 7 && r.dte <= 60, JSON.stringify({ ...r, contracts_json: undefined }));
      assert.ok(r.forward > 0);
      const packed = JSON.parse(r.contracts_json);
      assert.ok(packed.length > 0 && packed.length <= 40, `${r.symbol} ${r.expiry}: ${packed.length}`);
      for (const c of packed) {
        assert.equal(c.length, PACKED_COLUMNS);
        assert.ok(c[0] > 0 && (c[1] === 'C' || c[1] === 'P') && c[3] > 0 && Math.abs(c[4]) <= 1, JSON.stringify(c));
      }
      contracts += packed.length;
    }
    // One row per (symbol, expiry) plus its export-order index entry.
    assert.equal(d.rows_by_table.tables.chain_snapshots, 2 * snaps.length);
    assert.ok(contracts > 5 * snaps.length, `${contracts} contracts in ${snaps.length} rows`);
    console.log(`chain rows=${snaps.length} holding ${contracts} valued contracts; skips=${JSON.stringify(d.contract_skips)}`);

    const intraday = await stack.d1('SELECT symbol, spot, atm_iv_30d, iv_history_days, rv_20d, metrics_json FROM underlying_metrics_intraday ORDER BY symbol');
    assert.equal(intraday.length, 10);
    for (const m of intraday) {
      assert.ok(m.atm_iv_30d > 0.02 && m.atm_iv_30d < 3, JSON.stringify(m));
      assert.ok(m.rv_20d > 0, 'realized vol from the bootstrapped bars');
      assert.equal(m.iv_history_days, 0, 'no IV history on the first day');
      const all = JSON.parse(m.metrics_json);
      assert.ok(all.rv_10d > 0 && all.rv_yang_zhang_20d > 0 && typeof all.gex_per_1pct === 'number');
    }
    assert.equal(await count(stack, 'SELECT COUNT(*) AS n FROM underlying_metrics_daily'), 10);
    const bars = await stack.d1('SELECT symbol, bar_count, last_date FROM daily_bars');
    assert.equal(bars.length, 10);
    for (const b of bars) assert.ok(b.bar_count >= 250, JSON.stringify(b));
  });

  test('second run: only a few days of history fetched, daily row upserted, still under budget', async () => {
    proxy.state.chainRequests = [];
    const barsBefore = await stack.d1('SELECT symbol, updated_at FROM daily_bars ORDER BY symbol');
    const t0 = Date.now();
    const run = await stack.fireCron();
    const wallMs = Date.now() - t0;
    assert.equal(run.status, 'ok', JSON.stringify(run));
    const d = await runDetails(stack, run.id);
    runs.push({ ...d, wallMs });
    assert.ok(d.rows_written < WRITE_BUDGET);
    assert.equal(d.rows_by_table.tables.daily_bars ?? 0, 0, 'bars unchanged: not rewritten');
    assert.deepEqual(await stack.d1('SELECT symbol, updated_at FROM daily_bars ORDER BY symbol'), barsBefore);
    assert.equal(await count(stack, 'SELECT COUNT(*) AS n FROM underlying_metrics_daily'), 10, 'upserted, not added');
    assert.equal(await count(stack, 'SELECT COUNT(*) AS n FROM underlying_metrics_intraday'), 20);
    // Each watchlist symbol's chain was asked for once with the default
    // window (other cron steps may ask the bridge for chains of their own).
    for (const s of WATCHLIST) {
      const mine = proxy.state.chainRequests.filter((u) => u === `/chain?symbol=${s}&min_dte=7&max_dte=60&strikes=20`);
      assert.equal(mine.length, 1, `${s}: ${JSON.stringify(proxy.state.chainRequests)}`);
    }
    console.log(`steady-state run: rows_written=${d.rows_written} by_table=${JSON.stringify(d.rows_by_table)} duration_ms=${d.duration_ms} wall_ms=${wallMs}`);
  });

  test('IV rank appears once daily ATM-IV history exists, with its day count', async () => {
    // Seed 30 earlier trading days of SPY ATM IV (as earlier runs would have stored).
    const [{ date: today }] = await stack.d1("SELECT date FROM underlying_metrics_daily WHERE symbol = 'SPY'");
    const values = [];
    for (let i = 1; i <= 30; i++) {
      const iv = 0.10 + 0.01 * (i % 10);
      values.push(`('SPY', date('${today}', '-${i} days'), ${i}, 500, ${iv}, 0, '{}', '{}', '{}')`);
    }
    await stack.d1(
      `INSERT INTO underlying_metrics_daily (symbol, date, ts, spot, atm_iv_30d, iv_history_days, skips_json, metrics_json, factors_json)
       VALUES ${values.join(',')}`,
    );
    const run = await stack.fireCron();
    assert.equal(run.status, 'ok');

    const res = await stack.api('/symbols/SPY/metrics?days=60');
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.symbol, 'SPY');
    assert.equal(res.json.interval, 'daily');
    assert.equal(res.json.iv_history_target, 252);
    const latest = res.json.metrics.at(-1);
    assert.equal(latest.date, today);
    assert.equal(latest.iv_history_days, 31);
    assert.ok(latest.iv_rank >= 0 && latest.iv_rank <= 100, JSON.stringify(latest));
    assert.ok(latest.iv_percentile >= 0 && latest.iv_percentile <= 100);
    assert.equal(res.json.metrics.length, 31, 'seeded days + today');
    for (const key of ['atm_iv_30d', 'rv_10', 'rv_20', 'rv_30', 'rv_yz', 'iv_rv_spread', 'skew_25d', 'term_slope',
      'volume_z', 'momentum', 'pc_oi_ratio', 'gex', 'dex']) {
      assert.equal(typeof latest[key], 'number', `${key}: ${JSON.stringify(latest[key])}`);
    }
    // Option volume is zero outside the session in the simulator: the ratio
    // is then null rather than a made-up number.
    assert.ok('pc_volume_ratio' in latest && (latest.pc_volume_ratio === null || latest.pc_volume_ratio > 0));
    console.log(`SPY latest metrics: ${JSON.stringify({ ...latest, skips: undefined, momentum_detail: undefined })}`);

    const opp = await stack.api('/search/opportunities?limit=10');
    assert.equal(opp.status, 200, opp.text);
    assert.equal(opp.json.scoring, 'multi_factor');
    assert.equal(opp.json.opportunities.length, 10);
    const spy = opp.json.opportunities.find((o) => o.symbol === 'SPY');
    assert.equal(spy.iv_history_days, 31);
    const ivFactor = spy.factors.find((f) => f.name === 'iv_rank');
    assert.equal(ivFactor.raw, latest.iv_rank);
    assert.ok(ivFactor.normalized !== null && ivFactor.contribution >= 0);
    assert.match(ivFactor.label, /only 31 of 252 days/);
    const other = opp.json.opportunities.find((o) => o.symbol === 'QQQ');
    assert.match(other.factors.find((f) => f.name === 'iv_rank').label, /no IV history yet/);
  });

  test('opportunities: multi-factor ranking with the factor breakdown', async () => {
    const res = await stack.api('/search/opportunities');
    assert.equal(res.status, 200);
    const ops = res.json.opportunities;
    assert.ok(res.json.as_of);
    assert.deepEqual(res.json.weights, { realized_vol: 2, range: 1, iv_rank: 2, volume: 1.5, momentum: 1 });
    for (const [i, o] of ops.entries()) {
      assert.equal(o.rank, i + 1);
      if (i > 0) assert.ok(ops[i - 1].score >= o.score);
      assert.ok(o.score >= 0 && o.score <= 100);
      assert.ok(o.last > 0 && o.observations >= 3 && o.metrics_as_of);
      assert.deepEqual(o.factors.map((f) => f.name), ['realized_vol', 'range', 'iv_rank', 'volume', 'momentum']);
      for (const f of o.factors) {
        for (const k of ['name', 'label', 'raw', 'normalized', 'weight', 'contribution']) assert.ok(k in f, k);
      }
      const sum = o.factors.reduce((a, f) => a + f.contribution, 0);
      assert.ok(Math.abs(sum - o.score) < 1e-9, `${o.symbol}: ${sum} vs ${o.score}`);
      assert.ok(o.factors.find((f) => f.name === 'realized_vol').normalized !== null);
    }
  });

  test('latest chain snapshot and metrics routes; bad input is 400, unknown is 404', async () => {
    const chain = await stack.api('/symbols/AAPL/chain');
    assert.equal(chain.status, 200, chain.text);
    assert.equal(chain.json.symbol, 'AAPL');
    assert.ok(chain.json.spot > 0 && chain.json.expiries.length > 0);
    const c = chain.json.expiries[0].contracts[0];
    for (const k of ['strike', 'right', 'mid', 'iv', 'delta', 'gamma', 'theta_per_day', 'vega_per_point', 'rho_per_point', 'volume', 'open_interest']) {
      assert.ok(k in c, k);
    }
    const intraday = await stack.api('/symbols/aapl/metrics?days=1&interval=intraday');
    assert.equal(intraday.status, 200);
    assert.equal(intraday.json.metrics.length, 3, 'one point per run');
    assert.ok(intraday.json.metrics.every((p) => p.t && !('date' in p)));

    for (const [path, status, code] of [
      ['/symbols/%24%24/metrics', 400, 'bad_request'],
      ['/symbols/SPY/metrics?days=0', 400, 'bad_request'],
      ['/symbols/SPY/metrics?days=abc', 400, 'bad_request'],
      ['/symbols/SPY/metrics?interval=weekly', 400, 'bad_request'],
      ['/symbols/SPY/chain?x=1', 400, 'bad_request'],
      ['/symbols/ZZZZ/metrics', 404, 'unknown_symbol'],
      ['/symbols/ZZZZ/chain', 404, 'unknown_symbol'],
      ['/symbols/SPY/greeks', 404, 'not_found'],
    ]) {
      const res = await stack.api(path);
      assert.equal(res.status, status, `${path}: ${res.text}`);
      assert.equal(res.json.error, code, path);
      assert.equal(typeof res.json.message, 'string');
    }
    const anon = await stack.api('/symbols/%24%24/metrics', { auth: false });
    assert.equal(anon.status, 401, 'auth before parameters');
  });

  test('a failing or slow chain fails only its symbol, which writes nothing', async () => {
    const before = {
      nvda: await count(stack, "SELECT COUNT(*) AS n FROM underlying_metrics_intraday WHERE symbol = 'NVDA'"),
      tsla: await count(stack, "SELECT COUNT(*) AS n FROM underlying_metrics_intraday WHERE symbol = 'TSLA'"),
      nvdaChains: await count(stack, "SELECT COUNT(*) AS n FROM chain_snapshots WHERE symbol = 'NVDA'"),
    };
    proxy.state.mode = (url) => {
      if (url.startsWith('/chain?symbol=NVDA')) return { status: 503 };
      if (url.startsWith('/chain?symbol=TSLA')) return { delayMs: 4500 }; // > BRIDGE_TIMEOUT_MS 3000
      return 'pass';
    };
    try {
      const run = await stack.fireCron();
      assert.equal(run.status, 'partial', JSON.stringify(run));
      const d = await runDetails(stack, run.id);
      assert.equal(d.chain_symbols_ok, 8);
      assert.equal(d.chain_symbols_failed, 2);
      // The run's own counters include symbols whose chain step failed.
      assert.equal(run.symbols_ok, 8);
      assert.equal(run.symbols_failed, 2);
      assert.match(d.chain_failures.NVDA, /HTTP 503/);
      assert.match(d.chain_failures.TSLA, /did not answer within 3000 ms/);
      assert.match(run.error, /chains failed: .*NVDA/);
      assert.equal(await count(stack, "SELECT COUNT(*) AS n FROM underlying_metrics_intraday WHERE symbol = 'NVDA'"), before.nvda);
      assert.equal(await count(stack, "SELECT COUNT(*) AS n FROM underlying_metrics_intraday WHERE symbol = 'TSLA'"), before.tsla);
      assert.equal(await count(stack, "SELECT COUNT(*) AS n FROM chain_snapshots WHERE symbol = 'NVDA'"), before.nvdaChains);
      assert.ok(d.rows_written < WRITE_BUDGET);
    } finally {
      proxy.state.mode = 'pass';
    }
  });

  test('bridge down: failed run, no chain or metric rows written', async () => {
    const tables = ['chain_snapshots', 'underlying_metrics_intraday', 'underlying_metrics_daily', 'daily_bars'];
    const before = {};
    for (const t of tables) before[t] = await count(stack, `SELECT COUNT(*) AS n FROM ${t}`);
    proxy.state.mode = 'down';
    try {
      const run = await stack.fireCron();
      assert.equal(run.status, 'failed', JSON.stringify(run));
      const d = await runDetails(stack, run.id);
      assert.equal(d.rows_written, 0);
      assert.equal(d.chain_symbols_ok, 0);
      for (const t of tables) assert.equal(await count(stack, `SELECT COUNT(*) AS n FROM ${t}`), before[t], t);
    } finally {
      proxy.state.mode = 'pass';
    }
    const recovered = await stack.fireCron();
    assert.equal(recovered.status, 'ok');
  });

  after(() => {
    if (runs.length) {
      console.log(`write budget: ${runs.map((r) => `rows_written=${r.rows_written} (duration_ms=${r.duration_ms}, wall_ms=${r.wallMs})`).join('; ')}`);
    }
  });
});
