//! The risk workflows over a [`RiskStore`], with the clock passed in:
//! evaluate and store the trading state, the trader's halt and resume, the
//! pre-trade checks of an approval, strategy switches, the risk overview
//! and the performance figures. The rules are `sas_core::risk` and
//! `sas_core::performance`; nothing here decides a limit by itself.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use sas_core::analytics::vol::close_to_close_vol;
use sas_core::market::{Account, Symbol};
use sas_core::money::Money;
use sas_core::orders::{Order, OrderPurpose};
use sas_core::performance::{
    attribution, driving_factor, equity_figures, trade_stats, ClosedTrade, Dimension,
    EquitySnapshot,
};
use sas_core::portfolio::{heat, ApprovedTrade, ExitReason, MarkGreeks, Position, PositionStatus};
use sas_core::risk::{
    apply_trader_action, correlation_clusters, evaluate, pre_trade_checks, Actor, BookInputs,
    Change, CheckInput, DailyClose, HaltCause, RiskConfig, StrategySwitches, Subject, TradeRequest,
    TraderAction, TradingMode, TradingState, Transition, Verdict,
};
use sas_core::strategy::{Proposal, Repriced, StrategyKind};

use super::model::{
    self, ny_date, ny_day_start, observation, ClosedTradeRow, RiskSnapshot, RiskStateRow,
    StrategySwitchRow, TradeFillRow,
};
use super::store::{RiskStore, StateWrite, SwitchWrite};
use super::view::{
    CheckLine, LimitUse, PerformanceView, RiskOverview, RiskVerdict, StateChange, StateView,
    StrategyChange, StrategyView,
};
use super::{RiskError, MAX_PERFORMANCE_TRADES, RISK_ACTOR};
use crate::audit::{AuditAction, AuditEntry};
use crate::config::risk::WorkerRiskConfig;
use crate::positions::model::{order_of_row, PositionRow};
use crate::settings::{kill_switch_on, KillSwitchRow};

// ---------------------------------------------------------------------------
// The trading state
// ---------------------------------------------------------------------------

fn mode_str(m: TradingMode) -> &'static str {
    match m {
        TradingMode::Active => "active",
        TradingMode::Reducing => "reducing",
        TradingMode::Halted => "halted",
    }
}

/// The stored state; the migration's empty `{}` (never written) reads as
/// the default state.
fn parse_state(row: &RiskStateRow) -> Result<TradingState, RiskError> {
    if row.version == 0 && row.state.trim() == "{}" {
        return Ok(TradingState::default());
    }
    serde_json::from_str(&row.state).map_err(|e| RiskError::StateUnreadable(e.to_string()))
}

fn state_view(row: &RiskStateRow, state: TradingState) -> StateView {
    StateView {
        mode: state.mode(),
        state,
        version: row.version,
        evaluated_at: row.evaluated_at,
        updated_at: row.updated_at,
        updated_by: row.updated_by.clone(),
    }
}

/// Reads everything one evaluation needs.
pub async fn read_snapshot(
    store: &impl RiskStore,
    cfg: &RiskConfig,
    now: DateTime<Utc>,
) -> Result<RiskSnapshot, RiskError> {
    let since = now - Duration::minutes(cfg.stop_streak_window_minutes);
    Ok(RiskSnapshot {
        equity: store
            .equity_points(ny_day_start(now).timestamp_millis())
            .await?,
        open_marks: store.open_mark_ages().await?,
        reconciliation: store.reconciliation().await?,
        bridge_last_seen: store.last_ok_run().await?,
        stop_outs: store.stop_outs(since.timestamp_millis()).await?,
    })
}

/// The next state from the stored one (pure): the kill switch of `settings`
/// mirrored as the trader's cause (on, or a missing row: raised in the name
/// of whoever set it; off: cleared by whoever turned it off — never by a
/// rule), the session high-water mark seeded from the day's equity
/// snapshots, then core's rules on the observation.
pub fn next_state(
    stored: &TradingState,
    kill: Option<&KillSwitchRow>,
    snapshot: &RiskSnapshot,
    cfg: &RiskConfig,
    now: DateTime<Utc>,
) -> Transition {
    let mut state = stored.clone();
    let mut changes = Vec::new();
    let on = kill_switch_on(kill);
    let has = state.halt(HaltCause::KillSwitch).is_some();
    let who = kill
        .map(|k| k.updated_by.clone())
        .filter(|w| !w.trim().is_empty())
        .unwrap_or_else(|| "settings".to_owned());
    let sync = if on && !has {
        let why = if kill.is_some() {
            "kill switch on (settings)"
        } else {
            "kill switch row missing: counts as on"
        };
        Some((TraderAction::KillSwitch, why))
    } else if !on && has {
        Some((
            TraderAction::Clear(HaltCause::KillSwitch),
            "kill switch off (settings)",
        ))
    } else {
        None
    };
    if let Some((action, why)) = sync {
        if let Ok(t) = apply_trader_action(&state, &action, &who, why, now) {
            state = t.state;
            changes.extend(t.changes);
        }
    }
    // The intraday mark from the snapshots (it only ever rises within a day).
    let today = ny_date(now);
    let high = model::day_high(snapshot);
    if state.session == Some(today) {
        state.high_water_mark = match (state.high_water_mark, high) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    } else {
        state.session = Some(today);
        state.high_water_mark = high;
    }
    let obs = observation(snapshot, cfg.stale_data_minutes, now);
    let t = evaluate(&state, &obs, cfg, now);
    changes.extend(t.changes);
    Transition {
        state: t.state,
        changes,
    }
}

fn audit_of(change: &Change, from: TradingMode, to: TradingMode) -> AuditEntry {
    let actor = match &change.stamp.by {
        Actor::Rule => RISK_ACTOR.to_owned(),
        Actor::Trader(name) => name.clone(),
    };
    AuditEntry::about(
        "risk_state",
        1,
        change.stamp.at.timestamp_millis(),
        &actor,
        AuditAction::RiskStateChanged,
        Some(mode_str(from)),
        Some(mode_str(to)),
        serde_json::json!({
            "subject": change.subject,
            "raised": change.raised,
            "reason": change.stamp.reason,
        }),
    )
}

/// The rules on the stored data, stored with one audit row per change in
/// the same batch (compare-and-set on the state's version, retried once).
/// Called by the monitor (or cron) each run. Writes nothing when nothing
/// changed.
pub async fn evaluate_and_store(
    store: &impl RiskStore,
    cfg: &WorkerRiskConfig,
    now: DateTime<Utc>,
) -> Result<StateChange, RiskError> {
    for _ in 0..2 {
        let row = store.risk_state().await?.ok_or(RiskError::StateMissing)?;
        let stored = parse_state(&row)?;
        let kill = store.kill_switch().await?;
        let snapshot = read_snapshot(store, &cfg.limits, now).await?;
        let t = next_state(&stored, kill.as_ref(), &snapshot, &cfg.limits, now);
        let json = serde_json::to_string(&t.state)
            .map_err(|e| RiskError::StateUnreadable(e.to_string()))?;
        let mode = t.state.mode();
        if json == row.state && mode_str(mode) == row.mode {
            return Ok(StateChange {
                state: state_view(&row, t.state),
                changes: Vec::new(),
            });
        }
        let from = stored.mode();
        let at_ms = now.timestamp_millis();
        let w = StateWrite {
            expected_version: row.version,
            state_json: json.clone(),
            mode: mode_str(mode),
            at_ms,
            actor: RISK_ACTOR.to_owned(),
            evaluated_at: Some(at_ms),
            kill_switch: None,
            audit: t.changes.iter().map(|c| audit_of(c, from, mode)).collect(),
        };
        if store.write_state(&w).await? {
            let new_row = RiskStateRow {
                state: json,
                mode: mode_str(mode).to_owned(),
                version: row.version + 1,
                evaluated_at: Some(at_ms),
                updated_at: at_ms,
                updated_by: RISK_ACTOR.to_owned(),
            };
            return Ok(StateChange {
                state: state_view(&new_row, t.state),
                changes: t.changes,
            });
        }
    }
    Err(RiskError::Conflict)
}

/// What the trader asks for (`POST /risk/state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetState {
    /// The trader's halt (the kill switch): only the trader clears it.
    Halted,
    /// Only trades that lower exposure.
    Reducing,
    /// Clears the trader's halt and reducing (automatic causes stay until
    /// their rule clears them, or `clear` names them).
    Active,
}

/// The trader's change, audited by name and reason in the same batch: the
/// state's compare-and-set, the kill switch of `settings` (halted → on,
/// active → off, so every existing kill-switch check follows) and one audit
/// row per change. `clear` names automatic causes to clear now; one whose
/// condition still holds is raised again by the next evaluation.
pub async fn set_state(
    store: &impl RiskStore,
    actor: &str,
    target: TargetState,
    reason: &str,
    clear: &[HaltCause],
    now: DateTime<Utc>,
) -> Result<StateChange, RiskError> {
    if reason.trim().is_empty() || actor.trim().is_empty() {
        return Err(RiskError::Invalid("a reason is required".into()));
    }
    if clear.contains(&HaltCause::KillSwitch) {
        return Err(RiskError::Invalid(
            "the kill switch is cleared with state \"active\"".into(),
        ));
    }
    let row = store.risk_state().await?.ok_or(RiskError::StateMissing)?;
    let stored = parse_state(&row)?;
    let kill = store.kill_switch().await?;
    let mut actions = Vec::new();
    match target {
        TargetState::Halted => actions.push(TraderAction::KillSwitch),
        TargetState::Reducing => actions.push(TraderAction::Reduce),
        TargetState::Active => {
            actions.push(TraderAction::Clear(HaltCause::KillSwitch));
            actions.push(TraderAction::Resume);
        }
    }
    actions.extend(clear.iter().map(|c| TraderAction::Clear(*c)));
    let mut state = stored.clone();
    let mut changes = Vec::new();
    for a in &actions {
        match apply_trader_action(&state, a, actor, reason, now) {
            Ok(t) => {
                state = t.state;
                changes.extend(t.changes);
            }
            Err(sas_core::risk::ActionRefusal::NoChange) => {}
            Err(sas_core::risk::ActionRefusal::MissingIdentity) => {
                return Err(RiskError::Invalid("a reason is required".into()));
            }
        }
    }
    let was_on = kill_switch_on(kill.as_ref());
    let switch = match target {
        TargetState::Halted => Some(true),
        TargetState::Active => Some(false),
        TargetState::Reducing => None,
    }
    .filter(|on| *on != was_on);
    if changes.is_empty() && switch.is_none() {
        return Ok(StateChange {
            state: state_view(&row, stored),
            changes,
        });
    }
    let mode = state.mode();
    let at_ms = now.timestamp_millis();
    let mut audit: Vec<AuditEntry> = changes
        .iter()
        .map(|c| audit_of(c, stored.mode(), mode))
        .collect();
    if let Some(on) = switch {
        let word = |b: bool| if b { "on" } else { "off" };
        audit.push(AuditEntry {
            at: at_ms,
            actor: actor.to_owned(),
            action: AuditAction::KillSwitchChanged,
            entity: "setting",
            entity_id: Some("kill_switch".into()),
            from_state: Some(word(was_on).into()),
            to_state: Some(word(on).into()),
            details: serde_json::json!({ "reason": reason, "via": "POST /risk/state" }),
        });
    }
    let json =
        serde_json::to_string(&state).map_err(|e| RiskError::StateUnreadable(e.to_string()))?;
    let w = StateWrite {
        expected_version: row.version,
        state_json: json.clone(),
        mode: mode_str(mode),
        at_ms,
        actor: actor.to_owned(),
        evaluated_at: None,
        kill_switch: switch,
        audit,
    };
    if !store.write_state(&w).await? {
        return Err(RiskError::Conflict);
    }
    let new_row = RiskStateRow {
        state: json,
        mode: mode_str(mode).to_owned(),
        version: row.version + 1,
        evaluated_at: row.evaluated_at,
        updated_at: at_ms,
        updated_by: actor.to_owned(),
    };
    Ok(StateChange {
        state: state_view(&new_row, state),
        changes,
    })
}

/// The trader's pause (or resume) of every automated exit (`POST
/// /risk/exits`), audited by name and reason in the state's batch. While
/// paused the position monitor still marks and evaluates every exit and
/// records what it would do, but sends no closing order; the trading mode is
/// untouched (entries follow their own rules), and resuming trading does not
/// resume exits. Asking for the current setting changes nothing.
pub async fn set_exits(
    store: &impl RiskStore,
    actor: &str,
    paused: bool,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<StateChange, RiskError> {
    if reason.trim().is_empty() || actor.trim().is_empty() {
        return Err(RiskError::Invalid("a reason is required".into()));
    }
    for _ in 0..2 {
        let row = store.risk_state().await?.ok_or(RiskError::StateMissing)?;
        let stored = parse_state(&row)?;
        let action = if paused {
            TraderAction::PauseExits
        } else {
            TraderAction::ResumeExits
        };
        let t = match apply_trader_action(&stored, &action, actor, reason, now) {
            Ok(t) => t,
            Err(sas_core::risk::ActionRefusal::NoChange) => {
                return Ok(StateChange {
                    state: state_view(&row, stored),
                    changes: Vec::new(),
                })
            }
            Err(sas_core::risk::ActionRefusal::MissingIdentity) => {
                return Err(RiskError::Invalid("a reason is required".into()));
            }
        };
        let mode = t.state.mode();
        let at_ms = now.timestamp_millis();
        let json = serde_json::to_string(&t.state)
            .map_err(|e| RiskError::StateUnreadable(e.to_string()))?;
        let w = StateWrite {
            expected_version: row.version,
            state_json: json.clone(),
            mode: mode_str(mode),
            at_ms,
            actor: actor.to_owned(),
            evaluated_at: None,
            kill_switch: None,
            audit: t
                .changes
                .iter()
                .map(|c| audit_of(c, stored.mode(), mode))
                .collect(),
        };
        if store.write_state(&w).await? {
            let new_row = RiskStateRow {
                state: json,
                mode: mode_str(mode).to_owned(),
                version: row.version + 1,
                evaluated_at: row.evaluated_at,
                updated_at: at_ms,
                updated_by: actor.to_owned(),
            };
            return Ok(StateChange {
                state: state_view(&new_row, t.state),
                changes: t.changes,
            });
        }
    }
    Err(RiskError::Conflict)
}

/// The stored state.
pub async fn stored_state(store: &impl RiskStore) -> Result<StateView, RiskError> {
    let row = store.risk_state().await?.ok_or(RiskError::StateMissing)?;
    let state = parse_state(&row)?;
    Ok(state_view(&row, state))
}

// ---------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------

fn kind_of(name: &str) -> Option<StrategyKind> {
    StrategyKind::ALL.into_iter().find(|k| k.as_str() == name)
}

fn strategy_view(kind: StrategyKind, row: Option<&StrategySwitchRow>) -> StrategyView {
    StrategyView {
        strategy: kind.as_str(),
        enabled: row.is_none_or(|r| r.enabled == 1),
        reason: row.map(|r| r.reason.clone()),
        updated_at: row.map(|r| r.updated_at),
        updated_by: row.map(|r| r.updated_by.clone()),
    }
}

/// Every strategy with its switch (`GET /strategies`).
pub async fn strategies(store: &impl RiskStore) -> Result<Vec<StrategyView>, RiskError> {
    let rows = store.switches().await?;
    Ok(StrategyKind::ALL
        .into_iter()
        .map(|k| strategy_view(k, rows.iter().find(|r| r.strategy == k.as_str())))
        .collect())
}

/// The switches as core's [`StrategySwitches`] (disabled ones with who/why/when).
pub async fn switches(store: &impl RiskStore) -> Result<StrategySwitches, RiskError> {
    let mut out = StrategySwitches::default();
    for r in store.switches().await? {
        if let (Some(kind), 0) = (kind_of(&r.strategy), r.enabled) {
            out.disable(
                kind,
                sas_core::risk::Stamp {
                    by: Actor::Trader(r.updated_by.clone()),
                    reason: r.reason.clone(),
                    at: model::at(r.updated_at),
                },
            );
        }
    }
    Ok(out)
}

/// The strategies proposal generation may use now. An error must stop
/// generation (fail closed): nothing is known to be enabled.
pub async fn enabled_strategies(store: &impl RiskStore) -> Result<Vec<StrategyKind>, RiskError> {
    let s = switches(store).await?;
    Ok(StrategyKind::ALL
        .into_iter()
        .filter(|k| s.may_generate(*k))
        .collect())
}

/// Enables or disables a strategy (`PUT /strategies`), audited in the same
/// batch. Its open positions keep being managed.
pub async fn set_strategy(
    store: &impl RiskStore,
    actor: &str,
    strategy: &str,
    enabled: bool,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<StrategyChange, RiskError> {
    let kind = kind_of(strategy.trim())
        .ok_or_else(|| RiskError::Invalid(format!("unknown strategy {strategy:?}")))?;
    if reason.trim().is_empty() {
        return Err(RiskError::Invalid("a reason is required".into()));
    }
    let before = strategies(store)
        .await?
        .into_iter()
        .find(|v| v.strategy == kind.as_str())
        .is_none_or(|v| v.enabled);
    let word = |b: bool| if b { "enabled" } else { "disabled" };
    let at_ms = now.timestamp_millis();
    let w = SwitchWrite {
        strategy: kind.as_str().to_owned(),
        enabled,
        reason: reason.to_owned(),
        at_ms,
        actor: actor.to_owned(),
        audit: AuditEntry::about(
            "strategy",
            kind.as_str(),
            at_ms,
            actor,
            AuditAction::StrategySwitched,
            Some(word(before)),
            Some(word(enabled)),
            serde_json::json!({ "reason": reason }),
        ),
    };
    let changed = store.set_switch(&w).await?;
    let rows = store.switches().await?;
    Ok(StrategyChange {
        strategy: strategy_view(kind, rows.iter().find(|r| r.strategy == kind.as_str())),
        changed,
    })
}

// ---------------------------------------------------------------------------
// The book and the pre-trade checks
// ---------------------------------------------------------------------------

/// The stored book the checks need (without the broker's account).
#[derive(Debug, Clone, Default)]
pub struct StoredBook {
    pub heat: Option<sas_core::portfolio::Heat>,
    pub positions_by_symbol: BTreeMap<Symbol, u32>,
    pub greeks: Option<MarkGreeks>,
    pub closes: BTreeMap<Symbol, Vec<DailyClose>>,
    pub realized_vol: BTreeMap<Symbol, f64>,
}

fn proposal_of(json: &str) -> Option<Proposal> {
    serde_json::from_str(json).ok()
}

fn add_greeks(acc: &mut MarkGreeks, g: &MarkGreeks, k: f64) {
    let add = |a: &mut Option<f64>, b: Option<f64>| {
        *a = match (*a, b) {
            (Some(x), Some(y)) if y.is_finite() => Some(x + y * k),
            _ => None,
        };
    };
    add(&mut acc.delta, g.delta);
    add(&mut acc.gamma, g.gamma);
    add(&mut acc.theta, g.theta);
    add(&mut acc.vega, g.vega);
}

fn per_set_greeks(p: &Proposal) -> MarkGreeks {
    let g = &p.metrics.greeks;
    MarkGreeks {
        delta: Some(g.delta),
        gamma: Some(g.gamma),
        theta: Some(g.theta_per_day),
        vega: Some(g.vega_per_point),
    }
}

/// Reads the book: heat (open positions, working entries, approved not
/// filled), positions per underlying, net greeks (newest trustworthy mark
/// of each open position + the proposal's greeks for what may still fill),
/// daily closes and realized volatility of `extra` and every held symbol.
/// Anything unreadable makes its part `None` (a refusal downstream).
pub async fn read_book(
    store: &impl RiskStore,
    cfg: &WorkerRiskConfig,
    extra: Option<&Symbol>,
    now: DateTime<Utc>,
) -> Result<StoredBook, RiskError> {
    let approved = store.live_approved().await?;
    let positions = store.active_positions().await?;
    let order_rows = store.active_orders().await?;
    let marks = store.open_ok_marks().await?;

    let mut unreadable = false;
    let mut trades = Vec::new();
    let mut proposals: BTreeMap<String, Option<Proposal>> = BTreeMap::new();
    for r in &approved {
        let p = proposal_of(&r.proposal_json);
        let units = r.approved_contracts.unwrap_or(r.contracts);
        let loss = p
            .as_ref()
            .map(|p| p.metrics.max_loss_natural)
            .filter(|v| v.is_finite() && *v > 0.0)
            .map_or(f64::INFINITY, |n| n.max(r.max_loss));
        trades.push(ApprovedTrade {
            key: r.idempotency_key.clone(),
            units: u32::try_from(units).unwrap_or(u32::MAX),
            max_loss_per_unit: loss,
        });
        proposals.insert(r.idempotency_key.clone(), p);
    }
    let mut core_positions: Vec<Position> = Vec::new();
    for p in &positions {
        match p.summary.as_deref().map(serde_json::from_str::<Position>) {
            Some(Ok(pos)) => core_positions.push(pos),
            Some(Err(_)) => unreadable = true,
            None if p.status == "open" => unreadable = true,
            None => {}
        }
    }
    let mut orders: Vec<Order> = Vec::new();
    for o in &order_rows {
        match order_of_row(o) {
            Ok(o) => orders.push(o),
            Err(_) => unreadable = true,
        }
    }
    let h = heat(&trades, &core_positions, &orders);
    let heat = (!unreadable).then_some(h);

    // Net greeks.
    let mut greeks = Some(MarkGreeks {
        delta: Some(0.0),
        gamma: Some(0.0),
        theta: Some(0.0),
        vega: Some(0.0),
    });
    let open_rows: Vec<&PositionRow> = positions.iter().filter(|p| p.status == "open").collect();
    for p in &open_rows {
        let g = marks
            .iter()
            .find(|m| m.position_id == p.id)
            .and_then(|m| m.greeks.as_deref())
            .and_then(|g| serde_json::from_str::<MarkGreeks>(g).ok());
        match (greeks.as_mut(), g) {
            (Some(acc), Some(g)) => add_greeks(acc, &g, 1.0),
            _ => greeks = None,
        }
    }
    for r in &approved {
        // What may still fill: the approved units less what the entry filled,
        // while the entry is live or not known.
        let pos = core_positions.iter().find(|p| p.key == r.idempotency_key);
        let entry = orders
            .iter()
            .find(|o| o.purpose == OrderPurpose::Entry && o.key == r.idempotency_key);
        let units = u32::try_from(r.approved_contracts.unwrap_or(r.contracts)).unwrap_or(0);
        let may_fill = match entry {
            None => units.saturating_sub(pos.map_or(0, |p| p.entry_filled_units)),
            Some(o) if o.status.is_live() => o.unfilled(),
            Some(_) => 0,
        };
        if may_fill == 0 {
            continue;
        }
        let per = proposals
            .get(&r.idempotency_key)
            .and_then(Option::as_ref)
            .map(per_set_greeks);
        match (greeks.as_mut(), per) {
            (Some(acc), Some(g)) => add_greeks(acc, &g, f64::from(may_fill)),
            _ => greeks = None,
        }
    }
    let greeks = greeks.filter(|g| g.delta.is_some() && g.vega.is_some() && g.theta.is_some());

    // Held symbols and their daily closes.
    let positions_by_symbol = model::positions_by_symbol(&approved);
    let mut symbols: BTreeSet<String> = positions_by_symbol
        .keys()
        .map(|s| s.as_str().to_owned())
        .collect();
    if let Some(s) = extra {
        symbols.insert(s.as_str().to_owned());
    }
    let list: Vec<String> = symbols.into_iter().collect();
    let bars_rows = if list.is_empty() {
        Vec::new()
    } else {
        store.daily_bars(&list).await?
    };
    let today = ny_date(now);
    let mut closes = BTreeMap::new();
    let mut realized_vol = BTreeMap::new();
    for name in &list {
        let Ok(symbol) = Symbol::parse(name) else {
            continue;
        };
        let bars = crate::chains::model::stored_bars_of(&bars_rows, &symbol);
        let fresh = bars
            .last()
            .is_some_and(|b| (today - b.date).num_days() <= cfg.max_bar_age_days);
        if !fresh {
            // Missing or stale history: no correlation, no volatility.
            closes.insert(symbol, Vec::new());
            continue;
        }
        if let Some(v) = close_to_close_vol(&bars, cfg.realized_vol_days) {
            realized_vol.insert(symbol.clone(), v);
        }
        closes.insert(
            symbol,
            bars.iter()
                .map(|b| DailyClose {
                    date: b.date,
                    close: b.close,
                })
                .collect(),
        );
    }
    Ok(StoredBook {
        heat,
        positions_by_symbol,
        greeks,
        closes,
        realized_vol,
    })
}

fn line(check: &str, inputs: Vec<CheckInput>, verdict: Verdict) -> CheckLine {
    CheckLine {
        check: check.to_owned(),
        inputs,
        limit: None,
        used: None,
        verdict,
    }
}

fn snake<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The pre-trade checks of an approval on the real book, every check with
/// its inputs, limit, use and verdict. Fails closed: a missing or stale
/// input (account older than `RISK_ACCOUNT_MAX_AGE_SECS`, no trustworthy
/// mark, no daily bars, an unreadable stored state...) is a refusing check.
/// The trading state is evaluated fresh from the stored data (not only as
/// last stored). `Err` only when storage failed: the caller must refuse.
///
/// The trade: the re-priced contracts; max loss and buying power per set =
/// the natural-price max loss (every strategy SAS trades is defined-risk:
/// the debit paid, or the spread's width less the credit); greeks per set
/// from the re-priced metrics.
pub async fn pre_trade(
    store: &impl RiskStore,
    cfg: &WorkerRiskConfig,
    proposal: &Proposal,
    repriced: &Repriced,
    account: Option<&Account>,
    now: DateTime<Utc>,
) -> Result<RiskVerdict, RiskError> {
    let limits = &cfg.limits;
    let mut lines = Vec::new();

    // Strategy switch.
    let sw = switches(store).await?;
    let enabled = sw.may_generate(proposal.strategy);
    lines.push(line(
        "strategy_enabled",
        vec![],
        if enabled {
            Verdict::Pass
        } else {
            let why = sw
                .disabled
                .get(&proposal.strategy)
                .map(|s| s.reason.clone())
                .unwrap_or_default();
            Verdict::Refuse(format!(
                "strategy {} is disabled: {why}",
                proposal.strategy.as_str()
            ))
        },
    ));

    // Trading state, evaluated now.
    let state = match store.risk_state().await? {
        None => Err("the trading state row is missing".to_owned()),
        Some(row) => match parse_state(&row) {
            Err(e) => Err(e.to_string()),
            Ok(stored) => {
                let kill = store.kill_switch().await?;
                let snapshot = read_snapshot(store, limits, now).await?;
                Ok(next_state(&stored, kill.as_ref(), &snapshot, limits, now).state)
            }
        },
    };
    if let Err(reason) = &state {
        lines.push(line(
            "trading_state_readable",
            vec![],
            Verdict::Refuse(reason.clone()),
        ));
    }

    // The account, only when fresh.
    let fresh_account = account.filter(|a| {
        let age = now - a.as_of;
        age <= Duration::seconds(cfg.account_max_age_secs) && age >= Duration::seconds(-5)
    });
    if account.is_some() && fresh_account.is_none() {
        lines.push(line(
            "account_fresh",
            vec![CheckInput {
                name: "account_age_secs".into(),
                value: account.map(|a| (now - a.as_of).num_seconds() as f64),
            }],
            Verdict::Refuse("the broker account is stale".into()),
        ));
    }

    let book = read_book(store, cfg, Some(&proposal.symbol), now).await?;
    let clusters = correlation_clusters(&book.closes, limits);
    let inputs = BookInputs {
        net_liquidation: fresh_account.and_then(|a| Money::from_dollars(a.net_liquidation)),
        heat: book.heat.clone(),
        positions_by_symbol: Some(book.positions_by_symbol.clone()),
        greeks: book.greeks,
        buying_power: fresh_account.and_then(|a| Money::from_dollars(a.buying_power)),
        clusters: Some(clusters),
        realized_vol: book.realized_vol.get(&proposal.symbol).copied(),
    };
    let per_set = Money::from_dollars(repriced.metrics.max_loss_natural);
    let req = TradeRequest {
        symbol: proposal.symbol.clone(),
        strategy: proposal.strategy,
        contracts: repriced.contracts,
        max_loss_per_contract: per_set,
        greeks_per_contract: Some(MarkGreeks {
            delta: Some(repriced.metrics.greeks.delta),
            gamma: Some(repriced.metrics.greeks.gamma),
            theta: Some(repriced.metrics.greeks.theta_per_day),
            vega: Some(repriced.metrics.greeks.vega_per_point),
        }),
        buying_power_per_contract: per_set,
        lowers_exposure: false,
    };
    // An unreadable state gates with a halted one (never a pass).
    let gate_state = state.clone().unwrap_or_else(|_| TradingState {
        halts: vec![sas_core::risk::ActiveHalt {
            cause: HaltCause::StaleData,
            stamp: sas_core::risk::Stamp {
                by: Actor::Rule,
                reason: "trading state unavailable".into(),
                at: now,
            },
            session: ny_date(now),
            until: None,
            sticky: false,
        }],
        ..TradingState::default()
    });
    let report = pre_trade_checks(&req, &inputs, &gate_state, limits, now);
    for c in report.checks {
        lines.push(CheckLine {
            check: snake(&c.check),
            inputs: c.inputs,
            limit: c.limit,
            used: c.used,
            verdict: c.verdict,
        });
    }
    let refusals: Vec<String> = lines
        .iter()
        .filter_map(|l| match &l.verdict {
            Verdict::Refuse(r) => Some(format!("{}: {r}", l.check)),
            Verdict::Pass => None,
        })
        .collect();
    Ok(RiskVerdict {
        approved: refusals.is_empty(),
        contracts: repriced.contracts,
        mode: state.as_ref().ok().map(TradingState::mode),
        checks: lines,
        refusals,
    })
}

// ---------------------------------------------------------------------------
// GET /risk
// ---------------------------------------------------------------------------

/// The stored state, the rules' view now, and every limit with its use
/// (net liquidation from the newest equity snapshot; buying power is the
/// bridge's and is checked at approval only).
pub async fn overview(
    store: &impl RiskStore,
    cfg: &WorkerRiskConfig,
    now: DateTime<Utc>,
) -> Result<RiskOverview, RiskError> {
    let l = &cfg.limits;
    let row = store.risk_state().await?.ok_or(RiskError::StateMissing)?;
    let stored = parse_state(&row)?;
    let kill = store.kill_switch().await?;
    let snapshot = read_snapshot(store, l, now).await?;
    let t = next_state(&stored, kill.as_ref(), &snapshot, l, now);
    let obs = observation(&snapshot, l.stale_data_minutes, now);
    let book = read_book(store, cfg, None, now).await?;
    let nl = obs.net_liquidation.map(Money::dollars);
    let start = obs.start_of_day_net_liquidation.map(Money::dollars);
    let hwm = t.state.high_water_mark.map(Money::dollars);
    let frac = |f: f64| nl.map(|n| n * f);
    let minutes_since = |t: Option<DateTime<Utc>>| t.map(|t| (now - t).num_seconds() as f64 / 60.0);
    let window = now - Duration::minutes(l.stop_streak_window_minutes);
    let stops = obs.stop_outs.iter().filter(|s| s.at > window).count() as f64;
    let clusters = correlation_clusters(&book.closes, l);
    let mut per_cluster: BTreeMap<Symbol, u32> = BTreeMap::new();
    for (s, n) in &book.positions_by_symbol {
        let id = clusters
            .cluster_of
            .get(s)
            .cloned()
            .unwrap_or_else(|| s.clone());
        *per_cluster.entry(id).or_default() += n;
    }
    let greek =
        |pick: fn(&MarkGreeks) -> Option<f64>| book.greeks.as_ref().and_then(pick).map(f64::abs);
    let limits = vec![
        LimitUse::new(
            "daily_loss",
            "usd",
            start.map(|s| s * l.daily_loss_fraction),
            start.zip(nl).map(|(s, n)| s - n),
        ),
        LimitUse::new(
            "intraday_drawdown",
            "usd",
            hwm.map(|h| h * l.intraday_drawdown_fraction),
            hwm.zip(nl).map(|(h, n)| h - n),
        ),
        LimitUse::new(
            "reconciliation_drifts",
            "count",
            Some(f64::from(l.max_reconciliation_drifts) + 1.0),
            obs.reconciliation_drifts.map(f64::from),
        ),
        LimitUse::new(
            "stale_data",
            "minutes",
            Some(l.stale_data_minutes as f64),
            if obs.open_positions == 0 {
                Some(0.0)
            } else {
                minutes_since(obs.oldest_trustworthy_mark)
            },
        ),
        LimitUse::new(
            "bridge_unseen",
            "minutes",
            Some(l.bridge_grace_seconds as f64 / 60.0),
            minutes_since(obs.bridge_last_seen),
        ),
        LimitUse::new(
            "stop_outs_in_window",
            "count",
            Some(f64::from(l.stop_streak_overall)),
            Some(stops),
        ),
        LimitUse::new(
            "portfolio_heat",
            "usd",
            frac(l.max_heat_fraction),
            book.heat
                .as_ref()
                .filter(|h| h.unknown_risk.is_empty())
                .map(|h| h.committed_max_loss),
        ),
        LimitUse::new(
            "open_positions",
            "count",
            Some(f64::from(l.max_open_positions)),
            book.heat.as_ref().map(|h| f64::from(h.open_positions)),
        ),
        LimitUse::new(
            "positions_in_largest_cluster",
            "count",
            Some(f64::from(l.max_positions_per_cluster)),
            Some(f64::from(per_cluster.values().copied().max().unwrap_or(0))),
        ),
        LimitUse::new(
            "net_delta",
            "shares",
            Some(l.max_net_delta_shares),
            greek(|g| g.delta),
        ),
        LimitUse::new(
            "net_vega",
            "usd_per_vol_point",
            frac(l.max_vega_fraction),
            greek(|g| g.vega),
        ),
        LimitUse::new(
            "net_theta",
            "usd_per_day",
            frac(l.max_theta_fraction),
            greek(|g| g.theta),
        ),
        LimitUse::new(
            "max_loss_per_trade",
            "usd",
            frac(l.max_loss_per_trade_fraction),
            None,
        ),
    ];
    let exits_paused = stored.exits_paused.clone();
    Ok(RiskOverview {
        stored: state_view(&row, stored),
        now_mode: t.state.mode(),
        now: t.state,
        pending_changes: t.changes,
        kill_switch_on: kill_switch_on(kill.as_ref()),
        exits_paused,
        limits,
    })
}

// ---------------------------------------------------------------------------
// GET /performance
// ---------------------------------------------------------------------------

fn strategy_of(s: &str) -> Option<StrategyKind> {
    kind_of(s)
}

/// Cost of one set at the fills of `key`'s order(s): Σ signed quantity ×
/// price × multiplier / units (debit +, credit −).
fn per_set(fills: &[&TradeFillRow], units: u32) -> Option<Money> {
    if fills.is_empty() || units == 0 {
        return None;
    }
    let mut total = Money::ZERO;
    for f in fills {
        let contract: sas_core::portfolio::ContractId = serde_json::from_str(&f.contract).ok()?;
        total += Money::from_micros(f.price_micros) * (f.quantity * contract.multiplier());
    }
    Some(total.mul_div(1, i64::from(units)))
}

/// A closed position as core's closed trade (`None`: unreadable).
pub fn closed_trade(row: &ClosedTradeRow, fills: &[TradeFillRow]) -> Option<ClosedTrade> {
    let position: Position = serde_json::from_str(row.summary.as_deref()?).ok()?;
    if position.status != PositionStatus::Closed {
        return None;
    }
    let units = position.entry_filled_units;
    let mine: Vec<&TradeFillRow> = fills.iter().filter(|f| f.position_id == row.id).collect();
    let entry: Vec<&TradeFillRow> = mine
        .iter()
        .copied()
        .filter(|f| f.order_key == row.key)
        .collect();
    let exit: Vec<&TradeFillRow> = mine
        .iter()
        .copied()
        .filter(|f| f.order_key != row.key)
        .collect();
    let commissions: Money = mine
        .iter()
        .filter_map(|f| f.commission_micros)
        .map(Money::from_micros)
        .sum();
    let proposal = row.proposal_json.as_deref().and_then(proposal_of);
    let exit_reason: Option<ExitReason> = row
        .exit_reason
        .as_deref()
        .and_then(|r| serde_json::from_value(serde_json::Value::String(r.to_owned())).ok());
    Some(ClosedTrade {
        key: row.key.clone(),
        symbol: Symbol::parse(&row.symbol).ok()?,
        strategy: strategy_of(&row.strategy)?,
        opened_at: model::at(row.opened_at?),
        closed_at: model::at(row.closed_at?),
        units,
        pnl: Money::from_micros(row.realized_micros),
        commissions,
        entry_fill_cost: per_set(&entry, units),
        // The order's limit was the fresh net mid at approval (per share).
        entry_mid_cost: row
            .approved_limit_price
            .and_then(|p| Money::from_dollars(p * 100.0)),
        exit_fill_value: per_set(&exit, units).map(|m| Money::ZERO - m),
        // The mark that triggered the exit, per set (its value covers the
        // open quantity, all the entry's units).
        exit_mark_value: row
            .exit_mark_value_mid
            .filter(|v| v.is_finite() && units > 0)
            .and_then(Money::from_dollars)
            .map(|v| v.mul_div(1, i64::from(units))),
        dte_at_entry: proposal.as_ref().map(|p| i64::from(p.metrics.horizon_dte)),
        driving_factor: proposal
            .as_ref()
            .and_then(|p| p.score.as_ref())
            .and_then(driving_factor),
        exit_reason,
    })
}

/// `GET /performance?from=&to=`: core's figures over the positions closed
/// in `[from, to)` and the daily equity in that range.
pub async fn performance(
    store: &impl RiskStore,
    from_ms: i64,
    to_ms: i64,
) -> Result<PerformanceView, RiskError> {
    if to_ms <= from_ms {
        return Err(RiskError::Invalid("'to' must be after 'from'".into()));
    }
    let rows = store
        .closed_trades(from_ms, to_ms, MAX_PERFORMANCE_TRADES + 1)
        .await?;
    let truncated = rows.len() > MAX_PERFORMANCE_TRADES as usize;
    let rows = &rows[..rows.len().min(MAX_PERFORMANCE_TRADES as usize)];
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let fills = if ids.is_empty() {
        Vec::new()
    } else {
        store.fills_of(&ids).await?
    };
    let mut trades = Vec::new();
    let mut unreadable = Vec::new();
    for r in rows {
        match closed_trade(r, &fills) {
            Some(t) => trades.push(t),
            None => unreadable.push(r.id),
        }
    }
    let equity: Vec<EquitySnapshot> = store
        .daily_equity(from_ms, to_ms)
        .await?
        .into_iter()
        .filter_map(|e| {
            Some(EquitySnapshot {
                at: model::at(e.at),
                net_liquidation: Money::from_dollars(e.net_liquidation)?,
            })
        })
        .collect();
    let mut attr = BTreeMap::new();
    for (name, by) in [
        ("strategy", Dimension::Strategy),
        ("underlying", Dimension::Underlying),
        ("dte_bucket", Dimension::DteBucket),
        ("driving_factor", Dimension::DrivingFactor),
    ] {
        attr.insert(name, attribution(&trades, by));
    }
    Ok(PerformanceView {
        from: from_ms,
        to: to_ms,
        equity: equity_figures(&equity),
        trades: trade_stats(&trades),
        attribution: attr,
        unreadable,
        truncated,
        conventions: "docs/performance.md: daily returns of the last snapshot per New York day, \
Sharpe/Sortino x sqrt(252), rf = 0; trade P&L net of commissions",
    })
}

/// Subjects changed by a transition (for logs).
pub fn subjects(changes: &[Change]) -> Vec<Subject> {
    changes.iter().map(|c| c.subject.clone()).collect()
}

/// The contracts to re-size a trade down to when `verdict` refused the
/// volatility-adjusted size (its limit is the size the realized volatility
/// allows): the caller checks the smaller trade again, and that second
/// verdict decides (a smaller trade can only pass checks the larger one
/// failed, e.g. max loss per trade). `None` when the size was not refused,
/// when the allowed size is below one contract, or when it would not lower
/// `contracts`. The size is only ever lowered, never raised.
pub fn vol_adjusted_resize(verdict: &RiskVerdict, contracts: u32) -> Option<u32> {
    if verdict.approved {
        return None;
    }
    let vol = verdict.checks.iter().find(|c| {
        c.check == "volatility_adjusted_size"
            && matches!(c.verdict, sas_core::risk::Verdict::Refuse(_))
    })?;
    let limit = vol.limit?;
    if !limit.is_finite() || limit < 1.0 {
        return None;
    }
    // A bounded, positive, finite float: its floor fits u32.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let allowed = limit.floor().min(f64::from(u32::MAX)) as u32;
    (allowed >= 1 && allowed < contracts).then_some(allowed)
}

/// `repriced` at `contracts` (the total max loss scaled with it).
pub fn resized(repriced: &Repriced, contracts: u32) -> Repriced {
    let per = if repriced.contracts == 0 {
        0.0
    } else {
        repriced.total_max_loss / f64::from(repriced.contracts)
    };
    Repriced {
        contracts,
        total_max_loss: per * f64::from(contracts),
        ..repriced.clone()
    }
}
