//! `fake-ib-gateway`: run the fake IB Gateway on 127.0.0.1 for manual tests.
//!
//! Usage: `fake-ib-gateway [--port 4002] [--seed 42] [--account DU1234567]`
//!
//! Test controls, one command a line on stdin (answers on stdout), so an
//! end-to-end test running it as a process can drive the order lifecycle:
//! `partial <units>` (the next order fills at most that many units),
//! `release-fills`, `hold-commissions on|off`, `release-commissions`,
//! `assign <con_id>`, `restart <ms>`, `positions`, `executions`.

use std::process::ExitCode;
use std::time::Duration;

use fake_ib_gateway::{FakeConfig, FakeControls, FakeGateway};
use tokio::io::AsyncBufReadExt;

/// Runs one control command; the answer line.
fn control(c: &FakeControls, line: &str) -> String {
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        ["partial", n] => match n.parse::<f64>() {
            Ok(units) if units.is_finite() && units >= 0.0 => {
                c.partial_fill_next_order(units);
                format!("ok next order fills at most {units}")
            }
            _ => format!("error: {n:?} is not a unit count"),
        },
        ["release-fills"] => {
            c.release_fills();
            "ok".into()
        }
        ["hold-commissions", on @ ("on" | "off")] => {
            c.hold_commissions(*on == "on");
            "ok".into()
        }
        ["release-commissions"] => {
            c.release_commissions();
            "ok".into()
        }
        ["assign", id] => match id.parse::<i32>().ok().and_then(|id| c.assign(id)) {
            Some((stock, shares)) => format!("ok stock {stock} {shares}"),
            None => format!("error: no option position {id}"),
        },
        ["restart", ms] => match ms.parse::<u64>() {
            Ok(ms) => {
                c.restart(Duration::from_millis(ms));
                "ok".into()
            }
            Err(_) => format!("error: {ms:?} is not milliseconds"),
        },
        ["positions"] => format!("ok {:?}", c.positions()),
        ["executions"] => format!("ok {:?}", c.executions()),
        _ => format!("error: unknown command {line:?}"),
    }
}

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
    let controls = gateway.controls.clone();
    tokio::spawn(async move {
        let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if !line.trim().is_empty() {
                println!("{}", control(&controls, &line));
            }
        }
    });
    let _ = tokio::signal::ctrl_c().await;
    gateway.shutdown();
    ExitCode::SUCCESS
}
