//! Route handlers.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use sas_bridge_api::account::PositionsBody;
use sas_bridge_api::chain::{ChainParams, ChainSelection};
use sas_bridge_api::error::ErrorCode;
use sas_bridge_api::halt::{HaltRequest, MAX_REASON_CHARS};
use sas_bridge_api::health::{BrokerMode, ConnectionState, HealthBody};
use sas_bridge_api::is_valid_key;
use sas_bridge_api::market::{
    ExpiriesBody, HistoryBody, IvHistoryBody, IvSource, QuotesBody, SymbolError, MAX_HISTORY_DAYS,
    MAX_IV_HISTORY_DAYS,
};
use sas_bridge_api::orders::{ExecutionsBody, ExecutionsQuery, OrderRequest, OrdersBody};
use sas_bridge_api::sim::{SimClockRequest, SimControlRequest};
use sas_core::market::{parse_symbol_list, Symbol, MAX_SYMBOLS_PER_REQUEST};
use serde::Deserialize;

use super::error::ApiError;
use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::AppState;
use crate::broker::BrokerError;

/// `GET /health` (no auth): minimal liveness and broker session state.
pub(super) async fn health(State(state): State<AppState>) -> Response {
    let status = match state.bounded(state.broker().status()).await {
        Ok(s) => s,
        Err(_) => {
            // An unhealthy bridge: 503 here, not the code's usual 504.
            return ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::Timeout,
                "broker status did not answer in time",
            )
            .into_response();
        }
    };
    let word = status.state.health_status();
    let code = StatusCode::from_u16(word.http_status()).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let body = HealthBody {
        status: word,
        broker: state.broker().mode(),
        connected: status.state != ConnectionState::Disconnected,
        state: status.state,
        since: status.since,
        uptime_seconds: state.inner.started.elapsed().as_secs(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        market_data_type: status.market_data_type,
        reason: status.reason,
        server_version: status.server_version,
        last_tick_age_seconds: status.last_tick_age.map(|d| d.as_secs_f64()),
        reset_window_et: state.broker().reset_window_et(),
        simulated_time: state.broker().simulated_time(),
    };
    (code, Json(body)).into_response()
}

/// `GET /account`.
pub(super) async fn account(State(state): State<AppState>) -> Result<Response, ApiError> {
    let account = state.bounded(state.broker().account()).await??;
    Ok(Json(account).into_response())
}

/// `GET /positions`.
pub(super) async fn positions(State(state): State<AppState>) -> Result<Response, ApiError> {
    let positions = state.bounded(state.broker().positions()).await??;
    Ok(Json(PositionsBody { positions }).into_response())
}

#[derive(Deserialize)]
pub(super) struct SymbolQuery {
    symbol: Option<String>,
}

fn required_symbol(raw: Option<&str>) -> Result<Symbol, ApiError> {
    let raw = raw.ok_or_else(|| ApiError::missing("symbol"))?;
    Ok(Symbol::parse(raw)?)
}

/// `GET /quote?symbol=X`.
pub(super) async fn quote(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<SymbolQuery>,
) -> Result<Response, ApiError> {
    let symbol = required_symbol(q.symbol.as_deref())?;
    let mut results = state
        .bounded(state.broker().quotes(std::slice::from_ref(&symbol)))
        .await?;
    let quote = results
        .pop()
        .unwrap_or_else(|| Err(BrokerError::Internal("broker returned no quote".into())))?;
    Ok(Json(quote).into_response())
}

#[derive(Deserialize)]
pub(super) struct SymbolsQuery {
    symbols: Option<String>,
}

/// `GET /quotes?symbols=A,B`: per-symbol errors never fail the whole list.
pub(super) async fn quotes(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<SymbolsQuery>,
) -> Result<Response, ApiError> {
    let raw = q
        .symbols
        .as_deref()
        .ok_or_else(|| ApiError::missing("symbols"))?;
    let symbols = parse_symbol_list(raw, MAX_SYMBOLS_PER_REQUEST)?;
    let results = state.bounded(state.broker().quotes(&symbols)).await?;
    let mut body = QuotesBody {
        quotes: Vec::with_capacity(results.len()),
        errors: Vec::new(),
    };
    let mut session_error: Option<BrokerError> = None;
    for (symbol, result) in symbols.iter().zip(results) {
        match result {
            Ok(quote) => body.quotes.push(quote),
            Err(e) => {
                let code = e.code();
                if matches!(
                    e,
                    BrokerError::Disconnected { .. }
                        | BrokerError::Timeout
                        | BrokerError::Internal(_)
                ) {
                    session_error.get_or_insert_with(|| e.clone());
                }
                body.errors.push(SymbolError {
                    symbol: symbol.to_string(),
                    error: code,
                    message: e.public_message(),
                });
            }
        }
    }
    // Nothing at all because the session is down: say so with its status.
    if body.quotes.is_empty() {
        if let Some(e) = session_error {
            return Err(e.into());
        }
    }
    Ok(Json(body).into_response())
}

#[derive(Deserialize)]
pub(super) struct ChainQuery {
    symbol: Option<String>,
    min_dte: Option<String>,
    max_dte: Option<String>,
    strikes: Option<String>,
    expiries: Option<String>,
    contracts: Option<String>,
}

fn parse_u32(name: &'static str, raw: Option<&str>, default: u32) -> Result<u32, ApiError> {
    match raw {
        None => Ok(default),
        Some(s) => s.trim().parse::<u32>().map_err(|_| {
            ApiError::bad_request(
                ErrorCode::InvalidParameter,
                format!(
                    "`{name}` must be a non-negative integer, got {:?}",
                    truncate(s)
                ),
            )
        }),
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(32).collect()
}

/// `GET /chain?symbol=X` with one selection: `min_dte`/`max_dte`/`strikes`
/// (DTE window), `expiries=D1,D2&strikes=N` (at most 8 expiries) or
/// `contracts=D:K:R,...` (at most 8 contracts).
pub(super) async fn chain(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ChainQuery>,
) -> Result<Response, ApiError> {
    let symbol = required_symbol(q.symbol.as_deref())?;
    let selection = ChainSelection::parse(ChainParams {
        min_dte: q.min_dte.as_deref(),
        max_dte: q.max_dte.as_deref(),
        strikes: q.strikes.as_deref(),
        expiries: q.expiries.as_deref(),
        contracts: q.contracts.as_deref(),
    })?;
    let broker = state.broker();
    let chain = match &selection {
        ChainSelection::Window(window) => {
            state
                .bounded_chain(broker.option_chain(&symbol, *window))
                .await??
        }
        ChainSelection::Expiries { expiries, strikes } => {
            state
                .bounded_chain(broker.option_chain_for_expiries(&symbol, expiries, *strikes))
                .await??
        }
        ChainSelection::Contracts(contracts) => {
            state
                .bounded_chain(broker.option_chain_for_contracts(&symbol, contracts))
                .await??
        }
    };
    Ok(Json(chain).into_response())
}

/// `GET /chain/expiries?symbol=X`: listed expiries, no market data.
pub(super) async fn chain_expiries(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<SymbolQuery>,
) -> Result<Response, ApiError> {
    let symbol = required_symbol(q.symbol.as_deref())?;
    let mut expiries = state
        .bounded(state.broker().chain_expiries(&symbol))
        .await??;
    expiries.sort();
    expiries.dedup();
    Ok(Json(ExpiriesBody { symbol, expiries }).into_response())
}

#[derive(Deserialize)]
pub(super) struct HistoryQuery {
    symbol: Option<String>,
    days: Option<String>,
}

impl HistoryQuery {
    /// The symbol and `days` in `1..=max` (both required).
    fn parse(&self, max: u32) -> Result<(Symbol, u32), ApiError> {
        let symbol = required_symbol(self.symbol.as_deref())?;
        let raw_days = self
            .days
            .as_deref()
            .ok_or_else(|| ApiError::missing("days"))?;
        let days = parse_u32("days", Some(raw_days), 0)?;
        if days == 0 || days > max {
            return Err(ApiError::bad_request(
                ErrorCode::InvalidParameter,
                format!("`days` must be 1..={max}, got {days}"),
            ));
        }
        Ok((symbol, days))
    }
}

/// `GET /history/daily?symbol=X&days=N`.
pub(super) async fn daily_history(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<HistoryQuery>,
) -> Result<Response, ApiError> {
    let (symbol, days) = q.parse(MAX_HISTORY_DAYS)?;
    // Historical requests wait for their pacing turn: bounded like chains.
    let bars = state
        .bounded_chain(state.broker().daily_history(&symbol, days))
        .await??;
    Ok(Json(HistoryBody { symbol, bars }).into_response())
}

/// `GET /history/iv?symbol=X&days=N` (`days` calendar days, 1..=365):
/// bounded like option chains (historical requests wait for their pacing
/// turn).
pub(super) async fn iv_history(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<HistoryQuery>,
) -> Result<Response, ApiError> {
    let (symbol, days) = q.parse(MAX_IV_HISTORY_DAYS)?;
    let source = match state.broker().mode() {
        BrokerMode::Sim => IvSource::Sim,
        BrokerMode::Ib => IvSource::Ib,
    };
    let bars = state
        .bounded_chain(state.broker().iv_history(&symbol, days))
        .await??;
    Ok(Json(IvHistoryBody {
        symbol,
        bars,
        source,
    })
    .into_response())
}

/// `GET /events/dividends?symbol=X`: the next ex-dividend date and amount
/// and the 12-month sums. Bounded like option chains: on IB it waits for a
/// free market-data line and for the dividends tick.
pub(super) async fn dividends(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<SymbolQuery>,
) -> Result<Response, ApiError> {
    let symbol = required_symbol(q.symbol.as_deref())?;
    let body = state
        .bounded_chain(state.broker().dividends(&symbol))
        .await??;
    Ok(Json(body).into_response())
}

/// `POST /orders`: 201 for a new order, 200 with `"duplicate": true` when
/// the idempotency key was seen with the same request.
pub(super) async fn place_order(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<OrderRequest>,
) -> Result<Response, ApiError> {
    // A bridge-side halt: a direct POST cannot bypass the Worker's kill switch.
    let halt = state.halt().state();
    if halt.halted {
        return Err(ApiError::trading_halted(halt.reason.as_deref()));
    }
    if let Err(problems) = request.validate() {
        let message = problems
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ");
        return Err(ApiError::bad_request(ErrorCode::InvalidOrder, message));
    }
    let outcome = state.bounded(state.broker().place_order(request)).await??;
    let status = if outcome.duplicate {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(outcome)).into_response())
}

/// `GET /orders`: working orders.
pub(super) async fn open_orders(State(state): State<AppState>) -> Result<Response, ApiError> {
    let orders = state.bounded(state.broker().open_orders()).await??;
    Ok(Json(OrdersBody { orders }).into_response())
}

fn order_id(raw: &str) -> Result<&str, ApiError> {
    if is_valid_key(raw) {
        Ok(raw)
    } else {
        Err(ApiError::bad_request(
            ErrorCode::InvalidOrderId,
            "order id must be 1-64 characters of A-Z a-z 0-9 _ - . :",
        ))
    }
}

/// `GET /orders/{id}`.
pub(super) async fn order(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let id = order_id(&id)?;
    let order = state.bounded(state.broker().order(id)).await??;
    Ok(Json(order).into_response())
}

/// `GET /orders/by-key/{key}`: the order placed under an idempotency key,
/// after asking the broker; 404 `order_not_found` when the broker has none.
pub(super) async fn order_by_key(
    State(state): State<AppState>,
    ApiPath(key): ApiPath<String>,
) -> Result<Response, ApiError> {
    if !is_valid_key(&key) {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidIdempotencyKey,
            "idempotency key must be 1-64 characters of A-Z a-z 0-9 _ - . :",
        ));
    }
    let order = state.bounded(state.broker().order_by_key(&key)).await??;
    Ok(Json(order).into_response())
}

/// `GET /halt`.
pub(super) async fn halt_state(State(state): State<AppState>) -> Response {
    Json(state.halt().state()).into_response()
}

/// `POST /halt` `{"halted":bool,"reason":string}`.
pub(super) async fn set_halt(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<HaltRequest>,
) -> Result<Response, ApiError> {
    if request.reason.chars().count() > MAX_REASON_CHARS {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidBody,
            format!("`reason` is longer than {MAX_REASON_CHARS} characters"),
        ));
    }
    let halted = request.halted;
    let changed = state.halt().set(halted, request.reason)?;
    if halted {
        tracing::warn!(reason = ?changed.reason, "trading halted at the bridge");
    } else {
        tracing::warn!(reason = ?changed.reason, "trading resumed at the bridge");
    }
    Ok(Json(changed).into_response())
}

/// `POST /orders/{id}/cancel`.
pub(super) async fn cancel_order(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let id = order_id(&id)?;
    let order = state.bounded(state.broker().cancel_order(id)).await??;
    Ok(Json(order).into_response())
}

/// `GET /executions[?key=<idempotency key>]`.
pub(super) async fn executions(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ExecutionsQuery>,
) -> Result<Response, ApiError> {
    if let Some(key) = &query.key {
        if !is_valid_key(key) {
            return Err(ApiError::bad_request(
                ErrorCode::InvalidRequest,
                "`key` must be 1-64 characters of A-Z a-z 0-9 _ - . :",
            ));
        }
    }
    let mut executions = state.bounded(state.broker().executions()).await??;
    if let Some(key) = &query.key {
        executions.retain(|e| e.idempotency_key.as_deref() == Some(key.as_str()));
    }
    Ok(Json(ExecutionsBody { executions }).into_response())
}

/// `POST /sim/control` (simulated broker only).
pub(super) async fn sim_control(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<SimControlRequest>,
) -> Result<Response, ApiError> {
    let control = state
        .broker()
        .sim_control()
        .ok_or_else(ApiError::route_not_found)?;
    let outcome = control.apply(&request)?;
    Ok(Json(outcome).into_response())
}

/// `POST /sim/clock` (simulated broker only): moves the simulated clock
/// forward. A long jump rebuilds the market, which takes a moment of CPU:
/// it runs off the async workers.
pub(super) async fn sim_clock(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<SimClockRequest>,
) -> Result<Response, ApiError> {
    if state.broker().sim_control().is_none() {
        return Err(ApiError::route_not_found());
    }
    let broker = state.broker().clone();
    let outcome = tokio::task::spawn_blocking(move || {
        broker
            .sim_control()
            .map(|control| control.set_clock(request.at))
    })
    .await
    .map_err(|e| {
        tracing::error!(error = %e, "simulated clock change panicked");
        ApiError::of(ErrorCode::Internal, "internal error")
    })?
    .ok_or_else(ApiError::route_not_found)??;
    Ok(Json(outcome).into_response())
}

/// `GET /metrics`: Prometheus text format.
pub(super) async fn metrics(State(state): State<AppState>) -> Response {
    crate::metrics::refresh_broker(state.metrics(), state.broker().as_ref()).await;
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics().render(),
    )
        .into_response()
}
