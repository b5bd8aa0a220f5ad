//! Orders through IB: placement with the idempotency key as `orderRef`,
//! tracking, cancel, open/completed order refresh, executions.
//!
//! Duplicate safety: placement is serialized and runs in its own task, to
//! completion, whatever happens to the HTTP request that asked for it (a
//! later request for the same key waits for it). A key is looked up in the
//! local book and then among IB's open orders of every API client
//! (`reqAllOpenOrders`) and today's completed orders (by `orderRef`) before
//! anything is sent. Any key seen at IB blocks a new send: an order the
//! bridge cannot rebuild (a combo leg's contract lookup failed) is booked as
//! `unknown` and answered as a duplicate. A placement whose outcome is
//! unknown (the socket broke while sending) is booked as `unknown` and never
//! retried; a full read of IB's orders on a later connection either finds it
//! (and books what IB says) or proves IB never got it (and drops the entry).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveTime, Utc};
use ibapi::contracts::{Contract, SecurityType};
use ibapi::orders::{
    order_builder, Action, CancelOrder, ExecutionData, ExecutionFilter, Executions, OrderData,
    OrderStatusKind, Orders, PlaceOrder, TimeInForce as IbTif,
};
use ibapi::prelude::StreamExt;
use ibapi::subscriptions::SubscriptionItem;
use ibapi::Client;
use sas_bridge_api::is_paper_account;
use sas_core::calendar::utc_to_eastern;

use super::convert::{self, map_error, Ctx};
use super::{lock, Inner};
use crate::broker::BrokerError;
use sas_bridge_api::health::ConnectionState;
use sas_bridge_api::orders::{
    Execution, Instrument, Order, OrderAction, OrderLeg, OrderRequest, OrderStatus,
    PlaceOrderOutcome, TimeInForce,
};

/// How long placement waits for IB's first acknowledgement.
const ACK_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
struct Tracked {
    order: Order,
    ib_id: i32,
    /// IB reported an order under this key that the bridge could not
    /// rebuild: the status stays `unknown` (status messages do not move it)
    /// until a later refresh rebuilds it.
    unreadable: bool,
    /// The send failed on connection `generation` without telling whether IB
    /// got the order; the status is `unknown` until IB's orders are read.
    failed_send_generation: Option<u64>,
}

impl Tracked {
    fn new(order: Order, ib_id: i32) -> Self {
        Self {
            order,
            ib_id,
            unreadable: false,
            failed_send_generation: None,
        }
    }
}

/// Orders, executions and commissions the bridge knows.
#[derive(Debug, Default)]
pub(crate) struct OrderBook {
    orders: Vec<Tracked>,
    executions: BTreeMap<String, Execution>,
    commissions: HashMap<String, f64>,
    /// Contract id → instrument, for combo legs.
    instruments: HashMap<i32, Instrument>,
}

impl OrderBook {
    fn by_key(&self, key: &str) -> Option<&Tracked> {
        self.orders.iter().find(|t| t.order.idempotency_key == key)
    }

    fn by_id_mut(&mut self, id: &str) -> Option<&mut Tracked> {
        self.orders.iter_mut().find(|t| t.order.id == id)
    }

    fn by_ib_id_mut(&mut self, ib_id: i32) -> Option<&mut Tracked> {
        self.orders
            .iter_mut()
            .find(|t| t.ib_id == ib_id && ib_id > 0)
    }

    fn get(&self, id: &str) -> Option<Order> {
        self.orders
            .iter()
            .find(|t| t.order.id == id)
            .map(|t| t.order.clone())
    }

    fn apply_status(
        &mut self,
        ib_id: i32,
        status: &OrderStatusKind,
        filled: f64,
        remaining: f64,
        avg: Option<f64>,
    ) {
        if let Some(t) = self.by_ib_id_mut(ib_id).filter(|t| !t.unreadable) {
            t.failed_send_generation = None;
            let total = filled + remaining;
            let new = status_of_kind(
                status,
                filled,
                if total > 0.0 {
                    total
                } else {
                    f64::from(t.order.quantity)
                },
            );
            update(&mut t.order, new, filled, avg);
        }
    }

    fn record_execution(&mut self, d: &ExecutionData) {
        let Some(instrument) = convert::instrument_of(&d.contract) else {
            return; // the BAG-level execution; legs are reported separately
        };
        let e = &d.execution;
        let action = match e.side {
            ibapi::orders::ExecutionSide::Sold => OrderAction::Sell,
            _ => OrderAction::Buy,
        };
        let con_id = d.contract.contract_id;
        if con_id > 0 {
            self.instruments.entry(con_id).or_insert(instrument.clone());
        }
        // The order's key: IB repeats `orderRef` on every execution; else
        // the order this bridge knows under that IB order id.
        let key = Some(e.order_reference.clone())
            .filter(|k| !k.is_empty())
            .or_else(|| {
                self.orders
                    .iter()
                    .find(|t| t.ib_id == e.order_id && e.order_id > 0)
                    .map(|t| t.order.idempotency_key.clone())
            });
        // A fill seen before (IB replays the day's fills on every new
        // connection and in every executions request) keeps its entry:
        // keyed by exec id, it is never counted twice.
        let exec = Execution {
            exec_id: e.execution_id.clone(),
            order_id: e.order_id.to_string(),
            time: convert::parse_ib_time(&e.time).unwrap_or_else(Utc::now),
            instrument,
            action,
            quantity: e.shares.max(0.0) as u32,
            price: e.price,
            commission: self.commissions.get(&e.execution_id).copied(),
            idempotency_key: key,
            con_id: (con_id > 0).then_some(i64::from(con_id)),
        };
        self.executions.insert(exec.exec_id.clone(), exec);
    }

    fn record_commission(&mut self, exec_id: &str, commission: f64) {
        self.commissions.insert(exec_id.to_string(), commission);
        if let Some(e) = self.executions.get_mut(exec_id) {
            e.commission = Some(commission);
        }
    }

    fn counts(&self) -> HashMap<&'static str, i64> {
        let mut m = HashMap::new();
        for t in &self.orders {
            *m.entry(t.order.status.as_str()).or_insert(0) += 1;
        }
        m
    }
}

fn update(order: &mut Order, status: OrderStatus, filled: f64, avg: Option<f64>) {
    // Final states never move back.
    if !order.status.is_open() && status.is_open() {
        return;
    }
    let filled_units = filled.max(0.0) as u32;
    // An older report (fewer units filled) never undoes a newer fill; a
    // final status still applies, keeping the larger filled count.
    if filled_units < order.filled_quantity && status.is_open() {
        return;
    }
    order.status = status;
    order.filled_quantity = order.filled_quantity.max(filled_units);
    if filled_units >= order.filled_quantity && filled > 0.0 {
        if let Some(a) = avg.filter(|a| *a != 0.0 && a.is_finite()) {
            order.avg_fill_price = Some(a);
        }
    }
    order.updated_at = Utc::now();
}

fn status_of_kind(k: &OrderStatusKind, filled: f64, quantity: f64) -> OrderStatus {
    let text = match k {
        OrderStatusKind::ApiPending => "ApiPending",
        OrderStatusKind::PendingSubmit => "PendingSubmit",
        OrderStatusKind::PendingCancel => "PendingCancel",
        OrderStatusKind::PreSubmitted => "PreSubmitted",
        OrderStatusKind::Submitted => "Submitted",
        OrderStatusKind::ApiCancelled => "ApiCancelled",
        OrderStatusKind::Cancelled => "Cancelled",
        OrderStatusKind::Filled => "Filled",
        OrderStatusKind::Inactive => "Inactive",
        _ => "Unknown",
    };
    convert::status_of(text, filled, quantity)
}

fn publish_counts(inner: &Inner) {
    let counts = lock(&inner.book).counts();
    for s in [
        OrderStatus::PendingSubmit,
        OrderStatus::Submitted,
        OrderStatus::PartiallyFilled,
        OrderStatus::PendingCancel,
        OrderStatus::Filled,
        OrderStatus::Cancelled,
        OrderStatus::Rejected,
        OrderStatus::Expired,
        OrderStatus::Unknown,
    ] {
        inner
            .metrics
            .orders
            .with_label_values(&[s.as_str()])
            .set(counts.get(s.as_str()).copied().unwrap_or(0));
    }
}

/// Whether `t` falls in the window `[start, end)` (which may wrap midnight).
pub(crate) fn in_window(t: NaiveTime, start: NaiveTime, end: NaiveTime) -> bool {
    if start <= end {
        t >= start && t < end
    } else {
        t >= start || t < end
    }
}

fn orders_allowed(inner: &Inner) -> Result<Arc<Client>, BrokerError> {
    {
        let h = lock(&inner.health);
        if h.state == ConnectionState::Disconnected {
            return Err(BrokerError::Disconnected {
                reason: format!(
                    "new orders are refused while the IB session is down: {}",
                    h.reason.clone().unwrap_or_else(|| "disconnected".into())
                ),
            });
        }
    }
    if let Some((start, end)) = inner.cfg.reset_window_et {
        if in_window(utc_to_eastern(Utc::now()).time(), start, end) {
            return Err(BrokerError::OrderWindowClosed {
                reason: format!(
                    "IB's daily reset window {}-{} ET is in progress",
                    start.format("%H:%M"),
                    end.format("%H:%M")
                ),
            });
        }
    }
    inner.client()
}

fn existing_outcome(t: &Tracked, request: &OrderRequest) -> Result<PlaceOrderOutcome, BrokerError> {
    // An order IB holds under this key that the bridge cannot read back
    // cannot be compared with the request: it exists, state unknown, and
    // nothing is sent.
    if t.unreadable || t.order.matches_request(request) {
        Ok(PlaceOrderOutcome {
            order: t.order.clone(),
            duplicate: true,
        })
    } else {
        Err(BrokerError::IdempotencyConflict {
            key: request.idempotency_key.clone(),
            existing_order_id: t.order.id.clone(),
        })
    }
}

/// Places `request` (see the module docs for the duplicate rules). The
/// placement runs in its own task: dropping the returned future (the HTTP
/// request went away) does not stop it, and the book ends up saying what IB
/// said.
pub(crate) async fn place(
    inner: &Arc<Inner>,
    request: OrderRequest,
) -> Result<PlaceOrderOutcome, BrokerError> {
    let task = inner.clone();
    tokio::spawn(async move { place_to_completion(&task, request).await })
        .await
        .map_err(|e| BrokerError::Internal(format!("order placement task failed: {e}")))?
}

async fn place_to_completion(
    inner: &Arc<Inner>,
    request: OrderRequest,
) -> Result<PlaceOrderOutcome, BrokerError> {
    let _serial = inner.place_lock.lock().await;
    let known = lock(&inner.book).by_key(&request.idempotency_key).cloned();
    if let Some(t) = known {
        if t.order.status != OrderStatus::Unknown {
            return existing_outcome(&t, &request);
        }
        // Unknown: read IB's orders again (the state may be known now).
        if let Ok(client) = inner.client() {
            if let Err(e) = refresh(inner, &client).await {
                tracing::warn!(error = %e, "could not re-read IB orders for an unknown key");
            }
        }
        if let Some(t) = lock(&inner.book).by_key(&request.idempotency_key) {
            return existing_outcome(t, &request);
        }
        // The entry is gone: IB's full list proved the send never arrived.
    }
    if let Err(errs) = request.validate() {
        return Err(BrokerError::InvalidRequest {
            field: "order",
            message: errs
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
        });
    }
    let client = orders_allowed(inner)?;
    let account = inner.account();
    // Fail closed: without the explicit live switch, only a known paper
    // account may receive orders.
    if !inner.cfg.allow_live_trading && !account.as_deref().is_some_and(is_paper_account) {
        return Err(BrokerError::LiveTradingDisabled {
            account: account.unwrap_or_default(),
        });
    }
    // A bridge restart or an unknown outcome: the order may already be at IB.
    refresh(inner, &client).await?;
    if let Some(t) = lock(&inner.book).by_key(&request.idempotency_key) {
        return existing_outcome(t, &request);
    }

    let (contract, action) = if request.is_combo() {
        let mut legs = Vec::with_capacity(request.legs.len());
        for leg in &request.legs {
            let con_id = inner.con_id(&client, &leg.instrument).await?;
            lock(&inner.book)
                .instruments
                .insert(con_id, leg.instrument.clone());
            legs.push((con_id, leg.ratio, leg.action));
        }
        let symbol = request.legs[0].instrument.symbol().clone();
        (convert::combo_contract(&symbol, &legs), OrderAction::Buy)
    } else {
        let leg = &request.legs[0];
        (convert::contract_of(&leg.instrument), leg.action)
    };
    let mut ib_order = order_builder::limit_order(
        match action {
            OrderAction::Buy => Action::Buy,
            OrderAction::Sell => Action::Sell,
        },
        f64::from(request.quantity),
        request.limit_price,
    );
    ib_order.order_ref = request.idempotency_key.clone();
    ib_order.tif = match request.tif {
        TimeInForce::Day => IbTif::Day,
        TimeInForce::Gtc => IbTif::GoodTillCanceled,
    };
    ib_order.transmit = true;
    if let Some(account) = account {
        ib_order.account = account;
    }
    // The last check before the send, under the placement lock: a halt
    // switched on while this request waited behind another placement (or
    // while the orders above were re-read) stops it here; nothing is sent.
    let gate = inner
        .order_gate
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    if let Some(gate) = gate {
        gate.check()?;
    }
    let ib_id = client.next_order_id();
    let now = Utc::now();
    let order = Order {
        id: ib_id.to_string(),
        idempotency_key: request.idempotency_key.clone(),
        legs: request.legs.clone(),
        quantity: request.quantity,
        limit_price: request.limit_price,
        tif: request.tif,
        status: OrderStatus::PendingSubmit,
        filled_quantity: 0,
        avg_fill_price: None,
        created_at: now,
        updated_at: now,
        status_message: None,
    };
    let generation = *inner.generation.borrow();
    lock(&inner.book).orders.push(Tracked::new(order, ib_id));
    let mut sub = match client.place_order(ib_id, &contract, &ib_order).await {
        Ok(s) => s,
        Err(e) => {
            // Not retried: the next request with this key asks IB first.
            let err = map_error(&e, Ctx::Order);
            if matches!(err, BrokerError::Disconnected { .. } | BrokerError::Timeout) {
                // The socket failed while sending: IB may or may not have it.
                mark_unknown(inner, ib_id, generation, &err);
            } else {
                // Refused before anything was written: IB never got it.
                lock(&inner.book).orders.retain(|t| t.ib_id != ib_id);
            }
            publish_counts(inner);
            return Err(err);
        }
    };
    tracing::info!(order_id = ib_id, key = %request.idempotency_key, "order sent to IB");
    let deadline = tokio::time::Instant::now() + ACK_TIMEOUT;
    let mut acknowledged = false;
    while !acknowledged {
        let item = match tokio::time::timeout_at(deadline, sub.next()).await {
            Err(_) => break,
            Ok(None) => {
                if !client.is_connected() {
                    // Sent, then the session ended before IB answered.
                    let err = BrokerError::Disconnected {
                        reason: "the IB session ended before IB acknowledged the order".into(),
                    };
                    mark_unknown(inner, ib_id, generation, &err);
                    publish_counts(inner);
                    return Err(err);
                }
                break;
            }
            Ok(Some(item)) => item,
        };
        match item {
            Ok(SubscriptionItem::Data(update)) => {
                acknowledged = matches!(
                    update,
                    PlaceOrder::OpenOrder(_) | PlaceOrder::OrderStatus(_)
                );
                apply_place_update(inner, ib_id, update);
            }
            Ok(SubscriptionItem::Notice(n)) => {
                inner
                    .metrics
                    .notices
                    .with_label_values(&[&n.code.to_string()])
                    .inc();
            }
            Err(e) => {
                let err = map_error(&e, Ctx::Order);
                if let BrokerError::Rejected { message, .. } = &err {
                    let mut book = lock(&inner.book);
                    if let Some(t) = book.by_ib_id_mut(ib_id) {
                        t.order.status = OrderStatus::Rejected;
                        t.order.status_message = Some(message.clone());
                        t.order.updated_at = Utc::now();
                    }
                } else {
                    mark_unknown(inner, ib_id, generation, &err);
                }
                publish_counts(inner);
                return Err(err);
            }
        }
    }
    let tracker = inner.clone();
    tokio::spawn(async move { track(tracker, ib_id, sub).await });
    publish_counts(inner);
    let order = lock(&inner.book)
        .get(&ib_id.to_string())
        .ok_or_else(|| BrokerError::Internal("placed order vanished from the book".into()))?;
    Ok(PlaceOrderOutcome {
        order,
        duplicate: false,
    })
}

/// The send of order `ib_id` failed in a way that leaves open whether IB got
/// it: the book says `unknown` until IB's orders are read again.
fn mark_unknown(inner: &Inner, ib_id: i32, generation: u64, err: &BrokerError) {
    let mut book = lock(&inner.book);
    if let Some(t) = book.by_ib_id_mut(ib_id) {
        if t.order.status.is_open() {
            t.order.status = OrderStatus::Unknown;
            t.order.status_message = Some(format!(
                "the outcome of the send is unknown ({err}); the bridge asks IB, it never resends"
            ));
            t.order.updated_at = Utc::now();
            t.failed_send_generation = Some(generation);
        }
    }
}

fn apply_place_update(inner: &Inner, ib_id: i32, update: PlaceOrder) {
    let mut book = lock(&inner.book);
    match update {
        PlaceOrder::OrderStatus(s) => {
            book.apply_status(
                ib_id,
                &s.status,
                s.filled,
                s.remaining,
                s.average_fill_price,
            );
        }
        PlaceOrder::OpenOrder(o) => {
            let filled = o.order.filled_quantity;
            book.apply_status(
                ib_id,
                &o.order_state.status,
                filled,
                o.order.total_quantity - filled,
                None,
            );
        }
        PlaceOrder::ExecutionData(d) => book.record_execution(&d),
        PlaceOrder::CommissionReport(c) => book.record_commission(&c.execution_id, c.commission),
    }
}

/// Follows one order until it is final or the session drops.
async fn track(
    inner: Arc<Inner>,
    ib_id: i32,
    mut sub: ibapi::subscriptions::Subscription<PlaceOrder>,
) {
    while let Some(item) = sub.next().await {
        match item {
            Ok(SubscriptionItem::Data(update)) => {
                apply_place_update(&inner, ib_id, update);
                publish_counts(&inner);
                let open = lock(&inner.book)
                    .get(&ib_id.to_string())
                    .is_some_and(|o| o.status.is_open());
                if !open {
                    // Let the commission of the last fill arrive, then stop.
                    let _ = tokio::time::timeout(Duration::from_millis(500), async {
                        while let Some(Ok(SubscriptionItem::Data(u))) = sub.next().await {
                            apply_place_update(&inner, ib_id, u);
                        }
                    })
                    .await;
                    return;
                }
            }
            Ok(SubscriptionItem::Notice(n)) => {
                inner
                    .metrics
                    .notices
                    .with_label_values(&[&n.code.to_string()])
                    .inc();
            }
            Err(e) => {
                if let BrokerError::Rejected { message, .. } = map_error(&e, Ctx::Order) {
                    let mut book = lock(&inner.book);
                    if let Some(t) = book.by_ib_id_mut(ib_id) {
                        t.order.status = OrderStatus::Rejected;
                        t.order.status_message = Some(message);
                    }
                }
                return;
            }
        }
    }
}

/// Reads an open- or completed-orders subscription to its end (or until
/// `deadline`), collecting orders and statuses. The subscription is dropped
/// (and so cancelled) when done.
async fn drain_orders(
    mut sub: ibapi::subscriptions::Subscription<Orders>,
    deadline: tokio::time::Instant,
    found: &mut Vec<OrderData>,
    statuses: &mut Vec<ibapi::orders::OrderStatus>,
) -> Result<(), BrokerError> {
    loop {
        match tokio::time::timeout_at(deadline, sub.next()).await {
            Err(_) => return Err(BrokerError::Timeout),
            Ok(None) => return Ok(()),
            Ok(Some(Ok(SubscriptionItem::Data(Orders::OrderData(d))))) => found.push(d),
            Ok(Some(Ok(SubscriptionItem::Data(Orders::OrderStatus(s))))) => statuses.push(s),
            Ok(Some(Ok(SubscriptionItem::Notice(_)))) => {}
            Ok(Some(Err(e))) => return Err(map_error(&e, Ctx::Other)),
        }
    }
}

/// Merges IB's open orders (of every API client) and today's completed
/// orders into the book: orders placed under a key this bridge instance
/// never saw are adopted; one that cannot be rebuilt is still booked, as
/// `unknown`, so its key blocks every new send.
pub(crate) async fn refresh(inner: &Arc<Inner>, client: &Client) -> Result<(), BrokerError> {
    let _serial = inner.refresh_lock.lock().await;
    let generation = *inner.generation.borrow();
    let timeout = inner.cfg.request_timeout;
    let mut found: Vec<OrderData> = Vec::new();
    let mut statuses = Vec::new();
    // All clients: a changed IB_CLIENT_ID or another bridge must not hide a
    // working order.
    let open = tokio::time::timeout(timeout, client.all_open_orders())
        .await
        .map_err(|_| BrokerError::Timeout)?
        .map_err(|e| map_error(&e, Ctx::Other))?;
    let deadline = tokio::time::Instant::now() + timeout;
    drain_orders(open, deadline, &mut found, &mut statuses).await?;
    let completed = tokio::time::timeout(timeout, client.completed_orders(true))
        .await
        .map_err(|_| BrokerError::Timeout)?
        .map_err(|e| map_error(&e, Ctx::Other))?;
    drain_orders(completed, deadline, &mut found, &mut statuses).await?;

    let mut seen_keys = std::collections::HashSet::new();
    for d in found {
        let key = d.order.order_ref.clone();
        if key.is_empty() {
            continue; // not placed by the bridge
        }
        seen_keys.insert(key.clone());
        let ib_id = ib_id_of(&d);
        let filled = d.order.filled_quantity;
        let quantity = d.order.total_quantity;
        let status = status_of_kind(&d.order_state.status, filled, quantity);
        // Known and readable: update. Unreadable: try to rebuild again.
        let readable = {
            let mut book = lock(&inner.book);
            match book
                .orders
                .iter_mut()
                .find(|t| t.order.idempotency_key == key)
            {
                Some(t) if !t.unreadable => {
                    if t.ib_id <= 0 && ib_id > 0 {
                        t.ib_id = ib_id;
                    }
                    t.failed_send_generation = None;
                    update(&mut t.order, status, filled, None);
                    Some(true)
                }
                Some(_) => Some(false),
                None => None,
            }
        };
        if readable == Some(true) {
            continue;
        }
        let tracked = match adopt(inner, client, &d, status).await {
            Ok(tracked) => {
                tracing::info!(key = %key, order_id = %tracked.order.id, "adopted order found at IB by orderRef");
                tracked
            }
            Err(e) => {
                tracing::warn!(key = %key, error = %e, "an IB order under this key cannot be rebuilt; booked as unknown");
                unreadable_entry(&d, &e)
            }
        };
        let mut book = lock(&inner.book);
        book.orders.retain(|t| t.order.idempotency_key != key);
        book.orders.push(tracked);
    }
    {
        let mut book = lock(&inner.book);
        // A send whose outcome was unknown, on an earlier connection: IB's
        // full list (open orders of every client and today's completed ones)
        // read on a later connection does not have it, so IB never got it.
        book.orders.retain(|t| {
            let never_arrived = t.order.status == OrderStatus::Unknown
                && t.failed_send_generation.is_some_and(|g| g < generation)
                && !seen_keys.contains(&t.order.idempotency_key);
            if never_arrived {
                tracing::info!(key = %t.order.idempotency_key, "an order whose send failed never reached IB; entry dropped");
            }
            !never_arrived
        });
        for s in statuses {
            book.apply_status(
                s.order_id,
                &s.status,
                s.filled,
                s.remaining,
                s.average_fill_price,
            );
        }
    }
    publish_counts(inner);
    Ok(())
}

fn ib_id_of(d: &OrderData) -> i32 {
    if d.order_id > 0 {
        d.order_id
    } else {
        d.order.order_id
    }
}

/// The book entry of an IB order under our key that cannot be rebuilt: what
/// IB said about it, without legs, status `unknown`.
fn unreadable_entry(d: &OrderData, why: &BrokerError) -> Tracked {
    let ib_id = ib_id_of(d);
    let now = Utc::now();
    Tracked {
        order: Order {
            id: if ib_id > 0 {
                ib_id.to_string()
            } else {
                format!("perm-{}", d.order.perm_id)
            },
            idempotency_key: d.order.order_ref.clone(),
            legs: Vec::new(),
            quantity: d.order.total_quantity.max(0.0) as u32,
            limit_price: d.order.limit_price.unwrap_or(0.0),
            tif: match d.order.tif {
                IbTif::GoodTillCanceled => TimeInForce::Gtc,
                _ => TimeInForce::Day,
            },
            status: OrderStatus::Unknown,
            filled_quantity: d.order.filled_quantity.max(0.0) as u32,
            avg_fill_price: None,
            created_at: now,
            updated_at: now,
            status_message: Some(format!(
                "an order exists at IB under this key but the bridge could not read it back: {}",
                why.public_message()
            )),
        },
        ib_id,
        unreadable: true,
        failed_send_generation: None,
    }
}

/// Rebuilds a bridge order from IB's description of it.
async fn adopt(
    inner: &Arc<Inner>,
    client: &Client,
    d: &OrderData,
    status: OrderStatus,
) -> Result<Tracked, BrokerError> {
    let action = match d.order.action {
        Action::Buy => OrderAction::Buy,
        _ => OrderAction::Sell,
    };
    let legs = if d.contract.security_type == SecurityType::Spread {
        let mut legs = Vec::new();
        for leg in &d.contract.combo_legs {
            let known = lock(&inner.book).instruments.get(&leg.contract_id).cloned();
            let instrument = match known {
                Some(i) => i,
                None => {
                    let query = Contract {
                        contract_id: leg.contract_id,
                        ..Default::default()
                    };
                    let details = tokio::time::timeout(
                        inner.cfg.request_timeout,
                        client.contract_details(&query),
                    )
                    .await
                    .map_err(|_| BrokerError::Timeout)?
                    .map_err(|e| map_error(&e, Ctx::Other))?;
                    let i = details
                        .first()
                        .and_then(|x| convert::instrument_of(&x.contract))
                        .ok_or_else(|| {
                            BrokerError::Internal(format!("unknown combo leg {}", leg.contract_id))
                        })?;
                    lock(&inner.book)
                        .instruments
                        .insert(leg.contract_id, i.clone());
                    i
                }
            };
            legs.push(OrderLeg {
                instrument,
                action: match leg.action {
                    ibapi::contracts::LegAction::Buy => OrderAction::Buy,
                    _ => OrderAction::Sell,
                },
                ratio: u32::try_from(leg.ratio).unwrap_or(1),
            });
        }
        legs
    } else {
        let instrument = convert::instrument_of(&d.contract)
            .ok_or_else(|| BrokerError::Internal("unsupported contract type".into()))?;
        vec![OrderLeg {
            instrument,
            action,
            ratio: 1,
        }]
    };
    let ib_id = ib_id_of(d);
    let id = if ib_id > 0 {
        ib_id.to_string()
    } else {
        format!("perm-{}", d.order.perm_id)
    };
    let now = Utc::now();
    let filled = d.order.filled_quantity;
    Ok(Tracked::new(
        Order {
            id,
            idempotency_key: d.order.order_ref.clone(),
            legs,
            quantity: d.order.total_quantity.max(0.0) as u32,
            limit_price: d.order.limit_price.unwrap_or(0.0),
            tif: match d.order.tif {
                IbTif::GoodTillCanceled => TimeInForce::Gtc,
                _ => TimeInForce::Day,
            },
            status,
            filled_quantity: filled.max(0.0) as u32,
            avg_fill_price: None,
            created_at: now,
            updated_at: now,
            status_message: None,
        },
        ib_id,
    ))
}

/// Re-reads orders and executions (after every connect).
pub(crate) async fn resync(inner: &Arc<Inner>) -> Result<(), BrokerError> {
    let client = inner.client()?;
    refresh(inner, &client).await?;
    fetch_executions(inner, &client).await
}

async fn fetch_executions(inner: &Arc<Inner>, client: &Client) -> Result<(), BrokerError> {
    let timeout = inner.cfg.request_timeout;
    let mut sub = tokio::time::timeout(timeout, client.executions(ExecutionFilter::default()))
        .await
        .map_err(|_| BrokerError::Timeout)?
        .map_err(|e| map_error(&e, Ctx::Other))?;
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match tokio::time::timeout_at(deadline, sub.next()).await {
            Err(_) => return Err(BrokerError::Timeout),
            Ok(None) => break,
            Ok(Some(Ok(SubscriptionItem::Data(Executions::ExecutionData(d))))) => {
                lock(&inner.book).record_execution(&d)
            }
            Ok(Some(Ok(SubscriptionItem::Data(Executions::CommissionReport(c))))) => {
                lock(&inner.book).record_commission(&c.execution_id, c.commission);
            }
            Ok(Some(Ok(SubscriptionItem::Notice(_)))) => {}
            Ok(Some(Err(e))) => return Err(map_error(&e, Ctx::Other)),
        }
    }
    Ok(())
}

/// Executions known to IB and the bridge, oldest first.
pub(crate) async fn executions(inner: &Arc<Inner>) -> Result<Vec<Execution>, BrokerError> {
    let client = inner.client()?;
    fetch_executions(inner, &client).await?;
    let mut v: Vec<Execution> = lock(&inner.book).executions.values().cloned().collect();
    v.sort_by(|a, b| a.time.cmp(&b.time).then(a.exec_id.cmp(&b.exec_id)));
    Ok(v)
}

/// Working orders, refreshed from IB.
pub(crate) async fn open_orders(inner: &Arc<Inner>) -> Result<Vec<Order>, BrokerError> {
    let client = inner.client()?;
    refresh(inner, &client).await?;
    Ok(lock(&inner.book)
        .orders
        .iter()
        .filter(|t| t.order.status.is_open())
        .map(|t| t.order.clone())
        .collect())
}

/// One order; refreshed from IB unless final.
pub(crate) async fn order(inner: &Arc<Inner>, id: &str) -> Result<Order, BrokerError> {
    let local = lock(&inner.book).get(id);
    if let Some(o) = &local {
        if !o.status.is_open() {
            return Ok(o.clone());
        }
    }
    if let Ok(client) = inner.client() {
        refresh(inner, &client).await?;
    }
    lock(&inner.book)
        .get(id)
        .ok_or_else(|| BrokerError::OrderNotFound(id.to_string()))
}

/// The order placed under `key`, after asking IB (open orders of every
/// client and today's completed orders). A placement of any key in flight is
/// waited for first. `OrderNotFound` means IB was asked and has none.
pub(crate) async fn order_by_key(inner: &Arc<Inner>, key: &str) -> Result<Order, BrokerError> {
    drop(inner.place_lock.lock().await);
    let client = inner.client()?;
    refresh(inner, &client).await?;
    lock(&inner.book)
        .by_key(key)
        .map(|t| t.order.clone())
        .ok_or_else(|| BrokerError::OrderNotFound(key.to_string()))
}

/// Requests cancellation and waits briefly for IB's confirmation.
pub(crate) async fn cancel(inner: &Arc<Inner>, id: &str) -> Result<Order, BrokerError> {
    let client = inner.client()?;
    if lock(&inner.book).get(id).is_none() {
        refresh(inner, &client).await?;
    }
    let (ib_id, status) = {
        let mut book = lock(&inner.book);
        let t = book
            .by_id_mut(id)
            .ok_or_else(|| BrokerError::OrderNotFound(id.to_string()))?;
        (t.ib_id, t.order.status)
    };
    if !status.is_open() {
        return Err(BrokerError::NotCancellable {
            id: id.to_string(),
            status: status.as_str().to_string(),
        });
    }
    if ib_id <= 0 {
        return Err(BrokerError::NotCancellable {
            id: id.to_string(),
            status: "placed by an earlier session without a live order id".into(),
        });
    }
    let mut sub = client
        .cancel_order(ib_id, "")
        .await
        .map_err(|e| map_error(&e, Ctx::Order))?;
    let deadline = tokio::time::Instant::now() + ACK_TIMEOUT;
    loop {
        match tokio::time::timeout_at(deadline, sub.next()).await {
            Err(_) | Ok(None) => break,
            Ok(Some(Ok(SubscriptionItem::Data(CancelOrder::OrderStatus(s))))) => {
                lock(&inner.book).apply_status(
                    ib_id,
                    &s.status,
                    s.filled,
                    s.remaining,
                    s.average_fill_price,
                );
                if !matches!(s.status, OrderStatusKind::PendingCancel) {
                    break;
                }
            }
            Ok(Some(Ok(SubscriptionItem::Notice(n)))) => {
                if n.code == 202 {
                    let mut book = lock(&inner.book);
                    if let Some(t) = book.by_ib_id_mut(ib_id) {
                        let filled = f64::from(t.order.filled_quantity);
                        update(&mut t.order, OrderStatus::Cancelled, filled, None);
                    }
                    break;
                }
            }
            Ok(Some(Err(e))) => {
                let err = map_error(&e, Ctx::Order);
                return Err(match err {
                    BrokerError::Rejected { message, .. } => BrokerError::NotCancellable {
                        id: id.to_string(),
                        status: message,
                    },
                    other => other,
                });
            }
        }
    }
    publish_counts(inner);
    lock(&inner.book)
        .get(id)
        .ok_or_else(|| BrokerError::OrderNotFound(id.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_window_wraps_midnight() {
        let t = |h, m| NaiveTime::from_hms_opt(h, m, 0).unwrap();
        assert!(in_window(t(4, 50), t(4, 45), t(5, 45)));
        assert!(!in_window(t(5, 45), t(4, 45), t(5, 45)));
        assert!(in_window(t(23, 50), t(23, 45), t(0, 45)));
        assert!(in_window(t(0, 10), t(23, 45), t(0, 45)));
        assert!(!in_window(t(1, 0), t(23, 45), t(0, 45)));
    }

    #[test]
    fn final_status_never_reopens() {
        let now = Utc::now();
        let mut o = Order {
            id: "1".into(),
            idempotency_key: "k".into(),
            legs: vec![],
            quantity: 1,
            limit_price: 1.0,
            tif: TimeInForce::Day,
            status: OrderStatus::Filled,
            filled_quantity: 1,
            avg_fill_price: Some(1.0),
            created_at: now,
            updated_at: now,
            status_message: None,
        };
        update(&mut o, OrderStatus::Submitted, 0.0, None);
        assert_eq!(o.status, OrderStatus::Filled);
        assert_eq!(o.filled_quantity, 1);
    }

    #[test]
    fn an_older_report_never_undoes_a_newer_fill() {
        let now = Utc::now();
        let mut o = Order {
            id: "1".into(),
            idempotency_key: "k".into(),
            legs: vec![],
            quantity: 5,
            limit_price: 1.0,
            tif: TimeInForce::Day,
            status: OrderStatus::Submitted,
            filled_quantity: 0,
            avg_fill_price: None,
            created_at: now,
            updated_at: now,
            status_message: None,
        };
        update(&mut o, OrderStatus::PartiallyFilled, 3.0, Some(1.0));
        update(&mut o, OrderStatus::PartiallyFilled, 2.0, Some(0.9));
        assert_eq!(
            (o.status, o.filled_quantity),
            (OrderStatus::PartiallyFilled, 3)
        );
        assert_eq!(o.avg_fill_price, Some(1.0));
        update(&mut o, OrderStatus::Submitted, 0.0, None);
        assert_eq!(
            (o.status, o.filled_quantity),
            (OrderStatus::PartiallyFilled, 3)
        );
        update(&mut o, OrderStatus::Cancelled, 3.0, None);
        assert_eq!((o.status, o.filled_quantity), (OrderStatus::Cancelled, 3));
    }
}
