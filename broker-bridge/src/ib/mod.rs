//! `IbBroker`: the [`Broker`] trait over Interactive Brokers through one
//! `ibapi` client (IB Gateway, paper port 4002 by default).
//!
//! - A supervisor task holds the session: it connects, reconnects forever with
//!   a short capped backoff, watches IB notices (1100/1101/1102, farm codes)
//!   and socket loss, and after every reconnect re-reads open orders and
//!   executions. Streams resubscribe themselves when the session comes back.
//! - Outbound messages go through `ibapi`'s rate limiter, set under IB's
//!   50 messages/s; market-data lines (streams and in-flight snapshots) come
//!   from a budget below IB's 100; idle quote streams expire.
//! - Orders carry the caller's idempotency key as IB `orderRef`; a key is
//!   looked up locally and then among IB's open and completed orders before
//!   anything is placed, so a retry (also after a bridge or gateway restart)
//!   returns the existing order. Nothing that could place an order twice is
//!   retried automatically.
//! - New orders are refused while disconnected and during IB's daily reset
//!   window.

mod convert;
mod dividends;
mod metrics;
mod orders;
pub mod pacing;
mod session;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{NaiveDate, NaiveTime, Utc};
use ibapi::accounts::types::AccountGroup;
use ibapi::accounts::{AccountSummaryResult, AccountSummaryTags, PositionUpdate};
use ibapi::contracts::tick_types::TickType;
use ibapi::contracts::{Contract, SecurityType};
use ibapi::market_data::historical::{BarSize, BarTimestamp, ToDuration, WhatToShow};
use ibapi::market_data::realtime::TickTypes;
use ibapi::prelude::StreamExt;
use ibapi::subscriptions::SubscriptionItem;
use ibapi::Client;
use sas_core::market::{
    Account, ChainExpiry, ChainWindow, DailyBar, DataType, OptionChain, OptionQuote, OptionRight,
    Quote, SourceGreeks, Symbol,
};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

use crate::broker::{Broker, BrokerError, BrokerStatus};
use crate::config::IbSettings;
use sas_bridge_api::account::Position;
use sas_bridge_api::chain::{ChainContract, MAX_SELECTED};
use sas_bridge_api::health::BrokerMode;
use sas_bridge_api::market::{DividendsBody, IvBar, MAX_IV_HISTORY_DAYS};
use sas_bridge_api::orders::{Execution, Instrument, Order, OrderRequest, PlaceOrderOutcome};

pub use convert::parse_ib_time;
pub use metrics::IbMetrics;

use convert::{map_error, Ctx, NO_PERMISSION_CODES};

/// Settings of the IB broker.
#[derive(Debug, Clone, PartialEq)]
pub struct IbBrokerConfig {
    /// IB Gateway host (normally 127.0.0.1).
    pub host: String,
    /// API port (4002 paper, 4001 live on IB Gateway).
    pub port: u16,
    /// API client id; one session per id.
    pub client_id: i32,
    /// Market-data type requested after every connect.
    pub market_data_type: DataType,
    /// The account every call uses (`IB_ACCOUNT`); `None` is allowed only
    /// when the login manages exactly one account.
    pub account: Option<String>,
    /// Market-data lines the bridge may hold at once (IB allows 100).
    pub max_lines: usize,
    /// Outbound messages per second (IB allows 50).
    pub messages_per_second: u32,
    /// IB's daily reset window in US Eastern time (`start`, `end`, may wrap
    /// midnight); new orders are refused inside it. `None` disables the check.
    pub reset_window_et: Option<(NaiveTime, NaiveTime)>,
    /// Orders to a non-paper account are allowed (explicit live switch).
    pub allow_live_trading: bool,
    /// Idle quote streams are cancelled after this long.
    pub quote_ttl: Duration,
    /// How long a quote request waits for a first bid/ask.
    pub quote_timeout: Duration,
    /// How long one snapshot may take (IB needs up to 11 s).
    pub snapshot_timeout: Duration,
    /// Timeout of other one-shot requests.
    pub request_timeout: Duration,
    /// Largest wait between reconnect attempts.
    pub max_backoff: Duration,
    /// Pacing of historical-data requests (daily bars, IV history).
    pub historical_pacing: pacing::PacingRules,
    /// Longest a historical request waits for its pacing turn; when it
    /// would wait longer it fails at once with `Pacing` and the wait.
    pub historical_max_wait: Duration,
}

impl IbBrokerConfig {
    /// Defaults for the given connection settings: 90 lines, at most 48
    /// messages in any one-second window (about 45/s sustained); the reset
    /// window comes from the settings (default 23:45-00:45 ET, IB's
    /// North-America reset).
    pub fn from_settings(s: &IbSettings) -> Self {
        Self {
            host: s.host.clone(),
            port: s.port,
            client_id: s.client_id,
            market_data_type: s.market_data_type,
            account: s.account.clone(),
            max_lines: 90,
            messages_per_second: 48,
            reset_window_et: s.reset_window_et,
            allow_live_trading: s.allow_live_trading,
            quote_ttl: Duration::from_secs(60),
            quote_timeout: Duration::from_secs(5),
            snapshot_timeout: Duration::from_secs(12),
            request_timeout: Duration::from_secs(10),
            max_backoff: Duration::from_secs(2),
            historical_pacing: pacing::PacingRules::IB,
            historical_max_wait: Duration::from_secs(20),
        }
    }

    fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Most contracts one chain request may snapshot (IB pacing: ~22 s at 45/s).
pub const MAX_CHAIN_CONTRACTS: usize = 1_000;

/// Latest values of one streamed underlying.
#[derive(Debug, Clone, Default)]
struct QuoteState {
    bid: Option<f64>,
    ask: Option<f64>,
    last: Option<f64>,
    close: Option<f64>,
    volume: Option<f64>,
    data_type: Option<DataType>,
    updated: Option<chrono::DateTime<Utc>>,
    error: Option<BrokerError>,
}

struct QuoteStream {
    state: watch::Receiver<QuoteState>,
    last_used: Mutex<Instant>,
    task: tokio::task::AbortHandle,
}

/// One option/stock snapshot.
#[derive(Debug, Clone, Default)]
struct Snap {
    bid: Option<f64>,
    ask: Option<f64>,
    last: Option<f64>,
    volume: Option<f64>,
    open_interest: Option<f64>,
    greeks: SourceGreeks,
    data_type: Option<DataType>,
}

impl Snap {
    fn has_market(&self) -> bool {
        self.bid.is_some() || self.ask.is_some() || self.last.is_some()
    }
}

/// A market-data line; returned to the budget on drop.
struct LinePermit {
    _permit: OwnedSemaphorePermit,
    inner: Arc<Inner>,
}

impl Drop for LinePermit {
    fn drop(&mut self) {
        self.inner.report_lines(1);
    }
}

pub(crate) struct Inner {
    cfg: IbBrokerConfig,
    client: RwLock<Option<Arc<Client>>>,
    /// Bumped on every (re)connect.
    generation: watch::Sender<u64>,
    /// Bumped when IB says subscriptions were lost (1101).
    resubscribe: watch::Sender<u64>,
    health: Mutex<session::Health>,
    lines: Arc<Semaphore>,
    metrics: IbMetrics,
    quotes: Mutex<HashMap<Symbol, Arc<QuoteStream>>>,
    con_ids: Mutex<HashMap<String, i32>>,
    last_tick: Mutex<Option<Instant>>,
    book: Mutex<orders::OrderBook>,
    /// Serializes order placement so one key is never placed twice.
    place_lock: tokio::sync::Mutex<()>,
    /// Asked right before an order is sent, under `place_lock` (the
    /// bridge-side halt); `None` sends without asking.
    order_gate: RwLock<Option<Arc<dyn crate::broker::OrderGate>>>,
    /// The one account every call uses, resolved at connect from
    /// `IB_ACCOUNT` and IB's managed accounts.
    account: RwLock<Option<String>>,
    /// Where the outcome of the first connection attempt goes, when the
    /// starter waits for it ([`IbBroker::start_checked`]).
    first_connect: Mutex<Option<tokio::sync::oneshot::Sender<FirstConnect>>>,
    /// Serializes open/completed-order refreshes (IB answers them on a
    /// shared channel).
    refresh_lock: tokio::sync::Mutex<()>,
    /// IB's historical-data pacing, enforced before each request is sent.
    historical: pacing::HistoricalPacer,
    shutdown: watch::Sender<bool>,
}

/// The IB broker. Cheap to share behind `Arc<dyn Broker>`.
pub struct IbBroker {
    inner: Arc<Inner>,
    supervisor: tokio::task::JoinHandle<()>,
}

impl IbBroker {
    /// Starts the session and waits for the first connection attempt: IB
    /// error 326 (client id in use) or an ambiguous or unmanaged account stops
    /// the start with a clear message instead of retrying forever. A gateway
    /// that is not reachable yet does not: the broker starts `disconnected`
    /// and keeps trying.
    pub async fn start_checked(
        cfg: IbBrokerConfig,
        metrics: &crate::metrics::Metrics,
    ) -> Result<Self, String> {
        let wait = cfg.request_timeout + Duration::from_secs(2);
        let (tx, rx) = tokio::sync::oneshot::channel();
        let broker = Self::start_with(cfg, metrics, Some(tx))?;
        match tokio::time::timeout(wait, rx).await {
            Ok(Ok(FirstConnect::Refused(why))) => {
                broker.shutdown().await;
                Err(why)
            }
            Ok(Ok(FirstConnect::Connected | FirstConnect::Unreachable)) | Ok(Err(_)) | Err(_) => {
                Ok(broker)
            }
        }
    }

    /// Starts the session supervisor and returns at once; the broker reports
    /// `disconnected` until the first connection succeeds (and keeps retrying
    /// whatever the first attempt said; see [`start_checked`](Self::start_checked)).
    pub fn start(cfg: IbBrokerConfig, metrics: &crate::metrics::Metrics) -> Result<Self, String> {
        Self::start_with(cfg, metrics, None)
    }

    fn start_with(
        cfg: IbBrokerConfig,
        metrics: &crate::metrics::Metrics,
        first_connect: Option<tokio::sync::oneshot::Sender<FirstConnect>>,
    ) -> Result<Self, String> {
        let mut problems = Vec::new();
        if cfg.max_lines == 0 || cfg.max_lines >= 100 {
            problems.push(format!(
                "market-data line budget must be 1..=99, got {}",
                cfg.max_lines
            ));
        }
        if cfg.messages_per_second == 0 || cfg.messages_per_second > 50 {
            problems.push(format!(
                "message rate must be 1..=50 per second, got {}",
                cfg.messages_per_second
            ));
        }
        if cfg.host.trim().is_empty() {
            problems.push("IB host is empty".to_string());
        }
        if !problems.is_empty() {
            return Err(problems.join("; "));
        }
        let ib_metrics = IbMetrics::new(metrics.registry()).map_err(|e| e.to_string())?;
        let inner = Arc::new(Inner {
            historical: pacing::HistoricalPacer::new(cfg.historical_pacing),
            lines: Arc::new(Semaphore::new(cfg.max_lines)),
            health: Mutex::new(session::Health::new(cfg.market_data_type)),
            cfg,
            client: RwLock::new(None),
            generation: watch::channel(0).0,
            resubscribe: watch::channel(0).0,
            metrics: ib_metrics,
            quotes: Mutex::new(HashMap::new()),
            con_ids: Mutex::new(HashMap::new()),
            last_tick: Mutex::new(None),
            book: Mutex::new(orders::OrderBook::default()),
            place_lock: tokio::sync::Mutex::new(()),
            order_gate: RwLock::new(None),
            account: RwLock::new(None),
            first_connect: Mutex::new(first_connect),
            refresh_lock: tokio::sync::Mutex::new(()),
            shutdown: watch::channel(false).0,
        });
        let supervisor = tokio::spawn(session::supervise(inner.clone()));
        Ok(Self { inner, supervisor })
    }

    /// Sets the check made right before every order is sent, after the
    /// placement lock is taken (the binary passes the bridge-side halt), so
    /// a request that waited behind another placement is checked again.
    pub fn set_order_gate(&self, gate: Arc<dyn crate::broker::OrderGate>) {
        *self
            .inner
            .order_gate
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(gate);
    }

    /// Waits until the session is connected (or degraded), up to `timeout`.
    pub async fn wait_connected(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.inner.current_client().is_some() {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the supervisor, cancels streams and closes the IB socket.
    pub async fn shutdown(&self) {
        let _ = self.inner.shutdown.send(true);
        self.supervisor.abort();
        let streams: Vec<Arc<QuoteStream>> =
            lock(&self.inner.quotes).drain().map(|(_, s)| s).collect();
        for s in streams {
            s.task.abort();
        }
        let client = self.inner.take_client();
        if let Some(c) = client {
            c.disconnect().await;
        }
    }
}

impl Drop for IbBroker {
    fn drop(&mut self) {
        let _ = self.inner.shutdown.send(true);
        self.supervisor.abort();
        for s in lock(&self.inner.quotes).values() {
            s.task.abort();
        }
    }
}

/// What the first connection attempt found.
#[derive(Debug)]
pub(crate) enum FirstConnect {
    /// Connected, account resolved.
    Connected,
    /// Gateway not reachable (yet): keep trying.
    Unreachable,
    /// IB refused this bridge for good (326, accounts): do not start.
    Refused(String),
}

/// The one account every call uses: `IB_ACCOUNT` when given (it must be one
/// of the login's managed accounts), else the only managed account. Several
/// managed accounts without `IB_ACCOUNT` is refused, listing them.
pub(crate) fn resolve_account(
    configured: Option<&str>,
    managed: &[String],
) -> Result<String, String> {
    let list = managed.join(", ");
    match configured {
        Some(a) if managed.is_empty() || managed.iter().any(|m| m == a) => Ok(a.to_string()),
        Some(a) => Err(format!(
            "IB_ACCOUNT {a} is not among the accounts this IB login manages ({list})"
        )),
        None => match managed {
            [one] => Ok(one.clone()),
            [] => Err("IB reported no managed account; set IB_ACCOUNT".to_string()),
            _ => Err(format!(
                "IB_ACCOUNT is required: this IB login manages several accounts ({list})"
            )),
        },
    }
}

impl Inner {
    /// The resolved account (`None` before the first connect).
    pub(crate) fn account(&self) -> Option<String> {
        self.account
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set_account(&self, account: String) {
        *self.account.write().unwrap_or_else(PoisonError::into_inner) = Some(account);
    }

    /// Reports the first connection attempt's outcome to a waiting starter.
    /// Returns true when someone was waiting.
    fn report_first_connect(&self, outcome: FirstConnect) -> bool {
        match lock(&self.first_connect).take() {
            Some(tx) => tx.send(outcome).is_ok(),
            None => false,
        }
    }

    fn current_client(&self) -> Option<Arc<Client>> {
        self.client
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn take_client(&self) -> Option<Arc<Client>> {
        self.client
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    fn set_client(&self, client: Option<Arc<Client>>) {
        *self.client.write().unwrap_or_else(PoisonError::into_inner) = client;
    }

    /// The client, or `Disconnected` with the current reason.
    fn client(&self) -> Result<Arc<Client>, BrokerError> {
        match self.current_client() {
            Some(c) if c.is_connected() => Ok(c),
            _ => Err(BrokerError::Disconnected {
                reason: lock(&self.health)
                    .reason
                    .clone()
                    .unwrap_or_else(|| "not connected to IB Gateway".to_string()),
            }),
        }
    }

    fn report_lines(&self, releasing: usize) {
        let used = self
            .cfg
            .max_lines
            .saturating_sub(self.lines.available_permits() + releasing);
        self.metrics
            .lines_in_use
            .set(i64::try_from(used).unwrap_or(i64::MAX));
    }

    fn touch_tick(&self) {
        *lock(&self.last_tick) = Some(Instant::now());
    }

    /// Takes a market-data line, waiting up to `wait`. With `evict`, a full
    /// budget first gives up the least recently used quote stream.
    async fn acquire_line(
        self: &Arc<Self>,
        wait: Duration,
        evict: bool,
    ) -> Result<LinePermit, BrokerError> {
        if let Ok(p) = self.lines.clone().try_acquire_owned() {
            self.report_lines(0);
            return Ok(LinePermit {
                _permit: p,
                inner: self.clone(),
            });
        }
        if evict {
            self.evict_lru_stream();
        }
        match tokio::time::timeout(wait, self.lines.clone().acquire_owned()).await {
            Ok(Ok(p)) => {
                self.report_lines(0);
                Ok(LinePermit {
                    _permit: p,
                    inner: self.clone(),
                })
            }
            _ => Err(BrokerError::Pacing {
                code: Some(101),
                message: format!(
                    "all {} market-data lines are busy; try again shortly",
                    self.cfg.max_lines
                ),
                retry_after: Some(Duration::from_secs(2)),
            }),
        }
    }

    fn evict_lru_stream(&self) {
        let mut quotes = lock(&self.quotes);
        let oldest = quotes
            .iter()
            .min_by_key(|(_, s)| *lock(&s.last_used))
            .map(|(k, _)| k.clone());
        if let Some(k) = oldest {
            if let Some(s) = quotes.remove(&k) {
                s.task.abort();
            }
        }
    }

    /// Cancels quote streams unused for longer than the TTL.
    fn expire_idle_streams(&self) {
        let ttl = self.cfg.quote_ttl;
        lock(&self.quotes).retain(|_, s| {
            let keep = lock(&s.last_used).elapsed() < ttl;
            if !keep {
                s.task.abort();
            }
            keep
        });
    }

    /// The contract id of a stock or option (cached).
    async fn con_id(&self, client: &Client, instrument: &Instrument) -> Result<i32, BrokerError> {
        let key = instrument.to_string();
        if let Some(id) = lock(&self.con_ids).get(&key) {
            return Ok(*id);
        }
        let contract = convert::contract_of(instrument);
        let ctx = match instrument {
            Instrument::Stock { symbol } => Ctx::Symbol(symbol),
            Instrument::Option { .. } => Ctx::Contract(&key),
        };
        let details =
            tokio::time::timeout(self.cfg.request_timeout, client.contract_details(&contract))
                .await
                .map_err(|_| BrokerError::Timeout)?
                .map_err(|e| map_error(&e, ctx))?;
        let id = details
            .first()
            .map(|d| d.contract.contract_id)
            .filter(|id| *id > 0)
            .ok_or_else(|| match instrument {
                Instrument::Stock { symbol } => BrokerError::UnknownSymbol {
                    symbol: symbol.to_string(),
                    code: Some(200),
                },
                Instrument::Option { .. } => BrokerError::UnknownContract {
                    description: key.clone(),
                    code: Some(200),
                },
            })?;
        lock(&self.con_ids).insert(key, id);
        Ok(id)
    }

    /// IB's security-definition parameters of `symbol` (no market data):
    /// listed expiries (sorted, distinct) and strikes, from the SMART row.
    async fn sec_def_params(
        self: &Arc<Self>,
        client: &Client,
        symbol: &Symbol,
    ) -> Result<(Vec<NaiveDate>, Vec<f64>), BrokerError> {
        let inner = self;
        let under = Instrument::Stock {
            symbol: symbol.clone(),
        };
        let con_id = inner.con_id(client, &under).await?;
        let timeout = inner.cfg.request_timeout;
        let mut sub = tokio::time::timeout(
            timeout,
            client
                .option_chain(symbol.as_str(), SecurityType::Stock, con_id)
                .subscribe(),
        )
        .await
        .map_err(|_| BrokerError::Timeout)?
        .map_err(|e| map_error(&e, Ctx::Symbol(symbol)))?;
        let mut expirations: Vec<String> = Vec::new();
        let mut strikes: Vec<f64> = Vec::new();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, sub.next()).await {
                Err(_) => return Err(BrokerError::Timeout),
                Ok(None) => break,
                Ok(Some(Ok(SubscriptionItem::Data(c)))) => {
                    // SMART lists the union of the exchanges' contracts.
                    if c.exchange == "SMART" || expirations.is_empty() {
                        expirations = c.expirations;
                        strikes = c.strikes;
                    }
                }
                Ok(Some(Ok(SubscriptionItem::Notice(_)))) => {}
                Ok(Some(Err(e))) => return Err(map_error(&e, Ctx::Symbol(symbol))),
            }
        }
        drop(sub);
        let mut listed: Vec<NaiveDate> = expirations
            .iter()
            .filter_map(|e| NaiveDate::parse_from_str(e, "%Y%m%d").ok())
            .collect();
        listed.sort();
        listed.dedup();
        Ok((listed, strikes))
    }

    /// Snapshots `jobs` (expiry index, strike, right) over the free
    /// market-data lines into an option chain.
    async fn snapshot_chain(
        self: &Arc<Self>,
        symbol: &Symbol,
        spot: f64,
        quote_data_type: DataType,
        now: chrono::DateTime<Utc>,
        expiries: Vec<(NaiveDate, u32)>,
        jobs: Vec<(usize, f64, OptionRight)>,
    ) -> Result<OptionChain, BrokerError> {
        let inner = self;
        // A pool no larger than the free lines: snapshots never wait long for
        // a line, and the rate limiter paces the requests.
        let workers = jobs
            .len()
            .min(inner.lines.available_permits().saturating_sub(2).max(1));
        let queue = Arc::new(Mutex::new(std::collections::VecDeque::from(jobs)));
        let expiry_dates: Arc<Vec<NaiveDate>> = Arc::new(expiries.iter().map(|e| e.0).collect());
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..workers {
            let inner = inner.clone();
            let queue = queue.clone();
            let expiry_dates = expiry_dates.clone();
            let symbol = symbol.clone();
            set.spawn(async move {
                let mut done = Vec::new();
                loop {
                    let next = lock(&queue).pop_front();
                    let Some((ei, strike, right)) = next else {
                        break;
                    };
                    let Some(expiry) = expiry_dates.get(ei) else {
                        continue;
                    };
                    let contract = convert::option_contract(&symbol, *expiry, strike, right);
                    let r = inner.snapshot(&contract, Ctx::Contract("option")).await;
                    let stop = matches!(r, Err(BrokerError::Disconnected { .. }));
                    done.push((ei, strike, right, r));
                    if stop {
                        break;
                    }
                }
                done
            });
        }
        let mut by_expiry: Vec<Vec<OptionQuote>> = vec![Vec::new(); expiries.len()];
        let mut data_type = None;
        let mut first_error = None;
        let mut results = Vec::new();
        while let Some(joined) = set.join_next().await {
            if let Ok(batch) = joined {
                results.extend(batch);
            }
        }
        for (ei, strike, right, r) in results {
            match r {
                Ok(s) => {
                    data_type = data_type.or(s.data_type);
                    if let Some(v) = by_expiry.get_mut(ei) {
                        v.push(OptionQuote {
                            strike,
                            right,
                            bid: s.bid,
                            ask: s.ask,
                            last: s.last,
                            volume: s.volume.map(|v| v.max(0.0) as u64),
                            open_interest: s.open_interest.map(|v| v.max(0.0) as u64),
                            greeks: s.greeks,
                        });
                    }
                }
                // Not every strike is listed for every expiry.
                Err(BrokerError::UnknownContract { .. }) => {}
                Err(e) => {
                    if first_error.is_none() {
                        first_error = Some(e);
                    }
                }
            }
        }
        let total: usize = by_expiry.iter().map(Vec::len).sum();
        if let Some(e) = first_error {
            if total == 0 || matches!(e, BrokerError::Disconnected { .. }) {
                return Err(e);
            }
        }
        let chain_expiries = expiries
            .into_iter()
            .zip(by_expiry)
            .map(|((expiry, dte), mut contracts)| {
                contracts.sort_by(|a, b| a.strike.total_cmp(&b.strike).then(a.right.cmp(&b.right)));
                ChainExpiry {
                    expiry,
                    dte,
                    contracts,
                }
            })
            .collect();
        Ok(OptionChain {
            symbol: symbol.clone(),
            spot,
            as_of: now,
            data_type: data_type.unwrap_or(quote_data_type),
            dividend_yield: None,
            expiries: chain_expiries,
        })
    }

    /// A one-shot market-data snapshot of `contract` on its own line.
    async fn snapshot(
        self: &Arc<Self>,
        contract: &Contract,
        ctx: Ctx<'_>,
    ) -> Result<Snap, BrokerError> {
        let permit = self.acquire_line(self.cfg.snapshot_timeout, false).await?;
        let client = self.client()?;
        let mut sub = client
            .market_data(contract)
            .snapshot()
            .subscribe()
            .await
            .map_err(|e| map_error(&e, ctx))?;
        let deadline = tokio::time::Instant::now() + self.cfg.snapshot_timeout;
        let mut snap = Snap::default();
        let mut permission: Option<ibapi::Notice> = None;
        loop {
            let item = match tokio::time::timeout_at(deadline, sub.next()).await {
                Err(_) => break,
                Ok(None) => break,
                Ok(Some(item)) => item,
            };
            match item {
                Ok(SubscriptionItem::Data(TickTypes::SnapshotEnd)) => break,
                Ok(SubscriptionItem::Data(t)) => apply_snapshot_tick(&mut snap, &t),
                Ok(SubscriptionItem::Notice(n)) => {
                    self.metrics
                        .notices
                        .with_label_values(&[&n.code.to_string()])
                        .inc();
                    if NO_PERMISSION_CODES.contains(&n.code) {
                        permission = Some(n);
                    }
                }
                Err(e) => return Err(map_error(&e, ctx)),
            }
        }
        drop(sub);
        drop(permit);
        if snap.has_market() || snap.greeks.delta.is_some() {
            self.touch_tick();
            return Ok(snap);
        }
        match permission {
            Some(n) => Err(convert::map_code(n.code, &n.message, ctx)),
            None => Err(BrokerError::Timeout),
        }
    }

    /// Gets (or opens) the quote stream of `symbol`.
    async fn quote_stream(
        self: &Arc<Self>,
        symbol: &Symbol,
    ) -> Result<Arc<QuoteStream>, BrokerError> {
        if let Some(s) = lock(&self.quotes).get(symbol) {
            *lock(&s.last_used) = Instant::now();
            return Ok(s.clone());
        }
        self.client()?;
        let permit = self.acquire_line(self.cfg.quote_timeout, true).await?;
        let mut quotes = lock(&self.quotes);
        if let Some(s) = quotes.get(symbol) {
            return Ok(s.clone());
        }
        let (tx, rx) = watch::channel(QuoteState::default());
        let task = tokio::spawn(run_quote_stream(self.clone(), symbol.clone(), tx, permit));
        let stream = Arc::new(QuoteStream {
            state: rx,
            last_used: Mutex::new(Instant::now()),
            task: task.abort_handle(),
        });
        quotes.insert(symbol.clone(), stream.clone());
        Ok(stream)
    }

    async fn quote(self: &Arc<Self>, symbol: &Symbol) -> Result<Quote, BrokerError> {
        let stream = self.quote_stream(symbol).await?;
        let mut rx = stream.state.clone();
        let deadline = tokio::time::Instant::now() + self.cfg.quote_timeout;
        loop {
            // No session, no quote: a gap fails fast rather than waiting.
            self.client()?;
            {
                let st = rx.borrow_and_update();
                if let Some(e) = &st.error {
                    let e = e.clone();
                    drop(st);
                    // A failed stream is dropped so a later request retries.
                    lock(&self.quotes).remove(symbol);
                    stream.task.abort();
                    return Err(e);
                }
                if let (Some(bid), Some(ask)) = (st.bid, st.ask) {
                    self.client()?;
                    let last = st.last.or(st.close).unwrap_or(0.5 * (bid + ask));
                    return Ok(Quote {
                        symbol: symbol.clone(),
                        bid,
                        ask,
                        last,
                        volume: st.volume.map_or(0, |v| v.max(0.0) as u64),
                        timestamp: st.updated.unwrap_or_else(Utc::now),
                        data_type: st.data_type.unwrap_or(self.cfg.market_data_type),
                    });
                }
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => {
                    return Err(BrokerError::Disconnected {
                        reason: "quote stream ended".into(),
                    })
                }
                Err(_) => {
                    self.client()?;
                    return Err(BrokerError::Timeout);
                }
            }
        }
    }
}

fn apply_snapshot_tick(snap: &mut Snap, t: &TickTypes) {
    let mut price = |tt: &TickType, p: f64| match tt {
        TickType::Bid | TickType::DelayedBid if p > 0.0 => snap.bid = Some(p),
        TickType::Ask | TickType::DelayedAsk if p > 0.0 => snap.ask = Some(p),
        TickType::Last | TickType::DelayedLast if p > 0.0 => snap.last = Some(p),
        _ => {}
    };
    match t {
        TickTypes::Price(p) => price(&p.tick_type, p.price),
        TickTypes::PriceSize(p) => price(&p.price_tick_type, p.price),
        TickTypes::Size(s) => match s.tick_type {
            TickType::Volume | TickType::DelayedVolume => snap.volume = Some(s.size),
            TickType::OptionCallOpenInterest
            | TickType::OptionPutOpenInterest
            | TickType::OpenInterest => {
                snap.open_interest = Some(s.size);
            }
            _ => {}
        },
        TickTypes::OptionComputation(c)
            if matches!(
                c.field,
                TickType::ModelOption | TickType::DelayedModelOption
            ) =>
        {
            snap.greeks = SourceGreeks {
                iv: c.implied_volatility,
                delta: c.delta,
                gamma: c.gamma,
                theta: c.theta,
                vega: c.vega,
            };
        }
        TickTypes::MarketDataType(m) => snap.data_type = Some(convert::data_type_of(*m as i32)),
        _ => {}
    }
}

fn apply_quote_tick(st: &mut QuoteState, t: &TickTypes) -> bool {
    let mut changed = false;
    let mut price = |tt: &TickType, p: f64| {
        if !(p.is_finite() && p > 0.0) {
            return;
        }
        changed = true;
        match tt {
            TickType::Bid | TickType::DelayedBid => st.bid = Some(p),
            TickType::Ask | TickType::DelayedAsk => st.ask = Some(p),
            TickType::Last | TickType::DelayedLast => st.last = Some(p),
            TickType::Close | TickType::DelayedClose => st.close = Some(p),
            _ => changed = false,
        }
    };
    match t {
        TickTypes::Price(p) => price(&p.tick_type, p.price),
        TickTypes::PriceSize(p) => price(&p.price_tick_type, p.price),
        TickTypes::Size(s) if matches!(s.tick_type, TickType::Volume | TickType::DelayedVolume) => {
            st.volume = Some(s.size);
            changed = true;
        }
        TickTypes::MarketDataType(m) => st.data_type = Some(convert::data_type_of(*m as i32)),
        _ => {}
    }
    if changed {
        st.updated = Some(Utc::now());
    }
    changed
}

/// Streams one underlying for as long as the stream is wanted: resubscribes
/// after a reconnect or a 1101 notice, ends on a permanent error.
async fn run_quote_stream(
    inner: Arc<Inner>,
    symbol: Symbol,
    tx: watch::Sender<QuoteState>,
    permit: LinePermit,
) {
    let _permit = permit;
    let contract = convert::stock_contract(&symbol);
    let mut generation = inner.generation.subscribe();
    let mut resub = inner.resubscribe.subscribe();
    loop {
        let Ok(client) = inner.client() else {
            if generation.changed().await.is_err() {
                return;
            }
            continue;
        };
        generation.mark_unchanged();
        resub.mark_unchanged();
        let mut sub = match client.market_data(&contract).subscribe().await {
            Ok(s) => s,
            Err(e) => {
                let err = map_error(&e, Ctx::Symbol(&symbol));
                if matches!(err, BrokerError::Disconnected { .. }) {
                    let _ = generation.changed().await;
                    continue;
                }
                tx.send_modify(|s| s.error = Some(err));
                return;
            }
        };
        let mut permission: Option<ibapi::Notice> = None;
        loop {
            tokio::select! {
                item = sub.next() => match item {
                    Some(Ok(SubscriptionItem::Data(t))) => {
                        if let TickTypes::MarketDataType(m) = &t {
                            // What IB actually serves (live may fall back to frozen).
                            lock(&inner.health).market_data_type = convert::data_type_of(*m as i32);
                        }
                        let mut changed = false;
                        tx.send_modify(|s| changed = apply_quote_tick(s, &t));
                        if changed {
                            inner.touch_tick();
                        }
                    }
                    Some(Ok(SubscriptionItem::Notice(n))) => {
                        inner.metrics.notices.with_label_values(&[&n.code.to_string()]).inc();
                        if NO_PERMISSION_CODES.contains(&n.code) && tx.borrow().bid.is_none() {
                            permission = Some(n);
                            let e = convert::map_code(permission.as_ref().map_or(0, |n| n.code), permission.as_ref().map_or("", |n| n.message.as_str()), Ctx::Symbol(&symbol));
                            tx.send_modify(|s| s.error = Some(e));
                        }
                    }
                    Some(Err(e)) => {
                        let err = map_error(&e, Ctx::Symbol(&symbol));
                        if matches!(err, BrokerError::Disconnected { .. }) {
                            break;
                        }
                        tx.send_modify(|s| s.error = Some(err));
                        return;
                    }
                    None => break,
                },
                _ = resub.changed() => break,
            }
        }
        drop(sub);
        if permission.is_some() {
            return;
        }
        // The subscription ended (session lost, or IB asked to resubscribe):
        // what it held is from before the gap and must not be served as the
        // quote of now; `quote` waits for the next subscription's ticks.
        tx.send_modify(|s| *s = QuoteState::default());
        if inner.client().is_err() && generation.changed().await.is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The date of a daily bar.
fn bar_date(t: &BarTimestamp) -> Option<NaiveDate> {
    match t {
        BarTimestamp::Date(d) => {
            NaiveDate::from_ymd_opt(d.year(), u32::from(u8::from(d.month())), u32::from(d.day()))
        }
        BarTimestamp::DateTime(t) => {
            Some(chrono::DateTime::from_timestamp(t.unix_timestamp(), 0)?.date_naive())
        }
    }
}

impl Inner {
    /// Waits for the pacing turn of a historical request about `symbol`
    /// (`detail` names what makes it identical to another), or fails with
    /// `Pacing` when the turn is further than `historical_max_wait`.
    async fn pace_historical(
        &self,
        symbol: &Symbol,
        detail: &str,
    ) -> Result<pacing::PacingTicket, BrokerError> {
        let request = pacing::HistoricalRequest {
            contract: format!("{symbol} STK"),
            detail: detail.to_string(),
        };
        self.historical
            .acquire(&request, self.cfg.historical_max_wait)
            .await
            .map_err(|wait| BrokerError::Pacing {
                code: None,
                message: format!(
                    "historical-data pacing: the next {symbol} request may be sent in {} s",
                    wait.as_secs_f64().ceil()
                ),
                retry_after: Some(wait),
            })
    }

    /// One paced daily-bars request of `what` over `duration` for `symbol`'s
    /// stock contract, bounded by the chain timeout (at least 30 s). The
    /// outer error is pacing, the session or the timeout; the inner one is
    /// IB's answer, left to the caller to map.
    async fn paced_daily_bars(
        &self,
        symbol: &Symbol,
        what: WhatToShow,
        duration: ibapi::market_data::historical::Duration,
    ) -> Result<Result<ibapi::market_data::historical::HistoricalData, ibapi::Error>, BrokerError>
    {
        let client = self.client()?;
        let contract = convert::stock_contract(symbol);
        let ticket = self
            .pace_historical(symbol, &format!("{what} 1 day {duration}"))
            .await?;
        let data = tokio::time::timeout(
            self.cfg.request_timeout.max(Duration::from_secs(30)),
            client
                .historical_data(&contract, BarSize::Day)
                .what_to_show(what)
                .duration(duration)
                .fetch(),
        )
        .await;
        drop(ticket);
        data.map_err(|_| BrokerError::Timeout)
    }
}

/// Calendar days → IB duration covering `bars` daily bars.
fn history_duration(bars: u32) -> ibapi::market_data::historical::Duration {
    let calendar = bars.saturating_mul(7) / 5 + 10;
    if calendar <= 365 {
        (calendar as i32).days()
    } else {
        (calendar.div_ceil(365) as i32).years()
    }
}

impl IbBroker {
    /// A chain of `symbol` over the listed expiries `pick` keeps (with their
    /// DTE) and the `strikes` nearest spot, both rights: one snapshot per
    /// contract, refused (`field`) beyond [`MAX_CHAIN_CONTRACTS`].
    async fn chain_of(
        &self,
        symbol: &Symbol,
        strikes: u32,
        field: &'static str,
        pick: impl FnOnce(&[NaiveDate], NaiveDate) -> Vec<(NaiveDate, u32)>,
    ) -> Result<OptionChain, BrokerError> {
        let inner = &self.inner;
        let client = inner.client()?;
        let quote = inner.quote(symbol).await?;
        let spot = quote.mid().unwrap_or(quote.last);
        let (listed, mut near) = inner.sec_def_params(&client, symbol).await?;
        let now = Utc::now();
        let mut expiries = pick(&listed, now.date_naive());
        expiries.sort();
        expiries.dedup();
        near.sort_by(|a, b| (a - spot).abs().total_cmp(&(b - spot).abs()));
        near.truncate(strikes as usize);
        near.sort_by(f64::total_cmp);
        let jobs: Vec<(usize, f64, OptionRight)> = (0..expiries.len())
            .flat_map(|ei| {
                near.iter()
                    .flat_map(move |&k| [OptionRight::Call, OptionRight::Put].map(|r| (ei, k, r)))
            })
            .collect();
        if jobs.len() > MAX_CHAIN_CONTRACTS {
            return Err(BrokerError::InvalidRequest {
                field,
                message: format!(
                    "{} contracts would need {} IB snapshot requests (about {} s at {} per second); \
                     narrow the DTE window or the strike count (at most {MAX_CHAIN_CONTRACTS} contracts)",
                    jobs.len(),
                    jobs.len(),
                    jobs.len() / inner.cfg.messages_per_second as usize,
                    inner.cfg.messages_per_second
                ),
            });
        }
        inner
            .snapshot_chain(symbol, spot, quote.data_type, now, expiries, jobs)
            .await
    }
}

#[async_trait]
impl Broker for IbBroker {
    fn mode(&self) -> BrokerMode {
        BrokerMode::Ib
    }

    fn reset_window_et(&self) -> Option<String> {
        self.inner
            .cfg
            .reset_window_et
            .map(|(start, end)| format!("{}-{}", start.format("%H:%M"), end.format("%H:%M")))
    }

    fn reconnects(&self) -> u64 {
        self.inner.metrics.reconnects.get()
    }

    async fn status(&self) -> BrokerStatus {
        let h = lock(&self.inner.health).clone();
        let age = lock(&self.inner.last_tick).map(|t| t.elapsed());
        BrokerStatus {
            state: h.state,
            since: h.since,
            reason: h.reason,
            server_version: h.server_version,
            market_data_type: h.market_data_type,
            last_tick_age: age,
        }
    }

    async fn account(&self) -> Result<Account, BrokerError> {
        let client = self.inner.client()?;
        let account = self
            .inner
            .account()
            .ok_or_else(|| BrokerError::Disconnected {
                reason: "the IB account is not resolved yet".into(),
            })?;
        let tags = [
            AccountSummaryTags::NET_LIQUIDATION,
            AccountSummaryTags::TOTAL_CASH_VALUE,
            AccountSummaryTags::BUYING_POWER,
        ];
        let timeout = self.inner.cfg.request_timeout;
        let mut sub = tokio::time::timeout(
            timeout,
            client.account_summary(&AccountGroup("All".into()), &tags),
        )
        .await
        .map_err(|_| BrokerError::Timeout)?
        .map_err(|e| map_error(&e, Ctx::Other))?;
        let mut values: HashMap<String, (String, String, String)> = HashMap::new();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, sub.next()).await {
                Err(_) => return Err(BrokerError::Timeout),
                Ok(None) => break,
                Ok(Some(Ok(SubscriptionItem::Data(AccountSummaryResult::Summary(s))))) => {
                    if account == s.account {
                        values.insert(s.tag.clone(), (s.account, s.value, s.currency));
                    }
                }
                Ok(Some(Ok(SubscriptionItem::Data(AccountSummaryResult::End)))) => break,
                Ok(Some(Ok(SubscriptionItem::Notice(_)))) => {}
                Ok(Some(Err(e))) => return Err(map_error(&e, Ctx::Other)),
            }
        }
        drop(sub);
        let num = |tag: &str| -> Result<f64, BrokerError> {
            values
                .get(tag)
                .and_then(|(_, v, _)| v.parse::<f64>().ok())
                .ok_or_else(|| BrokerError::Internal(format!("IB account summary lacks {tag}")))
        };
        let (account_id, _, currency) = values.get("NetLiquidation").cloned().ok_or_else(|| {
            BrokerError::Internal("IB account summary lacks NetLiquidation".into())
        })?;
        Ok(Account {
            account_id,
            net_liquidation: num("NetLiquidation")?,
            cash: num("TotalCashValue")?,
            buying_power: num("BuyingPower")?,
            currency: if currency.is_empty() {
                "USD".into()
            } else {
                currency
            },
            as_of: Utc::now(),
        })
    }

    async fn positions(&self) -> Result<Vec<Position>, BrokerError> {
        let client = self.inner.client()?;
        let account = self
            .inner
            .account()
            .ok_or_else(|| BrokerError::Disconnected {
                reason: "the IB account is not resolved yet".into(),
            })?;
        let timeout = self.inner.cfg.request_timeout;
        let mut sub = tokio::time::timeout(timeout, client.positions())
            .await
            .map_err(|_| BrokerError::Timeout)?
            .map_err(|e| map_error(&e, Ctx::Other))?;
        let mut raw = Vec::new();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, sub.next()).await {
                Err(_) => return Err(BrokerError::Timeout),
                Ok(None) => break,
                Ok(Some(Ok(SubscriptionItem::Data(PositionUpdate::Position(p))))) => {
                    if account == p.account && p.position != 0.0 {
                        if let Some(inst) = convert::instrument_of(&p.contract) {
                            raw.push((inst, p.position, p.average_cost, p.contract.contract_id));
                        }
                    }
                }
                Ok(Some(Ok(SubscriptionItem::Data(PositionUpdate::PositionEnd)))) => break,
                Ok(Some(Ok(SubscriptionItem::Notice(_)))) => {}
                Ok(Some(Err(e))) => return Err(map_error(&e, Ctx::Other)),
            }
        }
        drop(sub);
        let mut marks = tokio::task::JoinSet::new();
        for (idx, (inst, _, _, _)) in raw.iter().enumerate() {
            let inner = self.inner.clone();
            let inst = inst.clone();
            marks.spawn(async move {
                let mark = match &inst {
                    Instrument::Stock { symbol } => {
                        inner.quote(symbol).await.ok().and_then(|q| q.mid())
                    }
                    Instrument::Option { .. } => {
                        let desc = inst.to_string();
                        inner
                            .snapshot(&convert::contract_of(&inst), Ctx::Contract(&desc))
                            .await
                            .ok()
                            .and_then(|s| match (s.bid, s.ask) {
                                (Some(b), Some(a)) if a >= b => Some(0.5 * (a + b)),
                                _ => s.last,
                            })
                    }
                };
                (idx, mark)
            });
        }
        let mut mark_of = vec![None; raw.len()];
        while let Some(Ok((idx, mark))) = marks.join_next().await {
            if let Some(slot) = mark_of.get_mut(idx) {
                *slot = mark;
            }
        }
        Ok(raw
            .into_iter()
            .zip(mark_of)
            .map(|((instrument, quantity, avg_cost_ib, con_id), mark)| {
                let mult = instrument.multiplier();
                let avg_cost = avg_cost_ib / mult;
                let market_value = mark.map(|m| quantity * m * mult);
                Position {
                    unrealized_pnl: market_value.map(|v| v - quantity * avg_cost * mult),
                    instrument,
                    quantity,
                    avg_cost,
                    market_price: mark,
                    market_value,
                    con_id: (con_id > 0).then_some(i64::from(con_id)),
                }
            })
            .collect())
    }

    async fn quotes(&self, symbols: &[Symbol]) -> Vec<Result<Quote, BrokerError>> {
        let mut set = tokio::task::JoinSet::new();
        for (idx, s) in symbols.iter().enumerate() {
            let inner = self.inner.clone();
            let s = s.clone();
            set.spawn(async move { (idx, inner.quote(&s).await) });
        }
        let mut out: Vec<Result<Quote, BrokerError>> = symbols
            .iter()
            .map(|_| Err(BrokerError::Internal("quote task failed".into())))
            .collect();
        while let Some(joined) = set.join_next().await {
            if let Ok((idx, r)) = joined {
                if let Some(slot) = out.get_mut(idx) {
                    *slot = r;
                }
            }
        }
        out
    }

    async fn option_chain(
        &self,
        symbol: &Symbol,
        window: ChainWindow,
    ) -> Result<OptionChain, BrokerError> {
        window.validate().map_err(|e| BrokerError::InvalidRequest {
            field: "window",
            message: e.to_string(),
        })?;
        self.chain_of(symbol, window.strikes, "window", |listed, today| {
            listed
                .iter()
                .copied()
                .filter_map(|d| {
                    let dte = u32::try_from((d - today).num_days()).ok()?;
                    (dte >= window.min_dte && dte <= window.max_dte).then_some((d, dte))
                })
                .collect()
        })
        .await
    }

    async fn option_chain_for_expiries(
        &self,
        symbol: &Symbol,
        wanted: &[NaiveDate],
        strikes: u32,
    ) -> Result<OptionChain, BrokerError> {
        if wanted.is_empty() || wanted.len() > MAX_SELECTED || strikes == 0 {
            return Err(BrokerError::InvalidRequest {
                field: "expiries",
                message: format!("1..={MAX_SELECTED} expiries and at least one strike"),
            });
        }
        self.chain_of(symbol, strikes, "expiries", |listed, today| {
            wanted
                .iter()
                .copied()
                .filter(|d| listed.contains(d))
                .filter_map(|d| Some((d, u32::try_from((d - today).num_days()).ok()?)))
                .collect()
        })
        .await
    }

    async fn option_chain_for_contracts(
        &self,
        symbol: &Symbol,
        contracts: &[ChainContract],
    ) -> Result<OptionChain, BrokerError> {
        if contracts.is_empty() || contracts.len() > MAX_SELECTED {
            return Err(BrokerError::InvalidRequest {
                field: "contracts",
                message: format!("1..={MAX_SELECTED} contracts"),
            });
        }
        let inner = &self.inner;
        inner.client()?;
        let quote = inner.quote(symbol).await?;
        let spot = quote.mid().unwrap_or(quote.last);
        let now = Utc::now();
        let today = now.date_naive();
        let mut expiries: Vec<(NaiveDate, u32)> = contracts
            .iter()
            .filter_map(|c| Some((c.expiry, u32::try_from((c.expiry - today).num_days()).ok()?)))
            .collect();
        expiries.sort();
        expiries.dedup();
        let jobs: Vec<(usize, f64, OptionRight)> = contracts
            .iter()
            .filter_map(|c| {
                let ei = expiries.iter().position(|(d, _)| *d == c.expiry)?;
                Some((ei, c.strike, c.right))
            })
            .collect();
        inner
            .snapshot_chain(symbol, spot, quote.data_type, now, expiries, jobs)
            .await
    }

    async fn chain_expiries(&self, symbol: &Symbol) -> Result<Vec<NaiveDate>, BrokerError> {
        let client = self.inner.client()?;
        let (listed, _) = self.inner.sec_def_params(&client, symbol).await?;
        let today = Utc::now().date_naive();
        Ok(listed.into_iter().filter(|d| *d >= today).collect())
    }

    async fn daily_history(
        &self,
        symbol: &Symbol,
        days: u32,
    ) -> Result<Vec<DailyBar>, BrokerError> {
        if days == 0 || days > 730 {
            return Err(BrokerError::InvalidRequest {
                field: "days",
                message: format!("must be 1..=730, got {days}"),
            });
        }
        let data = self
            .inner
            .paced_daily_bars(symbol, WhatToShow::Trades, history_duration(days))
            .await?
            .map_err(|e| map_error(&e, Ctx::Symbol(symbol)))?;
        let mut bars: Vec<DailyBar> = data
            .bars
            .iter()
            .filter_map(|b| {
                let date = bar_date(&b.date)?;
                Some(DailyBar {
                    date,
                    open: b.open,
                    high: b.high,
                    low: b.low,
                    close: b.close,
                    volume: b.volume.max(0.0) as u64,
                })
            })
            .collect();
        let skip = bars.len().saturating_sub(days as usize);
        bars.drain(..skip);
        Ok(bars)
    }

    async fn iv_history(&self, symbol: &Symbol, days: u32) -> Result<Vec<IvBar>, BrokerError> {
        if days == 0 || days > MAX_IV_HISTORY_DAYS {
            return Err(BrokerError::InvalidRequest {
                field: "days",
                message: format!("must be 1..={MAX_IV_HISTORY_DAYS}, got {days}"),
            });
        }
        // One request, at most a year: "N D" up to 364 days, "1 Y" for 365.
        let duration = if days >= 365 {
            1.years()
        } else {
            (days as i32).days()
        };
        let data = self
            .inner
            .paced_daily_bars(symbol, WhatToShow::OptionImpliedVolatility, duration)
            .await?
            .map_err(|e| convert::map_iv_history_error(&e, symbol))?;
        let first = Utc::now().date_naive() - chrono::Duration::days(i64::from(days));
        let mut bars: Vec<IvBar> = data
            .bars
            .iter()
            .filter_map(|b| {
                let date = bar_date(&b.date)?;
                // IB's IV bars: the close is the day's 30-day IV.
                (date >= first && b.close.is_finite() && b.close > 0.0)
                    .then_some(IvBar { date, iv: b.close })
            })
            .collect();
        bars.sort_by_key(|b| b.date);
        bars.dedup_by_key(|b| b.date);
        if bars.is_empty() {
            return Err(BrokerError::NoOptions {
                symbol: symbol.to_string(),
                code: None,
            });
        }
        Ok(bars)
    }

    async fn dividends(&self, symbol: &Symbol) -> Result<DividendsBody, BrokerError> {
        self.inner.dividends(symbol).await
    }

    async fn place_order(&self, request: OrderRequest) -> Result<PlaceOrderOutcome, BrokerError> {
        orders::place(&self.inner, request).await
    }

    async fn cancel_order(&self, order_id: &str) -> Result<Order, BrokerError> {
        orders::cancel(&self.inner, order_id).await
    }

    async fn open_orders(&self) -> Result<Vec<Order>, BrokerError> {
        orders::open_orders(&self.inner).await
    }

    async fn order(&self, order_id: &str) -> Result<Order, BrokerError> {
        orders::order(&self.inner, order_id).await
    }

    async fn order_by_key(&self, key: &str) -> Result<Order, BrokerError> {
        orders::order_by_key(&self.inner, key).await
    }

    async fn executions(&self) -> Result<Vec<Execution>, BrokerError> {
        orders::executions(&self.inner).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_duration_covers_requested_bars() {
        assert_eq!(history_duration(20), 38.days());
        assert_eq!(history_duration(252), 362.days());
        assert_eq!(history_duration(730), 3.years());
    }
}
