//! Accept loop, client sessions, request handlers and the market ticker.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{NaiveDate, Utc};
use prost::Message;
use sas_core::market::Symbol;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::book::{bid_ask, fmt_qty, Book, Instrument, OrderEvent};
use crate::market::MarketSource;
use crate::proto::{self, incoming as inc, outgoing as out};
use crate::wire;
use crate::{lock, FakeConfig, FakeError, Faults, RestartSignal, Stats};

/// IB's documented message-rate ceiling.
const MAX_MSGS_PER_SEC: usize = 50;

pub(crate) struct State {
    pub market: Box<dyn MarketSource>,
    pub book: Book,
}

/// A session's outbound channel and its streams, copied out of the lock.
type SessionStreams = (mpsc::UnboundedSender<Vec<u8>>, Vec<(i32, StreamSub)>);

/// A streaming market-data subscription.
#[derive(Debug, Clone)]
struct StreamSub {
    instrument: Instrument,
    data_type: i32,
}

pub(crate) struct SessionHandle {
    client_id: i32,
    tx: mpsc::UnboundedSender<Vec<u8>>,
    streams: Arc<Mutex<HashMap<i32, StreamSub>>>,
    aborts: Vec<AbortHandle>,
}

pub(crate) struct Shared {
    pub config: FakeConfig,
    pub state: Mutex<State>,
    pub sessions: Mutex<HashMap<u64, SessionHandle>>,
    pub faults: Mutex<Faults>,
    pub stats: Stats,
    pub restart: RestartSignal,
    /// Historical requests received (all clients), for the pacing rules.
    historical_log: Mutex<crate::pacing::HistoricalLog>,
    next_session: AtomicU64,
}

impl Shared {
    pub fn new(config: FakeConfig, market: Box<dyn MarketSource>) -> Self {
        let book = Book::new(config.account.clone(), config.starting_cash);
        Self {
            config,
            state: Mutex::new(State { market, book }),
            sessions: Mutex::new(HashMap::new()),
            faults: Mutex::new(Faults::default()),
            stats: Stats::default(),
            restart: RestartSignal::new(),
            historical_log: Mutex::new(crate::pacing::HistoricalLog::default()),
            next_session: AtomicU64::new(1),
        }
    }

    pub fn drop_sessions(&self) {
        let sessions: Vec<SessionHandle> = lock(&self.sessions).drain().map(|(_, s)| s).collect();
        for s in sessions {
            for a in s.aborts {
                a.abort();
            }
        }
    }

    pub fn broadcast_notice(&self, code: i32, message: &str) {
        let frame = error_frame(-1, code, message);
        for s in lock(&self.sessions).values() {
            let _ = s.tx.send(frame.clone());
        }
    }

    pub fn lines_in_use(&self) -> usize {
        lock(&self.sessions)
            .values()
            .map(|s| lock(&s.streams).len())
            .sum()
    }

    fn send_to_client(&self, client_id: i32, frames: &[Vec<u8>]) {
        for s in lock(&self.sessions).values() {
            if s.client_id == client_id {
                for f in frames {
                    let _ = s.tx.send(f.clone());
                }
            }
        }
    }

    /// Sends every held commission report to the client that owns the
    /// order, and marks it released.
    pub fn release_commissions(&self) {
        let held: Vec<crate::book::ExecRecord> = {
            let mut st = lock(&self.state);
            st.book.hold_commissions = false;
            st.book
                .executions
                .iter_mut()
                .filter(|r| !r.commission_released)
                .map(|r| {
                    r.commission_released = true;
                    r.clone()
                })
                .collect()
        };
        for r in held {
            let frame = wire::encode_message(inc::COMMISSION_REPORT, &commission_report(&r));
            self.send_to_client(r.details.client_id.unwrap_or(0), &[frame]);
        }
    }

    pub(crate) fn deliver_events(&self, events: Vec<OrderEvent>) {
        for ev in events {
            match ev {
                OrderEvent::Updated(order) => {
                    let frames = vec![
                        wire::encode_message(inc::OPEN_ORDER, &order.open_order()),
                        wire::encode_message(inc::ORDER_STATUS, &order.status()),
                    ];
                    self.send_to_client(order.client_id, &frames);
                }
                OrderEvent::Status { order, status } => {
                    let frames = vec![wire::encode_message(
                        inc::ORDER_STATUS,
                        &order.status_as(status),
                    )];
                    self.send_to_client(order.client_id, &frames);
                }
                OrderEvent::Executed { client_id, record } => {
                    let mut frames = vec![wire::encode_message(
                        inc::EXECUTION_DATA,
                        &proto::ExecutionDetails {
                            req_id: Some(-1),
                            contract: Some(record.contract.clone()),
                            execution: Some(record.details.clone()),
                        },
                    )];
                    // IB sends the commission report after the execution;
                    // a test may hold it back (see `hold_commissions`).
                    if record.commission_released {
                        frames.push(wire::encode_message(
                            inc::COMMISSION_REPORT,
                            &commission_report(&record),
                        ));
                    }
                    self.send_to_client(client_id, &frames);
                }
            }
        }
    }
}

fn commission_report(record: &crate::book::ExecRecord) -> proto::CommissionAndFeesReport {
    proto::CommissionAndFeesReport {
        exec_id: record.details.exec_id.clone(),
        commission_and_fees: Some(record.commission),
        currency: Some("USD".into()),
        realized_pnl: Some(if record.realized_pnl == 0.0 {
            f64::MAX
        } else {
            record.realized_pnl
        }),
    }
}

pub(crate) fn error_frame(id: i32, code: i32, message: &str) -> Vec<u8> {
    wire::encode_message(
        inc::ERR_MSG,
        &proto::ErrorMessage {
            id: Some(id),
            error_time: Some(Utc::now().timestamp_millis()),
            error_code: Some(code),
            error_msg: Some(message.to_string()),
            advanced_order_reject_json: None,
        },
    )
}

/// Accepts clients; on a restart fault closes the port for the downtime.
pub(crate) async fn accept_loop(shared: Arc<Shared>, listener: TcpListener, addr: SocketAddr) {
    let mut listener = Some(listener);
    loop {
        let l = match listener.take() {
            Some(l) => l,
            None => loop {
                match TcpListener::bind(addr).await {
                    Ok(l) => break l,
                    Err(e) => {
                        debug!("rebind {addr}: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            },
        };
        info!(%addr, "fake gateway listening");
        loop {
            tokio::select! {
                accepted = l.accept() => {
                    match accepted {
                        Ok((stream, _)) => {
                            shared.stats.connections.fetch_add(1, Ordering::Relaxed);
                            let s = shared.clone();
                            tokio::spawn(async move {
                                if let Err(e) = run_session(s, stream).await {
                                    debug!("session ended: {e}");
                                }
                            });
                        }
                        Err(e) => warn!("accept: {e}"),
                    }
                }
                () = shared.restart.notified() => break,
            }
        }
        drop(l);
        let until = lock(&shared.faults).refuse_until.take();
        if let Some(until) = until {
            info!("fake gateway down until restart");
            tokio::time::sleep_until(until).await;
        }
    }
}

/// Steps the market, matches resting orders and ticks streams.
pub(crate) async fn ticker(shared: Arc<Shared>) {
    let mut interval = tokio::time::interval(shared.config.tick_interval);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let now = Utc::now();
        let events = {
            let mut st = lock(&shared.state);
            let State { market, book } = &mut *st;
            market.advance_to(now);
            book.match_resting(market.as_mut(), now)
        };
        shared.deliver_events(events);
        // Streams.
        let subs: Vec<SessionStreams> = lock(&shared.sessions)
            .values()
            .map(|s| {
                let v = lock(&s.streams)
                    .iter()
                    .map(|(k, v)| (*k, v.clone()))
                    .collect();
                (s.tx.clone(), v)
            })
            .collect();
        for (tx, list) in subs {
            for (req_id, sub) in list {
                let frames = {
                    let mut st = lock(&shared.state);
                    tick_frames(
                        st.market.as_mut(),
                        req_id,
                        &sub.instrument,
                        sub.data_type,
                        false,
                    )
                };
                for f in frames {
                    let _ = tx.send(f);
                }
            }
        }
    }
}

/// Frames describing an instrument's market: price/size ticks and, for
/// options, the model computation. `full` adds volume and open interest.
fn tick_frames(
    market: &mut dyn MarketSource,
    req_id: i32,
    instrument: &Instrument,
    data_type: i32,
    full: bool,
) -> Vec<Vec<u8>> {
    let delayed = data_type >= 3;
    let (bid_t, ask_t, last_t, vol_t, close_t) = if delayed {
        (66, 67, 68, 74, 75)
    } else {
        (1, 2, 4, 8, 9)
    };
    let price = |t: i32, p: f64, size: Option<u64>| {
        wire::encode_message(
            inc::TICK_PRICE,
            &proto::TickPrice {
                req_id: Some(req_id),
                tick_type: Some(t),
                price: Some(p),
                size: size.map(|s| s.to_string()),
                attr_mask: Some(0),
            },
        )
    };
    let size = |t: i32, s: u64| {
        wire::encode_message(
            inc::TICK_SIZE,
            &proto::TickSize {
                req_id: Some(req_id),
                tick_type: Some(t),
                size: Some(s.to_string()),
            },
        )
    };
    let mut frames = Vec::new();
    match instrument {
        Instrument::Stock { symbol } => {
            if let Some(q) = market.quote(symbol) {
                frames.push(price(bid_t, q.bid, Some(q.bid_size)));
                frames.push(price(ask_t, q.ask, Some(q.ask_size)));
                frames.push(price(last_t, q.last, Some(q.last_size)));
                frames.push(size(vol_t, q.volume));
                if full {
                    frames.push(price(close_t, q.prev_close, None));
                }
            }
        }
        Instrument::Option {
            symbol,
            expiry,
            strike,
            right,
        } => {
            if let Some(o) = market.option(symbol, *expiry, *strike, *right) {
                frames.push(price(bid_t, o.bid, Some(10)));
                frames.push(price(ask_t, o.ask, Some(10)));
                if o.last > 0.0 {
                    frames.push(price(last_t, o.last, Some(1)));
                }
                frames.push(size(vol_t, o.volume));
                if full {
                    let oi_t = if *right == sas_core::market::OptionRight::Call {
                        27
                    } else {
                        28
                    };
                    frames.push(size(oi_t, o.open_interest));
                }
                let model_t = if delayed { 83 } else { 13 };
                frames.push(wire::encode_message(
                    inc::TICK_OPTION_COMPUTATION,
                    &proto::TickOptionComputation {
                        req_id: Some(req_id),
                        tick_type: Some(model_t),
                        tick_attrib: Some(1),
                        implied_vol: Some(o.implied_vol),
                        delta: Some(o.delta),
                        opt_price: Some(o.model_price),
                        pv_dividend: Some(0.0),
                        gamma: Some(o.gamma),
                        vega: Some(o.vega),
                        theta: Some(o.theta),
                        und_price: Some(o.underlying_price),
                    },
                ));
            }
        }
    }
    frames
}

struct Session {
    shared: Arc<Shared>,
    client_id: i32,
    tx: mpsc::UnboundedSender<Vec<u8>>,
    streams: Arc<Mutex<HashMap<i32, StreamSub>>>,
    data_type: i32,
    recent: VecDeque<Instant>,
}

async fn run_session(shared: Arc<Shared>, stream: TcpStream) -> Result<(), FakeError> {
    let _ = stream.set_nodelay(true);
    let (mut reader, mut writer) = stream.into_split();
    let (min, max) = wire::read_client_hello(&mut reader).await?;
    let version = shared.config.server_version.min(max);
    if version < min {
        return Err(FakeError::Protocol(format!(
            "client wants v{min}..{max}, fake serves {}",
            shared.config.server_version
        )));
    }
    let hello_time = Utc::now().format("%Y%m%d %H:%M:%S UTC").to_string();
    writer
        .write_all(&wire::server_hello(version, &hello_time))
        .await?;

    let body = wire::read_frame(&mut reader).await?;
    let (id, _, payload) =
        wire::split_body(&body).ok_or_else(|| FakeError::Protocol("empty frame".into()))?;
    if id != out::START_API {
        return Err(FakeError::Protocol(format!("expected startApi, got {id}")));
    }
    let start = proto::StartApi::decode(payload)
        .map_err(|e| FakeError::Protocol(format!("startApi: {e}")))?;
    let client_id = start.client_id.unwrap_or(0);
    let in_use = lock(&shared.sessions)
        .values()
        .any(|s| s.client_id == client_id);
    if in_use {
        let frame = error_frame(
            -1,
            326,
            "Unable to connect as the client id is already in use. Retry with a unique client id.",
        );
        writer.write_all(&frame).await?;
        return Ok(());
    }

    let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
    let next_id = lock(&shared.state).book.max_order_id() + 1;
    let _ = tx.send(wire::encode_message(
        inc::NEXT_VALID_ID,
        &proto::NextValidId {
            order_id: Some(next_id.max(1)),
        },
    ));
    let _ = tx.send(wire::encode_message(
        inc::MANAGED_ACCTS,
        &proto::ManagedAccounts {
            accounts_list: Some(shared.config.managed_accounts()),
        },
    ));
    for (code, text) in [
        (2104, "Market data farm connection is OK:usfarm"),
        (2106, "HMDS data farm connection is OK:ushmds"),
        (2158, "Sec-def data farm connection is OK:secdefil"),
    ] {
        let _ = tx.send(error_frame(-1, code, text));
    }

    let writer_task = tokio::spawn(async move {
        while let Some(frame) = rx.recv().await {
            if writer.write_all(&frame).await.is_err() {
                break;
            }
        }
    });
    let streams = Arc::new(Mutex::new(HashMap::new()));
    let session_id = shared.next_session.fetch_add(1, Ordering::Relaxed);
    let mut session = Session {
        shared: shared.clone(),
        client_id,
        tx: tx.clone(),
        streams: streams.clone(),
        data_type: 1,
        recent: VecDeque::new(),
    };
    // Registered before the reader starts, so a client that leaves at once
    // is removed by the reader and never lingers as "client id in use".
    lock(&shared.sessions).insert(
        session_id,
        SessionHandle {
            client_id,
            tx: tx.clone(),
            streams: streams.clone(),
            aborts: vec![writer_task.abort_handle()],
        },
    );
    let reader_task = tokio::spawn(async move {
        loop {
            let body = match wire::read_frame(&mut reader).await {
                Ok(b) => b,
                Err(e) => {
                    debug!("client {} read: {e}", session.client_id);
                    break;
                }
            };
            if !session.count_message() {
                break;
            }
            let delay = lock(&session.shared.faults).response_delay;
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            if let Some((id, true, payload)) = wire::split_body(&body) {
                session.handle(id, payload);
            } else {
                debug!("ignoring non-protobuf frame");
            }
        }
        lock(&session.shared.sessions).remove(&session_id);
    });
    let aborts = vec![writer_task.abort_handle(), reader_task.abort_handle()];
    if let Some(handle) = lock(&shared.sessions).get_mut(&session_id) {
        handle.aborts.push(reader_task.abort_handle());
    }
    info!(client_id, "client connected");
    let _ = reader_task.await;
    for a in aborts {
        a.abort();
    }
    Ok(())
}

impl Session {
    fn send(&self, frame: Vec<u8>) {
        let _ = self.tx.send(frame);
    }

    fn send_msg<M: Message>(&self, id: i32, msg: &M) {
        self.send(wire::encode_message(id, msg));
    }

    fn error(&self, id: i32, code: i32, text: &str) {
        self.send(error_frame(id, code, text));
    }

    /// Tracks the inbound rate; false when pacing is enforced and exceeded.
    fn count_message(&mut self) -> bool {
        let stats = &self.shared.stats;
        stats.messages_in.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        self.recent.push_back(now);
        while self
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) > Duration::from_secs(1))
        {
            self.recent.pop_front();
        }
        let n = self.recent.len() as u64;
        stats.max_rate_per_sec.fetch_max(n, Ordering::Relaxed);
        if self.shared.config.enforce_pacing && self.recent.len() > MAX_MSGS_PER_SEC {
            warn!(
                client_id = self.client_id,
                "client exceeded 50 messages/s: error 100, closing its socket"
            );
            self.error(
                -1,
                100,
                "Max rate of messages per second has been exceeded:max=50 rec=51",
            );
            return false;
        }
        true
    }

    fn handle(&mut self, id: i32, payload: &[u8]) {
        macro_rules! decode {
            ($t:ty) => {
                match <$t>::decode(payload) {
                    Ok(m) => m,
                    Err(e) => {
                        self.error(-1, 320, &format!("Error reading request: {e}"));
                        return;
                    }
                }
            };
        }
        match id {
            out::REQ_MARKET_DATA_TYPE => {
                let m = decode!(proto::MarketDataTypeRequest);
                self.data_type = m.market_data_type.unwrap_or(1).clamp(1, 4);
            }
            out::REQ_MKT_DATA => {
                let m = decode!(proto::MarketDataRequest);
                self.market_data(m);
            }
            out::CANCEL_MKT_DATA => {
                let m = decode!(proto::ReqIdOnly);
                lock(&self.streams).remove(&m.req_id.unwrap_or(0));
            }
            out::REQ_CONTRACT_DATA => {
                let m = decode!(proto::ContractDataRequest);
                self.contract_details(m);
            }
            out::REQ_SEC_DEF_OPT_PARAMS => {
                let m = decode!(proto::SecDefOptParamsRequest);
                self.sec_def_opt_params(m);
            }
            out::REQ_HISTORICAL_DATA => {
                let m = decode!(proto::HistoricalDataRequest);
                self.historical(m);
            }
            out::CANCEL_HISTORICAL_DATA | out::CANCEL_ACCOUNT_SUMMARY | out::CANCEL_POSITIONS => {}
            out::REQ_ACCOUNT_SUMMARY => {
                let m = decode!(proto::AccountSummaryRequest);
                self.account_summary(m);
            }
            out::REQ_POSITIONS => self.positions(),
            out::PLACE_ORDER => {
                let m = decode!(proto::PlaceOrderRequest);
                self.place_order(m);
            }
            out::CANCEL_ORDER => {
                let m = decode!(proto::CancelOrderRequest);
                self.cancel_order(m.order_id.unwrap_or(0));
            }
            out::REQ_GLOBAL_CANCEL => {
                let ids: Vec<i32> = lock(&self.shared.state)
                    .book
                    .orders
                    .iter()
                    .filter(|o| {
                        o.client_id == self.client_id && o.phase == crate::OrderPhase::Submitted
                    })
                    .map(|o| o.order_id)
                    .collect();
                for id in ids {
                    self.cancel_order(id);
                }
            }
            out::REQ_OPEN_ORDERS | out::REQ_AUTO_OPEN_ORDERS => self.open_orders(false),
            out::REQ_ALL_OPEN_ORDERS => self.open_orders(true),
            out::REQ_COMPLETED_ORDERS => self.completed_orders(),
            out::REQ_EXECUTIONS => {
                let m = decode!(proto::ExecutionRequest);
                self.executions(m);
            }
            out::REQ_IDS => {
                let next = lock(&self.shared.state).book.max_order_id() + 1;
                self.send_msg(
                    inc::NEXT_VALID_ID,
                    &proto::NextValidId {
                        order_id: Some(next.max(1)),
                    },
                );
            }
            out::REQ_MANAGED_ACCTS => self.send_msg(
                inc::MANAGED_ACCTS,
                &proto::ManagedAccounts {
                    accounts_list: Some(self.shared.config.managed_accounts()),
                },
            ),
            out::REQ_CURRENT_TIME => self.send_msg(
                inc::CURRENT_TIME,
                &proto::CurrentTime {
                    current_time: Some(Utc::now().timestamp()),
                },
            ),
            other => debug!("fake gateway ignores request id {other}"),
        }
    }

    fn market_data(&mut self, m: proto::MarketDataRequest) {
        self.shared
            .stats
            .market_data_requests
            .fetch_add(1, Ordering::Relaxed);
        let req_id = m.req_id.unwrap_or(0);
        let contract = m.contract.unwrap_or_default();
        let snapshot = m.snapshot.unwrap_or(false) || m.regulatory_snapshot.unwrap_or(false);
        let generic: Vec<String> = m
            .generic_tick_list
            .as_deref()
            .unwrap_or("")
            .split(',')
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .collect();
        if snapshot && !generic.is_empty() {
            // As IB: generic ticks are for streaming requests only.
            self.error(
                req_id,
                321,
                "Error validating request.-'bW' : cause - Snapshot market data subscription is not applicable to generic ticks",
            );
            return;
        }
        let wants_dividends = generic.iter().any(|t| t == "456");
        if wants_dividends {
            self.shared
                .stats
                .dividend_requests
                .fetch_add(1, Ordering::Relaxed);
        }
        let mut st = lock(&self.shared.state);
        let State { market, book } = &mut *st;
        let Some(instrument) = book.instrument_of(&contract, market.as_mut()) else {
            drop(st);
            self.error(
                req_id,
                200,
                "No security definition has been found for the request",
            );
            return;
        };
        let mut data_type = self.data_type;
        let denied = lock(&self.shared.faults)
            .denied_market_data
            .get(instrument.symbol().as_str())
            .copied();
        if let Some(code) = denied {
            if data_type <= 2 {
                drop(st);
                let text = match code {
                    10089 => "Requested market data requires additional subscription for API. Delayed market data is available.",
                    10091 => "Part of requested market data requires additional subscription for API. Delayed market data is available.",
                    _ => "Requested market data is not subscribed. Displaying delayed market data.",
                };
                self.error(req_id, code, text);
                return;
            }
            data_type = data_type.max(3);
        }
        if !snapshot {
            let lines = lock(&self.streams).len();
            if lines >= self.shared.config.max_market_data_lines {
                drop(st);
                self.error(
                    req_id,
                    101,
                    &format!(
                        "Max number of tickers has been reached (max {})",
                        self.shared.config.max_market_data_lines
                    ),
                );
                return;
            }
        }
        let mut frames = tick_frames(market.as_mut(), req_id, &instrument, data_type, true);
        if let (true, Instrument::Stock { symbol }) = (wants_dividends, &instrument) {
            // Tick 59 "IB dividends": past12m,next12m,YYYYMMDD,amount.
            if let Some(text) = market.dividends(symbol) {
                frames.push(wire::encode_message(
                    inc::TICK_STRING,
                    &proto::TickString {
                        req_id: Some(req_id),
                        tick_type: Some(59),
                        value: Some(text),
                    },
                ));
            }
        }
        drop(st);
        self.send_msg(
            inc::MARKET_DATA_TYPE,
            &proto::MarketDataType {
                req_id: Some(req_id),
                market_data_type: Some(data_type),
            },
        );
        for f in frames {
            self.send(f);
        }
        if snapshot {
            self.send_msg(
                inc::TICK_SNAPSHOT_END,
                &proto::ReqIdOnly {
                    req_id: Some(req_id),
                },
            );
        } else {
            lock(&self.streams).insert(
                req_id,
                StreamSub {
                    instrument,
                    data_type,
                },
            );
        }
    }

    fn contract_details(&mut self, m: proto::ContractDataRequest) {
        let req_id = m.req_id.unwrap_or(0);
        let contract = m.contract.unwrap_or_default();
        let by_id_only = contract.con_id.is_some_and(|id| id > 0) && contract.symbol.is_none();
        if by_id_only && lock(&self.shared.faults).fail_lookup_by_con_id {
            self.error(
                req_id,
                200,
                "No security definition has been found for the request",
            );
            return;
        }
        let mut st = lock(&self.shared.state);
        let State { market, book } = &mut *st;
        let Some(instrument) = book.instrument_of(&contract, market.as_mut()) else {
            drop(st);
            self.error(
                req_id,
                200,
                "No security definition has been found for the request",
            );
            return;
        };
        let con_id = book.registry.con_id(&instrument);
        let under_id = crate::book::stock_con_id(instrument.symbol());
        drop(st);
        let (under_con_id, under_symbol, under_sec_type, expiry) = match &instrument {
            Instrument::Stock { .. } => (None, None, None, None),
            Instrument::Option { symbol, expiry, .. } => (
                Some(under_id),
                Some(symbol.to_string()),
                Some("STK".to_string()),
                Some(expiry.format("%Y%m%d").to_string()),
            ),
        };
        let details = proto::ContractDetails {
            market_name: Some(instrument.symbol().to_string()),
            min_tick: Some("0.01".into()),
            order_types: Some("LMT,MKT,STP".into()),
            valid_exchanges: Some("SMART,CBOE,ISE,NASDAQ".into()),
            under_con_id,
            long_name: Some(instrument.symbol().to_string()),
            contract_month: expiry.as_ref().map(|e| e[..6].to_string()),
            time_zone_id: Some("US/Eastern".into()),
            under_symbol,
            under_sec_type,
            real_expiration_date: expiry,
            stock_type: matches!(instrument, Instrument::Stock { .. })
                .then(|| "COMMON".to_string()),
        };
        self.send_msg(
            inc::CONTRACT_DATA,
            &proto::ContractData {
                req_id: Some(req_id),
                contract: Some(instrument.to_proto(con_id)),
                contract_details: Some(details),
            },
        );
        self.send_msg(
            inc::CONTRACT_DATA_END,
            &proto::ReqIdOnly {
                req_id: Some(req_id),
            },
        );
    }

    fn sec_def_opt_params(&mut self, m: proto::SecDefOptParamsRequest) {
        let req_id = m.req_id.unwrap_or(0);
        let symbol = m
            .underlying_symbol
            .as_deref()
            .and_then(|s| Symbol::parse(s).ok());
        let listing = symbol.as_ref().and_then(|s| {
            let mut st = lock(&self.shared.state);
            if st.market.is_listed(s) {
                st.market.option_listing(s)
            } else {
                None
            }
        });
        let (Some(symbol), Some(listing)) = (symbol, listing) else {
            self.error(
                req_id,
                200,
                "No security definition has been found for the request",
            );
            return;
        };
        self.send_msg(
            inc::SEC_DEF_OPT_PARAMS,
            &proto::SecDefOptParameter {
                req_id: Some(req_id),
                exchange: Some("SMART".into()),
                underlying_con_id: Some(crate::book::stock_con_id(&symbol)),
                trading_class: Some(symbol.to_string()),
                multiplier: Some("100".into()),
                expirations: listing
                    .expirations
                    .iter()
                    .map(|d| d.format("%Y%m%d").to_string())
                    .collect(),
                strikes: listing.strikes,
            },
        );
        self.send_msg(
            inc::SEC_DEF_OPT_PARAMS_END,
            &proto::ReqIdOnly {
                req_id: Some(req_id),
            },
        );
    }

    fn historical(&mut self, m: proto::HistoricalDataRequest) {
        let req_id = m.req_id.unwrap_or(0);
        let paced = std::mem::take(&mut lock(&self.shared.faults).pace_next_historical);
        if paced {
            self.error(
                req_id,
                162,
                "Historical Market Data Service error message:API historical data query cancelled: pacing violation",
            );
            return;
        }
        self.shared
            .stats
            .historical_requests
            .fetch_add(1, Ordering::Relaxed);
        if let Some(rules) = self.shared.config.historical_pacing {
            let contract = m.contract.clone().unwrap_or_default();
            let contract_key = format!(
                "{} {}",
                contract.symbol.as_deref().unwrap_or(""),
                contract.sec_type.as_deref().unwrap_or("")
            );
            let key = format!(
                "{contract_key}|{}|{}|{}|{}",
                m.what_to_show.as_deref().unwrap_or(""),
                m.duration.as_deref().unwrap_or(""),
                m.bar_size_setting.as_deref().unwrap_or(""),
                m.end_date_time.as_deref().unwrap_or("")
            );
            let verdict = lock(&self.shared.historical_log).record(
                &rules,
                &contract_key,
                &key,
                Instant::now(),
            );
            if let Some(rule) = verdict {
                self.shared
                    .stats
                    .historical_pacing_violations
                    .fetch_add(1, Ordering::Relaxed);
                warn!(?rule, request = %key, "historical-data pacing violation: error 162");
                self.error(
                    req_id,
                    162,
                    "Historical Market Data Service error message:API historical data query cancelled: pacing violation",
                );
                return;
            }
        }
        let bar_size = m.bar_size_setting.clone().unwrap_or_default();
        if bar_size != "1 day" {
            self.error(
                req_id,
                162,
                &format!("Historical Market Data Service error message:fake gateway serves daily bars only, not {bar_size:?}"),
            );
            return;
        }
        if m.what_to_show.as_deref() == Some("OPTION_IMPLIED_VOLATILITY") {
            self.iv_history(req_id, &m);
            return;
        }
        let days = parse_duration_days(m.duration.as_deref().unwrap_or("1 M")).unwrap_or(30);
        let contract = m.contract.unwrap_or_default();
        let symbol = contract
            .symbol
            .as_deref()
            .and_then(|s| Symbol::parse(s).ok());
        let bars = symbol.as_ref().and_then(|s| {
            let mut st = lock(&self.shared.state);
            st.market
                .is_listed(s)
                .then(|| st.market.daily_bars(s, days))
        });
        let Some(bars) = bars else {
            self.error(
                req_id,
                200,
                "No security definition has been found for the request",
            );
            return;
        };
        let start = bars.first().map(|b| b.date);
        let end = bars.last().map(|b| b.date);
        let rows = bars
            .iter()
            .map(|b| proto::HistoricalDataBar {
                date: Some(b.date.format("%Y%m%d").to_string()),
                open: Some(b.open),
                high: Some(b.high),
                low: Some(b.low),
                close: Some(b.close),
                volume: Some(b.volume.to_string()),
                wap: Some(format!("{:.4}", (b.high + b.low + b.close) / 3.0)),
                bar_count: Some(1000),
            })
            .collect();
        self.send_msg(
            inc::HISTORICAL_DATA,
            &proto::HistoricalData {
                req_id: Some(req_id),
                historical_data_bars: rows,
            },
        );
        let fmt = |d: Option<NaiveDate>| d.map(|d| format!("{}-00:00:00", d.format("%Y%m%d")));
        self.send_msg(
            inc::HISTORICAL_DATA_END,
            &proto::HistoricalDataEnd {
                req_id: Some(req_id),
                start_date_str: fmt(start),
                end_date_str: fmt(end),
            },
        );
    }

    /// `OPTION_IMPLIED_VOLATILITY` daily bars: the simulated market's 30-day
    /// IV closes (open = high = low = close, no volume), at most one year.
    fn iv_history(&mut self, req_id: i32, m: &proto::HistoricalDataRequest) {
        let days = parse_duration_calendar_days(m.duration.as_deref().unwrap_or("1 M"))
            .unwrap_or(30)
            .min(365);
        let symbol = m
            .contract
            .as_ref()
            .and_then(|c| c.symbol.as_deref())
            .and_then(|s| Symbol::parse(s).ok());
        let Some(symbol) = symbol.filter(|s| lock(&self.shared.state).market.is_listed(s)) else {
            self.error(
                req_id,
                200,
                "No security definition has been found for the request",
            );
            return;
        };
        let (no_options, denied) = {
            let faults = lock(&self.shared.faults);
            (
                faults.no_options.contains(symbol.as_str()),
                faults.denied_market_data.contains_key(symbol.as_str()),
            )
        };
        if denied {
            self.error(
                req_id,
                162,
                &format!("Historical Market Data Service error message:No market data permissions for {symbol} OPT"),
            );
            return;
        }
        let bars = if no_options {
            Vec::new()
        } else {
            lock(&self.shared.state).market.iv_bars(&symbol, days)
        };
        if bars.is_empty() {
            self.error(
                req_id,
                162,
                "Historical Market Data Service error message:HMDS query returned no data",
            );
            return;
        }
        let start = bars.first().map(|b| b.0);
        let end = bars.last().map(|b| b.0);
        let rows = bars
            .iter()
            .map(|&(date, iv)| proto::HistoricalDataBar {
                date: Some(date.format("%Y%m%d").to_string()),
                open: Some(iv),
                high: Some(iv),
                low: Some(iv),
                close: Some(iv),
                volume: Some("0".into()),
                wap: Some(format!("{iv:.4}")),
                bar_count: Some(0),
            })
            .collect();
        self.send_msg(
            inc::HISTORICAL_DATA,
            &proto::HistoricalData {
                req_id: Some(req_id),
                historical_data_bars: rows,
            },
        );
        let fmt = |d: Option<NaiveDate>| d.map(|d| format!("{}-00:00:00", d.format("%Y%m%d")));
        self.send_msg(
            inc::HISTORICAL_DATA_END,
            &proto::HistoricalDataEnd {
                req_id: Some(req_id),
                start_date_str: fmt(start),
                end_date_str: fmt(end),
            },
        );
    }

    fn account_summary(&mut self, m: proto::AccountSummaryRequest) {
        let req_id = m.req_id.unwrap_or(0);
        let (cash, positions_value) = {
            let mut st = lock(&self.shared.state);
            let State { market, book } = &mut *st;
            let mut value = 0.0;
            let held: Vec<(i32, f64)> = book
                .positions
                .iter()
                .map(|(k, h)| (*k, h.quantity))
                .collect();
            for (con_id, qty) in held {
                if let Some(inst) = book.registry.get(con_id).cloned() {
                    if let Some((bid, ask)) = bid_ask(&inst, market.as_mut()) {
                        value += qty * 0.5 * (bid + ask) * inst.multiplier();
                    }
                }
            }
            (book.cash, value)
        };
        let net_liq = cash + positions_value;
        let tags = m.tags.unwrap_or_default();
        for tag in tags.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let value = match tag {
                "NetLiquidation" | "EquityWithLoanValue" => net_liq,
                "TotalCashValue" | "SettledCash" => cash,
                "AvailableFunds" | "ExcessLiquidity" => cash.min(net_liq),
                "BuyingPower" => 2.0 * net_liq,
                "GrossPositionValue" => positions_value.abs(),
                "InitMarginReq" | "MaintMarginReq" => 0.0,
                "AccountType" => {
                    self.summary_row(req_id, tag, "INDIVIDUAL", "");
                    continue;
                }
                _ => continue,
            };
            self.summary_row(req_id, tag, &format!("{value:.2}"), "USD");
        }
        // The other accounts of the login: fixed, clearly different values,
        // sent after the traded account's rows (as IB interleaves them).
        let extra = self.shared.config.extra_accounts.clone();
        for account in &extra {
            for tag in tags.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                let value = match tag {
                    "NetLiquidation" | "EquityWithLoanValue" | "TotalCashValue" => "1234.00",
                    "BuyingPower" => "2468.00",
                    _ => continue,
                };
                self.send_msg(
                    inc::ACCOUNT_SUMMARY,
                    &proto::AccountSummary {
                        req_id: Some(req_id),
                        account: Some(account.clone()),
                        tag: Some(tag.into()),
                        value: Some(value.into()),
                        currency: Some("USD".into()),
                    },
                );
            }
        }
        self.send_msg(
            inc::ACCOUNT_SUMMARY_END,
            &proto::ReqIdOnly {
                req_id: Some(req_id),
            },
        );
    }

    fn summary_row(&self, req_id: i32, tag: &str, value: &str, currency: &str) {
        self.send_msg(
            inc::ACCOUNT_SUMMARY,
            &proto::AccountSummary {
                req_id: Some(req_id),
                account: Some(self.shared.config.account.clone()),
                tag: Some(tag.into()),
                value: Some(value.into()),
                currency: Some(currency.into()),
            },
        );
    }

    fn positions(&mut self) {
        let rows: Vec<proto::Position> = {
            let st = lock(&self.shared.state);
            let mut ids: Vec<&i32> = st.book.positions.keys().collect();
            ids.sort();
            ids.into_iter()
                .filter_map(|id| {
                    let h = st.book.positions.get(id)?;
                    let inst = st.book.registry.get(*id)?;
                    Some(proto::Position {
                        account: Some(st.book.account.clone()),
                        contract: Some(inst.to_proto(*id)),
                        position: Some(fmt_qty(h.quantity)),
                        avg_cost: Some(h.avg_cost),
                    })
                })
                .collect()
        };
        for r in rows {
            self.send_msg(inc::POSITION_DATA, &r);
        }
        self.send_msg(inc::POSITION_END, &proto::Empty {});
    }

    fn place_order(&mut self, m: proto::PlaceOrderRequest) {
        self.shared
            .stats
            .place_order_requests
            .fetch_add(1, Ordering::Relaxed);
        let order_id = m.order_id.unwrap_or(0);
        let reject = lock(&self.shared.faults).reject_next_order.take();
        if let Some((code, text)) = reject {
            self.error(order_id, code, &text);
            return;
        }
        let now = Utc::now();
        let result = {
            let mut st = lock(&self.shared.state);
            let State { market, book } = &mut *st;
            book.place(self.client_id, m, market.as_mut(), now)
        };
        match result {
            Ok(events) => self.shared.deliver_events(events),
            Err(rej) => self.error(order_id, rej.code, &rej.message),
        }
    }

    fn cancel_order(&mut self, order_id: i32) {
        let now = Utc::now();
        let result = lock(&self.shared.state)
            .book
            .cancel(self.client_id, order_id, now);
        match result {
            Ok(events) => {
                // PendingCancel, then Cancelled, then notice 202.
                for ev in &events {
                    match ev {
                        OrderEvent::Updated(o) => self.send_msg(inc::ORDER_STATUS, &o.status()),
                        OrderEvent::Status { order, status } => {
                            self.send_msg(inc::ORDER_STATUS, &order.status_as(status));
                        }
                        OrderEvent::Executed { .. } => {}
                    }
                }
                self.error(order_id, 202, "Order Canceled - reason:");
            }
            Err(rej) => self.error(order_id, rej.code, &rej.message),
        }
    }

    fn open_orders(&mut self, all: bool) {
        let orders: Vec<crate::book::BookOrder> = lock(&self.shared.state)
            .book
            .orders
            .iter()
            .filter(|o| {
                o.phase == crate::OrderPhase::Submitted && (all || o.client_id == self.client_id)
            })
            .cloned()
            .collect();
        for o in orders {
            self.send_msg(inc::OPEN_ORDER, &o.open_order());
            self.send_msg(inc::ORDER_STATUS, &o.status());
        }
        self.send_msg(inc::OPEN_ORDER_END, &proto::Empty {});
    }

    fn completed_orders(&mut self) {
        let orders: Vec<crate::book::BookOrder> = lock(&self.shared.state)
            .book
            .orders
            .iter()
            .filter(|o| o.phase != crate::OrderPhase::Submitted)
            .cloned()
            .collect();
        for o in orders {
            self.send_msg(inc::COMPLETED_ORDER, &o.completed_order());
        }
        self.send_msg(inc::COMPLETED_ORDERS_END, &proto::Empty {});
    }

    fn executions(&mut self, m: proto::ExecutionRequest) {
        let req_id = m.req_id.unwrap_or(0);
        let filter = m.execution_filter.unwrap_or_default();
        let records: Vec<crate::book::ExecRecord> = lock(&self.shared.state)
            .book
            .executions
            .iter()
            .filter(|r| {
                filter
                    .client_id
                    .is_none_or(|c| c == 0 || r.details.client_id == Some(c))
                    && filter
                        .symbol
                        .as_deref()
                        .is_none_or(|s| s.is_empty() || r.contract.symbol.as_deref() == Some(s))
            })
            .cloned()
            .collect();
        for r in &records {
            self.send_msg(
                inc::EXECUTION_DATA,
                &proto::ExecutionDetails {
                    req_id: Some(req_id),
                    contract: Some(r.contract.clone()),
                    execution: Some(r.details.clone()),
                },
            );
            // Each execution is followed by its commission report (unless
            // the test holds it back).
            if r.commission_released {
                self.send_msg(inc::COMMISSION_REPORT, &commission_report(r));
            }
        }
        self.send_msg(
            inc::EXECUTION_DATA_END,
            &proto::ReqIdOnly {
                req_id: Some(req_id),
            },
        );
    }
}

/// `30 D`, `2 W`, `6 M`, `1 Y` → trading days (weekdays).
fn parse_duration_days(text: &str) -> Option<u32> {
    let mut parts = text.split_whitespace();
    let n: u32 = parts.next()?.parse().ok()?;
    let unit = parts.next()?;
    let days = match unit {
        "D" => n,
        "W" => n * 5,
        "M" => n * 21,
        "Y" => n * 252,
        _ => return None,
    };
    Some(days.clamp(1, 2520))
}

/// `30 D`, `2 W`, `6 M`, `1 Y` → calendar days.
fn parse_duration_calendar_days(text: &str) -> Option<u32> {
    let mut parts = text.split_whitespace();
    let n: u32 = parts.next()?.parse().ok()?;
    let days = match parts.next()? {
        "D" => n,
        "W" => n * 7,
        "M" => n * 30,
        "Y" => n * 365,
        _ => return None,
    };
    Some(days.clamp(1, 3650))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iv_durations_map_to_calendar_days() {
        assert_eq!(parse_duration_calendar_days("1 Y"), Some(365));
        assert_eq!(parse_duration_calendar_days("90 D"), Some(90));
        assert_eq!(parse_duration_calendar_days("2 W"), Some(14));
        assert_eq!(parse_duration_calendar_days("1 S"), None);
    }

    #[test]
    fn durations_map_to_trading_days() {
        assert_eq!(parse_duration_days("30 D"), Some(30));
        assert_eq!(parse_duration_days("1 Y"), Some(252));
        assert_eq!(parse_duration_days("2 W"), Some(10));
        assert_eq!(parse_duration_days("x D"), None);
        assert_eq!(parse_duration_days("3 S"), None);
    }
}
