//! JSON errors at the HTTP edge: `{"error":"<snake_case_code>","message":"…"}`.
//! Internal detail (broker internals, panics) is logged, never sent.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use sas_core::CoreError;
use serde::Serialize;

use crate::broker::BrokerError;
use crate::chain_select::ChainSelectionError;
use crate::halt::HaltError;

/// An error response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine code.
    pub code: &'static str,
    /// Human text naming the problem.
    pub message: String,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    message: &'a str,
}

impl ApiError {
    /// Any error.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400 with a code.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 401 without detail.
    #[must_use]
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or invalid bearer token",
        )
    }

    /// 404 for unknown routes.
    #[must_use]
    pub fn route_not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "no such route")
    }

    /// 409 `trading_halted`: the bridge-side halt is on; nothing was sent.
    #[must_use]
    pub fn trading_halted(reason: Option<&str>) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "trading_halted",
            match reason {
                Some(r) => format!("trading is halted at the bridge: {r}"),
                None => "trading is halted at the bridge".to_string(),
            },
        )
    }

    /// 400 `missing_parameter`.
    #[must_use]
    pub fn missing(param: &str) -> Self {
        Self::bad_request(
            "missing_parameter",
            format!("query parameter `{param}` is required"),
        )
    }
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        let code = match &e {
            CoreError::InvalidSymbol(_) => "invalid_symbol",
            CoreError::EmptySymbolList => "empty_symbol_list",
            CoreError::TooManySymbols { .. } => "too_many_symbols",
            CoreError::DuplicateSymbol(_) => "duplicate_symbol",
            CoreError::InvalidInput { .. } => "invalid_parameter",
        };
        Self::bad_request(code, e.to_string())
    }
}

impl From<ChainSelectionError> for ApiError {
    fn from(e: ChainSelectionError) -> Self {
        Self::bad_request("invalid_parameter", e.to_string())
    }
}

impl From<HaltError> for ApiError {
    fn from(e: HaltError) -> Self {
        tracing::error!(error = %e, "halt change not persisted");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "halt_not_persisted",
            "the halt file could not be written: a halt still applies until restart, a resume was not made",
        )
    }
}

impl BrokerError {
    /// HTTP status and code of this error.
    #[must_use]
    pub fn http_status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            BrokerError::UnknownSymbol { .. } => (StatusCode::BAD_REQUEST, "unknown_symbol"),
            BrokerError::UnknownContract { .. } => (StatusCode::BAD_REQUEST, "unknown_contract"),
            BrokerError::InvalidRequest { .. } => (StatusCode::BAD_REQUEST, "invalid_request"),
            BrokerError::NoMarketDataPermission { .. } => {
                (StatusCode::FORBIDDEN, "no_market_data_permission")
            }
            BrokerError::Pacing { .. } => (StatusCode::TOO_MANY_REQUESTS, "pacing"),
            BrokerError::Rejected { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "order_rejected"),
            BrokerError::OrderNotFound(_) => (StatusCode::NOT_FOUND, "order_not_found"),
            BrokerError::NotCancellable { .. } => (StatusCode::CONFLICT, "order_not_cancellable"),
            BrokerError::IdempotencyConflict { .. } => {
                (StatusCode::CONFLICT, "idempotency_key_conflict")
            }
            BrokerError::Disconnected { .. } => {
                (StatusCode::SERVICE_UNAVAILABLE, "broker_disconnected")
            }
            BrokerError::OrderWindowClosed { .. } => (StatusCode::CONFLICT, "order_window_closed"),
            BrokerError::LiveTradingDisabled { .. } => {
                (StatusCode::FORBIDDEN, "live_trading_disabled")
            }
            BrokerError::Timeout => (StatusCode::GATEWAY_TIMEOUT, "timeout"),
            BrokerError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }

    /// Broker error code (IB code), when there is one.
    #[must_use]
    pub fn broker_code(&self) -> Option<i32> {
        match self {
            BrokerError::UnknownSymbol { code, .. }
            | BrokerError::UnknownContract { code, .. }
            | BrokerError::NoMarketDataPermission { code, .. }
            | BrokerError::Pacing { code, .. }
            | BrokerError::Rejected { code, .. } => *code,
            _ => None,
        }
    }

    /// Message safe to send: everything except `Internal`'s detail, with the
    /// broker code appended when known.
    #[must_use]
    pub fn public_message(&self) -> String {
        match self {
            BrokerError::Internal(_) => "internal broker error".to_string(),
            other => match other.broker_code() {
                Some(code) => format!("{other} (broker code {code})"),
                None => other.to_string(),
            },
        }
    }
}

impl From<BrokerError> for ApiError {
    fn from(e: BrokerError) -> Self {
        if let BrokerError::Internal(detail) = &e {
            tracing::error!(detail = %detail, "internal broker error");
        }
        let (status, code) = e.http_status_and_code();
        Self::new(status, code, e.public_message())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.code,
            message: &self.message,
        };
        (self.status, axum::Json(body)).into_response()
    }
}
