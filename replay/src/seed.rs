//! Fills an archive with simulated chain snapshots (`sas-sim-market`),
//! analyzed by core exactly as the Worker's chain step does
//! (`analytics::chain::analyze`, `analytics::rows::build_chain_rows`,
//! `factor_inputs`), shaped as the Worker's export rows (docs/archive.md)
//! and written through the archiver's own parse and write path
//! (`tables::to_copy`, `Store::write_page`: COPY + INSERT … ON CONFLICT).
//! For the benchmark and the tests.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use sas_archiver::store::Store;
use sas_archiver::tables;
use sas_core::analytics::chain::{analyze, ChainHistory};
use sas_core::analytics::rows::build_chain_rows;
use sas_core::calendar::MarketCalendar;
use sas_core::market::{ChainWindow, Symbol};
use sas_sim_market::{SimConfig, SimMarket};
use serde_json::{json, Value};

use crate::ReplayError;

/// What to generate.
#[derive(Debug, Clone)]
pub struct SeedSpec {
    pub symbols: Vec<Symbol>,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub interval_minutes: i64,
    pub seed: u64,
    /// Sessions to leave out (to make gaps).
    pub skip_days: Vec<NaiveDate>,
    /// (symbol, session) pairs to leave out.
    pub skip_symbol_days: Vec<(Symbol, NaiveDate)>,
}

/// Rows written.
#[derive(Debug, Clone, Copy, Default)]
pub struct Seeded {
    pub snapshots: u64,
    pub chain_rows: u64,
    pub metrics_rows: u64,
}

/// The export-shaped rows of one simulated snapshot.
pub fn snapshot_rows(
    sim: &SimMarket,
    symbol: &Symbol,
    at: DateTime<Utc>,
    bars: &[sas_core::market::DailyBar],
    iv_hist: &[f64],
) -> Result<(Vec<Value>, Value), ReplayError> {
    let window = ChainWindow {
        min_dte: 7,
        max_dte: 90,
        strikes: 20,
    };
    let chain = sim
        .option_chain(symbol, window, at)
        .map_err(|e| ReplayError::Seed(e.to_string()))?;
    let history = ChainHistory {
        daily_bars: bars,
        atm_iv_30d: iv_hist,
    };
    let (a, skips) = analyze(&chain, sim.rate(), &history);
    let rows = build_chain_rows(&a, &skips);
    let ts = at.timestamp_millis();
    let chain_rows = rows
        .expiries
        .iter()
        .filter(|e| e.forward.is_finite() && e.forward > 0.0)
        .map(|e| {
            json!({
                "symbol": symbol.as_str(), "ts": ts, "expiry": e.expiry, "dte": e.dte,
                "forward": e.forward, "atm_iv": e.atm_iv, "skew_25d": e.skew_25d,
                "contracts_json": e.contracts_json,
            })
        })
        .collect();
    let u = &rows.underlying;
    let factors = serde_json::to_string(&a.factor_inputs(bars)).unwrap_or_else(|_| "{}".into());
    let metrics = json!({
        "symbol": symbol.as_str(), "ts": ts, "spot": u.spot, "atm_iv_30d": u.atm_iv_30d,
        "iv_rank": u.iv_rank, "iv_percentile": u.iv_percentile,
        "iv_history_days": u.iv_history_days.unwrap_or(0), "rv_20d": u.rv_20d,
        "skew_25d_30d": u.skew_25d_30d, "gex_per_1pct": u.gex_per_1pct, "dex": u.dex,
        "contracts_valued": u.contracts_valued, "skips_json": u.skips_json,
        "metrics_json": u.metrics_json, "factors_json": factors,
    });
    Ok((chain_rows, metrics))
}

async fn flush(
    store: &Store,
    spec: &'static tables::TableSpec,
    rows: &mut Vec<Value>,
    n: &mut u64,
) -> Result<(), ReplayError> {
    if rows.is_empty() {
        return Ok(());
    }
    let page = tables::to_copy(spec, rows).map_err(|e| ReplayError::Seed(e.to_string()))?;
    *n += 1;
    store
        .write_page(spec, &page, &format!("seed-{n}"))
        .await
        .map_err(|e| ReplayError::Seed(e.to_string()))?;
    rows.clear();
    Ok(())
}

/// Session times `open, open + interval, …` before the close.
#[must_use]
pub fn session_times(date: NaiveDate, interval_minutes: i64) -> Vec<DateTime<Utc>> {
    let Some(s) = MarketCalendar::session(date) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut t = s.open_utc;
    while t < s.close_utc {
        out.push(t);
        t += Duration::minutes(interval_minutes.max(1));
    }
    out
}

/// Generates and writes the archive of `spec` into `store` (migrated).
pub async fn seed(store: &Store, spec: &SeedSpec) -> Result<Seeded, ReplayError> {
    let start = MarketCalendar::session(spec.from).map_or_else(
        || spec.from.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc(),
        |s| s.open_utc,
    );
    let mut cfg = SimConfig::new(spec.seed, spec.symbols.clone(), start);
    cfg.step = std::time::Duration::from_secs(60);
    let mut sim = SimMarket::new(cfg).map_err(|e| ReplayError::Seed(e.to_string()))?;
    let mut out = Seeded::default();
    let (mut chain_buf, mut metric_buf) = (Vec::new(), Vec::new());
    let mut pages = 0u64;
    let mut date = spec.from;
    while date <= spec.to {
        let times = session_times(date, spec.interval_minutes);
        if !times.is_empty() && !spec.skip_days.contains(&date) {
            let mut hist = Vec::new();
            for sym in &spec.symbols {
                let bars = sim
                    .daily_history(sym, 90, date)
                    .map_err(|e| ReplayError::Seed(e.to_string()))?;
                let iv: Vec<f64> = sim
                    .iv_history(sym, 365, date)
                    .map_err(|e| ReplayError::Seed(e.to_string()))?
                    .into_iter()
                    .map(|c| c.iv)
                    .collect();
                hist.push((bars, iv));
            }
            for at in times {
                sim.sync_to(at);
                for (sym, (bars, iv)) in spec.symbols.iter().zip(&hist) {
                    if spec
                        .skip_symbol_days
                        .iter()
                        .any(|(s, d)| s == sym && *d == date)
                    {
                        continue;
                    }
                    let (chains, metrics) = snapshot_rows(&sim, sym, at, bars, iv)?;
                    out.snapshots += 1;
                    out.chain_rows += chains.len() as u64;
                    out.metrics_rows += 1;
                    chain_buf.extend(chains);
                    metric_buf.push(metrics);
                }
                if chain_buf.len() >= 1000 {
                    flush(store, &tables::CHAIN_SNAPSHOTS, &mut chain_buf, &mut pages).await?;
                    flush(
                        store,
                        &tables::UNDERLYING_METRICS_INTRADAY,
                        &mut metric_buf,
                        &mut pages,
                    )
                    .await?;
                }
            }
        }
        date += Duration::days(1);
    }
    flush(store, &tables::CHAIN_SNAPSHOTS, &mut chain_buf, &mut pages).await?;
    flush(
        store,
        &tables::UNDERLYING_METRICS_INTRADAY,
        &mut metric_buf,
        &mut pages,
    )
    .await?;
    Ok(out)
}
