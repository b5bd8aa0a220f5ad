//! Adapter between the Workers runtime and the pure modules: reads the
//! environment, calls D1 and the bridge, turns results into HTTP responses.
//! Nothing here is unit-tested natively (any call into a JS API panics off
//! wasm32); the end-to-end tests in `tests/e2e/` exercise it under workerd.

mod access;
mod alerts;
mod bridge;
mod chains;
mod d1;
mod events;
mod export;
mod ingest;
mod iv_history;
mod opportunities;
mod positions;
mod proposals;
mod risk;

use chrono::{DateTime, Utc};
use serde::Serialize;
use worker::{console_error, console_log, D1Database, Env, Headers, Request, Response};

use crate::auth::PresentedCredentials;
use crate::bridge::BridgeFailure;
use crate::config::{Config, ConfigErrors};
use crate::http::auth::{self as http_auth, AuthConfig, AuthRefusal};
use crate::http::error::ApiError;
use crate::http::gate;
use crate::http::proxy;
use crate::http::{self, Route};
use crate::ingest::Trigger;
use crate::opportunities::service as reads;
use crate::views;
use opportunities::D1Reads;

/// Name of the D1 binding.
const DB_BINDING: &str = "DB";
/// Bound on the bridge check of `/health`, in milliseconds.
const HEALTH_BRIDGE_TIMEOUT_MS: u32 = 2_000;

/// Logs a cron step's outcome as one JSON line (`wrangler tail`): its report,
/// as an error line when `failed(report)`, or the step's error.
pub(crate) fn log_step<R: Serialize, E: std::fmt::Display>(
    event: &str,
    ms: i64,
    outcome: &std::result::Result<R, E>,
    failed: impl Fn(&R) -> bool,
) {
    match outcome {
        Ok(r) => {
            let line = serde_json::json!({ "event": event, "ms": ms, "report": r });
            if failed(r) {
                console_error!("{line}");
            } else {
                console_log!("{line}");
            }
        }
        Err(e) => console_error!(
            "{}",
            serde_json::json!({ "event": event, "ms": ms, "error": e.to_string() })
        ),
    }
}

/// The current time from the Workers clock.
pub fn now() -> DateTime<Utc> {
    let ms = i64::try_from(worker::Date::now().as_millis()).unwrap_or(0);
    DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

/// The clock of one cron run: the time the run is for, moving on with the
/// wall clock from there. Under `CRON_CLOCK=wall` (the default, and the only
/// choice in production) that is the wall clock itself; under
/// `CRON_CLOCK=scheduled` (development and tests, with the simulated bridge
/// on a settable clock) it starts at the scheduled event's time, so a
/// simulated month can be driven through the real crons
/// (`/cdn-cgi/local/scheduled?cron=…&time=<ms>`). Durations in the log
/// lines stay wall-clock durations either way.
#[derive(Debug, Clone, Copy)]
pub struct RunClock {
    at: DateTime<Utc>,
    wall: DateTime<Utc>,
}

impl RunClock {
    /// A run on the wall clock.
    pub fn wall() -> Self {
        let n = now();
        Self { at: n, wall: n }
    }

    /// A run for the scheduled event's time (`scheduled_ms`, ms since the
    /// epoch) under [`crate::config::CronClock::Scheduled`], otherwise on
    /// the wall clock. A time the
    /// runtime cannot give (not finite, out of range) is the wall clock.
    pub fn for_event(clock: crate::config::CronClock, scheduled_ms: f64) -> Self {
        let wall = now();
        let at = match clock {
            crate::config::CronClock::Wall => None,
            crate::config::CronClock::Scheduled => Some(scheduled_ms)
                .filter(|ms| ms.is_finite())
                .and_then(|ms| DateTime::<Utc>::from_timestamp_millis(ms as i64)),
        };
        Self {
            at: at.unwrap_or(wall),
            wall,
        }
    }

    /// When the run started, on its clock (its run record's start).
    pub fn started(&self) -> DateTime<Utc> {
        self.at
    }

    /// Now, on this run's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.at + (now() - self.wall)
    }

    /// Whether the run's time differs from the wall clock.
    pub fn shifted(&self) -> bool {
        self.at != self.wall
    }
}

fn load_config(env: &Env) -> Result<Config, ConfigErrors> {
    Config::from_lookup(|name| env.var(name).ok().map(|v| v.to_string()))
}

fn log_config_errors(errors: &ConfigErrors) {
    let line = serde_json::json!({ "event": "config_invalid", "errors": errors.0 }).to_string();
    console_error!("{line}");
}

fn json_response<T: Serialize>(status: u16, body: &T) -> Response {
    let text = serde_json::to_string(body).unwrap_or_else(|_| ApiError::internal().body());
    raw_json_response(status, text)
}

pub(super) fn raw_json_response(status: u16, text: String) -> Response {
    let headers = Headers::new();
    // Static, valid header names and values: setting them cannot fail.
    let _ = headers.set("Content-Type", "application/json; charset=utf-8");
    let _ = headers.set("Cache-Control", "no-store");
    let _ = headers.set("X-Content-Type-Options", "nosniff");
    Response::builder()
        .with_status(status)
        .with_headers(headers)
        .fixed(text.into_bytes())
}

fn error_response(e: &ApiError) -> Response {
    raw_json_response(e.status, e.body())
}

/// A store failure as the runtime's error (logged by the caller).
fn store_error(e: crate::store::StoreError) -> worker::Error {
    worker::Error::RustError(e.to_string())
}

fn internal(context: &str, e: &worker::Error) -> Response {
    let line = serde_json::json!({ "event": "internal_error", "context": context, "error": e.to_string() })
        .to_string();
    console_error!("{line}");
    error_response(&ApiError::internal())
}

/// Answers one HTTP request.
pub async fn handle(mut req: Request, env: Env) -> Response {
    let started = now();
    let method = req.method().to_string();
    let path = req.path();
    let query = req.url().ok().and_then(|u| u.query().map(str::to_owned));

    let config = load_config(&env);
    // The export of the Postgres archive has its own auth rule
    // (http::export): served before the general gate.
    if http::export::is_export_path(&path) {
        let cfg = config.as_ref().ok();
        return export::handle(
            &mut req,
            &env,
            cfg.map(|c| (c, &c.archive)),
            started.timestamp_millis(),
        )
        .await;
    }
    // The one auth gate, before any parameter of a protected route is
    // validated (an anonymous caller learns nothing but 401).
    let authorization = req.headers().get("Authorization").ok().flatten();
    let access_jwt = req.headers().get("Cf-Access-Jwt-Assertion").ok().flatten();
    let presented =
        PresentedCredentials::from_headers(authorization.as_deref(), access_jwt.as_deref());
    let auth_config = config.as_ref().ok().map(|cfg| AuthConfig {
        api_token: &cfg.api_token,
        access: cfg.approval.access.as_ref(),
    });
    let principal = match http_auth::authenticate(
        &path,
        auth_config,
        &presented,
        &access::EdgeAccess,
        started.timestamp_millis(),
    )
    .await
    {
        Ok(principal) => principal,
        Err(refusal) => {
            if let (AuthRefusal::Misconfigured, Err(errors)) = (refusal, &config) {
                log_config_errors(errors);
            }
            return error_response(&refusal.into());
        }
    };
    let route = match http::route(&method, &path, query.as_deref()) {
        Ok(route) => route,
        Err(e) => return error_response(&e),
    };
    // Fail closed: a route that needs a caller is never served without one,
    // even if the path check above were to miss it.
    if let Err(refusal) = http_auth::fail_closed(&route, principal.as_ref()) {
        return error_response(&refusal.into());
    }
    // One gate for every state change: JSON content type, allowed Origin
    // (none only for bearer-token clients), bounded body.
    if gate::is_state_changing(&method) {
        let allowed: &[String] = config.as_ref().map_or(&[], |c| &c.allowed_origins);
        let own_origin = req
            .url()
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_default();
        let header = |name: &str| req.headers().get(name).ok().flatten();
        let (content_type, origin, content_length) = (
            header("Content-Type"),
            header("Origin"),
            header("Content-Length"),
        );
        let head = gate::RequestHead {
            method: &method,
            content_type: content_type.as_deref(),
            origin: origin.as_deref(),
            content_length: content_length.as_deref(),
            own_origin: &own_origin,
            bearer_authenticated: principal == Some(crate::auth::Principal::ApiToken),
        };
        if let Err(e) = gate::check_head(&head, allowed) {
            log_gate_refusal(&method, &path, &e);
            return error_response(&e.into());
        }
        if route == Route::IngestMarket || route == Route::AlertsTest {
            if let Err(e) = read_body(&mut req)
                .await
                .and_then(|b| gate::parse_empty_object(&b).map_err(ApiError::from))
            {
                return error_response(&e);
            }
        }
    }
    let route = match (route, &config, &principal, env.d1(DB_BINDING)) {
        (Route::Approval(r), Ok(cfg), Some(p), Ok(db)) => {
            return proposals::handle(r, &mut req, &db, cfg, p).await
        }
        (Route::Approval(_), _, _, _) => return error_response(&ApiError::misconfigured()),
        (Route::Position(r), Ok(cfg), Some(p), Ok(db)) => {
            return positions::handle(r, &mut req, &db, cfg, p).await
        }
        (Route::Position(_), _, _, _) => return error_response(&ApiError::misconfigured()),
        (Route::Risk(r), Ok(cfg), Some(p), Ok(db)) => {
            return risk::handle(r, &mut req, &db, &cfg.risk, p).await
        }
        (Route::Risk(_), _, _, _) => return error_response(&ApiError::misconfigured()),
        (Route::AlertsTest, Ok(cfg), Some(p), Ok(db)) => {
            return alerts::test(&db, &cfg.alerts, &crate::audit::actor_label(p)).await
        }
        (Route::AlertsTest, _, _, _) => return error_response(&ApiError::misconfigured()),
        (Route::Events(r), Ok(_), Some(p), Ok(db)) => {
            return events::handle(r, &mut req, &db, p).await
        }
        (Route::Events(_), _, _, _) => return error_response(&ApiError::misconfigured()),
        (route, _, _, _) => route,
    };
    let db = env.d1(DB_BINDING);
    match (route, config) {
        (Route::Health, config) => health(db.ok().as_ref(), config.as_ref().ok()).await,
        (_, Err(_)) => error_response(&ApiError::misconfigured()),
        (route, Ok(cfg)) => match db {
            Err(e) => internal("d1 binding", &e),
            Ok(db) => protected(route, &db, &cfg, started).await,
        },
    }
}

fn log_gate_refusal(method: &str, path: &str, e: &gate::GateError) {
    let line = serde_json::json!({
        "event": "request_refused",
        "method": crate::config::truncate(method, 16),
        "path": crate::config::truncate(path, 64),
        "reason": e.to_string(),
    })
    .to_string();
    console_log!("{line}");
}

/// Reads a state-changing request's body: a declared `Content-Length` above
/// the bound is refused before reading (the gate checked it); a body without
/// one is read chunk by chunk and refused as soon as it passes the bound. An
/// empty body is refused (state changes take a JSON body).
pub(crate) async fn read_body(req: &mut Request) -> Result<Vec<u8>, ApiError> {
    use futures_util::StreamExt;

    let declared = req.headers().get("Content-Length").ok().flatten();
    gate::check_declared_length(declared.as_deref())?;
    let mut body = gate::BoundedBody::default();
    // No body stream at all is an empty body.
    if let Ok(mut stream) = req.stream() {
        while let Some(chunk) = stream.next().await {
            let chunk =
                chunk.map_err(|_| ApiError::bad_request("request body could not be read"))?;
            body.push(&chunk)?;
        }
    }
    Ok(body.finish()?)
}

async fn protected(
    route: Route,
    db: &D1Database,
    cfg: &Config,
    started: DateTime<Utc>,
) -> Response {
    match route {
        Route::Alerts { limit } => alerts::list(db, &cfg.alerts, Some(limit)).await,
        Route::Metrics => metrics(db, cfg).await,
        Route::Health
        | Route::Approval(_)
        | Route::Position(_)
        | Route::Risk(_)
        | Route::Events(_)
        | Route::AlertsTest => error_response(&ApiError::internal()),
        Route::BrokerAccount => proxied(cfg, "/account").await,
        Route::BrokerQuote { symbol } => proxied(cfg, &format!("/quote?symbol={symbol}")).await,
        Route::IngestMarket => {
            let clock = RunClock::wall();
            let run = ingest::run(db, cfg, Trigger::Manual, clock).await;
            match chains::enrich(db, cfg, clock, run).await {
                Ok(run) => json_response(200, &run),
                Err(e) => internal("manual ingest", &store_error(e)),
            }
        }
        Route::IngestRuns { limit } => match d1::runs(db, limit).await {
            Ok(runs) => json_response(200, &views::Runs { runs }),
            Err(e) => internal("ingest runs", &e),
        },
        Route::MarketLatest => opportunities::reply(reads::latest(&D1Reads(db), cfg).await),
        Route::MarketHistory { symbol, days } => {
            opportunities::reply(reads::history(&D1Reads(db), &symbol, days, started).await)
        }
        Route::Opportunities { limit } => {
            opportunities::reply(reads::ranked(&D1Reads(db), cfg, limit, started).await)
        }
        Route::SymbolMetrics {
            symbol,
            days,
            interval,
        } => opportunities::reply(
            reads::symbol_metrics(&D1Reads(db), cfg, &symbol, days, interval, started).await,
        ),
        Route::SymbolQuality(r) => iv_history::quality(db, cfg, &cfg.iv_history, &r).await,
        Route::SymbolChain { symbol } => {
            opportunities::reply(reads::symbol_chain(&D1Reads(db), cfg, &symbol).await)
        }
    }
}

/// `GET /metrics`: D1 counts and a bridge probe, as Prometheus text.
async fn metrics(db: &D1Database, cfg: &Config) -> Response {
    let statements: worker::Result<Vec<_>> = crate::metrics::METRIC_QUERIES
        .iter()
        .map(|sql| d1::statement(db, sql, &[]))
        .collect();
    let results = match statements {
        Ok(s) => db.batch(s).await,
        Err(e) => Err(e),
    };
    let rows: Vec<crate::metrics::MetricRow> = match results {
        Ok(results) => results
            .iter()
            .filter_map(|r| r.results::<crate::metrics::MetricRow>().ok())
            .flatten()
            .collect(),
        Err(e) => return internal("metrics", &e),
    };
    let t0 = now();
    let timeout = cfg.bridge_timeout_ms.min(HEALTH_BRIDGE_TIMEOUT_MS);
    let up = matches!(
        bridge::get(cfg, "/health", false, timeout).await,
        Ok(a) if (200..=299).contains(&a.status)
    );
    #[allow(clippy::cast_precision_loss)]
    let latency_ms = up.then(|| (now() - t0).num_milliseconds() as f64);
    let text = crate::metrics::render(&rows, crate::metrics::BridgeProbe { up, latency_ms });
    let headers = Headers::new();
    let _ = headers.set("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    let _ = headers.set("Cache-Control", "no-store");
    Response::builder()
        .with_status(200)
        .with_headers(headers)
        .fixed(text.into_bytes())
}

async fn proxied(cfg: &Config, path_and_query: &str) -> Response {
    match bridge::get(cfg, path_and_query, true, cfg.bridge_timeout_ms).await {
        Err(failure) => {
            log_bridge_failure(path_and_query, &failure);
            error_response(&proxy::failure_to_error(&failure))
        }
        Ok(answer) => match proxy::map_response(answer.status, &answer.body) {
            Ok(value) => json_response(200, &value),
            Err(e) => {
                let line = serde_json::json!({
                    "event": "bridge_error", "path": path_and_query, "status": answer.status
                })
                .to_string();
                console_error!("{line}");
                error_response(&e)
            }
        },
    }
}

fn log_bridge_failure(path: &str, failure: &BridgeFailure) {
    let line = serde_json::json!({ "event": "bridge_failure", "path": path, "error": failure.to_string() })
        .to_string();
    console_error!("{line}");
}

async fn health(db: Option<&D1Database>, cfg: Option<&Config>) -> Response {
    let (d1_health, last_run) = match db {
        None => (
            views::D1Health {
                ok: false,
                error: Some("not_bound"),
            },
            None,
        ),
        Some(db) => match d1::runs(db, 1).await {
            Ok(mut runs) => (
                views::D1Health {
                    ok: true,
                    error: None,
                },
                runs.pop(),
            ),
            Err(e) => {
                let line =
                    serde_json::json!({ "event": "d1_health", "error": e.to_string() }).to_string();
                console_error!("{line}");
                (
                    views::D1Health {
                        ok: false,
                        error: Some("unavailable"),
                    },
                    None,
                )
            }
        },
    };
    let bridge_health = match cfg {
        None => views::BridgeHealth {
            ok: false,
            latency_ms: None,
            error: Some("not_configured"),
        },
        Some(cfg) => {
            let t0 = now();
            let timeout = cfg.bridge_timeout_ms.min(HEALTH_BRIDGE_TIMEOUT_MS);
            match bridge::get(cfg, "/health", false, timeout).await {
                Ok(answer) if (200..=299).contains(&answer.status) => views::BridgeHealth {
                    ok: true,
                    latency_ms: u64::try_from((now() - t0).num_milliseconds()).ok(),
                    error: None,
                },
                Ok(_) => views::BridgeHealth {
                    ok: false,
                    latency_ms: u64::try_from((now() - t0).num_milliseconds()).ok(),
                    error: Some("unhealthy"),
                },
                Err(BridgeFailure::Timeout { .. }) => views::BridgeHealth {
                    ok: false,
                    latency_ms: None,
                    error: Some("timeout"),
                },
                Err(BridgeFailure::Unreachable(_)) => views::BridgeHealth {
                    ok: false,
                    latency_ms: None,
                    error: Some("unreachable"),
                },
            }
        }
    };
    let body = views::health(
        cfg.is_some(),
        d1_health,
        bridge_health,
        last_run.as_ref(),
        now(),
    );
    let archive = match cfg {
        Some(cfg) => Some(export::archive_health(db, &cfg.archive).await),
        None => None,
    };
    let mut body = serde_json::to_value(&body).unwrap_or_default();
    if let (Some(obj), Some(a)) = (body.as_object_mut(), archive) {
        obj.insert(
            "archive".into(),
            serde_json::to_value(a).unwrap_or_default(),
        );
    }
    // The data-quality gate's states (counts and since; no symbol names).
    if let (Some(obj), Some(db), Some(cfg)) = (body.as_object_mut(), db, cfg) {
        let rows: Vec<crate::chains::SymbolQualityRow> =
            d1::rows(db, crate::chains::SELECT_SYMBOL_QUALITY, &[])
                .await
                .unwrap_or_default();
        let names: Vec<&str> = cfg.watchlist.iter().map(|s| s.as_str()).collect();
        let q = crate::chains::view::data_quality_health(&rows, &names);
        obj.insert(
            "data_quality".into(),
            serde_json::to_value(q).unwrap_or_default(),
        );
    }
    json_response(200, &body)
}

/// Runs a cron: the position monitor for its schedule (`* * * * *`,
/// every minute), otherwise one ingestion (recorded in D1 whatever happens)
/// followed by the proposals step.
pub async fn scheduled(env: Env, cron: &str, scheduled_ms: f64) {
    if cron == crate::config::positions::DEFAULT_MONITOR_CRON {
        return monitor_cron(env, scheduled_ms).await;
    }
    ingest_cron(env, scheduled_ms).await;
}

/// The run's clock as the configuration says (`CRON_CLOCK`).
fn run_clock(cfg: &Config, scheduled_ms: f64) -> RunClock {
    let run = RunClock::for_event(cfg.cron_clock, scheduled_ms);
    if run.shifted() {
        console_log!(
            "{}",
            serde_json::json!({ "event": "cron_clock", "scheduled": run.now().to_rfc3339() })
        );
    }
    run
}

/// The position monitor's cron: during NYSE hours unless market hours are
/// ignored (development, tests); the run is recorded in `monitor_runs`.
async fn monitor_cron(env: Env, scheduled_ms: f64) {
    let (db, cfg) = match (env.d1(DB_BINDING), load_config(&env)) {
        (Ok(db), Ok(cfg)) => (db, cfg),
        (Err(e), _) => {
            console_error!(
                "{}",
                serde_json::json!({ "event": "monitor", "error": format!("no D1 binding: {e}") })
            );
            return;
        }
        (_, Err(errors)) => {
            log_config_errors(&errors);
            return;
        }
    };
    let clock = run_clock(&cfg, scheduled_ms);
    // Alerts no single write reports (orders, IB, the clock), market open
    // or not; outside the session the due alerts are delivered here too.
    alerts::watch_minute(&db, &cfg, clock).await;
    if cfg.market_hours_mode == crate::config::MarketHoursMode::Enforce
        && !sas_core::calendar::MarketCalendar::is_open(clock.now())
    {
        alerts::cron(&db, &cfg.alerts, &[], clock).await;
        return;
    }
    let report = positions::monitor(&db, &cfg, clock).await;
    // The trading state follows every run, a failed one included (a bridge
    // that stays down and marks that go stale are halts). Errors are logged.
    let _ = risk::evaluate(&db, &cfg.risk, clock).await;
    let at_ms = clock.now().timestamp_millis();
    let mut observations = Vec::new();
    if report.status != "skipped" {
        let bridge_down = report.status == "failed"
            && report
                .error
                .as_deref()
                .is_some_and(|e| e.starts_with("bridge"));
        observations.push(sas_core::alerts::ConditionObservation {
            kind: sas_core::alerts::AlertKind::BridgeDisconnected,
            subject: "bridge".into(),
            active: bridge_down,
            detail: report
                .error
                .clone()
                .unwrap_or_else(|| "bridge answered".into()),
            at_ms,
        });
    }
    if let Some(drift) = positions::drift_observation(&db, at_ms).await {
        observations.push(drift);
    }
    if let Some(halt) = proposals::halt_observation(&db, at_ms).await {
        observations.push(halt);
    }
    alerts::cron(&db, &cfg.alerts, &observations, clock).await;
}

/// Observes "ingestion failing N runs in a row" and delivers due alerts.
async fn ingest_alerts(db: &D1Database, cfg: &Config, clock: RunClock) {
    let threshold = cfg.alerts.ingest_failures.max(1);
    let runs = d1::runs(db, threshold + 1).await.unwrap_or_default();
    let failures = runs
        .iter()
        .take_while(|r| r.status == crate::ingest::RunStatus::Failed)
        .count();
    let last_error = runs
        .first()
        .and_then(|r| r.error.clone())
        .unwrap_or_default();
    let observation = sas_core::alerts::ConditionObservation::ingestion(
        u32::try_from(failures).unwrap_or(u32::MAX),
        threshold,
        &last_error,
        clock.now().timestamp_millis(),
    );
    alerts::watch_ingest(db, cfg, clock).await;
    alerts::cron(db, &cfg.alerts, &[observation], clock).await;
}

/// Runs the ingestion cron: one ingestion, recorded in D1 whatever happens.
async fn ingest_cron(env: Env, scheduled_ms: f64) {
    let wall_started = now();
    let db = match env.d1(DB_BINDING) {
        Ok(db) => db,
        Err(e) => {
            console_error!(
                "{}",
                serde_json::json!({ "event": "cron", "error": format!("no D1 binding: {e}") })
            );
            return;
        }
    };
    let result = match load_config(&env) {
        Ok(cfg) => {
            let clock = run_clock(&cfg, scheduled_ms);
            let run = ingest::run(&db, &cfg, Trigger::Cron, clock).await;
            // IB's IV history: backfill a few symbols, append closes (before
            // the chain step, so it ranks against the year just fetched).
            iv_history::cron_step(&db, &cfg, &cfg.iv_history, clock).await;
            // Events: the next ex-dividend dates of a few symbols a run
            // (before generation, which avoids spanning them).
            events::cron_step(&db, &cfg, clock).await;
            // Option chains and analytics (after quotes; not after a failed/skipped run).
            let run = chains::enrich(&db, &cfg, clock, run).await;
            // Proposals: expire overdue, retry failed orders, generate.
            proposals::cron_step(&db, &cfg, clock).await;
            // Shadow P&L: follow rejected/expired proposals on the new chains.
            risk::shadow_step(&db, &cfg, clock).await;
            ingest_alerts(&db, &cfg, clock).await;
            run
        }
        Err(errors) => {
            log_config_errors(&errors);
            ingest::record_failure(
                &db,
                Trigger::Cron,
                wall_started,
                "worker configuration is invalid",
            )
            .await
        }
    };
    if let Err(e) = result {
        console_error!(
            "{}",
            serde_json::json!({ "event": "cron", "error": e.to_string() })
        );
    } else {
        console_log!(
            "{}",
            serde_json::json!({ "event": "cron_done", "ms": (now() - wall_started).num_milliseconds() })
        );
    }
}
