//! Alerts on the Workers runtime: the [`AlertStore`] over D1, the
//! [`AlertSender`] over `fetch` (with an abort timeout), the cron step and
//! the `GET /alerts` / `POST /alerts/test` replies. The workflows are
//! [`crate::alerts::service`]; nothing here decides anything.

use sas_core::alerts::{ChannelAnswer, ConditionObservation, HttpRequest, SendFailure};
use wasm_bindgen::JsValue;
use worker::{
    console_error, console_log, AbortSignal, D1Database, D1PreparedStatement, D1Type, Fetch,
    Headers, Method, Request, RequestInit, Response,
};

use super::{d1, error_response, now, raw_json_response};
use crate::alerts::model::{self, AlertRow, ConditionRow, DueDelivery, Param, RecentSend};
use crate::alerts::service::{self, AlertSender, AlertsError, Deps};
use crate::alerts::store::{AlertStore, ConditionWrite, DeliveryRecord, NewAlert, StoreError};
use crate::alerts::watch::{
    self, ArchiveState, BridgeHealth, DailyFigures, DataTypeRow, WatchSource, WatchedOrderRow,
};
use crate::config::alerts::AlertsConfig;
use crate::http::error::ApiError;

/// Longest channel answer body kept (for `retry_after` and the error), bytes.
const MAX_ANSWER_BYTES: usize = 4_096;

fn d1_err(e: worker::Error) -> StoreError {
    StoreError(e.to_string())
}

fn log(event: &str, value: serde_json::Value) {
    console_log!("{}", serde_json::json!({ "event": event, "detail": value }));
}

fn log_error(context: &str, e: &dyn std::fmt::Display) {
    console_error!(
        "{}",
        serde_json::json!({ "event": "alerts_error", "context": context, "error": e.to_string() })
    );
}

fn typed(p: &Param) -> D1Type<'_> {
    match p {
        Param::Text(t) => D1Type::Text(t),
        Param::Int(n) => d1::int(*n),
        Param::Null => D1Type::Null,
    }
}

pub(super) fn prepare(
    db: &D1Database,
    st: &model::Statement,
) -> worker::Result<D1PreparedStatement> {
    let params: Vec<D1Type<'_>> = st.params.iter().map(typed).collect();
    d1::statement(db, st.sql, &params)
}

/// Runs `statements` as one batch; the rows changed by statement `index`.
async fn batch_changes(
    db: &D1Database,
    statements: &[model::Statement],
    index: usize,
) -> Result<usize, StoreError> {
    let prepared = statements
        .iter()
        .map(|s| prepare(db, s))
        .collect::<worker::Result<Vec<_>>>()
        .map_err(d1_err)?;
    let results = db.batch(prepared).await.map_err(d1_err)?;
    Ok(results
        .get(index)
        .and_then(|r| r.meta().ok().flatten())
        .and_then(|m| m.changes)
        .unwrap_or(0))
}

/// One statement alone; the rows it changed.
async fn run_one(
    db: &D1Database,
    sql: &'static str,
    params: Vec<Param>,
) -> Result<bool, StoreError> {
    Ok(batch_changes(db, &[model::Statement { sql, params }], 0).await? == 1)
}

/// The alert store over D1: each method binds its SQL constant.
pub struct D1Alerts<'a>(pub &'a D1Database);

impl AlertStore for D1Alerts<'_> {
    async fn enqueue(&self, new: &NewAlert<'_>) -> Result<bool, StoreError> {
        let statements = model::enqueue_statements(new.alert, new.channels, new.now_ms, false);
        Ok(batch_changes(self.0, &statements, 0).await? == 1)
    }

    async fn has_alert(&self, key: &str) -> Result<bool, StoreError> {
        #[derive(serde::Deserialize)]
        struct N {
            n: i64,
        }
        let rows: Vec<N> = d1::rows(self.0, model::SELECT_ALERT_EXISTS, &[d1::text(key)])
            .await
            .map_err(d1_err)?;
        Ok(rows.first().is_some_and(|r| r.n > 0))
    }

    async fn condition(
        &self,
        kind: &str,
        subject: &str,
    ) -> Result<Option<ConditionRow>, StoreError> {
        let mut rows: Vec<ConditionRow> = d1::rows(
            self.0,
            model::SELECT_CONDITION,
            &[d1::text(kind), d1::text(subject)],
        )
        .await
        .map_err(d1_err)?;
        Ok(rows.pop())
    }

    async fn conditions(&self) -> Result<Vec<ConditionRow>, StoreError> {
        d1::rows(self.0, model::SELECT_CONDITIONS, &[])
            .await
            .map_err(d1_err)
    }

    async fn write_condition(&self, w: &ConditionWrite<'_>) -> Result<bool, StoreError> {
        let mut statements = vec![model::condition_statement(w.state, w.expected_version)];
        if let Some(new) = &w.alert {
            // Stored only if the compare-and-set just before it won.
            statements.extend(model::enqueue_statements(
                new.alert,
                new.channels,
                new.now_ms,
                true,
            ));
        }
        Ok(batch_changes(self.0, &statements, 0).await? == 1)
    }

    async fn due_deliveries(
        &self,
        now_ms: i64,
        limit: u32,
        only_key: Option<&str>,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        d1::rows(
            self.0,
            model::SELECT_DUE_DELIVERIES,
            &[d1::millis(now_ms), d1::uint(limit), d1::opt_text(only_key)],
        )
        .await
        .map_err(d1_err)
    }

    async fn recent_sends(&self, since_ms: i64) -> Result<Vec<RecentSend>, StoreError> {
        d1::rows(self.0, model::SELECT_RECENT_SENDS, &[d1::millis(since_ms)])
            .await
            .map_err(d1_err)
    }

    async fn claim(
        &self,
        id: i64,
        now_ms: i64,
        lease_until_ms: i64,
        attempts_read: i64,
    ) -> Result<bool, StoreError> {
        run_one(
            self.0,
            model::CLAIM_DELIVERY,
            vec![
                Param::Int(id),
                Param::Int(now_ms),
                Param::Int(lease_until_ms),
                Param::Int(attempts_read),
            ],
        )
        .await
    }

    async fn defer(
        &self,
        id: i64,
        now_ms: i64,
        until_ms: i64,
        attempts_read: i64,
    ) -> Result<bool, StoreError> {
        run_one(
            self.0,
            model::DEFER_DELIVERY,
            vec![
                Param::Int(id),
                Param::Int(now_ms),
                Param::Int(until_ms),
                Param::Int(attempts_read),
            ],
        )
        .await
    }

    async fn record(&self, r: &DeliveryRecord) -> Result<bool, StoreError> {
        run_one(
            self.0,
            model::RECORD_DELIVERY,
            vec![
                Param::Int(r.id),
                Param::Int(r.now_ms),
                Param::Int(r.attempts),
                Param::Text(r.state.as_str().to_owned()),
                r.next_attempt_at.map_or(Param::Null, Param::Int),
                r.status.map_or(Param::Null, |s| Param::Int(i64::from(s))),
                r.error.clone().map_or(Param::Null, Param::Text),
            ],
        )
        .await
    }

    async fn alerts(&self, limit: u32) -> Result<Vec<AlertRow>, StoreError> {
        d1::rows(self.0, model::SELECT_ALERTS, &[d1::uint(limit)])
            .await
            .map_err(d1_err)
    }

    async fn prune(&self, before_ms: i64) -> Result<(), StoreError> {
        let statements = [
            model::Statement {
                sql: model::PRUNE_DELIVERIES,
                params: vec![Param::Int(before_ms)],
            },
            model::Statement {
                sql: model::PRUNE_ALERTS,
                params: vec![Param::Int(before_ms)],
            },
        ];
        batch_changes(self.0, &statements, 1).await.map(|_| ())
    }
}

/// Channel requests over Workers `fetch`, each bounded by an abort timeout
/// that also covers reading the answer. Errors never quote the URL.
pub struct FetchAlertSender;

impl AlertSender for FetchAlertSender {
    async fn send(
        &self,
        request: &HttpRequest,
        timeout_ms: u32,
    ) -> Result<ChannelAnswer, SendFailure> {
        let headers = Headers::new();
        for (name, value) in &request.headers {
            headers
                .set(name, value.expose())
                .map_err(|_| SendFailure::Network(format!("header {name} refused")))?;
        }
        let mut init = RequestInit::new();
        init.with_method(Method::Post)
            .with_headers(headers)
            .with_body(Some(JsValue::from_str(&request.body)));
        let req = Request::new_with_init(request.url.expose(), &init)
            .map_err(|_| SendFailure::Network("the request could not be built".into()))?;
        let signal = AbortSignal::from(worker::web_sys::AbortSignal::timeout_with_u32(timeout_ms));
        let classify = |e: worker::Error, signal: &AbortSignal| {
            if signal.aborted() {
                SendFailure::Timeout {
                    after_ms: timeout_ms,
                }
            } else {
                // The service redacts the channel's secrets from this text.
                SendFailure::Network(crate::config::truncate(&e.to_string(), 160))
            }
        };
        let mut response = Fetch::Request(req)
            .send_with_signal(&signal)
            .await
            .map_err(|e| classify(e, &signal))?;
        let status = response.status_code();
        let retry_after_header = response.headers().get("Retry-After").ok().flatten();
        let mut body = response.text().await.map_err(|e| classify(e, &signal))?;
        if body.len() > MAX_ANSWER_BYTES {
            let mut cut = MAX_ANSWER_BYTES;
            while !body.is_char_boundary(cut) {
                cut -= 1;
            }
            body.truncate(cut);
        }
        Ok(ChannelAnswer {
            status,
            retry_after_header,
            body,
        })
    }
}

/// The cron step: observe the conditions the run computed, deliver what is
/// due, prune old alerts. Failures are logged; the run goes on.
pub async fn cron(
    db: &D1Database,
    cfg: &AlertsConfig,
    observations: &[ConditionObservation],
    clock: super::RunClock,
) {
    let store = D1Alerts(db);
    let now = move || clock.now();
    for obs in observations {
        if let Err(e) = service::observe_condition(&store, cfg, obs).await {
            log_error("observe condition", &e);
        }
    }
    let deps = Deps {
        store: &store,
        sender: &FetchAlertSender,
        cfg,
        now: &now,
        log: &log,
    };
    if let Err(e) = service::cron_step(&deps).await {
        log_error("deliver alerts", &e);
    }
}

fn reply_error(e: &AlertsError) -> Response {
    match e {
        AlertsError::NoChannels => error_response(&ApiError::new(
            409,
            "no_channels",
            "no alert channel is configured",
        )),
        AlertsError::Store { .. } => {
            log_error("alerts", e);
            error_response(&ApiError::internal())
        }
    }
}

/// `GET /alerts?limit=N` (1..=200, default 50).
pub async fn list(db: &D1Database, cfg: &AlertsConfig, limit: Option<u32>) -> Response {
    match service::list_alerts(&D1Alerts(db), cfg, limit).await {
        Ok(v) => raw_json_response(200, v.to_string()),
        Err(e) => reply_error(&e),
    }
}

/// `POST /alerts/test` by `actor` (the audit label of the caller).
pub async fn test(db: &D1Database, cfg: &AlertsConfig, actor: &str) -> Response {
    let store = D1Alerts(db);
    let deps = Deps {
        store: &store,
        sender: &FetchAlertSender,
        cfg,
        now: &now,
        log: &log,
    };
    match service::send_test(&deps, actor).await {
        Ok(report) => raw_json_response(200, service::test_view(&report).to_string()),
        Err(e) => reply_error(&e),
    }
}

// ---------------------------------------------------------------------------
// Watch steps (the crons)
// ---------------------------------------------------------------------------

/// Bound on the watch's `GET /health` to the bridge, ms.
const WATCH_BRIDGE_TIMEOUT_MS: u32 = 2_000;

/// What the watch steps read: D1, the bridge's `/health`, the export's state.
pub struct EdgeWatch<'a> {
    pub db: &'a D1Database,
    pub cfg: &'a crate::config::Config,
}

impl WatchSource for EdgeWatch<'_> {
    async fn bridge_health(&self) -> Option<BridgeHealth> {
        let timeout = self.cfg.bridge_timeout_ms.min(WATCH_BRIDGE_TIMEOUT_MS);
        // A disconnected bridge answers 503 with the same body.
        let answer = super::bridge::get(self.cfg, "/health", false, timeout)
            .await
            .ok()?;
        serde_json::from_str(&answer.body).ok()
    }

    async fn watched_orders(
        &self,
        rejected_since_ms: i64,
    ) -> Result<Vec<WatchedOrderRow>, StoreError> {
        d1::rows(
            self.db,
            watch::SELECT_WATCHED_ORDERS,
            &[d1::millis(rejected_since_ms)],
        )
        .await
        .map_err(d1_err)
    }

    async fn daily_figures(&self, start_ms: i64, end_ms: i64) -> Result<DailyFigures, StoreError> {
        let mut rows: Vec<DailyFigures> = d1::rows(
            self.db,
            watch::SELECT_DAILY_FIGURES,
            &[d1::millis(start_ms), d1::millis(end_ms)],
        )
        .await
        .map_err(d1_err)?;
        Ok(rows.pop().unwrap_or_default())
    }

    async fn latest_data_types(&self, since_ms: i64) -> Result<Vec<DataTypeRow>, StoreError> {
        d1::rows(
            self.db,
            watch::SELECT_LATEST_DATA_TYPES,
            &[d1::millis(since_ms)],
        )
        .await
        .map_err(d1_err)
    }

    async fn archive(&self) -> ArchiveState {
        let a = super::export::archive_health(Some(self.db), &self.cfg.archive).await;
        ArchiveState {
            configured: a.configured,
            ok: a.ok,
            warning: a.warning,
        }
    }
}

fn log_watch(step: &str, report: &watch::WatchReport) {
    for e in &report.errors {
        log_error(step, e);
    }
    if !report.enqueued.is_empty() {
        log(step, serde_json::to_value(report).unwrap_or_default());
    }
}

/// The every-minute watch (order rejected or stuck, IB degraded, the reset
/// window, the weekly re-login, the daily summary); runs whether the
/// market is open or not.
pub async fn watch_minute(db: &D1Database, cfg: &crate::config::Config, clock: super::RunClock) {
    let source = EdgeWatch { db, cfg };
    let report = watch::watch_minute(&D1Alerts(db), &source, &cfg.alerts, clock.now()).await;
    log_watch("alerts_watch", &report);
}

/// The ingestion cron's watch (data delayed per symbol, archive behind).
pub async fn watch_ingest(db: &D1Database, cfg: &crate::config::Config, clock: super::RunClock) {
    let source = EdgeWatch { db, cfg };
    let report = watch::watch_ingest(&D1Alerts(db), &source, &cfg.alerts, clock.now()).await;
    log_watch("alerts_watch_ingest", &report);
}
