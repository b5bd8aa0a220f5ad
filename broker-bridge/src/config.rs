//! Start-up configuration from CLI flags and environment, validated as a
//! whole: every problem is reported at once and the bridge refuses to start.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use sas_core::market::{parse_symbol_list, DataType, Symbol, DEFAULT_WATCHLIST};

use sas_bridge_api::health::BrokerMode;

/// Shortest accepted `BRIDGE_TOKEN`.
pub const MIN_TOKEN_LEN: usize = 32;
/// Longest accepted `BRIDGE_TOKEN`.
pub const MAX_TOKEN_LEN: usize = 512;
/// Most symbols in `--watchlist`.
pub const MAX_WATCHLIST: usize = 100;

/// Raw command line (every flag also reads an environment variable). Values
/// are kept as text here so [`BridgeConfig::from_cli`] can report every
/// problem at once instead of stopping at the first.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "broker-bridge",
    version,
    about = "Authenticated HTTP bridge to the broker (simulated market or Interactive Brokers). \
             The bearer token is read from the BRIDGE_TOKEN environment variable only."
)]
pub struct Cli {
    /// Broker backend: `sim` (simulated market, paper account) or `ib`.
    #[arg(long, env = "BRIDGE_BROKER", default_value = "sim")]
    pub broker: String,
    /// Listen address; must be loopback unless --allow-non-loopback.
    #[arg(long, env = "BRIDGE_LISTEN", default_value = "127.0.0.1:8081")]
    pub listen: String,
    /// Allow a non-loopback listen address (the bridge is meant to sit behind a tunnel).
    #[arg(long, env = "BRIDGE_ALLOW_NON_LOOPBACK", default_value_t = false)]
    pub allow_non_loopback: bool,
    /// Seed of the simulated market.
    #[arg(long, env = "BRIDGE_SEED", default_value = "1")]
    pub seed: String,
    /// Comma-separated symbols the bridge serves (sim: extra names join the
    /// built-in universe).
    #[arg(long, env = "BRIDGE_WATCHLIST")]
    pub watchlist: Option<String>,
    /// Upper bound on every broker call, in milliseconds.
    #[arg(long, env = "BRIDGE_REQUEST_TIMEOUT_MS", default_value = "5000")]
    pub request_timeout_ms: String,
    /// Upper bound on an option-chain call, in milliseconds (IB paces chain
    /// snapshots at about 50 messages/s: 300 contracts take about 7 s).
    #[arg(long, env = "BRIDGE_CHAIN_TIMEOUT_MS", default_value = "30000")]
    pub chain_timeout_ms: String,
    /// Paper account starting cash for the simulated broker (USD).
    #[arg(long, env = "BRIDGE_SIM_CASH", default_value = "100000")]
    pub sim_cash: String,
    /// IB Gateway / TWS host.
    #[arg(long, env = "IB_HOST", default_value = "127.0.0.1")]
    pub ib_host: String,
    /// IB Gateway API port (4002 = paper gateway, 4001 = live gateway).
    #[arg(long, env = "IB_PORT", default_value = "4002")]
    pub ib_port: String,
    /// IB API client id.
    #[arg(long, env = "IB_CLIENT_ID", default_value = "17")]
    pub ib_client_id: String,
    /// IB market data type: live, frozen, delayed or delayed_frozen.
    #[arg(long, env = "IB_MARKET_DATA_TYPE", default_value = "delayed")]
    pub ib_market_data_type: String,
    /// Allow orders to a live (non-paper) IB account. Off by default: the IB
    /// broker refuses orders unless the account is a paper account (`DU…`;
    /// `DF…` advisor masters are refused too).
    #[arg(long, env = "BRIDGE_ALLOW_LIVE_TRADING", default_value_t = false)]
    pub allow_live_trading: bool,
    /// IB's daily reset window in US Eastern time, `HH:MM-HH:MM` (may wrap
    /// midnight) or `off`; new orders are refused inside it.
    #[arg(long, env = "IB_RESET_WINDOW_ET", default_value = "23:45-00:45")]
    pub ib_reset_window_et: String,
    /// IB account id to use when the login has several.
    #[arg(long, env = "IB_ACCOUNT")]
    pub ib_account: Option<String>,
    /// JSON file keeping the bridge-side trading halt across restarts
    /// (written on every `POST /halt`; unreadable or corrupt at start =
    /// halted). Unset: the halt lives in memory only.
    #[arg(long, env = "BRIDGE_HALT_FILE")]
    pub halt_file: Option<String>,
    /// JSON file keeping the simulated broker's books (cash, positions,
    /// orders, executions, fill mode, `/sim/control` moves and spreads)
    /// across restarts (`--broker sim` only): read at start when it exists,
    /// written after every change (temporary file, fsync, rename). Restart
    /// with the same --seed. A file that cannot be parsed, or that was
    /// written with another seed, stops the start; it is never replaced.
    /// Unset: the books live in memory only.
    #[arg(long = "sim-state", env = "SIM_STATE_FILE", value_name = "PATH")]
    pub sim_state: Option<String>,
    /// Simulated time at start, RFC 3339 (for example
    /// `2026-11-02T14:30:00Z`; `--broker sim` only, years 2000-2099): the
    /// simulated clock starts there instead of now and runs on with the wall
    /// clock. An existing `--sim-state` file keeps its own clock. Unset: the
    /// wall clock.
    #[arg(long = "sim-start", env = "SIM_START", value_name = "RFC3339")]
    pub sim_start: Option<String>,
    /// Log format: `text` or `json` (env LOG_FORMAT).
    #[arg(long, env = "LOG_FORMAT", default_value = "text")]
    pub log_format: String,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Settings for the IB broker (read by `crate::ib` when `--broker ib`; this
/// module does not depend on `ib`).
#[derive(Debug, Clone, PartialEq)]
pub struct IbSettings {
    /// Gateway host.
    pub host: String,
    /// Gateway API port.
    pub port: u16,
    /// API client id.
    pub client_id: i32,
    /// Requested market data type.
    pub market_data_type: DataType,
    /// Account to use, when given.
    pub account: Option<String>,
    /// Daily reset window in US Eastern time; `None` disables the check.
    pub reset_window_et: Option<(chrono::NaiveTime, chrono::NaiveTime)>,
    /// Orders to a live (non-paper) account are allowed.
    pub allow_live_trading: bool,
}

/// The bearer token, kept out of `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct BridgeToken(String);

impl BridgeToken {
    /// The token text.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for BridgeToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BridgeToken(<redacted>)")
    }
}

/// Validated configuration.
#[derive(Debug, Clone)]
pub struct BridgeConfig {
    /// Backend.
    pub broker: BrokerMode,
    /// Listen address.
    pub listen: SocketAddr,
    /// Bearer token.
    pub token: BridgeToken,
    /// Simulated market seed.
    pub seed: u64,
    /// Watchlist.
    pub watchlist: Vec<Symbol>,
    /// Broker call timeout.
    pub request_timeout: Duration,
    /// Option-chain call timeout.
    pub chain_timeout: Duration,
    /// Sim paper account starting cash.
    pub sim_cash: f64,
    /// IB settings.
    pub ib: IbSettings,
    /// Log format.
    pub log_format: LogFormat,
    /// Where the trading halt is kept (`None`: in memory only).
    pub halt_file: Option<std::path::PathBuf>,
    /// Where the simulated broker keeps its books (`None`: in memory only).
    pub sim_state_file: Option<std::path::PathBuf>,
    /// Simulated time at start (`None`: the wall clock).
    pub sim_start: Option<chrono::DateTime<chrono::Utc>>,
}

/// Every configuration problem found, one line each.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration:\n  - {}", .0.join("\n  - "))]
pub struct ConfigErrors(pub Vec<String>);

impl BridgeConfig {
    /// Validates the command line and the token (from `BRIDGE_TOKEN`).
    pub fn from_cli(cli: &Cli, token: Option<&str>) -> Result<Self, ConfigErrors> {
        let mut errs: Vec<String> = Vec::new();

        let broker = match cli.broker.trim().to_ascii_lowercase().as_str() {
            "sim" => Some(BrokerMode::Sim),
            "ib" => Some(BrokerMode::Ib),
            other => {
                errs.push(format!("--broker must be `sim` or `ib`, got {other:?}"));
                None
            }
        };

        let listen = match cli.listen.trim().parse::<SocketAddr>() {
            Ok(addr) if !addr.ip().is_loopback() && !cli.allow_non_loopback => {
                errs.push(format!(
                    "--listen {addr} is not a loopback address; the bridge must only be reachable \
                     through the tunnel (pass --allow-non-loopback to override)"
                ));
                None
            }
            Ok(addr) => Some(addr),
            Err(_) => {
                errs.push(format!(
                    "--listen must be IP:PORT (for example 127.0.0.1:8081), got {:?}",
                    cli.listen
                ));
                None
            }
        };

        let halt_file =
            file_in_existing_dir(cli.halt_file.as_deref(), "BRIDGE_HALT_FILE", &mut errs);
        let sim_state_file = file_in_existing_dir(
            cli.sim_state.as_deref(),
            "--sim-state (SIM_STATE_FILE)",
            &mut errs,
        );
        if sim_state_file.is_some() && broker == Some(BrokerMode::Ib) {
            errs.push(
                "--sim-state (SIM_STATE_FILE) only applies to --broker sim; IB keeps the account itself"
                    .to_string(),
            );
        }

        let sim_start = parse_sim_start(cli.sim_start.as_deref(), &mut errs);
        if sim_start.is_some() && broker == Some(BrokerMode::Ib) {
            errs.push(
                "--sim-start (SIM_START) only applies to --broker sim; IB runs on the real clock"
                    .to_string(),
            );
        }

        let token = match token {
            None => {
                errs.push("BRIDGE_TOKEN is not set".to_string());
                None
            }
            Some(t) if t.len() < MIN_TOKEN_LEN => {
                errs.push(format!(
                    "BRIDGE_TOKEN is too short ({} characters, at least {MIN_TOKEN_LEN})",
                    t.len()
                ));
                None
            }
            Some(t) if t.len() > MAX_TOKEN_LEN => {
                errs.push(format!(
                    "BRIDGE_TOKEN is longer than {MAX_TOKEN_LEN} characters"
                ));
                None
            }
            Some(t) if !t.bytes().all(|b| b.is_ascii_graphic()) => {
                errs.push("BRIDGE_TOKEN must be printable ASCII without spaces".to_string());
                None
            }
            Some(t) => Some(BridgeToken(t.to_string())),
        };

        let seed = cli.seed.trim().parse::<u64>().map_err(|_| {
            errs.push(format!(
                "--seed must be an unsigned integer, got {:?}",
                cli.seed
            ));
        });

        let watchlist = match &cli.watchlist {
            None => Ok(DEFAULT_WATCHLIST
                .iter()
                .filter_map(|s| Symbol::parse(s).ok())
                .collect()),
            Some(raw) => parse_symbol_list(raw, MAX_WATCHLIST).map_err(|e| {
                errs.push(format!("--watchlist: {e}"));
            }),
        };

        let request_timeout = millis_in(
            &cli.request_timeout_ms,
            "--request-timeout-ms",
            120_000,
            &mut errs,
        );
        let chain_timeout = millis_in(
            &cli.chain_timeout_ms,
            "--chain-timeout-ms",
            300_000,
            &mut errs,
        );
        let reset_window_et = parse_reset_window(&cli.ib_reset_window_et)
            .map_err(|e| errs.push(format!("--ib-reset-window-et: {e}")));

        let sim_cash = match cli.sim_cash.trim().parse::<f64>() {
            Ok(c) if c.is_finite() && (0.0..=1e9).contains(&c) => Some(c),
            _ => {
                errs.push(format!(
                    "--sim-cash must be a number 0..=1000000000, got {:?}",
                    cli.sim_cash
                ));
                None
            }
        };

        if cli.ib_host.trim().is_empty() {
            errs.push("--ib-host must not be empty".to_string());
        }
        let ib_port = match cli.ib_port.trim().parse::<u16>() {
            Ok(p) if p > 0 => Some(p),
            _ => {
                errs.push(format!(
                    "--ib-port must be 1..=65535, got {:?}",
                    cli.ib_port
                ));
                None
            }
        };
        let ib_client_id = cli.ib_client_id.trim().parse::<i32>().map_err(|_| {
            errs.push(format!(
                "--ib-client-id must be an integer, got {:?}",
                cli.ib_client_id
            ));
        });
        let ib_mdt = match cli.ib_market_data_type.trim().to_ascii_lowercase().as_str() {
            "live" | "1" => Some(DataType::Live),
            "frozen" | "2" => Some(DataType::Frozen),
            "delayed" | "3" => Some(DataType::Delayed),
            "delayed_frozen" | "delayed-frozen" | "4" => Some(DataType::DelayedFrozen),
            other => {
                errs.push(format!(
                    "--ib-market-data-type must be live, frozen, delayed or delayed_frozen, got {other:?}"
                ));
                None
            }
        };

        let log_format = match cli.log_format.trim().to_ascii_lowercase().as_str() {
            "text" | "" => Some(LogFormat::Text),
            "json" => Some(LogFormat::Json),
            other => {
                errs.push(format!(
                    "LOG_FORMAT must be `text` or `json`, got {other:?}"
                ));
                None
            }
        };

        match (
            broker,
            listen,
            token,
            seed,
            watchlist,
            request_timeout,
            chain_timeout,
            sim_cash,
            ib_port,
            ib_client_id,
            ib_mdt,
            reset_window_et,
            log_format,
        ) {
            (
                Some(broker),
                Some(listen),
                Some(token),
                Ok(seed),
                Ok(watchlist),
                Some(request_timeout),
                Some(chain_timeout),
                Some(sim_cash),
                Some(port),
                Ok(client_id),
                Some(market_data_type),
                Ok(reset_window_et),
                Some(log_format),
            ) if errs.is_empty() => Ok(Self {
                broker,
                listen,
                token,
                seed,
                watchlist,
                request_timeout,
                chain_timeout,
                sim_cash,
                ib: IbSettings {
                    host: cli.ib_host.trim().to_string(),
                    port,
                    client_id,
                    market_data_type,
                    account: cli.ib_account.clone().filter(|a| !a.trim().is_empty()),
                    reset_window_et,
                    allow_live_trading: cli.allow_live_trading,
                },
                log_format,
                halt_file,
                sim_state_file,
                sim_start,
            }),
            _ => Err(ConfigErrors(errs)),
        }
    }
}

/// A file path whose directory must exist (the file itself may not yet):
/// `None` when unset; an empty value, a missing directory or a directory
/// given as the file push one message naming `label` onto `errs`.
fn file_in_existing_dir(
    raw: Option<&str>,
    label: &str,
    errs: &mut Vec<String>,
) -> Option<std::path::PathBuf> {
    let path = match raw.map(str::trim) {
        None => return None,
        Some("") => {
            errs.push(format!("{label} is set but empty"));
            return None;
        }
        Some(path) => std::path::PathBuf::from(path),
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    if !dir.is_dir() {
        errs.push(format!(
            "{label} {}: directory {} does not exist",
            path.display(),
            dir.display()
        ));
    }
    if path.is_dir() {
        errs.push(format!("{label} {} is a directory", path.display()));
    }
    Some(path)
}

/// Parses `--sim-start`: `None` when unset; a value that is empty, not RFC
/// 3339 or outside the simulated market's years pushes one message.
fn parse_sim_start(
    raw: Option<&str>,
    errs: &mut Vec<String>,
) -> Option<chrono::DateTime<chrono::Utc>> {
    let text = raw?.trim();
    match chrono::DateTime::parse_from_rfc3339(text) {
        Ok(t) if crate::sim::sim_time_in_range(t.to_utc()) => Some(t.to_utc()),
        Ok(_) => {
            errs.push(format!(
                "--sim-start (SIM_START) must lie in the years {}-{}, got {text:?}",
                crate::sim::SIM_FIRST_YEAR,
                crate::sim::SIM_LAST_YEAR
            ));
            None
        }
        Err(_) => {
            errs.push(format!(
                "--sim-start (SIM_START) must be an RFC 3339 time such as 2026-11-02T14:30:00Z, got {text:?}"
            ));
            None
        }
    }
}

/// Parses a duration in milliseconds in `1..=max`; a bad value pushes one
/// message naming `flag` onto `errs`.
fn millis_in(raw: &str, flag: &str, max: u64, errs: &mut Vec<String>) -> Option<Duration> {
    match raw.trim().parse::<u64>() {
        Ok(ms) if (1..=max).contains(&ms) => Some(Duration::from_millis(ms)),
        _ => {
            errs.push(format!("{flag} must be 1..={max}, got {raw:?}"));
            None
        }
    }
}

/// Parses a reset window `HH:MM-HH:MM` (US Eastern time; may wrap midnight)
/// or `off`, for the `--ib-reset-window-et` setting.
pub fn parse_reset_window(
    text: &str,
) -> Result<Option<(chrono::NaiveTime, chrono::NaiveTime)>, String> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("off") || t.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    let bad = || format!("reset window must be HH:MM-HH:MM (UTC) or `off`, got {text:?}");
    let (a, b) = t.split_once('-').ok_or_else(bad)?;
    let start = chrono::NaiveTime::parse_from_str(a.trim(), "%H:%M").map_err(|_| bad())?;
    let end = chrono::NaiveTime::parse_from_str(b.trim(), "%H:%M").map_err(|_| bad())?;
    if start == end {
        return Err(format!("reset window {text:?} is empty"));
    }
    Ok(Some((start, end)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_window_parses() {
        let t = |h, m| chrono::NaiveTime::from_hms_opt(h, m, 0).unwrap();
        assert_eq!(
            parse_reset_window("04:45-05:45"),
            Ok(Some((t(4, 45), t(5, 45))))
        );
        assert_eq!(
            parse_reset_window(" 23:45 - 00:45 "),
            Ok(Some((t(23, 45), t(0, 45))))
        );
        assert_eq!(parse_reset_window("off"), Ok(None));
        assert!(parse_reset_window("4-5").is_err());
        assert!(parse_reset_window("05:00-05:00").is_err());
        assert!(parse_reset_window("25:00-01:00").is_err());
    }

    const TOKEN: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn halt_file_must_be_in_an_existing_directory() {
        let ok = BridgeConfig::from_cli(&cli(&["--halt-file", "/tmp/sas-halt.json"]), Some(TOKEN))
            .unwrap();
        assert_eq!(
            ok.halt_file.as_deref(),
            Some(std::path::Path::new("/tmp/sas-halt.json"))
        );
        let none = BridgeConfig::from_cli(&cli(&[]), Some(TOKEN)).unwrap();
        assert!(none.halt_file.is_none());
        let bad = BridgeConfig::from_cli(
            &cli(&["--halt-file", "/no/such/dir/halt.json"]),
            Some(TOKEN),
        )
        .unwrap_err();
        assert!(bad.to_string().contains("BRIDGE_HALT_FILE"), "{bad}");
    }

    #[test]
    fn sim_state_file_is_checked_and_only_for_the_sim() {
        let ok = BridgeConfig::from_cli(&cli(&["--sim-state", "/tmp/sas-sim.json"]), Some(TOKEN))
            .unwrap();
        assert_eq!(
            ok.sim_state_file.as_deref(),
            Some(std::path::Path::new("/tmp/sas-sim.json"))
        );
        let none = BridgeConfig::from_cli(&cli(&[]), Some(TOKEN)).unwrap();
        assert!(none.sim_state_file.is_none());
        let errs = BridgeConfig::from_cli(
            &cli(&[
                "--sim-state",
                "/no/such/dir/sim.json",
                "--halt-file",
                "/tmp",
                "--broker",
                "ib",
            ]),
            Some(TOKEN),
        )
        .unwrap_err()
        .0;
        let all = errs.join("\n");
        for needle in [
            "--sim-state (SIM_STATE_FILE) /no/such/dir/sim.json: directory /no/such/dir does not exist",
            "--sim-state (SIM_STATE_FILE) only applies to --broker sim",
            "BRIDGE_HALT_FILE /tmp is a directory",
        ] {
            assert!(all.contains(needle), "{needle:?} missing from:\n{all}");
        }
        assert_eq!(errs.len(), 3, "{all}");
        let empty = BridgeConfig::from_cli(&cli(&["--sim-state", " "]), Some(TOKEN)).unwrap_err();
        assert_eq!(
            empty.0,
            vec!["--sim-state (SIM_STATE_FILE) is set but empty".to_string()]
        );
    }

    #[test]
    fn sim_start_is_rfc3339_in_range_and_only_for_the_sim() {
        let ok = BridgeConfig::from_cli(
            &cli(&["--sim-start", "2026-11-02T09:30:00-05:00"]),
            Some(TOKEN),
        )
        .unwrap();
        assert_eq!(
            ok.sim_start.map(|t| t.to_rfc3339()),
            Some("2026-11-02T14:30:00+00:00".to_string())
        );
        assert!(BridgeConfig::from_cli(&cli(&[]), Some(TOKEN))
            .unwrap()
            .sim_start
            .is_none());
        let errs = BridgeConfig::from_cli(
            &cli(&["--sim-start", "2026-11-02", "--seed", "x"]),
            Some(TOKEN),
        )
        .unwrap_err()
        .0;
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(
            errs[0].starts_with("--sim-start (SIM_START) must be an RFC 3339 time"),
            "{errs:?}"
        );
        let far =
            BridgeConfig::from_cli(&cli(&["--sim-start", "2150-01-01T00:00:00Z"]), Some(TOKEN))
                .unwrap_err();
        assert!(
            far.0[0].contains("must lie in the years 2000-2099"),
            "{far}"
        );
        let ib = BridgeConfig::from_cli(
            &cli(&["--broker", "ib", "--sim-start", "2026-11-02T14:30:00Z"]),
            Some(TOKEN),
        )
        .unwrap_err();
        assert_eq!(
            ib.0,
            vec![
                "--sim-start (SIM_START) only applies to --broker sim; IB runs on the real clock"
                    .to_string()
            ]
        );
    }

    fn cli(args: &[&str]) -> Cli {
        let mut v = vec!["broker-bridge"];
        v.extend_from_slice(args);
        Cli::try_parse_from(v).unwrap()
    }

    #[test]
    fn defaults_are_valid_and_loopback() {
        let c = BridgeConfig::from_cli(&cli(&[]), Some(TOKEN)).unwrap();
        assert_eq!(c.broker, BrokerMode::Sim);
        assert_eq!(c.listen, "127.0.0.1:8081".parse().unwrap());
        assert_eq!(c.watchlist.len(), 10);
        assert_eq!(c.ib.port, 4002);
        assert_eq!(c.ib.market_data_type, DataType::Delayed);
        assert_eq!(c.chain_timeout, Duration::from_secs(30));
        let t = |h, m| chrono::NaiveTime::from_hms_opt(h, m, 0).unwrap();
        assert_eq!(c.ib.reset_window_et, Some((t(23, 45), t(0, 45))));
        let off =
            BridgeConfig::from_cli(&cli(&["--ib-reset-window-et", "off"]), Some(TOKEN)).unwrap();
        assert_eq!(off.ib.reset_window_et, None);
        assert!(
            !c.ib.allow_live_trading,
            "live trading must be off by default"
        );
        let live = BridgeConfig::from_cli(&cli(&["--allow-live-trading"]), Some(TOKEN)).unwrap();
        assert!(live.ib.allow_live_trading);
        assert!(!format!("{c:?}").contains(TOKEN), "token leaked into Debug");
    }

    #[test]
    fn every_error_is_listed() {
        let c = cli(&[
            "--broker",
            "paper",
            "--listen",
            "0.0.0.0:8081",
            "--seed=-3",
            "--watchlist",
            "AAPL,aapl",
            "--request-timeout-ms",
            "0",
            "--ib-port",
            "70000",
            "--ib-market-data-type",
            "realtime",
            "--sim-cash",
            "lots",
            "--chain-timeout-ms",
            "900000",
            "--ib-reset-window-et",
            "25:00-01:00",
        ]);
        let errs = BridgeConfig::from_cli(&c, Some("short")).unwrap_err().0;
        let all = errs.join("\n");
        for needle in [
            "--broker",
            "not a loopback",
            "BRIDGE_TOKEN is too short",
            "--seed",
            "duplicate symbol AAPL",
            "--request-timeout-ms",
            "--ib-port",
            "--ib-market-data-type",
            "--sim-cash",
            "--chain-timeout-ms",
            "--ib-reset-window-et",
        ] {
            assert!(all.contains(needle), "{needle:?} missing from:\n{all}");
        }
        assert_eq!(errs.len(), 11);
    }

    #[test]
    fn missing_token_and_non_loopback_override() {
        let errs = BridgeConfig::from_cli(&cli(&[]), None).unwrap_err().0;
        assert_eq!(errs, vec!["BRIDGE_TOKEN is not set".to_string()]);
        let c = cli(&["--listen", "0.0.0.0:9000", "--allow-non-loopback"]);
        assert!(BridgeConfig::from_cli(&c, Some(TOKEN)).is_ok());
        let bad = BridgeConfig::from_cli(&cli(&["--listen", "localhost"]), Some(TOKEN));
        assert!(bad.unwrap_err().0[0].contains("IP:PORT"));
        let spaced = format!("{TOKEN} x");
        assert!(BridgeConfig::from_cli(&cli(&[]), Some(&spaced)).is_err());
    }
}
