//! Native tests of the shadow follower over the in-memory store: a
//! rejected proposal is taken up, followed incrementally from the chains
//! stored after its decision (earlier ones ignored), closed by its exit
//! rules with its result kept after the chains are pruned; an unreadable
//! proposal is `invalid`; an expired trade ends at its last mark; the list
//! and its totals.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use futures_executor::block_on;
use sas_core::market::OptionRight;
use sas_core::portfolio::{ExitConfig, MarkPolicy};
use sas_core::strategy::{LegAction, Proposal};

use super::memory::MemoryShadow;
use super::shadow::{self, CandidateRow, ChainRow};

/// Tue 2026-11-17 10:00 New York (the fixture proposal's time).
fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 17, 15, 0, 0).unwrap()
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn proposal() -> Proposal {
    crate::proposals::tests_support::one_proposal()
}

fn candidate(id: i64, status: &str, p: &Proposal, decided: DateTime<Utc>) -> CandidateRow {
    CandidateRow {
        id,
        status: status.into(),
        decided_at: Some(ms(decided)),
        expires_at: ms(decided),
        contracts: 2,
        proposal_json: serde_json::to_string(p).unwrap(),
    }
}

/// The chain rows of `p`'s legs at `at`, each leg's mid × `factor` (other
/// contracts of the chain around them, as stored).
fn chain_rows(p: &Proposal, at: DateTime<Utc>, factor: f64) -> Vec<(String, ChainRow)> {
    let mut by_expiry: std::collections::BTreeMap<String, Vec<serde_json::Value>> =
        std::collections::BTreeMap::new();
    for l in &p.legs {
        let code = match l.right {
            OptionRight::Call => "C",
            OptionRight::Put => "P",
        };
        let e = by_expiry.entry(l.expiry.to_string()).or_default();
        // A neighbour that must not be taken for the leg.
        e.push(serde_json::json!([
            l.strike + 1.0,
            code,
            99.0,
            0.2,
            0.5,
            0.01,
            -0.02,
            0.1,
            0.0,
            null,
            null
        ]));
        e.push(serde_json::json!([
            l.strike,
            code,
            l.quote.mid * factor,
            0.25,
            0.3,
            0.01,
            -0.03,
            0.12,
            0.01,
            10,
            100
        ]));
    }
    by_expiry
        .into_iter()
        .map(|(expiry, contracts)| {
            (
                p.symbol.as_str().to_owned(),
                ChainRow {
                    ts: ms(at),
                    expiry,
                    contracts_json: serde_json::to_string(&contracts).unwrap(),
                },
            )
        })
        .collect()
}

fn step(s: &MemoryShadow, now: DateTime<Utc>) -> shadow::StepReport {
    block_on(shadow::follow_step(
        s,
        &MarkPolicy::default(),
        &ExitConfig::default(),
        now,
    ))
    .unwrap()
}

/// Σ half-spread × ratio × 100 × units: what closing at the touch costs at
/// unchanged mids.
fn touch_cost(p: &Proposal, units: f64) -> f64 {
    p.legs
        .iter()
        .map(|l| (l.quote.ask - l.quote.bid) / 2.0 * f64::from(l.ratio) * 100.0 * units)
        .sum()
}

#[test]
fn a_rejected_proposal_is_followed_incrementally_and_kept_after_the_chains_are_pruned() {
    let p = proposal();
    let s = MemoryShadow::default();
    let decided = t0() + Duration::minutes(5);
    s.proposals
        .borrow_mut()
        .push(candidate(1, "rejected", &p, decided));
    // Approved and pending proposals have no shadow.
    let mut other = candidate(2, "approved", &p, decided);
    other.status = "approved".into();
    s.proposals.borrow_mut().push(other);
    // A chain before the decision (ignored) and one after it at the same mids.
    s.chains.borrow_mut().extend(chain_rows(&p, t0(), 0.01));
    s.chains
        .borrow_mut()
        .extend(chain_rows(&p, decided + Duration::minutes(10), 1.0));

    let r = step(&s, decided + Duration::minutes(11));
    assert_eq!((r.taken_up, r.followed, r.invalid), (1, 1, 0), "{r:?}");
    let row = s.shadows.borrow()[0].clone();
    assert_eq!(row.decision, "rejected");
    assert_eq!(row.status, "following");
    assert_eq!(row.units, 2);
    let net: f64 = p
        .legs
        .iter()
        .map(|l| {
            l.quote.mid
                * f64::from(l.ratio)
                * match l.action {
                    LegAction::Buy => 1.0,
                    LegAction::Sell => -1.0,
                }
        })
        .sum();
    assert!((row.entry_mid.unwrap() - net).abs() < 1e-3, "{row:?}");
    // Unchanged mids: zero at mid; closing at the touch costs the spreads.
    assert_eq!(row.pnl_mid_micros, Some(0));
    let natural = row.pnl_natural_micros.unwrap() as f64 / 1e6;
    assert!(
        (natural + touch_cost(&p, 2.0)).abs() < 0.02,
        "natural {natural} vs {}",
        touch_cost(&p, 2.0)
    );
    assert_eq!(row.mark_at, Some(ms(decided + Duration::minutes(10))));

    // A run with no new chain changes nothing.
    let r = step(&s, decided + Duration::minutes(20));
    assert_eq!(r.followed, 0);

    // The chains are pruned; a new one on the time-exit date closes it.
    s.chains.borrow_mut().clear();
    let exit_day = p
        .exits
        .time_exit_date
        .and_hms_opt(15, 0, 0)
        .unwrap()
        .and_utc();
    s.chains.borrow_mut().extend(chain_rows(&p, exit_day, 1.0));
    let r = step(&s, exit_day + Duration::minutes(1));
    assert_eq!((r.followed, r.closed), (1, 1), "{r:?}");
    let row = s.shadows.borrow()[0].clone();
    assert_eq!(row.status, "closed");
    assert_eq!(row.exit_reason.as_deref(), Some("time_exit"));
    let progress: sas_core::performance::ShadowProgress =
        serde_json::from_str(&row.progress).unwrap();
    assert_eq!(progress.marks_used, 2);

    // Closed: no longer read; the result stays once the chains are gone.
    s.chains.borrow_mut().clear();
    step(&s, exit_day + Duration::days(10));
    assert_eq!(s.shadows.borrow()[0], row);

    let from = ms(t0() - Duration::days(1));
    let to = ms(t0() + Duration::days(1));
    let v = block_on(shadow::list(&s, from, to)).unwrap();
    assert_eq!(v.trades.len(), 1);
    let t = &v.trades[0];
    assert_eq!(t.status, "closed");
    assert_eq!(t.exit_reason.as_deref(), Some("time_exit"));
    assert_eq!(t.marks_used, 2);
    assert_eq!(
        (v.total.trades, v.total.with_pnl, v.total.closed),
        (1, 1, 1)
    );
    assert_eq!(v.total.pnl_mid, 0.0);
    assert!(v.total.pnl_natural < 0.0);
    assert_eq!(v.total.rejected_pnl_mid, 0.0);
    // Outside the range: nothing.
    let none = block_on(shadow::list(&s, to, to + 1000)).unwrap();
    assert!(none.trades.is_empty());
    assert!(block_on(shadow::list(&s, to, from)).is_err());
}

#[test]
fn a_profitable_move_closes_it_by_its_exit_rules_with_a_positive_pnl() {
    let p = proposal();
    let s = MemoryShadow::default();
    s.proposals
        .borrow_mut()
        .push(candidate(1, "expired", &p, t0()));
    let net: f64 = p
        .legs
        .iter()
        .map(|l| {
            l.quote.mid
                * match l.action {
                    LegAction::Buy => 1.0,
                    LegAction::Sell => -1.0,
                }
        })
        .sum();
    // Credit: the legs lose most of their value; debit: they gain.
    let factor = if net < 0.0 { 0.2 } else { 3.0 };
    for (i, f) in [1.0, factor].iter().enumerate() {
        let at = t0() + Duration::minutes(15 * (i as i64 + 1));
        s.chains.borrow_mut().extend(chain_rows(&p, at, *f));
    }
    step(&s, t0() + Duration::hours(1));
    let row = s.shadows.borrow()[0].clone();
    assert_eq!(row.decision, "expired");
    assert!(row.pnl_mid_micros.unwrap() > 0, "{row:?}");
    if row.status == "closed" {
        assert_eq!(row.exit_reason.as_deref(), Some("take_profit"), "{row:?}");
    } else {
        // The synthetic half-spread may be too wide for the cheaper legs:
        // refused marks are counted, never acted on.
        let progress: sas_core::performance::ShadowProgress =
            serde_json::from_str(&row.progress).unwrap();
        assert!(
            progress.marks_refused > 0 || progress.marks_used == 2,
            "{row:?}"
        );
    }
}

#[test]
fn unreadable_proposals_are_invalid_and_expired_legs_end_the_trade() {
    let p = proposal();
    let s = MemoryShadow::default();
    let mut bad = candidate(1, "rejected", &p, t0());
    bad.proposal_json = "{not json".into();
    s.proposals.borrow_mut().push(bad);
    let mut zero = candidate(2, "rejected", &p, t0());
    zero.contracts = 0;
    s.proposals.borrow_mut().push(zero);
    s.proposals
        .borrow_mut()
        .push(candidate(3, "expired", &p, t0()));
    let r = step(&s, t0() + Duration::minutes(1));
    assert_eq!((r.taken_up, r.invalid), (3, 2), "{r:?}");
    {
        let rows = s.shadows.borrow();
        assert_eq!(rows[0].status, "invalid");
        assert!(
            rows[0].outcome.contains("cannot be read"),
            "{}",
            rows[0].outcome
        );
        assert_eq!(rows[1].status, "invalid");
        assert_eq!(rows[2].status, "following");
    }
    // Taken up once only.
    assert_eq!(step(&s, t0() + Duration::minutes(2)).taken_up, 0);
    // Never marked and its legs expired: it ends, never marked.
    let last_expiry = p.legs.iter().map(|l| l.expiry).max().unwrap();
    let after = last_expiry.and_hms_opt(20, 0, 0).unwrap().and_utc() + Duration::days(1);
    let r = step(&s, after);
    assert_eq!(r.ended, 1, "{r:?}");
    let row = s.shadows.borrow()[2].clone();
    assert_eq!(row.status, "ended");
    assert_eq!(row.pnl_mid_micros, None);
    assert!(row.outcome.contains("never_marked"), "{}", row.outcome);
    let v = block_on(shadow::list(
        &s,
        ms(t0() - Duration::days(1)),
        ms(t0() + Duration::days(1)),
    ))
    .unwrap();
    assert_eq!(
        (
            v.total.trades,
            v.total.with_pnl,
            v.total.invalid,
            v.total.ended
        ),
        (3, 0, 2, 1)
    );
    assert_eq!(
        v.trades[0]
            .invalid_reason
            .as_deref()
            .map(|r| r.contains("cannot be read")),
        Some(true)
    );
}

#[test]
fn trades_without_new_chains_do_not_starve_the_others() {
    let p = proposal();
    let s = MemoryShadow::default();
    let n = i64::from(shadow::MAX_FOLLOW_PER_RUN) + 5;
    for id in 1..=n {
        s.proposals
            .borrow_mut()
            .push(candidate(id, "rejected", &p, t0()));
    }
    // No chains at all: every run looks at the least recently looked at.
    for m in 1..=3 {
        step(&s, t0() + Duration::minutes(m));
    }
    let rows = s.shadows.borrow();
    assert_eq!(rows.len(), n as usize);
    let last = ms(t0() + Duration::minutes(3));
    let late: Vec<i64> = rows
        .iter()
        .filter(|r| r.updated_at == last)
        .map(|r| r.proposal_id)
        .collect();
    assert!(
        late.contains(&n),
        "the last trade was never looked at: {late:?}"
    );
    assert!(rows.iter().all(|r| r.status == "following"));
}
