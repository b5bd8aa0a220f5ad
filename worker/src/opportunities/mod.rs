//! Opportunities: the read side of the stored market data and chain
//! analytics, a feature in parts: [`model`] (SQL and rows of the stored
//! metrics and chain snapshots), [`ranking`] (the multi-factor ranking of the
//! watchlist), [`service`] (the reads of `/market/*`, `/symbols/*` and
//! `/search/opportunities` over an [`service::OpportunityStore`], with typed
//! errors) and [`view`] (their JSON bodies). `edge::opportunities`
//! implements the store over D1; `http::reads` maps the errors to replies.

pub mod model;
pub mod ranking;
pub mod service;
#[cfg(test)]
mod service_tests;
pub mod view;

pub use model::*;
pub use ranking::*;
pub use view::*;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chains::{analyze_symbol, symbol_statements, SqlValue};
    use crate::store::{LatestRow, SnapshotRow};
    use chrono::{DateTime, Utc};
    use chrono::{Duration, NaiveDate};
    use sas_core::market::Symbol;
    use sas_core::market::{
        ChainExpiry, DailyBar, DataType, OptionChain, OptionQuote, OptionRight, SourceGreeks,
    };
    use sas_core::score::{FactorInputs, ScoreWeights};

    fn sym(s: &str) -> Symbol {
        Symbol::parse(s).unwrap()
    }

    #[test]
    fn stored_factor_floats_read_back_exactly() {
        // The ranking reads the chain step's factors back from JSON text; the
        // IV rank it shows must be the one stored. serde_json's default float
        // parser returned 97.17142287390108 for 97.17142287390107 (and one
        // step off for about a third of such values), which made the chains
        // e2e "IV rank appears …" flaky; `float_roundtrip` parses exactly.
        let stored = FactorInputs {
            iv_rank: Some(97.171_422_873_901_07),
            realized_vol: Some(0.123_456_789_012_345_67),
            ..FactorInputs::default()
        };
        let json = serde_json::to_string(&stored).unwrap();
        let read: FactorInputs = serde_json::from_str(&json).unwrap();
        assert_eq!(read.iv_rank, stored.iv_rank, "{json}");
        assert_eq!(read.realized_vol, stored.realized_vol, "{json}");
    }

    const T0: i64 = 1_795_186_800_000; // 2026-11-20T15:00:00Z

    fn bars(n: usize, wiggle: f64) -> Vec<DailyBar> {
        let mut d = NaiveDate::from_ymd_opt(2026, 11, 19).unwrap();
        let mut out = Vec::new();
        let mut i = 0;
        while out.len() < n {
            if !matches!(
                chrono::Datelike::weekday(&d),
                chrono::Weekday::Sat | chrono::Weekday::Sun
            ) {
                let c = 100.0 * (1.0 + if i % 2 == 0 { wiggle } else { -wiggle });
                out.push(DailyBar {
                    date: d,
                    open: c,
                    high: c * 1.01,
                    low: c * 0.99,
                    close: c,
                    volume: 1_000_000 + (i % 5) * 10_000,
                });
                i += 1;
            }
            d -= Duration::days(1);
        }
        out.reverse();
        out
    }

    /// Two expiries around 30 days, strikes 80-120 priced by core's BSM with
    /// a put skew, quoted one cent either side of the model price.
    fn chain(symbol: &str) -> OptionChain {
        use sas_core::analytics::bsm::{price_and_greeks, BsmInput};
        use sas_core::analytics::chain::time_to_expiry_years;
        let as_of = DateTime::<Utc>::from_timestamp_millis(T0).unwrap();
        let expiry = |y: i32, m: u32, d: u32, dte: u32| {
            let date = NaiveDate::from_ymd_opt(y, m, d).unwrap();
            let t = time_to_expiry_years(as_of, date);
            let mut contracts = Vec::new();
            for k in (0..=16).map(|i| 80.0 + 2.5 * f64::from(i)) {
                for right in [OptionRight::Put, OptionRight::Call] {
                    let vol = 0.30 + 0.4 * (100.0 - k) / 100.0;
                    let (price, _) = price_and_greeks(&BsmInput {
                        spot: 100.0,
                        strike: k,
                        t_years: t,
                        rate: 0.04,
                        div_yield: 0.0,
                        vol,
                        right,
                    });
                    contracts.push(OptionQuote {
                        strike: k,
                        right,
                        bid: Some(price - 0.01),
                        ask: Some(price + 0.01),
                        last: None,
                        volume: Some(if right == OptionRight::Put { 80 } else { 50 }),
                        open_interest: Some(500),
                        greeks: SourceGreeks::default(),
                    });
                }
            }
            ChainExpiry {
                expiry: date,
                dte,
                contracts,
            }
        };
        OptionChain {
            symbol: sym(symbol),
            spot: 100.0,
            as_of,
            data_type: DataType::Simulated,
            dividend_yield: None,
            expiries: vec![expiry(2026, 12, 11, 21), expiry(2027, 1, 15, 56)],
        }
    }

    /// The stored row exactly as the cron writes it (through the statement params).
    fn stored_row(symbol: &str, wiggle: f64, iv_history: &[f64]) -> MetricsRow {
        let a = analyze_symbol(&chain(symbol), &bars(60, wiggle), iv_history, 0.04);
        let now = DateTime::<Utc>::from_timestamp_millis(T0).unwrap();
        let st = symbol_statements(
            &sym(symbol),
            &a,
            None,
            3,
            crate::config::archive::PruneGate::Retention,
            now,
        );
        let p = &st
            .iter()
            .find(|s| s.sql == crate::chains::UPSERT_METRICS_DAILY)
            .unwrap()
            .params;
        let real = |v: &SqlValue| match v {
            SqlValue::Real(x) => Some(*x),
            _ => None,
        };
        let int = |v: &SqlValue| match v {
            SqlValue::Int(x) => Some(*x),
            _ => None,
        };
        let text = |v: &SqlValue| match v {
            SqlValue::Text(x) => Some(x.clone()),
            _ => None,
        };
        MetricsRow {
            date: text(&p[15]),
            ts: int(&p[1]).unwrap(),
            spot: real(&p[2]).unwrap(),
            atm_iv_30d: real(&p[3]),
            iv_rank: real(&p[4]),
            iv_percentile: real(&p[5]),
            iv_history_days: int(&p[6]),
            rv_20d: real(&p[7]),
            skew_25d_30d: real(&p[8]),
            gex_per_1pct: real(&p[9]),
            dex: real(&p[10]),
            contracts_valued: int(&p[11]),
            skips_json: text(&p[12]),
            metrics_json: text(&p[13]),
            factors_json: text(&p[14]),
        }
    }

    #[test]
    fn metrics_point_exposes_every_chart_field() {
        let history: Vec<f64> = (0..40).map(|i| 0.15 + 0.005 * f64::from(i)).collect();
        let row = stored_row("AAPL", 0.01, &history);
        let body = symbol_metrics(&sym("AAPL"), MetricsInterval::Daily, 30, &[row]);
        let v = serde_json::to_value(&body).unwrap();
        assert_eq!(v["symbol"], "AAPL");
        assert_eq!(v["interval"], "daily");
        assert_eq!(v["iv_history_target"], 252);
        let p = &v["metrics"][0];
        assert_eq!(p["date"], "2026-11-20");
        assert_eq!(p["t"], "2026-11-20T15:00:00.000Z");
        assert_eq!(p["iv_history_days"], 41);
        for key in [
            "atm_iv_30d",
            "iv_rank",
            "iv_percentile",
            "rv_10",
            "rv_20",
            "rv_30",
            "rv_yz",
            "iv_rv_spread",
            "skew_25d",
            "volume_z",
            "momentum",
            "pc_volume_ratio",
            "pc_oi_ratio",
            "gex",
            "dex",
        ] {
            assert!(p[key].is_number(), "{key} = {}", p[key]);
        }
        assert!(p.get("term_slope").is_some());
        // Every contract is either valued or counted as skipped (deep
        // out-of-the-money bids at or below zero).
        let skipped: i64 = p["skips"]
            .as_object()
            .unwrap()
            .values()
            .map(|n| n.as_i64().unwrap())
            .sum();
        assert_eq!(p["contracts_valued"].as_i64().unwrap() + skipped, 68);
        assert!(p["contracts_valued"].as_i64().unwrap() > 60);
    }

    #[test]
    fn damaged_json_columns_read_as_absent() {
        let mut row = stored_row("AAPL", 0.01, &[]);
        row.metrics_json = Some("{oops".into());
        row.skips_json = None;
        row.date = None;
        let p = metrics_point(&row);
        assert_eq!(p.rv_10, None);
        assert!(p.rv_20.is_some(), "column value still used");
        assert_eq!(p.iv_history_days, 0);
        let v = serde_json::to_value(&p).unwrap();
        assert!(v.get("date").is_none());
    }

    #[test]
    fn chain_view_unpacks_contracts() {
        let rows = vec![ChainExpiryRow {
            ts: T0,
            expiry: "2026-12-18".into(),
            dte: 28,
            forward: Some(100.3),
            atm_iv: Some(0.3),
            skew_25d: Some(0.02),
            contracts_json: r#"[[100.0,"C",3.65,0.3,0.52,0.04,-0.05,0.11,0.04,50,500],[1,2]]"#
                .into(),
        }];
        let v = chain_view(&sym("SPY"), &rows, Some(100.0)).unwrap();
        assert_eq!(v.as_of, "2026-11-20T15:00:00.000Z");
        assert_eq!(v.expiries[0].contracts.len(), 1, "malformed entry dropped");
        let c = &v.expiries[0].contracts[0];
        assert_eq!(c["strike"], 100.0);
        assert_eq!(c["right"], "C");
        assert_eq!(c["open_interest"], 500);
        assert!(chain_view(&sym("SPY"), &[], None).is_none());
    }

    fn latest(symbol: &str, wiggle: f64, iv_history: &[f64]) -> LatestMetricsRow {
        let r = stored_row(symbol, wiggle, iv_history);
        LatestMetricsRow {
            symbol: symbol.into(),
            ts: r.ts,
            spot: r.spot,
            atm_iv_30d: r.atm_iv_30d,
            iv_rank: r.iv_rank,
            iv_percentile: r.iv_percentile,
            iv_history_days: r.iv_history_days,
            factors_json: r.factors_json,
        }
    }

    /// Two sessions of 15-minute snapshots: a calm symbol and a jumpy one.
    fn two_sessions_of_snapshots() -> Vec<SnapshotRow> {
        const T0: i64 = 1_795_186_800_000; // 2026-11-20T15:00:00Z
        let mut rows = Vec::new();
        for (symbol, amplitude) in [("CALM", 0.0005), ("JUMPY", 0.02)] {
            for day in 0..2_i64 {
                for i in 0..20_i64 {
                    let sign = if i % 2 == 0 { 1.0 } else { -1.0 };
                    rows.push(SnapshotRow {
                        symbol: symbol.into(),
                        ts: T0 - (1 - day) * 86_400_000 + i * 900_000,
                        last: Some(100.0 * (1.0 + sign * amplitude)),
                        volume: Some(1000 * (i + 1)),
                    });
                }
            }
        }
        rows
    }

    /// Before any chain analytics exist (Phase 1), stored quotes alone rank.
    #[test]
    fn opportunities_from_snapshots_alone_rank_the_more_volatile_symbol_first() {
        let wl = [sym("CALM"), sym("JUMPY"), sym("EMPTY")];
        let rows = two_sessions_of_snapshots();
        let o = opportunities(&wl, &[], &rows, &ScoreWeights::default(), 10);
        assert_eq!(
            o.opportunities.len(),
            2,
            "symbols without rows are left out"
        );
        assert_eq!(o.opportunities[0].symbol, "JUMPY");
        assert_eq!(o.opportunities[0].rank, 1);
        assert_eq!(o.opportunities[1].rank, 2);
        assert!(o.opportunities[0].score > o.opportunities[1].score);
        assert_eq!(o.opportunities[0].observations, 40);
        assert_eq!(o.opportunities[0].iv_history_days, 0);
        assert!(o.opportunities[0]
            .factors
            .iter()
            .any(|f| f.name == "realized_vol" && f.normalized.is_some()));
        let limited = opportunities(&wl, &[], &rows, &ScoreWeights::default(), 1);
        assert_eq!(limited.opportunities.len(), 1);
        assert!(opportunities(&wl, &[], &[], &ScoreWeights::default(), 10)
            .opportunities
            .is_empty());
    }

    #[test]
    fn opportunities_use_chain_factors_and_explain_iv_history() {
        let history: Vec<f64> = (0..20).map(|i| 0.10 + 0.002 * f64::from(i)).collect();
        let metrics = vec![latest("CALM", 0.001, &history), latest("JUMPY", 0.03, &[])];
        let wl = [sym("CALM"), sym("JUMPY"), sym("NONE")];
        let o = opportunities(&wl, &metrics, &[], &ScoreWeights::default(), 10);
        assert_eq!(o.scoring, "multi_factor");
        assert_eq!(o.opportunities.len(), 2);
        let calm = o.opportunities.iter().find(|x| x.symbol == "CALM").unwrap();
        let jumpy = o
            .opportunities
            .iter()
            .find(|x| x.symbol == "JUMPY")
            .unwrap();
        assert_eq!(calm.iv_history_days, 21);
        let iv = calm.factors.iter().find(|f| f.name == "iv_rank").unwrap();
        assert!(iv.normalized.is_some());
        assert!(iv.label.contains("only 21 of 252 days"), "{}", iv.label);
        let iv = jumpy.factors.iter().find(|f| f.name == "iv_rank").unwrap();
        assert_eq!(iv.normalized, None);
        assert!(iv.label.contains("no IV history yet"), "{}", iv.label);
        // Realized vol comes from daily bars: the jumpy symbol scores it higher.
        let rv = |o: &RankedOpportunity| {
            o.factors
                .iter()
                .find(|f| f.name == "realized_vol")
                .unwrap()
                .normalized
                .unwrap()
        };
        assert!(rv(jumpy) > rv(calm));
        for op in &o.opportunities {
            let sum: f64 = op.factors.iter().map(|f| f.contribution).sum();
            assert!((sum - op.score).abs() < 1e-9);
            assert_eq!(op.last, Some(100.0), "spot when no snapshots");
        }
        assert_eq!(o.as_of.as_deref(), Some("2026-11-20T15:00:00.000Z"));
        let v = serde_json::to_value(&o).unwrap();
        for key in ["rank", "symbol", "score", "last", "observations", "factors"] {
            assert!(v["opportunities"][0].get(key).is_some(), "{key}");
        }
        let f = &v["opportunities"][0]["factors"][0];
        for key in [
            "name",
            "label",
            "raw",
            "normalized",
            "weight",
            "contribution",
        ] {
            assert!(f.get(key).is_some(), "{key}");
        }
        assert_eq!(v["weights"]["iv_rank"], 2.0);
        assert_eq!(
            opportunities(&wl, &metrics, &[], &ScoreWeights::default(), 1)
                .opportunities
                .len(),
            1
        );
    }

    #[test]
    fn weights_change_the_ranking() {
        let history: Vec<f64> = (0..20).map(|i| 0.40 - 0.01 * f64::from(i)).collect();
        // CALM has a high IV rank (its IV is above the falling history); JUMPY
        // has none but a high realized vol.
        let metrics = vec![latest("CALM", 0.001, &history), latest("JUMPY", 0.03, &[])];
        let wl = [sym("CALM"), sym("JUMPY")];
        let iv_only = crate::chains::parse_score_weights(
            "realized_vol=0,range=0,volume=0,momentum=0,iv_rank=1",
        )
        .unwrap();
        let vol_only = crate::chains::parse_score_weights(
            "realized_vol=1,range=0,volume=0,momentum=0,iv_rank=0",
        )
        .unwrap();
        let by_iv = opportunities(&wl, &metrics, &[], &iv_only, 10);
        let by_vol = opportunities(&wl, &metrics, &[], &vol_only, 10);
        assert_eq!(by_iv.opportunities[0].symbol, "CALM");
        assert_eq!(by_vol.opportunities[0].symbol, "JUMPY");
    }

    #[test]
    fn intraday_snapshots_fill_session_factors() {
        let snaps: Vec<SnapshotRow> = (0..10_i64)
            .map(|i| SnapshotRow {
                symbol: "JUMPY".into(),
                ts: T0 + i * 900_000,
                last: Some(100.0 + if i % 2 == 0 { 1.0 } else { -1.0 }),
                volume: Some(1000 * (i + 1)),
            })
            .collect();
        let metrics = vec![latest("JUMPY", 0.03, &[])];
        let o = opportunities(
            &[sym("JUMPY")],
            &metrics,
            &snaps,
            &ScoreWeights::default(),
            10,
        );
        let op = &o.opportunities[0];
        assert_eq!(op.observations, 10);
        assert_eq!(op.last, Some(99.0));
        let range = op.factors.iter().find(|f| f.name == "range").unwrap();
        assert!((range.raw.unwrap() - 2.0 / 99.0 * 100.0).abs() < 1e-9);
        // Snapshots alone still rank (phase-1 behaviour), with no IV rank.
        let o = opportunities(&[sym("JUMPY")], &[], &snaps, &ScoreWeights::default(), 10);
        assert_eq!(o.opportunities[0].iv_history_days, 0);
        assert_eq!(o.opportunities[0].metrics_as_of, None);
    }

    #[test]
    fn combine_prefers_the_documented_sources() {
        let chain = FactorInputs {
            realized_vol: Some(0.3),
            range_pct: Some(1.0),
            volume_ratio: None,
            volume_zscore: Some(1.5),
            momentum_pct: Some(-0.5),
            iv_rank: Some(40.0),
        };
        let intraday = FactorInputs {
            realized_vol: Some(0.9),
            range_pct: Some(2.0),
            volume_ratio: Some(1.2),
            volume_zscore: None,
            momentum_pct: Some(f64::NAN),
            iv_rank: None,
        };
        let c = combine_factors(Some(&chain), &intraday);
        assert_eq!(c.realized_vol, Some(0.3));
        assert_eq!(c.range_pct, Some(2.0));
        assert_eq!(c.volume_ratio, Some(1.2));
        assert_eq!(c.volume_zscore, Some(1.5));
        assert_eq!(c.momentum_pct, Some(-0.5), "NaN intraday falls back");
        assert_eq!(c.iv_rank, Some(40.0));
        assert_eq!(combine_factors(None, &intraday).realized_vol, Some(0.9));
        assert_eq!(skip_counts(r#"{"zero_price":3}"#)["zero_price"], 3);
        assert!(skip_counts("x").is_empty());
        assert_eq!(
            MetricsInterval::parse("daily"),
            Some(MetricsInterval::Daily)
        );
        assert_eq!(MetricsInterval::parse("weekly"), None);
    }

    #[test]
    fn latest_reports_newest_time() {
        let rows = vec![
            LatestRow {
                symbol: "AAPL".into(),
                ts: T0,
                bid: Some(1.0),
                ask: Some(1.1),
                last: Some(1.05),
                volume: Some(5),
                data_type: "simulated".into(),
            },
            LatestRow {
                symbol: "SPY".into(),
                ts: T0 + 1000,
                bid: None,
                ask: None,
                last: Some(2.0),
                volume: None,
                data_type: "delayed".into(),
            },
        ];
        let l = view::latest(rows);
        assert_eq!(l.as_of.as_deref(), Some("2026-11-20T15:00:01.000Z"));
        assert_eq!(l.quotes[0].timestamp, "2026-11-20T15:00:00.000Z");
        assert_eq!(view::latest(Vec::new()).as_of, None);
    }
}
