//! The trading state: `active | reducing | halted`, with who, why and when.
//!
//! The mode is derived, never set: `halted` while any halt cause is active,
//! else `reducing` while the trader asked for it, else `active`. Causes are
//! raised and cleared by [`evaluate`] (the rules, on an [`Observation`]) or
//! by [`apply_trader_action`] (the trader, audited by name and reason):
//!
//! | cause | raised when | cleared by rule |
//! |---|---|---|
//! | kill switch | the trader pulls it | never: only the trader |
//! | daily loss | start-of-day NL − NL ≥ `daily_loss_fraction` × start-of-day NL | at the next session |
//! | intraday drawdown | session high-water mark − NL ≥ `intraday_drawdown_fraction` × mark | at the next session (the mark resets) |
//! | reconciliation drift | drifts > `max_reconciliation_drifts`, or no result | when the drifts are gone |
//! | stale data | no NL, or open positions without a trustworthy mark for `stale_data_minutes` in market hours | when fresh data is back |
//! | bridge disconnected | bridge not seen for `bridge_grace_seconds` | when it is seen again |
//! | stop-out streak | `stop_streak_overall` stops within the window | `stop_cooldown_minutes` after the last one |
//!
//! A stop-out streak on one underlying (`stop_streak_per_underlying`) puts
//! that underlying alone in cooldown. A trader's clear of an automatic cause
//! whose condition still holds lasts until the next evaluation, which
//! raises it again: a limit still broken is never overridden (change the
//! limit instead). Stop-outs before a cooldown ended (by rule or by the
//! trader) no longer count. Exits run in every mode unless the trader
//! paused them.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::config::RiskConfig;
use crate::calendar::utc_to_eastern;
use crate::market::Symbol;
use crate::money::Money;

/// What new trades may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum TradingMode {
    Active,
    /// Only trades that lower exposure.
    Reducing,
    /// No new entries.
    Halted,
}

/// Why trading is halted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum HaltCause {
    KillSwitch,
    DailyLoss,
    IntradayDrawdown,
    ReconciliationDrift,
    StaleData,
    BridgeDisconnected,
    StopOutStreak,
}

impl HaltCause {
    /// Causes the rules raise and clear (all but the kill switch).
    pub const AUTOMATIC: [HaltCause; 6] = [
        HaltCause::DailyLoss,
        HaltCause::IntradayDrawdown,
        HaltCause::ReconciliationDrift,
        HaltCause::StaleData,
        HaltCause::BridgeDisconnected,
        HaltCause::StopOutStreak,
    ];
}

/// Who changed the state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "name")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum Actor {
    Rule,
    Trader(String),
}

/// Who, why and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Stamp {
    pub by: Actor,
    pub reason: String,
    pub at: DateTime<Utc>,
}

/// An active halt cause.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ActiveHalt {
    pub cause: HaltCause,
    pub stamp: Stamp,
    /// New York session date it was raised in.
    pub session: NaiveDate,
    /// For a cooldown: when it ends.
    pub until: Option<DateTime<Utc>>,
    /// Holds for the rest of its session: a daily loss or drawdown that was
    /// measured. One raised because the net liquidation could not be read
    /// clears as soon as it can be (a failed account read must not halt the
    /// whole day).
    #[serde(default)]
    pub sticky: bool,
}

/// One underlying in cooldown after a stop-out streak.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Cooldown {
    pub symbol: Symbol,
    pub stamp: Stamp,
    pub until: DateTime<Utc>,
}

/// The persisted trading state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct TradingState {
    /// Active halt causes, one per cause, in cause order.
    pub halts: Vec<ActiveHalt>,
    pub reducing: Option<Stamp>,
    pub exits_paused: Option<Stamp>,
    pub cooldowns: Vec<Cooldown>,
    /// Session (New York date) of the high-water mark.
    pub session: Option<NaiveDate>,
    pub high_water_mark: Option<Money>,
    /// Stop-outs at or before this time no longer count (overall).
    pub stops_reset_at: Option<DateTime<Utc>>,
    /// Same, per underlying.
    pub stops_reset_by_symbol: BTreeMap<Symbol, DateTime<Utc>>,
}

impl TradingState {
    #[must_use]
    pub fn mode(&self) -> TradingMode {
        if !self.halts.is_empty() {
            TradingMode::Halted
        } else if self.reducing.is_some() {
            TradingMode::Reducing
        } else {
            TradingMode::Active
        }
    }

    #[must_use]
    pub fn halt(&self, cause: HaltCause) -> Option<&ActiveHalt> {
        self.halts.iter().find(|h| h.cause == cause)
    }

    #[must_use]
    pub fn exits_allowed(&self) -> bool {
        self.exits_paused.is_none()
    }
}

/// A stop-loss exit that filled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StopOut {
    pub symbol: Symbol,
    pub at: DateTime<Utc>,
}

/// What the rules look at (missing = unknown, which halts).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    pub market_open: bool,
    pub net_liquidation: Option<Money>,
    pub start_of_day_net_liquidation: Option<Money>,
    /// Drifts found by the last reconciliation (`None`: no result).
    pub reconciliation_drifts: Option<u32>,
    pub open_positions: u32,
    /// Oldest "latest trustworthy mark" over the open positions (`None`
    /// when some open position never had one).
    pub oldest_trustworthy_mark: Option<DateTime<Utc>>,
    pub bridge_last_seen: Option<DateTime<Utc>>,
    /// Stop-loss exits (at least those within the streak window).
    pub stop_outs: Vec<StopOut>,
}

/// What changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "subject", content = "value")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(rename = "RiskSubject"))]
pub enum Subject {
    Halt(HaltCause),
    Cooldown(Symbol),
    Reducing,
    ExitsPaused,
}

/// One change with who/why/when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(rename = "RiskChange"))]
pub struct Change {
    pub subject: Subject,
    /// true = raised/set, false = cleared.
    pub raised: bool,
    pub stamp: Stamp,
}

/// The next state and every change that led to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    pub state: TradingState,
    pub changes: Vec<Change>,
}

fn rule_stamp(reason: String, now: DateTime<Utc>) -> Stamp {
    Stamp {
        by: Actor::Rule,
        reason,
        at: now,
    }
}

/// A rule's verdict on one cause: `Some((reason, until))` while it holds.
type Holds = Option<(String, Option<DateTime<Utc>>)>;

fn counted_stops(
    obs: &Observation,
    reset: Option<DateTime<Utc>>,
    window_start: DateTime<Utc>,
    now: DateTime<Utc>,
) -> impl Iterator<Item = &StopOut> {
    obs.stop_outs
        .iter()
        .filter(move |s| s.at > window_start && s.at <= now && reset.is_none_or(|r| s.at > r))
}

/// Applies the rules to `obs` at `now`.
#[must_use]
pub fn evaluate(
    state: &TradingState,
    obs: &Observation,
    cfg: &RiskConfig,
    now: DateTime<Utc>,
) -> Transition {
    let session = utc_to_eastern(now).date();
    let mut next = state.clone();
    let mut changes = Vec::new();

    // The intraday high-water mark resets at a new session.
    let new_session = state.session != Some(session);
    if new_session {
        next.session = Some(session);
        next.high_water_mark = None;
    }
    if let Some(nl) = obs.net_liquidation {
        next.high_water_mark = Some(next.high_water_mark.map_or(nl, |h| h.max(nl)));
    }

    // Cooldowns per underlying: expire, then new streaks.
    let window_start = now - Duration::minutes(cfg.stop_streak_window_minutes);
    let cooldown = Duration::minutes(cfg.stop_cooldown_minutes);
    let mut kept = Vec::new();
    for c in next.cooldowns.drain(..) {
        if now >= c.until {
            next.stops_reset_by_symbol.insert(c.symbol.clone(), now);
            changes.push(Change {
                subject: Subject::Cooldown(c.symbol.clone()),
                raised: false,
                stamp: rule_stamp("cooldown over".into(), now),
            });
        } else {
            kept.push(c);
        }
    }
    next.cooldowns = kept;
    let mut by_symbol: BTreeMap<&Symbol, Vec<DateTime<Utc>>> = BTreeMap::new();
    for s in &obs.stop_outs {
        let reset = next.stops_reset_by_symbol.get(&s.symbol).copied();
        if s.at > window_start && s.at <= now && reset.is_none_or(|r| s.at > r) {
            by_symbol.entry(&s.symbol).or_default().push(s.at);
        }
    }
    for (symbol, times) in by_symbol {
        let n = u32::try_from(times.len()).unwrap_or(u32::MAX);
        let in_cooldown = next.cooldowns.iter().any(|c| &c.symbol == symbol);
        if n >= cfg.stop_streak_per_underlying && !in_cooldown {
            let last = times.iter().max().copied().unwrap_or(now);
            let stamp = rule_stamp(
                format!(
                    "{n} stop-outs on {symbol} within {} min (limit {})",
                    cfg.stop_streak_window_minutes, cfg.stop_streak_per_underlying
                ),
                now,
            );
            if last + cooldown > now {
                changes.push(Change {
                    subject: Subject::Cooldown(symbol.clone()),
                    raised: true,
                    stamp: stamp.clone(),
                });
                next.cooldowns.push(Cooldown {
                    symbol: symbol.clone(),
                    stamp,
                    until: last + cooldown,
                });
            }
        }
    }

    for cause in HaltCause::AUTOMATIC {
        let active = next.halt(cause).cloned();
        let holds: Holds = match cause {
            HaltCause::DailyLoss => match (obs.start_of_day_net_liquidation, obs.net_liquidation) {
                (Some(start), Some(nl)) if start.micros() > 0 => {
                    let loss = start - nl;
                    let limit = start.dollars() * cfg.daily_loss_fraction;
                    (loss.dollars() >= limit).then(|| {
                            (
                                format!("day's loss ${loss} reached the limit ${limit:.2} ({:.1} % of ${start})", cfg.daily_loss_fraction * 100.0),
                                None,
                            )
                        })
                }
                _ => Some((
                    "start-of-day or current net liquidation unavailable".into(),
                    None,
                )),
            },
            HaltCause::IntradayDrawdown => {
                match (next.high_water_mark, obs.net_liquidation) {
                    (Some(hwm), Some(nl)) => {
                        let dd = hwm - nl;
                        let limit = hwm.dollars() * cfg.intraday_drawdown_fraction;
                        (dd.dollars() >= limit).then(|| {
                        (
                            format!("drawdown ${dd} from the session high ${hwm} reached ${limit:.2}"),
                            None,
                        )
                    })
                    }
                    _ => Some(("net liquidation unavailable".into(), None)),
                }
            }
            HaltCause::ReconciliationDrift => match obs.reconciliation_drifts {
                Some(n) if n <= cfg.max_reconciliation_drifts => None,
                Some(n) => Some((
                    format!(
                        "{n} reconciliation drifts (allowed {})",
                        cfg.max_reconciliation_drifts
                    ),
                    None,
                )),
                None => Some(("no reconciliation result".into(), None)),
            },
            HaltCause::StaleData => {
                let limit = Duration::minutes(cfg.stale_data_minutes);
                if obs.net_liquidation.is_none() {
                    Some(("no net liquidation".into(), None))
                } else if obs.market_open && obs.open_positions > 0 {
                    match obs.oldest_trustworthy_mark {
                        Some(t) if now - t < limit => None,
                        Some(t) => Some((
                            format!(
                                "no trustworthy mark since {t} ({} min allowed)",
                                cfg.stale_data_minutes
                            ),
                            None,
                        )),
                        None => Some(("an open position has no trustworthy mark".into(), None)),
                    }
                } else {
                    None
                }
            }
            HaltCause::BridgeDisconnected => match obs.bridge_last_seen {
                Some(t) if now - t < Duration::seconds(cfg.bridge_grace_seconds) => None,
                Some(t) => Some((format!("bridge not seen since {t}"), None)),
                None => Some(("bridge never seen".into(), None)),
            },
            HaltCause::StopOutStreak => {
                let times: Vec<DateTime<Utc>> =
                    counted_stops(obs, next.stops_reset_at, window_start, now)
                        .map(|s| s.at)
                        .collect();
                let n = u32::try_from(times.len()).unwrap_or(u32::MAX);
                let until = active
                    .as_ref()
                    .and_then(|h| h.until)
                    .or_else(|| times.iter().max().map(|t| *t + cooldown));
                match until {
                    Some(u) if now < u && (active.is_some() || n >= cfg.stop_streak_overall) => {
                        Some((
                            format!(
                                "{n} stop-outs within {} min (limit {}): cooldown until {u}",
                                cfg.stop_streak_window_minutes, cfg.stop_streak_overall
                            ),
                            Some(u),
                        ))
                    }
                    _ => None,
                }
            }
            HaltCause::KillSwitch => None,
        };
        // A measured daily loss or drawdown holds for the rest of its
        // session; one raised for missing data clears with the data.
        let measured = match cause {
            HaltCause::DailyLoss => {
                obs.start_of_day_net_liquidation
                    .is_some_and(|s| s.micros() > 0)
                    && obs.net_liquidation.is_some()
            }
            HaltCause::IntradayDrawdown => {
                next.high_water_mark.is_some() && obs.net_liquidation.is_some()
            }
            _ => false,
        };
        let sticky = matches!(cause, HaltCause::DailyLoss | HaltCause::IntradayDrawdown)
            && active
                .as_ref()
                .is_some_and(|h| h.sticky && h.session == session);
        if let (Some(_), Some(_), true) = (&active, &holds, measured) {
            if let Some(h) = next.halts.iter_mut().find(|h| h.cause == cause) {
                h.sticky = true;
            }
        }
        match (active, holds) {
            (None, Some((reason, until))) => {
                let stamp = rule_stamp(reason, now);
                changes.push(Change {
                    subject: Subject::Halt(cause),
                    raised: true,
                    stamp: stamp.clone(),
                });
                next.halts.push(ActiveHalt {
                    cause,
                    stamp,
                    session,
                    until,
                    sticky: measured,
                });
            }
            (Some(_), None) if !sticky => {
                next.halts.retain(|h| h.cause != cause);
                if cause == HaltCause::StopOutStreak {
                    next.stops_reset_at = Some(now);
                }
                changes.push(Change {
                    subject: Subject::Halt(cause),
                    raised: false,
                    stamp: rule_stamp("condition over".into(), now),
                });
            }
            _ => {}
        }
    }
    next.halts.sort_by_key(|h| h.cause);
    Transition {
        state: next,
        changes,
    }
}

/// What the trader can do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "action", content = "value")]
pub enum TraderAction {
    KillSwitch,
    /// Clear one halt cause (the only way to clear the kill switch).
    Clear(HaltCause),
    ClearCooldown(Symbol),
    Reduce,
    /// Back from reducing.
    Resume,
    PauseExits,
    ResumeExits,
}

/// Why a trader action did nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "code")]
pub enum ActionRefusal {
    /// Who and why are required.
    MissingIdentity,
    /// Nothing to clear or already set.
    NoChange,
}

/// Applies a trader's action (audited with `trader`, `reason`, `now`).
pub fn apply_trader_action(
    state: &TradingState,
    action: &TraderAction,
    trader: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<Transition, ActionRefusal> {
    if trader.trim().is_empty() || reason.trim().is_empty() {
        return Err(ActionRefusal::MissingIdentity);
    }
    let stamp = Stamp {
        by: Actor::Trader(trader.to_string()),
        reason: reason.to_string(),
        at: now,
    };
    let mut next = state.clone();
    let (subject, raised) = match action {
        TraderAction::KillSwitch => {
            if next.halt(HaltCause::KillSwitch).is_some() {
                return Err(ActionRefusal::NoChange);
            }
            next.halts.push(ActiveHalt {
                cause: HaltCause::KillSwitch,
                stamp: stamp.clone(),
                session: utc_to_eastern(now).date(),
                until: None,
                sticky: false,
            });
            next.halts.sort_by_key(|h| h.cause);
            (Subject::Halt(HaltCause::KillSwitch), true)
        }
        TraderAction::Clear(cause) => {
            if next.halt(*cause).is_none() {
                return Err(ActionRefusal::NoChange);
            }
            next.halts.retain(|h| h.cause != *cause);
            if *cause == HaltCause::StopOutStreak {
                next.stops_reset_at = Some(now);
            }
            (Subject::Halt(*cause), false)
        }
        TraderAction::ClearCooldown(symbol) => {
            if !next.cooldowns.iter().any(|c| &c.symbol == symbol) {
                return Err(ActionRefusal::NoChange);
            }
            next.cooldowns.retain(|c| &c.symbol != symbol);
            next.stops_reset_by_symbol.insert(symbol.clone(), now);
            (Subject::Cooldown(symbol.clone()), false)
        }
        TraderAction::Reduce | TraderAction::Resume => {
            let set = matches!(action, TraderAction::Reduce);
            if next.reducing.is_some() == set {
                return Err(ActionRefusal::NoChange);
            }
            next.reducing = set.then(|| stamp.clone());
            (Subject::Reducing, set)
        }
        TraderAction::PauseExits | TraderAction::ResumeExits => {
            let set = matches!(action, TraderAction::PauseExits);
            if next.exits_paused.is_some() == set {
                return Err(ActionRefusal::NoChange);
            }
            next.exits_paused = set.then(|| stamp.clone());
            (Subject::ExitsPaused, set)
        }
    };
    Ok(Transition {
        state: next,
        changes: vec![Change {
            subject,
            raised,
            stamp,
        }],
    })
}

/// May a new trade on `symbol` be sent? With every reason it may not.
pub fn entry_gate(
    state: &TradingState,
    symbol: &Symbol,
    lowers_exposure: bool,
    now: DateTime<Utc>,
) -> Result<(), Vec<String>> {
    let mut reasons: Vec<String> = state
        .halts
        .iter()
        .map(|h| format!("halted ({:?}): {}", h.cause, h.stamp.reason))
        .collect();
    if state.reducing.is_some() && !lowers_exposure {
        reasons.push("reducing: only trades that lower exposure".into());
    }
    for c in &state.cooldowns {
        if &c.symbol == symbol && now < c.until && !lowers_exposure {
            reasons.push(format!(
                "{symbol} in cooldown until {}: {}",
                c.until, c.stamp.reason
            ));
        }
    }
    if reasons.is_empty() {
        Ok(())
    } else {
        Err(reasons)
    }
}
