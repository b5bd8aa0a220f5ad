//! Properties of the alerts' pure parts (`sas_core::alerts`): text cuts stay
//! within limits on character boundaries, every channel's request stays
//! within its limit, backoff is bounded and monotone, retries never wait past
//! the cap nor outlive the attempt budget, the rate cap holds over any
//! minute, and a condition alternates raise / resolve with unique keys.
#![allow(clippy::unwrap_used)] // fixture set-up: a failure here is a broken test, not input

mod alerts {
    use proptest::prelude::*;
    use sas_core::alerts::channel::{build_request, ChannelConfig, ChannelKind, Secret};
    use sas_core::alerts::condition::{observe, ConditionObservation, ConditionState};
    use sas_core::alerts::delivery::{
        backoff_ms, classify_answer, rate_decision, AnswerOutcome, ChannelAnswer, RateDecision,
        RetryPolicy, SendFailure, MINUTE_MS,
    };
    use sas_core::alerts::event::{Alert, AlertKind, AlertLink, AlertSettings, EventKey};
    use sas_core::alerts::text::{truncate, Measure, ELLIPSIS};

    fn measure() -> impl Strategy<Value = Measure> {
        prop_oneof![Just(Measure::Bytes), Just(Measure::Chars)]
    }

    fn channels() -> Vec<ChannelConfig> {
        vec![
            ChannelConfig::Ntfy {
                server: "https://ntfy.sh".into(),
                topic: Secret::new("t"),
                token: None,
            },
            ChannelConfig::Telegram {
                api_url: "https://api.telegram.org".into(),
                bot_token: Secret::new("1:x"),
                chat_id: "1".into(),
            },
            ChannelConfig::Discord {
                webhook_url: Secret::new("https://discord.com/api/webhooks/1/x"),
            },
            ChannelConfig::Slack {
                webhook_url: Secret::new("https://hooks.slack.com/services/x"),
            },
            ChannelConfig::Webhook {
                url: Secret::new("https://example.com/hook"),
                token: None,
            },
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn a_cut_fits_and_is_a_prefix(s in "\\PC{0,300}", max in 0usize..400, m in measure()) {
            let cut = truncate(&s, max, m);
            if m.of(&s) <= max {
                prop_assert_eq!(&cut, &s);
            } else {
                prop_assert!(m.of(&cut) <= max);
                if let Some(head) = cut.strip_suffix(ELLIPSIS) {
                    prop_assert!(s.starts_with(head));
                } else {
                    prop_assert!(cut.is_empty());
                }
            }
        }

        #[test]
        fn every_channel_request_is_json_within_its_limit(
            title in "\\PC{0,300}",
            body in "\\PC{0,3000}",
            silent in any::<bool>(),
            resolved in any::<bool>(),
        ) {
            let alert = Alert::new(
                EventKey::new("fill:k").unwrap(),
                AlertKind::Fill,
                &title,
                &body.repeat(3),
                Some(AlertLink::Proposal(1)),
                0,
                resolved,
                &AlertSettings::default(),
            ).unwrap();
            let alert = Alert { silent, ..alert };
            for ch in channels() {
                let req = build_request(&ch, &alert, Some("https://sas.example.com"));
                let v: serde_json::Value = serde_json::from_str(&req.body).unwrap();
                let (max, m) = ch.kind().text_limit();
                let text = match ch.kind() {
                    ChannelKind::Ntfy => v["message"].as_str(),
                    ChannelKind::Telegram | ChannelKind::Slack => v["text"].as_str(),
                    ChannelKind::Discord => v["content"].as_str(),
                    ChannelKind::Webhook => v["body"].as_str(),
                }.unwrap().to_owned();
                prop_assert!(m.of(&text) <= max, "{:?} {}", ch.kind(), m.of(&text));
                if ch.kind() == ChannelKind::Telegram {
                    prop_assert!(!text.is_empty());
                }
            }
        }

        #[test]
        fn backoff_is_monotone_and_capped(
            base in 0i64..100_000,
            cap in 0i64..10_000_000,
            attempt in 0u32..200,
        ) {
            let p = RetryPolicy { base_delay_ms: base, max_delay_ms: cap, max_attempts: 5 };
            let a = backoff_ms(&p, attempt);
            let b = backoff_ms(&p, attempt + 1);
            prop_assert!(a >= 0 && a <= cap);
            prop_assert!(b >= a);
        }

        #[test]
        fn retries_stay_within_the_cap_and_the_attempt_budget(
            status in 100u16..600,
            header in proptest::option::of("[0-9]{1,7}"),
            attempts in 1u32..15,
            now in 0i64..4_000_000_000_000,
            lost in any::<bool>(),
        ) {
            let p = RetryPolicy::default();
            let answer = if lost {
                Err(SendFailure::Timeout { after_ms: 10_000 })
            } else {
                Ok(ChannelAnswer { status, retry_after_header: header, body: String::new() })
            };
            match classify_answer(ChannelKind::Discord, &answer, attempts, now, &p) {
                AnswerOutcome::RetryAt { at_ms, .. } => {
                    prop_assert!(attempts < p.max_attempts);
                    prop_assert!(at_ms >= now && at_ms <= now + p.max_delay_ms);
                }
                AnswerOutcome::Delivered => prop_assert!(!lost && (200..300).contains(&status)),
                AnswerOutcome::GiveUp { .. } => {}
            }
        }

        #[test]
        fn the_rate_cap_holds_over_any_minute(
            gaps in proptest::collection::vec(0i64..20_000, 1..120),
            cap in 1u32..20,
        ) {
            // A sender that asks before each send and waits when told to.
            let mut sent: Vec<i64> = Vec::new();
            let mut now = 0;
            for gap in gaps {
                now += gap;
                match rate_decision(&sent, now, cap) {
                    RateDecision::SendNow => sent.push(now),
                    RateDecision::WaitUntil(t) => {
                        prop_assert!(t > now);
                        prop_assert_eq!(rate_decision(&sent, t, cap), RateDecision::SendNow);
                    }
                }
            }
            for (i, start) in sent.iter().enumerate() {
                let in_minute = sent[i..].iter().filter(|t| **t < start + MINUTE_MS).count();
                prop_assert!(in_minute <= cap as usize, "{} sends in a minute, cap {}", in_minute, cap);
            }
        }

        #[test]
        fn a_condition_alternates_raise_and_resolve_with_unique_keys(
            steps in proptest::collection::vec((any::<bool>(), 1i64..1_000_000), 1..60),
        ) {
            let settings = AlertSettings::default();
            let mut state: Option<ConditionState> = None;
            let mut at = 0;
            let mut alerts = Vec::new();
            for (active, gap) in steps {
                at += gap;
                let obs = ConditionObservation {
                    kind: AlertKind::BridgeDisconnected,
                    subject: "bridge".into(),
                    active,
                    detail: "x".into(),
                    at_ms: at,
                };
                let step = observe(state.as_ref(), &obs, &settings);
                if let Some(s) = step.state {
                    state = Some(s);
                }
                alerts.extend(step.alert);
                // The stored state always says what was last observed.
                prop_assert_eq!(state.as_ref().is_some_and(|s| s.active), active);
            }
            for (i, a) in alerts.iter().enumerate() {
                prop_assert_eq!(a.resolved, i % 2 == 1);
            }
            let mut keys: Vec<_> = alerts.iter().map(|a| a.key.clone()).collect();
            keys.sort();
            keys.dedup();
            prop_assert_eq!(keys.len(), alerts.len());
        }
    }
}
