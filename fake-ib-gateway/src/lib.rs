//! Fake IB Gateway: speaks the TWS socket protocol that `ibapi` 5.x uses
//! (version handshake, length-prefixed frames, protobuf messages) over TCP on
//! 127.0.0.1, backed by the seeded simulated market.
//!
//! Tests start it with [`FakeGateway::start`] and steer it through
//! [`FakeControls`]: drop every socket, refuse connections for a while (a
//! gateway restart), send connectivity and farm notices, reject the next
//! order, delay responses, deny market data or pace historical requests.
//!
//! What is simulated: the account, positions, orders (rest, fill at or better
//! than the limit once the market crosses, cancel), executions with
//! commissions, combo (BAG) orders whose legs are referenced by contract id,
//! market-data snapshots and streams with model greeks, daily bars.
//!
//! Order lifecycle as IB reports it: `PreSubmitted` then `Submitted` on
//! placement; fills as `Submitted` with filled/remaining until `Filled`;
//! each execution followed by its commission report; cancel as
//! `PendingCancel`, `Cancelled` and notice 202 (a filled order answers 161).
//! Test controls: partial fills ([`FakeControls::partial_fill_next_order`]),
//! held commission reports, assignment of an option into stock. Every
//! executions request (so every new connection's) replays the whole day's
//! fills with the same exec ids, as IB does.

pub mod book;
pub mod market;
pub mod pacing;
pub mod proto;
mod server;
pub mod sim;
pub mod wire;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use thiserror::Error;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

pub use book::{Book, OrderPhase};
pub use market::MarketSource;
pub use pacing::HistoricalPacing;

/// The one error enum of this crate.
#[derive(Debug, Error)]
pub enum FakeError {
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("protocol: {0}")]
    Protocol(String),
}

/// Start-up settings.
#[derive(Debug, Clone)]
pub struct FakeConfig {
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Seed of the simulated market.
    pub seed: u64,
    /// The first managed account (where the simulated book trades).
    pub account: String,
    /// Further managed accounts of the same login (an advisor or a login
    /// with several accounts): listed in the handshake and in account
    /// summaries (fixed values), never traded.
    pub extra_accounts: Vec<String>,
    /// Cash the account starts with.
    pub starting_cash: f64,
    /// Server version announced in the handshake (capped by the client's max).
    pub server_version: i32,
    /// Simultaneous streaming market-data lines per client (IB: 100).
    pub max_market_data_lines: usize,
    /// How often streams tick and resting orders are matched.
    pub tick_interval: Duration,
    /// Answer a client sending more than 50 messages/s with error 100 and
    /// close its socket, as IB does.
    pub enforce_pacing: bool,
    /// Historical-data pacing enforced (IB's rules by default): a request
    /// breaking it is answered with error 162 and counted as a violation.
    /// `None` enforces nothing (violations are still not counted).
    pub historical_pacing: Option<HistoricalPacing>,
}

impl Default for FakeConfig {
    fn default() -> Self {
        Self {
            port: 0,
            seed: 42,
            account: "DU1234567".into(),
            extra_accounts: Vec::new(),
            starting_cash: 100_000.0,
            server_version: 222,
            max_market_data_lines: 100,
            tick_interval: Duration::from_millis(250),
            enforce_pacing: true,
            historical_pacing: Some(HistoricalPacing::IB),
        }
    }
}

impl FakeConfig {
    /// The managed-accounts list as IB sends it: comma-separated.
    #[must_use]
    pub fn managed_accounts(&self) -> String {
        std::iter::once(self.account.as_str())
            .chain(self.extra_accounts.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// An order as the gateway sees it, for test assertions.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderView {
    pub order_id: i32,
    pub client_id: i32,
    pub order_ref: String,
    pub status: OrderPhase,
    pub quantity: f64,
    pub filled: f64,
    pub avg_fill: f64,
    pub sec_type: String,
}

/// Faults the test can switch on.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    pub reject_next_order: Option<(i32, String)>,
    pub response_delay: Duration,
    pub refuse_until: Option<tokio::time::Instant>,
    pub pace_next_historical: bool,
    /// Symbol → IB error code for market-data requests (e.g. 354).
    pub denied_market_data: std::collections::HashMap<String, i32>,
    /// Contract-details requests that name only a contract id fail (200).
    pub fail_lookup_by_con_id: bool,
    /// Underlyings treated as listing no options: their IV history answers
    /// 162 "HMDS query returned no data".
    pub no_options: std::collections::HashSet<String>,
}

/// Counters the test can read.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub connections: AtomicU64,
    pub messages_in: AtomicU64,
    pub max_rate_per_sec: AtomicU64,
    pub market_data_requests: AtomicU64,
    pub dividend_requests: AtomicU64,
    pub place_order_requests: AtomicU64,
    pub historical_requests: AtomicU64,
    pub historical_pacing_violations: AtomicU64,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Handle to steer a running fake gateway.
#[derive(Clone)]
pub struct FakeControls {
    pub(crate) shared: Arc<server::Shared>,
}

impl FakeControls {
    /// Closes every client socket at once (the gateway stays up).
    pub fn drop_all_connections(&self) {
        self.shared.drop_sessions();
    }

    /// Simulates a gateway restart: closes every socket and refuses new
    /// connections (the port is closed) for `downtime`.
    pub fn restart(&self, downtime: Duration) {
        lock(&self.shared.faults).refuse_until = Some(tokio::time::Instant::now() + downtime);
        self.shared.drop_sessions();
        self.shared.restart.notify_one();
    }

    /// Sends an unsolicited notice (id -1) to every client: 1100, 1101,
    /// 1102, farm codes 2103-2108, 2157/2158, or any other code.
    pub fn send_notice(&self, code: i32, message: &str) {
        self.shared.broadcast_notice(code, message);
    }

    /// The next placed order is rejected with this IB code and text.
    pub fn reject_next_order(&self, code: i32, message: &str) {
        lock(&self.shared.faults).reject_next_order = Some((code, message.to_string()));
    }

    /// Waits this long before answering each request (0 = off).
    pub fn set_response_delay(&self, delay: Duration) {
        lock(&self.shared.faults).response_delay = delay;
    }

    /// The next historical-data request fails with pacing violation 162.
    pub fn pace_next_historical(&self) {
        lock(&self.shared.faults).pace_next_historical = true;
    }

    /// `symbol` is treated as listing no options: its IV history request is
    /// answered with 162 "HMDS query returned no data", as IB does.
    pub fn list_without_options(&self, symbol: &str) {
        lock(&self.shared.faults)
            .no_options
            .insert(symbol.to_ascii_uppercase());
    }

    /// Historical-data requests received so far (every kind).
    pub fn historical_requests(&self) -> u64 {
        self.shared
            .stats
            .historical_requests
            .load(Ordering::Relaxed)
    }

    /// Historical-data requests that broke the pacing rules (answered 162).
    /// Injected faults ([`pace_next_historical`](Self::pace_next_historical))
    /// are not counted.
    pub fn historical_pacing_violations(&self) -> u64 {
        self.shared
            .stats
            .historical_pacing_violations
            .load(Ordering::Relaxed)
    }

    /// Market-data requests that asked for IB dividends (generic tick 456).
    pub fn dividend_requests(&self) -> u64 {
        self.shared.stats.dividend_requests.load(Ordering::Relaxed)
    }

    /// Market data for `symbol` fails with `code` (354, 10089, 10091...).
    pub fn deny_market_data(&self, symbol: &str, code: i32) {
        lock(&self.shared.faults)
            .denied_market_data
            .insert(symbol.to_ascii_uppercase(), code);
    }

    /// Contract-details requests naming only a contract id (how a client
    /// rebuilds a combo's legs) fail with 200 while `on`.
    pub fn fail_contract_lookup_by_id(&self, on: bool) {
        lock(&self.shared.faults).fail_lookup_by_con_id = on;
    }

    /// Fill plan of the next placed order: at most `units` fill (a partial
    /// fill when the order is larger) until [`release_fills`](Self::release_fills);
    /// never released, the rest never fills.
    pub fn partial_fill_next_order(&self, units: f64) {
        lock(&self.shared.state).book.next_fill_cap = Some(units);
    }

    /// Lifts the fill cap of every order: the rest fills once marketable
    /// (matched on the next tick).
    pub fn release_fills(&self) {
        let mut st = lock(&self.shared.state);
        for o in &mut st.book.orders {
            o.fill_cap = None;
        }
    }

    /// While `on`, the commission report of each new fill is held back (the
    /// execution is sent alone, and executions requests omit it) until
    /// [`release_commissions`](Self::release_commissions).
    pub fn hold_commissions(&self, on: bool) {
        lock(&self.shared.state).book.hold_commissions = on;
    }

    /// Sends the held commission reports (after their executions, as IB
    /// does) and stops holding.
    pub fn release_commissions(&self) {
        self.shared.release_commissions();
    }

    /// Assigns the option position `con_id`: it leaves the account and the
    /// underlying's stock position changes by 100 shares per contract at the
    /// strike, as `reqPositions` then shows. Returns the stock's contract id
    /// and the signed shares; `None` when no such option is held.
    pub fn assign(&self, con_id: i32) -> Option<(i32, f64)> {
        lock(&self.shared.state).book.assign(con_id)
    }

    /// Every execution of the day the gateway would replay: (exec id,
    /// order ref, contract id, shares).
    pub fn executions(&self) -> Vec<(String, String, i32, f64)> {
        lock(&self.shared.state)
            .book
            .executions
            .iter()
            .map(|r| {
                (
                    r.details.exec_id.clone().unwrap_or_default(),
                    r.details.order_ref.clone().unwrap_or_default(),
                    r.contract.con_id.unwrap_or(0),
                    r.details
                        .shares
                        .as_deref()
                        .and_then(|q| q.parse().ok())
                        .unwrap_or(0.0),
                )
            })
            .collect()
    }

    /// Every order the gateway has accepted, oldest first.
    pub fn orders(&self) -> Vec<OrderView> {
        let state = lock(&self.shared.state);
        state
            .book
            .orders
            .iter()
            .map(|o| OrderView {
                order_id: o.order_id,
                client_id: o.client_id,
                order_ref: o.order_ref.clone(),
                status: o.phase,
                quantity: o.quantity,
                filled: o.filled,
                avg_fill: o.avg_fill,
                sec_type: o.contract.sec_type.clone().unwrap_or_default(),
            })
            .collect()
    }

    /// Net position by contract id.
    pub fn positions(&self) -> Vec<(i32, f64)> {
        let state = lock(&self.shared.state);
        let mut v: Vec<(i32, f64)> = state
            .book
            .positions
            .iter()
            .map(|(id, h)| (*id, h.quantity))
            .collect();
        v.sort_by_key(|p| p.0);
        v
    }

    /// Client sockets accepted so far.
    pub fn connections_accepted(&self) -> u64 {
        self.shared.stats.connections.load(Ordering::Relaxed)
    }

    /// Clients connected now (handshake done).
    pub fn live_sessions(&self) -> usize {
        lock(&self.shared.sessions).len()
    }

    /// Messages received from clients so far.
    pub fn messages_received(&self) -> u64 {
        self.shared.stats.messages_in.load(Ordering::Relaxed)
    }

    /// Highest number of messages one client sent within any one second.
    pub fn max_messages_per_second(&self) -> u64 {
        self.shared.stats.max_rate_per_sec.load(Ordering::Relaxed)
    }

    /// Market-data requests received so far (snapshots and streams).
    pub fn market_data_requests(&self) -> u64 {
        self.shared
            .stats
            .market_data_requests
            .load(Ordering::Relaxed)
    }

    /// placeOrder requests received so far (accepted or not).
    pub fn place_order_requests(&self) -> u64 {
        self.shared
            .stats
            .place_order_requests
            .load(Ordering::Relaxed)
    }

    /// Streaming market-data lines open now, over all clients.
    pub fn market_data_lines(&self) -> usize {
        self.shared.lines_in_use()
    }
}

/// A running fake gateway.
pub struct FakeGateway {
    /// Where it listens (127.0.0.1).
    pub addr: SocketAddr,
    /// Fault injection and inspection.
    pub controls: FakeControls,
    tasks: Vec<JoinHandle<()>>,
}

impl FakeGateway {
    /// Binds 127.0.0.1:`config.port` and starts serving, using the seeded
    /// simulated market.
    pub async fn start(config: FakeConfig) -> Result<FakeGateway, FakeError> {
        let market = sim::SimSource::new(config.seed);
        Self::start_with_market(config, Box::new(market)).await
    }

    /// Like [`start`](Self::start) with any market.
    pub async fn start_with_market(
        config: FakeConfig,
        market: Box<dyn MarketSource>,
    ) -> Result<FakeGateway, FakeError> {
        let listener = TcpListener::bind(("127.0.0.1", config.port)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(server::Shared::new(config, market));
        let accept = tokio::spawn(server::accept_loop(shared.clone(), listener, addr));
        let ticker = tokio::spawn(server::ticker(shared.clone()));
        Ok(FakeGateway {
            addr,
            controls: FakeControls { shared },
            tasks: vec![accept, ticker],
        })
    }

    /// Stops listening and closes every socket.
    pub fn shutdown(&self) {
        for t in &self.tasks {
            t.abort();
        }
        self.controls.shared.drop_sessions();
    }
}

impl Drop for FakeGateway {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Used by the restart fault: wake the accept loop.
pub(crate) type RestartSignal = Notify;
