//! Building the configured broker and the tracing subscriber.

use std::sync::Arc;
use std::time::Duration;

use sas_core::market::Symbol;
use sas_sim_market::SymbolParams;

use crate::broker::{Broker, OrderGate};
use crate::clock::SystemClock;
use crate::config::{BridgeConfig, LogFormat};
use crate::metrics::Metrics;
use crate::sim::{spawn_ticker, SimBroker, SimBrokerConfig};
use sas_bridge_api::health::BrokerMode;

/// Of the chain timeout that bounds a historical request, the time kept for
/// the fetch itself after waiting for the pacing turn.
const HISTORICAL_FETCH_ALLOWANCE: Duration = Duration::from_secs(5);

/// Symbols the simulated broker knows: its built-in table plus the watchlist.
#[must_use]
pub fn sim_universe(watchlist: &[Symbol]) -> Vec<Symbol> {
    let mut out: Vec<Symbol> = SymbolParams::builtin_symbols()
        .filter_map(|s| Symbol::parse(s).ok())
        .collect();
    for s in watchlist {
        if !out.contains(s) {
            out.push(s.clone());
        }
    }
    out
}

/// Builds the broker selected by `--broker`, without an order gate.
pub async fn build_broker(
    config: &BridgeConfig,
    metrics: &Metrics,
) -> Result<Arc<dyn Broker>, String> {
    build_gated_broker(config, metrics, None).await
}

/// Builds the broker selected by `--broker`; `gate` (the bridge-side halt)
/// is asked again right before every IB order is sent. The simulated broker
/// places under one lock without waiting, so the HTTP handler's check is
/// its last one.
pub async fn build_gated_broker(
    config: &BridgeConfig,
    metrics: &Metrics,
    gate: Option<Arc<dyn OrderGate>>,
) -> Result<Arc<dyn Broker>, String> {
    match config.broker {
        BrokerMode::Sim => {
            let sim_config = SimBrokerConfig {
                seed: config.seed,
                universe: sim_universe(&config.watchlist),
                starting_cash: config.sim_cash,
                account_id: "SIM-PAPER".to_string(),
                start: config.sim_start,
            };
            let broker = match &config.sim_state_file {
                Some(path) => SimBroker::open(sim_config, Arc::new(SystemClock), path.clone())
                    .map_err(|e| e.to_string())?,
                None => {
                    SimBroker::new(sim_config, Arc::new(SystemClock)).map_err(|e| e.to_string())?
                }
            };
            let broker = Arc::new(broker);
            // Detached on purpose: it stops by itself when the broker is dropped.
            drop(spawn_ticker(&broker, Duration::from_secs(1)));
            Ok(broker)
        }
        BrokerMode::Ib => {
            let mut ib_config = crate::ib::IbBrokerConfig::from_settings(&config.ib);
            // A historical request waits for its pacing turn only as long as
            // its HTTP bound (the chain timeout) leaves time to fetch.
            ib_config.historical_max_wait = config
                .chain_timeout
                .saturating_sub(HISTORICAL_FETCH_ALLOWANCE);
            let ib = crate::ib::IbBroker::start_checked(ib_config, metrics).await?;
            if let Some(gate) = gate {
                ib.set_order_gate(gate);
            }
            Ok(Arc::new(ib))
        }
    }
}

/// Installs the global tracing subscriber (`RUST_LOG` filter, default `info`).
pub fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi);
    let result = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Text => builder.try_init(),
    };
    if let Err(e) = result {
        eprintln!("tracing already initialised: {e}");
    }
}
