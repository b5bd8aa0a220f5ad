//! The approval workflows over an [`ApprovalStore`], a [`Bridge`] and a
//! clock: approve (re-price, ONE conditional update batched with its audit
//! row, send), reject, expire, the kill switch, and the cron step that
//! resolves orders of unknown outcome by key (never by a blind resend).
//! No Workers API is touched here: `edge::proposals` supplies D1 and
//! `fetch`, the native tests supply in-memory fakes.

use chrono::{DateTime, Utc};
use sas_bridge_api::account::Account;
use sas_core::market::{OptionChain, Symbol};
use sas_core::strategy::proposal::RefusalCode;
use sas_core::strategy::{reprice, FreshLegQuote, FreshQuotes, Proposal, RepriceRefusal, Repriced};

use super::store::{Approval, ApprovalStore, OrderStateChange, ResendClaim, StoreError};
use super::{
    classify_lookup, classify_order_answer, classify_send_failure, halt_body, kill_switch_on,
    lookup_failure, order_request, reprice_chain_path, retry_decision, send_gate,
    stale_submitting_after_ms, state_of_broker_status, BrokerCheckError, KillSwitchRow,
    LookupResult, OrderState, ResolveRow, RetryDecision, RetryWindow, SendGate, SendResult,
    TradingMode, MAX_ORDERS_PER_RUN,
};
use crate::audit::{self, AuditAction, AuditEntry, CRON_ACTOR};
use crate::bridge::Bridge;
use crate::config::{Config, MarketHoursMode};
use crate::proposals::{self, ProposalRow, ProposalStatus};
use crate::settings::service::{self as settings_service, SetKillSwitchError};

/// Actor of expiries noticed while answering a request (not by the cron).
pub const EXPIRY_ACTOR: &str = "system:expiry";

/// The clock, passed in as a value (the edge reads `Date.now()`, tests move
/// a fake one).
pub type Clock<'a> = &'a dyn Fn() -> DateTime<Utc>;

/// Structured log lines (`console_log` on the edge, collected in tests).
pub type Log<'a> = &'a dyn Fn(&str, serde_json::Value);

/// What every workflow runs against.
pub struct Deps<'a, S, B, R> {
    pub store: &'a S,
    pub bridge: &'a B,
    /// The risk engine's data (pre-trade checks on the real book).
    pub risk: &'a R,
    pub cfg: &'a Config,
    pub now: Clock<'a>,
    pub log: Log<'a>,
}

/// Why a request on a proposal was not done (mapped to a status and body by
/// [`super::view`]).
#[derive(Debug, thiserror::Error)]
pub enum ApprovalError {
    #[error("no proposal {0}")]
    NotFound(i64),
    /// 409 `risk_refused`: a pre-trade check of the risk engine refused,
    /// with every check's inputs, limit and verdict.
    #[error("risk checks refused the trade")]
    RiskRefused {
        verdict: Box<crate::risk::view::RiskVerdict>,
        row: Box<ProposalRow>,
    },
    /// 409 with the proposal's current state (`invalid_state`,
    /// `kill_switch_on`, `order_window_closed`).
    #[error("{code}: {message}")]
    Conflict {
        code: &'static str,
        message: String,
        row: Box<ProposalRow>,
    },
    /// The bridge account could not be confirmed (503).
    #[error("broker check: {0}")]
    BrokerCheck(BrokerCheckError),
    /// No fresh quotes for re-pricing (503).
    #[error("fresh quotes unavailable: {0}")]
    QuotesUnavailable(BridgeReadError),
    /// Re-pricing refused the approval (409 `price_moved` / 422
    /// `no_longer_valid`); audited, nothing changed.
    #[error("re-pricing refused: {}", .0.message)]
    Refused(RepriceRefusal),
    /// No order the bridge would accept can be built (422).
    #[error("no order can be built: {0}")]
    NoOrder(String),
    /// The stored proposal JSON cannot be read (500).
    #[error("stored proposal {0} cannot be read")]
    UnreadableProposal(i64),
    /// Storage failed (500).
    #[error("{context}: {source}")]
    Store {
        context: &'static str,
        source: StoreError,
    },
}

fn store_err(context: &'static str) -> impl Fn(StoreError) -> ApprovalError {
    move |source| ApprovalError::Store { context, source }
}

pub use crate::bridge::BridgeReadError;

/// An approval that happened: the proposal as stored after the send, the
/// re-priced numbers, and why the order is not `submitted` (if it is not).
#[derive(Debug)]
pub struct Approved {
    pub row: ProposalRow,
    pub repriced: serde_json::Value,
    pub order_error: Option<String>,
}

impl<S: ApprovalStore, B: Bridge, R: crate::risk::store::RiskStore> Deps<'_, S, B, R> {
    fn now_ms(&self) -> i64 {
        (self.now)().timestamp_millis()
    }

    fn log_error(&self, context: &str, e: &dyn std::fmt::Display) {
        (self.log)(
            "proposals_error",
            serde_json::json!({ "context": context, "error": e.to_string() }),
        );
    }

    fn retry_window(&self) -> RetryWindow {
        RetryWindow {
            deadline_et: self.cfg.approval.orders.deadline_et,
            enforce_market_hours: self.cfg.market_hours_mode == MarketHoursMode::Enforce,
        }
    }

    // -----------------------------------------------------------------------
    // Bridge reads
    // -----------------------------------------------------------------------

    /// `GET /account`.
    pub async fn account(&self) -> Result<Account, BrokerCheckError> {
        let answer = self
            .bridge
            .get("/account", self.cfg.bridge_timeout_ms)
            .await
            .map_err(BrokerCheckError::Bridge)?;
        if answer.status != 200 {
            return Err(BrokerCheckError::Status(answer.status));
        }
        answer.ok_json().ok_or(BrokerCheckError::BadAnswer)
    }

    /// In paper mode the bridge's account must be a paper account (checked
    /// before every order; any doubt refuses).
    pub async fn paper_guard(&self) -> Result<(), BrokerCheckError> {
        if self.cfg.approval.trading_mode == TradingMode::Live {
            return Ok(());
        }
        self.checked_account().await.map(|_| ())
    }

    /// The risk engine's pre-trade checks of `repriced` (storage failure:
    /// the approval is refused).
    async fn pre_trade(
        &self,
        proposal: &Proposal,
        repriced: &sas_core::strategy::Repriced,
        account: &Account,
    ) -> Result<crate::risk::view::RiskVerdict, ApprovalError> {
        crate::risk::service::pre_trade(
            self.risk,
            &self.cfg.risk,
            proposal,
            repriced,
            Some(account),
            (self.now)(),
        )
        .await
        .map_err(|e| ApprovalError::Store {
            context: "risk pre-trade",
            source: StoreError(e.to_string()),
        })
    }

    /// The bridge's account, refused in paper mode unless it is a paper
    /// account (the approval's one account read: paper guard and risk).
    pub async fn checked_account(&self) -> Result<Account, BrokerCheckError> {
        let acct = self.account().await?;
        if self.cfg.approval.trading_mode == TradingMode::Live
            || sas_bridge_api::is_paper_account(&acct.account_id)
        {
            Ok(acct)
        } else {
            Err(BrokerCheckError::NotPaper)
        }
    }

    /// `GET {path}` for a chain of `symbol` (any selection).
    pub async fn chain(&self, symbol: &Symbol, path: &str) -> Result<OptionChain, BridgeReadError> {
        crate::bridge::chain(self.bridge, symbol, path, self.cfg.bridge_timeout_ms).await
    }

    /// Fresh quotes for the proposal's legs from the bridge, then [`reprice`].
    pub async fn fresh_reprice(
        &self,
        proposal: &Proposal,
        at: DateTime<Utc>,
    ) -> Result<Result<Repriced, RepriceRefusal>, BridgeReadError> {
        let today = proposals::trade_date(at);
        let c = self
            .chain(&proposal.symbol, &reprice_chain_path(proposal))
            .await?;
        let fresh = fresh_quotes(&c, today);
        let strategy_cfg = proposals::strategy_config(&self.cfg.approval.limits);
        Ok(reprice(proposal, &fresh, &strategy_cfg))
    }

    /// `POST /orders` with `body` exactly as stored, classified.
    async fn post_order(&self, body: &str, key: &str) -> SendResult {
        let timeout = self.cfg.approval.orders.order_timeout_ms;
        match self.bridge.post_json("/orders", body, timeout).await {
            Ok(answer) => classify_order_answer(answer.status, &answer.body, key),
            Err(failure) => classify_send_failure(&failure),
        }
    }

    /// `GET /orders/by-key/{key}`: what the broker has under `key`.
    pub async fn lookup_order(&self, key: &str) -> LookupResult {
        // Keys are [A-Za-z0-9_.:-] (checked before approval): safe in a path.
        let path = format!("/orders/by-key/{key}");
        match self.bridge.get(&path, self.cfg.bridge_timeout_ms).await {
            Ok(answer) => classify_lookup(answer.status, &answer.body, key),
            Err(failure) => lookup_failure(&failure),
        }
    }

    /// The kill switch mirrored to the bridge (`POST /halt`), best effort:
    /// the Worker's own checks do not depend on it; the outcome is logged.
    pub async fn mirror_halt(&self, halted: bool, reason: &str) {
        let body = halt_body(halted, reason);
        let outcome = match self
            .bridge
            .post_json("/halt", &body, self.cfg.bridge_timeout_ms)
            .await
        {
            Ok(a) if a.status == 200 => serde_json::json!({ "ok": true }),
            Ok(a) => serde_json::json!({ "ok": false, "status": a.status }),
            Err(e) => serde_json::json!({ "ok": false, "error": e.to_string() }),
        };
        (self.log)(
            "bridge_halt_mirror",
            serde_json::json!({ "halted": halted, "outcome": outcome }),
        );
    }

    // -----------------------------------------------------------------------
    // Order states
    // -----------------------------------------------------------------------

    /// One order-state change of proposal `id`, compare-and-set from `from`,
    /// with its audit row in the same batch. True when it happened.
    async fn change_order(
        &self,
        actor: &str,
        c: &OrderStateChange<'_>,
        action: AuditAction,
        details: serde_json::Value,
    ) -> Result<bool, StoreError> {
        let mut details = details;
        if let Some(obj) = details.as_object_mut() {
            obj.insert("order_state_from".into(), c.from.as_str().into());
            obj.insert("order_state".into(), c.to.as_str().into());
            obj.insert(
                "trading_mode".into(),
                self.cfg.approval.trading_mode.as_str().into(),
            );
            if let Some(r) = c.reason {
                obj.insert("reason".into(), r.into());
            }
        }
        let entry = AuditEntry::proposal(
            c.at_ms,
            actor,
            action,
            c.id,
            Some("approved"),
            Some("approved"),
            details,
        );
        self.store.set_order_state(c, &entry).await
    }

    /// Sends the order of proposal `id`, which is `submitting` (just approved
    /// or claimed for a resend), and records what happened. The paper check
    /// and the kill switch are read immediately before `POST /orders`.
    /// Returns the state recorded and its reason.
    pub async fn send_order(
        &self,
        id: i64,
        key: &str,
        order_request: &str,
        actor: &str,
    ) -> Result<(OrderState, Option<String>), StoreError> {
        let from = OrderState::Submitting;
        let base = serde_json::json!({ "idempotency_key": key });
        let unsent = |to, reason| OrderStateChange {
            id,
            from,
            to,
            order_id: None,
            broker_status: None,
            reason,
            sent: false,
            at_ms: self.now_ms(),
        };
        // Not sent: the bridge account could not be confirmed as paper.
        if let Err(e) = self.paper_guard().await {
            self.log_error("paper guard", &e);
            let reason = format!("not sent: {}", e.public_reason());
            let c = unsent(OrderState::SubmitFailed, Some(reason.as_str()));
            self.change_order(actor, &c, AuditAction::OrderSubmitFailed, base)
                .await?;
            return Ok((OrderState::SubmitFailed, Some(reason)));
        }
        // The kill switch, read immediately before the send (fails closed).
        let switch = self.store.kill_switch().await;
        let gate = match &switch {
            Ok(row) => send_gate(Ok(row.as_ref())),
            Err(e) => {
                self.log_error("kill switch before send", e);
                send_gate(Err("D1 read failed"))
            }
        };
        let gate = match (gate, self.store.drift_blocks_entries().await) {
            (SendGate::Send, Ok(false)) => SendGate::Send,
            (SendGate::Send, Ok(true)) => SendGate::Hold {
                reason: "a reconciliation drift stands".into(),
            },
            (SendGate::Send, Err(e)) => {
                self.log_error("reconciliation before send", &e);
                SendGate::Hold {
                    reason: "reconciliation state could not be read".into(),
                }
            }
            (other, _) => other,
        };
        let held = match gate {
            SendGate::Send => None,
            SendGate::Abandon { reason } => Some((OrderState::Abandoned, reason)),
            SendGate::Hold { reason } => Some((OrderState::SubmitFailed, reason)),
        };
        if let Some((to, reason)) = held {
            let reason = format!("not sent: {reason}");
            let c = unsent(to, Some(reason.as_str()));
            self.change_order(actor, &c, action_for(to), base).await?;
            return Ok((to, Some(reason)));
        }
        let result = self.post_order(order_request, key).await;
        // 409 idempotency_key_conflict: an order exists; record what it is.
        let (to, order_id, broker_status, reason, details) = match &result {
            SendResult::Placed {
                order_id,
                broker_status,
                duplicate,
            } => (
                OrderState::Submitted,
                Some(order_id.clone()),
                Some(broker_status.clone()),
                None,
                serde_json::json!({ "idempotency_key": key, "order_id": order_id,
                    "broker_status": broker_status, "duplicate": duplicate }),
            ),
            SendResult::KeyExists => match self.lookup_order(key).await {
                LookupResult::Found {
                    order_id,
                    broker_status,
                } => (
                    state_of_broker_status(&broker_status),
                    Some(order_id.clone()),
                    Some(broker_status.clone()),
                    None,
                    serde_json::json!({ "idempotency_key": key, "order_id": order_id,
                        "broker_status": broker_status, "key_conflict": true }),
                ),
                other => (
                    OrderState::Unknown,
                    None,
                    None,
                    Some(format!(
                        "bridge reported an order under this key; lookup: {other:?}"
                    )),
                    serde_json::json!({ "idempotency_key": key, "key_conflict": true }),
                ),
            },
            other => (
                other.state().unwrap_or(OrderState::Unknown),
                None,
                None,
                other.reason().map(str::to_owned),
                base,
            ),
        };
        let c = OrderStateChange {
            id,
            from,
            to,
            order_id: order_id.as_deref(),
            broker_status: broker_status.as_deref(),
            reason: reason.as_deref(),
            sent: true,
            at_ms: self.now_ms(),
        };
        self.change_order(actor, &c, action_for(to), details)
            .await?;
        Ok((to, reason))
    }

    // -----------------------------------------------------------------------
    // Cron: resolve orders
    // -----------------------------------------------------------------------

    /// Resolves `unknown`, `submit_failed` and stale `submitting` orders:
    /// asks the bridge by key first, records what the broker has, and
    /// resends (after re-pricing with fresh quotes, same checks as the
    /// approval) only when the broker has none and the approval's window is
    /// still open; otherwise the order ends `abandoned`. Returns the rows
    /// looked at.
    pub async fn resolve_orders(&self, killed: bool) -> Result<usize, StoreError> {
        let stale_ms = stale_submitting_after_ms(
            self.cfg.approval.orders.order_timeout_ms,
            self.cfg.bridge_timeout_ms,
        );
        let rows = self
            .store
            .orders_to_resolve(self.now_ms(), stale_ms, MAX_ORDERS_PER_RUN)
            .await?;
        for r in &rows {
            if let Err(e) = self.resolve_one(r, killed).await {
                self.log_error("resolve order", &e);
            }
        }
        Ok(rows.len())
    }

    async fn resolve_one(&self, r: &ResolveRow, killed: bool) -> Result<(), StoreError> {
        let Some(c) = r.candidate() else {
            return Ok(());
        };
        let lookup = self.lookup_order(&r.idempotency_key).await;
        let decision = retry_decision(&c, (self.now)(), &lookup, killed, &self.retry_window());
        (self.log)(
            "order_resolve",
            serde_json::json!({ "proposal": r.id, "state": c.state.as_str(),
                "lookup": format!("{lookup:?}"), "decision": format!("{decision:?}") }),
        );
        let key = r.idempotency_key.as_str();
        let change = |to, order_id, broker_status, reason| OrderStateChange {
            id: r.id,
            from: c.state,
            to,
            order_id,
            broker_status,
            reason,
            sent: false,
            at_ms: self.now_ms(),
        };
        match decision {
            RetryDecision::Record {
                state,
                order_id,
                broker_status,
            } => {
                if state != c.state {
                    let details = serde_json::json!({ "idempotency_key": key,
                        "order_id": order_id, "broker_status": broker_status,
                        "resolved_by": "lookup" });
                    let ch = change(state, Some(&order_id), Some(&broker_status), None);
                    self.change_order(CRON_ACTOR, &ch, action_for(state), details)
                        .await?;
                }
            }
            RetryDecision::Wait { state, reason } => {
                if state != c.state {
                    let details = serde_json::json!({ "idempotency_key": key });
                    let ch = change(state, None, None, Some(&reason));
                    self.change_order(CRON_ACTOR, &ch, action_for(state), details)
                        .await?;
                }
            }
            RetryDecision::Abandon { reason } => {
                let details = serde_json::json!({ "idempotency_key": key });
                let ch = change(OrderState::Abandoned, None, None, Some(&reason));
                self.change_order(CRON_ACTOR, &ch, AuditAction::OrderAbandoned, details)
                    .await?;
            }
            RetryDecision::Resend => self.resend(r, c.state).await?,
        }
        Ok(())
    }

    async fn abandon(
        &self,
        r: &ResolveRow,
        from: OrderState,
        reason: &str,
        refusal: serde_json::Value,
    ) -> Result<(), StoreError> {
        let details =
            serde_json::json!({ "idempotency_key": r.idempotency_key, "refusal": refusal });
        let c = OrderStateChange {
            id: r.id,
            from,
            to: OrderState::Abandoned,
            order_id: None,
            broker_status: None,
            reason: Some(reason),
            sent: false,
            at_ms: self.now_ms(),
        };
        self.change_order(CRON_ACTOR, &c, AuditAction::OrderAbandoned, details)
            .await
            .map(|_| ())
    }

    /// The risk engine refused a resend: the order ends `abandoned` with the
    /// verdict (`risk_checks`) and its audit row in one batch.
    async fn refuse_resend(
        &self,
        r: &ResolveRow,
        from: OrderState,
        verdict: &crate::risk::view::RiskVerdict,
    ) -> Result<(), StoreError> {
        let reason = format!("risk refused the resend: {}", verdict.refusals.join("; "));
        let reason = crate::config::truncate(&reason, 500);
        let report = serde_json::to_string(verdict).map_err(|e| StoreError(e.to_string()))?;
        let c = OrderStateChange {
            id: r.id,
            from,
            to: OrderState::Abandoned,
            order_id: None,
            broker_status: None,
            reason: Some(&reason),
            sent: false,
            at_ms: self.now_ms(),
        };
        let entry = AuditEntry::proposal(
            c.at_ms,
            CRON_ACTOR,
            AuditAction::OrderAbandoned,
            r.id,
            Some("approved"),
            Some("approved"),
            serde_json::json!({
                "idempotency_key": r.idempotency_key,
                "order_state_from": from.as_str(),
                "order_state": OrderState::Abandoned.as_str(),
                "trading_mode": self.cfg.approval.trading_mode.as_str(),
                "reason": reason,
                "risk": verdict,
            }),
        );
        self.store
            .refuse_resend(&c, &report, &entry)
            .await
            .map(|_| ())
    }

    /// Re-prices the proposal of `r` from fresh bridge quotes with the
    /// approval's checks; a refusal abandons the order; otherwise claims it
    /// (compare-and-set) with the new order body and sends it.
    async fn resend(&self, r: &ResolveRow, from: OrderState) -> Result<(), StoreError> {
        let key = r.idempotency_key.as_str();
        let Ok(proposal) = serde_json::from_str::<Proposal>(&r.proposal_json) else {
            return self
                .abandon(
                    r,
                    from,
                    "stored proposal cannot be read",
                    serde_json::Value::Null,
                )
                .await;
        };
        let at = (self.now)();
        let repriced = match self.fresh_reprice(&proposal, at).await {
            // No fresh quotes: nothing sent; asked again next run (in the window).
            Err(reason) => {
                self.log_error("resend reprice chain", &reason);
                return Ok(());
            }
            Ok(Err(refusal)) => {
                let json = serde_json::to_value(&refusal).unwrap_or_default();
                let reason = format!("re-pricing refused: {}", refusal.message);
                return self.abandon(r, from, &reason, json).await;
            }
            Ok(Ok(rp)) => rp,
        };
        let order = match order_request(&proposal, &repriced) {
            Ok(o) => o,
            Err(e) => {
                let reason = format!("no order can be built: {}", e.0);
                return self
                    .abandon(r, from, &reason, serde_json::Value::Null)
                    .await;
            }
        };
        // The risk engine again, on the book as it is now (fail closed): a
        // refusal cancels the order with the verdict stored and audited in
        // one batch; nothing is sent. No account or a storage failure: not
        // sent now, asked again next run (in the window).
        let account = match self.checked_account().await {
            Ok(a) => a,
            Err(e) => {
                self.log_error("resend account", &e);
                return Ok(());
            }
        };
        let mut repriced = repriced;
        let mut verdict = match self.pre_trade(&proposal, &repriced, &account).await {
            Ok(v) => v,
            Err(e) => {
                self.log_error("resend risk pre-trade", &e);
                return Ok(());
            }
        };
        if let Some(n) = crate::risk::service::vol_adjusted_resize(&verdict, repriced.contracts) {
            repriced = crate::risk::service::resized(&repriced, n);
            verdict = match self.pre_trade(&proposal, &repriced, &account).await {
                Ok(v) => v,
                Err(e) => {
                    self.log_error("resend risk pre-trade", &e);
                    return Ok(());
                }
            };
        }
        if !verdict.approved {
            return self.refuse_resend(r, from, &verdict).await;
        }
        let order = if repriced.contracts == order.quantity {
            order
        } else {
            match order_request(&proposal, &repriced) {
                Ok(o) => o,
                Err(e) => {
                    let reason = format!("no order can be built: {}", e.0);
                    return self
                        .abandon(r, from, &reason, serde_json::Value::Null)
                        .await;
                }
            }
        };
        let Ok(order_json) = serde_json::to_string(&order) else {
            return Ok(());
        };
        let at_ms = at.timestamp_millis();
        let entry = AuditEntry::proposal(
            at_ms,
            CRON_ACTOR,
            AuditAction::OrderRetry,
            r.id,
            Some("approved"),
            Some("approved"),
            serde_json::json!({
                "idempotency_key": key,
                "order_state_from": from.as_str(),
                "order_state": OrderState::Submitting.as_str(),
                "proposed_mid": proposal.metrics.net_price_mid,
                "fresh_mid": repriced.metrics.net_price_mid,
                "price_move": repriced.price_move,
                "limit_price": order.limit_price,
                "contracts": order.quantity,
            }),
        );
        let claim = ResendClaim {
            id: r.id,
            order_json: &order_json,
            limit_price: order.limit_price,
            contracts: order.quantity,
            at_ms,
            from,
            order_updated_at: r.order_updated_at,
        };
        if !self.store.claim_resend(&claim, &entry).await? {
            // Someone else moved it: leave it to them.
            return Ok(());
        }
        self.send_order(r.id, key, &order_json, CRON_ACTOR).await?;
        Ok(())
    }

    /// The approval part of the cron: expire overdue proposals, mirror the
    /// kill switch to the bridge, resolve orders. Returns (expired, orders
    /// looked at, kill switch on). Never fails: problems are logged.
    pub async fn cron_orders(&self) -> (usize, usize, bool) {
        let started = (self.now)();
        let expired = match self
            .store
            .expire_overdue(started.timestamp_millis(), CRON_ACTOR)
            .await
        {
            Ok(n) => n,
            Err(e) => {
                self.log_error("expire overdue", &e);
                0
            }
        };
        let switch = match self.store.kill_switch().await {
            Ok(row) => row,
            Err(e) => {
                self.log_error("kill switch", &e);
                None
            }
        };
        let killed = kill_switch_on(switch.as_ref());
        // Mirror the switch to the bridge once per run (best effort).
        let halt_reason = match &switch {
            Some(row) => format!(
                "Worker kill switch {} (set by {})",
                if killed { "on" } else { "off" },
                row.updated_by
            ),
            None => "Worker kill switch unreadable or unset: treated as on".to_owned(),
        };
        self.mirror_halt(killed, &halt_reason).await;
        // Orders are resolved even while the switch is on (asking the bridge
        // sends nothing); a resend is then abandoned instead.
        let resolved = match self.resolve_orders(killed).await {
            Ok(n) => n,
            Err(e) => {
                self.log_error("resolve orders", &e);
                0
            }
        };
        (expired, resolved, killed)
    }

    // -----------------------------------------------------------------------
    // API workflows
    // -----------------------------------------------------------------------

    /// Every proposal (or those of `status`), overdue ones expired first.
    pub async fn list(
        &self,
        status: Option<ProposalStatus>,
        limit: u32,
    ) -> Result<Vec<ProposalRow>, ApprovalError> {
        self.store
            .expire_overdue(self.now_ms(), EXPIRY_ACTOR)
            .await
            .map_err(store_err("expire overdue"))?;
        self.store
            .proposals(status, limit)
            .await
            .map_err(store_err("list proposals"))
    }

    /// One proposal, overdue ones expired first.
    pub async fn get(&self, id: i64) -> Result<ProposalRow, ApprovalError> {
        self.store
            .expire_overdue(self.now_ms(), EXPIRY_ACTOR)
            .await
            .map_err(store_err("expire overdue"))?;
        self.load(id).await
    }

    /// `GET /proposals/{id}`: the proposal (as [`Self::get`]) and the
    /// pre-trade checks stored with its approval (and a refused resend),
    /// newest first; a report that does not parse is flagged `unreadable`.
    pub async fn detail(
        &self,
        id: i64,
    ) -> Result<(ProposalRow, Vec<crate::risk::view::StoredRiskCheck>), ApprovalError> {
        let row = self.get(id).await?;
        let checks = self
            .store
            .risk_checks(id, super::RISK_CHECKS_PER_PROPOSAL)
            .await
            .map_err(store_err("risk checks"))?;
        Ok((row, checks.iter().map(super::RiskCheckRow::view).collect()))
    }

    async fn load(&self, id: i64) -> Result<ProposalRow, ApprovalError> {
        self.store
            .proposal(id)
            .await
            .map_err(store_err("load proposal"))?
            .ok_or(ApprovalError::NotFound(id))
    }

    /// The refusal after a transition did not happen: expires the proposal
    /// first when it is pending but overdue, then the 409 with its state.
    async fn refuse_with_state(&self, id: i64, action: &str) -> ApprovalError {
        match self.refusal(id, action).await {
            Ok(e) | Err(e) => e,
        }
    }

    async fn refusal(&self, id: i64, action: &str) -> Result<ApprovalError, ApprovalError> {
        let at_ms = self.now_ms();
        let row = self.load(id).await?;
        if row.status == ProposalStatus::Pending && row.expires_at <= at_ms {
            let entry = AuditEntry::proposal(
                at_ms,
                EXPIRY_ACTOR,
                AuditAction::ProposalExpired,
                id,
                Some("pending"),
                Some("expired"),
                serde_json::json!({ "expires_at": audit::iso_ms(row.expires_at),
                    "limit_price": row.limit_price, "on": action }),
            );
            self.store
                .expire_one(id, at_ms, EXPIRY_ACTOR, &entry)
                .await
                .map_err(store_err("expire proposal"))?;
            let r = self.load(id).await?;
            return Ok(conflict(
                "invalid_state",
                format!("proposal {id} is {}", r.status.as_str()),
                r,
            ));
        }
        if row.status == ProposalStatus::Pending {
            // Still pending: only the kill switch can have blocked the update.
            return Ok(conflict(
                "kill_switch_on",
                "the kill switch is on: no approvals".into(),
                row,
            ));
        }
        Ok(conflict(
            "invalid_state",
            format!("proposal {id} is {}, not pending", row.status.as_str()),
            row,
        ))
    }

    /// pending → rejected (one conditional update with its audit row).
    pub async fn reject(
        &self,
        id: i64,
        actor: &str,
        reason: &str,
    ) -> Result<ProposalRow, ApprovalError> {
        let row = self.load(id).await?;
        if row.status != ProposalStatus::Pending {
            let message = format!("proposal {id} is {}, not pending", row.status.as_str());
            return Err(conflict("invalid_state", message, row));
        }
        let at_ms = self.now_ms();
        let entry = AuditEntry::proposal(
            at_ms,
            actor,
            AuditAction::ProposalRejected,
            id,
            Some("pending"),
            Some("rejected"),
            serde_json::json!({ "reason": reason, "limit_price": row.limit_price,
                "entry_mid": row.entry_mid }),
        );
        let won = self
            .store
            .reject(id, at_ms, actor, reason, &entry)
            .await
            .map_err(store_err("reject"))?;
        if won {
            self.load(id).await
        } else {
            Err(self.refuse_with_state(id, "reject").await)
        }
    }

    /// pending → approved: window, paper account and fresh re-pricing
    /// checked first; then ONE conditional update (pending, not expired,
    /// kill switch off) batched with its audit row; then the order is sent
    /// (kill switch read again right before).
    pub async fn approve(
        &self,
        id: i64,
        actor: &str,
        note: Option<&str>,
    ) -> Result<Approved, ApprovalError> {
        let row = self.load(id).await?;
        if row.status != ProposalStatus::Pending || row.expires_at <= self.now_ms() {
            return Err(self.refuse_with_state(id, "approve").await);
        }
        let switch = self
            .store
            .kill_switch()
            .await
            .map_err(store_err("kill switch"))?;
        if kill_switch_on(switch.as_ref()) {
            let message = "the kill switch is on: no approvals".to_owned();
            return Err(conflict("kill_switch_on", message, row));
        }
        // A standing reconciliation drift stops new entries (fails closed).
        if self
            .store
            .drift_blocks_entries()
            .await
            .map_err(store_err("reconciliation"))?
        {
            let message =
                "the books disagree with the broker (reconciliation drift): no new entries until it clears or is acknowledged"
                    .to_owned();
            return Err(conflict("reconciliation_drift", message, row));
        }
        let Some(proposal) = row
            .proposal_json
            .as_deref()
            .and_then(|j| serde_json::from_str::<Proposal>(j).ok())
        else {
            return Err(ApprovalError::UnreadableProposal(id));
        };
        // Orders are only sent inside the window (New York trading date,
        // market open, before ORDER_RETRY_DEADLINE_ET): outside it, nothing
        // changes.
        let now = (self.now)();
        if let Err(closed) = self.retry_window().check(now.timestamp_millis(), now) {
            let message = format!("approval refused: no orders now ({closed})");
            return Err(conflict("order_window_closed", message, row));
        }
        // Fail closed: no bridge, no paper account → no approval.
        let account = match self.checked_account().await {
            Ok(a) => a,
            Err(e) => {
                self.log_error("paper guard", &e);
                return Err(ApprovalError::BrokerCheck(e));
            }
        };
        let started = (self.now)();
        let repriced = match self.fresh_reprice(&proposal, started).await {
            Err(reason) => {
                self.log_error("reprice chain", &reason);
                return Err(ApprovalError::QuotesUnavailable(reason));
            }
            Ok(Ok(r)) => r,
            Ok(Err(refusal)) => {
                let refusal_json = serde_json::to_value(&refusal).unwrap_or_default();
                let entry = AuditEntry::proposal(
                    started.timestamp_millis(),
                    actor,
                    AuditAction::ApprovalRefused,
                    id,
                    Some("pending"),
                    Some("pending"),
                    serde_json::json!({ "refusal": refusal_json,
                        "proposed_mid": proposal.metrics.net_price_mid }),
                );
                if let Err(e) = self.store.append_audit(&entry).await {
                    self.log_error("audit refusal", &e);
                }
                return Err(ApprovalError::Refused(refusal));
            }
        };
        // Re-pricing took time: an overdue proposal is expired, not checked.
        if row.expires_at <= self.now_ms() {
            return Err(self.refuse_with_state(id, "approve").await);
        }
        // The risk engine on the real book (fails closed: a missing input is
        // a refusing check; a storage failure refuses the approval). The
        // volatility-adjusted size only ever lowers the contracts: when it
        // refused, the trade is re-sized down to it and checked again (that
        // second verdict decides).
        let mut repriced = repriced;
        let mut verdict = self.pre_trade(&proposal, &repriced, &account).await?;
        if let Some(n) = crate::risk::service::vol_adjusted_resize(&verdict, repriced.contracts) {
            repriced = crate::risk::service::resized(&repriced, n);
            verdict = self.pre_trade(&proposal, &repriced, &account).await?;
        }
        let verdict_json = serde_json::to_string(&verdict).map_err(|e| ApprovalError::Store {
            context: "risk verdict json",
            source: StoreError(e.to_string()),
        })?;
        if !verdict.approved {
            let entry = AuditEntry::proposal(
                self.now_ms(),
                actor,
                AuditAction::ApprovalRefused,
                id,
                Some("pending"),
                Some("pending"),
                serde_json::json!({ "risk": verdict }),
            );
            if let Err(e) = self.store.append_audit(&entry).await {
                self.log_error("audit risk refusal", &e);
            }
            return Err(ApprovalError::RiskRefused {
                verdict: Box::new(verdict),
                row: Box::new(row),
            });
        }
        let order = order_request(&proposal, &repriced).map_err(|e| ApprovalError::NoOrder(e.0))?;
        let order_json = serde_json::to_string(&order).map_err(|e| ApprovalError::Store {
            context: "order json",
            source: StoreError(e.to_string()),
        })?;
        let at_ms = self.now_ms();
        let entry = AuditEntry::proposal(
            at_ms,
            actor,
            AuditAction::ProposalApproved,
            id,
            Some("pending"),
            Some("approved"),
            serde_json::json!({
                "note": note,
                "proposed_mid": proposal.metrics.net_price_mid,
                "fresh_mid": repriced.metrics.net_price_mid,
                "fresh_natural": repriced.metrics.net_price_natural,
                "price_move": repriced.price_move,
                "slippage_band": proposal.slippage_band,
                "limit_price": order.limit_price,
                "contracts": order.quantity,
                "idempotency_key": order.idempotency_key,
                "legs": repriced.legs.iter().map(|l| serde_json::json!({
                    "right": l.right, "strike": l.strike, "expiry": l.expiry, "action": l.action,
                    "bid": l.quote.bid, "ask": l.quote.ask,
                })).collect::<Vec<_>>(),
            }),
        );
        // The alert goes in the approval's own batch (after its audit row).
        let alert = crate::alerts::service::event_statements(
            &self.cfg.alerts,
            &sas_core::alerts::AlertEvent::Approved {
                proposal_id: id,
                summary: crate::alerts::proposal_summary(&crate::alerts::ProposalDigest {
                    symbol: &row.symbol,
                    strategy: &row.strategy,
                    contracts: i64::from(order.quantity),
                    total_max_loss: row.total_max_loss,
                    rationale: &row.rationale,
                }),
                actor: actor.to_owned(),
            },
            at_ms,
            true,
        );
        let approval = Approval {
            id,
            at_ms,
            actor,
            note,
            limit_price: order.limit_price,
            contracts: order.quantity,
            order_json: &order_json,
            risk_report: &verdict_json,
            alert: &alert,
        };
        let won = self
            .store
            .approve(&approval, &entry)
            .await
            .map_err(store_err("approve"))?;
        if !won {
            return Err(self.refuse_with_state(id, "approve").await);
        }
        // Approved: send the order (same key on every attempt).
        let outcome = match self
            .send_order(id, &proposal.idempotency_key, &order_json, actor)
            .await
        {
            Ok(o) => Some(o),
            Err(e) => {
                self.log_error("record order", &e);
                None
            }
        };
        let row = self.load(id).await?;
        Ok(Approved {
            row,
            repriced: serde_json::json!({
                "net_price_mid": repriced.metrics.net_price_mid,
                "price_move": repriced.price_move,
                "limit_price": order.limit_price,
                "contracts": order.quantity,
            }),
            order_error: outcome.and_then(|(_, reason)| reason),
        })
    }

    /// Turns the kill switch on or off (audited in the same batch), mirrors
    /// it to the bridge, and returns the switch as stored.
    pub async fn set_kill_switch(
        &self,
        actor: &str,
        on: bool,
        reason: &str,
    ) -> Result<Option<KillSwitchRow>, ApprovalError> {
        let at = self.now_ms();
        settings_service::set_kill_switch(self.store, actor, on, reason, at)
            .await
            .map_err(|e| match e {
                SetKillSwitchError::Read(source) => store_err("kill switch")(source),
                SetKillSwitchError::Write(source) => store_err("kill switch write")(source),
            })?;
        // Mirror to the bridge (best effort; the cron repeats it every run).
        self.mirror_halt(on, &format!("{reason} (by {actor})"))
            .await;
        self.store
            .kill_switch()
            .await
            .map_err(store_err("kill switch"))
    }
}

fn conflict(code: &'static str, message: String, row: ProposalRow) -> ApprovalError {
    ApprovalError::Conflict {
        code,
        message,
        row: Box::new(row),
    }
}

/// The audit action recording an order reaching `state`.
pub fn action_for(state: OrderState) -> AuditAction {
    match state {
        OrderState::Submitted => AuditAction::OrderSubmitted,
        OrderState::SubmitFailed | OrderState::Submitting => AuditAction::OrderSubmitFailed,
        OrderState::Unknown => AuditAction::OrderUnknown,
        OrderState::Rejected => AuditAction::OrderRejected,
        OrderState::Abandoned => AuditAction::OrderAbandoned,
    }
}

/// The fresh quotes of a chain answer, as re-pricing reads them.
pub fn fresh_quotes(chain: &OptionChain, as_of: chrono::NaiveDate) -> FreshQuotes {
    FreshQuotes {
        as_of: Some(as_of),
        spot: Some(chain.spot),
        legs: chain
            .expiries
            .iter()
            .flat_map(|e| {
                e.contracts.iter().map(move |q| FreshLegQuote {
                    expiry: e.expiry,
                    quote: q.clone(),
                })
            })
            .collect(),
    }
}

/// Whether a refusal is a price move (409) rather than a changed market
/// (422).
pub fn is_price_move(refusal: &RepriceRefusal) -> bool {
    matches!(refusal.reason, RefusalCode::PriceMovedBeyondBand { .. })
}
