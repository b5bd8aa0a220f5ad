//! Proposals on the Workers runtime: the cron step (expire overdue
//! proposals, retry failed orders, generate new proposals) and the
//! proposals / audit / kill-switch API. Every state change is ONE
//! conditional statement written in the same D1 batch as its audit row.

use chrono::{DateTime, Duration, Utc};
use sas_bridge_api::account::Account;
use sas_bridge_api::market::HistoryBody;
use sas_core::analytics::chain::{analyze, ChainHistory};
use sas_core::market::{DailyBar, OptionChain, Symbol};
use sas_core::strategy::proposal::RefusalCode;
use sas_core::strategy::{
    generate_proposals, reprice, FreshLegQuote, FreshQuotes, GenerationInputs, Proposal,
    UnderlyingCandidate,
};
use wasm_bindgen::JsValue;
use worker::{console_error, console_log, D1Database, D1PreparedStatement, Request, Response};

use super::{bridge, d1, error_response, json_response, now};
use crate::approval::{
    self, ApprovalRoute, BrokerCheckError, KillSwitchRow, LookupResult, OrderState, ResolveRow,
    RetryDecision, RetryWindow, SendGate, SendResult, TradingMode,
};
use crate::audit::{self, actor_label, AuditAction, AuditEntry, AuditRow, AuditView, CRON_ACTOR};
use crate::auth::Principal;
use crate::config::{Config, MarketHoursMode};
use crate::error::ApiError;
use crate::proposals::{
    self, ExistingRow, GenerationSummary, MetricsRow, ProposalList, ProposalRecord, ProposalRow,
    ProposalView, VolSnapshot,
};
use crate::store::SnapshotRow;

type D1Result<T> = worker::Result<T>;

/// Actor of expiries noticed while answering a request (not by the cron).
const EXPIRY_ACTOR: &str = "system:expiry";

fn ms(t: DateTime<Utc>) -> JsValue {
    d1::millis(t.timestamp_millis())
}

fn audit_statement(db: &D1Database, sql: &str, e: &AuditEntry) -> D1Result<D1PreparedStatement> {
    d1::statement(
        db,
        sql,
        &[
            d1::millis(e.at),
            d1::text(&e.actor),
            d1::text(e.action.as_str()),
            d1::text(e.entity),
            d1::opt_text(e.entity_id.as_deref()),
            d1::opt_text(e.from_state.as_deref()),
            d1::opt_text(e.to_state.as_deref()),
            d1::text(&e.details_json()),
        ],
    )
}

/// Runs `statements` as one batch; the rows changed by statement `index`.
async fn batch_changes(
    db: &D1Database,
    statements: Vec<D1PreparedStatement>,
    index: usize,
) -> D1Result<usize> {
    let results = db.batch(statements).await?;
    Ok(results
        .get(index)
        .and_then(|r| r.meta().ok().flatten())
        .and_then(|m| m.changes)
        .unwrap_or(0))
}

async fn load_row(db: &D1Database, id: i64) -> D1Result<Option<ProposalRow>> {
    let mut rows: Vec<ProposalRow> = d1::rows(
        db,
        &proposals::select_proposal_sql(),
        &[JsValue::from_f64(id as f64)],
    )
    .await?;
    Ok(rows.pop())
}

async fn kill_switch(db: &D1Database) -> D1Result<Option<KillSwitchRow>> {
    let mut rows: Vec<KillSwitchRow> = d1::rows(db, approval::SELECT_KILL_SWITCH, &[]).await?;
    Ok(rows.pop())
}

/// Expires every overdue pending proposal (audit rows in the same batch).
async fn expire_overdue(db: &D1Database, at: DateTime<Utc>, actor: &str) -> D1Result<usize> {
    let statements = vec![
        d1::statement(db, approval::AUDIT_OVERDUE, &[ms(at), d1::text(actor)])?,
        d1::statement(db, approval::EXPIRE_OVERDUE, &[ms(at), d1::text(actor)])?,
    ];
    batch_changes(db, statements, 1).await
}

fn log(event: &str, value: serde_json::Value) {
    console_log!("{}", serde_json::json!({ "event": event, "detail": value }));
}

fn log_error(context: &str, e: &dyn std::fmt::Display) {
    console_error!(
        "{}",
        serde_json::json!({ "event": "proposals_error", "context": context, "error": e.to_string() })
    );
}

fn internal(context: &str, e: &dyn std::fmt::Display) -> Response {
    log_error(context, e);
    error_response(&ApiError::internal())
}

// ---------------------------------------------------------------------------
// Bridge calls
// ---------------------------------------------------------------------------

async fn account(cfg: &Config) -> Result<Account, BrokerCheckError> {
    let answer = bridge::get(cfg, "/account", true, cfg.bridge_timeout_ms)
        .await
        .map_err(BrokerCheckError::Bridge)?;
    if answer.status != 200 {
        return Err(BrokerCheckError::Status(answer.status));
    }
    serde_json::from_str(&answer.body).map_err(|_| BrokerCheckError::BadAnswer)
}

/// In paper mode the bridge's account must be a paper account (checked
/// before every order; any doubt refuses).
async fn paper_guard(cfg: &Config) -> Result<(), BrokerCheckError> {
    if cfg.approval.trading_mode == TradingMode::Live {
        return Ok(());
    }
    let acct = account(cfg).await?;
    if sas_bridge_api::is_paper_account(&acct.account_id) {
        Ok(())
    } else {
        Err(BrokerCheckError::NotPaper)
    }
}

/// `GET {BRIDGE_URL}{path}` for a chain of `symbol` (any selection).
async fn chain(cfg: &Config, symbol: &Symbol, path: &str) -> Result<OptionChain, String> {
    let answer = bridge::get(cfg, path, true, cfg.bridge_timeout_ms)
        .await
        .map_err(|e| e.to_string())?;
    if answer.status != 200 {
        return Err(format!("bridge /chain answered HTTP {}", answer.status));
    }
    let chain: OptionChain = serde_json::from_str(&answer.body)
        .map_err(|_| "bridge /chain answer is not a chain".to_owned())?;
    if &chain.symbol != symbol {
        return Err("bridge /chain answered for another symbol".into());
    }
    Ok(chain)
}

/// The chain generation needs: the broker's expiry list first (no market
/// data), then strikes of the few expiries the strategies would use
/// ([`sas_core::strategy::requests::generation_expiries`]).
async fn generation_chain(
    cfg: &Config,
    symbol: &Symbol,
    today: chrono::NaiveDate,
    strategy_cfg: &sas_core::strategy::StrategyConfig,
) -> Result<OptionChain, String> {
    let answer = bridge::get(
        cfg,
        &proposals::expiries_path(symbol),
        true,
        cfg.bridge_timeout_ms,
    )
    .await
    .map_err(|e| e.to_string())?;
    if answer.status != 200 {
        return Err(format!(
            "bridge /chain/expiries answered HTTP {}",
            answer.status
        ));
    }
    let available = proposals::parse_expiries(&answer.body, symbol)?;
    let picked = sas_core::strategy::requests::generation_expiries(&available, today, strategy_cfg);
    if picked.is_empty() {
        return Err("no listed expiry fits any strategy's DTE window".into());
    }
    chain(
        cfg,
        symbol,
        &proposals::generation_chain_path(symbol, &picked),
    )
    .await
}

async fn daily_bars(cfg: &Config, symbol: &Symbol) -> Vec<DailyBar> {
    let path = format!("/history/daily?symbol={symbol}&days=90");
    match bridge::get(cfg, &path, true, cfg.bridge_timeout_ms).await {
        Ok(a) if a.status == 200 => serde_json::from_str::<HistoryBody>(&a.body)
            .map(|h| h.bars)
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// `POST {BRIDGE_URL}/orders` with `body` exactly as stored, bounded by
/// `BRIDGE_ORDER_TIMEOUT_MS`, classified.
async fn post_order(cfg: &Config, body: &str, key: &str) -> SendResult {
    match bridge::post_json(cfg, "/orders", body, cfg.approval.orders.order_timeout_ms).await {
        Ok(answer) => approval::classify_order_answer(answer.status, &answer.body, key),
        Err(failure) => approval::classify_send_failure(&failure),
    }
}

/// `GET {BRIDGE_URL}/orders/by-key/{key}`: what the broker has under `key`.
async fn lookup_order(cfg: &Config, key: &str) -> LookupResult {
    // Keys are [A-Za-z0-9_.:-] (checked before approval): safe in a path.
    let path = format!("/orders/by-key/{key}");
    match bridge::get(cfg, &path, true, cfg.bridge_timeout_ms).await {
        Ok(answer) => approval::classify_lookup(answer.status, &answer.body, key),
        Err(failure) => approval::lookup_failure(&failure),
    }
}

/// The kill switch mirrored to the bridge (`POST /halt`), best effort: the
/// Worker's own checks do not depend on it; the outcome is logged.
async fn mirror_halt(cfg: &Config, halted: bool, reason: &str) {
    let body = approval::halt_body(halted, reason);
    let outcome = match bridge::post_json(cfg, "/halt", &body, cfg.bridge_timeout_ms).await {
        Ok(a) if a.status == 200 => serde_json::json!({ "ok": true }),
        Ok(a) => serde_json::json!({ "ok": false, "status": a.status }),
        Err(e) => serde_json::json!({ "ok": false, "error": e.to_string() }),
    };
    log(
        "bridge_halt_mirror",
        serde_json::json!({ "halted": halted, "outcome": outcome }),
    );
}

/// One order-state change of proposal `id`, compare-and-set from `from`, with
/// its audit row in the same batch. True when it happened.
struct OrderChange<'a> {
    id: i64,
    from: OrderState,
    to: OrderState,
    order_id: Option<&'a str>,
    broker_status: Option<&'a str>,
    reason: Option<&'a str>,
    /// This change records a send to the bridge (counts an attempt).
    sent: bool,
    action: AuditAction,
    details: serde_json::Value,
}

async fn change_order(
    db: &D1Database,
    cfg: &Config,
    actor: &str,
    c: OrderChange<'_>,
) -> D1Result<bool> {
    let at = now().timestamp_millis();
    let mut details = c.details;
    if let Some(obj) = details.as_object_mut() {
        obj.insert("order_state_from".into(), c.from.as_str().into());
        obj.insert("order_state".into(), c.to.as_str().into());
        obj.insert(
            "trading_mode".into(),
            cfg.approval.trading_mode.as_str().into(),
        );
        if let Some(r) = c.reason {
            obj.insert("reason".into(), r.into());
        }
    }
    let entry = AuditEntry::proposal(
        at,
        actor,
        c.action,
        c.id,
        Some("approved"),
        Some("approved"),
        details,
    );
    let statements = vec![
        d1::statement(
            db,
            approval::SET_ORDER_STATE,
            &[
                JsValue::from_f64(c.id as f64),
                d1::text(c.to.as_str()),
                d1::opt_text(c.order_id),
                d1::opt_text(c.broker_status),
                d1::opt_text(c.reason),
                JsValue::from(u32::from(c.sent)),
                d1::millis(at),
                d1::text(c.from.as_str()),
            ],
        )?,
        audit_statement(db, audit::INSERT_AUDIT_IF_CHANGED, &entry)?,
    ];
    Ok(batch_changes(db, statements, 0).await? == 1)
}

/// The audit action recording an order reaching `state`.
fn action_for(state: OrderState) -> AuditAction {
    match state {
        OrderState::Submitted => AuditAction::OrderSubmitted,
        OrderState::SubmitFailed | OrderState::Submitting => AuditAction::OrderSubmitFailed,
        OrderState::Unknown => AuditAction::OrderUnknown,
        OrderState::Rejected => AuditAction::OrderRejected,
        OrderState::Abandoned => AuditAction::OrderAbandoned,
    }
}

/// Sends the order of proposal `id`, which is `submitting` (just approved or
/// claimed for a resend), and records what happened. The paper check and the
/// kill switch are read immediately before `POST /orders`. Returns the
/// state recorded and its reason.
async fn send_order(
    db: &D1Database,
    cfg: &Config,
    id: i64,
    key: &str,
    order_request: &str,
    actor: &str,
) -> D1Result<(OrderState, Option<String>)> {
    let from = OrderState::Submitting;
    let base = serde_json::json!({ "idempotency_key": key });
    // Not sent: the bridge account could not be confirmed as paper.
    if let Err(e) = paper_guard(cfg).await {
        log_error("paper guard", &e);
        let reason = format!("not sent: {}", e.public_reason());
        change_order(
            db,
            cfg,
            actor,
            OrderChange {
                id,
                from,
                to: OrderState::SubmitFailed,
                order_id: None,
                broker_status: None,
                reason: Some(&reason),
                sent: false,
                action: AuditAction::OrderSubmitFailed,
                details: base,
            },
        )
        .await?;
        return Ok((OrderState::SubmitFailed, Some(reason)));
    }
    // The kill switch, read immediately before the send (fails closed).
    let switch = kill_switch(db).await;
    let gate = match &switch {
        Ok(row) => approval::send_gate(Ok(row.as_ref())),
        Err(e) => {
            log_error("kill switch before send", e);
            approval::send_gate(Err("D1 read failed"))
        }
    };
    let (to, reason) = match gate {
        SendGate::Send => (None, None),
        SendGate::Abandon { reason } => (Some(OrderState::Abandoned), Some(reason)),
        SendGate::Hold { reason } => (Some(OrderState::SubmitFailed), Some(reason)),
    };
    if let Some(to) = to {
        let reason = format!("not sent: {}", reason.unwrap_or_default());
        change_order(
            db,
            cfg,
            actor,
            OrderChange {
                id,
                from,
                to,
                order_id: None,
                broker_status: None,
                reason: Some(&reason),
                sent: false,
                action: action_for(to),
                details: base,
            },
        )
        .await?;
        return Ok((to, Some(reason)));
    }
    let result = post_order(cfg, order_request, key).await;
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
        SendResult::KeyExists => match lookup_order(cfg, key).await {
            LookupResult::Found {
                order_id,
                broker_status,
            } => (
                approval::state_of_broker_status(&broker_status),
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
    change_order(
        db,
        cfg,
        actor,
        OrderChange {
            id,
            from,
            to,
            order_id: order_id.as_deref(),
            broker_status: broker_status.as_deref(),
            reason: reason.as_deref(),
            sent: true,
            action: action_for(to),
            details,
        },
    )
    .await?;
    Ok((to, reason))
}

fn retry_window(cfg: &Config) -> RetryWindow {
    RetryWindow {
        deadline_et: cfg.approval.orders.deadline_et,
        enforce_market_hours: cfg.market_hours_mode == MarketHoursMode::Enforce,
    }
}

// ---------------------------------------------------------------------------
// Cron step
// ---------------------------------------------------------------------------

/// The proposals part of the 15-minute cron: expire, retry orders, generate.
/// Never fails the cron: problems are logged.
pub async fn cron_step(db: &D1Database, cfg: &Config) {
    let started = now();
    let mut summary = GenerationSummary {
        considered: 0,
        created: 0,
        duplicates: 0,
        skipped: Vec::new(),
        expired: 0,
        orders_retried: 0,
        ms: 0,
    };
    match expire_overdue(db, started, CRON_ACTOR).await {
        Ok(n) => summary.expired = n,
        Err(e) => log_error("expire overdue", &e),
    }
    let switch = match kill_switch(db).await {
        Ok(row) => row,
        Err(e) => {
            log_error("kill switch", &e);
            None
        }
    };
    let killed = approval::kill_switch_on(switch.as_ref());
    // Mirror the switch to the bridge once per run (best effort).
    let halt_reason = match &switch {
        Some(row) => format!(
            "Worker kill switch {} (set by {})",
            if killed { "on" } else { "off" },
            row.updated_by
        ),
        None => "Worker kill switch unreadable or unset: treated as on".to_owned(),
    };
    mirror_halt(cfg, killed, &halt_reason).await;
    // Orders are resolved even while the switch is on (asking the bridge
    // sends nothing); a resend is then abandoned instead.
    match resolve_orders(db, cfg, started, killed).await {
        Ok(n) => summary.orders_retried = n,
        Err(e) => log_error("resolve orders", &e),
    }
    if killed {
        log(
            "proposals_cron",
            serde_json::json!({ "skipped": "kill switch is on" }),
        );
    } else {
        match crate::ingest::gate(cfg.market_hours_mode, started) {
            Err(reason) => {
                summary.skipped.push(serde_json::json!({ "all": reason }));
            }
            Ok(()) => {
                if let Err(e) = generate(db, cfg, started, &mut summary).await {
                    log_error("generate", &e);
                }
            }
        }
    }
    summary.ms = (now() - started).num_milliseconds();
    log(
        "proposals_cron",
        serde_json::to_value(&summary).unwrap_or_default(),
    );
}

/// Resolves `unknown`, `submit_failed` and stale `submitting` orders: asks
/// the bridge by key first, records what the broker has, and resends (after
/// re-pricing with fresh quotes, same checks as the approval) only when the
/// broker has none and the approval's window is still open; otherwise the
/// order ends `abandoned`. Returns the rows looked at.
async fn resolve_orders(
    db: &D1Database,
    cfg: &Config,
    at: DateTime<Utc>,
    killed: bool,
) -> D1Result<usize> {
    let stale_ms = approval::stale_submitting_after_ms(
        cfg.approval.orders.order_timeout_ms,
        cfg.bridge_timeout_ms,
    );
    let rows: Vec<ResolveRow> = d1::rows(
        db,
        approval::SELECT_ORDERS_TO_RESOLVE,
        &[
            ms(at),
            d1::millis(stale_ms),
            JsValue::from(approval::MAX_ORDERS_PER_RUN),
        ],
    )
    .await?;
    for r in &rows {
        if let Err(e) = resolve_one(db, cfg, r, killed).await {
            log_error("resolve order", &e);
        }
    }
    Ok(rows.len())
}

async fn resolve_one(db: &D1Database, cfg: &Config, r: &ResolveRow, killed: bool) -> D1Result<()> {
    let Some(c) = r.candidate() else {
        return Ok(());
    };
    let lookup = lookup_order(cfg, &r.idempotency_key).await;
    let decision = approval::retry_decision(&c, now(), &lookup, killed, &retry_window(cfg));
    log(
        "order_resolve",
        serde_json::json!({ "proposal": r.id, "state": c.state.as_str(),
            "lookup": format!("{lookup:?}"), "decision": format!("{decision:?}") }),
    );
    let key = r.idempotency_key.as_str();
    let change = |to, order_id, broker_status, reason, details| OrderChange {
        id: r.id,
        from: c.state,
        to,
        order_id,
        broker_status,
        reason,
        sent: false,
        action: action_for(to),
        details,
    };
    match decision {
        RetryDecision::Record {
            state,
            order_id,
            broker_status,
        } => {
            if state != c.state {
                let details = serde_json::json!({ "idempotency_key": key, "order_id": order_id,
                    "broker_status": broker_status, "resolved_by": "lookup" });
                change_order(
                    db,
                    cfg,
                    CRON_ACTOR,
                    change(state, Some(&order_id), Some(&broker_status), None, details),
                )
                .await?;
            }
        }
        RetryDecision::Wait { state, reason } => {
            if state != c.state {
                let details = serde_json::json!({ "idempotency_key": key });
                change_order(
                    db,
                    cfg,
                    CRON_ACTOR,
                    change(state, None, None, Some(&reason), details),
                )
                .await?;
            }
        }
        RetryDecision::Abandon { reason } => {
            let details = serde_json::json!({ "idempotency_key": key });
            change_order(
                db,
                cfg,
                CRON_ACTOR,
                change(OrderState::Abandoned, None, None, Some(&reason), details),
            )
            .await?;
        }
        RetryDecision::Resend => resend(db, cfg, r, c.state).await?,
    }
    Ok(())
}

/// Re-prices the proposal of `r` from fresh bridge quotes with the approval's
/// checks; a refusal abandons the order; otherwise claims it (compare-and-set)
/// with the new order body and sends it.
async fn resend(db: &D1Database, cfg: &Config, r: &ResolveRow, from: OrderState) -> D1Result<()> {
    let key = r.idempotency_key.as_str();
    let abandon = |reason: &str, refusal: serde_json::Value| {
        let details = serde_json::json!({ "idempotency_key": key, "refusal": refusal });
        let reason = reason.to_owned();
        async move {
            let c = OrderChange {
                id: r.id,
                from,
                to: OrderState::Abandoned,
                order_id: None,
                broker_status: None,
                reason: Some(&reason),
                sent: false,
                action: AuditAction::OrderAbandoned,
                details,
            };
            change_order(db, cfg, CRON_ACTOR, c).await.map(|_| ())
        }
    };
    let Ok(proposal) = serde_json::from_str::<Proposal>(&r.proposal_json) else {
        return abandon("stored proposal cannot be read", serde_json::Value::Null).await;
    };
    let at = now();
    let repriced = match fresh_reprice(cfg, &proposal, at).await {
        // No fresh quotes: nothing sent; asked again next run (in the window).
        Err(reason) => {
            log_error("resend reprice chain", &reason);
            return Ok(());
        }
        Ok(Err(refusal)) => {
            let json = serde_json::to_value(&refusal).unwrap_or_default();
            let reason = format!("re-pricing refused: {}", refusal.message);
            return abandon(&reason, json).await;
        }
        Ok(Ok(rp)) => rp,
    };
    let order = match approval::order_request(&proposal, &repriced) {
        Ok(o) => o,
        Err(e) => {
            let reason = format!("no order can be built: {}", e.0);
            return abandon(&reason, serde_json::Value::Null).await;
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
    let statements = vec![
        d1::statement(
            db,
            approval::CLAIM_RESEND,
            &[
                JsValue::from_f64(r.id as f64),
                d1::text(&order_json),
                JsValue::from_f64(order.limit_price),
                JsValue::from(order.quantity),
                d1::millis(at_ms),
                d1::text(from.as_str()),
                match r.order_updated_at {
                    Some(t) => d1::millis(t),
                    None => JsValue::NULL,
                },
            ],
        )?,
        audit_statement(db, audit::INSERT_AUDIT_IF_CHANGED, &entry)?,
    ];
    if batch_changes(db, statements, 0).await? != 1 {
        // Someone else moved it: leave it to them.
        return Ok(());
    }
    send_order(db, cfg, r.id, key, &order_json, CRON_ACTOR).await?;
    Ok(())
}

/// Fresh quotes for the proposal's legs from the bridge, then [`reprice`].
/// `Err` when the quotes could not be fetched (details for the log only).
async fn fresh_reprice(
    cfg: &Config,
    proposal: &Proposal,
    at: DateTime<Utc>,
) -> Result<Result<sas_core::strategy::Repriced, sas_core::strategy::RepriceRefusal>, String> {
    let today = proposals::trade_date(at);
    let c = chain(
        cfg,
        &proposal.symbol,
        &approval::reprice_chain_path(proposal),
    )
    .await?;
    let fresh = fresh_quotes(&c, today);
    let strategy_cfg = proposals::strategy_config(&cfg.approval.limits);
    Ok(reprice(proposal, &fresh, &strategy_cfg))
}

async fn generate(
    db: &D1Database,
    cfg: &Config,
    at: DateTime<Utc>,
    summary: &mut GenerationSummary,
) -> Result<(), String> {
    let limits = cfg.approval.limits;
    let strategy_cfg = proposals::strategy_config(&limits);
    let today = proposals::trade_date(at);
    let since = today - Duration::days(proposals::OPEN_TRADE_LOOKBACK_DAYS);
    let existing: Vec<ExistingRow> = d1::rows(
        db,
        proposals::SELECT_EXISTING_TRADES,
        &[d1::text(&today.to_string()), d1::text(&since.to_string())],
    )
    .await
    .map_err(|e| e.to_string())?;
    let (open_positions, pending_proposals, proposals_today) =
        proposals::existing_trades(&existing, today);
    let made = u32::try_from(proposals_today.len()).unwrap_or(u32::MAX);
    if made >= limits.max_per_day {
        summary
            .skipped
            .push(serde_json::json!({ "all": format!("daily limit reached ({made})") }));
        return Ok(());
    }

    // Ranking from the stored quote snapshots of the last trading days.
    let watch: Vec<&str> = cfg.watchlist.iter().map(Symbol::as_str).collect();
    let watch_json = serde_json::to_string(&watch).unwrap_or_else(|_| "[]".into());
    let since_ms = (at - Duration::days(i64::from(cfg.retention_days))).timestamp_millis();
    let snapshots: Vec<SnapshotRow> =
        d1::snapshots(db, &[d1::text(&watch_json), d1::millis(since_ms)])
            .await
            .map_err(|e| e.to_string())?;
    // The same multi-factor ranking as /search/opportunities.
    let latest: Vec<crate::metrics::LatestMetricsRow> = d1::rows(
        db,
        crate::metrics::SELECT_LATEST_METRICS,
        &[d1::text(&watch_json), d1::millis(since_ms)],
    )
    .await
    .map_err(|e| e.to_string())?;
    let ranking = crate::metrics::opportunities(
        &cfg.watchlist,
        &latest,
        &snapshots,
        &cfg.chains.score_weights,
        usize::MAX,
    );
    let ranked = proposals::scores_from_ranking(&ranking);
    let busy: Vec<&Symbol> = open_positions
        .iter()
        .chain(&pending_proposals)
        .chain(&proposals_today)
        .map(|t| &t.symbol)
        .collect();
    let picks: Vec<_> = ranked
        .into_iter()
        .filter(|s| !busy.contains(&&s.symbol))
        .take(proposals::MAX_CANDIDATES_PER_RUN)
        .collect();
    if picks.is_empty() {
        summary
            .skipped
            .push(serde_json::json!({ "all": "no ranked underlying without a trade" }));
        return Ok(());
    }
    let acct = account(cfg).await.map_err(|e| e.to_string())?;

    // Analytics from the chain step when fresh, else computed here.
    let pick_names: Vec<&str> = picks.iter().map(|s| s.symbol.as_str()).collect();
    let metrics_since =
        (at - Duration::minutes(proposals::MAX_METRICS_AGE_MINUTES)).timestamp_millis();
    let metrics: Vec<MetricsRow> = d1::rows(
        db,
        proposals::SELECT_LATEST_METRICS,
        &[
            d1::text(&serde_json::to_string(&pick_names).unwrap_or_else(|_| "[]".into())),
            d1::millis(metrics_since),
        ],
    )
    .await
    .unwrap_or_default();

    let mut candidates = Vec::with_capacity(picks.len());
    for score in picks {
        summary.considered += 1;
        let sym = score.symbol.clone();
        let chain = match generation_chain(cfg, &sym, today, &strategy_cfg).await {
            Ok(c) => c,
            Err(e) => {
                summary
                    .skipped
                    .push(serde_json::json!({ "symbol": sym.as_str(), "reason": e }));
                continue;
            }
        };
        let stored = metrics
            .iter()
            .find(|m| m.symbol == sym.as_str())
            .and_then(|m| VolSnapshot::from_metrics_json(&m.metrics_json));
        let vol = match stored {
            Some(v) => v,
            None => {
                let bars = daily_bars(cfg, &sym).await;
                let history = ChainHistory {
                    daily_bars: &bars,
                    atm_iv_30d: &[],
                };
                let (a, _) = analyze(&chain, strategy_cfg.risk_free_rate, &history);
                VolSnapshot::from_analytics(&a)
            }
        };
        candidates.push(UnderlyingCandidate {
            symbol: sym,
            chain,
            regime: vol.regime_inputs(),
            score: Some(score),
            events: None,
        });
    }
    let inputs = GenerationInputs {
        trade_date: today,
        expires_at: proposals::proposal_expiry(at, limits.ttl_seconds),
        net_liquidation: acct.net_liquidation,
        ranked: candidates,
        open_positions,
        pending_proposals,
        proposals_today,
    };
    let (made, skipped) = generate_proposals(&inputs, &strategy_cfg, at);
    for s in &skipped {
        summary
            .skipped
            .push(serde_json::json!({ "symbol": s.symbol.as_str(), "reason": s.message }));
    }
    if made.is_empty() {
        return Ok(());
    }
    let mut statements = Vec::with_capacity(made.len() * 2);
    let at_ms = at.timestamp_millis();
    for p in &made {
        let record = match ProposalRecord::from_proposal(p) {
            Ok(r) => r,
            Err(e) => {
                summary
                    .skipped
                    .push(serde_json::json!({ "symbol": p.symbol.as_str(), "reason": e }));
                continue;
            }
        };
        let details = serde_json::json!({
            "idempotency_key": record.idempotency_key,
            "symbol": record.symbol,
            "strategy": record.strategy,
            "entry_mid": record.entry_mid,
            "entry_natural": record.entry_natural,
            "contracts": record.contracts,
            "total_max_loss": record.total_max_loss,
            "expires_at": audit::iso_ms(record.expires_at),
            "legs": p.legs.iter().map(|l| serde_json::json!({
                "right": l.right, "strike": l.strike, "expiry": l.expiry, "action": l.action,
                "bid": l.quote.bid, "ask": l.quote.ask,
            })).collect::<Vec<_>>(),
        });
        let insert = d1::statement(
            db,
            proposals::INSERT_PROPOSAL,
            &[d1::text(&record.to_param())],
        )
        .map_err(|e| e.to_string())?;
        let audit_row = d1::statement(
            db,
            proposals::INSERT_CREATED_AUDIT,
            &[
                d1::millis(at_ms),
                d1::text(CRON_ACTOR),
                d1::text(&details.to_string()),
            ],
        )
        .map_err(|e| e.to_string())?;
        statements.push(insert);
        statements.push(audit_row);
    }
    let pairs = statements.len() / 2;
    let results = db.batch(statements).await.map_err(|e| e.to_string())?;
    let created = results
        .iter()
        .step_by(2)
        .filter(|r| r.meta().ok().flatten().and_then(|m| m.changes) == Some(1))
        .count();
    summary.created += created;
    summary.duplicates += pairs - created;
    Ok(())
}

// ---------------------------------------------------------------------------
// API
// ---------------------------------------------------------------------------

/// Answers one route of the proposals / audit / kill-switch API.
pub async fn handle(
    route: ApprovalRoute,
    req: &mut Request,
    db: &D1Database,
    cfg: &Config,
    principal: &Principal,
) -> Response {
    let actor = actor_label(principal);
    match route {
        ApprovalRoute::List { status, limit } => list(db, status, limit).await,
        ApprovalRoute::Get { id } => get_one(db, id).await,
        ApprovalRoute::Approve { id } => match read_body(req).await {
            Err(e) => error_response(&e),
            Ok(raw) => match approval::parse_approve(&raw) {
                Err(e) => error_response(&e),
                Ok(body) => approve(db, cfg, id, &actor, body.note.as_deref()).await,
            },
        },
        ApprovalRoute::Reject { id } => match read_body(req).await {
            Err(e) => error_response(&e),
            Ok(raw) => match approval::parse_reject(&raw) {
                Err(e) => error_response(&e),
                Ok(body) => reject(db, id, &actor, &body.reason).await,
            },
        },
        ApprovalRoute::Audit { limit, proposal } => audit_log(db, limit, proposal).await,
        ApprovalRoute::KillSwitchGet => match kill_switch(db).await {
            Err(e) => internal("kill switch", &e),
            Ok(row) => json_response(200, &kill_switch_view(row.as_ref())),
        },
        ApprovalRoute::KillSwitchSet => match read_body(req).await {
            Err(e) => error_response(&e),
            Ok(raw) => match approval::parse_kill_switch(&raw) {
                Err(e) => error_response(&e),
                Ok(body) => set_kill_switch(db, cfg, &actor, body.on, &body.reason).await,
            },
        },
    }
}

async fn read_body(req: &mut Request) -> Result<Vec<u8>, ApiError> {
    crate::edge::read_body(req).await
}

fn kill_switch_view(row: Option<&KillSwitchRow>) -> serde_json::Value {
    serde_json::json!({
        "on": approval::kill_switch_on(row),
        "updated_at": row.map(|r| audit::iso_ms(r.updated_at)),
        "updated_by": row.map(|r| r.updated_by.clone()),
    })
}

async fn set_kill_switch(
    db: &D1Database,
    cfg: &Config,
    actor: &str,
    on: bool,
    reason: &str,
) -> Response {
    let before = match kill_switch(db).await {
        Ok(row) => approval::kill_switch_on(row.as_ref()),
        Err(e) => return internal("kill switch", &e),
    };
    let at = now().timestamp_millis();
    let word = |b: bool| if b { "on" } else { "off" };
    let entry = AuditEntry {
        at,
        actor: actor.to_owned(),
        action: AuditAction::KillSwitchChanged,
        entity: "setting",
        entity_id: Some("kill_switch".into()),
        from_state: Some(word(before).into()),
        to_state: Some(word(on).into()),
        details: serde_json::json!({ "reason": reason }),
    };
    let statements = match (
        d1::statement(
            db,
            approval::SET_KILL_SWITCH,
            &[d1::text(word(on)), d1::millis(at), d1::text(actor)],
        ),
        audit_statement(db, audit::INSERT_AUDIT, &entry),
    ) {
        (Ok(a), Ok(b)) => vec![a, b],
        (Err(e), _) | (_, Err(e)) => return internal("kill switch statements", &e),
    };
    if let Err(e) = db.batch(statements).await {
        return internal("kill switch write", &e);
    }
    // Mirror to the bridge (best effort; the cron repeats it every run).
    mirror_halt(cfg, on, &format!("{reason} (by {actor})")).await;
    match kill_switch(db).await {
        Ok(row) => json_response(200, &kill_switch_view(row.as_ref())),
        Err(e) => internal("kill switch", &e),
    }
}

async fn list(db: &D1Database, status: Option<proposals::ProposalStatus>, limit: u32) -> Response {
    if let Err(e) = expire_overdue(db, now(), EXPIRY_ACTOR).await {
        return internal("expire overdue", &e);
    }
    let sql = proposals::select_proposals_sql(status.is_some());
    let mut params = vec![JsValue::from(limit)];
    if let Some(s) = status {
        params.push(d1::text(s.as_str()));
    }
    match d1::rows::<ProposalRow>(db, &sql, &params).await {
        Ok(rows) => json_response(
            200,
            &ProposalList {
                proposals: rows
                    .iter()
                    .map(|r| ProposalView::from_row(r, false))
                    .collect(),
            },
        ),
        Err(e) => internal("list proposals", &e),
    }
}

fn not_found(id: i64) -> Response {
    error_response(&ApiError::new(
        404,
        "not_found",
        format!("no proposal {id}"),
    ))
}

async fn get_one(db: &D1Database, id: i64) -> Response {
    if let Err(e) = expire_overdue(db, now(), EXPIRY_ACTOR).await {
        return internal("expire overdue", &e);
    }
    match load_row(db, id).await {
        Ok(Some(row)) => json_response(200, &ProposalView::from_row(&row, true)),
        Ok(None) => not_found(id),
        Err(e) => internal("get proposal", &e),
    }
}

/// 409 with the proposal's current state.
fn conflict(
    code: &str,
    message: String,
    row: &ProposalRow,
    extra: Option<serde_json::Value>,
) -> Response {
    let mut body = serde_json::json!({
        "error": code,
        "message": message,
        "status": row.status,
        "proposal": ProposalView::from_row(row, false),
    });
    if let (Some(obj), Some(extra)) = (body.as_object_mut(), extra) {
        obj.insert("refusal".into(), extra);
    }
    json_response(409, &body)
}

/// The current state after a transition did not happen: expires the
/// proposal first when it is pending but overdue, then answers 409.
async fn refuse_with_state(db: &D1Database, id: i64, action: &str) -> Response {
    let at = now();
    let row = match load_row(db, id).await {
        Ok(Some(r)) => r,
        Ok(None) => return not_found(id),
        Err(e) => return internal("reload proposal", &e),
    };
    if row.status == "pending" && row.expires_at <= at.timestamp_millis() {
        let entry = AuditEntry::proposal(
            at.timestamp_millis(),
            EXPIRY_ACTOR,
            AuditAction::ProposalExpired,
            id,
            Some("pending"),
            Some("expired"),
            serde_json::json!({ "expires_at": audit::iso_ms(row.expires_at),
                "limit_price": row.limit_price, "on": action }),
        );
        let statements = match (
            d1::statement(
                db,
                approval::EXPIRE_ONE,
                &[JsValue::from_f64(id as f64), ms(at), d1::text(EXPIRY_ACTOR)],
            ),
            audit_statement(db, audit::INSERT_AUDIT_IF_CHANGED, &entry),
        ) {
            (Ok(a), Ok(b)) => vec![a, b],
            (Err(e), _) | (_, Err(e)) => return internal("expire statements", &e),
        };
        if let Err(e) = db.batch(statements).await {
            return internal("expire proposal", &e);
        }
        return match load_row(db, id).await {
            Ok(Some(r)) => conflict(
                "invalid_state",
                format!("proposal {id} is {}", r.status),
                &r,
                None,
            ),
            Ok(None) => not_found(id),
            Err(e) => internal("reload proposal", &e),
        };
    }
    if row.status == "pending" {
        // Still pending: only the kill switch can have blocked the update.
        return conflict(
            "kill_switch_on",
            "the kill switch is on: no approvals".into(),
            &row,
            None,
        );
    }
    conflict(
        "invalid_state",
        format!("proposal {id} is {}, not pending", row.status),
        &row,
        None,
    )
}

async fn reject(db: &D1Database, id: i64, actor: &str, reason: &str) -> Response {
    let row = match load_row(db, id).await {
        Ok(Some(r)) => r,
        Ok(None) => return not_found(id),
        Err(e) => return internal("load proposal", &e),
    };
    if row.status != "pending" {
        return conflict(
            "invalid_state",
            format!("proposal {id} is {}, not pending", row.status),
            &row,
            None,
        );
    }
    let at = now();
    let entry = AuditEntry::proposal(
        at.timestamp_millis(),
        actor,
        AuditAction::ProposalRejected,
        id,
        Some("pending"),
        Some("rejected"),
        serde_json::json!({ "reason": reason, "limit_price": row.limit_price,
            "entry_mid": row.entry_mid }),
    );
    let statements = match (
        d1::statement(
            db,
            approval::REJECT,
            &[
                JsValue::from_f64(id as f64),
                ms(at),
                d1::text(actor),
                d1::text(reason),
            ],
        ),
        audit_statement(db, audit::INSERT_AUDIT_IF_CHANGED, &entry),
    ) {
        (Ok(a), Ok(b)) => vec![a, b],
        (Err(e), _) | (_, Err(e)) => return internal("reject statements", &e),
    };
    match batch_changes(db, statements, 0).await {
        Err(e) => internal("reject", &e),
        Ok(1) => match load_row(db, id).await {
            Ok(Some(r)) => json_response(200, &ProposalView::from_row(&r, false)),
            Ok(None) => not_found(id),
            Err(e) => internal("reload proposal", &e),
        },
        Ok(_) => refuse_with_state(db, id, "reject").await,
    }
}

fn fresh_quotes(chain: &OptionChain, as_of: chrono::NaiveDate) -> FreshQuotes {
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

async fn approve(
    db: &D1Database,
    cfg: &Config,
    id: i64,
    actor: &str,
    note: Option<&str>,
) -> Response {
    let row = match load_row(db, id).await {
        Ok(Some(r)) => r,
        Ok(None) => return not_found(id),
        Err(e) => return internal("load proposal", &e),
    };
    if row.status != "pending" || row.expires_at <= now().timestamp_millis() {
        return refuse_with_state(db, id, "approve").await;
    }
    match kill_switch(db).await {
        Err(e) => return internal("kill switch", &e),
        Ok(k) if approval::kill_switch_on(k.as_ref()) => {
            return conflict(
                "kill_switch_on",
                "the kill switch is on: no approvals".into(),
                &row,
                None,
            )
        }
        Ok(_) => {}
    }
    let Some(proposal) = row
        .proposal_json
        .as_deref()
        .and_then(|j| serde_json::from_str::<Proposal>(j).ok())
    else {
        return internal("proposal json", &"stored proposal cannot be read");
    };
    // Orders are only sent inside the window (New York trading date, market
    // open, before ORDER_RETRY_DEADLINE_ET): outside it, nothing changes.
    if let Err(closed) = retry_window(cfg).check(now().timestamp_millis(), now()) {
        return conflict(
            "order_window_closed",
            format!("approval refused: no orders now ({closed})"),
            &row,
            None,
        );
    }
    // Fail closed: no bridge, no paper account → no approval.
    if let Err(e) = paper_guard(cfg).await {
        log_error("paper guard", &e);
        return error_response(&approval::broker_check_refusal(&e));
    }
    let started = now();
    let repriced = match fresh_reprice(cfg, &proposal, started).await {
        Err(reason) => {
            log_error("reprice chain", &reason);
            return error_response(&ApiError::new(
                503,
                "quotes_unavailable",
                "approval refused: fresh quotes could not be fetched from the bridge",
            ));
        }
        Ok(Ok(r)) => r,
        Ok(Err(refusal)) => {
            let price_moved = matches!(refusal.reason, RefusalCode::PriceMovedBeyondBand { .. });
            let refusal_json = serde_json::to_value(&refusal).unwrap_or_default();
            let entry = AuditEntry::proposal(
                started.timestamp_millis(),
                actor,
                AuditAction::ApprovalRefused,
                id,
                Some("pending"),
                Some("pending"),
                serde_json::json!({ "refusal": refusal_json, "proposed_mid": proposal.metrics.net_price_mid }),
            );
            if let Ok(s) = audit_statement(db, audit::INSERT_AUDIT, &entry) {
                if let Err(e) = db.batch(vec![s]).await {
                    log_error("audit refusal", &e);
                }
            }
            let (status, code) = if price_moved {
                (409, "price_moved")
            } else {
                (422, "no_longer_valid")
            };
            let body = serde_json::json!({
                "error": code,
                "message": format!("approval refused: {}", refusal.message),
                "status": "pending",
                "refusal": refusal_json,
            });
            return json_response(status, &body);
        }
    };
    let order = match approval::order_request(&proposal, &repriced) {
        Ok(o) => o,
        Err(e) => {
            return error_response(&ApiError::new(
                422,
                "no_longer_valid",
                format!("approval refused: {}", e.0),
            ))
        }
    };
    let order_json = match serde_json::to_string(&order) {
        Ok(j) => j,
        Err(e) => return internal("order json", &e),
    };
    let at = now();
    let entry = AuditEntry::proposal(
        at.timestamp_millis(),
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
    let statements = match (
        d1::statement(
            db,
            approval::APPROVE,
            &[
                JsValue::from_f64(id as f64),
                ms(at),
                d1::text(actor),
                d1::opt_text(note),
                JsValue::from_f64(order.limit_price),
                JsValue::from(order.quantity),
                d1::text(&order_json),
            ],
        ),
        audit_statement(db, audit::INSERT_AUDIT_IF_CHANGED, &entry),
    ) {
        (Ok(a), Ok(b)) => vec![a, b],
        (Err(e), _) | (_, Err(e)) => return internal("approve statements", &e),
    };
    match batch_changes(db, statements, 0).await {
        Err(e) => internal("approve", &e),
        Ok(1) => {
            // Approved: send the order (same key on every attempt).
            let outcome = match send_order(
                db,
                cfg,
                id,
                &proposal.idempotency_key,
                &order_json,
                actor,
            )
            .await
            {
                Ok(o) => Some(o),
                Err(e) => {
                    log_error("record order", &e);
                    None
                }
            };
            match load_row(db, id).await {
                Ok(Some(r)) => {
                    let mut body =
                        serde_json::to_value(ProposalView::from_row(&r, false)).unwrap_or_default();
                    if let Some(obj) = body.as_object_mut() {
                        obj.insert(
                            "repriced".into(),
                            serde_json::json!({
                                "net_price_mid": repriced.metrics.net_price_mid,
                                "price_move": repriced.price_move,
                                "limit_price": order.limit_price,
                                "contracts": order.quantity,
                            }),
                        );
                        if let Some((_, Some(reason))) = outcome {
                            obj.insert("order_error".into(), serde_json::json!(reason));
                        }
                    }
                    json_response(200, &body)
                }
                Ok(None) => not_found(id),
                Err(e) => internal("reload proposal", &e),
            }
        }
        Ok(_) => refuse_with_state(db, id, "approve").await,
    }
}

async fn audit_log(db: &D1Database, limit: u32, proposal: Option<i64>) -> Response {
    let rows: D1Result<Vec<AuditRow>> = match proposal {
        None => d1::rows(db, audit::SELECT_AUDIT, &[JsValue::from(limit)]).await,
        Some(id) => {
            d1::rows(
                db,
                audit::SELECT_AUDIT_OF_PROPOSAL,
                &[d1::text(&id.to_string()), JsValue::from(limit)],
            )
            .await
        }
    };
    match rows {
        Ok(rows) => json_response(
            200,
            &audit::AuditLog {
                entries: rows.into_iter().map(AuditView::from).collect(),
            },
        ),
        Err(e) => internal("audit log", &e),
    }
}
