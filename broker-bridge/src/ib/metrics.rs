//! Prometheus series of the IB broker, registered on the bridge's registry.

use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

/// IB session metrics (`bridge_ib_*`).
#[derive(Clone)]
pub struct IbMetrics {
    /// Successful reconnections after the first connection.
    pub reconnects: IntCounter,
    /// IB notices and errors received, by code.
    pub notices: IntCounterVec,
    /// Market-data lines held now (streams and in-flight snapshots).
    pub lines_in_use: IntGauge,
    /// Orders known to the bridge, by state.
    pub orders: IntGaugeVec,
}

impl IbMetrics {
    /// Creates the series and registers them on `registry` (series already
    /// registered elsewhere are kept unregistered rather than failing start-up).
    pub fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let m = Self {
            reconnects: IntCounter::new(
                "ib_reconnects_total",
                "Reconnections to IB Gateway after the first connection.",
            )?,
            notices: IntCounterVec::new(
                Opts::new(
                    "ib_notices_total",
                    "IB notices and errors received, by code.",
                ),
                &["code"],
            )?,
            lines_in_use: IntGauge::new(
                "ib_market_data_lines",
                "Market-data lines in use (streams and in-flight snapshots).",
            )?,
            orders: IntGaugeVec::new(
                Opts::new("ib_orders", "Orders known to the bridge, by state."),
                &["state"],
            )?,
        };
        for c in [
            Box::new(m.reconnects.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(m.notices.clone()),
            Box::new(m.lines_in_use.clone()),
            Box::new(m.orders.clone()),
        ] {
            match registry.register(c) {
                Ok(()) | Err(prometheus::Error::AlreadyReg) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(m)
    }
}
