//! Every error response: `{"error":"<snake_case_code>","message":"…"}`, and the
//! one table of codes and their HTTP statuses.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Stable machine code.
    pub error: ErrorCode,
    /// Human text naming the problem (broker codes appended as
    /// `(broker code N)`; never internal detail).
    pub message: String,
}

macro_rules! error_codes {
    ($( $(#[$doc:meta])* $variant:ident = $wire:literal => $status:literal, )*) => {
        /// Every `error` code the bridge answers with (snake_case on the wire).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum ErrorCode {
            $( $(#[$doc])* $variant, )*
        }

        impl ErrorCode {
            /// Every code, in table order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// Wire name.
            #[must_use]
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $wire,)*
                }
            }

            /// The HTTP status this code is answered with. One exception:
            /// `GET /health` answers `timeout` with 503 (an unhealthy bridge),
            /// not 504.
            #[must_use]
            pub fn http_status(self) -> u16 {
                match self {
                    $(ErrorCode::$variant => $status,)*
                }
            }
        }
    };
}

error_codes! {
    /// A required query parameter is absent.
    MissingParameter = "missing_parameter" => 400,
    /// The query string cannot be parsed.
    InvalidQuery = "invalid_query" => 400,
    /// A path parameter cannot be decoded.
    InvalidPath = "invalid_path" => 400,
    /// A number out of range, or a bad `/chain` selection.
    InvalidParameter = "invalid_parameter" => 400,
    /// `/orders/by-key/{key}` key malformed.
    InvalidIdempotencyKey = "invalid_idempotency_key" => 400,
    /// Not 1-10 chars `[A-Z][A-Z0-9.-]*`.
    InvalidSymbol = "invalid_symbol" => 400,
    /// `/quotes` with no symbol.
    EmptySymbolList = "empty_symbol_list" => 400,
    /// `/quotes` with more than 50 symbols.
    TooManySymbols = "too_many_symbols" => 400,
    /// `/quotes` naming a symbol twice.
    DuplicateSymbol = "duplicate_symbol" => 400,
    /// The broker does not know the symbol.
    UnknownSymbol = "unknown_symbol" => 400,
    /// Option expiry/strike not listed.
    UnknownContract = "unknown_contract" => 400,
    /// Malformed JSON, wrong shape or unknown fields.
    InvalidBody = "invalid_body" => 400,
    /// The order fails validation (every problem listed).
    InvalidOrder = "invalid_order" => 400,
    /// Path order id malformed.
    InvalidOrderId = "invalid_order_id" => 400,
    /// The broker refused an argument.
    InvalidRequest = "invalid_request" => 400,
    /// Missing or invalid bearer token.
    Unauthorized = "unauthorized" => 401,
    /// No market-data subscription (IB 354/10089/10091).
    NoMarketDataPermission = "no_market_data_permission" => 403,
    /// The account is not a paper account and live trading is off; nothing was sent.
    LiveTradingDisabled = "live_trading_disabled" => 403,
    /// Unknown route.
    NotFound = "not_found" => 404,
    /// Unknown order id, or no order under a key at the broker.
    OrderNotFound = "order_not_found" => 404,
    /// The underlying lists no options, so it has no implied-volatility
    /// history (`GET /history/iv`).
    NoOptions = "no_options" => 404,
    /// Wrong method for the route.
    MethodNotAllowed = "method_not_allowed" => 405,
    /// Key reused for a different order.
    IdempotencyKeyConflict = "idempotency_key_conflict" => 409,
    /// The order is already final.
    OrderNotCancellable = "order_not_cancellable" => 409,
    /// Orders are not accepted now (IB daily reset).
    OrderWindowClosed = "order_window_closed" => 409,
    /// The bridge-side halt is on; nothing was sent.
    TradingHalted = "trading_halted" => 409,
    /// `POST /sim/clock` refused: the simulated clock only moves forward,
    /// and a jump that rebuilds the market needs flat option books.
    SimClockRefused = "sim_clock_refused" => 409,
    /// Body over 64 KiB.
    BodyTooLarge = "body_too_large" => 413,
    /// A JSON body without `Content-Type: application/json`.
    UnsupportedMediaType = "unsupported_media_type" => 415,
    /// The broker rejected the order.
    OrderRejected = "order_rejected" => 422,
    /// Broker pacing limit.
    Pacing = "pacing" => 429,
    /// Unexpected; detail only in the bridge's log.
    Internal = "internal" => 500,
    /// `POST /halt` could not write the halt file.
    HaltNotPersisted = "halt_not_persisted" => 500,
    /// No broker session.
    BrokerDisconnected = "broker_disconnected" => 503,
    /// The broker did not answer in time (for `POST /orders`: outcome unknown).
    Timeout = "timeout" => 504,
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_match_serde_and_statuses_are_http() {
        for code in ErrorCode::ALL {
            let json = serde_json::to_string(code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            let back: ErrorCode = serde_json::from_str(&json).unwrap();
            assert_eq!(back, *code);
            assert!((400..600).contains(&code.http_status()), "{code}");
        }
    }
}
