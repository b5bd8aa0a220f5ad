//! `GET /health` (no auth): liveness and the broker session's state.

use chrono::{DateTime, Utc};
use sas_core::market::DataType;
use serde::{Deserialize, Serialize};

/// Which backend serves the bridge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BrokerMode {
    /// In-process simulated market (`sas-sim-market`), paper account.
    Sim,
    /// Interactive Brokers through `ibapi`.
    Ib,
}

impl BrokerMode {
    /// Wire name (`"sim"` / `"ib"`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            BrokerMode::Sim => "sim",
            BrokerMode::Ib => "ib",
        }
    }
}

/// Health of the broker session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionState {
    /// Session up, data flowing.
    Connected,
    /// Session up but impaired (for example a data farm down, or stale ticks).
    Degraded,
    /// No session: requests needing the broker fail with `Disconnected`.
    Disconnected,
}

impl ConnectionState {
    /// Wire name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionState::Connected => "connected",
            ConnectionState::Degraded => "degraded",
            ConnectionState::Disconnected => "disconnected",
        }
    }

    /// The `status` word of `/health` for this state.
    #[must_use]
    pub fn health_status(self) -> HealthStatus {
        match self {
            ConnectionState::Connected => HealthStatus::Ok,
            ConnectionState::Degraded => HealthStatus::Degraded,
            ConnectionState::Disconnected => HealthStatus::Down,
        }
    }
}

/// The `status` word of `/health`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    /// Connected (HTTP 200).
    Ok,
    /// Session impaired (HTTP 200).
    Degraded,
    /// Disconnected (HTTP 503).
    Down,
}

impl HealthStatus {
    /// HTTP status `/health` answers with.
    #[must_use]
    pub fn http_status(self) -> u16 {
        match self {
            HealthStatus::Ok | HealthStatus::Degraded => 200,
            HealthStatus::Down => 503,
        }
    }
}

/// `GET /health` body. No account, position or configuration data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthBody {
    /// `ok`, `degraded` or `down`.
    pub status: HealthStatus,
    /// Backend.
    pub broker: BrokerMode,
    /// Whether a session exists (connected or degraded).
    pub connected: bool,
    /// Session state since `since`.
    pub state: ConnectionState,
    /// When the session entered `state`.
    pub since: DateTime<Utc>,
    /// Seconds since the bridge started.
    pub uptime_seconds: u64,
    /// Bridge version.
    pub version: String,
    /// Market-data type quotes are delivered as.
    pub market_data_type: DataType,
    /// Why the session is degraded or down (broker text, no secrets).
    pub reason: Option<String>,
    /// Broker API server version, when connected to a real gateway.
    pub server_version: Option<i32>,
    /// Seconds since the last market-data tick, when one arrived.
    pub last_tick_age_seconds: Option<f64>,
    /// IB's daily reset window (`HH:MM-HH:MM`, US Eastern time), when the
    /// broker has one: new orders are refused inside it. Absent in sim mode
    /// and from older bridges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset_window_et: Option<String>,
    /// The simulated broker's clock, when it is not the wall clock
    /// (`--sim-start`, `POST /sim/clock`). Absent otherwise, in IB mode and
    /// from older bridges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub simulated_time: Option<DateTime<Utc>>,
}
