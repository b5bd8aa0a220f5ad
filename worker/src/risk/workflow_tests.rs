//! Native tests of every risk workflow over the in-memory store: the
//! trading state evaluated from stored data (each automatic cause raised
//! from its table, missing data halts, the daily-loss halt from equity
//! snapshots only blocks entries), the trader's halt cleared only by the
//! trader, the pre-trade checks on the real book (fail closed on every
//! missing input, the SPY → QQQ cluster refusal), strategy switches, and
//! the performance figures over closed positions.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc, Weekday};
use futures_executor::block_on;
use sas_core::market::{Account, DailyBar, OptionRight, Symbol};
use sas_core::money::Money;
use sas_core::portfolio::{ContractId, Execution, Ledger, PlannedLeg, Position, PositionSpec};
use sas_core::risk::{Actor, HaltCause, TradingMode, Verdict};
use sas_core::strategy::{Proposal, Repriced, StrategyKind};

use super::memory::{MemProposal, MemoryRisk};
use super::model::{ApprovedRow, TradeFillRow};
use super::service::{self, TargetState};
use super::view::RiskVerdict;
use super::RiskError;
use crate::config::risk::WorkerRiskConfig;
use crate::positions::model::{PositionRow, ReconciliationRow};
use crate::settings::KillSwitchRow;

/// Tue 2026-11-17 10:00 New York: the market is open.
fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 17, 15, 0, 0).unwrap()
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn sym(s: &str) -> Symbol {
    Symbol::parse(s).unwrap()
}

/// `n` weekday closes ending `last`, from daily returns `r(i)`.
fn bars(last: NaiveDate, n: usize, r: impl Fn(usize) -> f64) -> String {
    let mut dates = Vec::new();
    let mut d = last;
    while dates.len() < n {
        if !matches!(d.weekday(), Weekday::Sat | Weekday::Sun) {
            dates.push(d);
        }
        d -= Duration::days(1);
    }
    dates.reverse();
    let mut close = 100.0;
    let bars: Vec<DailyBar> = dates
        .into_iter()
        .enumerate()
        .map(|(i, date)| {
            close *= 1.0 + r(i);
            DailyBar {
                date,
                open: close,
                high: close,
                low: close,
                close,
                volume: 1_000,
            }
        })
        .collect();
    crate::chains::pack_bars(&bars)
}

fn spy_r(i: usize) -> f64 {
    let x = i as f64;
    0.01 * (x * 1.7).sin() + 0.003 * (x * 0.3).cos()
}

fn qqq_r(i: usize) -> f64 {
    1.2 * spy_r(i) + 0.0005 * (i as f64 * 5.1).sin()
}

fn aapl_r(i: usize) -> f64 {
    let x = i as f64;
    0.012 * (x * 2.9 + 1.0).sin() * (x * 0.7).cos()
}

fn yesterday() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 16).unwrap()
}

fn account(now: DateTime<Utc>) -> Account {
    Account {
        account_id: "SIM-PAPER".into(),
        net_liquidation: 100_000.0,
        cash: 100_000.0,
        buying_power: 100_000.0,
        currency: "USD".into(),
        as_of: now,
    }
}

fn proposal_on(symbol: &str) -> Proposal {
    let mut p = crate::proposals::tests_support::one_proposal();
    p.symbol = sym(symbol);
    p
}

fn repriced(p: &Proposal, contracts: u32) -> Repriced {
    Repriced {
        legs: p.legs.clone(),
        metrics: p.metrics.clone(),
        limit_price: p.limit_price,
        price_move: 0.0,
        contracts,
        total_max_loss: p.metrics.max_loss_natural * f64::from(contracts),
        exits: p.exits,
    }
}

/// A store with fresh, healthy data at [`t0`]: net liquidation 100,000
/// since yesterday, the books reconciled a minute ago, the bridge seen 30 s
/// ago, nothing open, daily bars of SPY, QQQ and AAPL.
fn world() -> MemoryRisk {
    world_at(t0())
}

/// [`world`] with its data fresh at `now` (used by the approval workflow
/// tests, whose clock runs a few minutes past [`t0`]).
pub(crate) fn world_at(now: DateTime<Utc>) -> MemoryRisk {
    let s = MemoryRisk::new();
    s.equity.borrow_mut().extend([
        (ms(now - Duration::hours(18)), Some(100_000.0)),
        (ms(now - Duration::minutes(1)), Some(100_000.0)),
    ]);
    *s.reconciliation.borrow_mut() = Some(ReconciliationRow {
        checked_at: Some(ms(now - Duration::minutes(1))),
        drifts: "[]".into(),
        ..Default::default()
    });
    s.runs
        .borrow_mut()
        .push((1, "ok".into(), Some(ms(now - Duration::seconds(30)))));
    let mut b = s.bars.borrow_mut();
    b.insert("SPY".into(), bars(yesterday(), 80, spy_r));
    b.insert("QQQ".into(), bars(yesterday(), 80, qqq_r));
    b.insert("AAPL".into(), bars(yesterday(), 80, aapl_r));
    drop(b);
    s
}

fn cfg() -> WorkerRiskConfig {
    WorkerRiskConfig::default()
}

fn evaluate(s: &MemoryRisk, now: DateTime<Utc>) -> super::view::StateChange {
    block_on(service::evaluate_and_store(s, &cfg(), now)).unwrap()
}

fn check<'a>(v: &'a RiskVerdict, name: &str) -> &'a super::view::CheckLine {
    v.checks
        .iter()
        .find(|c| c.check == name)
        .unwrap_or_else(|| panic!("no check {name}: {v:#?}"))
}

fn refused(v: &RiskVerdict, name: &str) -> bool {
    matches!(check(v, name).verdict, Verdict::Refuse(_))
}

fn pre_trade(s: &MemoryRisk, p: &Proposal, now: DateTime<Utc>) -> RiskVerdict {
    block_on(service::pre_trade(
        s,
        &cfg(),
        p,
        &repriced(p, 1),
        Some(&account(now)),
        now,
    ))
    .unwrap()
}

/// A live approved trade on `symbol` (order sent, no position yet).
fn approve_live(s: &MemoryRisk, id: i64, symbol: &str) {
    let p = proposal_on(symbol);
    s.proposals.borrow_mut().push(MemProposal {
        row: ApprovedRow {
            id,
            idempotency_key: format!("key-{id}"),
            symbol: symbol.into(),
            strategy: p.strategy.as_str().into(),
            contracts: 1,
            approved_contracts: Some(1),
            max_loss: p.metrics.max_loss,
            proposal_json: serde_json::to_string(&p).unwrap(),
            order_status: Some("submitted".into()),
            position_status: None,
        },
        status: "approved".into(),
        approved_limit_price: Some(p.limit_price),
    });
}

fn position_row(id: i64, symbol: &str, status: &str) -> PositionRow {
    PositionRow {
        id,
        key: format!("pos-{id}"),
        proposal_id: 1_000 + id,
        symbol: symbol.into(),
        strategy: "long_call".into(),
        spec: "{}".into(),
        exit_plan: "{}".into(),
        status: status.into(),
        exit_reason: None,
        exit_requested_at: None,
        exit_requested_by: None,
        exits_paused: 0,
        exit_state: "{}".into(),
        summary: None,
        realized_micros: 0,
        entry_expires_at: 0,
        opened_at: None,
        closed_at: None,
        created_at: 0,
        updated_at: 0,
    }
}

// ---------------------------------------------------------------------------
// The trading state
// ---------------------------------------------------------------------------

#[test]
fn the_first_evaluation_on_healthy_data_stores_an_active_state() {
    let s = world();
    let out = evaluate(&s, t0());
    assert_eq!(out.state.mode, TradingMode::Active, "{:?}", out.state.state);
    assert_eq!(out.state.version, 1);
    assert_eq!(out.state.evaluated_at, Some(ms(t0())));
    assert_eq!(s.state.borrow().as_ref().unwrap().mode, "active");
    // Nothing changed: a second run writes nothing.
    let writes = s.writes.get();
    evaluate(&s, t0() + Duration::seconds(20));
    assert_eq!(s.writes.get(), writes);
}

#[test]
fn missing_net_liquidation_halts_and_refuses_entries() {
    let s = world();
    s.equity.borrow_mut().clear();
    let out = evaluate(&s, t0());
    assert_eq!(out.state.mode, TradingMode::Halted);
    for cause in [
        HaltCause::DailyLoss,
        HaltCause::IntradayDrawdown,
        HaltCause::StaleData,
    ] {
        assert!(out.state.state.halt(cause).is_some(), "{cause:?}");
    }
    let v = pre_trade(&s, &proposal_on("AAPL"), t0());
    assert!(!v.approved);
    assert!(refused(&v, "trading_state"));
}

#[test]
fn the_daily_loss_halt_trips_from_equity_snapshots_and_exits_still_run() {
    let s = world();
    assert_eq!(evaluate(&s, t0()).state.mode, TradingMode::Active);
    let later = t0() + Duration::minutes(30);
    // Down 3.5 % from yesterday's close (limit 3 %).
    s.equity
        .borrow_mut()
        .push((ms(later - Duration::minutes(1)), Some(96_500.0)));
    s.runs
        .borrow_mut()
        .push((2, "ok".into(), Some(ms(later - Duration::seconds(10)))));
    s.reconciliation.borrow_mut().as_mut().unwrap().checked_at = Some(ms(later));
    let out = evaluate(&s, later);
    assert_eq!(out.state.mode, TradingMode::Halted);
    let halt = out.state.state.halt(HaltCause::DailyLoss).unwrap();
    assert_eq!(halt.stamp.by, Actor::Rule);
    assert!(halt.stamp.reason.contains("3,500") || halt.stamp.reason.contains("3500"));
    assert_eq!(s.audit_actions(), vec!["risk_state_changed"]);
    // Only entries are blocked: exits run in every state.
    assert!(out.state.state.exits_allowed());
    let v = block_on(service::pre_trade(
        &s,
        &cfg(),
        &proposal_on("AAPL"),
        &repriced(&proposal_on("AAPL"), 1),
        Some(&Account {
            net_liquidation: 96_500.0,
            ..account(later)
        }),
        later,
    ))
    .unwrap();
    assert!(!v.approved);
    assert!(refused(&v, "trading_state"), "{:?}", v.refusals);
    // Sticky for the session even when the loss shrinks.
    let later2 = later + Duration::minutes(5);
    s.equity.borrow_mut().push((ms(later2), Some(99_000.0)));
    s.runs.borrow_mut().push((3, "ok".into(), Some(ms(later2))));
    s.reconciliation.borrow_mut().as_mut().unwrap().checked_at = Some(ms(later2));
    assert_eq!(evaluate(&s, later2).state.mode, TradingMode::Halted);
}

#[test]
fn the_intraday_drawdown_counts_from_the_days_high_in_the_snapshots() {
    let s = world();
    let now = t0() + Duration::minutes(10);
    // Up to 120,000 today, back to 107,000: 10.8 % off the high, yet up
    // 7 % on the day.
    s.equity.borrow_mut().extend([
        (ms(now - Duration::minutes(5)), Some(120_000.0)),
        (ms(now - Duration::minutes(1)), Some(107_000.0)),
    ]);
    let out = evaluate(&s, now);
    assert!(out.state.state.halt(HaltCause::IntradayDrawdown).is_some());
    assert!(out.state.state.halt(HaltCause::DailyLoss).is_none());
}

#[test]
fn reconciliation_drift_stale_marks_a_lost_bridge_and_a_stop_streak_each_halt() {
    // A standing (confirmed, unacknowledged) drift.
    let s = world();
    {
        let mut r = s.reconciliation.borrow_mut();
        let r = r.as_mut().unwrap();
        r.drifts = "[{}]".into();
        r.fingerprint = Some("ab".into());
        r.confirmed = 1;
    }
    assert!(evaluate(&s, t0())
        .state
        .state
        .halt(HaltCause::ReconciliationDrift)
        .is_some());

    // An open position whose last trustworthy mark is 6 minutes old.
    let s = world();
    s.positions
        .borrow_mut()
        .push(position_row(1, "SPY", "open"));
    s.marks
        .borrow_mut()
        .push((1, ms(t0() - Duration::minutes(6)), true, None));
    s.marks
        .borrow_mut()
        .push((1, ms(t0() - Duration::minutes(1)), false, None));
    assert!(evaluate(&s, t0())
        .state
        .state
        .halt(HaltCause::StaleData)
        .is_some());

    // Monitor runs failing for 4 minutes: the bridge is disconnected.
    let s = world();
    s.runs.borrow_mut().clear();
    s.runs
        .borrow_mut()
        .push((1, "ok".into(), Some(ms(t0() - Duration::minutes(4)))));
    s.runs
        .borrow_mut()
        .push((2, "failed".into(), Some(ms(t0()))));
    assert!(evaluate(&s, t0())
        .state
        .state
        .halt(HaltCause::BridgeDisconnected)
        .is_some());

    // Three stop-losses within the window; a take profit does not count.
    let s = world();
    for (i, sym) in ["SPY", "QQQ", "IWM", "AAPL"].iter().enumerate() {
        let mut p = position_row(i as i64 + 1, sym, "closed");
        p.exit_reason = Some(if i < 3 { "stop_loss" } else { "take_profit" }.into());
        p.closed_at = Some(ms(t0() - Duration::minutes(10 + i as i64)));
        s.positions.borrow_mut().push(p);
    }
    let out = evaluate(&s, t0());
    assert!(out.state.state.halt(HaltCause::StopOutStreak).is_some());
}

#[test]
fn a_manual_halt_is_only_cleared_by_the_trader() {
    let s = world();
    evaluate(&s, t0());
    let out = block_on(service::set_state(
        &s,
        "access:me@example.com",
        TargetState::Halted,
        "FOMC",
        &[],
        t0(),
    ))
    .unwrap();
    assert_eq!(out.state.mode, TradingMode::Halted);
    // The same batch turned the kill switch on and audited both.
    assert_eq!(s.kill.borrow().as_ref().unwrap().value, "on");
    assert_eq!(
        s.audit_actions(),
        vec!["risk_state_changed", "kill_switch_changed"]
    );
    // The rules never clear it: healthy data, minutes and days later.
    for later in [t0() + Duration::minutes(1), t0() + Duration::days(1)] {
        s.equity.borrow_mut().push((ms(later), Some(100_000.0)));
        s.runs.borrow_mut().push((9, "ok".into(), Some(ms(later))));
        s.reconciliation.borrow_mut().as_mut().unwrap().checked_at = Some(ms(later));
        let st = evaluate(&s, later).state;
        assert!(st.state.halt(HaltCause::KillSwitch).is_some(), "{later}");
        assert_eq!(st.mode, TradingMode::Halted);
    }
    // Nor can a `clear` list.
    let e = block_on(service::set_state(
        &s,
        "access:me@example.com",
        TargetState::Reducing,
        "try",
        &[HaltCause::KillSwitch],
        t0(),
    ))
    .unwrap_err();
    assert!(matches!(e, RiskError::Invalid(_)));
    // A reason is required.
    let e = block_on(service::set_state(
        &s,
        "access:me@example.com",
        TargetState::Active,
        "  ",
        &[],
        t0(),
    ))
    .unwrap_err();
    assert!(matches!(e, RiskError::Invalid(_)));
    // The trader resumes.
    let later = t0() + Duration::days(1) + Duration::minutes(1);
    let out = block_on(service::set_state(
        &s,
        "access:me@example.com",
        TargetState::Active,
        "after FOMC",
        &[],
        later,
    ))
    .unwrap();
    assert!(out.state.state.halt(HaltCause::KillSwitch).is_none());
    assert_eq!(s.kill.borrow().as_ref().unwrap().value, "off");
}

#[test]
fn the_kill_switch_of_settings_is_mirrored_in_the_name_of_who_set_it() {
    let s = world();
    *s.kill.borrow_mut() = Some(KillSwitchRow {
        value: "on".into(),
        updated_at: ms(t0()),
        updated_by: "api_token".into(),
    });
    let st = evaluate(&s, t0()).state.state;
    let h = st.halt(HaltCause::KillSwitch).unwrap();
    assert_eq!(h.stamp.by, Actor::Trader("api_token".into()));
    // A missing kill switch row counts as on (fail closed).
    let s = world();
    *s.kill.borrow_mut() = None;
    assert!(evaluate(&s, t0())
        .state
        .state
        .halt(HaltCause::KillSwitch)
        .is_some());
}

#[test]
fn an_automatic_halt_cleared_by_the_trader_comes_back_while_it_holds() {
    let s = world();
    s.equity.borrow_mut().push((ms(t0()), Some(96_000.0)));
    evaluate(&s, t0());
    let out = block_on(service::set_state(
        &s,
        "api_token",
        TargetState::Active,
        "checked the account",
        &[HaltCause::DailyLoss],
        t0(),
    ))
    .unwrap();
    assert!(out.state.state.halt(HaltCause::DailyLoss).is_none());
    let again = evaluate(&s, t0() + Duration::seconds(30)).state.state;
    assert!(again.halt(HaltCause::DailyLoss).is_some());
}

#[test]
fn a_write_that_loses_the_compare_and_set_is_a_conflict() {
    let s = world();
    evaluate(&s, t0());
    // Another writer bumps the version between read and write: simulate by
    // a store whose version moves on every read.
    struct Racing<'a>(&'a MemoryRisk);
    impl super::store::RiskStore for Racing<'_> {
        async fn risk_state(
            &self,
        ) -> Result<Option<super::model::RiskStateRow>, crate::store::StoreError> {
            let r = self.0.risk_state().await?;
            self.0.state.borrow_mut().as_mut().unwrap().version += 1;
            Ok(r)
        }
        async fn write_state(
            &self,
            w: &super::store::StateWrite,
        ) -> Result<bool, crate::store::StoreError> {
            self.0.write_state(w).await
        }
        async fn kill_switch(&self) -> Result<Option<KillSwitchRow>, crate::store::StoreError> {
            self.0.kill_switch().await
        }
        async fn equity_points(
            &self,
            d: i64,
        ) -> Result<super::model::EquityPoints, crate::store::StoreError> {
            self.0.equity_points(d).await
        }
        async fn open_mark_ages(
            &self,
        ) -> Result<Vec<super::model::OpenMarkRow>, crate::store::StoreError> {
            self.0.open_mark_ages().await
        }
        async fn reconciliation(
            &self,
        ) -> Result<Option<ReconciliationRow>, crate::store::StoreError> {
            self.0.reconciliation().await
        }
        async fn last_ok_run(&self) -> Result<Option<i64>, crate::store::StoreError> {
            self.0.last_ok_run().await
        }
        async fn stop_outs(
            &self,
            since: i64,
        ) -> Result<Vec<super::model::StopOutRow>, crate::store::StoreError> {
            self.0.stop_outs(since).await
        }
        async fn switches(
            &self,
        ) -> Result<Vec<super::model::StrategySwitchRow>, crate::store::StoreError> {
            self.0.switches().await
        }
        async fn set_switch(
            &self,
            w: &super::store::SwitchWrite,
        ) -> Result<bool, crate::store::StoreError> {
            self.0.set_switch(w).await
        }
        async fn live_approved(&self) -> Result<Vec<ApprovedRow>, crate::store::StoreError> {
            self.0.live_approved().await
        }
        async fn active_positions(&self) -> Result<Vec<PositionRow>, crate::store::StoreError> {
            self.0.active_positions().await
        }
        async fn active_orders(
            &self,
        ) -> Result<Vec<crate::positions::model::OrderRow>, crate::store::StoreError> {
            self.0.active_orders().await
        }
        async fn open_ok_marks(
            &self,
        ) -> Result<Vec<super::model::OkMarkRow>, crate::store::StoreError> {
            self.0.open_ok_marks().await
        }
        async fn daily_bars(
            &self,
            s: &[String],
        ) -> Result<Vec<crate::chains::model::StoredBarsRow>, crate::store::StoreError> {
            self.0.daily_bars(s).await
        }
        async fn closed_trades(
            &self,
            a: i64,
            b: i64,
            l: u32,
        ) -> Result<Vec<super::model::ClosedTradeRow>, crate::store::StoreError> {
            self.0.closed_trades(a, b, l).await
        }
        async fn fills_of(
            &self,
            ids: &[i64],
        ) -> Result<Vec<TradeFillRow>, crate::store::StoreError> {
            self.0.fills_of(ids).await
        }
        async fn daily_equity(
            &self,
            a: i64,
            b: i64,
        ) -> Result<Vec<super::model::DailyEquityRow>, crate::store::StoreError> {
            self.0.daily_equity(a, b).await
        }
    }
    let audit_before = s.audit.borrow().len();
    let e = block_on(service::set_state(
        &Racing(&s),
        "api_token",
        TargetState::Halted,
        "now",
        &[],
        t0(),
    ))
    .unwrap_err();
    assert_eq!(e, RiskError::Conflict);
    // Nothing of the losing write is stored: no audit row, switch still off.
    assert_eq!(s.audit.borrow().len(), audit_before);
    assert_eq!(s.kill.borrow().as_ref().unwrap().value, "off");
}

// ---------------------------------------------------------------------------
// Pre-trade checks
// ---------------------------------------------------------------------------

#[test]
fn a_trade_on_a_clean_book_passes_with_every_check_reported() {
    let s = world();
    evaluate(&s, t0());
    let v = pre_trade(&s, &proposal_on("AAPL"), t0());
    assert!(v.approved, "{:?}", v.refusals);
    for name in [
        "strategy_enabled",
        "trading_state",
        "max_loss_per_trade",
        "portfolio_heat",
        "open_positions",
        "correlation_cluster",
        "volatility_adjusted_size",
        "net_delta",
        "net_vega",
        "net_theta",
        "buying_power",
    ] {
        assert_eq!(check(&v, name).verdict, Verdict::Pass, "{name}");
    }
    assert!(check(&v, "max_loss_per_trade").limit.is_some());
}

#[test]
fn a_missing_input_refuses() {
    let s = world();
    evaluate(&s, t0());
    let p = proposal_on("AAPL");
    // No account: net liquidation and buying power unknown.
    let v = block_on(service::pre_trade(
        &s,
        &cfg(),
        &p,
        &repriced(&p, 1),
        None,
        t0(),
    ))
    .unwrap();
    assert!(!v.approved);
    for name in [
        "max_loss_per_trade",
        "portfolio_heat",
        "buying_power",
        "net_vega",
    ] {
        assert!(refused(&v, name), "{name}: {:?}", v.refusals);
    }
    // A stale account is no account.
    let v = block_on(service::pre_trade(
        &s,
        &cfg(),
        &p,
        &repriced(&p, 1),
        Some(&account(t0() - Duration::minutes(10))),
        t0(),
    ))
    .unwrap();
    assert!(refused(&v, "account_fresh"));
    assert!(refused(&v, "max_loss_per_trade"));
    // No daily bars for the underlying: realized volatility unknown.
    s.bars.borrow_mut().remove("AAPL");
    let v = pre_trade(&s, &p, t0());
    assert!(refused(&v, "volatility_adjusted_size"), "{:?}", v.refusals);
    // Bars too old count as none.
    s.bars.borrow_mut().insert(
        "AAPL".into(),
        bars(yesterday() - Duration::days(30), 80, aapl_r),
    );
    let v = pre_trade(&s, &p, t0());
    assert!(refused(&v, "volatility_adjusted_size"));
    // An open position without a trustworthy mark: book greeks unknown.
    let s = world();
    evaluate(&s, t0());
    s.positions
        .borrow_mut()
        .push(position_row(1, "AAPL", "open"));
    let v = pre_trade(&s, &p, t0());
    assert!(refused(&v, "net_delta"), "{:?}", v.refusals);
    // Its summary is missing too: the heat is unknown.
    assert!(refused(&v, "portfolio_heat"));
    // A store failure is an error the approval must treat as a refusal.
    s.fail_reads.set(true);
    assert!(block_on(service::pre_trade(
        &s,
        &cfg(),
        &p,
        &repriced(&p, 1),
        Some(&account(t0())),
        t0()
    ))
    .is_err());
}

#[test]
fn an_unreadable_or_missing_state_refuses() {
    let s = world();
    s.state.borrow_mut().as_mut().unwrap().state = "not json".into();
    s.state.borrow_mut().as_mut().unwrap().version = 3;
    let v = pre_trade(&s, &proposal_on("AAPL"), t0());
    assert!(refused(&v, "trading_state_readable"));
    assert!(refused(&v, "trading_state"));
    *s.state.borrow_mut() = None;
    let v = pre_trade(&s, &proposal_on("AAPL"), t0());
    assert!(!v.approved);
    assert!(matches!(
        block_on(service::evaluate_and_store(&s, &cfg(), t0())),
        Err(RiskError::StateMissing)
    ));
}

#[test]
fn a_correlated_second_trade_is_refused_by_the_cluster_cap() {
    let s = world();
    evaluate(&s, t0());
    approve_live(&s, 1, "SPY");
    let v = pre_trade(&s, &proposal_on("QQQ"), t0());
    assert!(refused(&v, "correlation_cluster"), "{:?}", v.refusals);
    let c = check(&v, "correlation_cluster");
    assert_eq!(c.used, Some(2.0));
    assert_eq!(c.limit, Some(1.0));
    // AAPL moves on its own: allowed next to SPY.
    let v = pre_trade(&s, &proposal_on("AAPL"), t0());
    assert_eq!(check(&v, "correlation_cluster").verdict, Verdict::Pass);
    assert!(v.approved, "{:?}", v.refusals);
    // The held trade counts in the heat and the open positions.
    let heat = check(&v, "portfolio_heat");
    assert!(heat.used.unwrap() > 0.0);
    assert_eq!(check(&v, "open_positions").used, Some(2.0));
}

#[test]
fn a_held_underlying_without_history_refuses_the_cluster_check() {
    let s = world();
    evaluate(&s, t0());
    approve_live(&s, 1, "IWM");
    let v = pre_trade(&s, &proposal_on("AAPL"), t0());
    assert!(refused(&v, "correlation_cluster"), "{:?}", v.refusals);
}

#[test]
fn a_rejected_or_abandoned_order_no_longer_counts() {
    let s = world();
    evaluate(&s, t0());
    approve_live(&s, 1, "SPY");
    s.proposals.borrow_mut()[0].row.order_status = Some("abandoned".into());
    let v = pre_trade(&s, &proposal_on("QQQ"), t0());
    assert!(v.approved, "{:?}", v.refusals);
}

// ---------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------

#[test]
fn a_disabled_strategy_is_reported_disabled() {
    let s = world();
    evaluate(&s, t0());
    let p = proposal_on("AAPL");
    let kind = p.strategy;
    let out = block_on(service::set_strategy(
        &s,
        "api_token",
        kind.as_str(),
        false,
        "losing in this regime",
        t0(),
    ))
    .unwrap();
    assert!(out.changed);
    assert!(!out.strategy.enabled);
    let list = block_on(service::strategies(&s)).unwrap();
    assert_eq!(list.len(), StrategyKind::ALL.len());
    let me = list.iter().find(|v| v.strategy == kind.as_str()).unwrap();
    assert!(!me.enabled);
    assert_eq!(me.reason.as_deref(), Some("losing in this regime"));
    assert!(list
        .iter()
        .filter(|v| v.strategy != kind.as_str())
        .all(|v| v.enabled));
    let enabled = block_on(service::enabled_strategies(&s)).unwrap();
    assert!(!enabled.contains(&kind));
    assert_eq!(enabled.len(), StrategyKind::ALL.len() - 1);
    // Its approvals are refused.
    let v = pre_trade(&s, &p, t0());
    assert!(refused(&v, "strategy_enabled"));
    assert_eq!(s.audit_actions(), vec!["strategy_switched"]);
    // Setting it again changes nothing and audits nothing.
    let again = block_on(service::set_strategy(
        &s,
        "api_token",
        kind.as_str(),
        false,
        "again",
        t0(),
    ))
    .unwrap();
    assert!(!again.changed);
    assert_eq!(s.audit_actions().len(), 1);
    // Enabled again.
    block_on(service::set_strategy(
        &s,
        "api_token",
        kind.as_str(),
        true,
        "regime changed",
        t0(),
    ))
    .unwrap();
    assert!(pre_trade(&s, &p, t0()).approved);
    assert_eq!(s.audit_actions().len(), 2);
}

#[test]
fn strategy_switches_refuse_unknown_names_and_empty_reasons_and_fail_closed() {
    let s = world();
    let e = block_on(service::set_strategy(&s, "a", "straddle", false, "x", t0())).unwrap_err();
    assert!(matches!(e, RiskError::Invalid(_)));
    let e = block_on(service::set_strategy(
        &s,
        "a",
        "long_call",
        false,
        " ",
        t0(),
    ))
    .unwrap_err();
    assert!(matches!(e, RiskError::Invalid(_)));
    // Enabling a never-disabled strategy writes nothing.
    let out = block_on(service::set_strategy(&s, "a", "long_call", true, "x", t0())).unwrap();
    assert!(!out.changed);
    assert!(s.audit.borrow().is_empty());
    // When the switches cannot be read, nothing is known to be enabled.
    s.fail_reads.set(true);
    assert!(block_on(service::enabled_strategies(&s)).is_err());
}

// ---------------------------------------------------------------------------
// GET /risk and GET /performance
// ---------------------------------------------------------------------------

#[test]
fn the_overview_lists_every_limit_with_its_use() {
    let s = world();
    evaluate(&s, t0());
    approve_live(&s, 1, "SPY");
    s.equity.borrow_mut().push((ms(t0()), Some(99_000.0)));
    let o = block_on(service::overview(&s, &cfg(), t0())).unwrap();
    let daily = o.limits.iter().find(|l| l.name == "daily_loss").unwrap();
    assert_eq!(daily.limit, Some(3_000.0));
    assert_eq!(daily.used, Some(1_000.0));
    assert_eq!(daily.reached, Some(false));
    let open = o
        .limits
        .iter()
        .find(|l| l.name == "open_positions")
        .unwrap();
    assert_eq!(open.used, Some(1.0));
    assert_eq!(o.now_mode, TradingMode::Active);
    assert!(!o.kill_switch_on);
    assert_eq!(o.limits.len(), 13);
}

fn call(strike: f64) -> ContractId {
    ContractId::option(
        sym("SPY"),
        OptionRight::Call,
        NaiveDate::from_ymd_opt(2026, 12, 18).unwrap(),
        strike,
    )
    .unwrap()
}

/// A closed long call of `units` bought at `buy` and sold at `sell`, with $1
/// commission per fill.
fn closed_long_call(s: &MemoryRisk, id: i64, units: i64, buy: f64, sell: f64, mid: f64) {
    let key = format!("t{id}");
    let opened = t0() - Duration::days(3);
    let closed = t0() - Duration::days(1);
    let spec = PositionSpec {
        key: key.clone(),
        symbol: sym("SPY"),
        strategy: StrategyKind::LongCall,
        legs: vec![PlannedLeg {
            contract: call(600.0),
            ratio: 1,
        }],
        units: u32::try_from(units).unwrap(),
    };
    let mut ledger = Ledger::new();
    for (exec, order, q, p, at) in [
        ("e1", key.clone(), units, buy, opened),
        ("e2", format!("{key}:x1"), -units, sell, closed),
    ] {
        ledger.record_execution(Execution {
            exec_id: format!("{key}-{exec}"),
            order_ref: order.clone(),
            contract: call(600.0),
            quantity: q,
            price: Money::from_dollars(p).unwrap(),
            time: at,
        });
        s.fills.borrow_mut().push(TradeFillRow {
            position_id: id,
            order_key: order,
            contract: serde_json::to_string(&call(600.0)).unwrap(),
            quantity: q,
            price_micros: Money::from_dollars(p).unwrap().micros(),
            commission_micros: Some(1_000_000),
        });
    }
    let position = Position::build(&spec, &ledger);
    let gross = ((sell - buy) * 100.0 * units as f64 * 1e6).round() as i64;
    let mut row = position_row(id, "SPY", "closed");
    row.key = key;
    row.strategy = "long_call".into();
    row.summary = Some(serde_json::to_string(&position).unwrap());
    row.realized_micros = gross - 2_000_000;
    row.opened_at = Some(ms(opened));
    row.closed_at = Some(ms(closed));
    row.exit_reason = Some("take_profit".into());
    s.positions.borrow_mut().push(row);
    let p = proposal_on("SPY");
    s.proposals.borrow_mut().push(MemProposal {
        row: ApprovedRow {
            id: 1_000 + id,
            idempotency_key: format!("t{id}"),
            symbol: "SPY".into(),
            strategy: "long_call".into(),
            contracts: units,
            approved_contracts: Some(units),
            max_loss: 100.0,
            proposal_json: serde_json::to_string(&p).unwrap(),
            order_status: Some("submitted".into()),
            position_status: Some("closed".into()),
        },
        status: "approved".into(),
        approved_limit_price: Some(mid),
    });
}

#[test]
fn performance_figures_come_from_closed_positions_and_equity_snapshots() {
    let s = world();
    s.equity.borrow_mut().clear();
    // +$200 gross - $2 = +$198 on 2 sets (paid 2.00 vs mid 1.95: $5 a set
    // of entry slippage); -$50 gross - $2 = -$52 on 1 set.
    closed_long_call(&s, 1, 2, 2.00, 3.00, 1.95);
    closed_long_call(&s, 2, 1, 2.00, 1.50, 2.00);
    // Trade 1's exit was triggered at a mark of 3.05 a share ($610 for the
    // 2 sets) and filled at 3.00: $5 a set of exit slippage. Trade 2 was
    // closed by the trader: no triggering mark, no exit slippage.
    s.audit.borrow_mut().push(crate::audit::AuditEntry::about(
        "position",
        1,
        ms(t0() - Duration::days(1)),
        "system:monitor",
        crate::audit::AuditAction::ExitTriggered,
        Some("open"),
        Some("closing"),
        serde_json::json!({ "reason": "take_profit",
            "mark": { "value_mid": 610.0, "value_natural": 600.0, "unrealized_mid": 210.0 } }),
    ));
    // Daily equity at 20:00 UTC on three days (+1 %, then -1 %).
    for (d, nl) in [(14, 100_000.0), (15, 101_000.0), (16, 99_990.0)] {
        let at = Utc.with_ymd_and_hms(2026, 11, d, 20, 0, 0).unwrap();
        s.equity.borrow_mut().push((ms(at), Some(nl)));
        // A night snapshot is not the day's close.
        s.equity
            .borrow_mut()
            .push((ms(at + Duration::hours(6)), Some(1.0)));
    }
    let from = ms(t0() - Duration::days(10));
    let v = block_on(service::performance(&s, from, ms(t0()))).unwrap();
    assert!(v.unreadable.is_empty(), "{:?}", v.unreadable);
    assert_eq!(v.trades.trades, 2);
    assert_eq!(v.trades.wins, 1);
    assert_eq!(v.trades.net_pnl, Money::from_dollars(146.0).unwrap());
    assert_eq!(v.trades.commissions, Money::from_dollars(4.0).unwrap());
    assert_eq!(v.trades.entry_slippage, Money::from_dollars(10.0).unwrap());
    assert_eq!(v.trades.exit_slippage, Money::from_dollars(10.0).unwrap());
    assert_eq!(v.trades.exit_slippage_trades, 1);
    let r = &v.equity.daily_returns;
    assert_eq!(r.len(), 2, "{r:?}");
    assert!((r[0] - 0.01).abs() < 1e-12);
    assert!((r[1] - (99_990.0 / 101_000.0 - 1.0)).abs() < 1e-12);
    assert_eq!(v.attribution["strategy"]["long_call"].trades, 2);
    assert_eq!(v.attribution["underlying"]["SPY"].trades, 2);
    // An empty or inverted range is refused.
    assert!(matches!(
        block_on(service::performance(&s, 10, 10)),
        Err(RiskError::Invalid(_))
    ));
}

#[test]
fn the_volatility_adjusted_size_only_lowers_the_contracts() {
    use super::view::CheckLine;
    let line = |check: &str, refuse: bool, limit: Option<f64>| CheckLine {
        check: check.into(),
        inputs: vec![],
        limit,
        used: None,
        verdict: if refuse {
            Verdict::Refuse("no".into())
        } else {
            Verdict::Pass
        },
    };
    let verdict = |checks: Vec<CheckLine>| RiskVerdict {
        approved: checks.iter().all(|c| c.verdict == Verdict::Pass),
        contracts: 50,
        mode: None,
        refusals: vec![],
        checks,
    };
    let only_vol = verdict(vec![
        line("portfolio_heat", false, Some(1e5)),
        line("volatility_adjusted_size", true, Some(3.7)),
    ]);
    assert_eq!(service::vol_adjusted_resize(&only_vol, 50), Some(3));
    // Never raised, never to zero.
    assert_eq!(service::vol_adjusted_resize(&only_vol, 2), None);
    let below_one = verdict(vec![line("volatility_adjusted_size", true, Some(0.4))]);
    assert_eq!(service::vol_adjusted_resize(&below_one, 50), None);
    // With another refusal too (max loss at the larger size), the smaller
    // trade is checked again and that verdict decides.
    let two = verdict(vec![
        line("max_loss_per_trade", true, Some(2_000.0)),
        line("volatility_adjusted_size", true, Some(3.0)),
    ]);
    assert_eq!(service::vol_adjusted_resize(&two, 50), Some(3));
    // The size passed: nothing to re-size, whatever else refused.
    let other = verdict(vec![
        line("portfolio_heat", true, Some(1e5)),
        line("volatility_adjusted_size", false, Some(3.0)),
    ]);
    assert_eq!(service::vol_adjusted_resize(&other, 50), None);
    let p = proposal_on("SPY");
    let r = service::resized(&repriced(&p, 10), 4);
    assert_eq!(r.contracts, 4);
    assert!((r.total_max_loss - p.metrics.max_loss_natural * 4.0).abs() < 1e-6);
}
