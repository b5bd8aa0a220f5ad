//! Idempotency keys of closing orders, derived from the position's key (the
//! entry's key, IB `orderRef`) and the attempt number, so that the same
//! attempt always has the same key: a resend after a restart of either side
//! is recognised by the bridge instead of placing a second order.
//!
//! Valid by the bridge rule (`sas_bridge_api::is_valid_key`): 1-64 chars of
//! `A-Z a-z 0-9 _ - . :`.

/// Longest key the bridge accepts.
pub const MAX_KEY_LEN: usize = 64;

fn key_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':')
}

fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The key of closing attempt `attempt` of the position keyed
/// `position_key`: `<position_key>:x<attempt>` when that fits in 64 valid
/// characters, otherwise `<head>.<16 hex of FNV-1a of the whole
/// key>:x<attempt>` with `head` the key's first valid characters.
#[must_use]
pub fn closing_key(position_key: &str, attempt: u32) -> String {
    let suffix = format!(":x{attempt}");
    let fits = !position_key.is_empty()
        && position_key.len() + suffix.len() <= MAX_KEY_LEN
        && position_key.bytes().all(key_char);
    if fits {
        return format!("{position_key}{suffix}");
    }
    let hash = format!("{:016x}", fnv1a64(position_key.as_bytes()));
    let room = MAX_KEY_LEN - suffix.len() - hash.len() - 1;
    let head: String = position_key
        .bytes()
        .filter(|b| key_char(*b))
        .take(room)
        .map(char::from)
        .collect();
    format!("{head}.{hash}{suffix}")
}

/// The attempt number when `order_ref` is a closing key of `position_key`.
#[must_use]
pub fn closing_attempt_of(position_key: &str, order_ref: &str) -> Option<u32> {
    let (_, n) = order_ref.rsplit_once(":x")?;
    let attempt: u32 = n.parse().ok()?;
    (closing_key(position_key, attempt) == order_ref).then_some(attempt)
}

/// True when `order_ref` is the entry key or a closing key of the position.
#[must_use]
pub fn belongs_to(position_key: &str, order_ref: &str) -> bool {
    order_ref == position_key || closing_attempt_of(position_key, order_ref).is_some()
}
