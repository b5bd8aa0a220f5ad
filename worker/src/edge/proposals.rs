//! Proposals on the Workers runtime: the cron step (expire overdue
//! proposals, retry failed orders, generate new proposals) and the
//! proposals / audit / kill-switch API. Every state change is ONE
//! conditional statement written in the same D1 batch as its audit row.

use chrono::{DateTime, Duration, Utc};
use sas_core::analytics::chain::{analyze, ChainHistory};
use sas_core::market::{DailyBar, OptionChain, Symbol};
use sas_core::strategy::proposal::RefusalCode;
use sas_core::strategy::{
    generate_proposals, reprice, FreshLegQuote, FreshQuotes, GenerationInputs, Proposal,
    UnderlyingCandidate,
};
use serde::Deserialize;
use wasm_bindgen::JsValue;
use worker::{console_error, console_log, D1Database, D1PreparedStatement, Request, Response};

use super::{bridge, d1, error_response, json_response, now};
use crate::api::ApiError;
use crate::approval::{self, ApprovalRoute, KillSwitchRow, OrderOutcome, RetryRow, TradingMode};
use crate::audit::{self, actor_label, AuditAction, AuditEntry, AuditRow, AuditView, CRON_ACTOR};
use crate::auth::Principal;
use crate::config::Config;
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

#[derive(Deserialize)]
struct AccountBody {
    account_id: String,
    net_liquidation: f64,
}

async fn account(cfg: &Config) -> Result<AccountBody, String> {
    let answer = bridge::get(cfg, "/account", true, cfg.bridge_timeout_ms)
        .await
        .map_err(|e| e.to_string())?;
    if answer.status != 200 {
        return Err(format!("bridge /account answered HTTP {}", answer.status));
    }
    serde_json::from_str(&answer.body)
        .map_err(|_| "bridge /account answer is not an account".into())
}

/// In paper mode the bridge's account must be a paper account (checked
/// before every order; any doubt refuses).
async fn paper_guard(cfg: &Config) -> Result<(), String> {
    if cfg.approval.trading_mode == TradingMode::Live {
        return Ok(());
    }
    let acct = account(cfg).await?;
    if approval::is_paper_account(&acct.account_id) {
        Ok(())
    } else {
        Err("TRADING_MODE is paper but the bridge account is not a paper account".into())
    }
}

async fn chain(
    cfg: &Config,
    symbol: &Symbol,
    window: (u32, u32, u32),
) -> Result<OptionChain, String> {
    let path = format!(
        "/chain?symbol={symbol}&min_dte={}&max_dte={}&strikes={}",
        window.0, window.1, window.2
    );
    let answer = bridge::get(cfg, &path, true, cfg.bridge_timeout_ms)
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

#[derive(Deserialize)]
struct HistoryBody {
    bars: Vec<DailyBar>,
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

/// `POST {BRIDGE_URL}/orders` with `body` exactly as stored.
async fn post_order(cfg: &Config, body: &str, key: &str) -> OrderOutcome {
    match bridge::post_json(cfg, "/orders", body, cfg.bridge_timeout_ms).await {
        Ok(answer) => approval::order_outcome(answer.status, &answer.body, key),
        Err(failure) => OrderOutcome::Failed {
            reason: failure.to_string(),
        },
    }
}

/// Sends the stored order of an approved proposal and records the outcome
/// with its audit row. Same key and byte-identical body on every attempt.
async fn submit_order(
    db: &D1Database,
    cfg: &Config,
    id: i64,
    key: &str,
    order_request: &str,
    actor: &str,
) -> D1Result<OrderOutcome> {
    let outcome = match paper_guard(cfg).await {
        Err(reason) => OrderOutcome::Failed { reason },
        Ok(()) => post_order(cfg, order_request, key).await,
    };
    let at = now().timestamp_millis();
    let (status, order_id, broker_status, action, details) = match &outcome {
        OrderOutcome::Submitted {
            order_id,
            broker_status,
            duplicate,
        } => (
            "submitted",
            Some(order_id.as_str()),
            Some(broker_status.as_str()),
            AuditAction::OrderSubmitted,
            serde_json::json!({ "order_id": order_id, "broker_status": broker_status,
                "duplicate": duplicate, "idempotency_key": key,
                "trading_mode": cfg.approval.trading_mode.as_str() }),
        ),
        OrderOutcome::Failed { reason } => (
            "submit_failed",
            None,
            None,
            AuditAction::OrderSubmitFailed,
            serde_json::json!({ "reason": reason, "idempotency_key": key,
                "trading_mode": cfg.approval.trading_mode.as_str() }),
        ),
    };
    let entry = AuditEntry::proposal(
        at,
        actor,
        action,
        id,
        Some("approved"),
        Some("approved"),
        details,
    );
    let statements = vec![
        d1::statement(
            db,
            approval::RECORD_ORDER,
            &[
                JsValue::from_f64(id as f64),
                d1::text(status),
                d1::opt_text(order_id),
                d1::opt_text(broker_status),
                d1::millis(at),
            ],
        )?,
        audit_statement(db, audit::INSERT_AUDIT_IF_CHANGED, &entry)?,
    ];
    batch_changes(db, statements, 0).await?;
    Ok(outcome)
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
    if killed {
        log(
            "proposals_cron",
            serde_json::json!({ "skipped": "kill switch is on" }),
        );
    } else {
        match retry_orders(db, cfg, started).await {
            Ok(n) => summary.orders_retried = n,
            Err(e) => log_error("retry orders", &e),
        }
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

async fn retry_orders(db: &D1Database, cfg: &Config, at: DateTime<Utc>) -> D1Result<usize> {
    let rows: Vec<RetryRow> = d1::rows(
        db,
        approval::SELECT_ORDERS_TO_RETRY,
        &[
            ms(at),
            d1::millis(approval::ORDER_RETRY_MIN_AGE_MS),
            d1::millis(approval::MAX_ORDER_ATTEMPTS),
        ],
    )
    .await?;
    for r in &rows {
        submit_order(
            db,
            cfg,
            r.id,
            &r.idempotency_key,
            &r.order_request,
            CRON_ACTOR,
        )
        .await?;
    }
    Ok(rows.len())
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
    let acct = account(cfg).await?;

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
        let chain = match chain(cfg, &sym, (14, 90, 40)).await {
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
                Ok(body) => set_kill_switch(db, &actor, body.on, &body.reason).await,
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

async fn set_kill_switch(db: &D1Database, actor: &str, on: bool, reason: &str) -> Response {
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

fn fresh_quotes(chain: &OptionChain) -> FreshQuotes {
    FreshQuotes {
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
    // Fail closed: no bridge, no paper account → no approval.
    if let Err(reason) = paper_guard(cfg).await {
        log_error("paper guard", &reason);
        return error_response(&ApiError::new(
            503,
            "broker_check_failed",
            format!("approval refused: {reason}"),
        ));
    }
    let started = now();
    let window = approval::reprice_window(&proposal, proposals::trade_date(started));
    let fresh = match chain(cfg, &proposal.symbol, window).await {
        Ok(c) => fresh_quotes(&c),
        Err(reason) => {
            log_error("reprice chain", &reason);
            return error_response(&ApiError::new(
                503,
                "quotes_unavailable",
                "approval refused: fresh quotes could not be fetched from the bridge",
            ));
        }
    };
    let strategy_cfg = proposals::strategy_config(&cfg.approval.limits);
    let repriced = match reprice(&proposal, &fresh, &strategy_cfg) {
        Ok(r) => r,
        Err(refusal) => {
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
            let outcome = match submit_order(
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
                        if let Some(OrderOutcome::Failed { reason }) = outcome {
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
