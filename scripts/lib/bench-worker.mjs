// See scripts/bench-worker. Loopback only, bounded in time.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

import { startStack } from '../../tests/lib/stack.mjs';

const run = promisify(execFile);
const INGESTS = Number(process.env.BENCH_INGESTS ?? 24);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const SEED_DAYS = Number(process.env.BENCH_SEED_DAYS ?? 10);
const CONNECTIONS = (process.env.BENCH_CONNECTIONS ?? '1 4').split(/\s+/).filter(Boolean).map(Number);

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
const ms = (x) => `${x.toFixed(1)} ms`;

function parseWrkMs(text) {
  const toMs = (v, unit) => Number(v) * ({ us: 0.001, ms: 1, s: 1000 }[unit] ?? NaN);
  const get = (label) => {
    const m = text.match(new RegExp(`\\s${label}%\\s+([\\d.]+)(us|ms|s)`));
    return m ? toMs(m[1], m[2]) : NaN;
  };
  const rps = Number((text.match(/Requests\/sec:\s+([\d.]+)/) ?? [])[1]);
  const non2xx = Number((text.match(/Non-2xx or 3xx responses:\s+(\d+)/) ?? [0, 0])[1]);
  return { p50: get('50'), p90: get('90'), p99: get('99'), rps, non2xx };
}

async function nodeLoop(url, token, seconds) {
  const lat = [];
  const end = Date.now() + seconds * 1000;
  while (Date.now() < end) {
    const t0 = performance.now();
    const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`status ${res.status}`);
    lat.push(performance.now() - t0);
  }
  lat.sort((a, b) => a - b);
  return { p50: pct(lat, 50), p90: pct(lat, 90), p99: pct(lat, 99), rps: lat.length / seconds, non2xx: 0 };
}

const stack = await startStack({ marketHoursMode: 'ignore' });
try {
  console.log(`stack: worker ${stack.workerUrl}, bridge ${stack.bridgeUrl}`);
  const cron = [];
  for (let i = 0; i < 5; i += 1) {
    const t0 = performance.now();
    const r = await stack.fireCron();
    cron.push(performance.now() - t0);
    if (r?.status !== 'ok') throw new Error(`cron run not ok: ${JSON.stringify(r)}`);
  }
  cron.sort((a, b) => a - b);
  console.log(`cron run wall time (5 runs via /__scheduled): median ${ms(pct(cron, 50))}, max ${ms(cron[cron.length - 1])}`);

  const manual = [];
  for (let i = 0; i < INGESTS; i += 1) {
    const t0 = performance.now();
    const r = await stack.api('/ingest/market', { method: 'POST' });
    manual.push(performance.now() - t0);
    if (r.status !== 200 || r.json.status !== 'ok') throw new Error(`ingest failed: ${r.text}`);
  }
  manual.sort((a, b) => a - b);
  console.log(`manual ingest (POST /ingest/market, ${INGESTS} runs): median ${ms(pct(manual, 50))}, p90 ${ms(pct(manual, 90))}`);
  // Fill the retention window like production would: 26 snapshots per
  // session (every 15 min, 14:30-20:45 UTC) for SEED_DAYS days, around each
  // symbol's latest price. Bench data only.
  if (SEED_DAYS > 0) {
    await stack.d1(`WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ${SEED_DAYS * 96 - 1}),
      slots AS (SELECT (CAST(strftime('%s', 'now') AS INTEGER) * 1000 / 900000 - ${SEED_DAYS * 96} + i) * 900000 AS t FROM n),
      base AS (SELECT symbol, last, data_type FROM market_data m WHERE ts = (SELECT MAX(ts) FROM market_data WHERE symbol = m.symbol)),
      gen AS MATERIALIZED (SELECT b.symbol AS symbol, s.t AS t, b.data_type AS data_type,
        b.last * (1 + (ABS(RANDOM()) % 401 - 200) / 100000.0) AS p
        FROM base b, slots s WHERE (s.t / 900000) % 96 BETWEEN 58 AND 83)
      INSERT OR IGNORE INTO market_data (symbol, ts, bid, ask, last, volume, data_type)
      SELECT symbol, t, p - 0.01, p + 0.01, p, ((t / 900000) % 96 - 57) * 250000, data_type FROM gen`.replace(/\s+/g, ' '));
  }
  const rows = (await stack.d1('SELECT COUNT(*) AS n FROM market_data'))[0].n;
  console.log(`market_data rows: ${rows}`);

  const url = `${stack.workerUrl}/search/opportunities?limit=10`;
  const check = await stack.api('/search/opportunities?limit=10');
  console.log(`opportunities: ${check.json.opportunities.length} ranked, ${check.text.length} bytes`);
  // Warm up.
  await nodeLoop(url, stack.apiToken, 1);

  let haveWrk = true;
  try { await run('wrk', ['--version']).catch((e) => { if (e.code === 'ENOENT') throw e; }); } catch { haveWrk = false; }
  for (const c of CONNECTIONS) {
    let r;
    if (haveWrk) {
      const { stdout } = await run('wrk', [
        `-t1`, `-c${c}`, `-d${SECONDS}s`, '--latency', '--timeout', '5s',
        '-H', `Authorization: Bearer ${stack.apiToken}`, url,
      ], { timeout: (SECONDS + 30) * 1000 });
      r = parseWrkMs(stdout);
    } else if (c === 1) {
      r = await nodeLoop(url, stack.apiToken, SECONDS);
    } else {
      continue;
    }
    console.log(`GET /search/opportunities (${haveWrk ? 'wrk' : 'node loop'}, ${c} conn, ${SECONDS}s): `
      + `p50 ${ms(r.p50)}, p90 ${ms(r.p90)}, p99 ${ms(r.p99)}, ${r.rps.toFixed(0)} req/s, non-2xx ${r.non2xx}`
      + (c === 1 ? `  [target p99 < 25 ms: ${r.p99 < 25 ? 'met' : 'NOT met'}]` : ''));
  }
  // Reference point on the same stack and machine load: one small D1 read.
  const latestUrl = `${stack.workerUrl}/market/latest`;
  const ref = haveWrk
    ? parseWrkMs((await run('wrk', ['-t1', '-c1', `-d${SECONDS}s`, '--latency', '--timeout', '5s',
      '-H', `Authorization: Bearer ${stack.apiToken}`, latestUrl], { timeout: (SECONDS + 30) * 1000 })).stdout)
    : await nodeLoop(latestUrl, stack.apiToken, SECONDS);
  console.log(`reference GET /market/latest (1 conn, ${SECONDS}s): p50 ${ms(ref.p50)}, p99 ${ms(ref.p99)}, ${ref.rps.toFixed(0)} req/s`);
  console.log(`load average during the run: ${(await import('node:os')).loadavg().map((x) => x.toFixed(1)).join(' ')} on ${(await import('node:os')).cpus().length} cores`);
} finally {
  await stack.stop();
}
