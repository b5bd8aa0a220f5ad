//! Conditions: a state that lasts (the bridge is down, trading is halted, the
//! books drifted) alerts once when it starts and exactly once "resolved" when
//! it clears, however many cron runs observe it in between.
//!
//! [`observe`] is a pure step over the stored [`ConditionState`] and one
//! [`ConditionObservation`]: it returns the next state and at most one alert.
//! The caller stores the state with a compare-and-set on
//! [`ConditionState::version`] in the same batch as the alert's outbox row,
//! so two racing runs cannot both raise. Keys are derived from the episode's
//! start (`since_ms`), so replaying the same step gives the same key and the
//! outbox stores it once.

use serde::{Deserialize, Serialize};

use super::event::{Alert, AlertKind, AlertLink, AlertSettings, EventKey};

/// Longest stored detail, characters.
pub const MAX_DETAIL_CHARS: usize = 500;

/// The stored state of one condition (`alert_conditions` row).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConditionState {
    pub kind: AlertKind,
    /// What the condition is about (`bridge`, `ingest`, a symbol...).
    pub subject: String,
    /// Whether the condition holds now.
    pub active: bool,
    /// Start of the current (or last) episode, Unix ms.
    pub since_ms: i64,
    /// Last observation, Unix ms.
    pub observed_ms: i64,
    /// The detail of the observation that raised it (or cleared it).
    pub detail: String,
    /// Incremented on every stored change (compare-and-set).
    pub version: i64,
}

/// What a run saw of one condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionObservation {
    pub kind: AlertKind,
    pub subject: String,
    /// The condition holds now.
    pub active: bool,
    /// What was seen (`bridge unreachable: connection refused`), for the alert.
    pub detail: String,
    pub at_ms: i64,
}

impl ConditionObservation {
    /// Ingestion failed `consecutive_failures` runs in a row: active from
    /// `threshold` failures on (a threshold of 0 counts as 1).
    pub fn ingestion(
        consecutive_failures: u32,
        threshold: u32,
        last_error: &str,
        at_ms: i64,
    ) -> ConditionObservation {
        ConditionObservation {
            kind: AlertKind::IngestionFailing,
            subject: "ingest".to_owned(),
            active: consecutive_failures >= threshold.max(1),
            detail: format!("{consecutive_failures} failed runs in a row; last: {last_error}"),
            at_ms,
        }
    }
}

/// The result of one [`observe`] step.
#[derive(Debug, Clone, PartialEq)]
pub struct ConditionStep {
    /// The state to store (`None`: nothing to store — a condition never seen
    /// active and observed clear).
    pub state: Option<ConditionState>,
    /// The version the stored row must still have for the write to win (0:
    /// no row yet).
    pub expected_version: i64,
    /// The alert to enqueue with the state, if any (`None` also when the
    /// kind is off in the settings; the state is stored all the same).
    pub alert: Option<Alert>,
}

impl ConditionStep {
    /// Whether anything must be written.
    pub fn writes(&self) -> bool {
        self.state.is_some()
    }
}

fn cut(s: &str) -> String {
    s.chars().take(MAX_DETAIL_CHARS).collect()
}

fn title(kind: AlertKind, subject: &str, resolved: bool) -> String {
    let what = match kind {
        AlertKind::RiskHalt => "Trading halted",
        AlertKind::ReconciliationDrift => "Books differ from the broker",
        AlertKind::IngestionFailing => "Ingestion failing",
        AlertKind::BridgeDisconnected => "Bridge disconnected",
        AlertKind::IbDegraded => "IB connection degraded",
        AlertKind::DataDelayed => "Market data delayed",
        AlertKind::ArchiveBehind => "Archive behind",
        _ => kind.as_str(),
    };
    let subject = if subject.is_empty() || subject == "bridge" || subject == "ingest" {
        String::new()
    } else {
        format!(" ({subject})")
    };
    if resolved {
        let cleared = match kind {
            AlertKind::RiskHalt => "Halt cleared",
            AlertKind::BridgeDisconnected => "Bridge reconnected",
            _ => "Cleared",
        };
        format!("{cleared}: {what}{subject}")
    } else {
        format!("{what}{subject}")
    }
}

/// The key of an episode's raise (`phase` = `raised`) or resolution.
pub fn condition_key(kind: AlertKind, subject: &str, since_ms: i64, phase: &str) -> EventKey {
    EventKey::from_parts(kind, &[subject, &since_ms.to_string(), phase])
}

/// One step: the stored `state` (if any) and what a run observed.
///
/// - inactive → active: a new episode starting at the observation, one
///   alert (`...:<since>:raised`);
/// - active → active: the observation time is kept, no alert;
/// - active → inactive: one "resolved" alert (`...:<since>:resolved`);
/// - inactive → inactive: nothing is written.
///
/// An observation older than the stored one is ignored (nothing written),
/// so a slow run cannot undo what a later run stored.
pub fn observe(
    state: Option<&ConditionState>,
    obs: &ConditionObservation,
    settings: &AlertSettings,
) -> ConditionStep {
    let expected_version = state.map_or(0, |s| s.version);
    let nothing = ConditionStep {
        state: None,
        expected_version,
        alert: None,
    };
    if state.is_some_and(|s| obs.at_ms < s.observed_ms) {
        return nothing;
    }
    let was_active = state.is_some_and(|s| s.active);
    match (was_active, obs.active) {
        (false, false) => nothing,
        (false, true) => {
            let since_ms = obs.at_ms;
            let next = ConditionState {
                kind: obs.kind,
                subject: obs.subject.clone(),
                active: true,
                since_ms,
                observed_ms: obs.at_ms,
                detail: cut(&obs.detail),
                version: expected_version + 1,
            };
            let alert = Alert::new(
                condition_key(obs.kind, &obs.subject, since_ms, "raised"),
                obs.kind,
                &title(obs.kind, &obs.subject, false),
                &obs.detail,
                Some(AlertLink::Control),
                obs.at_ms,
                false,
                settings,
            );
            ConditionStep {
                state: Some(next),
                expected_version,
                alert,
            }
        }
        (true, true) => {
            // Still active: keep the episode, no alert. The row is touched
            // only to record the observation time (cheap, and it lets the
            // out-of-order check above work).
            let Some(prev) = state else { return nothing };
            ConditionStep {
                state: Some(ConditionState {
                    observed_ms: obs.at_ms,
                    version: expected_version + 1,
                    ..prev.clone()
                }),
                expected_version,
                alert: None,
            }
        }
        (true, false) => {
            let Some(prev) = state else { return nothing };
            let minutes = (obs.at_ms - prev.since_ms).max(0) / 60_000;
            let body = format!(
                "Cleared after {minutes} min. Was: {}{}",
                prev.detail,
                if obs.detail.is_empty() {
                    String::new()
                } else {
                    format!(" Now: {}", obs.detail)
                }
            );
            let alert = Alert::new(
                condition_key(obs.kind, &obs.subject, prev.since_ms, "resolved"),
                obs.kind,
                &title(obs.kind, &obs.subject, true),
                &body,
                Some(AlertLink::Control),
                obs.at_ms,
                true,
                settings,
            );
            ConditionStep {
                state: Some(ConditionState {
                    active: false,
                    observed_ms: obs.at_ms,
                    detail: cut(&obs.detail),
                    version: expected_version + 1,
                    ..prev.clone()
                }),
                expected_version,
                alert,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(active: bool, at_ms: i64) -> ConditionObservation {
        ConditionObservation {
            kind: AlertKind::BridgeDisconnected,
            subject: "bridge".into(),
            active,
            detail: if active {
                "bridge unreachable: connection refused".into()
            } else {
                String::new()
            },
            at_ms,
        }
    }

    /// Runs the observations through `observe`, storing each step's state,
    /// and returns the alerts in order.
    fn run(observations: &[ConditionObservation]) -> Vec<Alert> {
        let settings = AlertSettings::default();
        let mut state: Option<ConditionState> = None;
        let mut alerts = Vec::new();
        for o in observations {
            let step = observe(state.as_ref(), o, &settings);
            if let Some(s) = step.state {
                assert_eq!(s.version, step.expected_version + 1);
                state = Some(s);
            }
            alerts.extend(step.alert);
        }
        alerts
    }

    #[test]
    fn an_outage_alerts_once_then_resolves_once() {
        let alerts = run(&[
            obs(false, 0),
            obs(true, 900_000),
            obs(true, 1_800_000),
            obs(true, 2_700_000),
            obs(false, 3_600_000),
            obs(false, 4_500_000),
        ]);
        assert_eq!(alerts.len(), 2, "{alerts:#?}");
        assert!(!alerts[0].resolved);
        assert_eq!(alerts[0].title, "Bridge disconnected");
        assert_eq!(
            alerts[0].key.as_str(),
            "bridge_disconnected:bridge:900000:raised"
        );
        assert!(alerts[1].resolved);
        assert_eq!(alerts[1].title, "Bridge reconnected: Bridge disconnected");
        assert_eq!(
            alerts[1].key.as_str(),
            "bridge_disconnected:bridge:900000:resolved"
        );
        assert!(alerts[1].body.contains("45 min"), "{}", alerts[1].body);
    }

    #[test]
    fn a_second_outage_is_a_new_episode_with_new_keys() {
        let alerts = run(&[obs(true, 1), obs(false, 2), obs(true, 3), obs(false, 4)]);
        let keys: Vec<_> = alerts.iter().map(|a| a.key.as_str().to_owned()).collect();
        assert_eq!(
            keys,
            [
                "bridge_disconnected:bridge:1:raised",
                "bridge_disconnected:bridge:1:resolved",
                "bridge_disconnected:bridge:3:raised",
                "bridge_disconnected:bridge:3:resolved",
            ]
        );
    }

    #[test]
    fn replaying_a_step_gives_the_same_key() {
        let s = AlertSettings::default();
        let a = observe(None, &obs(true, 10), &s);
        let b = observe(None, &obs(true, 10), &s);
        assert_eq!(a, b);
    }

    #[test]
    fn an_older_observation_changes_nothing() {
        let s = AlertSettings::default();
        let raised = observe(None, &obs(true, 100), &s).state.unwrap();
        let step = observe(Some(&raised), &obs(false, 50), &s);
        assert!(!step.writes());
        assert!(step.alert.is_none());
    }

    #[test]
    fn clear_without_a_prior_episode_writes_nothing() {
        let step = observe(None, &obs(false, 1), &AlertSettings::default());
        assert_eq!(step.state, None);
        assert_eq!(step.alert, None);
    }

    #[test]
    fn an_off_kind_still_tracks_its_state() {
        let off = AlertSettings::parse("bridge_disconnected=off").unwrap();
        let step = observe(None, &obs(true, 1), &off);
        assert!(step.state.is_some_and(|s| s.active));
        assert!(step.alert.is_none());
    }

    #[test]
    fn ingestion_is_active_from_the_threshold_on() {
        assert!(!ConditionObservation::ingestion(2, 3, "bridge down", 1).active);
        assert!(ConditionObservation::ingestion(3, 3, "bridge down", 1).active);
        assert!(ConditionObservation::ingestion(1, 0, "x", 1).active);
    }

    #[test]
    fn resolved_alerts_are_never_louder_than_info() {
        let halt = |active, at_ms| ConditionObservation {
            kind: AlertKind::RiskHalt,
            subject: "daily_loss".into(),
            active,
            detail: "daily loss limit".into(),
            at_ms,
        };
        let alerts = run(&[halt(true, 1), halt(false, 2)]);
        assert_eq!(alerts[0].severity, super::super::event::Severity::Critical);
        assert_eq!(alerts[0].title, "Trading halted (daily_loss)");
        assert_eq!(alerts[1].severity, super::super::event::Severity::Info);
        assert_eq!(alerts[1].title, "Halt cleared: Trading halted (daily_loss)");
    }
}
