//! A simulated month through the data-quality gate, the analytics and the
//! strategy engine (shared by `examples/month_report.rs` and
//! `tests/month.rs`): per session (10:00 New York) and watchlist symbol, the
//! simulator's chain is gated (`sas_core::quality::gate_chain`), analyzed
//! with its daily bars and its IV history (IV rank from the history, as the
//! Worker does from IB's closes), and handed to `generate_proposals`.

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate, TimeZone, Utc};
use sas_core::analytics::chain::{analyze, ChainHistory};
use sas_core::entry::regime::VolSnapshot;
use sas_core::market::{ChainWindow, Symbol, DEFAULT_WATCHLIST};
use sas_core::quality::{gate_chain, QualityConfig};
use sas_core::strategy::{
    generate_proposals, select_regime, GenerationInputs, StrategyConfig, UnderlyingCandidate,
};
use sas_sim_market::calendar::is_trading_day;
use sas_sim_market::{SimConfig, SimMarket};

/// Sessions in the month.
pub const SESSIONS: usize = 21;

/// What the month produced.
#[derive(Debug, Default)]
pub struct MonthReport {
    pub days: Vec<NaiveDate>,
    pub symbols: usize,
    /// Symbol-days the gate held (no proposal possible).
    pub held: usize,
    pub contracts: usize,
    pub dropped: usize,
    /// IV rank the regime rules saw, per symbol-day where known.
    pub ranks: Vec<f64>,
    /// Fewest days behind a known IV rank.
    pub rank_days_min: Option<u32>,
    /// The 25-delta put-minus-call skew (vol points) the regime rules saw,
    /// per symbol, where known.
    pub skews: BTreeMap<String, Vec<f64>>,
    /// Regime rule picked, per symbol-day.
    pub by_rule: BTreeMap<String, usize>,
    /// Candidates the engine skipped, by reason.
    pub skipped: BTreeMap<String, usize>,
    /// Proposals by strategy.
    pub by_strategy: BTreeMap<&'static str, usize>,
    /// Every iron condor proposed: session and symbol.
    pub condors: Vec<(NaiveDate, String)>,
    /// Every proposal's rationale.
    pub rationales: Vec<String>,
}

/// Runs the month from 2026-11-02 with `seed`. Every symbol may propose
/// every day (no portfolio limits): the report counts what the regime rules
/// pick, not what the daily limits keep.
/// Chains are asked for 7-60 DTE (the Worker's default window) with 40
/// strikes per expiry: with the Worker's default 20, the 0.25-delta shorts
/// and the wings two strikes beyond them of a volatile or high-priced name
/// fall outside the window, so most neutral days' iron condors fail to
/// build (seed 1: both; see `docs/sim-market.md`).
#[allow(dead_code)] // the test calls this, the report `run_with`
pub fn run(seed: u64) -> Result<MonthReport, String> {
    run_with(seed, WINDOW)
}

/// The chain window of [`run`].
pub const WINDOW: ChainWindow = ChainWindow {
    min_dte: 7,
    max_dte: 60,
    strikes: 40,
};

/// [`run`] with another chain window.
#[allow(dead_code)] // the report calls this, the test `run`
pub fn run_with(seed: u64, window: ChainWindow) -> Result<MonthReport, String> {
    let start = NaiveDate::from_ymd_opt(2026, 11, 2).ok_or("bad start")?;
    let symbols: Vec<Symbol> = DEFAULT_WATCHLIST
        .iter()
        .filter_map(|s| Symbol::parse(s).ok())
        .collect();
    let mut out = MonthReport {
        symbols: symbols.len(),
        ..MonthReport::default()
    };
    let mut d = start;
    while out.days.len() < SESSIONS {
        if is_trading_day(d) {
            out.days.push(d);
        }
        d += Duration::days(1);
    }
    let cfg = StrategyConfig {
        max_proposals_per_day: 100,
        max_open_positions: 100,
        max_portfolio_heat_fraction: 1.0,
        ..StrategyConfig::default()
    };
    let gate = QualityConfig::default();
    for &today in &out.days.clone() {
        let at = today.and_hms_opt(15, 0, 0).ok_or("bad time")?;
        let now = Utc.from_utc_datetime(&at);
        let market = SimMarket::new(SimConfig::new(seed, symbols.clone(), now))
            .map_err(|e| e.to_string())?;
        let mut candidates = Vec::new();
        for s in &symbols {
            let chain = market
                .option_chain(s, window, now)
                .map_err(|e| e.to_string())?;
            let q = gate_chain(&chain, None, market.rate(), now, &gate);
            out.contracts += q.input_contracts;
            out.dropped += q.dropped.total();
            if !q.verdict.may_propose() {
                out.held += 1;
                continue;
            }
            let bars = market
                .daily_history(s, 90, today)
                .map_err(|e| e.to_string())?;
            let earlier: Vec<f64> = market
                .iv_history(s, 365, today)
                .map_err(|e| e.to_string())?
                .iter()
                .filter(|c| c.date < today)
                .map(|c| c.iv)
                .collect();
            let history = ChainHistory {
                daily_bars: &bars,
                atm_iv_30d: &earlier,
            };
            let (a, _) = analyze(&q.chain, market.rate(), &history);
            let regime = VolSnapshot::from_analytics(&a).regime_inputs();
            if let (Some(r), Some(n)) = (regime.iv_rank, regime.iv_rank_days) {
                out.ranks.push(r);
                out.rank_days_min = Some(out.rank_days_min.map_or(n, |m| m.min(n)));
            }
            if let Some(k) = regime.skew_25d {
                out.skews.entry(s.as_str().to_string()).or_default().push(k);
            }
            *out.by_rule
                .entry(format!("{:?}", select_regime(&regime, &cfg).rule))
                .or_insert(0) += 1;
            candidates.push(UnderlyingCandidate {
                symbol: s.clone(),
                chain: q.chain,
                regime,
                score: None,
                events: None,
            });
        }
        let inputs = GenerationInputs {
            trade_date: today,
            expires_at: now + Duration::hours(6),
            net_liquidation: 100_000.0,
            ranked: candidates,
            open_positions: Vec::new(),
            pending_proposals: Vec::new(),
            proposals_today: Vec::new(),
        };
        let (made, skipped) = generate_proposals(&inputs, &cfg, now);
        for k in skipped {
            *out.skipped.entry(k.message).or_insert(0) += 1;
        }
        for p in made {
            if p.strategy.as_str() == "iron_condor" {
                out.condors.push((today, p.symbol.as_str().to_string()));
            }
            *out.by_strategy.entry(p.strategy.as_str()).or_insert(0) += 1;
            out.rationales.push(p.rationale);
        }
    }
    Ok(out)
}
