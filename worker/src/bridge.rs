//! The broker bridge as the workflows see it: a [`Bridge`] trait over the
//! two HTTP calls they make (`GET` and `POST` of JSON, each bounded by a
//! timeout), implemented by `edge::bridge` with Workers `fetch` and by
//! in-memory fakes in the native tests. The bodies are `sas_bridge_api`
//! types; reading them (and classifying failures) is the workflows' job, so
//! the tests cover it.

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
