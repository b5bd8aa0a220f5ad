//! An in-memory [`ApprovalStore`] for the native workflow tests. Each
//! conditional update implements the predicate of its SQL constant (named on
//! each method; the SQL stays the source of truth), and each "batch" is
//! all-or-nothing like a D1 batch: the audit row is written only when the
//! statement changed the row. Failures can be injected per operation.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use super::store::{Approval, ApprovalStore, OrderStateChange, ResendClaim, StoreError};
use super::{KillSwitchRow, OrderState, ResolveRow, RiskCheckRow};
use crate::audit::store::AuditStore;
use crate::audit::{AuditEntry, AuditQuery, AuditRow};
use crate::proposals::{ProposalRecord, ProposalRow, ProposalStatus};
use crate::settings::store::SettingsStore;

/// One stored proposal: the row plus the columns the row type does not
/// carry.
#[derive(Debug, Clone)]
pub struct Stored {
    pub row: ProposalRow,
    pub order_request: Option<String>,
}

/// Operations whose next call fails (a D1 error or a failed batch: nothing
/// of it is written).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Op {
    #[default]
    SetOrderState,
    Approve,
    KillSwitchRead,
}

#[derive(Debug, Default)]
pub struct MemoryStore {
    pub proposals: RefCell<BTreeMap<i64, Stored>>,
    /// Shared so a fake bridge can flip it mid-workflow.
    pub kill_switch: Rc<RefCell<Option<KillSwitchRow>>>,
    pub audit: RefCell<Vec<AuditEntry>>,
    /// A standing reconciliation drift (the position monitor's).
    pub drift: std::cell::Cell<bool>,
    /// Risk verdicts stored with approvals that won (`risk_checks`).
    pub risk_checks: RefCell<Vec<RiskCheckRow>>,
    /// Alert statements stored with approvals that won (the outbox rows
    /// `INSERT_ALERT_IF_CHANGED` writes after the audit row).
    pub alerts: RefCell<Vec<crate::alerts::Statement>>,
    /// How many of the next calls of an operation fail.
    pub failures: RefCell<BTreeMap<Op, u32>>,
}

fn fail(store: &MemoryStore, op: Op) -> Result<(), StoreError> {
    let mut f = store.failures.borrow_mut();
    match f.get_mut(&op) {
        Some(n) if *n > 0 => {
            *n -= 1;
            Err(StoreError(format!("injected failure of {op:?}")))
        }
        _ => Ok(()),
    }
}

impl MemoryStore {
    /// A store with the kill switch off.
    pub fn new() -> Self {
        let s = Self::default();
        s.set_switch("off", 0);
        s
    }

    pub fn set_switch(&self, value: &str, at_ms: i64) {
        set_switch(&self.kill_switch, value, at_ms);
    }

    pub fn fail_next(&self, op: Op, times: u32) {
        self.failures.borrow_mut().insert(op, times);
    }

    /// Stores `record` as pending under `id` (`INSERT_PROPOSAL` defaults).
    pub fn insert(&self, id: i64, record: &ProposalRecord) {
        let mut v: serde_json::Value = serde_json::from_str(&record.to_param()).unwrap_or_default();
        v["id"] = id.into();
        v["status"] = "pending".into();
        v["order_attempts"] = 0.into();
        let row: ProposalRow = serde_json::from_value(v).unwrap_or_else(|e| panic!("{e}"));
        self.proposals.borrow_mut().insert(
            id,
            Stored {
                row,
                order_request: None,
            },
        );
    }

    pub fn row(&self, id: i64) -> ProposalRow {
        self.proposals.borrow()[&id].row.clone()
    }

    pub fn update(&self, id: i64, f: impl FnOnce(&mut ProposalRow)) {
        if let Some(s) = self.proposals.borrow_mut().get_mut(&id) {
            f(&mut s.row);
        }
    }

    /// The audit actions recorded, in order.
    pub fn actions(&self) -> Vec<&'static str> {
        self.audit
            .borrow()
            .iter()
            .map(|e| e.action.as_str())
            .collect()
    }

    fn switch_off(&self) -> bool {
        // `EXISTS (SELECT 1 FROM settings WHERE key = 'kill_switch' AND value = 'off')`
        self.kill_switch
            .borrow()
            .as_ref()
            .is_some_and(|r| r.value == "off")
    }

    /// `INSERT_AUDIT_IF_CHANGED`: the audit row only when the statement
    /// before it changed exactly one row.
    fn audit_if(&self, changed: bool, entry: &AuditEntry) -> bool {
        if changed {
            self.audit.borrow_mut().push(entry.clone());
        }
        changed
    }

    /// Applies `f` to proposal `id` when `pred` holds; whether it did.
    fn conditional(
        &self,
        id: i64,
        pred: impl Fn(&Stored) -> bool,
        f: impl FnOnce(&mut Stored),
    ) -> bool {
        let mut all = self.proposals.borrow_mut();
        match all.get_mut(&id) {
            Some(s) if pred(s) => {
                f(s);
                true
            }
            _ => false,
        }
    }
}

impl ApprovalStore for MemoryStore {
    async fn proposal(&self, id: i64) -> Result<Option<ProposalRow>, StoreError> {
        Ok(self.proposals.borrow().get(&id).map(|s| s.row.clone()))
    }

    async fn proposals(
        &self,
        status: Option<ProposalStatus>,
        limit: u32,
    ) -> Result<Vec<ProposalRow>, StoreError> {
        Ok(self
            .proposals
            .borrow()
            .values()
            .rev()
            .filter(|s| status.is_none_or(|st| s.row.status == st))
            .take(limit as usize)
            .map(|s| s.row.clone())
            .collect())
    }

    /// `APPROVE`: `WHERE id = ?1 AND status = 'pending' AND expires_at > ?2
    /// AND EXISTS (kill_switch = 'off')`.
    async fn approve(&self, a: &Approval<'_>, audit: &AuditEntry) -> Result<bool, StoreError> {
        fail(self, Op::Approve)?;
        let off = self.switch_off();
        let changed = self.conditional(
            a.id,
            |s| off && s.row.status == ProposalStatus::Pending && s.row.expires_at > a.at_ms,
            |s| {
                s.row.status = ProposalStatus::Approved;
                s.row.decided_at = Some(a.at_ms);
                s.row.decided_by = Some(a.actor.into());
                s.row.decision_reason = a.note.map(str::to_owned);
                s.row.approved_limit_price = Some(a.limit_price);
                s.row.approved_contracts = Some(i64::from(a.contracts));
                s.order_request = Some(a.order_json.into());
                s.row.order_status = Some(OrderState::Submitting);
                s.row.order_updated_at = Some(a.at_ms);
            },
        );
        if changed {
            self.risk_checks.borrow_mut().push(RiskCheckRow {
                proposal_id: a.id,
                at: a.at_ms,
                actor: a.actor.to_owned(),
                approved: 1,
                report: a.risk_report.to_owned(),
            });
            self.alerts.borrow_mut().extend(a.alert.iter().cloned());
        }
        Ok(self.audit_if(changed, audit))
    }

    /// `REJECT`: `WHERE id = ?1 AND status = 'pending' AND expires_at > ?2`.
    async fn reject(
        &self,
        id: i64,
        at_ms: i64,
        actor: &str,
        reason: &str,
        audit: &AuditEntry,
    ) -> Result<bool, StoreError> {
        let changed = self.conditional(
            id,
            |s| s.row.status == ProposalStatus::Pending && s.row.expires_at > at_ms,
            |s| {
                s.row.status = ProposalStatus::Rejected;
                s.row.decided_at = Some(at_ms);
                s.row.decided_by = Some(actor.into());
                s.row.decision_reason = Some(reason.into());
            },
        );
        Ok(self.audit_if(changed, audit))
    }

    /// `EXPIRE_ONE`: `WHERE id = ?1 AND status = 'pending' AND expires_at <= ?2`.
    async fn expire_one(
        &self,
        id: i64,
        at_ms: i64,
        actor: &str,
        audit: &AuditEntry,
    ) -> Result<bool, StoreError> {
        let changed = self.conditional(
            id,
            |s| s.row.status == ProposalStatus::Pending && s.row.expires_at <= at_ms,
            |s| expire(s, at_ms, actor),
        );
        Ok(self.audit_if(changed, audit))
    }

    /// `AUDIT_OVERDUE` + `EXPIRE_OVERDUE`: `WHERE status = 'pending' AND
    /// expires_at <= ?1`, one audit row per proposal expired.
    async fn expire_overdue(&self, at_ms: i64, actor: &str) -> Result<usize, StoreError> {
        let mut n = 0;
        for s in self.proposals.borrow_mut().values_mut() {
            if s.row.status == ProposalStatus::Pending && s.row.expires_at <= at_ms {
                self.audit.borrow_mut().push(AuditEntry::proposal(
                    at_ms,
                    actor,
                    crate::audit::AuditAction::ProposalExpired,
                    s.row.id,
                    Some("pending"),
                    Some("expired"),
                    serde_json::json!({ "expires_at": s.row.expires_at,
                        "limit_price": s.row.limit_price, "entry_mid": s.row.entry_mid }),
                ));
                expire(s, at_ms, actor);
                n += 1;
            }
        }
        Ok(n)
    }

    /// `SET_ORDER_STATE`: `WHERE id = ?1 AND status = 'approved' AND
    /// order_status = ?8`; ids and broker status COALESCE, the reason
    /// replaces (NULL clears), attempts += ?6.
    async fn set_order_state(
        &self,
        c: &OrderStateChange<'_>,
        audit: &AuditEntry,
    ) -> Result<bool, StoreError> {
        fail(self, Op::SetOrderState)?;
        let changed = self.conditional(
            c.id,
            |s| s.row.status == ProposalStatus::Approved && s.row.order_status == Some(c.from),
            |s| {
                s.row.order_status = Some(c.to);
                if let Some(o) = c.order_id {
                    s.row.order_id = Some(o.into());
                }
                if let Some(b) = c.broker_status {
                    s.row.broker_order_status = Some(b.into());
                }
                s.row.order_error = c.reason.map(str::to_owned);
                s.row.order_attempts += i64::from(c.sent);
                s.row.order_updated_at = Some(c.at_ms);
            },
        );
        Ok(self.audit_if(changed, audit))
    }

    async fn refuse_resend(
        &self,
        c: &OrderStateChange<'_>,
        risk_report: &str,
        audit: &AuditEntry,
    ) -> Result<bool, StoreError> {
        let won = self.set_order_state(c, audit).await?;
        if won {
            self.risk_checks.borrow_mut().push(RiskCheckRow {
                proposal_id: c.id,
                at: c.at_ms,
                actor: audit.actor.clone(),
                approved: 0,
                report: risk_report.to_owned(),
            });
        }
        Ok(won)
    }

    /// `CLAIM_RESEND`: `WHERE id = ?1 AND status = 'approved' AND
    /// order_status = ?6 AND order_updated_at = ?7` (NULL never equals).
    async fn claim_resend(
        &self,
        c: &ResendClaim<'_>,
        audit: &AuditEntry,
    ) -> Result<bool, StoreError> {
        let changed = self.conditional(
            c.id,
            |s| {
                s.row.status == ProposalStatus::Approved
                    && s.row.order_status == Some(c.from)
                    && c.order_updated_at.is_some()
                    && s.row.order_updated_at == c.order_updated_at
            },
            |s| {
                s.row.order_status = Some(OrderState::Submitting);
                s.order_request = Some(c.order_json.into());
                s.row.approved_limit_price = Some(c.limit_price);
                s.row.approved_contracts = Some(i64::from(c.contracts));
                s.row.order_error = None;
                s.row.order_updated_at = Some(c.at_ms);
            },
        );
        Ok(self.audit_if(changed, audit))
    }

    /// `SELECT_ORDERS_TO_RESOLVE`: approved with an order request, and
    /// `unknown` / `submit_failed`, or `submitting` not updated since
    /// `?1 - ?2`; oldest `order_updated_at` first (NULL first), at most `?3`.
    /// `WHERE proposal_id = ?1 ORDER BY at DESC, id DESC LIMIT ?2`.
    async fn risk_checks(
        &self,
        proposal_id: i64,
        limit: u32,
    ) -> Result<Vec<RiskCheckRow>, StoreError> {
        let mut rows: Vec<RiskCheckRow> = self
            .risk_checks
            .borrow()
            .iter()
            .rev()
            .filter(|r| r.proposal_id == proposal_id)
            .cloned()
            .collect();
        rows.sort_by_key(|r| std::cmp::Reverse(r.at));
        rows.truncate(limit as usize);
        Ok(rows)
    }

    async fn orders_to_resolve(
        &self,
        at_ms: i64,
        stale_ms: i64,
        limit: u32,
    ) -> Result<Vec<ResolveRow>, StoreError> {
        let all = self.proposals.borrow();
        let mut rows: Vec<&Stored> = all
            .values()
            .filter(|s| {
                s.row.status == ProposalStatus::Approved
                    && s.order_request.is_some()
                    && match s.row.order_status {
                        Some(OrderState::Unknown | OrderState::SubmitFailed) => true,
                        Some(OrderState::Submitting) => s
                            .row
                            .order_updated_at
                            .is_some_and(|t| t <= at_ms - stale_ms),
                        _ => false,
                    }
            })
            .collect();
        rows.sort_by_key(|s| s.row.order_updated_at);
        Ok(rows
            .into_iter()
            .take(limit as usize)
            .filter_map(|s| {
                Some(ResolveRow {
                    id: s.row.id,
                    idempotency_key: s.row.idempotency_key.clone(),
                    order_status: s.row.order_status?,
                    order_attempts: s.row.order_attempts,
                    decided_at: s.row.decided_at,
                    order_updated_at: s.row.order_updated_at,
                    proposal_json: s.row.proposal_json.clone().unwrap_or_default(),
                })
            })
            .collect())
    }
}

impl SettingsStore for MemoryStore {
    async fn kill_switch(&self) -> Result<Option<KillSwitchRow>, StoreError> {
        fail(self, Op::KillSwitchRead)?;
        Ok(self.kill_switch.borrow().clone())
    }

    async fn drift_blocks_entries(&self) -> Result<bool, StoreError> {
        fail(self, Op::KillSwitchRead)?;
        Ok(self.drift.get())
    }

    /// `SET_KILL_SWITCH` (upsert) + `INSERT_AUDIT`.
    async fn set_kill_switch(
        &self,
        on: bool,
        at_ms: i64,
        actor: &str,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        *self.kill_switch.borrow_mut() = Some(KillSwitchRow {
            value: if on { "on" } else { "off" }.into(),
            updated_at: at_ms,
            updated_by: actor.into(),
        });
        self.audit.borrow_mut().push(audit.clone());
        Ok(())
    }
}

impl AuditStore for MemoryStore {
    /// `INSERT_AUDIT`.
    async fn append_audit(&self, audit: &AuditEntry) -> Result<(), StoreError> {
        self.audit.borrow_mut().push(audit.clone());
        Ok(())
    }

    /// `SELECT_AUDIT`: newest first, filtered as the SQL filters.
    async fn audit_log(&self, q: &AuditQuery) -> Result<Vec<AuditRow>, StoreError> {
        let text = |v: Option<i64>| v.map(|n| n.to_string());
        let (proposal, position) = (text(q.proposal), text(q.position));
        Ok(self
            .audit
            .borrow()
            .iter()
            .enumerate()
            .rev()
            .filter(|(i, e)| {
                let of = |entity: &str, id: &Option<String>| {
                    id.is_none() || (e.entity == entity && &e.entity_id == id)
                };
                let names_position = position.is_some()
                    && serde_json::from_str::<serde_json::Value>(&e.details_json())
                        .ok()
                        .and_then(|d| match &d["position_id"] {
                            serde_json::Value::Number(n) => Some(n.to_string()),
                            serde_json::Value::String(s) => Some(s.clone()),
                            _ => None,
                        })
                        == position;
                of("proposal", &proposal)
                    && (of("position", &position) || names_position)
                    && q.action.is_none_or(|a| a == e.action)
                    && q.before.is_none_or(|b| (*i as i64 + 1) < b)
            })
            .take(q.limit as usize)
            .map(|(i, e)| AuditRow {
                id: i as i64 + 1,
                at: e.at,
                actor: e.actor.clone(),
                action: e.action.as_str().into(),
                entity: e.entity.into(),
                entity_id: e.entity_id.clone(),
                from_state: e.from_state.clone(),
                to_state: e.to_state.clone(),
                details: e.details_json(),
            })
            .collect())
    }
}

/// The `SET` of `EXPIRE_ONE` / `EXPIRE_OVERDUE`.
fn expire(s: &mut Stored, at_ms: i64, actor: &str) {
    s.row.status = ProposalStatus::Expired;
    s.row.decided_at = Some(at_ms);
    s.row.decided_by = Some(actor.into());
    s.row.decision_reason = Some("not decided before it expired".into());
}

/// Sets the kill switch row behind a shared handle.
pub fn set_switch(handle: &RefCell<Option<KillSwitchRow>>, value: &str, at_ms: i64) {
    *handle.borrow_mut() = Some(KillSwitchRow {
        value: value.into(),
        updated_at: at_ms,
        updated_by: "test".into(),
    });
}
