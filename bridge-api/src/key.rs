//! Idempotency keys: the one key that travels from a proposal to the bridge
//! and on to IB as `orderRef`, and the one rule for what a key looks like.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

/// Longest idempotency key, characters.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 64;

/// Whether `key` is a well-formed idempotency key: 1..=64 characters of
/// `A-Z a-z 0-9 _ - . :`.
#[must_use]
pub fn is_valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= MAX_IDEMPOTENCY_KEY_LEN
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
}

/// A validated idempotency key: the one key that travels from a proposal to
/// the bridge and on to IB as `orderRef`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct IdempotencyKey(String);

/// Why a string is not an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidKey;

impl fmt::Display for InvalidKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("must be 1-64 characters of A-Z a-z 0-9 _ - . :")
    }
}

impl std::error::Error for InvalidKey {}

impl IdempotencyKey {
    /// Parses `raw` (not trimmed: a key is compared byte for byte).
    pub fn parse(raw: &str) -> Result<Self, InvalidKey> {
        if is_valid_key(raw) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(InvalidKey)
        }
    }

    /// The key as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for IdempotencyKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_checked_once() {
        assert!(is_valid_key("abc-123_x.y:z"));
        assert!(!is_valid_key(""));
        assert!(!is_valid_key(&"a".repeat(65)));
        assert!(is_valid_key(&"a".repeat(64)));
        assert!(!is_valid_key("a/b"));
        assert!(!is_valid_key("a b"));
        let k: IdempotencyKey =
            serde_json::from_str("\"p-2026-12-01-SPY\"").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(k.as_str(), "p-2026-12-01-SPY");
        assert!(serde_json::from_str::<IdempotencyKey>("\"bad key\"").is_err());
    }
}
