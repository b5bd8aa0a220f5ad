// See scripts/bench-monitor. Loopback only, bounded in time.
//
// Opens BENCH_POSITIONS (default 20) two-leg call spreads on the simulated
// broker (two per watchlist symbol, real fills at the bridge), registers
// them as positions in D1, then fires the position monitor and reports its
// wall time (the /__scheduled call), its own duration and the D1 rows each
// run wrote (D1's rows_written, indexes included).
import { startStack } from '../../tests/lib/stack.mjs';

const POSITIONS = Math.max(1, Number(process.env.BENCH_POSITIONS ?? 20));
const RUNS = Math.max(3, Number(process.env.BENCH_MONITOR_RUNS ?? 10));
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)];
};

const stack = await startStack({
  marketHoursMode: 'ignore',
  bridgeArgs: ['--sim-cash', '1000000'],
});
try {
  const bridge = async (p, body) => {
    const res = await fetch(`${stack.bridgeUrl}${p}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: {
        authorization: `Bearer ${stack.bridgeToken}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(20_000),
    });
    const json = await res.json();
    if (res.status >= 300) throw new Error(`${p}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  };
  const symbols = ['SPY', 'QQQ', 'IWM', 'AAPL', 'MSFT', 'NVDA', 'AMZN', 'GOOGL', 'META', 'TSLA'];
  const now = Date.now();
  for (let i = 0; i < POSITIONS; i += 1) {
    const symbol = symbols[i % symbols.length];
    const chain = await bridge(`/chain?symbol=${symbol}&min_dte=20&max_dte=60&strikes=12`);
    const expiry = chain.expiries[0];
    const calls = expiry.contracts.filter((c) => c.right === 'C' && c.bid > 0.5 && c.ask > c.bid)
      .sort((a, b) => a.strike - b.strike);
    const k = Math.floor(i / symbols.length) * 2;
    const [lo, hi] = [calls[k], calls[k + 1]];
    const mid = (lo.bid + lo.ask) / 2 - (hi.bid + hi.ask) / 2;
    const key = `bench-${symbol}-${i}`;
    const leg = (c, action) => ({
      instrument: { type: 'option', symbol, expiry: expiry.expiry, strike: c.strike, right: 'C' },
      action,
      ratio: 1,
    });
    const placed = await bridge('/orders', {
      idempotency_key: key,
      legs: [leg(lo, 'buy'), leg(hi, 'sell')],
      quantity: 2,
      limit_price: Math.round((mid + 0.10) * 100) / 100,
      tif: 'day',
    });
    const contract = (c) => ({
      symbol, type: 'option', right: 'C', expiry: expiry.expiry, strike: Math.round(c.strike * 1e6),
    });
    const spec = {
      key, symbol, strategy: 'bull_call_debit_spread', units: 2,
      legs: [{ contract: contract(lo), ratio: 1 }, { contract: contract(hi), ratio: -1 }],
    };
    const plan = {
      take_profit: { pnl: 1e6, mark_value: 1e4 }, stop_loss: { pnl: -1e6, mark_value: 0 },
      stop_capped_at_max_loss: false, time_exit_dte: 0, time_exit_date: '2099-01-01',
      trailing_stop_fraction: null,
    };
    const q = (s) => `'${String(s).replaceAll("'", "''")}'`;
    await stack.d1(`INSERT INTO positions (key, proposal_id, symbol, strategy, spec, exit_plan,
      status, exit_state, entry_expires_at, created_at, updated_at)
      VALUES (${q(key)}, ${100000 + i}, ${q(symbol)}, 'bull_call_debit_spread', ${q(JSON.stringify(spec))},
      ${q(JSON.stringify(plan))}, 'pending', '{}', ${now + 86_400_000}, ${now}, ${now})`);
    await stack.d1(`INSERT INTO orders (key, position_id, purpose, quantity, status, limit_micros,
      broker_order_id, created_at, updated_at)
      SELECT ${q(key)}, id, 'entry', 2, 'submitted', ${Math.round(mid * 1e6)}, ${q(placed.order.id)}, ${now}, ${now}
      FROM positions WHERE key = ${q(key)}`);
  }
  const results = [];
  for (let i = 0; i < RUNS; i += 1) {
    const t0 = performance.now();
    const res = await fetch(`${stack.workerUrl}/__scheduled?cron=${encodeURIComponent('* * * * *')}`, {
      signal: AbortSignal.timeout(60_000),
    });
    await res.text();
    const wall = performance.now() - t0;
    const run = (await stack.api('/monitor/runs?limit=1')).json.runs[0];
    if (run.status !== 'ok') throw new Error(`monitor run not ok: ${JSON.stringify(run)}`);
    results.push({ wall, ...run });
  }
  const [first, ...steady] = results;
  console.log(`position monitor, ${POSITIONS} open positions (${symbols.length} symbols), ${RUNS} runs via /__scheduled under wrangler dev --local`);
  console.log(`  first run (records ${POSITIONS * 2} fills): wall ${Math.round(first.wall)} ms, run ${first.ms} ms, rows_written ${first.rows_written}, marks ok ${first.marks_ok}/${first.positions}`);
  console.log(`  steady state (${steady.length} runs): wall median ${Math.round(median(steady.map((r) => r.wall)))} ms, max ${Math.round(Math.max(...steady.map((r) => r.wall)))} ms; `
    + `run median ${median(steady.map((r) => r.ms))} ms; rows_written median ${median(steady.map((r) => r.rows_written))}, max ${Math.max(...steady.map((r) => r.rows_written))}; `
    + `marks ok ${steady.map((r) => r.marks_ok).join(",")}; rows per run ${steady.map((r) => r.rows_written).join(",")}`);
} finally {
  await stack.stop();
}
