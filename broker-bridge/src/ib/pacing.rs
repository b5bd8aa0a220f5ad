//! The bridge's own pacing of IB historical-data requests (separate from the
//! 48 messages/s limiter every outbound message goes through). IB's rules:
//!
//! - no identical request (same contract, data type, duration, bar size,
//!   end) within 15 s;
//! - at most 60 requests in any 10 minutes;
//! - at most 6 requests for one contract within 2 s.
//!
//! [`HistoricalPacer::acquire`] waits until a request may be sent without
//! breaking any rule and records it as sent. When the wait would be longer
//! than the caller can afford it sends nothing and returns the wait instead
//! (the HTTP layer answers 429 `pacing` with `Retry-After`).
//!
//! IB times a request when it arrives, which may be later than when the
//! bridge let it go (the outbound message limiter queues it). So the
//! [`PacingTicket`] `acquire` returns moves the request's recorded time to
//! when it is dropped, after the answer came: a request certainly arrived by
//! then, so the waits computed from it are never too short.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// Historical-data pacing rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacingRules {
    /// No identical request within this long.
    pub identical_gap: Duration,
    /// At most [`window_max`](Self::window_max) requests in any `window`.
    pub window: Duration,
    /// See [`window`](Self::window).
    pub window_max: usize,
    /// At most [`per_contract_max`](Self::per_contract_max) requests for one
    /// contract within `per_contract_window`.
    pub per_contract_window: Duration,
    /// See [`per_contract_window`](Self::per_contract_window).
    pub per_contract_max: usize,
    /// Added to a wait a rule forces (never when no rule binds): IB times
    /// requests on arrival, and network jitter must not turn an exact wait
    /// into a violation.
    pub margin: Duration,
}

impl PacingRules {
    /// IB's published limits.
    pub const IB: PacingRules = PacingRules {
        identical_gap: Duration::from_secs(15),
        window: Duration::from_secs(600),
        window_max: 60,
        per_contract_window: Duration::from_secs(2),
        per_contract_max: 6,
        margin: Duration::from_millis(250),
    };

    /// Every duration divided by `factor` (counts unchanged): a shortened
    /// configuration for tests, used together with the same one in the fake
    /// gateway.
    #[must_use]
    pub fn scaled_down(self, factor: u32) -> PacingRules {
        let f = factor.max(1);
        PacingRules {
            identical_gap: self.identical_gap / f,
            window: self.window / f,
            per_contract_window: self.per_contract_window / f,
            margin: self.margin / f,
            ..self
        }
    }

    fn horizon(&self) -> Duration {
        self.identical_gap
            .max(self.window)
            .max(self.per_contract_window)
    }
}

/// One historical request, as the rules see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoricalRequest {
    /// The contract (for example `SPY STK`).
    pub contract: String,
    /// Everything else that makes two requests identical (data type,
    /// duration, bar size, end).
    pub detail: String,
}

#[derive(Debug)]
struct Sent {
    id: u64,
    at: Instant,
    request: HistoricalRequest,
}

#[derive(Debug, Default)]
struct Log {
    next_id: u64,
    sent: VecDeque<Sent>,
}

/// Waits historical requests into IB's pacing rules.
#[derive(Debug)]
pub struct HistoricalPacer {
    rules: PacingRules,
    log: Arc<Mutex<Log>>,
}

/// A request let through; hold it until its answer came (see the module
/// docs): dropping it records the request as sent at that moment.
#[derive(Debug)]
#[must_use = "drop the ticket when the request is answered"]
pub struct PacingTicket {
    id: u64,
    log: Arc<Mutex<Log>>,
}

impl Drop for PacingTicket {
    fn drop(&mut self) {
        let now = Instant::now();
        let mut log = self.log.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(s) = log.sent.iter_mut().find(|s| s.id == self.id) {
            s.at = s.at.max(now);
        }
    }
}

impl HistoricalPacer {
    /// A pacer with no request sent yet.
    #[must_use]
    pub fn new(rules: PacingRules) -> Self {
        Self {
            rules,
            log: Arc::new(Mutex::new(Log::default())),
        }
    }

    /// The rules.
    #[must_use]
    pub fn rules(&self) -> PacingRules {
        self.rules
    }

    /// Waits until `request` may be sent, then records it as sent (until
    /// the ticket is dropped, at the moment of this call). When it could
    /// only be sent more than `max_wait` from now, records nothing and
    /// returns `Err(wait)`: how long from now it could be sent.
    pub async fn acquire(
        &self,
        request: &HistoricalRequest,
        max_wait: Duration,
    ) -> Result<PacingTicket, Duration> {
        let deadline = Instant::now() + max_wait;
        loop {
            let at = {
                let mut log = self.log.lock().unwrap_or_else(PoisonError::into_inner);
                let now = Instant::now();
                let horizon = self.rules.horizon();
                log.sent
                    .retain(|s| now.saturating_duration_since(s.at) < horizon);
                let at = self.earliest(&log.sent, request, now);
                if at <= now {
                    let id = log.next_id;
                    log.next_id += 1;
                    log.sent.push_back(Sent {
                        id,
                        at: now,
                        request: request.clone(),
                    });
                    return Ok(PacingTicket {
                        id,
                        log: self.log.clone(),
                    });
                }
                if at > deadline {
                    return Err(at - now);
                }
                at
            };
            tokio::time::sleep_until(at).await;
        }
    }

    /// The earliest moment `request` may be sent given what was sent.
    fn earliest(
        &self,
        sent: &VecDeque<Sent>,
        request: &HistoricalRequest,
        now: Instant,
    ) -> Instant {
        let r = &self.rules;
        let mut at = now;
        if let Some(last) = sent.iter().rev().find(|s| s.request == *request) {
            at = at.max(last.at + r.identical_gap);
        }
        // Sliding windows: with `max` already in the window, wait until the
        // oldest of the last `max` leaves it.
        let mut in_window: Vec<Instant> = sent
            .iter()
            .filter(|s| now.saturating_duration_since(s.at) < r.window)
            .map(|s| s.at)
            .collect();
        in_window.sort();
        if r.window_max > 0 && in_window.len() >= r.window_max {
            at = at.max(in_window[in_window.len() - r.window_max] + r.window);
        }
        let mut same: Vec<Instant> = sent
            .iter()
            .filter(|s| {
                s.request.contract == request.contract
                    && now.saturating_duration_since(s.at) < r.per_contract_window
            })
            .map(|s| s.at)
            .collect();
        same.sort();
        if r.per_contract_max > 0 && same.len() >= r.per_contract_max {
            at = at.max(same[same.len() - r.per_contract_max] + r.per_contract_window);
        }
        if at > now {
            at += r.margin;
        }
        at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(contract: &str, detail: &str) -> HistoricalRequest {
        HistoricalRequest {
            contract: contract.into(),
            detail: detail.into(),
        }
    }

    /// Sends `requests` through the pacer as fast as it allows and returns
    /// the send times relative to the start.
    async fn send_all(pacer: &HistoricalPacer, requests: &[HistoricalRequest]) -> Vec<Duration> {
        let start = Instant::now();
        let mut at = Vec::new();
        for r in requests {
            drop(pacer.acquire(r, Duration::from_secs(3600)).await.unwrap());
            at.push(start.elapsed());
        }
        at
    }

    #[tokio::test(start_paused = true)]
    async fn limiter_holds_ib_rules_with_real_numbers() {
        let pacer = HistoricalPacer::new(PacingRules::IB);
        // Identical request: the second waits 15 s.
        let t = send_all(
            &pacer,
            &[req("SPY STK", "IV 1 Y"), req("SPY STK", "IV 1 Y")],
        )
        .await;
        let m = PacingRules::IB.margin;
        assert_eq!(t, vec![Duration::ZERO, Duration::from_secs(15) + m]);

        // One contract: the 7th distinct request within 2 s waits for the 1st
        // to leave the 2 s window.
        let pacer = HistoricalPacer::new(PacingRules::IB);
        let reqs: Vec<_> = (0..7).map(|i| req("AAPL STK", &format!("d{i}"))).collect();
        let t = send_all(&pacer, &reqs).await;
        assert!(t[..6].iter().all(|d| *d == Duration::ZERO), "{t:?}");
        assert_eq!(t[6], Duration::from_secs(2) + m);

        // 61 distinct contracts: the 61st waits until the 1st is 10 min old.
        let pacer = HistoricalPacer::new(PacingRules::IB);
        let reqs: Vec<_> = (0..61)
            .map(|i| req(&format!("S{i} STK"), "IV 1 Y"))
            .collect();
        let t = send_all(&pacer, &reqs).await;
        assert!(t[..60].iter().all(|d| *d == Duration::ZERO));
        assert_eq!(t[60], Duration::from_secs(600) + m);
    }

    #[tokio::test(start_paused = true)]
    async fn limiter_refuses_a_wait_longer_than_allowed() {
        let pacer = HistoricalPacer::new(PacingRules::IB);
        let r = req("SPY STK", "IV 1 Y");
        drop(pacer.acquire(&r, Duration::ZERO).await.unwrap());
        tokio::time::advance(Duration::from_secs(5)).await;
        // 10 s (+ margin) to go; allowed only 3: refused with the wait,
        // nothing recorded.
        let wait = Duration::from_secs(10) + PacingRules::IB.margin;
        assert_eq!(
            pacer.acquire(&r, Duration::from_secs(3)).await.unwrap_err(),
            wait
        );
        let start = Instant::now();
        drop(pacer.acquire(&r, wait).await.unwrap());
        assert_eq!(start.elapsed(), wait);
    }

    #[tokio::test(start_paused = true)]
    async fn limiter_counts_a_request_from_when_its_answer_came() {
        // The request was queued 5 s before IB saw it: the identical one
        // waits 15 s from the answer, not from the release.
        let pacer = HistoricalPacer::new(PacingRules::IB);
        let r = req("SPY STK", "IV 1 Y");
        let start = Instant::now();
        let ticket = pacer.acquire(&r, Duration::ZERO).await.unwrap();
        tokio::time::advance(Duration::from_secs(5)).await;
        drop(ticket);
        drop(pacer.acquire(&r, Duration::from_secs(60)).await.unwrap());
        assert_eq!(
            start.elapsed(),
            Duration::from_secs(20) + PacingRules::IB.margin
        );
    }

    #[tokio::test(start_paused = true)]
    async fn limiter_never_breaks_a_rule_in_a_mixed_burst() {
        let pacer = HistoricalPacer::new(PacingRules::IB);
        let mut reqs = Vec::new();
        for round in 0..3 {
            for s in 0..30 {
                reqs.push(req(&format!("S{s} STK"), &format!("r{}", round % 2)));
            }
        }
        let t = send_all(&pacer, &reqs).await;
        let sent: Vec<(Duration, &HistoricalRequest)> = t.into_iter().zip(&reqs).collect();
        for (i, (at, r)) in sent.iter().enumerate() {
            let earlier = &sent[..i];
            assert!(!earlier
                .iter()
                .any(|(a, e)| *e == *r && *at - *a < Duration::from_secs(15)));
            let window = earlier
                .iter()
                .filter(|(a, _)| *at - *a < Duration::from_secs(600))
                .count();
            assert!(window < 60, "request {i}: {window} in the window");
            let same = earlier
                .iter()
                .filter(|(a, e)| e.contract == r.contract && *at - *a < Duration::from_secs(2))
                .count();
            assert!(same < 6);
        }
    }
}
