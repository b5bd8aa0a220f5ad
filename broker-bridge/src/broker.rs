//! The `Broker` trait every backend implements (simulated market, IB), and
//! its error and status types.
//!
//! Implementations must be cheap to call concurrently (`Arc<dyn Broker>` is
//! shared by every request); the HTTP layer bounds every call with a timeout,
//! so a call that can block on the network must be cancel-safe.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use sas_core::market::{Account, ChainWindow, DailyBar, DataType, OptionChain, Quote, Symbol};

use sas_bridge_api::account::Position;
use sas_bridge_api::chain::ChainContract;
use sas_bridge_api::health::{BrokerMode, ConnectionState};
use sas_bridge_api::market::{DividendsBody, IvBar};
use sas_bridge_api::orders::{Execution, Order, OrderRequest, PlaceOrderOutcome};
use sas_bridge_api::sim::{SimClockOutcome, SimControlOutcome, SimControlRequest};

/// Test controls of the simulated broker (`POST /sim/control`,
/// `POST /sim/clock`). Only the simulated broker has them; the routes exist
/// only when [`Broker::sim_control`] returns one.
pub trait SimControl: Send + Sync {
    /// Applies a control: moves an underlying, widens its spreads, sets the
    /// fill mode. A refused request changes nothing.
    fn apply(&self, request: &SimControlRequest) -> Result<SimControlOutcome, BrokerError>;

    /// Moves the simulated clock forward to `at`, from where it runs on with
    /// the wall clock. A refused request changes nothing.
    fn set_clock(&self, at: DateTime<Utc>) -> Result<SimClockOutcome, SimClockError>;
}

/// A time as the wire writes it (RFC 3339, `Z`, fractions only when present).
fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// Why the simulated clock was not moved (`POST /sim/clock`); mapped to
/// HTTP in `crate::api::error`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SimClockError {
    /// `at` is before the current simulated time. HTTP 409 `sim_clock_refused`.
    #[error(
        "the simulated clock only moves forward: {} is before the current simulated time {}",
        rfc3339(*.at),
        rfc3339(*.now)
    )]
    Backwards {
        /// The requested time.
        at: DateTime<Utc>,
        /// The simulated time when the request arrived.
        now: DateTime<Utc>,
    },
    /// A jump of more than an hour rebuilds the market; working orders and
    /// option positions cannot be carried through it (their fills and
    /// settlements depend on the path skipped). HTTP 409 `sim_clock_refused`.
    #[error(
        "a clock jump needs flat option books: a jump of more than {max_step_minutes} minutes \
         rebuilds the market, which cannot fill working orders or settle options along the \
         way; {books}. Cancel or close them first, or move the clock in steps of at most \
         {max_step_minutes} minutes"
    )]
    BooksNotFlat {
        /// The longest jump that steps the market (minutes).
        max_step_minutes: i64,
        /// What is open, e.g. `working orders 3, 7; option positions SPY ...`.
        books: String,
    },
    /// `at` is outside the years the simulated market covers. HTTP 400
    /// `invalid_request`.
    #[error(
        "at {} is outside the simulated market's years ({first} to {last})",
        rfc3339(*.at)
    )]
    OutOfRange {
        /// The requested time.
        at: DateTime<Utc>,
        /// First year covered.
        first: i32,
        /// Last year covered.
        last: i32,
    },
    /// The market could not be rebuilt. HTTP 500 `internal`.
    #[error("the simulated market could not be rebuilt: {0}")]
    Internal(String),
}

/// A check a broker makes right before it sends a new order, after it took
/// its placement lock: a halt switched on while a request waited behind
/// another placement still stops it. The bridge-side [`crate::halt::Halt`]
/// is one.
pub trait OrderGate: Send + Sync {
    /// `Err` (normally [`BrokerError::TradingHalted`]) when no new order may
    /// be sent now.
    fn check(&self) -> Result<(), BrokerError>;
}

/// A snapshot of the broker session's health.
#[derive(Debug, Clone, PartialEq)]
pub struct BrokerStatus {
    /// Current state.
    pub state: ConnectionState,
    /// When the session entered `state`.
    pub since: DateTime<Utc>,
    /// Why it is degraded or disconnected (safe to show; no secrets).
    pub reason: Option<String>,
    /// Broker server (API) version, when connected to a real gateway.
    pub server_version: Option<i32>,
    /// Market-data type quotes are delivered as.
    pub market_data_type: DataType,
    /// Age of the most recent market-data tick, if any arrived.
    pub last_tick_age: Option<Duration>,
}

/// Errors a broker reports. Each maps to one HTTP status and snake_case code
/// (see `crate::api::error`); `code` carries the broker's own numeric error
/// code (IB error codes) when there is one.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BrokerError {
    /// The symbol is unknown to the broker. HTTP 400 `unknown_symbol`.
    #[error("unknown symbol {symbol}")]
    UnknownSymbol {
        /// The symbol as requested.
        symbol: String,
        /// Broker error code (IB 200), if any.
        code: Option<i32>,
    },
    /// No such contract (option expiry/strike not listed). HTTP 400 `unknown_contract`.
    #[error("no such contract: {description}")]
    UnknownContract {
        /// Human description of the contract.
        description: String,
        /// Broker error code, if any.
        code: Option<i32>,
    },
    /// A request argument the broker refuses. HTTP 400 `invalid_request`.
    #[error("invalid {field}: {message}")]
    InvalidRequest {
        /// Which argument.
        field: &'static str,
        /// Why.
        message: String,
    },
    /// The account lacks a market-data subscription (IB 354/10089/10091).
    /// HTTP 403 `no_market_data_permission`.
    #[error("no market data permission{}: {message}", symbol.as_ref().map(|s| format!(" for {s}")).unwrap_or_default())]
    NoMarketDataPermission {
        /// Symbol concerned, if known.
        symbol: Option<String>,
        /// Broker error code.
        code: Option<i32>,
        /// Broker message.
        message: String,
    },
    /// Broker pacing limit hit (IB 162, 100). HTTP 429 `pacing`.
    #[error("broker pacing limit: {message}")]
    Pacing {
        /// Broker error code.
        code: Option<i32>,
        /// Broker message.
        message: String,
        /// Suggested wait before retrying.
        retry_after: Option<Duration>,
    },
    /// The broker rejected the order. HTTP 422 `order_rejected`.
    #[error("order rejected: {message}")]
    Rejected {
        /// Broker error code.
        code: Option<i32>,
        /// Broker message.
        message: String,
    },
    /// The underlying lists no options, so it has no implied-volatility
    /// history. HTTP 404 `no_options`.
    #[error("{symbol} has no listed options, so no implied-volatility history")]
    NoOptions {
        /// The symbol as requested.
        symbol: String,
        /// Broker error code (IB 162 "no data"), if any.
        code: Option<i32>,
    },
    /// No order with this id. HTTP 404 `order_not_found`.
    #[error("no order {0}")]
    OrderNotFound(String),
    /// The order is already final. HTTP 409 `order_not_cancellable`.
    #[error("order {id} cannot be cancelled: it is {status}")]
    NotCancellable {
        /// Order id.
        id: String,
        /// Its current status.
        status: String,
    },
    /// The idempotency key was used before for a different order.
    /// HTTP 409 `idempotency_key_conflict`.
    #[error("idempotency key {key} was already used for a different order ({existing_order_id})")]
    IdempotencyConflict {
        /// The reused key.
        key: String,
        /// The order placed under it.
        existing_order_id: String,
    },
    /// No broker session. HTTP 503 `broker_disconnected`.
    #[error("broker disconnected: {reason}")]
    Disconnected {
        /// Why (safe to show).
        reason: String,
    },
    /// Orders are not accepted right now (for example IB's daily reset).
    /// HTTP 409 `order_window_closed`.
    #[error("orders are not accepted now: {reason}")]
    OrderWindowClosed {
        /// Why.
        reason: String,
    },
    /// The order would go to a live (non-paper) account and live trading is
    /// not switched on (`BRIDGE_ALLOW_LIVE_TRADING`). HTTP 403
    /// `live_trading_disabled`.
    #[error("account {account:?} is not a paper account and live trading is not enabled on the bridge (BRIDGE_ALLOW_LIVE_TRADING)")]
    LiveTradingDisabled {
        /// The account orders would be placed in (empty when unknown).
        account: String,
    },
    /// The bridge-side halt is on (seen when the placement was about to be
    /// sent); nothing was sent. HTTP 409 `trading_halted`.
    #[error("trading is halted at the bridge{}", reason.as_ref().map(|r| format!(": {r}")).unwrap_or_default())]
    TradingHalted {
        /// Why, as given by whoever halted.
        reason: Option<String>,
    },
    /// The broker did not answer in time. HTTP 504 `timeout`.
    #[error("the broker did not answer in time")]
    Timeout,
    /// Anything else. HTTP 500 `internal`; the detail is logged, not sent.
    #[error("internal broker error: {0}")]
    Internal(String),
}

/// A brokerage backend.
#[async_trait]
pub trait Broker: Send + Sync + 'static {
    /// Which backend this is.
    fn mode(&self) -> BrokerMode;

    /// The simulated broker's test controls; `None` (the default) for real
    /// brokers, and then `POST /sim/control` does not exist.
    fn sim_control(&self) -> Option<&dyn SimControl> {
        None
    }

    /// IB's daily reset window as configured (`HH:MM-HH:MM`, US Eastern
    /// time), shown in `/health`; `None` (the default) when there is none.
    fn reset_window_et(&self) -> Option<String> {
        None
    }

    /// The simulated clock's now when it is not the wall clock (shown in
    /// `/health`); `None` (the default) for real brokers.
    fn simulated_time(&self) -> Option<DateTime<Utc>> {
        None
    }

    /// Reconnections of the broker session after the first connection (0,
    /// the default, for brokers without a session), for `/metrics`.
    fn reconnects(&self) -> u64 {
        0
    }

    /// Session health. Must answer quickly without network I/O.
    async fn status(&self) -> BrokerStatus;

    /// Account summary.
    async fn account(&self) -> Result<Account, BrokerError>;

    /// Current positions.
    async fn positions(&self) -> Result<Vec<Position>, BrokerError>;

    /// Quotes for several symbols, one result per requested symbol in the same
    /// order, so one bad name never blocks the others.
    async fn quotes(&self, symbols: &[Symbol]) -> Vec<Result<Quote, BrokerError>>;

    /// An option-chain snapshot windowed by DTE and strikes nearest spot.
    async fn option_chain(
        &self,
        symbol: &Symbol,
        window: ChainWindow,
    ) -> Result<OptionChain, BrokerError>;

    /// An option-chain snapshot of the listed expiries among `expiries`
    /// (at most 8; unlisted ones are left out), `strikes` nearest spot each.
    async fn option_chain_for_expiries(
        &self,
        symbol: &Symbol,
        expiries: &[NaiveDate],
        strikes: u32,
    ) -> Result<OptionChain, BrokerError>;

    /// An option-chain snapshot holding exactly `contracts` (at most 8;
    /// unlisted ones are left out) and spot.
    async fn option_chain_for_contracts(
        &self,
        symbol: &Symbol,
        contracts: &[ChainContract],
    ) -> Result<OptionChain, BrokerError>;

    /// The listed option expiries of `symbol` from today on, sorted (IB: the
    /// security-definition parameters; no market data).
    async fn chain_expiries(&self, symbol: &Symbol) -> Result<Vec<NaiveDate>, BrokerError>;

    /// `days` daily bars (1..=730) ending at the last session before today.
    async fn daily_history(&self, symbol: &Symbol, days: u32)
        -> Result<Vec<DailyBar>, BrokerError>;

    /// Daily closes of the underlying's 30-day implied volatility over the
    /// `days` calendar days (1..=365) before today, oldest first (IB:
    /// `OPTION_IMPLIED_VOLATILITY` daily bars, one request, paced).
    /// `NoOptions` when the underlying lists no options.
    async fn iv_history(&self, symbol: &Symbol, days: u32) -> Result<Vec<IvBar>, BrokerError> {
        let _ = (symbol, days);
        Err(BrokerError::Internal(
            "this broker does not serve IV history".into(),
        ))
    }

    /// The underlying's dividend summary: the sums of the past and next 12
    /// months and the next ex-date and amount (IB: the "IB dividends" tick,
    /// generic tick 456, on one market-data line for a moment).
    async fn dividends(&self, symbol: &Symbol) -> Result<DividendsBody, BrokerError> {
        let _ = symbol;
        Err(BrokerError::Internal(
            "this broker does not serve dividends".into(),
        ))
    }

    /// Places a limit order. When `idempotency_key` was seen before with the
    /// same request, returns the existing order with `duplicate = true` and
    /// places nothing; with a different request, fails with
    /// [`BrokerError::IdempotencyConflict`].
    async fn place_order(&self, request: OrderRequest) -> Result<PlaceOrderOutcome, BrokerError>;

    /// Requests cancellation; returns the order as it stands afterwards.
    async fn cancel_order(&self, order_id: &str) -> Result<Order, BrokerError>;

    /// Orders still working.
    async fn open_orders(&self) -> Result<Vec<Order>, BrokerError>;

    /// One order by id (open or final).
    async fn order(&self, order_id: &str) -> Result<Order, BrokerError>;

    /// The order placed under idempotency key `key`, after asking the broker
    /// (IB: open orders of every API client and today's completed orders).
    /// `OrderNotFound` means the broker was asked and has none; `Disconnected`
    /// or `Timeout` means it could not be asked.
    async fn order_by_key(&self, key: &str) -> Result<Order, BrokerError>;

    /// Executions (fills) of the current session, oldest first, each once
    /// (a fill the broker reports again, e.g. IB's replay of the day's fills
    /// on a new connection, is not repeated).
    async fn executions(&self) -> Result<Vec<Execution>, BrokerError>;
}
