//! IB's historical-data pacing rules as the fake gateway enforces them: a
//! request that breaks one is answered with error 162 like IB and counted as
//! a violation ([`crate::FakeControls::historical_pacing_violations`]).

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

/// The rules (IB: identical request 15 s, 60 in 10 minutes, 6 per contract
/// in 2 s). Tests may shorten them, stating so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoricalPacing {
    /// No identical request within this long.
    pub identical_gap: Duration,
    /// At most `window_max` requests in any `window`.
    pub window: Duration,
    pub window_max: usize,
    /// At most `per_contract_max` requests for one contract within
    /// `per_contract_window`.
    pub per_contract_window: Duration,
    pub per_contract_max: usize,
}

impl HistoricalPacing {
    /// IB's published limits.
    pub const IB: HistoricalPacing = HistoricalPacing {
        identical_gap: Duration::from_secs(15),
        window: Duration::from_secs(600),
        window_max: 60,
        per_contract_window: Duration::from_secs(2),
        per_contract_max: 6,
    };
}

/// Which rule a request broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacingViolation {
    Identical,
    Window,
    PerContract,
}

/// Historical requests received, to judge the next one.
#[derive(Debug, Default)]
pub(crate) struct HistoricalLog {
    received: VecDeque<(Instant, String, String)>,
}

impl HistoricalLog {
    /// Records a request (`contract` and its full identity `key`) received
    /// at `now` and says which rule, if any, it broke. Every request counts
    /// towards the windows, refused or not (as at IB).
    pub fn record(
        &mut self,
        rules: &HistoricalPacing,
        contract: &str,
        key: &str,
        now: Instant,
    ) -> Option<PacingViolation> {
        let horizon = rules
            .identical_gap
            .max(rules.window)
            .max(rules.per_contract_window);
        while self
            .received
            .front()
            .is_some_and(|(t, _, _)| now.duration_since(*t) >= horizon)
        {
            self.received.pop_front();
        }
        let within = |t: &Instant, d: Duration| now.duration_since(*t) < d;
        let verdict = if self
            .received
            .iter()
            .any(|(t, _, k)| k == key && within(t, rules.identical_gap))
        {
            Some(PacingViolation::Identical)
        } else if self
            .received
            .iter()
            .filter(|(t, _, _)| within(t, rules.window))
            .count()
            >= rules.window_max
        {
            Some(PacingViolation::Window)
        } else if self
            .received
            .iter()
            .filter(|(t, c, _)| c == contract && within(t, rules.per_contract_window))
            .count()
            >= rules.per_contract_max
        {
            Some(PacingViolation::PerContract)
        } else {
            None
        };
        self.received
            .push_back((now, contract.to_string(), key.to_string()));
        verdict
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_rule_is_detected() {
        let rules = HistoricalPacing::IB;
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut log = HistoricalLog::default();
        assert_eq!(log.record(&rules, "SPY", "SPY IV 1Y", t0), None);
        assert_eq!(
            log.record(&rules, "SPY", "SPY IV 1Y", t0 + s(14)),
            Some(PacingViolation::Identical)
        );
        // 15 s after the second (refused requests count too).
        assert_eq!(log.record(&rules, "SPY", "SPY IV 1Y", t0 + s(29)), None);

        let mut log = HistoricalLog::default();
        for i in 0..6 {
            assert_eq!(log.record(&rules, "QQQ", &format!("QQQ {i}"), t0), None);
        }
        assert_eq!(
            log.record(&rules, "QQQ", "QQQ 6", t0 + Duration::from_millis(1_999)),
            Some(PacingViolation::PerContract)
        );

        let mut log = HistoricalLog::default();
        for i in 0..60 {
            let (c, k) = (format!("S{i}"), format!("k{i}"));
            assert_eq!(log.record(&rules, &c, &k, t0), None, "{i}");
        }
        assert_eq!(
            log.record(&rules, "S60", "k60", t0 + s(599)),
            Some(PacingViolation::Window)
        );
        assert_eq!(log.record(&rules, "S61", "k61", t0 + s(600)), None);
    }
}
