//! Property tests of the score, the snapshot factors and the daily statistics:
//! arbitrary (including NaN/inf/negative) inputs never panic and never yield
//! NaN, and the score stays a weighted mean of its factors.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use proptest::prelude::*;
use sas_core::analytics::intraday::{factors_from_snapshots, Snapshot};
use sas_core::analytics::vol;
use sas_core::market::{DailyBar, Symbol};
use sas_core::score::{rank, score_opportunity, FactorInputs, ScoreWeights};

fn any_opt() -> impl Strategy<Value = Option<f64>> {
    proptest::option::of(prop_oneof![any::<f64>(), -10.0..200.0f64])
}

fn any_inputs() -> impl Strategy<Value = FactorInputs> {
    (
        any_opt(),
        any_opt(),
        any_opt(),
        any_opt(),
        any_opt(),
        any_opt(),
    )
        .prop_map(
            |(realized_vol, range_pct, volume_ratio, volume_zscore, momentum_pct, iv_rank)| {
                FactorInputs {
                    realized_vol,
                    range_pct,
                    volume_ratio,
                    volume_zscore,
                    momentum_pct,
                    iv_rank,
                }
            },
        )
}

fn any_weight() -> impl Strategy<Value = f64> {
    prop_oneof![any::<f64>(), 0.0..5.0f64]
}

fn any_weights() -> impl Strategy<Value = ScoreWeights> {
    (
        any_weight(),
        any_weight(),
        any_weight(),
        any_weight(),
        any_weight(),
    )
        .prop_map(
            |(realized_vol, range, iv_rank, volume, momentum)| ScoreWeights {
                realized_vol,
                range,
                iv_rank,
                volume,
                momentum,
            },
        )
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 16, 14, 30, 0).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn score_is_finite_bounded_and_sums_its_contributions(
        inputs in any_inputs(), weights in any_weights(),
    ) {
        let s = score_opportunity(Symbol::parse("SPY").unwrap(), &inputs, &weights);
        prop_assert!(s.score.is_finite() && (0.0..=100.0).contains(&s.score));
        prop_assert!(s.coverage.is_finite() && (0.0..=1.0 + 1e-12).contains(&s.coverage));
        let sum: f64 = s.factors.iter().map(|f| f.contribution).sum();
        prop_assert!((sum - s.score).abs() < 1e-9);
        for f in &s.factors {
            prop_assert!(f.contribution.is_finite() && f.weight.is_finite() && f.weight >= 0.0);
            if let Some(n) = f.normalized {
                prop_assert!((0.0..=100.0).contains(&n));
                prop_assert!(f.raw.is_some_and(f64::is_finite));
            } else {
                prop_assert_eq!(f.contribution, 0.0);
            }
        }
        // serializes (no NaN reaches JSON)
        let json = serde_json::to_string(&s).unwrap();
        prop_assert!(!json.contains("NaN"));
    }

    /// Raising any one measured factor never lowers the score (each map is
    /// non-decreasing; momentum is direction-neutral so use its magnitude).
    #[test]
    fn score_is_monotone_in_each_factor(
        base in 0.0..150.0f64, bump in 0.0..50.0f64, which in 0usize..5,
    ) {
        let mk = |x: f64| {
            let mut f = FactorInputs {
                realized_vol: Some(0.3),
                range_pct: Some(1.0),
                volume_ratio: Some(1.0),
                volume_zscore: None,
                momentum_pct: Some(1.0),
                iv_rank: Some(50.0),
            };
            match which {
                0 => f.realized_vol = Some(x / 100.0),
                1 => f.range_pct = Some(x / 20.0),
                2 => f.volume_ratio = Some(x / 30.0),
                3 => f.momentum_pct = Some(x / 30.0),
                _ => f.iv_rank = Some(x.min(100.0)),
            }
            score_opportunity(Symbol::parse("A").unwrap(), &f, &ScoreWeights::default()).score
        };
        prop_assert!(mk(base + bump) >= mk(base) - 1e-12);
    }

    #[test]
    fn rank_is_sorted_and_a_permutation(scores in proptest::collection::vec((0usize..20, any::<f64>()), 0..30)) {
        let list: Vec<_> = scores
            .iter()
            .map(|(i, _)| {
                let inputs = FactorInputs { realized_vol: Some(*i as f64 / 20.0), ..FactorInputs::default() };
                score_opportunity(Symbol::parse(&format!("S{i}")).unwrap(), &inputs, &ScoreWeights::default())
            })
            .collect();
        let ranked = rank(list.clone());
        prop_assert_eq!(ranked.len(), list.len());
        for w in ranked.windows(2) {
            prop_assert!(w[0].score > w[1].score || (w[0].score == w[1].score && w[0].symbol <= w[1].symbol));
        }
    }

    #[test]
    fn snapshots_with_garbage_never_give_nan(
        raw in proptest::collection::vec((0i64..5 * 86_400, any::<f64>(), any::<u64>()), 0..200),
    ) {
        let snaps: Vec<Snapshot> = raw
            .iter()
            .map(|(dt, last, volume)| Snapshot { t: t0() + chrono::Duration::seconds(*dt), last: *last, volume: *volume })
            .collect();
        let f = factors_from_snapshots(&snaps);
        for v in [f.realized_vol, f.range_pct, f.volume_ratio, f.momentum_pct].into_iter().flatten() {
            prop_assert!(v.is_finite());
        }
        prop_assert!(f.realized_vol.is_none_or(|v| v >= 0.0));
        prop_assert!(f.range_pct.is_none_or(|v| v >= 0.0));
    }

    /// Order of snapshots does not matter.
    #[test]
    fn snapshot_order_is_irrelevant(
        steps in proptest::collection::vec((-0.01..0.01f64, 0u64..10_000), 8..60),
        seed in any::<u64>(),
    ) {
        let mut px = 100.0;
        let mut vol = 0;
        let snaps: Vec<Snapshot> = steps
            .iter()
            .enumerate()
            .map(|(i, (r, v))| {
                px *= r.exp();
                vol += v;
                Snapshot { t: t0() + chrono::Duration::minutes(15 * i as i64), last: px, volume: vol }
            })
            .collect();
        let mut shuffled = snaps.clone();
        let n = shuffled.len();
        for i in 0..n {
            let j = ((seed.wrapping_mul(6364136223846793005).wrapping_add(i as u64)) % n as u64) as usize;
            shuffled.swap(i, j);
        }
        prop_assert_eq!(factors_from_snapshots(&snaps), factors_from_snapshots(&shuffled));
    }

    #[test]
    fn daily_stats_never_nan(
        raw in proptest::collection::vec((any::<f64>(), any::<f64>(), any::<f64>(), any::<f64>(), any::<u64>()), 0..80),
        ivs in proptest::collection::vec(any::<f64>(), 0..300),
        current in any::<f64>(),
    ) {
        let bars: Vec<DailyBar> = raw
            .iter()
            .enumerate()
            .map(|(i, (o, h, l, c, v))| DailyBar {
                date: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap() + chrono::Days::new(i as u64),
                open: *o, high: *h, low: *l, close: *c, volume: *v,
            })
            .collect();
        let mut all = vec![
            vol::close_to_close_vol(&bars, 10),
            vol::close_to_close_vol(&bars, 20),
            vol::yang_zhang_vol(&bars, 20),
            vol::parkinson_vol(&bars, 10),
            vol::volume_zscore(&bars, 20),
            vol::vol_of_vol(&ivs, 20),
        ];
        let m = vol::momentum(&bars);
        all.extend([m.roc_1d_pct, m.roc_20d_pct, m.vs_sma20_pct, m.vs_sma50_pct, m.trend_20d_pct_per_day]);
        for v in all.into_iter().flatten() {
            prop_assert!(v.is_finite());
        }
        if let Some(r) = vol::iv_rank(&ivs, current) {
            prop_assert!(r.iv_rank.is_none_or(|x| (0.0..=100.0).contains(&x)));
            prop_assert!((0.0..=100.0).contains(&r.iv_percentile));
            prop_assert!(r.days >= 2 && r.days <= 252);
        }
    }
}
