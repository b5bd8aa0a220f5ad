//! JSON errors at the HTTP edge: `{"error":"<snake_case_code>","message":"…"}`.
//! Internal detail (broker internals, panics) is logged, never sent.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use sas_bridge_api::error::{ErrorBody, ErrorCode};
use sas_core::CoreError;

use crate::broker::{BrokerError, SimClockError};
use crate::halt::HaltError;
use sas_bridge_api::chain::ChainSelectionError;

/// An error response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine code.
    pub code: ErrorCode,
    /// Human text naming the problem.
    pub message: String,
    /// Sent as `Retry-After` (whole seconds, rounded up) when set: broker
    /// pacing says when a retry may succeed.
    pub retry_after: Option<std::time::Duration>,
}

impl ApiError {
    /// An error answered with its code's HTTP status.
    pub fn of(code: ErrorCode, message: impl Into<String>) -> Self {
        let status =
            StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Self::new(status, code, message)
    }

    /// Any error, with an explicit status (only `/health` departs from the
    /// code's own status).
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 400 with a code.
    pub fn bad_request(code: ErrorCode, message: impl Into<String>) -> Self {
        debug_assert_eq!(code.http_status(), 400, "{code}");
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 401 without detail.
    #[must_use]
    pub fn unauthorized() -> Self {
        Self::of(ErrorCode::Unauthorized, "missing or invalid bearer token")
    }

    /// 404 for unknown routes.
    #[must_use]
    pub fn route_not_found() -> Self {
        Self::of(ErrorCode::NotFound, "no such route")
    }

    /// 409 `trading_halted`: the bridge-side halt is on; nothing was sent.
    #[must_use]
    pub fn trading_halted(reason: Option<&str>) -> Self {
        BrokerError::TradingHalted {
            reason: reason.map(str::to_string),
        }
        .into()
    }

    /// 400 `missing_parameter`.
    #[must_use]
    pub fn missing(param: &str) -> Self {
        Self::bad_request(
            ErrorCode::MissingParameter,
            format!("query parameter `{param}` is required"),
        )
    }
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        let code = match &e {
            CoreError::InvalidSymbol(_) => ErrorCode::InvalidSymbol,
            CoreError::EmptySymbolList => ErrorCode::EmptySymbolList,
            CoreError::TooManySymbols { .. } => ErrorCode::TooManySymbols,
            CoreError::DuplicateSymbol(_) => ErrorCode::DuplicateSymbol,
            CoreError::InvalidInput { .. } => ErrorCode::InvalidParameter,
        };
        Self::bad_request(code, e.to_string())
    }
}

impl From<ChainSelectionError> for ApiError {
    fn from(e: ChainSelectionError) -> Self {
        Self::bad_request(ErrorCode::InvalidParameter, e.to_string())
    }
}

impl From<HaltError> for ApiError {
    fn from(e: HaltError) -> Self {
        tracing::error!(error = %e, "halt change not persisted");
        Self::of(
            ErrorCode::HaltNotPersisted,
            "the halt file could not be written: a halt still applies until restart, a resume was not made",
        )
    }
}

impl From<SimClockError> for ApiError {
    fn from(e: SimClockError) -> Self {
        match &e {
            SimClockError::Backwards { .. } | SimClockError::BooksNotFlat { .. } => {
                Self::of(ErrorCode::SimClockRefused, e.to_string())
            }
            SimClockError::OutOfRange { .. } => {
                Self::bad_request(ErrorCode::InvalidRequest, e.to_string())
            }
            SimClockError::Internal(detail) => {
                tracing::error!(detail = %detail, "simulated clock change failed");
                Self::of(ErrorCode::Internal, "internal error")
            }
        }
    }
}

impl BrokerError {
    /// The wire code of this error (its HTTP status is the code's).
    #[must_use]
    pub fn code(&self) -> ErrorCode {
        match self {
            BrokerError::UnknownSymbol { .. } => ErrorCode::UnknownSymbol,
            BrokerError::UnknownContract { .. } => ErrorCode::UnknownContract,
            BrokerError::InvalidRequest { .. } => ErrorCode::InvalidRequest,
            BrokerError::NoMarketDataPermission { .. } => ErrorCode::NoMarketDataPermission,
            BrokerError::Pacing { .. } => ErrorCode::Pacing,
            BrokerError::Rejected { .. } => ErrorCode::OrderRejected,
            BrokerError::NoOptions { .. } => ErrorCode::NoOptions,
            BrokerError::OrderNotFound(_) => ErrorCode::OrderNotFound,
            BrokerError::NotCancellable { .. } => ErrorCode::OrderNotCancellable,
            BrokerError::IdempotencyConflict { .. } => ErrorCode::IdempotencyKeyConflict,
            BrokerError::Disconnected { .. } => ErrorCode::BrokerDisconnected,
            BrokerError::OrderWindowClosed { .. } => ErrorCode::OrderWindowClosed,
            BrokerError::LiveTradingDisabled { .. } => ErrorCode::LiveTradingDisabled,
            BrokerError::TradingHalted { .. } => ErrorCode::TradingHalted,
            BrokerError::Timeout => ErrorCode::Timeout,
            BrokerError::Internal(_) => ErrorCode::Internal,
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
            | BrokerError::NoOptions { code, .. }
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
        let retry_after = match &e {
            BrokerError::Pacing { retry_after, .. } => *retry_after,
            _ => None,
        };
        let mut api = Self::of(e.code(), e.public_message());
        api.retry_after = retry_after;
        api
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.code,
            message: self.message,
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(wait) = self.retry_after {
            let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(secs),
            );
        }
        response
    }
}
