//! Prometheus metrics. One shared [`Metrics`] handle owns the registry; the
//! HTTP layer records requests and latency, broker implementations (the
//! IB broker) register their own series on [`Metrics::registry`], and every
//! scrape refreshes the broker-agnostic series the position engine reads
//! ([`refresh_broker`]): orders by state, fills, reconnects.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};
use sas_bridge_api::orders::{Execution, Order, OrderStatus};

use crate::broker::Broker;

/// Bound on each broker read a scrape makes.
const SCRAPE_READ_TIMEOUT: Duration = Duration::from_secs(2);
/// Most orders tracked by state (the oldest final ones are forgotten first).
const MAX_TRACKED_ORDERS: usize = 10_000;

/// Latency buckets in seconds (0.25 ms .. 10 s).
const LATENCY_BUCKETS: &[f64] = &[
    0.000_25, 0.000_5, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The bridge's metrics registry and HTTP series.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    http_requests: IntCounterVec,
    http_latency: HistogramVec,
    orders: IntGaugeVec,
    fills: IntCounter,
    reconnects: IntCounter,
    seen: Arc<Mutex<Seen>>,
}

/// What the scrapes have seen of the broker's orders and executions.
#[derive(Debug, Default)]
struct Seen {
    /// Order id → last known state, with the order of first sight.
    orders: HashMap<String, (OrderStatus, u64)>,
    next: u64,
    executions: HashSet<String>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// A fresh registry with the HTTP series registered.
    ///
    /// # Panics
    /// Never in practice: the series names are constants that are valid and
    /// registered once on a new registry.
    #[must_use]
    #[allow(clippy::expect_used)]
    pub fn new() -> Self {
        let registry = Registry::new_custom(Some("bridge".to_string()), None)
            .expect("constant registry prefix is valid");
        let http_requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests by route, method and status.",
            ),
            &["route", "method", "status"],
        )
        .expect("constant metric definition is valid");
        let http_latency = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "HTTP request latency by route (seconds).",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["route"],
        )
        .expect("constant metric definition is valid");
        let orders = IntGaugeVec::new(
            Opts::new(
                "orders",
                "Orders seen by this bridge process, by their last known state.",
            ),
            &["state"],
        )
        .expect("constant metric definition is valid");
        let fills = IntCounter::new(
            "fills_total",
            "Executions (fills, whole or partial) seen by this bridge process.",
        )
        .expect("constant metric definition is valid");
        let reconnects = IntCounter::new(
            "broker_reconnects_total",
            "Reconnections of the broker session after the first connection.",
        )
        .expect("constant metric definition is valid");
        for c in [
            Box::new(http_requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(http_latency.clone()),
            Box::new(orders.clone()),
            Box::new(fills.clone()),
            Box::new(reconnects.clone()),
        ] {
            registry
                .register(c)
                .expect("first registration on a new registry");
        }
        Self {
            registry,
            http_requests,
            http_latency,
            orders,
            fills,
            reconnects,
            seen: Arc::new(Mutex::new(Seen::default())),
        }
    }

    /// The registry, for broker implementations to register their series
    /// (names get the `bridge_` prefix).
    #[must_use]
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Records one finished HTTP request.
    pub fn observe_request(&self, route: &str, method: &str, status: u16, seconds: f64) {
        let buf = itoa_status(status);
        let status = std::str::from_utf8(&buf).unwrap_or("000");
        self.http_requests
            .with_label_values(&[route, method, status])
            .inc();
        self.http_latency
            .with_label_values(&[route])
            .observe(seconds);
    }

    /// Records the broker's open orders; returns the ids tracked as open
    /// that are no longer in the list (their final state is to be read).
    pub fn observe_open_orders(&self, open: &[Order]) -> Vec<String> {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        let listed: HashSet<&str> = open.iter().map(|o| o.id.as_str()).collect();
        let gone = seen
            .orders
            .iter()
            .filter(|(id, (st, _))| st.is_open() && !listed.contains(id.as_str()))
            .map(|(id, _)| id.clone())
            .collect();
        for o in open {
            track(&mut seen, o);
        }
        self.publish_orders(&seen);
        gone
    }

    /// Records one order's state (a re-read of an order that left the open
    /// list).
    pub fn observe_order(&self, order: &Order) {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        track(&mut seen, order);
        self.publish_orders(&seen);
    }

    /// Of `ids`, those no scrape has seen yet.
    pub fn untracked(&self, ids: impl IntoIterator<Item = String>) -> Vec<String> {
        let seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out: Vec<String> = ids
            .into_iter()
            .filter(|id| !seen.orders.contains_key(id))
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Counts the executions not seen before.
    pub fn observe_executions(&self, executions: &[Execution]) {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        for e in executions {
            if seen.executions.insert(e.exec_id.clone()) {
                self.fills.inc();
            }
        }
    }

    /// The broker's reconnection count.
    pub fn observe_reconnects(&self, reconnects: u64) {
        let known = self.reconnects.get();
        if reconnects > known {
            self.reconnects.inc_by(reconnects - known);
        }
    }

    fn publish_orders(&self, seen: &Seen) {
        let mut counts: HashMap<&'static str, i64> = HashMap::new();
        for (st, _) in seen.orders.values() {
            *counts.entry(st.as_str()).or_default() += 1;
        }
        for st in ALL_STATES {
            self.orders
                .with_label_values(&[st.as_str()])
                .set(counts.get(st.as_str()).copied().unwrap_or(0));
        }
    }

    /// Prometheus text exposition of every registered series.
    #[must_use]
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::warn!(error = %e, "metrics encoding failed");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

const ALL_STATES: [OrderStatus; 9] = [
    OrderStatus::PendingSubmit,
    OrderStatus::Submitted,
    OrderStatus::PartiallyFilled,
    OrderStatus::PendingCancel,
    OrderStatus::Filled,
    OrderStatus::Cancelled,
    OrderStatus::Rejected,
    OrderStatus::Expired,
    OrderStatus::Unknown,
];

fn track(seen: &mut Seen, order: &Order) {
    let next = seen.next;
    let entry = seen
        .orders
        .entry(order.id.clone())
        .or_insert((order.status, next));
    entry.0 = order.status;
    if entry.1 == next {
        seen.next += 1;
    }
    if seen.orders.len() > MAX_TRACKED_ORDERS {
        // Forget the oldest final order.
        if let Some(id) = seen
            .orders
            .iter()
            .filter(|(_, (st, _))| !st.is_open())
            .min_by_key(|(_, (_, n))| *n)
            .map(|(id, _)| id.clone())
        {
            seen.orders.remove(&id);
        }
    }
}

/// Refreshes the broker series from `broker` (each read bounded; a read
/// that fails or times out leaves its series as they were): the open
/// orders, the final state of orders that left the open list, the
/// executions, the reconnections.
pub async fn refresh_broker(metrics: &Metrics, broker: &dyn Broker) {
    if let Ok(Ok(open)) = tokio::time::timeout(SCRAPE_READ_TIMEOUT, broker.open_orders()).await {
        for id in metrics.observe_open_orders(&open) {
            if let Ok(Ok(order)) =
                tokio::time::timeout(SCRAPE_READ_TIMEOUT, broker.order(&id)).await
            {
                metrics.observe_order(&order);
            }
        }
    }
    if let Ok(Ok(executions)) = tokio::time::timeout(SCRAPE_READ_TIMEOUT, broker.executions()).await
    {
        metrics.observe_executions(&executions);
        // Orders that filled before any scrape saw them open.
        let ids = executions.iter().map(|e| e.order_id.clone());
        for id in metrics.untracked(ids) {
            if let Ok(Ok(order)) =
                tokio::time::timeout(SCRAPE_READ_TIMEOUT, broker.order(&id)).await
            {
                metrics.observe_order(&order);
            }
        }
    }
    metrics.observe_reconnects(broker.reconnects());
}

/// Three ASCII digits of an HTTP status without allocating.
fn itoa_status(status: u16) -> [u8; 3] {
    let s = status.min(999);
    [
        b'0' + (s / 100) as u8,
        b'0' + (s / 10 % 10) as u8,
        b'0' + (s % 10) as u8,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_renders() {
        let m = Metrics::new();
        m.observe_request("/quotes", "GET", 200, 0.0007);
        m.observe_request("/quotes", "GET", 200, 0.003);
        m.observe_request("/quote", "GET", 400, 0.0001);
        let text = m.render();
        assert!(
            text.contains(
                r#"bridge_http_requests_total{method="GET",route="/quotes",status="200"} 2"#
            ),
            "{text}"
        );
        assert!(text.contains(r#"status="400""#));
        assert!(
            text.contains(
                r#"bridge_http_request_duration_seconds_bucket{route="/quotes",le="0.001"} 1"#
            ),
            "{text}"
        );
    }

    fn values(text: &str) -> HashMap<String, f64> {
        let lines = text.lines().map(|l| Ok(l.to_owned()));
        let scrape = prometheus_parse::Scrape::parse(lines).expect("valid exposition text");
        scrape
            .samples
            .iter()
            .map(|s| {
                let v = match s.value {
                    prometheus_parse::Value::Counter(v)
                    | prometheus_parse::Value::Gauge(v)
                    | prometheus_parse::Value::Untyped(v) => v,
                    _ => f64::NAN,
                };
                let label = s.labels.get("state").map(|l| format!("{{{l}}}"));
                (format!("{}{}", s.metric, label.unwrap_or_default()), v)
            })
            .collect()
    }

    fn stock(key: &str, action: &str, limit: f64) -> sas_bridge_api::orders::OrderRequest {
        serde_json::from_value(serde_json::json!({
            "idempotency_key": key,
            "legs": [{"instrument": {"type": "stock", "symbol": "AAPL"}, "action": action}],
            "quantity": 5,
            "limit_price": limit,
        }))
        .unwrap()
    }

    #[tokio::test]
    async fn broker_series_count_orders_by_state_fills_and_parse() {
        use crate::broker::Broker as _;
        use crate::clock::ManualClock;
        use crate::sim::{SimBroker, SimBrokerConfig};
        use chrono::TimeZone;

        // Friday 2026-11-20 15:00 UTC: inside the simulated session.
        let clock = Arc::new(ManualClock::new(
            chrono::Utc
                .with_ymd_and_hms(2026, 11, 20, 15, 0, 0)
                .unwrap(),
        ));
        let broker = SimBroker::new(
            SimBrokerConfig {
                seed: 42,
                universe: vec![sas_core::market::Symbol::parse("AAPL").unwrap()],
                starting_cash: 100_000.0,
                account_id: "SIM-TEST".into(),
                start: None,
            },
            clock,
        )
        .unwrap();
        let m = Metrics::new();
        refresh_broker(&m, &broker).await;
        let v = values(&m.render());
        assert_eq!(v["bridge_fills_total"], 0.0);
        assert_eq!(v["bridge_broker_reconnects_total"], 0.0);
        assert_eq!(v["bridge_orders{submitted}"], 0.0);

        let aapl = sas_core::market::Symbol::parse("AAPL").unwrap();
        let q = broker.quotes(&[aapl]).await.remove(0).unwrap();
        let ask = q.ask;
        let bid = q.bid;
        // One marketable buy (fills at once), one resting buy far below.
        broker
            .place_order(stock("m-1", "buy", (ask + 1.0).round()))
            .await
            .unwrap();
        let resting = broker
            .place_order(stock("m-2", "buy", (bid * 0.5).round()))
            .await
            .unwrap();
        refresh_broker(&m, &broker).await;
        let text = m.render();
        let v = values(&text);
        assert_eq!(v["bridge_fills_total"], 1.0, "{text}");
        assert_eq!(v["bridge_orders{filled}"], 1.0, "{text}");
        assert_eq!(v["bridge_orders{submitted}"], 1.0, "{text}");
        // Scraped again: nothing counted twice.
        refresh_broker(&m, &broker).await;
        assert_eq!(values(&m.render())["bridge_fills_total"], 1.0);
        // The resting order is cancelled: it leaves the open list and its
        // final state is read.
        broker.cancel_order(&resting.order.id).await.unwrap();
        refresh_broker(&m, &broker).await;
        let v = values(&m.render());
        assert_eq!(v["bridge_orders{submitted}"], 0.0);
        assert_eq!(v["bridge_orders{cancelled}"], 1.0);
        assert_eq!(v["bridge_orders{filled}"], 1.0);
        // A broker's reconnection count is carried over, never backwards.
        m.observe_reconnects(3);
        m.observe_reconnects(2);
        assert_eq!(values(&m.render())["bridge_broker_reconnects_total"], 3.0);
    }

    #[test]
    fn extension_series_show_up() {
        let m = Metrics::new();
        let c = prometheus::IntCounter::new("ib_reconnects_total", "test").unwrap();
        m.registry().register(Box::new(c.clone())).unwrap();
        c.inc();
        assert!(m.render().contains("bridge_ib_reconnects_total 1"));
    }
}
