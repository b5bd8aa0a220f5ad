//! Issue 8 item 14: what generation and re-pricing ask the broker for fits
//! the bridge's contract cap and IB's market-data pacing, also for names with
//! daily expiries.

use chrono::{Datelike, Duration, NaiveDate, Weekday};
use sas_core::strategy::requests::{
    generation_contracts, generation_expiries, GENERATION_STRIKES, MAX_GENERATION_EXPIRIES,
};
use sas_core::strategy::StrategyConfig;

/// The bridge refuses a chain request of more contracts than this.
const BRIDGE_MAX_CHAIN_CONTRACTS: usize = 1_000;
/// IB paces market-data requests: the bridge sends at most 48 messages a
/// second, one snapshot request per contract (docs/ib-gateway.md).
const IB_SNAPSHOTS_PER_SECOND: f64 = 48.0;
/// The Worker's bridge timeout recommended for IB (README: BRIDGE_TIMEOUT_MS).
const IB_BRIDGE_TIMEOUT_S: f64 = 15.0;

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 12, 1).unwrap_or_default()
}

/// Every weekday for `days` days: SPY/QQQ/IWM-style daily expiries.
fn daily_expiries(days: i64) -> Vec<NaiveDate> {
    (0..=days)
        .map(|d| today() + Duration::days(d))
        .filter(|d| !matches!(d.weekday(), Weekday::Sat | Weekday::Sun))
        .collect()
}

/// Third Fridays only: a name with monthly expiries.
fn monthly_expiries(months: u32) -> Vec<NaiveDate> {
    (0..months)
        .filter_map(|m| {
            // Months counted from year 0: December 2026 is 2026 * 12 + 11.
            let index = 2026 * 12 + 11 + m;
            let first = NaiveDate::from_ymd_opt((index / 12) as i32, index % 12 + 1, 1)?;
            let offset = (7 + 4 - first.weekday().num_days_from_monday() as i64) % 7;
            Some(first + Duration::days(offset + 14))
        })
        .collect()
}

#[test]
fn generation_request_for_daily_expiries_fits_the_contract_cap_and_the_pacing_floor() {
    let cfg = StrategyConfig::default();
    let all = daily_expiries(120);
    // What the Worker asked before: every expiry in 14..=90 DTE, 40 strikes.
    let before = all
        .iter()
        .filter(|e| (14..=90).contains(&(**e - today()).num_days()))
        .count();
    assert!(
        generation_contracts(before) > BRIDGE_MAX_CHAIN_CONTRACTS,
        "the old window was {} contracts",
        generation_contracts(before)
    );
    let picked = generation_expiries(&all, today(), &cfg);
    assert!(!picked.is_empty() && picked.len() <= MAX_GENERATION_EXPIRIES);
    let contracts = generation_contracts(picked.len());
    assert!(
        contracts <= BRIDGE_MAX_CHAIN_CONTRACTS,
        "{contracts} contracts"
    );
    let floor_s = contracts as f64 / IB_SNAPSHOTS_PER_SECOND;
    assert!(
        floor_s * 1.2 <= IB_BRIDGE_TIMEOUT_S,
        "{contracts} contracts take at least {floor_s:.1} s at IB's pacing"
    );
    assert_eq!(GENERATION_STRIKES, 40);
}

#[test]
fn generation_expiries_are_the_ones_the_builder_tries_first() {
    let cfg = StrategyConfig::default();
    let all = daily_expiries(120);
    let picked = generation_expiries(&all, today(), &cfg);
    let dte = |e: &NaiveDate| (*e - today()).num_days() as u32;
    // The single-expiry trade's first choice: the expiry nearest target_dte.
    let first = all
        .iter()
        .filter(|e| (cfg.min_dte..=cfg.max_dte).contains(&dte(e)))
        .min_by_key(|e| (dte(e).abs_diff(cfg.target_dte), dte(e)))
        .copied();
    assert!(first.is_some_and(|f| picked.contains(&f)), "{picked:?}");
    // A calendar pair: a front in its window with a back at an allowed gap.
    let has_pair = picked.iter().any(|f| {
        (cfg.calendar_front_min_dte..=cfg.calendar_front_max_dte).contains(&dte(f))
            && picked.iter().any(|b| {
                (dte(f) + cfg.calendar_min_gap_days..=dte(f) + cfg.calendar_max_gap_days)
                    .contains(&dte(b))
            })
    });
    assert!(has_pair, "{picked:?}");
    assert!(picked.windows(2).all(|w| w[0] < w[1]), "sorted, distinct");
}

#[test]
fn monthly_expiries_and_no_expiries_are_handled() {
    let cfg = StrategyConfig::default();
    let picked = generation_expiries(&monthly_expiries(6), today(), &cfg);
    assert!(!picked.is_empty() && picked.len() <= MAX_GENERATION_EXPIRIES);
    assert!(generation_expiries(&[], today(), &cfg).is_empty());
    // Expired dates are never asked for.
    let past = vec![today() - Duration::days(3)];
    assert!(generation_expiries(&past, today(), &cfg).is_empty());
}
