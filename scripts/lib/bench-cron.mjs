// See scripts/bench-cron. Loopback only, bounded in time.
import { CRON, startStack } from '../../tests/lib/stack.mjs';

const RUNS = Math.max(2, Number(process.env.BENCH_CRON_RUNS ?? 8));
const CONCURRENCY = (process.env.BENCH_CONCURRENCY ?? '4').split(/\s+/).filter(Boolean);

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)];
};
const ms = (x) => `${Math.round(x)} ms`;

for (const concurrency of CONCURRENCY) {
  const stack = await startStack({ marketHoursMode: 'ignore', vars: { CHAIN_CONCURRENCY: concurrency } });
  try {
    const results = [];
    for (let i = 0; i < RUNS; i += 1) {
      const t0 = performance.now();
      const res = await fetch(`${stack.workerUrl}/__scheduled?cron=${encodeURIComponent(CRON)}`, {
        signal: AbortSignal.timeout(120_000),
      });
      await res.text();
      const wall = performance.now() - t0;
      if (res.status !== 200) throw new Error(`/__scheduled answered ${res.status}`);
      const [run] = await stack.d1(
        `SELECT id, status, rows_written, chain_symbols_ok, chain_symbols_failed, rows_by_table, duration_ms
           FROM ingest_runs ORDER BY id DESC LIMIT 1`,
      );
      if (run.status !== 'ok') throw new Error(`run not ok: ${JSON.stringify(run)}`);
      results.push({ wall, ...run, byTable: JSON.parse(run.rows_by_table) });
    }
    const [{ n: contracts }] = await stack.d1(
      `SELECT SUM(json_array_length(contracts_json)) AS n FROM chain_snapshots AS c
         WHERE ts = (SELECT MAX(ts) FROM chain_snapshots WHERE symbol = c.symbol)`,
    );
    const [{ n: expiryRows }] = await stack.d1(
      `SELECT COUNT(*) AS n FROM chain_snapshots AS c
         WHERE ts = (SELECT MAX(ts) FROM chain_snapshots WHERE symbol = c.symbol)`,
    );
    const first = results[0];
    const steady = results.slice(1);
    console.log(`CHAIN_CONCURRENCY=${concurrency}, ${RUNS} cron runs via /__scheduled, watchlist of ${first.chain_symbols_ok} symbols`);
    console.log(`  first run (bootstrap ~300 daily bars/symbol): wall ${ms(first.wall)}, run duration_ms ${first.duration_ms}, rows_written ${first.rows_written} ${JSON.stringify(first.byTable.tables)}`);
    console.log(`  steady state (${steady.length} runs): wall median ${ms(median(steady.map((r) => r.wall)))}, max ${ms(Math.max(...steady.map((r) => r.wall)))}; `
      + `duration_ms median ${median(steady.map((r) => r.duration_ms))}; rows_written median ${median(steady.map((r) => r.rows_written))}, max ${Math.max(...steady.map((r) => r.rows_written))}`);
    console.log(`  last snapshot: ${expiryRows} chain rows holding ${contracts} valued contracts; rows counted by ${first.byTable.source}`);
  } finally {
    await stack.stop();
  }
}
