//! The binary refuses to start on bad configuration, listing every problem;
//! `SIM_START` sets its simulated clock.

use std::io::{Read as _, Write as _};
use std::process::Command;
use std::time::{Duration, Instant};

fn bridge() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_broker-bridge"));
    for var in [
        "BRIDGE_TOKEN",
        "BRIDGE_BROKER",
        "BRIDGE_LISTEN",
        "BRIDGE_SEED",
        "BRIDGE_WATCHLIST",
        "LOG_FORMAT",
        "SIM_START",
        "SIM_STATE_FILE",
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

const TOKEN: &str = "cli-test-token-0123456789-abcdefghijklmn";

#[test]
fn sim_start_from_the_environment_is_validated() {
    let out = bridge()
        .env("BRIDGE_TOKEN", TOKEN)
        .env("SIM_START", "next monday")
        .output()
        .expect("run broker-bridge");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "--sim-start (SIM_START) must be an RFC 3339 time such as 2026-11-02T14:30:00Z, got \"next monday\""
        ),
        "{stderr}"
    );
    let out = bridge()
        .env("BRIDGE_TOKEN", TOKEN)
        .env("BRIDGE_BROKER", "ib")
        .env("SIM_START", "2026-11-02T14:30:00Z")
        .output()
        .expect("run broker-bridge");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--sim-start (SIM_START) only applies to --broker sim"),
        "{stderr}"
    );
}

/// `GET path` on loopback `port`; the body, once the bridge answers.
fn http_get(port: u16, path: &str) -> Option<String> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    text.split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
}

#[test]
fn the_binary_starts_its_simulated_clock_at_sim_start() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let mut child = bridge()
        .env("BRIDGE_TOKEN", TOKEN)
        .env("SIM_START", "2026-11-02T09:30:00-05:00")
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start broker-bridge");
    let deadline = Instant::now() + Duration::from_secs(30);
    let body = loop {
        if let Some(body) = http_get(port, "/health") {
            break body;
        }
        assert!(Instant::now() < deadline, "the bridge did not answer");
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = child.kill();
    let _ = child.wait();
    // Seconds after the start: still 2026-11-02T14:30:0x or :1x.
    assert!(
        body.contains(r#""simulated_time":"2026-11-02T14:30:"#),
        "{body}"
    );
}
