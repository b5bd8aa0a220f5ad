//! Prometheus metrics. One shared [`Metrics`] handle owns the registry; the
//! HTTP layer records requests and latency, and broker implementations (the
//! IB broker) register their own series on [`Metrics::registry`].

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};

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
        registry
            .register(Box::new(http_requests.clone()))
            .expect("first registration on a new registry");
        registry
            .register(Box::new(http_latency.clone()))
            .expect("first registration on a new registry");
        Self {
            registry,
            http_requests,
            http_latency,
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

    #[test]
    fn extension_series_show_up() {
        let m = Metrics::new();
        let c = prometheus::IntCounter::new("ib_reconnects_total", "test").unwrap();
        m.registry().register(Box::new(c.clone())).unwrap();
        c.inc();
        assert!(m.render().contains("bridge_ib_reconnects_total 1"));
    }
}
