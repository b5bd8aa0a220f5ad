//! The broker bridge as the workflows see it: a [`Bridge`] trait over the
//! two HTTP calls they make (`GET` and `POST` of JSON, each bounded by a
//! timeout), implemented by `edge::bridge` with Workers `fetch` and by
//! in-memory fakes in the native tests. The bodies are `sas_bridge_api`
//! types; reading them (and classifying failures) is the workflows' job, so
//! the tests cover it.

use sas_core::market::{OptionChain, Symbol};
use serde::de::DeserializeOwned;

/// Why a bridge call produced no HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BridgeFailure {
    /// No answer within the configured timeout.
    Timeout { after_ms: u32 },
    /// Connection refused, DNS, TLS or another network error.
    Unreachable(String),
}

impl std::fmt::Display for BridgeFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BridgeFailure::Timeout { after_ms } => {
                write!(f, "bridge did not answer within {after_ms} ms")
            }
            BridgeFailure::Unreachable(why) => write!(f, "bridge unreachable: {why}"),
        }
    }
}

/// The bridge's answer: HTTP status and body text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeAnswer {
    pub status: u16,
    pub body: String,
}

impl BridgeAnswer {
    /// A 200 body read as `T`; `None` for another status or another shape.
    pub fn ok_json<T: DeserializeOwned>(&self) -> Option<T> {
        if self.status == 200 {
            serde_json::from_str(&self.body).ok()
        } else {
            None
        }
    }
}

/// The authenticated bridge (`Authorization: Bearer BRIDGE_TOKEN`). The
/// futures are not `Send` (Workers `fetch`), hence `async fn` in a trait
/// used only with static dispatch.
#[allow(async_fn_in_trait)]
pub trait Bridge {
    /// `GET {BRIDGE_URL}{path_and_query}` within `timeout_ms` (body included).
    async fn get(
        &self,
        path_and_query: &str,
        timeout_ms: u32,
    ) -> Result<BridgeAnswer, BridgeFailure>;
    /// `POST {BRIDGE_URL}{path}` with a JSON `body` within `timeout_ms`.
    async fn post_json(
        &self,
        path: &str,
        body: &str,
        timeout_ms: u32,
    ) -> Result<BridgeAnswer, BridgeFailure>;
}

/// A bridge read that did not give the expected body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BridgeReadError {
    #[error("{0}")]
    Failure(BridgeFailure),
    #[error("bridge {path} answered HTTP {status}")]
    Status { path: &'static str, status: u16 },
    #[error("bridge {path} answer is not the expected body")]
    BadBody { path: &'static str },
    #[error("bridge {path} answered for another symbol")]
    OtherSymbol { path: &'static str },
}

/// `GET {path_and_query}` read as a 200 `T` (`name` is the route, for the
/// error).
pub async fn get_json<T: DeserializeOwned>(
    bridge: &impl Bridge,
    path_and_query: &str,
    name: &'static str,
    timeout_ms: u32,
) -> Result<T, BridgeReadError> {
    let answer = bridge
        .get(path_and_query, timeout_ms)
        .await
        .map_err(BridgeReadError::Failure)?;
    if answer.status != 200 {
        return Err(BridgeReadError::Status {
            path: name,
            status: answer.status,
        });
    }
    serde_json::from_str(&answer.body).map_err(|_| BridgeReadError::BadBody { path: name })
}

/// `GET {path}` for a chain of `symbol` (any selection), refused when it is
/// about another symbol.
pub async fn chain(
    bridge: &impl Bridge,
    symbol: &Symbol,
    path: &str,
    timeout_ms: u32,
) -> Result<OptionChain, BridgeReadError> {
    const P: &str = "/chain";
    let chain: OptionChain = get_json(bridge, path, P, timeout_ms).await?;
    if &chain.symbol != symbol {
        return Err(BridgeReadError::OtherSymbol { path: P });
    }
    Ok(chain)
}
