// See scripts/bench-worker. Loopback only, bounded in time.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

import { startStack } from '../../tests/lib/stack.mjs';

const run = promisify(execFile);
const INGESTS = Number(process.env.BENCH_INGESTS ?? 24);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
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
} finally {
  await stack.stop();
}
