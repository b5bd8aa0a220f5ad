//! `SimBroker`: the `Broker` trait over the in-process simulated market, with
//! a paper account (cash, positions, orders, executions) updated by fills.
//!
//! Wall-clock time maps onto simulated steps (one step per second from the
//! moment the broker was built), so quotes move in real time and the path is
//! a pure function of the seed and the elapsed seconds. The simulated clock
//! is the wall clock plus an offset: zero by default, set by `--sim-start`
//! and moved forward by `POST /sim/clock` ([`SimBroker::set_clock`], in
//! `sim/jump.rs`).
//!
//! With a state file ([`SimBroker::open`], `--sim-state`), the books (cash,
//! holdings, orders, executions, id counters, fill mode, the test controls)
//! and the market's start and step are written after every change and read
//! back at start, so a restarted bridge continues the same account like a
//! real broker: working orders keep working (and fill during the downtime at
//! the step they became marketable), executions keep their ids.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Utc};
use sas_core::market::{
    Account, ChainExpiry, ChainWindow, DailyBar, DataType, OptionChain, OptionRight, Quote, Symbol,
};
use sas_sim_market::calendar::next_session_close;
use sas_sim_market::chain::expiry_close;
use sas_sim_market::matching::{combo_fill_price, single_fill_price, ComboLegMarket, Side};
use sas_sim_market::{SimConfig, SimError, SimMarket, SymbolOverride};
use serde::{Deserialize, Serialize};

use crate::broker::{Broker, BrokerError, BrokerStatus, SimClockError, SimControl};
use crate::clock::Clock;
use sas_bridge_api::account::Position;
use sas_bridge_api::chain::ChainContract;
use sas_bridge_api::health::{BrokerMode, ConnectionState};
use sas_bridge_api::market::{DividendSource, DividendsBody, IvBar};
use sas_bridge_api::orders::{
    Execution, Instrument, Order, OrderAction, OrderRequest, OrderStatus, PlaceOrderOutcome,
    TimeInForce,
};
use sas_bridge_api::sim::{FillMode, SimClockOutcome, SimControlOutcome, SimControlRequest};

mod jump;

/// First year the simulated clock may read (`--sim-start`, `POST /sim/clock`).
pub const SIM_FIRST_YEAR: i32 = 2000;
/// Last year the simulated clock may read.
pub const SIM_LAST_YEAR: i32 = 2099;

/// Whether `t` lies in the years the simulated clock may read.
#[must_use]
pub fn sim_time_in_range(t: DateTime<Utc>) -> bool {
    (SIM_FIRST_YEAR..=SIM_LAST_YEAR).contains(&t.year())
}

/// Commission per option contract.
pub const OPTION_COMMISSION_PER_CONTRACT: f64 = 0.65;
/// Commission per share, with a $1 minimum per execution.
pub const STOCK_COMMISSION_PER_SHARE: f64 = 0.005;

/// Settings of the simulated broker.
#[derive(Debug, Clone, PartialEq)]
pub struct SimBrokerConfig {
    /// Market seed.
    pub seed: u64,
    /// Symbols the market knows (unknown names answer `unknown_symbol`).
    pub universe: Vec<Symbol>,
    /// Paper account starting cash (USD).
    pub starting_cash: f64,
    /// Account id reported by `/account`.
    pub account_id: String,
    /// Simulated time at start (`--sim-start`); `None`: the wall clock's
    /// now. The simulated clock then runs on with the wall clock. A state
    /// file that exists keeps its own clock instead.
    pub start: Option<DateTime<Utc>>,
}

/// A holding in the paper account.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Holding {
    instrument: Instrument,
    quantity: f64,
    avg_cost: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SimOrder {
    order: Order,
    /// Day orders expire at the session close.
    expires_at: Option<DateTime<Utc>>,
    /// Σ (fill price × units) over the order's fills, for the average.
    fill_value: f64,
    /// Fills so far (partial fills make several).
    fills: u32,
}

/// A stable synthetic contract id for an instrument (the simulator's
/// stand-in for IB's `conId`): FNV-1a of its display form, positive 31 bits.
#[must_use]
pub fn sim_con_id(instrument: &Instrument) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in instrument.to_string().bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    i64::try_from(h & 0x7fff_ffff).unwrap_or(1).max(1)
}

/// SplitMix64 of the inputs: the seeded draw behind partial fills.
fn mix(parts: &[u64]) -> u64 {
    let mut z: u64 = 0x9e37_79b9_7f4a_7c15;
    for p in parts {
        z = z.wrapping_add(*p).wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
    }
    z
}

struct SimState {
    market: SimMarket,
    account_id: String,
    cash: f64,
    holdings: BTreeMap<String, Holding>,
    orders: Vec<SimOrder>,
    by_id: HashMap<String, usize>,
    by_key: HashMap<String, usize>,
    /// Indices of orders that can still fill.
    working: Vec<usize>,
    executions: Vec<Execution>,
    next_order_id: u64,
    next_exec_id: u64,
    /// Market seed (partial fills are drawn from it).
    seed: u64,
    /// How marketable orders fill (`POST /sim/control`).
    fill_mode: FillMode,
    /// Simulated time minus wall-clock time (`--sim-start`, `POST /sim/clock`).
    clock_offset: TimeDelta,
    /// The books changed since they were last written to the state file.
    changed: bool,
    /// Where the books are kept (`None`: in memory only).
    store: Option<StateStore>,
}

/// The state file and whether writing it is failing (logged once a streak).
struct StateStore {
    path: PathBuf,
    failing: bool,
}

/// Format version of the state file.
const STATE_FILE_VERSION: u32 = 1;

/// The books as the state file holds them (JSON). The market itself is not
/// stored: it is rebuilt from the seed, `market_start` and `market_step`,
/// with the test controls in `overrides` on top.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SavedBooks<'a> {
    version: u32,
    seed: u64,
    /// Simulated time of step 0.
    market_start: DateTime<Utc>,
    /// The market's step when the books were written.
    market_step: u64,
    cash: f64,
    holdings: Vec<Holding>,
    orders: Cow<'a, [SimOrder]>,
    executions: Cow<'a, [Execution]>,
    next_order_id: u64,
    next_exec_id: u64,
    fill_mode: FillMode,
    overrides: Vec<SavedOverride>,
    /// Simulated time minus wall-clock time, in milliseconds (`--sim-start`,
    /// `POST /sim/clock`); 0 (absent in older files): the wall clock.
    #[serde(default)]
    clock_offset_ms: i64,
}

/// Largest clock offset a state file may hold (about 200 years).
const MAX_CLOCK_OFFSET_MS: i64 = 200 * 366 * 86_400_000;

/// One symbol's test controls in the state file.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SavedOverride {
    symbol: Symbol,
    price_factor: f64,
    spread_multiplier: f64,
}

/// Why the simulated broker could not start from its state file.
#[derive(Debug, thiserror::Error)]
pub enum SimStateError {
    /// The file exists but cannot be read.
    #[error("sim state file {path} cannot be read: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not a valid state file; it is left as it is.
    #[error(
        "sim state file {path} cannot be parsed: {source}; the bridge does not replace it: \
         repair it, or move it away to start with fresh books"
    )]
    Parse {
        /// The file.
        path: String,
        /// The JSON error.
        source: serde_json::Error,
    },
    /// The file parses but does not fit this bridge (another seed, a symbol
    /// outside the universe, inconsistent books).
    #[error("sim state file {path} does not fit this bridge: {reason}; it is left as it is")]
    Invalid {
        /// The file.
        path: String,
        /// What does not fit.
        reason: String,
    },
    /// The first write of a new state file failed.
    #[error("sim state file {path} cannot be written: {source}")]
    Write {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The broker itself could not be built.
    #[error(transparent)]
    Broker(#[from] BrokerError),
}

/// The simulated broker.
pub struct SimBroker {
    state: Mutex<SimState>,
    clock: Arc<dyn Clock>,
    since: DateTime<Utc>,
}

/// Keeps a running bridge's market current even when no request arrives, so
/// per-request work stays small (a request never has to replay a long idle
/// period) and resting orders fill in real time. The task ends when the
/// broker is dropped.
pub fn spawn_ticker(broker: &Arc<SimBroker>, every: Duration) -> tokio::task::JoinHandle<()> {
    let weak = Arc::downgrade(broker);
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            let Some(broker) = weak.upgrade() else {
                break;
            };
            broker.tick();
        }
    })
}

fn sim_error(e: SimError) -> BrokerError {
    match e {
        SimError::UnknownSymbol(symbol) => BrokerError::UnknownSymbol { symbol, code: None },
        SimError::UnknownContract(description) => BrokerError::UnknownContract {
            description,
            code: None,
        },
        SimError::InvalidInput { field, reason } => BrokerError::InvalidRequest {
            field,
            message: reason,
        },
        SimError::InvalidConfig(m) => BrokerError::Internal(m),
    }
}

fn side(action: OrderAction) -> Side {
    match action {
        OrderAction::Buy => Side::Buy,
        OrderAction::Sell => Side::Sell,
    }
}

fn cents(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

impl SimBroker {
    /// Builds the broker; the simulated clock starts at `config.start`, or
    /// at `clock.now()` without one, and runs on with `clock`.
    pub fn new(config: SimBrokerConfig, clock: Arc<dyn Clock>) -> Result<Self, BrokerError> {
        let wall = clock.now();
        let start = config.start.unwrap_or(wall);
        if !sim_time_in_range(start) {
            return Err(BrokerError::InvalidRequest {
                field: "start",
                message: format!(
                    "{start} is outside the simulated market's years ({SIM_FIRST_YEAR} to {SIM_LAST_YEAR})"
                ),
            });
        }
        let market = SimMarket::new(SimConfig::new(config.seed, config.universe, start))
            .map_err(sim_error)?;
        Ok(Self {
            state: Mutex::new(SimState {
                market,
                account_id: config.account_id,
                cash: config.starting_cash,
                holdings: BTreeMap::new(),
                orders: Vec::new(),
                by_id: HashMap::new(),
                by_key: HashMap::new(),
                working: Vec::new(),
                executions: Vec::new(),
                next_order_id: 1,
                next_exec_id: 1,
                seed: config.seed,
                fill_mode: FillMode::Full,
                clock_offset: start - wall,
                changed: false,
                store: None,
            }),
            clock,
            since: wall,
        })
    }

    /// Builds the broker with its books kept in `path`: read from it when it
    /// exists (the market resumes at the stored start and step, with the
    /// stored test controls, then catches up to the clock's now, working
    /// orders included), created otherwise (`config.starting_cash` applies
    /// only then). From here on the books are written after every change
    /// (temporary file in the same directory, fsync, rename).
    ///
    /// A file that cannot be read or parsed, or that does not fit (another
    /// seed, a symbol outside the universe, inconsistent ids), is an error
    /// and is never replaced.
    pub fn open(
        config: SimBrokerConfig,
        clock: Arc<dyn Clock>,
        path: PathBuf,
    ) -> Result<Self, SimStateError> {
        let shown = path.display().to_string();
        let universe = config.universe.clone();
        let sim_start = config.start;
        let broker = Self::new(config, clock)?;
        let mut st = broker.state.lock().unwrap_or_else(PoisonError::into_inner);
        match std::fs::read(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                tracing::info!(file = %shown, "sim state file does not exist yet: starting fresh books");
            }
            Err(source) => {
                return Err(SimStateError::Read {
                    path: shown,
                    source,
                })
            }
            Ok(bytes) => {
                let saved: SavedBooks<'static> =
                    serde_json::from_slice(&bytes).map_err(|source| SimStateError::Parse {
                        path: shown.clone(),
                        source,
                    })?;
                st.restore(saved, universe)
                    .map_err(|reason| SimStateError::Invalid {
                        path: shown.clone(),
                        reason,
                    })?;
                tracing::info!(
                    file = %shown,
                    orders = st.orders.len(),
                    working = st.working.len(),
                    executions = st.executions.len(),
                    clock_offset_ms = st.clock_offset.num_milliseconds(),
                    "sim books restored from the state file"
                );
                if let Some(start) = sim_start {
                    tracing::warn!(
                        file = %shown,
                        sim_start = %start,
                        "--sim-start applies only to a new state file: the simulated clock continues from the file"
                    );
                }
            }
        }
        // Written at once: pins the market start for the next restart and
        // shows now, not at the first order, that the file can be written.
        let body = st.saved_json().map_err(|e| SimStateError::Write {
            path: shown.clone(),
            source: std::io::Error::other(e),
        })?;
        write_atomically(&path, &body).map_err(|source| SimStateError::Write {
            path: shown.clone(),
            source,
        })?;
        st.store = Some(StateStore {
            path,
            failing: false,
        });
        // Catch up with the time the bridge was down (working orders fill at
        // the step they became marketable, day orders expire at the close).
        let now = broker.sim_now(&st);
        st.sync(now);
        st.save_if_changed();
        drop(st);
        Ok(broker)
    }

    /// Brings the market and working orders up to the clock's now. Called by
    /// every request, and periodically by [`spawn_ticker`].
    pub fn tick(&self) {
        let _ = self.synced();
    }

    /// Simulated time of the market's current step, without advancing it.
    #[must_use]
    pub fn simulated_time(&self) -> DateTime<Utc> {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .market
            .now()
    }

    /// The simulated clock's now: the wall clock plus the offset.
    fn sim_now(&self, st: &SimState) -> DateTime<Utc> {
        let wall = self.clock.now();
        wall.checked_add_signed(st.clock_offset).unwrap_or(wall)
    }

    /// Locks the state and brings the market and working orders up to now.
    fn synced(&self) -> (MutexGuard<'_, SimState>, DateTime<Utc>) {
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let now = self.sim_now(&st);
        st.sync(now);
        st.save_if_changed();
        (st, now)
    }
}

/// Writes `body` to `path` atomically: a temporary file in the same
/// directory, fsync, rename over `path`, then fsync of the directory.
fn write_atomically(path: &Path, body: &[u8]) -> std::io::Result<()> {
    let name = path.file_name().ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the path has no file name",
        )
    })?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(body)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    // Makes the rename itself durable; not every platform can open a
    // directory, so a failure here is not an error.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

impl SimState {
    /// The books as state-file JSON.
    fn saved_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        let saved = SavedBooks {
            version: STATE_FILE_VERSION,
            seed: self.seed,
            market_start: self.market.config().start,
            market_step: self.market.step_index(),
            cash: self.cash,
            holdings: self.holdings.values().cloned().collect(),
            orders: Cow::Borrowed(&self.orders),
            executions: Cow::Borrowed(&self.executions),
            next_order_id: self.next_order_id,
            next_exec_id: self.next_exec_id,
            fill_mode: self.fill_mode,
            overrides: self
                .market
                .overrides()
                .into_iter()
                .map(|o| SavedOverride {
                    symbol: o.symbol,
                    price_factor: o.price_factor,
                    spread_multiplier: o.spread_multiplier,
                })
                .collect(),
            clock_offset_ms: self.clock_offset.num_milliseconds(),
        };
        serde_json::to_vec(&saved)
    }

    /// Writes the books to the state file if they changed since the last
    /// write. A failed write is logged (once until a write succeeds again)
    /// and retried at the next request or tick; the books in memory stay
    /// as they are.
    fn save_if_changed(&mut self) {
        if !self.changed {
            return;
        }
        let Some(store) = &self.store else {
            self.changed = false;
            return;
        };
        let written = self
            .saved_json()
            .map_err(std::io::Error::other)
            .and_then(|body| write_atomically(&store.path, &body));
        let failing = store.failing;
        let shown = store.path.display().to_string();
        match written {
            Ok(()) => {
                self.changed = false;
                if failing {
                    tracing::info!(file = %shown, "sim state file written again");
                }
                if let Some(store) = &mut self.store {
                    store.failing = false;
                }
            }
            Err(e) => {
                if !failing {
                    tracing::error!(file = %shown, error = %e, "cannot write the sim state file; the books live in memory only until a write succeeds");
                }
                if let Some(store) = &mut self.store {
                    store.failing = true;
                }
            }
        }
    }

    /// Replaces fresh books with `saved`, checking that they fit this
    /// bridge; the error says what does not.
    fn restore(&mut self, saved: SavedBooks<'static>, universe: Vec<Symbol>) -> Result<(), String> {
        if saved.version != STATE_FILE_VERSION {
            return Err(format!(
                "format version {}, this bridge reads version {STATE_FILE_VERSION}",
                saved.version
            ));
        }
        if saved.seed != self.seed {
            return Err(format!(
                "it was written with --seed {}, the bridge runs with --seed {}",
                saved.seed, self.seed
            ));
        }
        if !saved.cash.is_finite() {
            return Err("cash is not a finite number".to_string());
        }
        if saved.clock_offset_ms.abs() > MAX_CLOCK_OFFSET_MS {
            return Err(format!(
                "clock_offset_ms {} is more than 200 years",
                saved.clock_offset_ms
            ));
        }
        if !sim_time_in_range(saved.market_start) {
            return Err(format!(
                "market_start {} is outside the simulated market's years ({SIM_FIRST_YEAR} to {SIM_LAST_YEAR})",
                saved.market_start
            ));
        }
        let mut market = SimMarket::new(SimConfig::new(self.seed, universe, saved.market_start))
            .map_err(|e| e.to_string())?;
        let overrides: Vec<SymbolOverride> = saved
            .overrides
            .into_iter()
            .map(|o| SymbolOverride {
                symbol: o.symbol,
                price_factor: o.price_factor,
                spread_multiplier: o.spread_multiplier,
            })
            .collect();
        market
            .restore_overrides(&overrides)
            .map_err(|e| format!("overrides: {e}"))?;
        let mut holdings = BTreeMap::new();
        for h in saved.holdings {
            if !market.has_symbol(h.instrument.symbol()) {
                return Err(format!(
                    "holding {} is outside the symbol universe",
                    h.instrument
                ));
            }
            if !h.quantity.is_finite() || h.quantity == 0.0 || !h.avg_cost.is_finite() {
                return Err(format!(
                    "holding {} has a bad quantity or cost",
                    h.instrument
                ));
            }
            if holdings.insert(h.instrument.to_string(), h).is_some() {
                return Err("a holding is listed twice".to_string());
            }
        }
        let orders = saved.orders.into_owned();
        let (mut by_id, mut by_key, mut working) = (HashMap::new(), HashMap::new(), Vec::new());
        for (idx, so) in orders.iter().enumerate() {
            let o = &so.order;
            if by_id.insert(o.id.clone(), idx).is_some() {
                return Err(format!("order id {} is used twice", o.id));
            }
            if by_key.insert(o.idempotency_key.clone(), idx).is_some() {
                return Err(format!(
                    "idempotency key {:?} is used twice",
                    o.idempotency_key
                ));
            }
            if o.id
                .parse::<u64>()
                .map_or(true, |n| n >= saved.next_order_id)
            {
                return Err(format!(
                    "order id {:?} is not below next_order_id {}",
                    o.id, saved.next_order_id
                ));
            }
            if o.status.is_open() {
                if let Some(leg) = o
                    .legs
                    .iter()
                    .find(|l| !market.has_symbol(l.instrument.symbol()))
                {
                    return Err(format!(
                        "working order {} trades {}, outside the symbol universe",
                        o.id, leg.instrument
                    ));
                }
                working.push(idx);
            }
        }
        let executions = saved.executions.into_owned();
        let mut exec_ids = HashSet::new();
        for e in &executions {
            let n = e
                .exec_id
                .strip_prefix("sim-exec-")
                .and_then(|n| n.parse::<u64>().ok());
            if n.is_none_or(|n| n >= saved.next_exec_id) || !exec_ids.insert(e.exec_id.as_str()) {
                return Err(format!(
                    "execution id {:?} is repeated or not below next_exec_id {}",
                    e.exec_id, saved.next_exec_id
                ));
            }
        }
        market.advance_to(saved.market_step);
        self.market = market;
        self.cash = saved.cash;
        self.holdings = holdings;
        self.orders = orders;
        self.by_id = by_id;
        self.by_key = by_key;
        self.working = working;
        self.executions = executions;
        self.next_order_id = saved.next_order_id;
        self.next_exec_id = saved.next_exec_id;
        self.fill_mode = saved.fill_mode;
        self.clock_offset = TimeDelta::milliseconds(saved.clock_offset_ms);
        Ok(())
    }

    /// Brings the market to `now`. While orders are working, the market is
    /// walked one step at a time so a resting order sees every price it would
    /// have seen (even when no request arrived in between) and fills at the
    /// simulated time it became marketable; expiring options settle against
    /// the price at their expiry close.
    fn sync(&mut self, now: DateTime<Utc>) {
        let target = self.market.step_at(now);
        let mut step = self.market.step_index();
        if target == step && self.working.is_empty() {
            return;
        }
        while step < target {
            let next = if self.working.is_empty() {
                self.next_settlement_step(step, target).unwrap_or(target)
            } else {
                step + 1
            };
            self.market.advance_to(next);
            step = next;
            let t = self.market.time_at(step);
            self.settle_expired_options(t);
            self.process_all_working(t);
        }
        self.settle_expired_options(now);
        self.process_all_working(now);
    }

    /// The first step in `(after, up_to]` at or past an option holding's
    /// expiry close.
    fn next_settlement_step(&self, after: u64, up_to: u64) -> Option<u64> {
        self.holdings
            .values()
            .filter_map(|h| match &h.instrument {
                Instrument::Option { expiry, .. } => {
                    let close = expiry_close(*expiry);
                    let s = self.market.step_at(close);
                    Some(if self.market.time_at(s) < close {
                        s + 1
                    } else {
                        s
                    })
                }
                Instrument::Stock { .. } => None,
            })
            .filter(|s| *s > after && *s <= up_to)
            .min()
    }

    fn process_all_working(&mut self, t: DateTime<Utc>) {
        if self.working.is_empty() {
            return;
        }
        let working = std::mem::take(&mut self.working);
        let mut still = Vec::with_capacity(working.len());
        for idx in working {
            if self.process_working(idx, t) {
                still.push(idx);
            }
        }
        self.working = still;
    }

    /// Expires or fills one working order; true while it keeps working.
    fn process_working(&mut self, idx: usize, now: DateTime<Utc>) -> bool {
        let Some(so) = self.orders.get(idx) else {
            return false;
        };
        if !so.order.status.is_open() {
            return false;
        }
        if so.expires_at.is_some_and(|t| now >= t) {
            self.finish(
                idx,
                OrderStatus::Expired,
                Some("day order expired at the close"),
                now,
            );
            return false;
        }
        if self.fill_mode == FillMode::None || (self.fill_mode == FillMode::Partial && so.fills > 0)
        {
            return true;
        }
        match self.fill_prices(&so.order, now) {
            Ok(Some(prices)) => {
                let units = self.units_to_fill(idx);
                self.fill(idx, &prices, units, now);
                self.orders
                    .get(idx)
                    .is_some_and(|so| so.order.status.is_open())
            }
            Ok(None) => true,
            Err(_) => {
                self.finish(
                    idx,
                    OrderStatus::Expired,
                    Some("contract no longer listed"),
                    now,
                );
                false
            }
        }
    }

    fn finish(&mut self, idx: usize, status: OrderStatus, msg: Option<&str>, now: DateTime<Utc>) {
        self.changed = true;
        if let Some(so) = self.orders.get_mut(idx) {
            so.order.status = status;
            so.order.status_message = msg.map(str::to_string);
            so.order.updated_at = now;
        }
    }

    /// Bid/ask of an instrument at the current step.
    fn market_of(
        &self,
        instrument: &Instrument,
        now: DateTime<Utc>,
    ) -> Result<(f64, f64), SimError> {
        match instrument {
            Instrument::Stock { symbol } => {
                let q = self.market.quote(symbol)?;
                Ok((q.bid, q.ask))
            }
            Instrument::Option {
                symbol,
                expiry,
                strike,
                right,
            } => {
                let q = self
                    .market
                    .option_quote(symbol, *expiry, *strike, *right, now)?;
                Ok((q.bid.unwrap_or(0.0), q.ask.unwrap_or(f64::NAN)))
            }
        }
    }

    /// Per-leg fill prices if the order is marketable now.
    fn fill_prices(&self, order: &Order, now: DateTime<Utc>) -> Result<Option<Vec<f64>>, SimError> {
        let mut markets = Vec::with_capacity(order.legs.len());
        for leg in &order.legs {
            let (bid, ask) = self.market_of(&leg.instrument, now)?;
            markets.push(ComboLegMarket {
                side: side(leg.action),
                ratio: leg.ratio,
                bid,
                ask,
            });
        }
        if let [single] = markets.as_slice() {
            return Ok(
                single_fill_price(single.side, order.limit_price, single.bid, single.ask)
                    .map(|p| vec![p]),
            );
        }
        Ok(combo_fill_price(&markets, order.limit_price)
            .map(|_| markets.iter().map(|m| 0.5 * (m.bid + m.ask)).collect()))
    }

    /// Order units the next fill of order `idx` takes: everything left in
    /// `full` mode; in `partial` mode a draw from (seed, order id, fill
    /// number) in 1..left (1 when only one unit is left).
    fn units_to_fill(&self, idx: usize) -> u32 {
        let Some(so) = self.orders.get(idx) else {
            return 0;
        };
        let left = so.order.quantity.saturating_sub(so.order.filled_quantity);
        if self.fill_mode != FillMode::Partial || left <= 1 {
            return left;
        }
        let id: u64 = so.order.id.parse().unwrap_or(0);
        let draw = mix(&[self.seed, id, u64::from(so.fills)]);
        1 + u32::try_from(draw % u64::from(left - 1)).unwrap_or(0)
    }

    /// Fills `fill_units` order units of order `idx` at the per-leg `prices`.
    fn fill(&mut self, idx: usize, prices: &[f64], fill_units: u32, now: DateTime<Utc>) {
        let Some(order) = self.orders.get(idx).map(|so| so.order.clone()) else {
            return;
        };
        if fill_units == 0 {
            return;
        }
        self.changed = true;
        let mut net = 0.0;
        for (leg, &price) in order.legs.iter().zip(prices) {
            let units = fill_units * leg.ratio;
            let commission = if leg.instrument.is_option() {
                OPTION_COMMISSION_PER_CONTRACT * f64::from(units)
            } else {
                (STOCK_COMMISSION_PER_SHARE * f64::from(units)).max(1.0)
            };
            let signed = leg.action.sign() * f64::from(units);
            self.cash -= signed * price * leg.instrument.multiplier() + commission;
            self.apply_position(&leg.instrument, signed, price);
            net += leg.action.sign() * f64::from(leg.ratio) * price;
            self.executions.push(Execution {
                exec_id: format!("sim-exec-{}", self.next_exec_id),
                order_id: order.id.clone(),
                time: now,
                instrument: leg.instrument.clone(),
                action: leg.action,
                quantity: units,
                price: (price * 10_000.0).round() / 10_000.0,
                commission: Some(cents(commission)),
                idempotency_key: Some(order.idempotency_key.clone()),
                con_id: Some(sim_con_id(&leg.instrument)),
            });
            self.next_exec_id += 1;
        }
        if let Some(so) = self.orders.get_mut(idx) {
            // Single legs report the price per unit; combos the signed net
            // (positive debit, negative credit), like their limit.
            let price = match prices {
                [single] => *single,
                _ => cents(net),
            };
            so.fills += 1;
            so.fill_value += price * f64::from(fill_units);
            so.order.filled_quantity += fill_units;
            so.order.status = if so.order.filled_quantity >= so.order.quantity {
                OrderStatus::Filled
            } else {
                OrderStatus::PartiallyFilled
            };
            let avg = so.fill_value / f64::from(so.order.filled_quantity);
            so.order.avg_fill_price = Some((avg * 10_000.0).round() / 10_000.0);
            so.order.updated_at = now;
        }
    }

    fn apply_position(&mut self, instrument: &Instrument, signed_units: f64, price: f64) {
        let key = instrument.to_string();
        let h = self.holdings.entry(key.clone()).or_insert_with(|| Holding {
            instrument: instrument.clone(),
            quantity: 0.0,
            avg_cost: 0.0,
        });
        let new_qty = h.quantity + signed_units;
        if h.quantity == 0.0 || h.quantity.signum() == signed_units.signum() {
            // Opening or adding: weighted average cost.
            h.avg_cost =
                (h.avg_cost * h.quantity.abs() + price * signed_units.abs()) / new_qty.abs();
        } else if new_qty != 0.0 && new_qty.signum() != h.quantity.signum() {
            // Flipped through zero: the remainder opened at this price.
            h.avg_cost = price;
        }
        h.quantity = new_qty;
        if h.quantity.abs() < 1e-9 {
            self.holdings.remove(&key);
        }
    }

    /// Cash-settles options whose expiry close has passed, at intrinsic value
    /// against the current underlying price.
    fn settle_expired_options(&mut self, now: DateTime<Utc>) {
        let expired: Vec<String> = self
            .holdings
            .iter()
            .filter(|(_, h)| matches!(&h.instrument, Instrument::Option { expiry, .. } if expiry_close(*expiry) <= now))
            .map(|(k, _)| k.clone())
            .collect();
        for key in expired {
            let Some(h) = self.holdings.remove(&key) else {
                continue;
            };
            self.changed = true;
            if let Instrument::Option {
                symbol,
                strike,
                right,
                ..
            } = &h.instrument
            {
                let spot = self.market.spot(symbol).unwrap_or(0.0);
                let intrinsic = match right {
                    OptionRight::Call => (spot - strike).max(0.0),
                    OptionRight::Put => (strike - spot).max(0.0),
                };
                self.cash += h.quantity * cents(intrinsic) * 100.0;
            }
        }
    }

    fn mark(&self, instrument: &Instrument, now: DateTime<Utc>) -> Option<f64> {
        let (bid, ask) = self.market_of(instrument, now).ok()?;
        (bid.is_finite() && ask.is_finite() && ask >= bid).then_some(0.5 * (bid + ask))
    }

    fn positions(&self, now: DateTime<Utc>) -> Vec<Position> {
        self.holdings
            .values()
            .map(|h| {
                let mult = h.instrument.multiplier();
                let mark = self.mark(&h.instrument, now);
                let value = mark.map(|m| cents(h.quantity * m * mult));
                Position {
                    instrument: h.instrument.clone(),
                    quantity: h.quantity,
                    avg_cost: (h.avg_cost * 10_000.0).round() / 10_000.0,
                    market_price: mark.map(|m| (m * 10_000.0).round() / 10_000.0),
                    market_value: value,
                    unrealized_pnl: value.map(|v| cents(v - h.quantity * h.avg_cost * mult)),
                    con_id: Some(sim_con_id(&h.instrument)),
                }
            })
            .collect()
    }

    /// Net liquidation value and a Reg-T-style margin requirement.
    fn net_liq_and_requirement(&self, now: DateTime<Utc>) -> (f64, f64) {
        let mut net_liq = self.cash;
        let mut requirement = 0.0;
        for h in self.holdings.values() {
            let mult = h.instrument.multiplier();
            let mark = self.mark(&h.instrument, now).unwrap_or(h.avg_cost);
            let value = h.quantity * mark * mult;
            net_liq += value;
            match &h.instrument {
                Instrument::Stock { .. } => requirement += 0.5 * value.abs(),
                Instrument::Option { symbol, .. } if h.quantity < 0.0 => {
                    let spot = self.market.spot(symbol).unwrap_or(0.0);
                    requirement += h.quantity.abs() * mult * (mark + 0.2 * spot);
                }
                Instrument::Option { .. } => {}
            }
        }
        (net_liq, requirement)
    }

    /// Net liquidation minus the margin requirement (what option premium
    /// and option margin can draw on: options are not bought on margin).
    fn excess_liquidity(&self, now: DateTime<Utc>) -> f64 {
        let (net_liq, req) = self.net_liq_and_requirement(now);
        (net_liq - req).max(0.0)
    }

    /// Reg-T style: twice the excess liquidity (what stock orders can draw on).
    fn buying_power(&self, now: DateTime<Utc>) -> f64 {
        self.excess_liquidity(now) * 2.0
    }

    /// Worst-case cash and margin an order would consume if filled at its limit.
    fn order_requirement(&self, req: &OrderRequest) -> f64 {
        let qty = f64::from(req.quantity);
        let mut need = if req.legs.len() == 1 {
            let leg = &req.legs[0];
            match leg.action {
                OrderAction::Buy => req.limit_price * qty * leg.instrument.multiplier(),
                OrderAction::Sell => 0.0,
            }
        } else {
            let multiplier = req
                .legs
                .iter()
                .map(|l| l.instrument.multiplier())
                .fold(1.0, f64::max);
            (req.limit_price * qty * multiplier).max(0.0)
        };
        for leg in &req.legs {
            if leg.action == OrderAction::Sell {
                let spot = self.market.spot(leg.instrument.symbol()).unwrap_or(0.0);
                let units = qty * f64::from(leg.ratio);
                let held = self
                    .holdings
                    .get(&leg.instrument.to_string())
                    .map_or(0.0, |h| h.quantity.max(0.0));
                let uncovered = (units - held).max(0.0);
                need += match leg.instrument {
                    Instrument::Stock { .. } => 1.5 * uncovered * spot,
                    Instrument::Option { .. } => 0.2 * spot * 100.0 * uncovered,
                };
            }
        }
        need
    }
}

impl SimControl for SimBroker {
    fn apply(&self, request: &SimControlRequest) -> Result<SimControlOutcome, BrokerError> {
        let invalid = |field: &'static str, message: &str| BrokerError::InvalidRequest {
            field,
            message: message.to_string(),
        };
        let market_change = request.move_pct.is_some() || request.spread_multiplier.is_some();
        if !market_change && request.fill.is_none() {
            return Err(invalid(
                "body",
                "give at least one of move_pct, spread_multiplier, fill",
            ));
        }
        let symbol = match &request.symbol {
            Some(raw) => Some(Symbol::parse(raw).map_err(|e| invalid("symbol", &e.to_string()))?),
            None if market_change => {
                return Err(invalid(
                    "symbol",
                    "required with move_pct or spread_multiplier",
                ))
            }
            None => None,
        };
        let (mut st, now) = self.synced();
        if let Some(symbol) = &symbol {
            // Check both before changing either, so a refused request
            // changes nothing.
            st.market.spot(symbol).map_err(sim_error)?;
            if let Some(m) = request.spread_multiplier {
                if !m.is_finite() || !(1.0..=100.0).contains(&m) {
                    return Err(invalid("spread_multiplier", "must be between 1 and 100"));
                }
            }
            if let Some(pct) = request.move_pct {
                st.market.shift_price(symbol, pct).map_err(sim_error)?;
            }
            if let Some(m) = request.spread_multiplier {
                st.market
                    .set_spread_multiplier(symbol, m)
                    .map_err(sim_error)?;
            }
        }
        if let Some(fill) = request.fill {
            st.fill_mode = fill;
        }
        st.changed = true;
        // Resting orders see the new market (and fill mode) at once.
        st.process_all_working(now);
        st.save_if_changed();
        let quote = match &symbol {
            Some(s) => Some(st.market.quote(s).map_err(sim_error)?),
            None => None,
        };
        Ok(SimControlOutcome {
            fill: st.fill_mode,
            quote,
        })
    }

    fn set_clock(&self, at: DateTime<Utc>) -> Result<SimClockOutcome, SimClockError> {
        SimBroker::set_clock(self, at)
    }
}

#[async_trait]
impl Broker for SimBroker {
    fn mode(&self) -> BrokerMode {
        BrokerMode::Sim
    }

    fn sim_control(&self) -> Option<&dyn SimControl> {
        Some(self)
    }

    fn simulated_time(&self) -> Option<DateTime<Utc>> {
        let st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        (st.clock_offset != TimeDelta::zero()).then(|| self.sim_now(&st))
    }

    async fn status(&self) -> BrokerStatus {
        let (st, now) = self.synced();
        let tick_age = (now - st.market.now()).to_std().unwrap_or(Duration::ZERO);
        BrokerStatus {
            state: ConnectionState::Connected,
            since: self.since,
            reason: None,
            server_version: None,
            market_data_type: DataType::Simulated,
            last_tick_age: Some(tick_age),
        }
    }

    async fn account(&self) -> Result<Account, BrokerError> {
        let (st, now) = self.synced();
        let (net_liq, _) = st.net_liq_and_requirement(now);
        Ok(Account {
            account_id: st.account_id.clone(),
            net_liquidation: cents(net_liq),
            cash: cents(st.cash),
            buying_power: cents(st.buying_power(now)),
            currency: "USD".to_string(),
            as_of: now,
        })
    }

    async fn positions(&self) -> Result<Vec<Position>, BrokerError> {
        let (st, now) = self.synced();
        Ok(st.positions(now))
    }

    async fn quotes(&self, symbols: &[Symbol]) -> Vec<Result<Quote, BrokerError>> {
        let (st, _) = self.synced();
        symbols
            .iter()
            .map(|s| st.market.quote(s).map_err(sim_error))
            .collect()
    }

    async fn option_chain(
        &self,
        symbol: &Symbol,
        window: ChainWindow,
    ) -> Result<OptionChain, BrokerError> {
        let (st, now) = self.synced();
        st.market
            .option_chain(symbol, window, now)
            .map_err(sim_error)
    }

    async fn option_chain_for_expiries(
        &self,
        symbol: &Symbol,
        expiries: &[NaiveDate],
        strikes: u32,
    ) -> Result<OptionChain, BrokerError> {
        let (st, now) = self.synced();
        let today = now.date_naive();
        let max_dte = expiries
            .iter()
            .filter_map(|e| u32::try_from((*e - today).num_days()).ok())
            .max()
            .unwrap_or(0)
            .min(ChainWindow::MAX_DTE);
        let window = ChainWindow {
            min_dte: 0,
            max_dte,
            strikes,
        };
        let mut chain = st
            .market
            .option_chain(symbol, window, now)
            .map_err(sim_error)?;
        chain.expiries.retain(|e| expiries.contains(&e.expiry));
        Ok(chain)
    }

    async fn option_chain_for_contracts(
        &self,
        symbol: &Symbol,
        contracts: &[ChainContract],
    ) -> Result<OptionChain, BrokerError> {
        let (st, now) = self.synced();
        let today = now.date_naive();
        let spot = st.market.spot(symbol).map_err(sim_error)?;
        let dividend_yield = st.market.params(symbol).map_err(sim_error)?.dividend_yield;
        let mut expiries: Vec<ChainExpiry> = Vec::new();
        for c in contracts {
            let quote = match st
                .market
                .option_quote(symbol, c.expiry, c.strike, c.right, now)
            {
                Ok(q) => q,
                // Unlisted contracts are left out, as in the window form.
                Err(SimError::UnknownContract(_)) => continue,
                Err(e) => return Err(sim_error(e)),
            };
            match expiries.iter_mut().find(|e| e.expiry == c.expiry) {
                Some(e) => e.contracts.push(quote),
                None => expiries.push(ChainExpiry {
                    expiry: c.expiry,
                    dte: u32::try_from((c.expiry - today).num_days()).unwrap_or(0),
                    contracts: vec![quote],
                }),
            }
        }
        expiries.sort_by_key(|e| e.expiry);
        for e in &mut expiries {
            e.contracts
                .sort_by(|a, b| a.strike.total_cmp(&b.strike).then(a.right.cmp(&b.right)));
        }
        Ok(OptionChain {
            symbol: symbol.clone(),
            spot: (spot * 100.0).round() / 100.0,
            as_of: now,
            data_type: DataType::Simulated,
            dividend_yield: Some(dividend_yield),
            expiries,
        })
    }

    async fn chain_expiries(&self, symbol: &Symbol) -> Result<Vec<NaiveDate>, BrokerError> {
        let (st, now) = self.synced();
        st.market
            .expiries(symbol, 0, ChainWindow::MAX_DTE, now)
            .map_err(sim_error)
    }

    async fn daily_history(
        &self,
        symbol: &Symbol,
        days: u32,
    ) -> Result<Vec<DailyBar>, BrokerError> {
        let (st, now) = self.synced();
        st.market
            .daily_history(symbol, days, now.date_naive())
            .map_err(sim_error)
    }

    async fn iv_history(&self, symbol: &Symbol, days: u32) -> Result<Vec<IvBar>, BrokerError> {
        let (st, now) = self.synced();
        let closes = st
            .market
            .iv_history(symbol, days, now.date_naive())
            .map_err(sim_error)?;
        Ok(closes
            .into_iter()
            .map(|c| IvBar {
                date: c.date,
                iv: c.iv,
            })
            .collect())
    }

    async fn dividends(&self, symbol: &Symbol) -> Result<DividendsBody, BrokerError> {
        let (st, now) = self.synced();
        let info = st
            .market
            .dividends(symbol, now.date_naive())
            .map_err(sim_error)?;
        Ok(DividendsBody {
            symbol: symbol.clone(),
            past_12m: info.past_12m,
            next_12m: info.next_12m,
            next_ex_date: info.next.map(|n| n.0),
            next_amount: info.next.map(|n| n.1),
            source: DividendSource::Sim,
        })
    }

    async fn place_order(&self, request: OrderRequest) -> Result<PlaceOrderOutcome, BrokerError> {
        let (mut st, now) = self.synced();
        if let Some(&idx) = st.by_key.get(&request.idempotency_key) {
            let existing = &st.orders[idx].order;
            if existing.matches_request(&request) {
                return Ok(PlaceOrderOutcome {
                    order: existing.clone(),
                    duplicate: true,
                });
            }
            return Err(BrokerError::IdempotencyConflict {
                key: request.idempotency_key,
                existing_order_id: existing.id.clone(),
            });
        }
        if let Err(errs) = request.validate() {
            let message = errs
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ");
            return Err(BrokerError::InvalidRequest {
                field: "order",
                message,
            });
        }
        // Every instrument must exist and have a market now.
        for leg in &request.legs {
            st.market_of(&leg.instrument, now).map_err(sim_error)?;
        }
        let need = st.order_requirement(&request);
        let available = if request.legs.iter().any(|l| l.instrument.is_option()) {
            st.excess_liquidity(now)
        } else {
            st.buying_power(now)
        };
        if need > available {
            return Err(BrokerError::Rejected {
                code: None,
                message: format!(
                    "insufficient buying power: order needs about {need:.2} USD, {available:.2} available"
                ),
            });
        }
        let id = st.next_order_id.to_string();
        st.next_order_id += 1;
        let order = Order {
            id: id.clone(),
            idempotency_key: request.idempotency_key.clone(),
            legs: request.legs,
            quantity: request.quantity,
            limit_price: request.limit_price,
            tif: request.tif,
            status: OrderStatus::Submitted,
            filled_quantity: 0,
            avg_fill_price: None,
            created_at: now,
            updated_at: now,
            status_message: None,
        };
        let expires_at = match order.tif {
            TimeInForce::Day => Some(next_session_close(now)),
            TimeInForce::Gtc => None,
        };
        let idx = st.orders.len();
        st.orders.push(SimOrder {
            order,
            expires_at,
            fill_value: 0.0,
            fills: 0,
        });
        st.by_id.insert(id, idx);
        st.by_key.insert(request.idempotency_key, idx);
        st.changed = true;
        if st.process_working(idx, now) {
            st.working.push(idx);
        }
        // Written before the answer: an acknowledged order survives a restart.
        st.save_if_changed();
        Ok(PlaceOrderOutcome {
            order: st.orders[idx].order.clone(),
            duplicate: false,
        })
    }

    async fn cancel_order(&self, order_id: &str) -> Result<Order, BrokerError> {
        let (mut st, now) = self.synced();
        let idx = *st
            .by_id
            .get(order_id)
            .ok_or_else(|| BrokerError::OrderNotFound(order_id.to_string()))?;
        let status = st.orders[idx].order.status;
        if !status.is_open() {
            return Err(BrokerError::NotCancellable {
                id: order_id.to_string(),
                status: status.as_str().to_string(),
            });
        }
        st.finish(
            idx,
            OrderStatus::Cancelled,
            Some("cancelled by request"),
            now,
        );
        st.working.retain(|&i| i != idx);
        st.save_if_changed();
        Ok(st.orders[idx].order.clone())
    }

    async fn open_orders(&self) -> Result<Vec<Order>, BrokerError> {
        let (st, _) = self.synced();
        Ok(st
            .orders
            .iter()
            .filter(|o| o.order.status.is_open())
            .map(|o| o.order.clone())
            .collect())
    }

    async fn order(&self, order_id: &str) -> Result<Order, BrokerError> {
        let (st, _) = self.synced();
        st.by_id
            .get(order_id)
            .map(|&i| st.orders[i].order.clone())
            .ok_or_else(|| BrokerError::OrderNotFound(order_id.to_string()))
    }

    async fn order_by_key(&self, key: &str) -> Result<Order, BrokerError> {
        let (st, _) = self.synced();
        st.by_key
            .get(key)
            .and_then(|&i| st.orders.get(i))
            .map(|o| o.order.clone())
            .ok_or_else(|| BrokerError::OrderNotFound(key.to_string()))
    }

    async fn executions(&self) -> Result<Vec<Execution>, BrokerError> {
        let (st, _) = self.synced();
        Ok(st.executions.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    #[test]
    fn synthetic_contract_ids_are_stable() {
        // Pinned: reconciliation joins on these ids across bridge restarts
        // and releases (bridge-api's fixtures carry the same values).
        let put = Instrument::Option {
            symbol: Symbol::parse("SPY").unwrap(),
            expiry: NaiveDate::from_ymd_opt(2026, 12, 18).unwrap(),
            strike: 600.0,
            right: OptionRight::Put,
        };
        assert_eq!(sim_con_id(&put), 631_432_577);
        let stock = Instrument::Stock {
            symbol: Symbol::parse("SPY").unwrap(),
        };
        assert_ne!(sim_con_id(&stock), sim_con_id(&put));
    }
}
