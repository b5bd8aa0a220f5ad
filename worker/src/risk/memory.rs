//! An in-memory [`RiskStore`] for the native tests: each method applies the
//! predicate of its SQL constant in [`super::model`] (the SQL stays the
//! source of truth), and a write is all-or-nothing like a D1 batch.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use super::model::{
    ApprovedRow, ClosedTradeRow, DailyEquityRow, EquityPoints, OkMarkRow, OpenMarkRow,
    RiskStateRow, StopOutRow, StrategySwitchRow, TradeFillRow,
};
use super::store::{RiskStore, StateWrite, StoreError, SwitchWrite};
use crate::audit::AuditEntry;
use crate::chains::model::StoredBarsRow;
use crate::positions::model::{OrderRow, PositionRow, ReconciliationRow};
use crate::settings::KillSwitchRow;

/// A proposal as the risk reads see it.
#[derive(Debug, Clone, PartialEq)]
pub struct MemProposal {
    pub row: ApprovedRow,
    /// `proposals.status`.
    pub status: String,
    pub approved_limit_price: Option<f64>,
}

/// A mark: `(position id, at, ok, greeks JSON)`.
pub type MemMark = (i64, i64, bool, Option<String>);

/// The tables the risk engine reads and writes.
#[derive(Default)]
pub struct MemoryRisk {
    pub state: RefCell<Option<RiskStateRow>>,
    pub kill: RefCell<Option<KillSwitchRow>>,
    /// `equity_snapshots`: `(at, net liquidation)`.
    pub equity: RefCell<Vec<(i64, Option<f64>)>>,
    pub positions: RefCell<Vec<PositionRow>>,
    pub orders: RefCell<Vec<OrderRow>>,
    pub marks: RefCell<Vec<MemMark>>,
    pub fills: RefCell<Vec<TradeFillRow>>,
    pub proposals: RefCell<Vec<MemProposal>>,
    pub reconciliation: RefCell<Option<ReconciliationRow>>,
    /// `monitor_runs`: `(id, status, finished_at)`.
    pub runs: RefCell<Vec<(i64, String, Option<i64>)>>,
    /// `daily_bars`: symbol → `bars_json`.
    pub bars: RefCell<BTreeMap<String, String>>,
    pub switches: RefCell<Vec<StrategySwitchRow>>,
    pub audit: RefCell<Vec<AuditEntry>>,
    /// Every read fails while set.
    pub fail_reads: Cell<bool>,
    /// Every write fails while set.
    pub fail_writes: Cell<bool>,
    /// Writes that changed something.
    pub writes: Cell<u32>,
}

impl MemoryRisk {
    /// The migration's state: never evaluated, kill switch off.
    pub fn new() -> Self {
        let s = MemoryRisk::default();
        *s.state.borrow_mut() = Some(RiskStateRow {
            state: "{}".into(),
            mode: "halted".into(),
            version: 0,
            evaluated_at: None,
            updated_at: 0,
            updated_by: "migration".into(),
        });
        *s.kill.borrow_mut() = Some(KillSwitchRow {
            value: "off".into(),
            updated_at: 0,
            updated_by: "migration".into(),
        });
        s
    }

    fn read(&self) -> Result<(), StoreError> {
        if self.fail_reads.get() {
            Err(StoreError("injected read failure".into()))
        } else {
            Ok(())
        }
    }

    fn position_status(&self, id: i64) -> Option<String> {
        self.positions
            .borrow()
            .iter()
            .find(|p| p.id == id)
            .map(|p| p.status.clone())
    }

    /// Actions of the audit rows written.
    pub fn audit_actions(&self) -> Vec<&'static str> {
        self.audit
            .borrow()
            .iter()
            .map(|a| a.action.as_str())
            .collect()
    }
}

impl RiskStore for MemoryRisk {
    async fn risk_state(&self) -> Result<Option<RiskStateRow>, StoreError> {
        self.read()?;
        Ok(self.state.borrow().clone())
    }

    async fn write_state(&self, w: &StateWrite) -> Result<bool, StoreError> {
        if self.fail_writes.get() {
            return Err(StoreError("injected write failure".into()));
        }
        let mut state = self.state.borrow_mut();
        let Some(row) = state.as_mut() else {
            return Ok(false);
        };
        // UPDATE_STATE: WHERE version = ?3; the audit rows and the kill
        // switch only with it.
        if row.version != w.expected_version {
            return Ok(false);
        }
        row.state = w.state_json.clone();
        row.mode = w.mode.to_owned();
        row.version += 1;
        row.updated_at = w.at_ms;
        row.updated_by = w.actor.clone();
        if w.evaluated_at.is_some() {
            row.evaluated_at = w.evaluated_at;
        }
        if let Some(on) = w.kill_switch {
            *self.kill.borrow_mut() = Some(KillSwitchRow {
                value: if on { "on" } else { "off" }.into(),
                updated_at: w.at_ms,
                updated_by: w.actor.clone(),
            });
        }
        self.audit.borrow_mut().extend(w.audit.iter().cloned());
        self.writes.set(self.writes.get() + 1);
        Ok(true)
    }

    async fn kill_switch(&self) -> Result<Option<KillSwitchRow>, StoreError> {
        self.read()?;
        Ok(self.kill.borrow().clone())
    }

    async fn equity_points(&self, day_start_ms: i64) -> Result<EquityPoints, StoreError> {
        self.read()?;
        let mut rows: Vec<(i64, f64)> = self
            .equity
            .borrow()
            .iter()
            .filter_map(|(at, nl)| nl.map(|n| (*at, n)))
            .collect();
        rows.sort_by_key(|r| r.0);
        let last = rows.last().copied();
        let day_high = self
            .equity
            .borrow()
            .iter()
            .filter(|(at, _)| *at >= day_start_ms)
            .filter_map(|(_, nl)| *nl)
            .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
        Ok(EquityPoints {
            last_at: last.map(|r| r.0),
            last_nl: last.map(|r| r.1),
            before_day_nl: rows.iter().rev().find(|r| r.0 < day_start_ms).map(|r| r.1),
            first_of_day_nl: rows.iter().find(|r| r.0 >= day_start_ms).map(|r| r.1),
            day_high,
        })
    }

    async fn open_mark_ages(&self) -> Result<Vec<OpenMarkRow>, StoreError> {
        self.read()?;
        let marks = self.marks.borrow();
        Ok(self
            .positions
            .borrow()
            .iter()
            .filter(|p| p.status == "open")
            .map(|p| OpenMarkRow {
                id: p.id,
                symbol: p.symbol.clone(),
                last_ok_at: marks
                    .iter()
                    .filter(|m| m.0 == p.id && m.2)
                    .map(|m| m.1)
                    .max(),
            })
            .collect())
    }

    async fn reconciliation(&self) -> Result<Option<ReconciliationRow>, StoreError> {
        self.read()?;
        Ok(self.reconciliation.borrow().clone())
    }

    async fn last_ok_run(&self) -> Result<Option<i64>, StoreError> {
        self.read()?;
        Ok(self
            .runs
            .borrow()
            .iter()
            .filter(|r| r.1 == "ok" && r.2.is_some())
            .max_by_key(|r| r.0)
            .and_then(|r| r.2))
    }

    async fn stop_outs(&self, since_ms: i64) -> Result<Vec<StopOutRow>, StoreError> {
        self.read()?;
        Ok(self
            .positions
            .borrow()
            .iter()
            .filter(|p| {
                p.status == "closed"
                    && p.exit_reason.as_deref() == Some("stop_loss")
                    && p.closed_at.is_some_and(|c| c >= since_ms)
            })
            .map(|p| StopOutRow {
                symbol: p.symbol.clone(),
                closed_at: p.closed_at.unwrap_or_default(),
            })
            .collect())
    }

    async fn switches(&self) -> Result<Vec<StrategySwitchRow>, StoreError> {
        self.read()?;
        let mut rows = self.switches.borrow().clone();
        rows.sort_by(|a, b| a.strategy.cmp(&b.strategy));
        Ok(rows)
    }

    async fn set_switch(&self, w: &SwitchWrite) -> Result<bool, StoreError> {
        if self.fail_writes.get() {
            return Err(StoreError("injected write failure".into()));
        }
        let mut rows = self.switches.borrow_mut();
        let existing = rows.iter_mut().find(|r| r.strategy == w.strategy);
        let enabled = i64::from(w.enabled);
        let changed = match existing {
            // SET_SWITCH: a first switch to enabled inserts nothing.
            None if w.enabled => false,
            None => {
                rows.push(StrategySwitchRow {
                    strategy: w.strategy.clone(),
                    enabled,
                    reason: w.reason.clone(),
                    updated_at: w.at_ms,
                    updated_by: w.actor.clone(),
                });
                true
            }
            // DO UPDATE ... WHERE enabled != excluded.enabled.
            Some(r) if r.enabled != enabled => {
                r.enabled = enabled;
                r.reason = w.reason.clone();
                r.updated_at = w.at_ms;
                r.updated_by = w.actor.clone();
                true
            }
            Some(_) => false,
        };
        if changed {
            self.audit.borrow_mut().push(w.audit.clone());
            self.writes.set(self.writes.get() + 1);
        }
        Ok(changed)
    }

    async fn live_approved(&self) -> Result<Vec<ApprovedRow>, StoreError> {
        self.read()?;
        let positions = self.positions.borrow();
        Ok(self
            .proposals
            .borrow()
            .iter()
            .filter(|p| p.status == "approved")
            .filter_map(|p| {
                let pos = positions.iter().find(|x| x.proposal_id == p.row.id);
                let live = match pos {
                    None => p
                        .row
                        .order_status
                        .as_deref()
                        .is_none_or(|s| s != "rejected" && s != "abandoned"),
                    Some(x) => x.status == "pending" || x.status == "open",
                };
                live.then(|| ApprovedRow {
                    position_status: pos.map(|x| x.status.clone()),
                    ..p.row.clone()
                })
            })
            .collect())
    }

    async fn active_positions(&self) -> Result<Vec<PositionRow>, StoreError> {
        self.read()?;
        Ok(self
            .positions
            .borrow()
            .iter()
            .filter(|p| p.status == "pending" || p.status == "open")
            .cloned()
            .collect())
    }

    async fn active_orders(&self) -> Result<Vec<OrderRow>, StoreError> {
        self.read()?;
        Ok(self
            .orders
            .borrow()
            .iter()
            .filter(|o| {
                self.position_status(o.position_id)
                    .is_some_and(|s| s == "pending" || s == "open")
            })
            .cloned()
            .collect())
    }

    async fn open_ok_marks(&self) -> Result<Vec<OkMarkRow>, StoreError> {
        self.read()?;
        let marks = self.marks.borrow();
        Ok(self
            .positions
            .borrow()
            .iter()
            .filter(|p| p.status == "open")
            .filter_map(|p| {
                let m = marks
                    .iter()
                    .filter(|m| m.0 == p.id && m.2)
                    .max_by_key(|m| m.1)?;
                Some(OkMarkRow {
                    position_id: p.id,
                    key: p.key.clone(),
                    at: m.1,
                    greeks: m.3.clone(),
                })
            })
            .collect())
    }

    async fn daily_bars(&self, symbols: &[String]) -> Result<Vec<StoredBarsRow>, StoreError> {
        self.read()?;
        Ok(self
            .bars
            .borrow()
            .iter()
            .filter(|(s, _)| symbols.contains(s))
            .map(|(s, j)| StoredBarsRow {
                symbol: s.clone(),
                bars_json: j.clone(),
            })
            .collect())
    }

    async fn closed_trades(
        &self,
        from_ms: i64,
        to_ms: i64,
        limit: u32,
    ) -> Result<Vec<ClosedTradeRow>, StoreError> {
        self.read()?;
        let proposals = self.proposals.borrow();
        let mut rows: Vec<ClosedTradeRow> = self
            .positions
            .borrow()
            .iter()
            .filter(|p| {
                p.status == "closed" && p.closed_at.is_some_and(|c| c >= from_ms && c < to_ms)
            })
            .map(|p| {
                let r = proposals.iter().find(|r| r.row.id == p.proposal_id);
                ClosedTradeRow {
                    id: p.id,
                    key: p.key.clone(),
                    symbol: p.symbol.clone(),
                    strategy: p.strategy.clone(),
                    summary: p.summary.clone(),
                    realized_micros: p.realized_micros,
                    exit_reason: p.exit_reason.clone(),
                    opened_at: p.opened_at,
                    closed_at: p.closed_at,
                    proposal_json: r.map(|r| r.row.proposal_json.clone()),
                    approved_limit_price: r.and_then(|r| r.approved_limit_price),
                    exit_mark_value_mid: self
                        .audit
                        .borrow()
                        .iter()
                        .rev()
                        .find(|a| {
                            a.entity == "position"
                                && a.entity_id.as_deref() == Some(p.id.to_string().as_str())
                                && a.action == crate::audit::AuditAction::ExitTriggered
                        })
                        .and_then(|a| a.details["mark"]["value_mid"].as_f64()),
                }
            })
            .collect();
        rows.sort_by_key(|r| r.closed_at);
        rows.truncate(limit as usize);
        Ok(rows)
    }

    async fn fills_of(&self, position_ids: &[i64]) -> Result<Vec<TradeFillRow>, StoreError> {
        self.read()?;
        Ok(self
            .fills
            .borrow()
            .iter()
            .filter(|f| position_ids.contains(&f.position_id))
            .cloned()
            .collect())
    }

    async fn daily_equity(
        &self,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<DailyEquityRow>, StoreError> {
        self.read()?;
        // SELECT_DAILY_EQUITY: the last snapshot of each UTC date taken
        // 13:00-21:59 UTC.
        let mut by_day: BTreeMap<i64, (i64, f64)> = BTreeMap::new();
        for (at, nl) in self.equity.borrow().iter() {
            let Some(nl) = nl else { continue };
            let hour = (at / 3_600_000).rem_euclid(24);
            if *at < from_ms || *at >= to_ms || !(13..=21).contains(&hour) {
                continue;
            }
            let day = at.div_euclid(86_400_000);
            let e = by_day.entry(day).or_insert((*at, *nl));
            if *at >= e.0 {
                *e = (*at, *nl);
            }
        }
        Ok(by_day
            .into_values()
            .map(|(at, net_liquidation)| DailyEquityRow {
                at,
                net_liquidation,
            })
            .collect())
    }
}

/// An in-memory [`super::shadow::ShadowStore`]: `proposals` (rejected or
/// expired candidates), `shadow_trades` and `chain_snapshots` (symbol,
/// row), each method applying its SQL's predicate.
#[derive(Default)]
pub struct MemoryShadow {
    /// `(status, candidate)`: the status is the proposal's.
    pub proposals: RefCell<Vec<super::shadow::CandidateRow>>,
    pub shadows: RefCell<Vec<super::shadow::ShadowRow>>,
    pub chains: RefCell<Vec<(String, super::shadow::ChainRow)>>,
}

impl super::shadow::ShadowStore for MemoryShadow {
    async fn new_candidates(
        &self,
        limit: u32,
    ) -> Result<Vec<super::shadow::CandidateRow>, StoreError> {
        let taken = self.shadows.borrow();
        let mut out: Vec<_> = self
            .proposals
            .borrow()
            .iter()
            .filter(|p| p.status == "rejected" || p.status == "expired")
            .filter(|p| !taken.iter().any(|s| s.proposal_id == p.id))
            .cloned()
            .collect();
        out.sort_by_key(|p| p.id);
        out.truncate(limit as usize);
        Ok(out)
    }

    async fn insert_shadows(&self, rows: &[super::shadow::NewShadow]) -> Result<(), StoreError> {
        let mut shadows = self.shadows.borrow_mut();
        for r in rows {
            if shadows.iter().any(|s| s.proposal_id == r.proposal_id) {
                continue;
            }
            shadows.push(super::shadow::ShadowRow {
                proposal_id: r.proposal_id,
                key: r.key.clone(),
                symbol: r.symbol.clone(),
                strategy: r.strategy.clone(),
                decision: r.decision.clone(),
                decided_at: r.decided_at,
                units: r.units,
                entry_mid: r.entry_mid,
                status: r.status.to_owned(),
                spec: r.spec.clone(),
                progress: r.progress.clone(),
                outcome: r.outcome.clone(),
                mark_at: None,
                value_mid_micros: None,
                value_natural_micros: None,
                pnl_mid_micros: None,
                pnl_natural_micros: None,
                exit_reason: None,
                updated_at: r.at_ms,
            });
        }
        Ok(())
    }

    async fn following(&self, limit: u32) -> Result<Vec<super::shadow::ShadowRow>, StoreError> {
        let mut out: Vec<_> = self
            .shadows
            .borrow()
            .iter()
            .filter(|s| s.status == "following")
            .cloned()
            .collect();
        out.sort_by_key(|s| (s.updated_at, s.proposal_id));
        out.truncate(limit as usize);
        Ok(out)
    }

    async fn chain_after(
        &self,
        symbol: &str,
        expiries: &[String],
        after_ts: i64,
        limit: u32,
    ) -> Result<Vec<super::shadow::ChainRow>, StoreError> {
        let mut out: Vec<_> = self
            .chains
            .borrow()
            .iter()
            .filter(|(s, r)| s == symbol && expiries.contains(&r.expiry) && r.ts > after_ts)
            .map(|(_, r)| r.clone())
            .collect();
        out.sort_by(|a, b| (a.ts, &a.expiry).cmp(&(b.ts, &b.expiry)));
        out.truncate(limit as usize);
        Ok(out)
    }

    async fn update_shadow(&self, u: &super::shadow::ShadowUpdate) -> Result<bool, StoreError> {
        let mut shadows = self.shadows.borrow_mut();
        let Some(s) = shadows
            .iter_mut()
            .find(|s| s.proposal_id == u.proposal_id && s.status == "following")
        else {
            return Ok(false);
        };
        s.status = u.status.to_owned();
        s.progress = u.progress.clone();
        s.outcome = u.outcome.clone();
        s.mark_at = u.mark_at;
        s.value_mid_micros = u.value_mid_micros;
        s.value_natural_micros = u.value_natural_micros;
        s.pnl_mid_micros = u.pnl_mid_micros;
        s.pnl_natural_micros = u.pnl_natural_micros;
        s.exit_reason = u.exit_reason.clone();
        s.updated_at = u.at_ms;
        Ok(true)
    }

    async fn shadows(
        &self,
        from_ms: i64,
        to_ms: i64,
        limit: u32,
    ) -> Result<Vec<super::shadow::ShadowRow>, StoreError> {
        let mut out: Vec<_> = self
            .shadows
            .borrow()
            .iter()
            .filter(|s| s.decided_at >= from_ms && s.decided_at < to_ms)
            .cloned()
            .collect();
        out.sort_by_key(|s| (s.decided_at, s.proposal_id));
        out.truncate(limit as usize);
        Ok(out)
    }
}
