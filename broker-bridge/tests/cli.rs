//! The binary refuses to start on bad configuration, listing every problem.

use std::process::Command;

fn bridge() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_broker-bridge"));
    for var in [
        "BRIDGE_TOKEN",
        "BRIDGE_BROKER",
        "BRIDGE_LISTEN",
        "BRIDGE_SEED",
        "BRIDGE_WATCHLIST",
        "LOG_FORMAT",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

#[test]
fn refuses_to_start_listing_every_error() {
    let out = bridge()
        .args([
            "--broker",
            "paper",
            "--listen",
            "0.0.0.0:8081",
            "--watchlist",
            "AAPL,,$$",
            "--request-timeout-ms",
            "0",
        ])
        .env("BRIDGE_TOKEN", "too-short")
        .output()
        .expect("run broker-bridge");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let problems: Vec<&str> = stderr
        .lines()
        .filter(|l| l.trim_start().starts_with("- "))
        .collect();
    assert_eq!(problems.len(), 5, "{stderr}");
    for needle in [
        "--broker",
        "loopback",
        "BRIDGE_TOKEN",
        "--watchlist",
        "--request-timeout-ms",
    ] {
        assert!(stderr.contains(needle), "{needle} missing:\n{stderr}");
    }
    assert!(!stderr.contains("too-short"), "token echoed:\n{stderr}");
}

#[test]
fn refuses_to_start_without_token() {
    let out = bridge().output().expect("run broker-bridge");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("BRIDGE_TOKEN is not set"));
}
