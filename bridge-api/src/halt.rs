//! `GET /halt` and `POST /halt`: the bridge-side trading halt.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Longest accepted halt reason, in characters.
pub const MAX_REASON_CHARS: usize = 500;

/// The halt as `GET /halt` and `POST /halt` answer it (and the bridge's halt
/// file stores it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HaltState {
    /// Whether new orders are refused.
    pub halted: bool,
    /// Why (as given by whoever changed it, or why the file was unusable).
    pub reason: Option<String>,
    /// When the current state began (`None` when it never changed).
    pub since: Option<DateTime<Utc>>,
}

impl HaltState {
    /// Not halted, never changed.
    #[must_use]
    pub fn running() -> Self {
        Self {
            halted: false,
            reason: None,
            since: None,
        }
    }
}

/// `POST /halt` request body (unknown fields are refused; `reason` at most
/// [`MAX_REASON_CHARS`] characters).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HaltRequest {
    /// Halt (`true`) or resume (`false`).
    pub halted: bool,
    /// Why.
    pub reason: String,
}
