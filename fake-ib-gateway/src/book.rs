//! The fake brokerage: contract registry, orders, positions, executions and
//! cash. Pure state (no I/O); the server turns [`OrderEvent`]s into frames.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use sas_core::market::{OptionRight, Symbol};

use crate::market::MarketSource;
use crate::proto;

/// A tradable single instrument.
#[derive(Debug, Clone, PartialEq)]
pub enum Instrument {
    Stock {
        symbol: Symbol,
    },
    Option {
        symbol: Symbol,
        expiry: NaiveDate,
        strike: f64,
        right: OptionRight,
    },
}

impl Instrument {
    /// The underlying symbol.
    pub fn symbol(&self) -> &Symbol {
        match self {
            Instrument::Stock { symbol } | Instrument::Option { symbol, .. } => symbol,
        }
    }

    /// Contract multiplier (100 for equity options).
    pub fn multiplier(&self) -> f64 {
        match self {
            Instrument::Stock { .. } => 1.0,
            Instrument::Option { .. } => 100.0,
        }
    }

    fn key(&self) -> String {
        match self {
            Instrument::Stock { symbol } => format!("STK:{symbol}"),
            Instrument::Option {
                symbol,
                expiry,
                strike,
                right,
            } => format!(
                "OPT:{symbol}:{}:{}:{}",
                expiry.format("%Y%m%d"),
                (strike * 1000.0).round() as i64,
                right_code(*right)
            ),
        }
    }

    /// The IB contract message for this instrument.
    pub fn to_proto(&self, con_id: i32) -> proto::Contract {
        match self {
            Instrument::Stock { symbol } => proto::Contract {
                con_id: Some(con_id),
                symbol: Some(symbol.to_string()),
                sec_type: Some("STK".into()),
                exchange: Some("SMART".into()),
                primary_exch: Some("NASDAQ".into()),
                currency: Some("USD".into()),
                local_symbol: Some(symbol.to_string()),
                trading_class: Some(symbol.to_string()),
                ..Default::default()
            },
            Instrument::Option {
                symbol,
                expiry,
                strike,
                right,
            } => proto::Contract {
                con_id: Some(con_id),
                symbol: Some(symbol.to_string()),
                sec_type: Some("OPT".into()),
                last_trade_date_or_contract_month: Some(expiry.format("%Y%m%d").to_string()),
                strike: Some(*strike),
                right: Some(right_code(*right).into()),
                multiplier: Some(100.0),
                exchange: Some("SMART".into()),
                currency: Some("USD".into()),
                local_symbol: Some(format!(
                    "{symbol:<6}{}{}{:08}",
                    expiry.format("%y%m%d"),
                    right_code(*right),
                    (strike * 1000.0).round() as i64
                )),
                trading_class: Some(symbol.to_string()),
                ..Default::default()
            },
        }
    }
}

/// `C` or `P`.
pub fn right_code(right: OptionRight) -> &'static str {
    match right {
        OptionRight::Call => "C",
        OptionRight::Put => "P",
    }
}

/// Parses IB's right spellings (`C`, `CALL`, `P`, `PUT`).
pub fn parse_right(text: &str) -> Option<OptionRight> {
    match text.to_ascii_uppercase().as_str() {
        "C" | "CALL" => Some(OptionRight::Call),
        "P" | "PUT" => Some(OptionRight::Put),
        _ => None,
    }
}

/// Assigns stable contract ids to instruments.
#[derive(Debug, Default)]
pub struct Registry {
    by_id: HashMap<i32, Instrument>,
    by_key: HashMap<String, i32>,
    next_option_id: i32,
}

impl Registry {
    /// The id of `instrument`, assigning one on first sight.
    pub fn con_id(&mut self, instrument: &Instrument) -> i32 {
        let key = instrument.key();
        if let Some(id) = self.by_key.get(&key) {
            return *id;
        }
        let id = match instrument {
            Instrument::Stock { symbol } => stock_con_id(symbol),
            Instrument::Option { .. } => {
                self.next_option_id += 1;
                600_000_000 + self.next_option_id
            }
        };
        self.by_key.insert(key, id);
        self.by_id.insert(id, instrument.clone());
        id
    }

    /// The instrument behind a contract id, if known.
    pub fn get(&self, con_id: i32) -> Option<&Instrument> {
        self.by_id.get(&con_id)
    }
}

/// Stocks get ids derived from their symbol so they survive restarts.
pub fn stock_con_id(symbol: &Symbol) -> i32 {
    let mut h: u32 = 2_166_136_261;
    for b in symbol.as_str().bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(16_777_619);
    }
    1_000_000 + (h % 100_000_000) as i32
}

/// Buy or sell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Buy,
    Sell,
}

impl Side {
    fn sign(self) -> f64 {
        match self {
            Side::Buy => 1.0,
            Side::Sell => -1.0,
        }
    }
    fn action(self) -> &'static str {
        match self {
            Side::Buy => "BUY",
            Side::Sell => "SELL",
        }
    }
    fn exec_side(self) -> &'static str {
        match self {
            Side::Buy => "BOT",
            Side::Sell => "SLD",
        }
    }
    /// Parses `BUY`/`SELL` (also `SSHORT`).
    pub fn parse(text: &str) -> Option<Side> {
        match text.to_ascii_uppercase().as_str() {
            "BUY" => Some(Side::Buy),
            "SELL" | "SSHORT" => Some(Side::Sell),
            _ => None,
        }
    }
}

/// One leg of a combo order.
#[derive(Debug, Clone, PartialEq)]
pub struct Leg {
    pub con_id: i32,
    pub instrument: Instrument,
    pub ratio: u32,
    pub side: Side,
}

/// What an order trades.
#[derive(Debug, Clone, PartialEq)]
pub enum OrderTarget {
    Single { con_id: i32, instrument: Instrument },
    Combo { symbol: Symbol, legs: Vec<Leg> },
}

/// Lifecycle of a fake order, with IB's status names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderPhase {
    Submitted,
    Filled,
    Cancelled,
}

impl OrderPhase {
    /// IB status text.
    pub fn as_str(self) -> &'static str {
        match self {
            OrderPhase::Submitted => "Submitted",
            OrderPhase::Filled => "Filled",
            OrderPhase::Cancelled => "Cancelled",
        }
    }
}

/// An order as the fake keeps it.
#[derive(Debug, Clone)]
pub struct BookOrder {
    pub order_id: i32,
    pub client_id: i32,
    pub perm_id: i64,
    pub side: Side,
    pub quantity: f64,
    pub order_type: String,
    pub limit: Option<f64>,
    pub tif: String,
    pub account: String,
    pub order_ref: String,
    pub contract: proto::Contract,
    pub target: OrderTarget,
    pub phase: OrderPhase,
    pub filled: f64,
    pub avg_fill: f64,
    pub completed_time: Option<String>,
    /// Fill plan: at most this many units fill until the cap is lifted
    /// (`None`: everything fills once marketable).
    pub fill_cap: Option<f64>,
}

impl BookOrder {
    /// `OpenOrder` message for this order.
    pub fn open_order(&self) -> proto::OpenOrder {
        proto::OpenOrder {
            order_id: Some(self.order_id),
            contract: Some(self.contract.clone()),
            order: Some(self.order_proto()),
            order_state: Some(self.order_state()),
        }
    }

    /// `CompletedOrder` message for this order.
    pub fn completed_order(&self) -> proto::CompletedOrder {
        proto::CompletedOrder {
            contract: Some(self.contract.clone()),
            order: Some(self.order_proto()),
            order_state: Some(self.order_state()),
        }
    }

    /// `OrderStatus` message for this order.
    pub fn status(&self) -> proto::OrderStatus {
        self.status_as(self.phase.as_str())
    }

    /// `OrderStatus` message for this order with another status text (IB's
    /// transient `PreSubmitted` and `PendingCancel`).
    pub fn status_as(&self, status: &str) -> proto::OrderStatus {
        proto::OrderStatus {
            order_id: Some(self.order_id),
            status: Some(status.into()),
            filled: Some(fmt_qty(self.filled)),
            remaining: Some(fmt_qty(if self.phase == OrderPhase::Cancelled {
                0.0
            } else {
                self.quantity - self.filled
            })),
            avg_fill_price: Some(self.avg_fill),
            perm_id: Some(self.perm_id),
            parent_id: Some(0),
            last_fill_price: Some(self.avg_fill),
            client_id: Some(self.client_id),
            why_held: None,
        }
    }

    fn order_proto(&self) -> proto::Order {
        proto::Order {
            client_id: Some(self.client_id),
            order_id: Some(self.order_id),
            perm_id: Some(self.perm_id),
            parent_id: Some(0),
            action: Some(self.side.action().into()),
            total_quantity: Some(fmt_qty(self.quantity)),
            order_type: Some(self.order_type.clone()),
            lmt_price: self.limit,
            aux_price: None,
            tif: Some(self.tif.clone()),
            account: Some(self.account.clone()),
            order_ref: Some(self.order_ref.clone()),
            transmit: Some(true),
            filled_quantity: Some(fmt_qty(self.filled)),
        }
    }

    fn order_state(&self) -> proto::OrderState {
        proto::OrderState {
            status: Some(self.phase.as_str().into()),
            commission_and_fees: None,
            commission_and_fees_currency: None,
            reject_reason: None,
            completed_time: self.completed_time.clone(),
            completed_status: (self.phase != OrderPhase::Submitted)
                .then(|| self.phase.as_str().to_string()),
        }
    }
}

/// Decimal quantities as IB sends them (`"1"`, `"2.5"`).
pub fn fmt_qty(q: f64) -> String {
    if q.fract() == 0.0 {
        format!("{}", q as i64)
    } else {
        format!("{q}")
    }
}

/// One fill, kept for execution requests.
#[derive(Debug, Clone)]
pub struct ExecRecord {
    pub details: proto::Execution,
    pub contract: proto::Contract,
    pub commission: f64,
    pub realized_pnl: f64,
    /// The commission report was sent (or may be): `false` while the test
    /// holds commission reports back.
    pub commission_released: bool,
}

/// A held position.
#[derive(Debug, Clone, PartialEq)]
pub struct Holding {
    pub quantity: f64,
    /// Average cost per unit including the multiplier (IB convention).
    pub avg_cost: f64,
}

/// Something the server must tell the owning client about.
#[derive(Debug, Clone)]
pub enum OrderEvent {
    /// Order accepted or changed: send `OpenOrder` + `OrderStatus`.
    Updated(Box<BookOrder>),
    /// A transient status only (`PreSubmitted`, `PendingCancel`).
    Status {
        order: Box<BookOrder>,
        status: &'static str,
    },
    /// A fill: `ExecutionDetails` then `CommissionAndFeesReport`.
    Executed {
        client_id: i32,
        record: Box<ExecRecord>,
    },
}

/// Error raised by order placement, with an IB code.
#[derive(Debug, Clone, PartialEq)]
pub struct IbReject {
    pub code: i32,
    pub message: String,
}

/// The brokerage state.
#[derive(Debug)]
pub struct Book {
    pub account: String,
    pub cash: f64,
    pub registry: Registry,
    pub orders: Vec<BookOrder>,
    pub positions: HashMap<i32, Holding>,
    pub executions: Vec<ExecRecord>,
    /// Fill plan for the next placed order (see [`BookOrder::fill_cap`]).
    pub next_fill_cap: Option<f64>,
    /// Commission reports of new fills are held until released.
    pub hold_commissions: bool,
    next_perm_id: i64,
    next_exec: u64,
}

impl Book {
    /// A fresh account holding `cash`.
    pub fn new(account: String, cash: f64) -> Self {
        Self {
            account,
            cash,
            registry: Registry::default(),
            orders: Vec::new(),
            positions: HashMap::new(),
            executions: Vec::new(),
            next_fill_cap: None,
            hold_commissions: false,
            next_perm_id: 1_000_000_000,
            next_exec: 0,
        }
    }

    /// Highest order id ever used (for `NextValidId`).
    pub fn max_order_id(&self) -> i32 {
        self.orders.iter().map(|o| o.order_id).max().unwrap_or(0)
    }

    /// Places an order. Marketable orders fill at once against `market`.
    pub fn place(
        &mut self,
        client_id: i32,
        req: proto::PlaceOrderRequest,
        market: &mut dyn MarketSource,
        now: DateTime<Utc>,
    ) -> Result<Vec<OrderEvent>, IbReject> {
        let order_id = req.order_id.unwrap_or(0);
        let order = req.order.unwrap_or_default();
        let contract = req.contract.unwrap_or_default();
        if let Some(existing) = self
            .orders
            .iter_mut()
            .find(|o| o.order_id == order_id && o.client_id == client_id)
        {
            // IB treats a placeOrder with a live id as a modification.
            if existing.phase != OrderPhase::Submitted {
                return Err(IbReject {
                    code: 103,
                    message: format!("Duplicate order id {order_id}"),
                });
            }
            if let Some(limit) = order.lmt_price {
                existing.limit = Some(limit);
            }
            let snapshot = existing.clone();
            let mut events = vec![OrderEvent::Updated(Box::new(snapshot))];
            events.extend(self.match_resting(market, now));
            return Ok(events);
        }
        let side = order
            .action
            .as_deref()
            .and_then(Side::parse)
            .ok_or_else(|| IbReject {
                code: 321,
                message: "Error validating request:-'bN' : cause - Invalid action".into(),
            })?;
        let quantity: f64 = order
            .total_quantity
            .as_deref()
            .and_then(|q| q.parse().ok())
            .filter(|q: &f64| q.is_finite() && *q > 0.0)
            .ok_or_else(|| IbReject {
                code: 321,
                message: "Error validating request: order quantity must be positive".into(),
            })?;
        let order_type = order.order_type.clone().unwrap_or_else(|| "LMT".into());
        if order_type == "LMT" && order.lmt_price.is_none_or(|p| !p.is_finite()) {
            return Err(IbReject {
                code: 321,
                message: "Error validating request: limit price missing".into(),
            });
        }
        let (target, echo) = self.resolve_target(&contract, market)?;
        self.next_perm_id += 1;
        let book_order = BookOrder {
            order_id,
            client_id,
            perm_id: self.next_perm_id,
            side,
            quantity,
            order_type,
            limit: order.lmt_price,
            tif: order.tif.clone().unwrap_or_else(|| "DAY".into()),
            account: order
                .account
                .clone()
                .filter(|a| !a.is_empty())
                .unwrap_or_else(|| self.account.clone()),
            order_ref: order.order_ref.clone().unwrap_or_default(),
            contract: echo,
            target,
            phase: OrderPhase::Submitted,
            filled: 0.0,
            avg_fill: 0.0,
            completed_time: None,
            fill_cap: self.next_fill_cap.take(),
        };
        self.orders.push(book_order.clone());
        // IB's sequence for a new order: PreSubmitted, then Submitted.
        let mut events = vec![
            OrderEvent::Status {
                order: Box::new(book_order.clone()),
                status: "PreSubmitted",
            },
            OrderEvent::Updated(Box::new(book_order)),
        ];
        events.extend(self.match_resting(market, now));
        Ok(events)
    }

    fn resolve_target(
        &mut self,
        contract: &proto::Contract,
        market: &mut dyn MarketSource,
    ) -> Result<(OrderTarget, proto::Contract), IbReject> {
        let no_def = || IbReject {
            code: 200,
            message: "No security definition has been found for the request".into(),
        };
        let sec_type = contract
            .sec_type
            .as_deref()
            .unwrap_or("")
            .to_ascii_uppercase();
        if sec_type == "BAG" {
            let symbol = contract
                .symbol
                .as_deref()
                .and_then(|s| Symbol::parse(s).ok())
                .ok_or_else(no_def)?;
            if contract.combo_legs.is_empty() {
                return Err(no_def());
            }
            let mut legs = Vec::new();
            for leg in &contract.combo_legs {
                let con_id = leg.con_id.unwrap_or(0);
                let instrument = self.registry.get(con_id).cloned().ok_or_else(no_def)?;
                let side = leg
                    .action
                    .as_deref()
                    .and_then(Side::parse)
                    .ok_or_else(no_def)?;
                let ratio = u32::try_from(leg.ratio.unwrap_or(1)).unwrap_or(0);
                if ratio == 0 {
                    return Err(IbReject {
                        code: 321,
                        message: "Error validating request: combo leg ratio must be positive"
                            .into(),
                    });
                }
                legs.push(Leg {
                    con_id,
                    instrument,
                    ratio,
                    side,
                });
            }
            let mut echo = contract.clone();
            echo.exchange = Some(echo.exchange.clone().unwrap_or_else(|| "SMART".into()));
            echo.currency = Some(echo.currency.clone().unwrap_or_else(|| "USD".into()));
            Ok((OrderTarget::Combo { symbol, legs }, echo))
        } else {
            let instrument = self.instrument_of(contract, market).ok_or_else(no_def)?;
            let con_id = self.registry.con_id(&instrument);
            let echo = instrument.to_proto(con_id);
            Ok((OrderTarget::Single { con_id, instrument }, echo))
        }
    }

    /// The single instrument a contract message names, if it is listed.
    pub fn instrument_of(
        &mut self,
        contract: &proto::Contract,
        market: &mut dyn MarketSource,
    ) -> Option<Instrument> {
        if let Some(id) = contract.con_id.filter(|id| *id > 0) {
            return self.registry.get(id).cloned();
        }
        let symbol = Symbol::parse(contract.symbol.as_deref()?).ok()?;
        if !market.is_listed(&symbol) {
            return None;
        }
        match contract
            .sec_type
            .as_deref()
            .unwrap_or("STK")
            .to_ascii_uppercase()
            .as_str()
        {
            "STK" => Some(Instrument::Stock { symbol }),
            "OPT" => {
                let expiry = NaiveDate::parse_from_str(
                    contract.last_trade_date_or_contract_month.as_deref()?,
                    "%Y%m%d",
                )
                .ok()?;
                let strike = contract.strike?;
                let right = parse_right(contract.right.as_deref()?)?;
                market.option(&symbol, expiry, strike, right)?;
                Some(Instrument::Option {
                    symbol,
                    expiry,
                    strike,
                    right,
                })
            }
            _ => None,
        }
    }

    /// Cancels a live order of `client_id`.
    pub fn cancel(
        &mut self,
        client_id: i32,
        order_id: i32,
        now: DateTime<Utc>,
    ) -> Result<Vec<OrderEvent>, IbReject> {
        let order = self
            .orders
            .iter_mut()
            .find(|o| o.order_id == order_id && o.client_id == client_id)
            .ok_or_else(|| IbReject {
                code: 135,
                message: format!("Can't find order with id ={order_id}"),
            })?;
        if order.phase != OrderPhase::Submitted {
            return Err(IbReject {
                code: 161,
                message: format!(
                    "Cancel attempted when order is not in a cancellable state.  Order permId ={}",
                    order.perm_id
                ),
            });
        }
        let pending = OrderEvent::Status {
            order: Box::new(order.clone()),
            status: "PendingCancel",
        };
        // What filled stays filled; the rest is cancelled.
        order.phase = OrderPhase::Cancelled;
        order.completed_time = Some(ib_time(now));
        Ok(vec![pending, OrderEvent::Updated(Box::new(order.clone()))])
    }

    /// Fills every resting order the market now crosses.
    pub fn match_resting(
        &mut self,
        market: &mut dyn MarketSource,
        now: DateTime<Utc>,
    ) -> Vec<OrderEvent> {
        let mut events = Vec::new();
        for idx in 0..self.orders.len() {
            let o = &self.orders[idx];
            if o.phase != OrderPhase::Submitted {
                continue;
            }
            let fillable = o.fill_cap.map_or(o.quantity, |c| c.min(o.quantity)) - o.filled;
            if fillable <= 0.0 {
                continue;
            }
            let Some(fill) = marketable_price(o, market) else {
                continue;
            };
            events.extend(self.fill(idx, fill, fillable, now));
        }
        events
    }

    /// Fills `qty` units of order `idx` (all that is left, or a part).
    fn fill(&mut self, idx: usize, fill: Fill, qty: f64, now: DateTime<Utc>) -> Vec<OrderEvent> {
        let order = self.orders[idx].clone();
        let cum = order.filled + qty;
        let mut events = Vec::new();
        let time = ib_time(now);
        let released = !self.hold_commissions;
        for (con_id, instrument, side, per_unit, price) in &fill.legs {
            let units = per_unit * qty;
            let commission = commission_for(instrument, units);
            let realized = self.apply_position(*con_id, instrument, *side, units, *price);
            self.cash -= side.sign() * units * price * instrument.multiplier() + commission;
            self.next_exec += 1;
            let record = ExecRecord {
                details: proto::Execution {
                    order_id: Some(order.order_id),
                    exec_id: Some(format!("0000e0d5.{:08x}.01.01", self.next_exec)),
                    time: Some(time.clone()),
                    acct_number: Some(order.account.clone()),
                    exchange: Some("CBOE".into()),
                    side: Some(side.exec_side().into()),
                    shares: Some(fmt_qty(units)),
                    price: Some(*price),
                    perm_id: Some(order.perm_id),
                    client_id: Some(order.client_id),
                    cum_qty: Some(fmt_qty(per_unit * cum)),
                    avg_price: Some(*price),
                    order_ref: Some(order.order_ref.clone()),
                },
                contract: instrument.to_proto(*con_id),
                commission,
                realized_pnl: realized,
                commission_released: released,
            };
            self.executions.push(record.clone());
            events.push(OrderEvent::Executed {
                client_id: order.client_id,
                record: Box::new(record),
            });
        }
        if matches!(order.target, OrderTarget::Combo { .. }) {
            // IB also reports one execution for the combo itself.
            self.next_exec += 1;
            let record = ExecRecord {
                details: proto::Execution {
                    order_id: Some(order.order_id),
                    exec_id: Some(format!("0000e0d5.{:08x}.01.01", self.next_exec)),
                    time: Some(time.clone()),
                    acct_number: Some(order.account.clone()),
                    exchange: Some("CBOE".into()),
                    side: Some(order.side.exec_side().into()),
                    shares: Some(fmt_qty(qty)),
                    price: Some(fill.net_price),
                    perm_id: Some(order.perm_id),
                    client_id: Some(order.client_id),
                    cum_qty: Some(fmt_qty(cum)),
                    avg_price: Some(fill.net_price),
                    order_ref: Some(order.order_ref.clone()),
                },
                contract: order.contract.clone(),
                commission: 0.0,
                realized_pnl: 0.0,
                commission_released: released,
            };
            self.executions.push(record.clone());
            events.push(OrderEvent::Executed {
                client_id: order.client_id,
                record: Box::new(record),
            });
        }
        let o = &mut self.orders[idx];
        o.avg_fill =
            ((o.avg_fill * o.filled + fill.net_price * qty) / cum * 10_000.0).round() / 10_000.0;
        o.filled = cum;
        if o.filled >= o.quantity - 1e-9 {
            o.phase = OrderPhase::Filled;
            o.completed_time = Some(time);
        }
        events.insert(0, OrderEvent::Updated(Box::new(o.clone())));
        events
    }

    /// Assignment (or exercise) of the option position `con_id`: the
    /// option leaves the book and the underlying's stock position changes by
    /// 100 shares per contract at the strike (a short put or a long call
    /// buys, a short call or a long put sells). Returns the stock's contract
    /// id and the shares delivered; `None` when `con_id` is not an option
    /// held.
    pub fn assign(&mut self, con_id: i32) -> Option<(i32, f64)> {
        let Some(Instrument::Option {
            symbol,
            strike,
            right,
            ..
        }) = self.registry.get(con_id).cloned()
        else {
            return None;
        };
        let held = self.positions.get(&con_id)?.quantity;
        if held == 0.0 {
            return None;
        }
        let shares = match right {
            OptionRight::Call => held * 100.0,
            OptionRight::Put => -held * 100.0,
        };
        self.positions.remove(&con_id);
        let stock = Instrument::Stock { symbol };
        let stock_id = self.registry.con_id(&stock);
        let side = if shares > 0.0 { Side::Buy } else { Side::Sell };
        self.apply_position(stock_id, &stock, side, shares.abs(), strike);
        self.cash -= shares * strike;
        Some((stock_id, shares))
    }

    /// Adds a fill to the position; returns realized P&L.
    fn apply_position(
        &mut self,
        con_id: i32,
        instrument: &Instrument,
        side: Side,
        units: f64,
        price: f64,
    ) -> f64 {
        let mult = instrument.multiplier();
        let signed = side.sign() * units;
        let h = self.positions.entry(con_id).or_insert(Holding {
            quantity: 0.0,
            avg_cost: 0.0,
        });
        let mut realized = 0.0;
        if h.quantity == 0.0 || h.quantity.signum() == signed.signum() {
            let total = h.quantity + signed;
            h.avg_cost = (h.avg_cost * h.quantity.abs() + price * mult * units) / total.abs();
            h.quantity = total;
        } else {
            let closing = units.min(h.quantity.abs());
            realized = (price * mult - h.avg_cost) * closing * h.quantity.signum();
            let total = h.quantity + signed;
            if total == 0.0 {
                h.avg_cost = 0.0;
            } else if total.signum() != h.quantity.signum() {
                h.avg_cost = price * mult;
            }
            h.quantity = total;
        }
        realized
    }
}

/// A marketable order's fill: per-leg `(con_id, instrument, side, units per
/// order unit, price)` and the net price per order unit.
struct Fill {
    legs: Vec<(i32, Instrument, Side, f64, f64)>,
    net_price: f64,
}

/// Bid/ask of a single instrument now.
pub fn bid_ask(instrument: &Instrument, market: &mut dyn MarketSource) -> Option<(f64, f64)> {
    match instrument {
        Instrument::Stock { symbol } => market.quote(symbol).map(|q| (q.bid, q.ask)),
        Instrument::Option {
            symbol,
            expiry,
            strike,
            right,
        } => market
            .option(symbol, *expiry, *strike, *right)
            .map(|o| (o.bid, o.ask)),
    }
}

/// The fill if `order` is marketable now: buys fill at the ask (combo: the
/// net price paying every leg's far side), sells at the bid; never worse than
/// the limit.
fn marketable_price(order: &BookOrder, market: &mut dyn MarketSource) -> Option<Fill> {
    let legs: Vec<(i32, Instrument, Side, f64)> = match &order.target {
        OrderTarget::Single { con_id, instrument } => {
            vec![(*con_id, instrument.clone(), order.side, 1.0)]
        }
        OrderTarget::Combo { legs, .. } => legs
            .iter()
            .map(|l| {
                let side = if order.side == Side::Buy {
                    l.side
                } else if l.side == Side::Buy {
                    Side::Sell
                } else {
                    Side::Buy
                };
                (l.con_id, l.instrument.clone(), side, f64::from(l.ratio))
            })
            .collect(),
    };
    let mut priced = Vec::with_capacity(legs.len());
    // Net price in the order's direction: for a buy, what is paid per unit.
    let mut net = 0.0;
    for (con_id, instrument, side, units) in legs {
        let (bid, ask) = bid_ask(&instrument, market)?;
        if !(bid.is_finite() && ask.is_finite() && ask > 0.0) {
            return None;
        }
        let price = match side {
            Side::Buy => ask,
            Side::Sell => bid,
        };
        net += side.sign() * units * price;
        priced.push((con_id, instrument, side, units, price));
    }
    let net_for_order = match order.side {
        Side::Buy => net,
        Side::Sell => -net,
    };
    let ok = match (order.order_type.as_str(), order.limit) {
        ("MKT", _) => true,
        (_, Some(limit)) => match order.side {
            Side::Buy => net_for_order <= limit + 1e-9,
            Side::Sell => net_for_order >= limit - 1e-9,
        },
        _ => false,
    };
    ok.then_some(Fill {
        legs: priced,
        net_price: (net_for_order * 100.0).round() / 100.0,
    })
}

/// IB-like tiered-ish commissions: $0.005/share (min $1), $0.65/contract.
fn commission_for(instrument: &Instrument, units: f64) -> f64 {
    match instrument {
        Instrument::Stock { .. } => (0.005 * units).max(1.0),
        Instrument::Option { .. } => 0.65 * units,
    }
}

/// `YYYYMMDD HH:MM:SS UTC`, the execution-time format.
pub fn ib_time(now: DateTime<Utc>) -> String {
    now.format("%Y%m%d %H:%M:%S UTC").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::market::{OptionListing, OptionSnapshot, UnderlyingQuote};
    use sas_core::market::DailyBar;

    /// A market whose prices the test sets by hand.
    #[derive(Default)]
    struct HandMarket {
        stock: (f64, f64),
        options: HashMap<String, (f64, f64)>,
    }

    impl MarketSource for HandMarket {
        fn advance_to(&mut self, _now: DateTime<Utc>) {}
        fn is_listed(&self, symbol: &Symbol) -> bool {
            symbol.as_str() == "SPY"
        }
        fn quote(&mut self, _symbol: &Symbol) -> Option<UnderlyingQuote> {
            Some(UnderlyingQuote {
                bid: self.stock.0,
                ask: self.stock.1,
                last: self.stock.0,
                bid_size: 100,
                ask_size: 100,
                last_size: 100,
                volume: 1,
                prev_close: self.stock.0,
            })
        }
        fn option_listing(&mut self, _symbol: &Symbol) -> Option<OptionListing> {
            None
        }
        fn option(
            &mut self,
            _s: &Symbol,
            _e: NaiveDate,
            strike: f64,
            right: OptionRight,
        ) -> Option<OptionSnapshot> {
            let (bid, ask) = *self
                .options
                .get(&format!("{strike}{}", right_code(right)))?;
            Some(OptionSnapshot {
                bid,
                ask,
                last: bid,
                volume: 0,
                open_interest: 0,
                implied_vol: 0.2,
                delta: 0.5,
                gamma: 0.01,
                vega: 0.1,
                theta: -0.05,
                model_price: 0.5 * (bid + ask),
                underlying_price: 600.0,
            })
        }
        fn daily_bars(&mut self, _symbol: &Symbol, _days: u32) -> Vec<DailyBar> {
            Vec::new()
        }
    }

    fn stock_contract() -> proto::Contract {
        proto::Contract {
            symbol: Some("SPY".into()),
            sec_type: Some("STK".into()),
            ..Default::default()
        }
    }

    fn limit(action: &str, qty: &str, price: f64, key: &str) -> proto::Order {
        proto::Order {
            action: Some(action.into()),
            total_quantity: Some(qty.into()),
            order_type: Some("LMT".into()),
            lmt_price: Some(price),
            order_ref: Some(key.into()),
            ..Default::default()
        }
    }

    #[test]
    fn resting_order_fills_at_or_better_than_its_limit_when_the_market_crosses() {
        let mut m = HandMarket {
            stock: (600.00, 600.10),
            ..Default::default()
        };
        let mut book = Book::new("DU1".into(), 100_000.0);
        let now = Utc::now();
        let req = proto::PlaceOrderRequest {
            order_id: Some(1),
            contract: Some(stock_contract()),
            order: Some(limit("BUY", "10", 599.95, "k1")),
        };
        let events = book.place(7, req, &mut m, now).unwrap();
        assert_eq!(events.len(), 2, "only the acknowledgement");
        assert!(
            matches!(
                &events[0],
                OrderEvent::Status {
                    status: "PreSubmitted",
                    ..
                }
            ),
            "PreSubmitted comes first"
        );
        assert!(matches!(&events[1], OrderEvent::Updated(o) if o.phase == OrderPhase::Submitted));
        assert_eq!(book.orders[0].phase, OrderPhase::Submitted);
        assert!(book.match_resting(&mut m, now).is_empty());
        m.stock = (599.80, 599.90);
        let events = book.match_resting(&mut m, now);
        assert!(events
            .iter()
            .any(|e| matches!(e, OrderEvent::Executed { .. })));
        let o = &book.orders[0];
        assert_eq!(o.phase, OrderPhase::Filled);
        assert_eq!(
            o.avg_fill, 599.90,
            "filled at the ask, better than the limit"
        );
        assert_eq!(o.order_ref, "k1");
        let h = book.positions.values().next().unwrap();
        assert_eq!(h.quantity, 10.0);
        assert!((book.cash - (100_000.0 - 5_999.0 - 1.0)).abs() < 1e-6);
    }

    #[test]
    fn a_capped_order_fills_part_then_the_rest_when_released() {
        let mut m = HandMarket {
            stock: (599.80, 599.90),
            ..Default::default()
        };
        let mut book = Book::new("DU1".into(), 100_000.0);
        let now = Utc::now();
        book.next_fill_cap = Some(4.0);
        let req = proto::PlaceOrderRequest {
            order_id: Some(1),
            contract: Some(stock_contract()),
            order: Some(limit("BUY", "10", 600.00, "k1")),
        };
        book.place(7, req, &mut m, now).unwrap();
        let o = &book.orders[0];
        assert_eq!((o.phase, o.filled), (OrderPhase::Submitted, 4.0));
        assert_eq!(o.status().remaining.as_deref(), Some("6"));
        assert!(book.match_resting(&mut m, now).is_empty(), "capped");
        book.orders[0].fill_cap = None;
        let events = book.match_resting(&mut m, now);
        let exec = events
            .iter()
            .find_map(|e| match e {
                OrderEvent::Executed { record, .. } => Some(record.clone()),
                _ => None,
            })
            .unwrap();
        assert_eq!(exec.details.shares.as_deref(), Some("6"));
        assert_eq!(exec.details.cum_qty.as_deref(), Some("10"));
        assert_eq!(book.orders[0].phase, OrderPhase::Filled);
        assert_eq!(book.positions.values().next().unwrap().quantity, 10.0);
    }

    #[test]
    fn cancel_of_a_partly_filled_order_keeps_the_fill_and_a_filled_order_refuses() {
        let mut m = HandMarket {
            stock: (599.80, 599.90),
            ..Default::default()
        };
        let mut book = Book::new("DU1".into(), 100_000.0);
        let now = Utc::now();
        book.next_fill_cap = Some(3.0);
        for (id, key) in [(1, "k1"), (2, "k2")] {
            let req = proto::PlaceOrderRequest {
                order_id: Some(id),
                contract: Some(stock_contract()),
                order: Some(limit("BUY", "5", 600.00, key)),
            };
            book.place(7, req, &mut m, now).unwrap();
        }
        let events = book.cancel(7, 1, now).unwrap();
        assert!(matches!(
            &events[0],
            OrderEvent::Status {
                status: "PendingCancel",
                ..
            }
        ));
        let o = &book.orders[0];
        assert_eq!((o.phase, o.filled), (OrderPhase::Cancelled, 3.0));
        assert_eq!(book.orders[1].phase, OrderPhase::Filled);
        assert_eq!(book.cancel(7, 2, now).unwrap_err().code, 161);
        assert_eq!(book.positions.values().next().unwrap().quantity, 8.0);
    }

    #[test]
    fn assignment_of_a_short_put_delivers_stock_at_the_strike() {
        let mut book = Book::new("DU1".into(), 100_000.0);
        let put = Instrument::Option {
            symbol: Symbol::parse("SPY").unwrap(),
            expiry: NaiveDate::from_ymd_opt(2026, 12, 18).unwrap(),
            strike: 600.0,
            right: OptionRight::Put,
        };
        let id = book.registry.con_id(&put);
        book.apply_position(id, &put, Side::Sell, 2.0, 1.5);
        let (stock_id, shares) = book.assign(id).unwrap();
        assert_eq!(shares, 200.0);
        assert!(!book.positions.contains_key(&id));
        let h = &book.positions[&stock_id];
        assert_eq!((h.quantity, h.avg_cost), (200.0, 600.0));
        assert!((book.cash - (100_000.0 - 120_000.0)).abs() < 1e-6);
        assert_eq!(book.assign(id), None, "nothing left to assign");
    }

    #[test]
    fn duplicate_order_id_after_a_fill_is_refused() {
        let mut m = HandMarket {
            stock: (600.00, 600.10),
            ..Default::default()
        };
        let mut book = Book::new("DU1".into(), 100_000.0);
        let now = Utc::now();
        let req = proto::PlaceOrderRequest {
            order_id: Some(3),
            contract: Some(stock_contract()),
            order: Some(limit("BUY", "1", 700.0, "k")),
        };
        book.place(7, req.clone(), &mut m, now).unwrap();
        let err = book.place(7, req, &mut m, now).unwrap_err();
        assert_eq!(err.code, 103);
    }

    #[test]
    fn combo_legs_price_at_the_far_side_and_sells_reverse_the_legs() {
        let mut m = HandMarket {
            stock: (600.0, 600.1),
            ..Default::default()
        };
        m.options.insert("600P".into(), (5.00, 5.20));
        m.options.insert("595P".into(), (3.00, 3.10));
        let mut book = Book::new("DU1".into(), 100_000.0);
        let expiry = NaiveDate::from_ymd_opt(2026, 12, 18).unwrap();
        let spy = Symbol::parse("SPY").unwrap();
        let put = |k: f64| Instrument::Option {
            symbol: spy.clone(),
            expiry,
            strike: k,
            right: OptionRight::Put,
        };
        let hi = book.registry.con_id(&put(600.0));
        let lo = book.registry.con_id(&put(595.0));
        let bag = |legs: [(i32, &str); 2]| proto::Contract {
            symbol: Some("SPY".into()),
            sec_type: Some("BAG".into()),
            combo_legs: legs
                .iter()
                .map(|(id, a)| proto::ComboLeg {
                    con_id: Some(*id),
                    ratio: Some(1),
                    action: Some((*a).into()),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        let now = Utc::now();
        // Buy the 600/595 put spread: pays 5.20 - 3.00 = 2.20 at the far sides.
        let below = proto::PlaceOrderRequest {
            order_id: Some(1),
            contract: Some(bag([(hi, "BUY"), (lo, "SELL")])),
            order: Some(limit("BUY", "2", 2.10, "c1")),
        };
        book.place(7, below, &mut m, now).unwrap();
        assert_eq!(
            book.orders[0].phase,
            OrderPhase::Submitted,
            "2.10 < 2.20 rests"
        );
        let at = proto::PlaceOrderRequest {
            order_id: Some(2),
            contract: Some(bag([(hi, "BUY"), (lo, "SELL")])),
            order: Some(limit("BUY", "2", 2.20, "c2")),
        };
        book.place(7, at, &mut m, now).unwrap();
        assert_eq!(book.orders[1].phase, OrderPhase::Filled);
        assert_eq!(book.orders[1].avg_fill, 2.20);
        assert_eq!(book.positions[&hi].quantity, 2.0);
        assert_eq!(book.positions[&lo].quantity, -2.0);
        // Selling the same combo receives 5.00 - 3.10 = 1.90 at the far sides.
        let sell = proto::PlaceOrderRequest {
            order_id: Some(3),
            contract: Some(bag([(hi, "BUY"), (lo, "SELL")])),
            order: Some(limit("SELL", "2", 1.90, "c3")),
        };
        book.place(7, sell, &mut m, now).unwrap();
        assert_eq!(book.orders[2].phase, OrderPhase::Filled);
        assert_eq!(book.orders[2].avg_fill, 1.90);
        assert_eq!(book.positions[&hi].quantity, 0.0);
        assert_eq!(book.positions[&lo].quantity, 0.0);
        // Per leg and per combo executions, each with the order's ref.
        assert!(book.executions.iter().all(|e| e
            .details
            .order_ref
            .as_deref()
            .is_some_and(|r| r.starts_with('c'))));
        assert_eq!(book.executions.len(), 6);
    }
}
