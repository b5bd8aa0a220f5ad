//! `broker-bridge` binary: validate configuration, build the broker, serve.

use std::process::ExitCode;

use broker_bridge::api::{router, AppState};
use broker_bridge::broker::OrderGate;
use broker_bridge::config::{BridgeConfig, Cli};
use broker_bridge::halt::Halt;
use broker_bridge::metrics::Metrics;
use broker_bridge::startup::{build_gated_broker, init_tracing};
use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let token = match std::env::var("BRIDGE_TOKEN") {
        Ok(t) => Some(t),
        Err(std::env::VarError::NotPresent) => None,
        Err(std::env::VarError::NotUnicode(_)) => Some(String::from("\u{0}")),
    };
    let config = match BridgeConfig::from_cli(&cli, token.as_deref()) {
        Ok(c) => c,
        Err(errors) => {
            eprintln!("broker-bridge: {errors}");
            return ExitCode::from(2);
        }
    };
    init_tracing(config.log_format);

    let halt = std::sync::Arc::new(match &config.halt_file {
        Some(path) => Halt::load(path.clone()),
        None => Halt::in_memory(),
    });
    let metrics = Metrics::new();
    let gate: std::sync::Arc<dyn OrderGate> = halt.clone();
    let broker = match build_gated_broker(&config, &metrics, Some(gate)).await {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the broker");
            eprintln!("broker-bridge: {e}");
            return ExitCode::from(1);
        }
    };
    let halted = halt.state();
    if halted.halted {
        tracing::warn!(reason = ?halted.reason, "trading is halted at start: POST /orders is refused until POST /halt resumes it");
    }
    let state = AppState::new(broker, &config.token, metrics, config.request_timeout)
        .with_chain_timeout(config.chain_timeout)
        .with_halt(halt);
    let listener = match tokio::net::TcpListener::bind(config.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("broker-bridge: cannot listen on {}: {e}", config.listen);
            return ExitCode::from(1);
        }
    };
    tracing::info!(
        listen = %config.listen,
        broker = config.broker.as_str(),
        watchlist = config.watchlist.len(),
        "broker-bridge listening"
    );
    let served = axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown_signal())
        .await;
    match served {
        Ok(()) => {
            tracing::info!("broker-bridge stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!(error = %e, "server error");
            ExitCode::from(1)
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
