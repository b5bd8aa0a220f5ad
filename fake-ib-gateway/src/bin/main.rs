//! `fake-ib-gateway`: run the fake IB Gateway on 127.0.0.1 for manual tests.
//!
//! Usage: `fake-ib-gateway [--port 4002] [--seed 42] [--account DU1234567]`

use std::process::ExitCode;

use fake_ib_gateway::{FakeConfig, FakeGateway};

fn parse_args() -> Result<FakeConfig, String> {
    let mut config = FakeConfig {
        port: 4002,
        ..FakeConfig::default()
    };
    let mut args = std::env::args().skip(1);
    let mut errors = Vec::new();
    while let Some(flag) = args.next() {
        if flag == "--no-pacing" {
            config.enforce_pacing = false;
            continue;
        }
        let value = args.next();
        match (flag.as_str(), value) {
            ("--port", Some(v)) => match v.parse() {
                Ok(p) => config.port = p,
                Err(_) => errors.push(format!("--port: {v:?} is not a port number")),
            },
            ("--seed", Some(v)) => match v.parse() {
                Ok(s) => config.seed = s,
                Err(_) => errors.push(format!("--seed: {v:?} is not an unsigned integer")),
            },
            ("--account", Some(v)) => config.account = v,
            (f, _) => errors.push(format!("unknown or incomplete flag {f:?}")),
        }
    }
    if errors.is_empty() {
        Ok(config)
    } else {
        Err(errors.join("\n"))
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let config = match parse_args() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}\nusage: fake-ib-gateway [--port 4002] [--seed 42] [--account DU1234567] [--no-pacing]");
            return ExitCode::from(2);
        }
    };
    let gateway = match FakeGateway::start(config).await {
        Ok(g) => g,
        Err(e) => {
            eprintln!("cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("fake IB gateway listening on {}", gateway.addr);
    let _ = tokio::signal::ctrl_c().await;
    gateway.shutdown();
    ExitCode::SUCCESS
}
