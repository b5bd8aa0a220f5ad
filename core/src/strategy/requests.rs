//! What chain data a decision needs from the broker, and nothing more, so
//! every request fits IB's market-data pacing (one snapshot request per
//! contract, about 50 a second).
//!
//! - Generation picks the **expiries** first, from the broker's expiry list
//!   (no market data), in the order the strategy builder would try them, and
//!   then asks for strikes of those expiries only. A name with daily expiries
//!   (SPY, QQQ, IWM) has 50+ expiries between 14 and 90 days: asking for all
//!   of them would be thousands of contracts.
//! - Re-pricing at approval asks for the **proposal's own legs**.
//!
//! Pure: no I/O, no clock.

use chrono::NaiveDate;

use super::config::StrategyConfig;
use super::proposal::Proposal;
use super::types::LegKey;

/// Most expiries generation asks for per underlying.
pub const MAX_GENERATION_EXPIRIES: usize = 6;
/// Strikes nearest spot asked per expiry at generation.
pub const GENERATION_STRIKES: u32 = 40;

/// Calendar days from `today` to `expiry` (0 when past).
fn dte_between(today: NaiveDate, expiry: NaiveDate) -> u32 {
    u32::try_from((expiry - today).num_days().max(0)).unwrap_or(u32::MAX)
}

/// Indexes of `dtes` in `min..=max`, nearest `target` first (ties: shorter
/// first) — the order in which the strategy builder tries expiries.
fn nearest_in_window(dtes: &[u32], min: u32, max: u32, target: u32) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..dtes.len())
        .filter(|&i| dtes[i] >= min && dtes[i] <= max)
        .collect();
    idx.sort_by_key(|&i| (dtes[i].abs_diff(target), dtes[i]));
    idx
}

/// The expiries generation asks the broker for, at most
/// [`MAX_GENERATION_EXPIRIES`], sorted: for single-expiry strategies the two
/// the builder tries first (nearest `target_dte` in `min_dte..=max_dte`); for
/// calendars the two fronts it tries first and, for each, the back month it
/// tries first. An empty answer means no strategy has an expiry to use.
#[must_use]
pub fn generation_expiries(
    available: &[NaiveDate],
    today: NaiveDate,
    cfg: &StrategyConfig,
) -> Vec<NaiveDate> {
    let mut expiries: Vec<NaiveDate> = available.iter().copied().filter(|e| *e >= today).collect();
    expiries.sort_unstable();
    expiries.dedup();
    let dtes: Vec<u32> = expiries.iter().map(|e| dte_between(today, *e)).collect();
    let mut wanted: Vec<usize> = Vec::new();
    let take = |i: usize, wanted: &mut Vec<usize>| {
        if !wanted.contains(&i) && wanted.len() < MAX_GENERATION_EXPIRIES {
            wanted.push(i);
        }
    };
    for i in nearest_in_window(&dtes, cfg.min_dte, cfg.max_dte, cfg.target_dte)
        .into_iter()
        .take(2)
    {
        take(i, &mut wanted);
    }
    let front_mid = (cfg.calendar_front_min_dte + cfg.calendar_front_max_dte) / 2;
    let gap_mid = (cfg.calendar_min_gap_days + cfg.calendar_max_gap_days) / 2;
    for f in nearest_in_window(
        &dtes,
        cfg.calendar_front_min_dte,
        cfg.calendar_front_max_dte,
        front_mid,
    )
    .into_iter()
    .take(2)
    {
        let back = nearest_in_window(
            &dtes,
            dtes[f].saturating_add(cfg.calendar_min_gap_days),
            dtes[f].saturating_add(cfg.calendar_max_gap_days),
            dtes[f].saturating_add(gap_mid),
        )
        .into_iter()
        .next();
        if let Some(b) = back {
            take(f, &mut wanted);
            take(b, &mut wanted);
        }
    }
    let mut out: Vec<NaiveDate> = wanted.into_iter().map(|i| expiries[i]).collect();
    out.sort_unstable();
    out
}

/// The contracts re-pricing needs: the proposal's own legs, each once.
#[must_use]
pub fn reprice_contracts(p: &Proposal) -> Vec<LegKey> {
    let mut keys: Vec<LegKey> = Vec::with_capacity(p.legs.len());
    for k in p.legs.iter().map(super::types::Leg::key) {
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    keys
}

/// Contracts a generation request asks for: expiries × strikes × 2 rights.
#[must_use]
pub fn generation_contracts(expiries: usize) -> usize {
    expiries * GENERATION_STRIKES as usize * 2
}
