//! Proposals on the Workers runtime: the [`ApprovalStore`] over D1 and the
//! [`Bridge`] over `fetch` that the approval workflows
//! ([`crate::approvals::service`]) and generation
//! ([`crate::proposals::generate`]) run against, the cron step (expire,
//! resolve orders, generate) and the proposals / audit / kill-switch API.
//! Every state change is ONE conditional statement written in the same D1
//! batch as its audit row.

use chrono::{DateTime, NaiveDate, Utc};
use sas_core::market::Symbol;

use worker::{
    console_error, console_log, D1Database, D1PreparedStatement, D1Type, Request, Response,
};

use super::{bridge, d1, error_response, json_response, now};
use crate::approvals::service::{self as approvals_service};
use crate::approvals::store::{Approval, ApprovalStore, OrderStateChange, ResendClaim, StoreError};
use crate::approvals::{self, KillSwitchRow, ResolveRow};
use crate::audit::store::AuditStore;
use crate::audit::{self, actor_label, AuditEntry, AuditRow, CRON_ACTOR};
use crate::auth::Principal;
use crate::bridge::{Bridge, BridgeAnswer, BridgeFailure};
use crate::config::Config;
use crate::http::approvals::{self as approvals_view, Reply};
use crate::http::approvals::{parse_approve, parse_kill_switch, parse_reject, ApprovalRoute};
use crate::http::error::ApiError;
use crate::opportunities::LatestMetricsRow;
use crate::proposals::generate::{GenerationStore, NewProposal};
use crate::proposals::{
    self, ExistingRow, GenerationSummary, MetricsRow, ProposalRow, ProposalStatus,
};
use crate::settings::{self, store::SettingsStore};
use crate::store::SnapshotRow;

type Deps<'a> = approvals_service::Deps<'a, D1Store<'a>, FetchBridge<'a>, super::risk::D1Risk<'a>>;

fn log(event: &str, value: serde_json::Value) {
    console_log!("{}", serde_json::json!({ "event": event, "detail": value }));
}

fn log_error(context: &str, e: &dyn std::fmt::Display) {
    console_error!(
        "{}",
        serde_json::json!({ "event": "proposals_error", "context": context, "error": e.to_string() })
    );
}

/// The workflows' log: `proposals_error` lines go to `console_error`.
fn workflow_log(event: &str, value: serde_json::Value) {
    if event == "proposals_error" {
        console_error!(
            "{}",
            serde_json::json!({ "event": event, "context": value["context"], "error": value["error"] })
        );
    } else {
        log(event, value);
    }
}

fn reply(r: Reply) -> Response {
    match r {
        Reply::Json(status, text) => super::raw_json_response(status, text),
        Reply::Error(e) => error_response(&e),
        Reply::Internal(context) => {
            log_error("proposals", &context);
            error_response(&ApiError::internal())
        }
    }
}

// ---------------------------------------------------------------------------
// The runtime behind the workflows
// ---------------------------------------------------------------------------

/// The bridge over Workers `fetch` (authenticated).
pub struct FetchBridge<'a>(pub &'a Config);

impl Bridge for FetchBridge<'_> {
    async fn get(
        &self,
        path_and_query: &str,
        timeout_ms: u32,
    ) -> Result<BridgeAnswer, BridgeFailure> {
        bridge::get(self.0, path_and_query, true, timeout_ms).await
    }
    async fn post_json(
        &self,
        path: &str,
        body: &str,
        timeout_ms: u32,
    ) -> Result<BridgeAnswer, BridgeFailure> {
        bridge::post_json(self.0, path, body, timeout_ms).await
    }
}

/// The approval store over D1: each method binds its SQL constant.
pub struct D1Store<'a>(pub &'a D1Database);

fn d1_err(e: worker::Error) -> StoreError {
    StoreError(e.to_string())
}

/// The parameters of [`approvals::SET_ORDER_STATE`] for one change.
fn order_state_params<'a>(c: &'a OrderStateChange<'_>) -> [worker::D1Type<'a>; 8] {
    [
        d1::int(c.id),
        d1::text(c.to.as_str()),
        d1::opt_text(c.order_id),
        d1::opt_text(c.broker_status),
        d1::opt_text(c.reason),
        d1::uint(u32::from(c.sent)),
        d1::millis(c.at_ms),
        d1::text(c.from.as_str()),
    ]
}

pub(super) fn audit_statement(
    db: &D1Database,
    sql: &str,
    e: &AuditEntry,
) -> worker::Result<D1PreparedStatement> {
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

impl D1Store<'_> {
    /// Runs `sql` (with `params`) and its audit row if it changed exactly one
    /// row, as one batch; whether statement 0 changed a row.
    async fn conditional(
        &self,
        sql: &str,
        params: &[D1Type<'_>],
        audit: &AuditEntry,
    ) -> Result<bool, StoreError> {
        let db = self.0;
        let statements = vec![
            d1::statement(db, sql, params).map_err(d1_err)?,
            audit_statement(db, audit::INSERT_AUDIT_IF_CHANGED, audit).map_err(d1_err)?,
        ];
        Ok(batch_changes(db, statements, 0).await.map_err(d1_err)? == 1)
    }
}

/// Runs `statements` as one batch; the rows changed by statement `index`.
async fn batch_changes(
    db: &D1Database,
    statements: Vec<D1PreparedStatement>,
    index: usize,
) -> worker::Result<usize> {
    let results = db.batch(statements).await?;
    Ok(results
        .get(index)
        .and_then(|r| r.meta().ok().flatten())
        .and_then(|m| m.changes)
        .unwrap_or(0))
}

impl ApprovalStore for D1Store<'_> {
    async fn proposal(&self, id: i64) -> Result<Option<ProposalRow>, StoreError> {
        let mut rows: Vec<ProposalRow> =
            d1::rows(self.0, &proposals::select_proposal_sql(), &[d1::int(id)])
                .await
                .map_err(d1_err)?;
        Ok(rows.pop())
    }

    async fn proposals(
        &self,
        status: Option<ProposalStatus>,
        limit: u32,
    ) -> Result<Vec<ProposalRow>, StoreError> {
        let sql = proposals::select_proposals_sql(status.is_some());
        let mut params = vec![d1::uint(limit)];
        if let Some(s) = status {
            params.push(d1::text(s.as_str()));
        }
        d1::rows(self.0, &sql, &params).await.map_err(d1_err)
    }

    /// `APPROVE`, the risk verdict (`INSERT_RISK_CHECK_IF_CHANGED`) and the
    /// audit row (`INSERT_AUDIT_IF_CHANGED`, chained on the verdict's insert),
    /// one batch: all three or nothing.
    async fn approve(
        &self,
        a: &Approval<'_>,
        audit_entry: &AuditEntry,
    ) -> Result<bool, StoreError> {
        let db = self.0;
        let statements = vec![
            d1::statement(
                db,
                approvals::APPROVE,
                &[
                    d1::int(a.id),
                    d1::millis(a.at_ms),
                    d1::text(a.actor),
                    d1::opt_text(a.note),
                    D1Type::Real(a.limit_price),
                    d1::uint(a.contracts),
                    d1::text(a.order_json),
                ],
            )
            .map_err(d1_err)?,
            d1::statement(
                db,
                crate::risk::model::INSERT_RISK_CHECK_IF_CHANGED,
                &[
                    d1::int(a.id),
                    d1::millis(a.at_ms),
                    d1::text(a.actor),
                    d1::int(1),
                    d1::text(a.risk_report),
                ],
            )
            .map_err(d1_err)?,
            audit_statement(db, audit::INSERT_AUDIT_IF_CHANGED, audit_entry).map_err(d1_err)?,
        ];
        // The alert, stored only if the audit row just before it was.
        let mut statements = statements;
        for st in a.alert {
            statements.push(super::alerts::prepare(db, st).map_err(d1_err)?);
        }
        Ok(batch_changes(db, statements, 0).await.map_err(d1_err)? == 1)
    }

    async fn reject(
        &self,
        id: i64,
        at_ms: i64,
        actor: &str,
        reason: &str,
        audit_entry: &AuditEntry,
    ) -> Result<bool, StoreError> {
        self.conditional(
            approvals::REJECT,
            &[
                d1::int(id),
                d1::millis(at_ms),
                d1::text(actor),
                d1::text(reason),
            ],
            audit_entry,
        )
        .await
    }

    async fn expire_one(
        &self,
        id: i64,
        at_ms: i64,
        actor: &str,
        audit_entry: &AuditEntry,
    ) -> Result<bool, StoreError> {
        self.conditional(
            approvals::EXPIRE_ONE,
            &[d1::int(id), d1::millis(at_ms), d1::text(actor)],
            audit_entry,
        )
        .await
    }

    async fn expire_overdue(&self, at_ms: i64, actor: &str) -> Result<usize, StoreError> {
        let db = self.0;
        let statements = vec![
            d1::statement(
                db,
                approvals::AUDIT_OVERDUE,
                &[d1::millis(at_ms), d1::text(actor)],
            )
            .map_err(d1_err)?,
            d1::statement(
                db,
                approvals::EXPIRE_OVERDUE,
                &[d1::millis(at_ms), d1::text(actor)],
            )
            .map_err(d1_err)?,
        ];
        batch_changes(db, statements, 1).await.map_err(d1_err)
    }

    async fn set_order_state(
        &self,
        c: &OrderStateChange<'_>,
        audit_entry: &AuditEntry,
    ) -> Result<bool, StoreError> {
        self.conditional(
            approvals::SET_ORDER_STATE,
            &order_state_params(c),
            audit_entry,
        )
        .await
    }

    async fn refuse_resend(
        &self,
        c: &OrderStateChange<'_>,
        risk_report: &str,
        audit_entry: &AuditEntry,
    ) -> Result<bool, StoreError> {
        let db = self.0;
        let statements = vec![
            d1::statement(db, approvals::SET_ORDER_STATE, &order_state_params(c))
                .map_err(d1_err)?,
            d1::statement(
                db,
                crate::risk::model::INSERT_RISK_CHECK_IF_CHANGED,
                &[
                    d1::int(c.id),
                    d1::millis(c.at_ms),
                    d1::text(&audit_entry.actor),
                    d1::int(0),
                    d1::text(risk_report),
                ],
            )
            .map_err(d1_err)?,
            audit_statement(db, audit::INSERT_AUDIT_IF_CHANGED, audit_entry).map_err(d1_err)?,
        ];
        Ok(batch_changes(db, statements, 0).await.map_err(d1_err)? == 1)
    }

    async fn claim_resend(
        &self,
        c: &ResendClaim<'_>,
        audit_entry: &AuditEntry,
    ) -> Result<bool, StoreError> {
        self.conditional(
            approvals::CLAIM_RESEND,
            &[
                d1::int(c.id),
                d1::text(c.order_json),
                D1Type::Real(c.limit_price),
                d1::uint(c.contracts),
                d1::millis(c.at_ms),
                d1::text(c.from.as_str()),
                match c.order_updated_at {
                    Some(t) => d1::millis(t),
                    None => D1Type::Null,
                },
            ],
            audit_entry,
        )
        .await
    }

    async fn risk_checks(
        &self,
        proposal_id: i64,
        limit: u32,
    ) -> Result<Vec<approvals::RiskCheckRow>, StoreError> {
        d1::rows(
            self.0,
            approvals::SELECT_RISK_CHECKS_OF_PROPOSAL,
            &[d1::int(proposal_id), d1::uint(limit)],
        )
        .await
        .map_err(d1_err)
    }

    async fn orders_to_resolve(
        &self,
        at_ms: i64,
        stale_ms: i64,
        limit: u32,
    ) -> Result<Vec<ResolveRow>, StoreError> {
        d1::rows(
            self.0,
            approvals::SELECT_ORDERS_TO_RESOLVE,
            &[d1::millis(at_ms), d1::millis(stale_ms), d1::uint(limit)],
        )
        .await
        .map_err(d1_err)
    }
}

impl SettingsStore for D1Store<'_> {
    async fn kill_switch(&self) -> Result<Option<KillSwitchRow>, StoreError> {
        let mut rows: Vec<KillSwitchRow> = d1::rows(self.0, settings::SELECT_KILL_SWITCH, &[])
            .await
            .map_err(d1_err)?;
        Ok(rows.pop())
    }

    async fn drift_blocks_entries(&self) -> Result<bool, StoreError> {
        #[derive(serde::Deserialize)]
        struct Blocked {
            blocked: i64,
        }
        let rows: Vec<Blocked> = d1::rows(
            self.0,
            crate::positions::model::SELECT_DRIFT_BLOCKS_ENTRIES,
            &[],
        )
        .await
        .map_err(d1_err)?;
        Ok(rows.first().is_some_and(|r| r.blocked > 0))
    }

    async fn set_kill_switch(
        &self,
        on: bool,
        at_ms: i64,
        actor: &str,
        audit_entry: &AuditEntry,
    ) -> Result<(), StoreError> {
        let db = self.0;
        let word = if on { "on" } else { "off" };
        let statements = vec![
            d1::statement(
                db,
                settings::SET_KILL_SWITCH,
                &[d1::text(word), d1::millis(at_ms), d1::text(actor)],
            )
            .map_err(d1_err)?,
            audit_statement(db, audit::INSERT_AUDIT, audit_entry).map_err(d1_err)?,
        ];
        db.batch(statements).await.map_err(d1_err)?;
        Ok(())
    }
}

impl AuditStore for D1Store<'_> {
    async fn append_audit(&self, audit_entry: &AuditEntry) -> Result<(), StoreError> {
        let s = audit_statement(self.0, audit::INSERT_AUDIT, audit_entry).map_err(d1_err)?;
        self.0.batch(vec![s]).await.map_err(d1_err)?;
        Ok(())
    }

    async fn audit_log(&self, q: &audit::AuditQuery) -> Result<Vec<AuditRow>, StoreError> {
        let proposal = q.proposal.map(|n| n.to_string());
        let position = q.position.map(|n| n.to_string());
        d1::rows(
            self.0,
            audit::SELECT_AUDIT,
            &[
                d1::uint(q.limit),
                d1::opt_text(proposal.as_deref()),
                d1::opt_text(position.as_deref()),
                d1::opt_text(q.action.map(audit::AuditAction::as_str)),
                d1::opt_int(q.before),
            ],
        )
        .await
        .map_err(d1_err)
    }
}

impl GenerationStore for D1Store<'_> {
    async fn existing_trades(
        &self,
        today: NaiveDate,
        since: NaiveDate,
    ) -> Result<Vec<ExistingRow>, StoreError> {
        d1::rows(
            self.0,
            proposals::SELECT_EXISTING_TRADES,
            &[d1::text(&today.to_string()), d1::text(&since.to_string())],
        )
        .await
        .map_err(d1_err)
    }

    async fn snapshots(
        &self,
        watchlist: &[Symbol],
        since_ms: i64,
    ) -> Result<Vec<SnapshotRow>, StoreError> {
        d1::snapshots(
            self.0,
            &[d1::text(&symbols_json(watchlist)), d1::millis(since_ms)],
        )
        .await
        .map_err(d1_err)
    }

    async fn latest_metrics(
        &self,
        watchlist: &[Symbol],
        since_ms: i64,
    ) -> Result<Vec<LatestMetricsRow>, StoreError> {
        d1::rows(
            self.0,
            crate::opportunities::SELECT_LATEST_METRICS,
            &[d1::text(&symbols_json(watchlist)), d1::millis(since_ms)],
        )
        .await
        .map_err(d1_err)
    }

    async fn regime_metrics(
        &self,
        symbols: &[Symbol],
        since_ms: i64,
    ) -> Result<Vec<MetricsRow>, StoreError> {
        d1::rows(
            self.0,
            proposals::SELECT_LATEST_METRICS,
            &[d1::text(&symbols_json(symbols)), d1::millis(since_ms)],
        )
        .await
        .map_err(d1_err)
    }

    async fn event_calendars(
        &self,
        symbols: &[Symbol],
        from: NaiveDate,
    ) -> Result<Vec<(Symbol, sas_core::strategy::EventCalendar)>, StoreError> {
        super::events::calendars(self.0, symbols, from).await
    }

    async fn insert_proposals_with_alert(
        &self,
        new: &[NewProposal],
        at_ms: i64,
        actor: &str,
        alert: &[crate::alerts::Statement],
    ) -> Result<usize, StoreError> {
        let db = self.0;
        let mut statements = Vec::with_capacity(new.len() * 2);
        for n in new {
            statements.push(
                d1::statement(
                    db,
                    proposals::INSERT_PROPOSAL,
                    &[d1::text(&n.record.to_param())],
                )
                .map_err(d1_err)?,
            );
            statements.push(
                d1::statement(
                    db,
                    proposals::INSERT_CREATED_AUDIT,
                    &[
                        d1::millis(at_ms),
                        d1::text(actor),
                        d1::text(&n.details.to_string()),
                    ],
                )
                .map_err(d1_err)?,
            );
        }
        for st in alert {
            statements.push(super::alerts::prepare(db, st).map_err(d1_err)?);
        }
        let results = db.batch(statements).await.map_err(d1_err)?;
        Ok(results
            .iter()
            .take(new.len() * 2)
            .step_by(2)
            .filter(|r| r.meta().ok().flatten().and_then(|m| m.changes) == Some(1))
            .count())
    }

    async fn insert_proposals(
        &self,
        new: &[NewProposal],
        at_ms: i64,
        actor: &str,
    ) -> Result<usize, StoreError> {
        self.insert_proposals_with_alert(new, at_ms, actor, &[])
            .await
    }
}

/// A symbol list bound as one JSON array parameter (`json_each(?)`).
fn symbols_json(symbols: &[Symbol]) -> String {
    let names: Vec<&str> = symbols.iter().map(Symbol::as_str).collect();
    serde_json::to_string(&names).unwrap_or_else(|_| "[]".into())
}

fn clock() -> DateTime<Utc> {
    now()
}

/// Runs `f` with the workflows' dependencies on this runtime.
fn deps<'a>(
    store: &'a D1Store<'a>,
    fetch: &'a FetchBridge<'a>,
    risk: &'a super::risk::D1Risk<'a>,
    cfg: &'a Config,
) -> Deps<'a> {
    deps_at(store, fetch, risk, cfg, &clock)
}

/// [`deps`] on a given clock (a cron run's).
fn deps_at<'a>(
    store: &'a D1Store<'a>,
    fetch: &'a FetchBridge<'a>,
    risk: &'a super::risk::D1Risk<'a>,
    cfg: &'a Config,
    now: approvals_service::Clock<'a>,
) -> Deps<'a> {
    approvals_service::Deps {
        store,
        bridge: fetch,
        risk,
        cfg,
        now,
        log: &workflow_log,
    }
}

// ---------------------------------------------------------------------------
// Cron step
// ---------------------------------------------------------------------------

/// The proposals part of the 15-minute cron: expire, resolve orders,
/// generate. Never fails the cron: problems are logged.
pub async fn cron_step(db: &D1Database, cfg: &Config, clock: super::RunClock) {
    let store = D1Store(db);
    let fetch = FetchBridge(cfg);
    let risk = super::risk::D1Risk(db);
    let run_now = move || clock.now();
    let deps = deps_at(&store, &fetch, &risk, cfg, &run_now);
    let wall_started = now();
    let started = clock.now();
    let mut summary = GenerationSummary {
        considered: 0,
        created: 0,
        duplicates: 0,
        skipped: Vec::new(),
        expired: 0,
        orders_retried: 0,
        ms: 0,
    };
    let (expired, resolved, killed) = deps.cron_orders().await;
    summary.expired = expired;
    summary.orders_retried = resolved;
    if killed {
        log(
            "proposals_cron",
            serde_json::json!({ "skipped": "kill switch is on" }),
        );
    } else {
        match crate::ingest::gate(cfg.market_hours_mode, started) {
            Err(reason) => {
                summary
                    .skipped
                    .push(serde_json::json!({ "all": reason.to_string() }));
            }
            Ok(()) => {
                // Disabled strategies generate nothing (an unreadable switch
                // table stops the step: fail closed).
                match crate::risk::service::enabled_strategies(&super::risk::D1Risk(db)).await {
                    Err(e) => log_error("strategy switches", &e),
                    Ok(enabled) => {
                        let run = proposals::generate::generate(
                            &store,
                            &fetch,
                            cfg,
                            started,
                            CRON_ACTOR,
                            &enabled,
                            &mut summary,
                        );
                        if let Err(e) = run.await {
                            log_error("generate", &e);
                        }
                    }
                }
            }
        }
    }
    summary.ms = (now() - wall_started).num_milliseconds();
    log(
        "proposals_cron",
        serde_json::to_value(&summary).unwrap_or_default(),
    );
}

/// One summary line of a proposal for alerts.
fn trade_summary(row: &ProposalRow) -> String {
    format!(
        "{} {} x{} (max loss ${:.0}): {}",
        row.symbol,
        row.strategy,
        row.approved_contracts.unwrap_or(row.contracts),
        row.total_max_loss,
        crate::config::truncate(&row.rationale, 300)
    )
}

/// The submission alert, when the bridge took the order (the approval's
/// own alert was written in the approval's batch).
async fn approval_alerts(db: &D1Database, cfg: &Config, row: &ProposalRow, _actor: &str) {
    let summary = trade_summary(row);
    if row.order_status == Some(approvals::OrderState::Submitted) {
        enqueue(
            db,
            cfg,
            &sas_core::alerts::AlertEvent::Submitted {
                proposal_id: row.id,
                order_key: row.idempotency_key.clone(),
                summary,
            },
        )
        .await;
    }
}

async fn enqueue(db: &D1Database, cfg: &Config, event: &sas_core::alerts::AlertEvent) {
    if let Err(e) = crate::alerts::service::enqueue_event(
        &super::alerts::D1Alerts(db),
        &cfg.alerts,
        event,
        now().timestamp_millis(),
    )
    .await
    {
        log_error("enqueue alert", &e);
    }
}

/// The kill switch as the "trading halted" alert condition.
pub async fn halt_observation(
    db: &D1Database,
    at_ms: i64,
) -> Option<sas_core::alerts::ConditionObservation> {
    let row = D1Store(db).kill_switch().await.ok()?;
    let on = settings::kill_switch_on(row.as_ref());
    Some(sas_core::alerts::ConditionObservation {
        kind: sas_core::alerts::AlertKind::RiskHalt,
        subject: "kill_switch".into(),
        active: on,
        detail: row.map_or_else(
            || "kill switch unset (treated as on)".to_owned(),
            |r| format!("kill switch {} (set by {})", r.value, r.updated_by),
        ),
        at_ms,
    })
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
    let store = D1Store(db);
    let fetch = FetchBridge(cfg);
    let risk = super::risk::D1Risk(db);
    let deps = deps(&store, &fetch, &risk, cfg);
    let err = |e: approvals_service::ApprovalError| reply(approvals_view::error_reply(&e));
    match route {
        ApprovalRoute::List { status, limit } => match deps.list(status, limit).await {
            Ok(rows) => json_response(
                200,
                &proposals::ProposalList {
                    proposals: rows
                        .iter()
                        .map(|r| proposals::ProposalView::from_row(r, false))
                        .collect(),
                },
            ),
            Err(e) => err(e),
        },
        ApprovalRoute::Get { id } => match deps.detail(id).await {
            Ok((row, risk_checks)) => json_response(
                200,
                &crate::risk::view::ProposalDetailView {
                    proposal: proposals::ProposalView::from_row(&row, true),
                    risk_checks,
                },
            ),
            Err(e) => err(e),
        },
        ApprovalRoute::Approve { id } => match read_body(req).await {
            Err(e) => error_response(&e),
            Ok(raw) => match parse_approve(&raw) {
                Err(e) => error_response(&e),
                Ok(body) => match deps.approve(id, &actor, body.note.as_deref()).await {
                    Ok(a) => {
                        approval_alerts(db, cfg, &a.row, &actor).await;
                        reply(approvals_view::approved_reply(&a))
                    }
                    Err(e) => err(e),
                },
            },
        },
        ApprovalRoute::Reject { id } => match read_body(req).await {
            Err(e) => error_response(&e),
            Ok(raw) => match parse_reject(&raw) {
                Err(e) => error_response(&e),
                Ok(body) => match deps.reject(id, &actor, &body.reason).await {
                    Ok(row) => reply(approvals_view::proposal_reply(&row, false)),
                    Err(e) => err(e),
                },
            },
        },
        ApprovalRoute::Audit(q) => match store.audit_log(&q).await {
            Ok(rows) => json_response(200, &audit::view::log_view(rows, q.limit)),
            Err(e) => reply(Reply::Internal(format!("audit log: {e}"))),
        },
        ApprovalRoute::KillSwitchGet => match store.kill_switch().await {
            Err(e) => reply(Reply::Internal(format!("kill switch: {e}"))),
            Ok(row) => json_response(200, &settings::view::kill_switch_view(row.as_ref())),
        },
        ApprovalRoute::KillSwitchSet => match read_body(req).await {
            Err(e) => error_response(&e),
            Ok(raw) => match parse_kill_switch(&raw) {
                Err(e) => error_response(&e),
                Ok(body) => match deps.set_kill_switch(&actor, body.on, &body.reason).await {
                    Ok(row) => json_response(200, &settings::view::kill_switch_view(row.as_ref())),
                    Err(e) => err(e),
                },
            },
        },
    }
}

async fn read_body(req: &mut Request) -> Result<Vec<u8>, ApiError> {
    crate::edge::read_body(req).await
}
