//! The HTTP API: router, authentication, request ids, metrics, timeouts.
//! See `docs/bridge-api.md` for the routes and their JSON.

pub mod error;
pub mod extract;
mod handlers;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use subtle::ConstantTimeEq;
use tower_http::catch_panic::CatchPanicLayer;
use tracing::Instrument;

use crate::broker::{Broker, BrokerError};
use crate::config::BridgeToken;
use crate::halt::Halt;
use crate::metrics::Metrics;
use error::ApiError;
use sas_bridge_api::error::ErrorCode;

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<AppInner>,
    /// Bound on option-chain calls (IB chain snapshots are paced).
    chain_timeout: Duration,
    /// The bridge-side trading halt.
    halt: Arc<Halt>,
}

struct AppInner {
    broker: Arc<dyn Broker>,
    /// `Bearer <token>` as bytes, compared in constant time.
    expected_authorization: Vec<u8>,
    metrics: Metrics,
    request_timeout: Duration,
    started: Instant,
    request_id_prefix: u32,
    request_counter: AtomicU64,
}

impl AppState {
    /// State over a broker, the bearer token, the metrics handle and the
    /// per-call broker timeout.
    #[must_use]
    pub fn new(
        broker: Arc<dyn Broker>,
        token: &BridgeToken,
        metrics: Metrics,
        request_timeout: Duration,
    ) -> Self {
        Self {
            inner: Arc::new(AppInner {
                broker,
                expected_authorization: format!("Bearer {}", token.expose()).into_bytes(),
                metrics,
                request_timeout,
                started: Instant::now(),
                request_id_prefix: rand::random(),
                request_counter: AtomicU64::new(0),
            }),
            chain_timeout: request_timeout,
            halt: Arc::new(Halt::in_memory()),
        }
    }

    /// The same state with this halt switch (by default an in-memory one,
    /// not halted; the binary loads it from `BRIDGE_HALT_FILE`).
    #[must_use]
    pub fn with_halt(mut self, halt: Arc<Halt>) -> Self {
        self.halt = halt;
        self
    }

    /// The halt switch.
    #[must_use]
    pub fn halt(&self) -> &Halt {
        &self.halt
    }

    /// The same state with a separate bound for option-chain calls (by
    /// default they share the request timeout).
    #[must_use]
    pub fn with_chain_timeout(mut self, chain_timeout: Duration) -> Self {
        self.chain_timeout = chain_timeout;
        self
    }

    /// The broker.
    #[must_use]
    pub fn broker(&self) -> &Arc<dyn Broker> {
        &self.inner.broker
    }

    /// The metrics handle.
    #[must_use]
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Runs a broker call bounded by the request timeout (→ `Timeout`).
    pub(crate) async fn bounded<T>(
        &self,
        fut: impl std::future::Future<Output = T>,
    ) -> Result<T, BrokerError> {
        Self::bounded_by(self.inner.request_timeout, fut).await
    }

    /// Runs an option-chain call bounded by the chain timeout (→ `Timeout`).
    pub(crate) async fn bounded_chain<T>(
        &self,
        fut: impl std::future::Future<Output = T>,
    ) -> Result<T, BrokerError> {
        Self::bounded_by(self.chain_timeout, fut).await
    }

    async fn bounded_by<T>(
        limit: Duration,
        fut: impl std::future::Future<Output = T>,
    ) -> Result<T, BrokerError> {
        tokio::time::timeout(limit, fut)
            .await
            .map_err(|_| BrokerError::Timeout)
    }

    fn authorized(&self, header: Option<&HeaderValue>) -> bool {
        let Some(value) = header else {
            return false;
        };
        let got = value.as_bytes();
        let want = &self.inner.expected_authorization;
        // Length is not secret (tokens have a fixed minimum); contents are
        // compared in constant time.
        got.len() == want.len() && bool::from(got.ct_eq(want))
    }

    fn next_request_id(&self) -> String {
        let n = self.inner.request_counter.fetch_add(1, Ordering::Relaxed);
        format!("{:08x}-{n:x}", self.inner.request_id_prefix)
    }
}

/// Builds the router: `/health` open, everything else behind the bearer token.
pub fn router(state: AppState) -> Router {
    let mut protected = Router::new()
        .route("/account", get(handlers::account))
        .route("/positions", get(handlers::positions))
        .route("/quote", get(handlers::quote))
        .route("/quotes", get(handlers::quotes))
        .route("/chain", get(handlers::chain))
        .route("/chain/expiries", get(handlers::chain_expiries))
        .route("/halt", get(handlers::halt_state).post(handlers::set_halt))
        .route("/history/daily", get(handlers::daily_history))
        .route("/history/iv", get(handlers::iv_history))
        .route("/events/dividends", get(handlers::dividends))
        .route(
            "/orders",
            post(handlers::place_order).get(handlers::open_orders),
        )
        .route("/orders/by-key/{key}", get(handlers::order_by_key))
        .route("/orders/{id}", get(handlers::order))
        .route("/orders/{id}/cancel", post(handlers::cancel_order))
        .route("/executions", get(handlers::executions))
        .route("/metrics", get(handlers::metrics));
    // Test controls and the settable clock exist only with the simulated
    // broker (404 in IB mode).
    if state.broker().sim_control().is_some() {
        protected = protected
            .route("/sim/control", post(handlers::sim_control))
            .route("/sim/clock", post(handlers::sim_clock));
    }
    let protected = protected.route_layer(middleware::from_fn_with_state(
        state.clone(),
        require_bearer,
    ));

    Router::new()
        .route("/health", get(handlers::health))
        .merge(protected)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(CatchPanicLayer::custom(panic_response))
        .with_state(state)
}

/// A panicking handler becomes a JSON 500 without detail (logged instead).
fn panic_response(_payload: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("handler panicked");
    ApiError::of(ErrorCode::Internal, "internal error").into_response()
}

async fn not_found() -> ApiError {
    ApiError::route_not_found()
}

async fn method_not_allowed() -> ApiError {
    ApiError::of(
        ErrorCode::MethodNotAllowed,
        "method not allowed on this route",
    )
}

async fn require_bearer(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if state.authorized(req.headers().get(axum::http::header::AUTHORIZATION)) {
        next.run(req).await
    } else {
        ApiError::unauthorized().into_response()
    }
}

/// The metrics label of an HTTP method: a fixed set, so made-up methods
/// (sent before authentication, to any path) cannot grow the label space.
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Request id, structured log line and metrics for every request. Labels are
/// bounded: the matched route pattern (unknown paths are one label,
/// `unmatched`) and [`method_label`].
async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let route: Arc<str> = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| Arc::from("unmatched"), |p| Arc::from(p.as_str()));
    let method = req.method().clone();
    let request_id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| sas_bridge_api::is_valid_key(v))
        .map_or_else(|| state.next_request_id(), str::to_string);
    let span = tracing::info_span!("request", id = %request_id, method = %method, route = %route);
    let mut response = async move {
        let response = next.run(req).await;
        let status = response.status();
        let elapsed = start.elapsed();
        // Successful requests log at debug so the hot path stays lean at the
        // default `info` level; refusals and failures are always logged.
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        if status.is_server_error() {
            tracing::warn!(status = status.as_u16(), micros, "request failed");
        } else if status.is_client_error() {
            tracing::info!(status = status.as_u16(), micros, "request refused");
        } else {
            tracing::debug!(status = status.as_u16(), micros, "request");
        }
        state.metrics().observe_request(
            &route,
            method_label(&method),
            status.as_u16(),
            elapsed.as_secs_f64(),
        );
        response
    }
    .instrument(span)
    .await;
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID.clone(), v);
    }
    response
}
