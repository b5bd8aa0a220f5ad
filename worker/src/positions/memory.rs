//! An in-memory [`PositionStore`] with the same conditional semantics as the
//! SQL of [`super::model`] (compare-and-set updates, at most one live
//! closing order per position, the run lease, drift confirmation), for the
//! native workflow tests.

use std::cell::RefCell;

use super::model::{
    AdoptableRow, EquityRow, FillRow, MarkRow, MonitorRunRow, OrderRow, PositionRow,
    ReconciliationRow,
};
use super::store::{
    NewExitOrder, NewPosition, OrderUpdate, PositionStore, PositionWrite, RunOutcome, StoreError,
};
use crate::audit::AuditEntry;

/// The tables.
#[derive(Debug, Default, Clone)]
pub struct Tables {
    pub adoptable: Vec<AdoptableRow>,
    pub positions: Vec<PositionRow>,
    pub orders: Vec<OrderRow>,
    pub fills: Vec<FillRow>,
    pub marks: Vec<MarkRow>,
    pub equity: Vec<EquityRow>,
    pub runs: Vec<MonitorRunRow>,
    pub reconciliation: ReconciliationRow,
    pub audit: Vec<AuditEntry>,
    /// Alerts enqueued with the position writes.
    pub events: Vec<sas_core::alerts::AlertEvent>,
    /// Makes every write fail (a D1 outage).
    pub fail_writes: bool,
    /// The trader's pause of every exit (`POST /risk/exits`).
    pub all_exits_paused: bool,
}

/// The store.
#[derive(Debug, Default)]
pub struct MemoryPositions(pub RefCell<Tables>);

const LIVE: [&str; 6] = [
    "submitting",
    "submitted",
    "working",
    "partially_filled",
    "cancel_pending",
    "unknown",
];

impl MemoryPositions {
    pub fn new() -> Self {
        let t = Tables {
            reconciliation: ReconciliationRow {
                drifts: "[]".into(),
                ..ReconciliationRow::default()
            },
            ..Tables::default()
        };
        MemoryPositions(RefCell::new(t))
    }

    fn check(&self) -> Result<(), StoreError> {
        if self.0.borrow().fail_writes {
            Err(StoreError("D1 unavailable".into()))
        } else {
            Ok(())
        }
    }

    fn apply_order(t: &mut Tables, by: &dyn Fn(&OrderRow) -> bool, u: &OrderUpdate) -> bool {
        let Some(o) = t.orders.iter_mut().find(|o| by(o) && o.status == u.from) else {
            return false;
        };
        o.status = u.to.clone();
        o.filled = u.filled;
        if u.broker_status.is_some() {
            o.broker_status = u.broker_status.clone();
        }
        if u.last_seq.is_some() {
            o.last_seq = u.last_seq;
        }
        if u.broker_order_id.is_some() {
            o.broker_order_id = u.broker_order_id.clone();
        }
        o.error = u.error.clone();
        o.updated_at = u.audit.at;
        t.audit.push(u.audit.clone());
        true
    }
}

impl PositionStore for MemoryPositions {
    async fn begin_run(&self, at_ms: i64, lease_ms: i64) -> Result<Option<i64>, StoreError> {
        self.check()?;
        let mut t = self.0.borrow_mut();
        if t.runs
            .iter()
            .any(|r| r.status == "running" && r.started_at > at_ms - lease_ms)
        {
            return Ok(None);
        }
        let id = t.runs.len() as i64 + 1;
        t.runs.push(MonitorRunRow {
            id,
            started_at: at_ms,
            finished_at: None,
            status: "running".into(),
            positions: 0,
            marks_ok: 0,
            marks_rejected: 0,
            orders_placed: 0,
            cancels: 0,
            rows_written: 0,
            error: None,
        });
        Ok(Some(id))
    }

    async fn finish_run(&self, id: i64, at_ms: i64, o: &RunOutcome) -> Result<(), StoreError> {
        let mut t = self.0.borrow_mut();
        if let Some(r) = t.runs.iter_mut().find(|r| r.id == id) {
            r.finished_at = Some(at_ms);
            r.status = o.status.into();
            r.positions = o.positions;
            r.marks_ok = o.marks_ok;
            r.marks_rejected = o.marks_rejected;
            r.orders_placed = o.orders_placed;
            r.cancels = o.cancels;
            r.rows_written = o.rows_written;
            r.error = o.error.clone();
        }
        Ok(())
    }

    async fn adoptable(&self, limit: u32) -> Result<Vec<AdoptableRow>, StoreError> {
        let t = self.0.borrow();
        Ok(t.adoptable
            .iter()
            .filter(|a| !t.positions.iter().any(|p| p.proposal_id == a.id))
            .take(limit as usize)
            .cloned()
            .collect())
    }

    async fn adopt(&self, p: &NewPosition, audit: &AuditEntry) -> Result<(bool, u64), StoreError> {
        self.check()?;
        let mut t = self.0.borrow_mut();
        if t.positions
            .iter()
            .any(|x| x.key == p.key || x.proposal_id == p.proposal_id)
        {
            return Ok((false, 0));
        }
        let id = t.positions.len() as i64 + 1;
        t.positions.push(PositionRow {
            id,
            key: p.key.clone(),
            proposal_id: p.proposal_id,
            symbol: p.symbol.clone(),
            strategy: p.strategy.clone(),
            spec: p.spec.clone(),
            exit_plan: p.exit_plan.clone(),
            status: "pending".into(),
            exit_reason: None,
            exit_requested_at: None,
            exit_requested_by: None,
            exits_paused: 0,
            exit_state: "{}".into(),
            summary: None,
            realized_micros: 0,
            entry_expires_at: p.entry_expires_at,
            opened_at: None,
            closed_at: None,
            created_at: p.at,
            updated_at: p.at,
        });
        let oid = t.orders.len() as i64 + 1;
        t.orders.push(OrderRow {
            id: oid,
            key: p.key.clone(),
            position_id: id,
            purpose: "entry".into(),
            attempt: None,
            exit_reason: None,
            quantity: p.quantity,
            filled: 0,
            status: "submitted".into(),
            limit_micros: p.limit_micros,
            request: None,
            broker_order_id: p.broker_order_id.clone(),
            broker_status: None,
            last_seq: None,
            error: None,
            created_at: p.at,
            updated_at: p.at,
        });
        t.audit.push(audit.clone());
        Ok((true, 3))
    }

    async fn active_positions(&self) -> Result<Vec<PositionRow>, StoreError> {
        Ok(self
            .0
            .borrow()
            .positions
            .iter()
            .filter(|p| p.status == "pending" || p.status == "open")
            .cloned()
            .collect())
    }

    async fn active_orders(&self) -> Result<Vec<OrderRow>, StoreError> {
        let t = self.0.borrow();
        Ok(t.orders
            .iter()
            .filter(|o| {
                t.positions
                    .iter()
                    .any(|p| p.id == o.position_id && (p.status == "pending" || p.status == "open"))
            })
            .cloned()
            .collect())
    }

    async fn active_fills(&self) -> Result<Vec<FillRow>, StoreError> {
        let t = self.0.borrow();
        Ok(t.fills
            .iter()
            .filter(|f| {
                t.positions
                    .iter()
                    .any(|p| p.id == f.position_id && (p.status == "pending" || p.status == "open"))
            })
            .cloned()
            .collect())
    }

    async fn write_position(&self, w: &PositionWrite) -> Result<u64, StoreError> {
        self.check()?;
        let mut t = self.0.borrow_mut();
        let mut rows = 0;
        for f in &w.fills {
            if t.fills.iter().any(|x| x.exec_id == f.exec_id) {
                continue;
            }
            let id = t.fills.len() as i64 + 1;
            t.fills.push(FillRow {
                id,
                exec_id: f.exec_id.clone(),
                position_id: w.position_id,
                order_key: f.order_key.clone(),
                contract: f.contract.clone(),
                quantity: f.quantity,
                price_micros: f.price_micros,
                commission_micros: f.commission_micros,
                time: f.time_ms,
            });
            rows += 1;
        }
        for (exec_id, c) in &w.commissions {
            if let Some(f) = t
                .fills
                .iter_mut()
                .find(|f| &f.exec_id == exec_id && f.commission_micros.is_none())
            {
                f.commission_micros = Some(*c);
                rows += 1;
            }
        }
        for u in &w.orders {
            if Self::apply_order(&mut t, &|o| o.id == u.id, u) {
                rows += 2;
            }
        }
        if let Some(p) = &w.position {
            if let Some(row) = t
                .positions
                .iter_mut()
                .find(|r| r.id == p.id && r.status == p.from_status)
            {
                row.status = p.status.clone();
                row.summary = Some(p.summary.clone());
                row.realized_micros = p.realized_micros;
                row.exit_state = p.exit_state.clone();
                row.opened_at = row.opened_at.or(p.opened_at);
                row.closed_at = p.closed_at;
                if row.exit_reason.is_none() && p.exit_reason.is_some() {
                    row.exit_reason = p.exit_reason.clone();
                    row.exit_requested_by = Some("system:monitor".into());
                    row.exit_requested_at = p
                        .exit_requested_at
                        .or(Some(w.audit.first().map_or(0, |a| a.at)));
                }
                rows += 1;
            }
        }
        if let Some(m) = &w.mark {
            t.marks.push(MarkRow {
                position_id: m.position_id,
                at: m.at,
                ok: i64::from(m.ok),
                value_mid_micros: m.value_mid_micros,
                value_natural_micros: m.value_natural_micros,
                unrealized_mid_micros: m.unrealized_mid_micros,
                unrealized_natural_micros: m.unrealized_natural_micros,
                realized_micros: m.realized_micros,
                pnl_per_unit_micros: m.pnl_per_unit_micros,
                decision: m.decision.clone(),
                greeks: m.greeks.clone(),
                dte: m.dte,
            });
            rows += 1;
        }
        t.audit.extend(w.audit.iter().cloned());
        t.events.extend(w.events.iter().cloned());
        rows += w.audit.len() as u64;
        Ok(rows)
    }

    async fn insert_exit_order(
        &self,
        o: &NewExitOrder,
        audit: &AuditEntry,
    ) -> Result<(bool, u64), StoreError> {
        self.check()?;
        let mut t = self.0.borrow_mut();
        let live = t.orders.iter().any(|x| {
            x.position_id == o.position_id
                && x.purpose == "exit"
                && LIVE.contains(&x.status.as_str())
        });
        if live || t.orders.iter().any(|x| x.key == o.key) {
            return Ok((false, 0));
        }
        let id = t.orders.len() as i64 + 1;
        t.orders.push(OrderRow {
            id,
            key: o.key.clone(),
            position_id: o.position_id,
            purpose: "exit".into(),
            attempt: Some(o.attempt),
            exit_reason: Some(o.exit_reason.clone()),
            quantity: o.quantity,
            filled: 0,
            status: "submitting".into(),
            limit_micros: o.limit_micros,
            request: Some(o.request.clone()),
            broker_order_id: None,
            broker_status: None,
            last_seq: None,
            error: None,
            created_at: o.at,
            updated_at: o.at,
        });
        t.audit.push(audit.clone());
        Ok((true, 2))
    }

    async fn update_order(&self, u: &OrderUpdate) -> Result<(bool, u64), StoreError> {
        self.check()?;
        let mut t = self.0.borrow_mut();
        let won = Self::apply_order(&mut t, &|o| o.id == u.id, u);
        Ok((won, if won { 2 } else { 0 }))
    }

    async fn update_order_by_key(
        &self,
        key: &str,
        u: &OrderUpdate,
    ) -> Result<(bool, u64), StoreError> {
        self.check()?;
        let mut t = self.0.borrow_mut();
        let won = Self::apply_order(&mut t, &|o| o.key == key, u);
        Ok((won, if won { 2 } else { 0 }))
    }

    async fn reconciliation(&self) -> Result<ReconciliationRow, StoreError> {
        Ok(self.0.borrow().reconciliation.clone())
    }

    async fn set_reconciliation(
        &self,
        at_ms: i64,
        drifts_json: &str,
        fingerprint: Option<&str>,
        audit: &[AuditEntry],
    ) -> Result<u64, StoreError> {
        self.check()?;
        let mut t = self.0.borrow_mut();
        let r = &mut t.reconciliation;
        let same = fingerprint.is_some() && r.fingerprint.as_deref() == fingerprint;
        r.confirmed = i64::from(same);
        r.since = match fingerprint {
            None => None,
            Some(_) if same => r.since,
            Some(_) => Some(at_ms),
        };
        r.checked_at = Some(at_ms);
        r.drifts = drifts_json.to_owned();
        r.fingerprint = fingerprint.map(str::to_owned);
        t.audit.extend(audit.iter().cloned());
        Ok(1 + audit.len() as u64)
    }

    async fn insert_equity(
        &self,
        at_ms: i64,
        net_liquidation: Option<f64>,
        unrealized_mid_micros: i64,
        open_positions: i64,
        unmarked: i64,
    ) -> Result<u64, StoreError> {
        self.check()?;
        let mut t = self.0.borrow_mut();
        let realized = t.positions.iter().map(|p| p.realized_micros).sum();
        t.equity.push(EquityRow {
            at: at_ms,
            net_liquidation,
            realized_micros: realized,
            unrealized_mid_micros,
            open_positions,
            unmarked_positions: unmarked,
        });
        Ok(1)
    }

    async fn positions(
        &self,
        status: Option<&str>,
        limit: u32,
    ) -> Result<Vec<PositionRow>, StoreError> {
        Ok(self
            .0
            .borrow()
            .positions
            .iter()
            .rev()
            .filter(|p| status.is_none_or(|s| p.status == s))
            .take(limit as usize)
            .cloned()
            .collect())
    }

    async fn position(&self, id: i64) -> Result<Option<PositionRow>, StoreError> {
        Ok(self
            .0
            .borrow()
            .positions
            .iter()
            .find(|p| p.id == id)
            .cloned())
    }

    async fn orders_of(&self, position_id: i64) -> Result<Vec<OrderRow>, StoreError> {
        Ok(self
            .0
            .borrow()
            .orders
            .iter()
            .filter(|o| o.position_id == position_id)
            .cloned()
            .collect())
    }

    async fn fills_of(&self, position_id: i64) -> Result<Vec<FillRow>, StoreError> {
        Ok(self
            .0
            .borrow()
            .fills
            .iter()
            .filter(|f| f.position_id == position_id)
            .cloned()
            .collect())
    }

    async fn marks_of(&self, position_id: i64, limit: u32) -> Result<Vec<MarkRow>, StoreError> {
        Ok(self
            .0
            .borrow()
            .marks
            .iter()
            .rev()
            .filter(|m| m.position_id == position_id)
            .take(limit as usize)
            .cloned()
            .collect())
    }

    async fn latest_marks(&self, ids: &[i64]) -> Result<Vec<MarkRow>, StoreError> {
        let t = self.0.borrow();
        Ok(ids
            .iter()
            .filter_map(|id| t.marks.iter().rev().find(|m| m.position_id == *id).cloned())
            .collect())
    }

    async fn orders(&self, limit: u32) -> Result<Vec<OrderRow>, StoreError> {
        Ok(self
            .0
            .borrow()
            .orders
            .iter()
            .rev()
            .take(limit as usize)
            .cloned()
            .collect())
    }

    async fn equity(&self, since_ms: i64, limit: u32) -> Result<Vec<EquityRow>, StoreError> {
        Ok(self
            .0
            .borrow()
            .equity
            .iter()
            .filter(|e| e.at >= since_ms)
            .take(limit as usize)
            .cloned()
            .collect())
    }

    async fn runs(&self, limit: u32) -> Result<Vec<MonitorRunRow>, StoreError> {
        Ok(self
            .0
            .borrow()
            .runs
            .iter()
            .rev()
            .take(limit as usize)
            .cloned()
            .collect())
    }

    async fn request_close(
        &self,
        id: i64,
        at_ms: i64,
        actor: &str,
        audit: &AuditEntry,
    ) -> Result<bool, StoreError> {
        self.check()?;
        let mut t = self.0.borrow_mut();
        let Some(p) = t
            .positions
            .iter_mut()
            .find(|p| p.id == id && p.status == "open" && p.exit_reason.is_none())
        else {
            return Ok(false);
        };
        p.exit_reason = Some("manual".into());
        p.exit_requested_at = Some(at_ms);
        p.exit_requested_by = Some(actor.to_owned());
        t.audit.push(audit.clone());
        Ok(true)
    }

    async fn exits_paused_globally(&self) -> Result<bool, StoreError> {
        Ok(self.0.borrow().all_exits_paused)
    }

    async fn set_exits_paused(
        &self,
        id: i64,
        paused: bool,
        _at_ms: i64,
        audit: &AuditEntry,
    ) -> Result<bool, StoreError> {
        self.check()?;
        let mut t = self.0.borrow_mut();
        let v = i64::from(paused);
        let Some(p) = t
            .positions
            .iter_mut()
            .find(|p| p.id == id && p.exits_paused != v)
        else {
            return Ok(false);
        };
        p.exits_paused = v;
        t.audit.push(audit.clone());
        Ok(true)
    }

    async fn ack_reconciliation(
        &self,
        fingerprint: &str,
        at_ms: i64,
        actor: &str,
        audit: &AuditEntry,
    ) -> Result<bool, StoreError> {
        self.check()?;
        let mut t = self.0.borrow_mut();
        let r = &mut t.reconciliation;
        if r.fingerprint.as_deref() != Some(fingerprint)
            || r.acknowledged_fingerprint.as_deref() == Some(fingerprint)
        {
            return Ok(false);
        }
        r.acknowledged_fingerprint = Some(fingerprint.to_owned());
        r.acknowledged_at = Some(at_ms);
        r.acknowledged_by = Some(actor.to_owned());
        t.audit.push(audit.clone());
        Ok(true)
    }
}
