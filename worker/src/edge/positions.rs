//! The position engine on the Workers runtime: [`PositionStore`] over D1
//! (each method binds the SQL of [`crate::positions::model`]; every change
//! and its audit rows in one batch), the monitor cron, and the positions API.

use worker::{
    console_error, console_log, D1Database, D1PreparedStatement, D1Type, Request, Response,
};

use super::proposals::{audit_statement, FetchBridge};
use super::{d1, error_response, json_response, now, read_body};
use crate::audit::{self, actor_label, AuditEntry};
use crate::auth::Principal;
use crate::config::Config;
use crate::http::approvals::Reply;
use crate::http::error::ApiError;
use crate::http::positions::{self as view, PositionRoute};
use crate::positions::model::{
    self as m, AdoptableRow, EquityRow, FillRow, MarkRow, MonitorRunRow, OrderRow, PositionRow,
    ReconciliationRow,
};
use crate::positions::monitor::{Monitor, RunReport};
use crate::positions::service;
use crate::positions::store::{
    NewExitOrder, NewPosition, OrderUpdate, PositionStore, PositionWrite, RunOutcome, StoreError,
};

/// The position store over D1; alerts of its changes are enqueued in the
/// same batches with these settings, and its deletions (mark compaction, run
/// records) follow the archive's prune gate.
pub struct D1Positions<'a>(
    pub &'a D1Database,
    pub &'a crate::config::alerts::AlertsConfig,
    pub crate::config::archive::PruneGate,
);

fn d1_err(e: worker::Error) -> StoreError {
    StoreError(e.to_string())
}

fn opt_int(v: Option<i64>) -> D1Type<'static> {
    v.map_or(D1Type::Null, d1::int)
}

/// Runs a batch; (changes of statement `index`, rows written in total).
async fn run_batch(
    db: &D1Database,
    statements: Vec<D1PreparedStatement>,
    index: usize,
) -> Result<(usize, u64), StoreError> {
    if statements.is_empty() {
        return Ok((0, 0));
    }
    let results = db.batch(statements).await.map_err(d1_err)?;
    let mut written = 0u64;
    let mut changes = 0usize;
    for (i, r) in results.iter().enumerate() {
        let meta = r.meta().ok().flatten();
        written += meta.as_ref().and_then(|m| m.rows_written).unwrap_or(0) as u64;
        if i == index {
            changes = meta.and_then(|m| m.changes).unwrap_or(0);
        }
    }
    Ok((changes, written))
}

impl D1Positions<'_> {
    fn st(&self, sql: &str, params: &[D1Type<'_>]) -> Result<D1PreparedStatement, StoreError> {
        d1::statement(self.0, sql, params).map_err(d1_err)
    }

    fn audit(&self, sql: &str, e: &AuditEntry) -> Result<D1PreparedStatement, StoreError> {
        audit_statement(self.0, sql, e).map_err(d1_err)
    }

    async fn rows<T: serde::de::DeserializeOwned>(
        &self,
        sql: &str,
        params: &[D1Type<'_>],
    ) -> Result<Vec<T>, StoreError> {
        d1::rows(self.0, sql, params).await.map_err(d1_err)
    }

    fn order_update(
        &self,
        sql: &str,
        by: D1Type<'_>,
        u: &OrderUpdate,
    ) -> Result<Vec<D1PreparedStatement>, StoreError> {
        Ok(vec![
            self.st(
                sql,
                &[
                    by,
                    d1::text(&u.from),
                    d1::text(&u.to),
                    d1::int(u.filled),
                    d1::opt_text(u.broker_status.as_deref()),
                    opt_int(u.last_seq),
                    d1::opt_text(u.broker_order_id.as_deref()),
                    d1::opt_text(u.error.as_deref()),
                    d1::millis(u.audit.at),
                ],
            )?,
            self.audit(audit::INSERT_AUDIT_IF_CHANGED, &u.audit)?,
        ])
    }
}

impl PositionStore for D1Positions<'_> {
    async fn exits_paused_globally(&self) -> Result<bool, StoreError> {
        #[derive(serde::Deserialize)]
        struct Paused {
            paused: i64,
        }
        let rows: Vec<Paused> = self
            .rows(crate::risk::model::SELECT_EXITS_PAUSED, &[])
            .await?;
        Ok(rows.first().is_some_and(|r| r.paused != 0))
    }

    async fn begin_run(&self, at_ms: i64, lease_ms: i64) -> Result<Option<i64>, StoreError> {
        #[derive(serde::Deserialize)]
        struct Id {
            id: i64,
        }
        let rows: Vec<Id> = self
            .rows(m::BEGIN_RUN, &[d1::millis(at_ms), d1::int(lease_ms)])
            .await?;
        Ok(rows.first().map(|r| r.id))
    }

    async fn finish_run(&self, id: i64, at_ms: i64, o: &RunOutcome) -> Result<(), StoreError> {
        let statements = vec![
            self.st(
                m::FINISH_RUN,
                &[
                    d1::int(id),
                    d1::millis(at_ms),
                    d1::text(o.status),
                    d1::int(o.positions),
                    d1::int(o.marks_ok),
                    d1::int(o.marks_rejected),
                    d1::int(o.orders_placed),
                    d1::int(o.cancels),
                    d1::int(o.rows_written),
                    d1::opt_text(o.error.as_deref()),
                ],
            )?,
            self.st(m::PRUNE_RUNS, &[d1::int(self.2.sql_flag())])?,
        ];
        run_batch(self.0, statements, 0).await.map(|_| ())
    }

    async fn adoptable(&self, limit: u32) -> Result<Vec<AdoptableRow>, StoreError> {
        self.rows(m::SELECT_ADOPTABLE, &[d1::uint(limit)]).await
    }

    async fn adopt(&self, p: &NewPosition, a: &AuditEntry) -> Result<(bool, u64), StoreError> {
        let statements = vec![
            self.st(
                m::INSERT_POSITION,
                &[
                    d1::text(&p.key),
                    d1::int(p.proposal_id),
                    d1::text(&p.symbol),
                    d1::text(&p.strategy),
                    d1::text(&p.spec),
                    d1::text(&p.exit_plan),
                    d1::millis(p.entry_expires_at),
                    d1::millis(p.at),
                ],
            )?,
            self.st(
                m::INSERT_ENTRY_ORDER,
                &[
                    d1::text(&p.key),
                    d1::int(p.quantity),
                    d1::int(p.limit_micros),
                    d1::opt_text(p.broker_order_id.as_deref()),
                    d1::millis(p.at),
                ],
            )?,
            self.audit(audit::INSERT_AUDIT_IF_CHANGED, a)?,
        ];
        let (changes, written) = run_batch(self.0, statements, 0).await?;
        Ok((changes == 1, written))
    }

    async fn active_positions(&self) -> Result<Vec<PositionRow>, StoreError> {
        self.rows(&m::select_active_positions_sql(), &[]).await
    }

    async fn active_orders(&self) -> Result<Vec<OrderRow>, StoreError> {
        self.rows(&m::select_active_orders_sql(), &[]).await
    }

    async fn active_fills(&self) -> Result<Vec<FillRow>, StoreError> {
        self.rows(&m::select_active_fills_sql(), &[]).await
    }

    async fn write_position(&self, w: &PositionWrite) -> Result<u64, StoreError> {
        let mut s = Vec::new();
        let now_ms = w
            .audit
            .first()
            .map(|a| a.at)
            .or_else(|| w.mark.as_ref().map(|m| m.at))
            .or_else(|| w.orders.first().map(|o| o.audit.at))
            .unwrap_or(0);
        for f in &w.fills {
            s.push(self.st(
                m::INSERT_FILL,
                &[
                    d1::text(&f.exec_id),
                    d1::int(w.position_id),
                    d1::text(&f.order_key),
                    d1::text(&f.contract),
                    d1::int(f.quantity),
                    d1::int(f.price_micros),
                    opt_int(f.commission_micros),
                    d1::millis(f.time_ms),
                    d1::millis(now_ms),
                ],
            )?);
        }
        for (exec_id, c) in &w.commissions {
            s.push(self.st(m::SET_FILL_COMMISSION, &[d1::text(exec_id), d1::int(*c)])?);
        }
        for u in &w.orders {
            s.extend(self.order_update(m::UPDATE_ORDER, d1::int(u.id), u)?);
        }
        if let Some(p) = &w.position {
            s.push(
                self.st(
                    m::UPDATE_POSITION,
                    &[
                        d1::int(p.id),
                        d1::text(&p.status),
                        d1::text(&p.summary),
                        d1::int(p.realized_micros),
                        d1::text(&p.exit_state),
                        opt_int(p.opened_at),
                        opt_int(p.closed_at),
                        d1::opt_text(p.exit_reason.as_deref()),
                        opt_int(
                            p.exit_requested_at
                                .or(p.exit_reason.as_ref().map(|_| now_ms)),
                        ),
                        d1::millis(now_ms),
                        d1::text(&p.from_status),
                    ],
                )?,
            );
        }
        if let Some(mk) = &w.mark {
            s.push(self.st(
                m::INSERT_MARK,
                &[
                    d1::int(mk.position_id),
                    d1::millis(mk.at),
                    d1::int(i64::from(mk.ok)),
                    opt_int(mk.value_mid_micros),
                    opt_int(mk.value_natural_micros),
                    opt_int(mk.unrealized_mid_micros),
                    opt_int(mk.unrealized_natural_micros),
                    opt_int(mk.realized_micros),
                    opt_int(mk.pnl_per_unit_micros),
                    d1::text(&mk.decision),
                    d1::opt_text(mk.greeks.as_deref()),
                    opt_int(mk.dte),
                ],
            )?);
        }
        if w.compact_marks {
            s.push(self.st(
                m::COMPACT_MARKS,
                &[d1::int(w.position_id), d1::int(self.2.sql_flag())],
            )?);
        }
        for a in &w.audit {
            s.push(self.audit(audit::INSERT_AUDIT, a)?);
        }
        for e in &w.events {
            for st in crate::alerts::service::event_statements(self.1, e, now_ms, false) {
                s.push(super::alerts::prepare(self.0, &st).map_err(d1_err)?);
            }
        }
        Ok(run_batch(self.0, s, 0).await?.1)
    }

    async fn insert_exit_order(
        &self,
        o: &NewExitOrder,
        a: &AuditEntry,
    ) -> Result<(bool, u64), StoreError> {
        let statements = vec![
            self.st(
                m::INSERT_EXIT_ORDER,
                &[
                    d1::text(&o.key),
                    d1::int(o.position_id),
                    d1::int(o.attempt),
                    d1::text(&o.exit_reason),
                    d1::int(o.quantity),
                    d1::int(o.limit_micros),
                    d1::text(&o.request),
                    d1::millis(o.at),
                ],
            )?,
            self.audit(audit::INSERT_AUDIT_IF_CHANGED, a)?,
        ];
        let (changes, written) = run_batch(self.0, statements, 0).await?;
        Ok((changes == 1, written))
    }

    async fn update_order(&self, u: &OrderUpdate) -> Result<(bool, u64), StoreError> {
        let s = self.order_update(m::UPDATE_ORDER, d1::int(u.id), u)?;
        let (changes, written) = run_batch(self.0, s, 0).await?;
        Ok((changes == 1, written))
    }

    async fn update_order_by_key(
        &self,
        key: &str,
        u: &OrderUpdate,
    ) -> Result<(bool, u64), StoreError> {
        let s = self.order_update(m::UPDATE_ORDER_BY_KEY, d1::text(key), u)?;
        let (changes, written) = run_batch(self.0, s, 0).await?;
        Ok((changes == 1, written))
    }

    async fn reconciliation(&self) -> Result<ReconciliationRow, StoreError> {
        let mut rows: Vec<ReconciliationRow> = self.rows(m::SELECT_RECONCILIATION, &[]).await?;
        Ok(rows.pop().unwrap_or(ReconciliationRow {
            drifts: "[]".into(),
            ..ReconciliationRow::default()
        }))
    }

    async fn set_reconciliation(
        &self,
        at_ms: i64,
        drifts_json: &str,
        fingerprint: Option<&str>,
        entries: &[AuditEntry],
    ) -> Result<u64, StoreError> {
        let mut s = vec![self.st(
            m::SET_RECONCILIATION,
            &[
                d1::millis(at_ms),
                d1::text(drifts_json),
                d1::opt_text(fingerprint),
            ],
        )?];
        for e in entries {
            s.push(self.audit(audit::INSERT_AUDIT, e)?);
        }
        Ok(run_batch(self.0, s, 0).await?.1)
    }

    async fn insert_equity(
        &self,
        at_ms: i64,
        net_liquidation: Option<f64>,
        unrealized_mid_micros: i64,
        open_positions: i64,
        unmarked: i64,
    ) -> Result<u64, StoreError> {
        let s = vec![self.st(
            m::INSERT_EQUITY,
            &[
                d1::millis(at_ms),
                net_liquidation.map_or(D1Type::Null, D1Type::Real),
                d1::int(unrealized_mid_micros),
                d1::int(open_positions),
                d1::int(unmarked),
            ],
        )?];
        Ok(run_batch(self.0, s, 0).await?.1)
    }

    async fn positions(
        &self,
        status: Option<&str>,
        limit: u32,
    ) -> Result<Vec<PositionRow>, StoreError> {
        self.rows(
            &m::select_positions_sql(),
            &[d1::opt_text(status), d1::uint(limit)],
        )
        .await
    }

    async fn position(&self, id: i64) -> Result<Option<PositionRow>, StoreError> {
        Ok(self
            .rows(&m::select_position_sql(), &[d1::int(id)])
            .await?
            .pop())
    }

    async fn orders_of(&self, position_id: i64) -> Result<Vec<OrderRow>, StoreError> {
        self.rows(&m::select_orders_of_sql(), &[d1::int(position_id)])
            .await
    }

    async fn fills_of(&self, position_id: i64) -> Result<Vec<FillRow>, StoreError> {
        self.rows(&m::select_fills_of_sql(), &[d1::int(position_id)])
            .await
    }

    async fn marks_of(&self, position_id: i64, limit: u32) -> Result<Vec<MarkRow>, StoreError> {
        self.rows(
            &m::select_marks_of_sql(),
            &[d1::int(position_id), d1::uint(limit)],
        )
        .await
    }

    async fn latest_marks(&self, ids: &[i64]) -> Result<Vec<MarkRow>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let list = serde_json::to_string(ids).unwrap_or_else(|_| "[]".into());
        self.rows(&m::select_latest_marks_sql(), &[d1::text(&list)])
            .await
    }

    async fn orders(&self, limit: u32) -> Result<Vec<OrderRow>, StoreError> {
        self.rows(&m::select_orders_sql(), &[d1::uint(limit)]).await
    }

    async fn equity(&self, since_ms: i64, limit: u32) -> Result<Vec<EquityRow>, StoreError> {
        self.rows(m::SELECT_EQUITY, &[d1::millis(since_ms), d1::uint(limit)])
            .await
    }

    async fn runs(&self, limit: u32) -> Result<Vec<MonitorRunRow>, StoreError> {
        self.rows(m::SELECT_RUNS, &[d1::uint(limit)]).await
    }

    async fn request_close(
        &self,
        id: i64,
        at_ms: i64,
        actor: &str,
        a: &AuditEntry,
    ) -> Result<bool, StoreError> {
        let s = vec![
            self.st(
                m::REQUEST_CLOSE,
                &[d1::int(id), d1::millis(at_ms), d1::text(actor)],
            )?,
            self.audit(audit::INSERT_AUDIT_IF_CHANGED, a)?,
        ];
        Ok(run_batch(self.0, s, 0).await?.0 == 1)
    }

    async fn set_exits_paused(
        &self,
        id: i64,
        paused: bool,
        at_ms: i64,
        a: &AuditEntry,
    ) -> Result<bool, StoreError> {
        let s = vec![
            self.st(
                m::SET_EXITS_PAUSED,
                &[d1::int(id), d1::int(i64::from(paused)), d1::millis(at_ms)],
            )?,
            self.audit(audit::INSERT_AUDIT_IF_CHANGED, a)?,
        ];
        Ok(run_batch(self.0, s, 0).await?.0 == 1)
    }

    async fn ack_reconciliation(
        &self,
        fingerprint: &str,
        at_ms: i64,
        actor: &str,
        a: &AuditEntry,
    ) -> Result<bool, StoreError> {
        let s = vec![
            self.st(
                m::ACK_RECONCILIATION,
                &[d1::text(fingerprint), d1::millis(at_ms), d1::text(actor)],
            )?,
            self.audit(audit::INSERT_AUDIT_IF_CHANGED, a)?,
        ];
        Ok(run_batch(self.0, s, 0).await?.0 == 1)
    }
}

fn log(event: &str, value: serde_json::Value) {
    if event.ends_with("_error") || event.ends_with("_failed") {
        console_error!("{}", serde_json::json!({ "event": event, "detail": value }));
    } else {
        console_log!("{}", serde_json::json!({ "event": event, "detail": value }));
    }
}

/// The reconciliation drift as an alert condition (`None` when unreadable).
pub async fn drift_observation(
    db: &D1Database,
    at_ms: i64,
) -> Option<sas_core::alerts::ConditionObservation> {
    let row = D1Positions(
        db,
        &crate::config::alerts::AlertsConfig::default(),
        crate::config::archive::PruneGate::AcknowledgedOnly,
    )
    .reconciliation()
    .await
    .ok()?;
    Some(sas_core::alerts::ConditionObservation {
        kind: sas_core::alerts::AlertKind::ReconciliationDrift,
        subject: "books".into(),
        active: row.standing(),
        detail: format!(
            "{} difference(s) with the broker's positions",
            row.drifts().len()
        ),
        at_ms,
    })
}

/// One run of the position monitor (the every-minute cron).
pub async fn monitor(db: &D1Database, cfg: &Config, clock: super::RunClock) -> RunReport {
    let store = D1Positions(db, &cfg.alerts, cfg.archive.prune_gate());
    let bridge = FetchBridge(cfg);
    let run_now = move || clock.now();
    let m = Monitor {
        store: &store,
        bridge: &bridge,
        cfg,
        now: &run_now,
        log: &log,
    };
    let started = now();
    let report = m.run().await;
    console_log!(
        "{}",
        serde_json::json!({ "event": "monitor_run", "report": report,
            "ms": (now() - started).num_milliseconds() })
    );
    report
}

fn reply(r: Reply) -> Response {
    match r {
        Reply::Json(status, text) => super::raw_json_response(status, text),
        Reply::Error(e) => error_response(&e),
        Reply::Internal(context) => {
            console_error!(
                "{}",
                serde_json::json!({ "event": "positions_error", "error": context })
            );
            error_response(&ApiError::internal())
        }
    }
}

fn answer<T: serde::Serialize>(r: Result<T, crate::positions::PositionsError>) -> Response {
    match r {
        Ok(v) => json_response(200, &v),
        Err(e) => reply(view::error_reply(&e)),
    }
}

/// Serves the positions API.
pub async fn handle(
    route: PositionRoute,
    req: &mut Request,
    db: &D1Database,
    cfg: &Config,
    principal: &Principal,
) -> Response {
    let store = D1Positions(db, &cfg.alerts, cfg.archive.prune_gate());
    let actor = actor_label(principal);
    let at = now();
    match route {
        PositionRoute::List { status, limit } => answer(
            service::list(&store, status, limit)
                .await
                .map(|positions| serde_json::json!({ "positions": positions })),
        ),
        PositionRoute::Get { id } => {
            answer(service::detail(&store, id, at, cfg.positions.exits.stop_confirmations).await)
        }
        PositionRoute::Close { id } => {
            match read_body(req).await.and_then(|b| view::parse_close(&b)) {
                Err(e) => error_response(&e),
                Ok(body) => match service::request_close(
                    &store,
                    id,
                    &actor,
                    body.note.as_deref(),
                    at.timestamp_millis(),
                )
                .await
                {
                    Ok(p) => json_response(
                        202,
                        &serde_json::json!({ "position": p,
                    "message": "closing: the monitor places the closing order on its next run" }),
                    ),
                    Err(e) => reply(view::error_reply(&e)),
                },
            }
        }
        PositionRoute::Exits { id } => {
            match read_body(req).await.and_then(|b| view::parse_exits(&b)) {
                Err(e) => error_response(&e),
                Ok(body) => answer(
                    service::set_exits_paused(
                        &store,
                        id,
                        body.paused,
                        &actor,
                        &body.reason,
                        at.timestamp_millis(),
                    )
                    .await
                    .map(|p| serde_json::json!({ "position": p })),
                ),
            }
        }
        PositionRoute::Orders { limit } => answer(
            service::orders(&store, limit)
                .await
                .map(|orders| serde_json::json!({ "orders": orders })),
        ),
        PositionRoute::Pnl { days } => answer(service::pnl(&store, days, at).await),
        PositionRoute::Runs { limit } => answer(
            service::runs(&store, limit)
                .await
                .map(|runs| serde_json::json!({ "runs": runs })),
        ),
        PositionRoute::Reconciliation => answer(service::reconciliation(&store).await),
        PositionRoute::AckReconciliation => {
            match read_body(req).await.and_then(|b| view::parse_ack(&b)) {
                Err(e) => error_response(&e),
                Ok(body) => answer(
                    service::acknowledge(
                        &store,
                        &body.fingerprint,
                        &actor,
                        &body.note,
                        at.timestamp_millis(),
                    )
                    .await,
                ),
            }
        }
    }
}
