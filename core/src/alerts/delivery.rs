//! Delivery policy, pure: when to try again (exponential backoff with a cap,
//! or the channel's own `retry_after`), when to give up, and how many
//! messages a channel may take per minute. The caller stores the attempt
//! count and the next attempt time with each delivery and passes `now` in.

use chrono::DateTime;
use serde::{Deserialize, Serialize};

use super::channel::ChannelKind;

/// Retry settings of one delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// Wait after the first failed attempt, ms.
    pub base_delay_ms: i64,
    /// Longest wait between two attempts, ms (also caps `retry_after`).
    pub max_delay_ms: i64,
    /// Attempts in all before giving up (the first send included).
    pub max_attempts: u32,
}

/// One minute, ms.
pub const MINUTE_MS: i64 = 60_000;

impl Default for RetryPolicy {
    /// 30 s, 1, 2, 4, 8, 16, 30, 30 min...: 10 attempts span about 2.5 hours
    /// (crons run every minute or 15 minutes, so waits round up to a run).
    fn default() -> Self {
        RetryPolicy {
            base_delay_ms: 30_000,
            max_delay_ms: 30 * MINUTE_MS,
            max_attempts: 10,
        }
    }
}

/// The wait after failed attempt number `attempt` (1 = the first send):
/// `base * 2^(attempt-1)`, capped at `max_delay_ms`; never negative, never
/// overflows.
pub fn backoff_ms(policy: &RetryPolicy, attempt: u32) -> i64 {
    let base = policy.base_delay_ms.max(0);
    let cap = policy.max_delay_ms.max(0);
    let shift = attempt.saturating_sub(1).min(62);
    let factor = 1_i64 << shift;
    base.saturating_mul(factor).min(cap)
}

/// A channel's HTTP answer, as much as the policy needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelAnswer {
    pub status: u16,
    /// The `Retry-After` header, if any.
    pub retry_after_header: Option<String>,
    /// The body (the first few KB are enough).
    pub body: String,
}

/// Why a send produced no HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendFailure {
    /// No answer within the timeout (the message may have been delivered).
    Timeout { after_ms: u32 },
    /// DNS, TLS, connection refused...
    Network(String),
}

impl std::fmt::Display for SendFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendFailure::Timeout { after_ms } => write!(f, "no answer within {after_ms} ms"),
            SendFailure::Network(why) => write!(f, "network: {why}"),
        }
    }
}

/// What to do with a delivery after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnswerOutcome {
    /// The channel took the message.
    Delivered,
    /// Try again at this time (Unix ms); `reason` for `last_error`.
    RetryAt { at_ms: i64, reason: String },
    /// Never try again (a permanent refusal, or attempts used up).
    GiveUp { reason: String },
}

/// The channel's own wait after a `429` (or `503`), ms, from the body
/// (Discord: `retry_after` in seconds, a float; Telegram:
/// `parameters.retry_after` in whole seconds) and the `Retry-After` header
/// (delta-seconds or an HTTP date); the longest of those present, never
/// negative. `None` when none is present or readable.
pub fn retry_after_ms(kind: ChannelKind, answer: &ChannelAnswer, now_ms: i64) -> Option<i64> {
    let from_body = serde_json::from_str::<serde_json::Value>(&answer.body)
        .ok()
        .and_then(|v| {
            let seconds = match kind {
                ChannelKind::Discord => v.get("retry_after"),
                ChannelKind::Telegram => v.get("parameters").and_then(|p| p.get("retry_after")),
                _ => None,
            }?;
            seconds.as_f64()
        })
        .and_then(seconds_to_ms);
    let from_header = answer
        .retry_after_header
        .as_deref()
        .and_then(|h| parse_retry_after_header(h, now_ms));
    match (from_body, from_header) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// Seconds (finite, at most a day) to ms, never negative.
fn seconds_to_ms(seconds: f64) -> Option<i64> {
    if !seconds.is_finite() {
        return None;
    }
    let clamped = seconds.clamp(0.0, 86_400.0);
    // At most 8.64e7: exact in i64 after ceil.
    #[allow(clippy::cast_possible_truncation)]
    Some((clamped * 1_000.0).ceil() as i64)
}

/// `Retry-After: <delta-seconds>` or `Retry-After: <HTTP-date>` (RFC 9110).
fn parse_retry_after_header(raw: &str, now_ms: i64) -> Option<i64> {
    let raw = raw.trim();
    if let Ok(seconds) = raw.parse::<u64>() {
        return Some(i64::try_from(seconds.min(86_400)).ok()? * 1_000);
    }
    if let Ok(seconds) = raw.parse::<f64>() {
        return seconds_to_ms(seconds);
    }
    let at = DateTime::parse_from_rfc2822(raw).ok()?;
    Some((at.timestamp_millis() - now_ms).clamp(0, 86_400_000))
}

/// Shortens `s` for `last_error` (answers can be long).
fn short(s: &str) -> String {
    s.chars().take(200).collect()
}

/// Classifies one attempt. `attempts` counts the attempt just made (1 for
/// the first send).
///
/// - 2xx: delivered.
/// - 429: retry after the channel's `retry_after` (or the backoff, whichever
///   is longer), capped at `max_delay_ms`.
/// - 408, 425, 5xx, a timeout or a network failure: retry with backoff.
/// - any other status (400 bad request, 401/403 bad token, 404 webhook
///   deleted, 413 too large): give up — sending again would fail again.
/// - attempts used up: give up, whatever the answer.
pub fn classify_answer(
    kind: ChannelKind,
    answer: &Result<ChannelAnswer, SendFailure>,
    attempts: u32,
    now_ms: i64,
    policy: &RetryPolicy,
) -> AnswerOutcome {
    let retry = |reason: String, wait_ms: i64| {
        if attempts >= policy.max_attempts {
            AnswerOutcome::GiveUp {
                reason: format!("{reason}; gave up after {attempts} attempts"),
            }
        } else {
            AnswerOutcome::RetryAt {
                at_ms: now_ms.saturating_add(wait_ms.clamp(0, policy.max_delay_ms.max(0))),
                reason,
            }
        }
    };
    let backoff = backoff_ms(policy, attempts);
    match answer {
        Err(failure) => retry(failure.to_string(), backoff),
        Ok(a) if (200..300).contains(&a.status) => AnswerOutcome::Delivered,
        Ok(a) if a.status == 429 => {
            let wait = retry_after_ms(kind, a, now_ms).map_or(backoff, |w| w.max(backoff));
            retry(format!("HTTP 429 from {kind}: rate limited"), wait)
        }
        Ok(a) if a.status == 408 || a.status == 425 || (500..600).contains(&a.status) => {
            let wait = retry_after_ms(kind, a, now_ms).map_or(backoff, |w| w.max(backoff));
            retry(
                format!("HTTP {} from {kind}: {}", a.status, short(&a.body)),
                wait,
            )
        }
        Ok(a) => AnswerOutcome::GiveUp {
            reason: format!("HTTP {} from {kind}: {}", a.status, short(&a.body)),
        },
    }
}

/// Whether a channel may take one more message now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateDecision {
    SendNow,
    /// The cap is reached; the next slot opens at this time (Unix ms).
    WaitUntil(i64),
}

/// A sliding one-minute window: at most `per_minute` sends whose time is in
/// `(now - 60 s, now]`. `recent_sends_ms` are the channel's send times (any
/// order; older ones are ignored). A cap of 0 counts as 1.
pub fn rate_decision(recent_sends_ms: &[i64], now_ms: i64, per_minute: u32) -> RateDecision {
    let cap = usize::try_from(per_minute.max(1)).unwrap_or(usize::MAX);
    let window_start = now_ms - MINUTE_MS;
    let mut in_window: Vec<i64> = recent_sends_ms
        .iter()
        .copied()
        .filter(|t| *t > window_start && *t <= now_ms)
        .collect();
    if in_window.len() < cap {
        return RateDecision::SendNow;
    }
    in_window.sort_unstable();
    // The (len - cap + 1)-th oldest must leave the window first.
    let must_leave = in_window.len() - cap;
    let t = in_window.get(must_leave).copied().unwrap_or(now_ms);
    RateDecision::WaitUntil(t + MINUTE_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, header: Option<&str>, body: &str) -> Result<ChannelAnswer, SendFailure> {
        Ok(ChannelAnswer {
            status,
            retry_after_header: header.map(str::to_owned),
            body: body.to_owned(),
        })
    }

    #[test]
    fn backoff_doubles_from_the_base_up_to_the_cap() {
        let p = RetryPolicy::default();
        assert_eq!(backoff_ms(&p, 1), 30_000);
        assert_eq!(backoff_ms(&p, 2), 60_000);
        assert_eq!(backoff_ms(&p, 3), 120_000);
        assert_eq!(backoff_ms(&p, 7), 30 * MINUTE_MS);
        assert_eq!(backoff_ms(&p, u32::MAX), 30 * MINUTE_MS);
        assert_eq!(backoff_ms(&p, 0), 30_000);
    }

    #[test]
    fn success_is_delivered() {
        let p = RetryPolicy::default();
        for status in [200, 201, 204] {
            assert_eq!(
                classify_answer(ChannelKind::Slack, &answer(status, None, "ok"), 1, 0, &p),
                AnswerOutcome::Delivered
            );
        }
    }

    #[test]
    fn discord_429_waits_its_retry_after_seconds() {
        let p = RetryPolicy::default();
        let a = answer(
            429,
            None,
            r#"{"message":"You are being rate limited.","retry_after":64.57,"global":false}"#,
        );
        assert_eq!(
            retry_after_ms(ChannelKind::Discord, a.as_ref().unwrap(), 0),
            Some(64_570)
        );
        match classify_answer(ChannelKind::Discord, &a, 1, 1_000, &p) {
            AnswerOutcome::RetryAt { at_ms, .. } => assert_eq!(at_ms, 1_000 + 64_570),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn telegram_429_waits_its_parameters_retry_after() {
        let p = RetryPolicy::default();
        let a = answer(
            429,
            None,
            r#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 35","parameters":{"retry_after":35}}"#,
        );
        match classify_answer(ChannelKind::Telegram, &a, 1, 0, &p) {
            AnswerOutcome::RetryAt { at_ms, .. } => assert_eq!(at_ms, 35_000),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn retry_after_header_takes_seconds_or_a_date() {
        let now = DateTime::parse_from_rfc2822("Wed, 02 Dec 2026 15:00:00 GMT")
            .unwrap()
            .timestamp_millis();
        let a = |h: &str| ChannelAnswer {
            status: 429,
            retry_after_header: Some(h.to_owned()),
            body: String::new(),
        };
        assert_eq!(
            retry_after_ms(ChannelKind::Ntfy, &a("120"), now),
            Some(120_000)
        );
        assert_eq!(
            retry_after_ms(ChannelKind::Slack, &a("Wed, 02 Dec 2026 15:01:30 GMT"), now),
            Some(90_000)
        );
        assert_eq!(retry_after_ms(ChannelKind::Slack, &a("soon"), now), None);
        // A date in the past means now.
        assert_eq!(
            retry_after_ms(ChannelKind::Slack, &a("Wed, 02 Dec 2026 14:00:00 GMT"), now),
            Some(0)
        );
    }

    #[test]
    fn a_short_retry_after_still_waits_the_backoff_and_a_long_one_is_capped() {
        let p = RetryPolicy::default();
        // Attempt 3: backoff 120 s beats a 1 s retry_after.
        match classify_answer(ChannelKind::Ntfy, &answer(429, Some("1"), ""), 3, 0, &p) {
            AnswerOutcome::RetryAt { at_ms, .. } => assert_eq!(at_ms, 120_000),
            other => panic!("{other:?}"),
        }
        // A day-long retry_after is capped at the policy's longest wait.
        match classify_answer(ChannelKind::Ntfy, &answer(429, Some("86400"), ""), 1, 0, &p) {
            AnswerOutcome::RetryAt { at_ms, .. } => assert_eq!(at_ms, p.max_delay_ms),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn server_errors_and_lost_answers_are_retried() {
        let p = RetryPolicy::default();
        for a in [
            answer(500, None, "oops"),
            answer(503, None, ""),
            answer(408, None, ""),
            Err(SendFailure::Timeout { after_ms: 10_000 }),
            Err(SendFailure::Network("connection refused".into())),
        ] {
            assert!(
                matches!(
                    classify_answer(ChannelKind::Webhook, &a, 2, 0, &p),
                    AnswerOutcome::RetryAt { at_ms: 60_000, .. }
                ),
                "{a:?}"
            );
        }
    }

    #[test]
    fn permanent_refusals_give_up_at_once() {
        let p = RetryPolicy::default();
        for status in [400, 401, 403, 404, 413] {
            assert!(matches!(
                classify_answer(
                    ChannelKind::Telegram,
                    &answer(status, None, r#"{"ok":false}"#),
                    1,
                    0,
                    &p
                ),
                AnswerOutcome::GiveUp { .. }
            ));
        }
    }

    #[test]
    fn the_last_attempt_gives_up_even_on_a_retryable_answer() {
        let p = RetryPolicy::default();
        let out = classify_answer(ChannelKind::Slack, &answer(500, None, ""), 10, 0, &p);
        match out {
            AnswerOutcome::GiveUp { reason } => assert!(reason.contains("10 attempts"), "{reason}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_rate_cap_opens_when_the_oldest_send_leaves_the_window() {
        assert_eq!(rate_decision(&[], 0, 2), RateDecision::SendNow);
        assert_eq!(
            rate_decision(&[10_000, 20_000], 30_000, 3),
            RateDecision::SendNow
        );
        assert_eq!(
            rate_decision(&[20_000, 10_000], 30_000, 2),
            RateDecision::WaitUntil(70_000)
        );
        // Sends older than a minute do not count.
        assert_eq!(
            rate_decision(&[0, 10_000], 70_001, 2),
            RateDecision::SendNow
        );
    }
}
