//! Session supervision: connect, reconnect forever with a capped backoff,
//! watch IB notices and socket loss, keep the health record.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ibapi::{Client, RateLimiter};
use sas_core::market::DataType;

use super::{convert, lock, orders, FirstConnect, Inner};
use sas_bridge_api::health::ConnectionState;

/// Health of the IB session as the bridge reports it.
#[derive(Debug, Clone)]
pub(crate) struct Health {
    pub state: ConnectionState,
    pub since: DateTime<Utc>,
    pub reason: Option<String>,
    pub server_version: Option<i32>,
    pub market_data_type: DataType,
    /// Socket to the gateway is up and the API handshake done.
    socket_up: bool,
    /// IB Gateway reported 1100 (its link to IB is down) without a 1101/1102 yet.
    ib_link_lost: bool,
    /// Data farms reported broken (by farm kind).
    broken_farms: BTreeSet<&'static str>,
    /// Last connection failure, shown while disconnected.
    last_error: Option<String>,
}

impl Health {
    pub fn new(market_data_type: DataType) -> Self {
        Self {
            state: ConnectionState::Disconnected,
            since: Utc::now(),
            reason: Some("connecting to IB Gateway".into()),
            server_version: None,
            market_data_type,
            socket_up: false,
            ib_link_lost: false,
            broken_farms: BTreeSet::new(),
            last_error: None,
        }
    }

    /// Recomputes state and reason from the facts; `since` moves only when
    /// the state changes.
    fn settle(&mut self) {
        let (state, reason) = if !self.socket_up {
            (
                ConnectionState::Disconnected,
                Some(
                    self.last_error
                        .clone()
                        .unwrap_or_else(|| "not connected to IB Gateway".into()),
                ),
            )
        } else if self.ib_link_lost {
            (
                ConnectionState::Disconnected,
                Some("IB Gateway lost its connection to IB servers (1100)".into()),
            )
        } else if !self.broken_farms.is_empty() {
            let farms: Vec<&str> = self.broken_farms.iter().copied().collect();
            (
                ConnectionState::Degraded,
                Some(format!("IB data farm down: {}", farms.join(", "))),
            )
        } else {
            (ConnectionState::Connected, None)
        };
        if state != self.state {
            self.since = Utc::now();
        }
        self.state = state;
        self.reason = reason;
    }

    /// The gateway handshake succeeded.
    pub fn connected(&mut self, server_version: i32) {
        self.socket_up = true;
        self.ib_link_lost = false;
        self.broken_farms.clear();
        self.last_error = None;
        self.server_version = Some(server_version);
        self.settle();
    }

    /// The socket is gone or could not be opened.
    pub fn disconnected(&mut self, why: String) {
        self.socket_up = false;
        self.last_error = Some(why);
        self.settle();
    }

    /// Applies an IB notice. Returns true when IB says subscriptions were
    /// lost and must be made again (1101).
    pub fn notice(&mut self, code: i32) -> bool {
        let mut resubscribe = false;
        match code {
            1100 => self.ib_link_lost = true,
            1101 => {
                self.ib_link_lost = false;
                resubscribe = true;
            }
            1102 => self.ib_link_lost = false,
            2103 => {
                self.broken_farms.insert("market data");
            }
            2104 => {
                self.broken_farms.remove("market data");
            }
            2105 => {
                self.broken_farms.insert("historical data");
            }
            2106 => {
                self.broken_farms.remove("historical data");
            }
            2157 => {
                self.broken_farms.insert("security definition");
            }
            2158 => {
                self.broken_farms.remove("security definition");
            }
            // 2107/2108: a farm is inactive but available on demand; normal.
            _ => {}
        }
        self.settle();
        resubscribe
    }
}

/// Holds the session until shutdown.
pub(crate) async fn supervise(inner: Arc<Inner>) {
    let limiter = RateLimiter::per_second(inner.cfg.messages_per_second);
    let mut shutdown = inner.shutdown.subscribe();
    let mut backoff = Duration::from_millis(250);
    let mut connected_once = false;
    let sweep = (inner.cfg.quote_ttl / 2).clamp(Duration::from_millis(100), Duration::from_secs(5));
    let mut janitor = tokio::time::interval(sweep);
    loop {
        if *shutdown.borrow() {
            return;
        }
        let address = inner.cfg.address();
        let attempt = Client::builder()
            .address(address.clone())
            .client_id(inner.cfg.client_id)
            // The bridge reconnects itself (faster, capped backoff, fresh
            // client): the library's own reconnect is off.
            .max_reconnect_attempts(0)
            .rate_limiter(limiter.clone())
            .connect_with_notice_stream();
        match tokio::time::timeout(inner.cfg.request_timeout, attempt).await {
            Ok(Ok((client, mut notices))) => {
                let managed = client.handshake_managed_accounts().to_vec();
                match super::resolve_account(inner.cfg.account.as_deref(), &managed) {
                    Ok(account) => inner.set_account(account),
                    Err(why) => {
                        client.disconnect().await;
                        tracing::error!(why, "IB account check failed");
                        if inner.report_first_connect(FirstConnect::Refused(why.clone())) {
                            lock(&inner.health).disconnected(why);
                            return;
                        }
                        lock(&inner.health).disconnected(why);
                        tokio::select! {
                            () = tokio::time::sleep(inner.cfg.max_backoff) => {}
                            _ = shutdown.changed() => {}
                        }
                        continue;
                    }
                }
                inner.report_first_connect(FirstConnect::Connected);
                backoff = Duration::from_millis(250);
                let client = Arc::new(client);
                let mdt = convert::ib_market_data_type(inner.cfg.market_data_type);
                if let Err(e) = client.switch_market_data_type(mdt).await {
                    tracing::warn!(error = %e, "could not set the market-data type");
                }
                inner.set_client(Some(client.clone()));
                lock(&inner.health).connected(client.server_version());
                if connected_once {
                    inner.metrics.reconnects.inc();
                }
                connected_once = true;
                tracing::info!(
                    address,
                    server_version = client.server_version(),
                    "connected to IB Gateway"
                );
                inner.generation.send_modify(|g| *g += 1);
                // Re-read orders and executions placed or filled while away.
                let resync = inner.clone();
                tokio::spawn(async move {
                    if let Err(e) = orders::resync(&resync).await {
                        tracing::warn!(error = %e, "order resync after connect failed");
                    }
                });
                let mut poll = tokio::time::interval(Duration::from_millis(100));
                loop {
                    tokio::select! {
                        n = notices.next() => match n {
                            Some(n) => on_notice(&inner, n.code, &n.message),
                            None => break,
                        },
                        _ = poll.tick() => {
                            if !client.is_connected() {
                                break;
                            }
                        }
                        _ = janitor.tick() => inner.expire_idle_streams(),
                        _ = shutdown.changed() => {
                            if *shutdown.borrow() {
                                inner.set_client(None);
                                client.disconnect().await;
                                return;
                            }
                        }
                    }
                }
                inner.set_client(None);
                lock(&inner.health)
                    .disconnected("connection to IB Gateway lost; reconnecting".into());
                tracing::warn!(address, "IB Gateway connection lost");
                client.disconnect().await;
            }
            Ok(Err(ibapi::Error::ClientIdInUse { .. })) => {
                let client_id = inner.cfg.client_id;
                // At the first connect this means another bridge (or API
                // client) holds this client id: refuse to start. Later it can
                // be our own previous session not yet released: retry.
                let refused = format!(
                    "IB error 326: client id {client_id} is already in use at IB Gateway \
                     {address}; another bridge or API client holds it (set a unique IB_CLIENT_ID)"
                );
                if inner.report_first_connect(FirstConnect::Refused(refused.clone())) {
                    tracing::error!(why = refused, "refusing to start");
                    lock(&inner.health).disconnected(refused);
                    return;
                }
                let why = format!("client id {client_id} is in use at IB Gateway (326); retrying");
                tracing::debug!(why, "connect failed");
                lock(&inner.health).disconnected(why);
            }
            Ok(Err(e)) => {
                let why = format!("cannot connect to IB Gateway at {address}: {e}");
                tracing::debug!(why, "connect failed");
                inner.report_first_connect(FirstConnect::Unreachable);
                lock(&inner.health).disconnected(why);
            }
            Err(_) => {
                inner.report_first_connect(FirstConnect::Unreachable);
                lock(&inner.health).disconnected(format!(
                    "IB Gateway at {address} did not complete the handshake in time"
                ));
            }
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            _ = shutdown.changed() => {}
        }
        inner.expire_idle_streams();
        backoff = (backoff * 2).min(inner.cfg.max_backoff);
    }
}

fn on_notice(inner: &Inner, code: i32, message: &str) {
    inner
        .metrics
        .notices
        .with_label_values(&[&code.to_string()])
        .inc();
    let resubscribe = {
        let mut h = lock(&inner.health);
        let before = h.state;
        let r = h.notice(code);
        if h.state != before {
            tracing::warn!(
                code,
                message,
                state = h.state.as_str(),
                "IB session state changed"
            );
        }
        r
    };
    if resubscribe {
        inner.resubscribe.send_modify(|g| *g += 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_drive_health() {
        let mut h = Health::new(DataType::Delayed);
        assert_eq!(h.state, ConnectionState::Disconnected);
        h.connected(222);
        assert_eq!(h.state, ConnectionState::Connected);
        let since = h.since;
        assert!(!h.notice(2104));
        assert_eq!(h.since, since, "an OK farm notice does not move `since`");
        h.notice(2103);
        assert_eq!(h.state, ConnectionState::Degraded);
        assert!(h.reason.as_deref().unwrap_or("").contains("market data"));
        h.notice(1100);
        assert_eq!(h.state, ConnectionState::Disconnected);
        assert!(h.notice(1101), "1101 asks for resubscription");
        assert_eq!(h.state, ConnectionState::Degraded);
        h.notice(2104);
        assert_eq!(h.state, ConnectionState::Connected);
        h.disconnected("socket closed".into());
        assert_eq!(h.state, ConnectionState::Disconnected);
        assert_eq!(h.reason.as_deref(), Some("socket closed"));
        h.connected(222);
        assert_eq!(h.state, ConnectionState::Connected);
    }
}
