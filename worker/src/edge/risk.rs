//! The risk engine on the Workers runtime: [`RiskStore`] over D1 (each
//! method binds the SQL of [`crate::risk::model`]; every change and its
//! audit rows in one batch), the evaluation step the monitor cron calls, and
//! the risk API handler (dispatched by `edge/mod.rs`; the monitor cron
//! evaluates the trading state after each run).

use worker::{
    console_error, console_log, D1Database, D1PreparedStatement, D1Type, Request, Response,
};

use super::proposals::audit_statement;
use super::{d1, error_response, json_response, now, read_body};
use crate::audit::{self, actor_label, AuditEntry};
use crate::auth::Principal;
use crate::chains::model::{StoredBarsRow, SELECT_DAILY_BARS};
use crate::config::risk::WorkerRiskConfig;
use crate::http::approvals::Reply;
use crate::http::error::ApiError;
use crate::http::risk::{self as view, RiskRoute};
use crate::positions::model::{
    select_active_orders_sql, select_active_positions_sql, OrderRow, PositionRow,
    ReconciliationRow, SELECT_RECONCILIATION,
};
use crate::risk::model::{
    self as m, ApprovedRow, ClosedTradeRow, DailyEquityRow, EquityPoints, OkMarkRow, OpenMarkRow,
    RiskStateRow, StopOutRow, StrategySwitchRow, TradeFillRow,
};
use crate::risk::service;
use crate::risk::shadow::{
    self, CandidateRow, ChainRow, NewShadow, ShadowRow, ShadowStore, ShadowUpdate,
};
use crate::risk::store::{RiskStore, StateWrite, StoreError, SwitchWrite};
use crate::risk::view::StateChange;
use crate::risk::RiskError;
use crate::settings::{KillSwitchRow, SELECT_KILL_SWITCH};

/// The risk store over D1.
pub struct D1Risk<'a>(pub &'a D1Database);

fn d1_err(e: worker::Error) -> StoreError {
    StoreError(e.to_string())
}

/// Runs a batch (one transaction); the changes of its first statement.
async fn run_batch(
    db: &D1Database,
    statements: Vec<D1PreparedStatement>,
) -> Result<usize, StoreError> {
    if statements.is_empty() {
        return Ok(0);
    }
    let results = db.batch(statements).await.map_err(d1_err)?;
    Ok(results
        .first()
        .and_then(|r| r.meta().ok().flatten())
        .and_then(|m| m.changes)
        .unwrap_or(0))
}

impl D1Risk<'_> {
    fn st(&self, sql: &str, params: &[D1Type<'_>]) -> Result<D1PreparedStatement, StoreError> {
        d1::statement(self.0, sql, params).map_err(d1_err)
    }

    fn audit_if_changed(&self, e: &AuditEntry) -> Result<D1PreparedStatement, StoreError> {
        audit_statement(self.0, audit::INSERT_AUDIT_IF_CHANGED, e).map_err(d1_err)
    }

    async fn rows<T: serde::de::DeserializeOwned>(
        &self,
        sql: &str,
        params: &[D1Type<'_>],
    ) -> Result<Vec<T>, StoreError> {
        d1::rows(self.0, sql, params).await.map_err(d1_err)
    }
}

impl RiskStore for D1Risk<'_> {
    async fn risk_state(&self) -> Result<Option<RiskStateRow>, StoreError> {
        Ok(self.rows(m::SELECT_STATE, &[]).await?.into_iter().next())
    }

    async fn write_state(&self, w: &StateWrite) -> Result<bool, StoreError> {
        let mut s = vec![self.st(
            m::UPDATE_STATE,
            &[
                d1::text(&w.state_json),
                d1::text(w.mode),
                d1::int(w.expected_version),
                d1::millis(w.at_ms),
                d1::text(&w.actor),
                w.evaluated_at.map_or(D1Type::Null, d1::millis),
            ],
        )?];
        if let Some(on) = w.kill_switch {
            s.push(self.st(
                m::SET_KILL_SWITCH_IF_CHANGED,
                &[
                    d1::text(if on { "on" } else { "off" }),
                    d1::millis(w.at_ms),
                    d1::text(&w.actor),
                ],
            )?);
        }
        for a in &w.audit {
            s.push(self.audit_if_changed(a)?);
        }
        Ok(run_batch(self.0, s).await? == 1)
    }

    async fn kill_switch(&self) -> Result<Option<KillSwitchRow>, StoreError> {
        Ok(self.rows(SELECT_KILL_SWITCH, &[]).await?.into_iter().next())
    }

    async fn equity_points(&self, day_start_ms: i64) -> Result<EquityPoints, StoreError> {
        Ok(self
            .rows(m::SELECT_EQUITY_POINTS, &[d1::millis(day_start_ms)])
            .await?
            .into_iter()
            .next()
            .unwrap_or_default())
    }

    async fn open_mark_ages(&self) -> Result<Vec<OpenMarkRow>, StoreError> {
        self.rows(m::SELECT_OPEN_MARK_AGES, &[]).await
    }

    async fn reconciliation(&self) -> Result<Option<ReconciliationRow>, StoreError> {
        Ok(self
            .rows(SELECT_RECONCILIATION, &[])
            .await?
            .into_iter()
            .next())
    }

    async fn last_ok_run(&self) -> Result<Option<i64>, StoreError> {
        #[derive(serde::Deserialize)]
        struct At {
            at: Option<i64>,
        }
        let rows: Vec<At> = self.rows(m::SELECT_LAST_OK_RUN, &[]).await?;
        Ok(rows.into_iter().next().and_then(|r| r.at))
    }

    async fn stop_outs(&self, since_ms: i64) -> Result<Vec<StopOutRow>, StoreError> {
        self.rows(m::SELECT_STOP_OUTS, &[d1::millis(since_ms)])
            .await
    }

    async fn switches(&self) -> Result<Vec<StrategySwitchRow>, StoreError> {
        self.rows(m::SELECT_SWITCHES, &[]).await
    }

    async fn set_switch(&self, w: &SwitchWrite) -> Result<bool, StoreError> {
        let s = vec![
            self.st(
                m::SET_SWITCH,
                &[
                    d1::text(&w.strategy),
                    d1::int(i64::from(w.enabled)),
                    d1::text(&w.reason),
                    d1::millis(w.at_ms),
                    d1::text(&w.actor),
                ],
            )?,
            self.audit_if_changed(&w.audit)?,
        ];
        Ok(run_batch(self.0, s).await? == 1)
    }

    async fn live_approved(&self) -> Result<Vec<ApprovedRow>, StoreError> {
        self.rows(m::SELECT_LIVE_APPROVED, &[]).await
    }

    async fn active_positions(&self) -> Result<Vec<PositionRow>, StoreError> {
        self.rows(&select_active_positions_sql(), &[]).await
    }

    async fn active_orders(&self) -> Result<Vec<OrderRow>, StoreError> {
        self.rows(&select_active_orders_sql(), &[]).await
    }

    async fn open_ok_marks(&self) -> Result<Vec<OkMarkRow>, StoreError> {
        self.rows(m::SELECT_OPEN_OK_MARKS, &[]).await
    }

    async fn daily_bars(&self, symbols: &[String]) -> Result<Vec<StoredBarsRow>, StoreError> {
        let list = serde_json::to_string(symbols).map_err(|e| StoreError(e.to_string()))?;
        self.rows(SELECT_DAILY_BARS, &[d1::text(&list)]).await
    }

    async fn closed_trades(
        &self,
        from_ms: i64,
        to_ms: i64,
        limit: u32,
    ) -> Result<Vec<ClosedTradeRow>, StoreError> {
        self.rows(
            m::SELECT_CLOSED_TRADES,
            &[d1::millis(from_ms), d1::millis(to_ms), d1::uint(limit)],
        )
        .await
    }

    async fn fills_of(&self, position_ids: &[i64]) -> Result<Vec<TradeFillRow>, StoreError> {
        let list = serde_json::to_string(position_ids).map_err(|e| StoreError(e.to_string()))?;
        self.rows(m::SELECT_FILLS_OF, &[d1::text(&list)]).await
    }

    async fn daily_equity(
        &self,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<DailyEquityRow>, StoreError> {
        self.rows(
            m::SELECT_DAILY_EQUITY,
            &[d1::millis(from_ms), d1::millis(to_ms)],
        )
        .await
    }
}

fn opt_int(v: Option<i64>) -> D1Type<'static> {
    v.map_or(D1Type::Null, d1::int)
}

impl ShadowStore for D1Risk<'_> {
    async fn new_candidates(&self, limit: u32) -> Result<Vec<CandidateRow>, StoreError> {
        self.rows(shadow::SELECT_NEW_CANDIDATES, &[d1::uint(limit)])
            .await
    }

    async fn insert_shadows(&self, rows: &[NewShadow]) -> Result<(), StoreError> {
        let mut s = Vec::with_capacity(rows.len());
        for r in rows {
            s.push(self.st(
                shadow::INSERT_SHADOW,
                &[
                    d1::int(r.proposal_id),
                    d1::text(&r.key),
                    d1::text(&r.symbol),
                    d1::text(&r.strategy),
                    d1::text(&r.decision),
                    d1::millis(r.decided_at),
                    d1::int(r.units),
                    r.entry_mid.map_or(D1Type::Null, D1Type::Real),
                    d1::text(r.status),
                    d1::text(&r.spec),
                    d1::text(&r.progress),
                    d1::text(&r.outcome),
                    D1Type::Null,
                    d1::millis(r.at_ms),
                ],
            )?);
        }
        run_batch(self.0, s).await.map(|_| ())
    }

    async fn following(&self, limit: u32) -> Result<Vec<ShadowRow>, StoreError> {
        self.rows(&shadow::select_following_sql(), &[d1::uint(limit)])
            .await
    }

    async fn chain_after(
        &self,
        symbol: &str,
        expiries: &[String],
        after_ts: i64,
        limit: u32,
    ) -> Result<Vec<ChainRow>, StoreError> {
        let list = serde_json::to_string(expiries).map_err(|e| StoreError(e.to_string()))?;
        self.rows(
            shadow::SELECT_CHAIN_AFTER,
            &[
                d1::text(symbol),
                d1::text(&list),
                d1::millis(after_ts),
                d1::uint(limit),
            ],
        )
        .await
    }

    async fn update_shadow(&self, u: &ShadowUpdate) -> Result<bool, StoreError> {
        let s = vec![self.st(
            shadow::UPDATE_SHADOW,
            &[
                d1::int(u.proposal_id),
                d1::text(u.status),
                d1::text(&u.progress),
                d1::text(&u.outcome),
                opt_int(u.mark_at),
                opt_int(u.value_mid_micros),
                opt_int(u.value_natural_micros),
                opt_int(u.pnl_mid_micros),
                opt_int(u.pnl_natural_micros),
                d1::opt_text(u.exit_reason.as_deref()),
                d1::millis(u.at_ms),
            ],
        )?];
        Ok(run_batch(self.0, s).await? == 1)
    }

    async fn shadows(
        &self,
        from_ms: i64,
        to_ms: i64,
        limit: u32,
    ) -> Result<Vec<ShadowRow>, StoreError> {
        self.rows(
            &shadow::select_shadows_sql(),
            &[d1::millis(from_ms), d1::millis(to_ms), d1::uint(limit)],
        )
        .await
    }
}

/// The shadow follower's step of the 15-minute cron (after the chain and
/// proposal steps): logged, never fails the run.
pub async fn shadow_step(db: &D1Database, cfg: &crate::config::Config, clock: super::RunClock) {
    let store = D1Risk(db);
    let at = clock.now();
    match shadow::follow_step(&store, &cfg.positions.mark, &cfg.positions.exits, at).await {
        Ok(r) => console_log!(
            "{}",
            serde_json::json!({ "event": "shadow_step", "report": r })
        ),
        Err(e) => console_error!(
            "{}",
            serde_json::json!({ "event": "shadow_step_failed", "error": e.to_string() })
        ),
    }
}

/// One evaluation of the trading state (the monitor cron calls it each run,
/// after the monitor stored its equity snapshot and reconciliation). Logged;
/// a failure leaves the stored state as it was and approvals evaluate afresh
/// anyway.
pub async fn evaluate(
    db: &D1Database,
    cfg: &WorkerRiskConfig,
    clock: super::RunClock,
) -> Result<StateChange, RiskError> {
    let store = D1Risk(db);
    let result = service::evaluate_and_store(&store, cfg, clock.now()).await;
    match &result {
        Ok(c) if !c.changes.is_empty() => console_log!(
            "{}",
            serde_json::json!({ "event": "risk_state_changed", "mode": c.state.mode,
                "changes": c.changes })
        ),
        Ok(_) => {}
        Err(e) => console_error!(
            "{}",
            serde_json::json!({ "event": "risk_evaluation_failed", "error": e.to_string() })
        ),
    }
    result
}

fn reply(r: Reply) -> Response {
    match r {
        Reply::Json(status, text) => super::raw_json_response(status, text),
        Reply::Error(e) => error_response(&e),
        Reply::Internal(context) => {
            console_error!(
                "{}",
                serde_json::json!({ "event": "risk_error", "error": context })
            );
            error_response(&ApiError::internal())
        }
    }
}

fn answer<T: serde::Serialize>(r: Result<T, RiskError>) -> Response {
    match r {
        Ok(v) => json_response(200, &v),
        Err(e) => reply(view::error_reply(&e)),
    }
}

/// Serves the risk API.
pub async fn handle(
    route: RiskRoute,
    req: &mut Request,
    db: &D1Database,
    cfg: &WorkerRiskConfig,
    principal: &Principal,
) -> Response {
    let store = D1Risk(db);
    let actor = actor_label(principal);
    let at = now();
    match route {
        RiskRoute::Overview => answer(service::overview(&store, cfg, at).await),
        RiskRoute::SetState => match read_body(req).await.and_then(|b| view::parse_set_state(&b)) {
            Err(e) => error_response(&e),
            Ok(body) => answer(
                service::set_state(&store, &actor, body.state, &body.reason, &body.clear, at).await,
            ),
        },
        RiskRoute::Strategies => answer(
            service::strategies(&store)
                .await
                .map(|s| serde_json::json!({ "strategies": s })),
        ),
        RiskRoute::SetStrategy => match read_body(req).await.and_then(|b| view::parse_strategy(&b))
        {
            Err(e) => error_response(&e),
            Ok(body) => answer(
                service::set_strategy(
                    &store,
                    &actor,
                    &body.strategy,
                    body.enabled,
                    &body.reason,
                    at,
                )
                .await,
            ),
        },
        RiskRoute::Performance { from, to } => match view::performance_range(from, to, at) {
            Err(e) => error_response(&e),
            Ok((from_ms, to_ms)) => answer(service::performance(&store, from_ms, to_ms).await),
        },
        RiskRoute::Shadow { from, to } => match view::performance_range(from, to, at) {
            Err(e) => error_response(&e),
            Ok((from_ms, to_ms)) => answer(shadow::list(&store, from_ms, to_ms).await),
        },
        RiskRoute::SetExits => match read_body(req).await.and_then(|b| view::parse_exits(&b)) {
            Err(e) => error_response(&e),
            Ok(body) => {
                answer(service::set_exits(&store, &actor, body.paused, &body.reason, at).await)
            }
        },
    }
}
