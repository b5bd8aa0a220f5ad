//! The calibrated simulator over a simulated month (issue 14): through the
//! data-quality gate, the analytics with the IV history and the strategy
//! engine, every watchlist symbol has an IV rank from the first session,
//! the gate holds nothing on clean simulated data, and the proposals include
//! credit spreads of both kinds and debit trades (seeds 1 and 2) and iron
//! condors (seed 1), each citing the IV rank and the days it rests on. Same
//! engine as `cargo run -p sas-sim-market --example month_report`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../examples/month/mod.rs"]
mod month;

#[test]
fn a_simulated_month_proposes_every_family_with_the_iv_rank_cited() {
    for seed in [1u64, 2] {
        let r = month::run(seed).unwrap();
        let n = r.days.len() * r.symbols;
        assert_eq!(r.days.len(), month::SESSIONS);
        assert_eq!(r.held, 0, "seed {seed}: clean simulated data is never held");
        // 40 strikes reach far out of the money, where the gate drops
        // zero-bid and wide quotes.
        assert!(
            r.dropped * 20 < r.contracts,
            "seed {seed}: under 5 % dropped ({} of {})",
            r.dropped,
            r.contracts
        );
        assert_eq!(
            r.ranks.len(),
            n,
            "seed {seed}: IV rank known on every symbol-day"
        );
        assert!(r.rank_days_min.unwrap() >= 200, "{:?}", r.rank_days_min);
        // IV rank spread over its range across the watchlist.
        let low = r.ranks.iter().filter(|x| **x < 20.0).count();
        let high = r.ranks.iter().filter(|x| **x >= 60.0).count();
        assert!(
            low > 0 && high * 10 >= n,
            "seed {seed}: {low} low, {high} high of {n}"
        );
        let count = |k: &str| r.by_strategy.get(k).copied().unwrap_or(0);
        let (bull_put, bear_call) = (
            count("bull_put_credit_spread"),
            count("bear_call_credit_spread"),
        );
        let debit = count("bull_call_debit_spread") + count("bear_put_debit_spread");
        assert!(
            bull_put >= 1 && bear_call >= 1 && bull_put + bear_call >= 5,
            "seed {seed}: {:?}",
            r.by_strategy
        );
        assert!(debit >= 20, "seed {seed}: {:?}", r.by_strategy);
        // Iron condors need a sell stance, a 20-day trend under 0.0625 %/day
        // and a put skew under 6 points: a few symbol-days a month. Seed 1
        // (the bridge's default, the end-to-end month's) has them; seed 2's
        // neutral days are a META near $1000 whose wings fall outside the
        // gated chain.
        if seed == 1 {
            assert!(
                count("iron_condor") >= 1,
                "seed {seed}: {:?}",
                r.by_strategy
            );
        }
        // The 25-delta put-minus-call skew the rules saw is what markets
        // show: index ETFs about 5-8 vol points, large single stocks 2-5.
        for (sym, v) in &r.skews {
            let mut v = v.clone();
            v.sort_by(f64::total_cmp);
            let median = v[v.len() / 2];
            let band = if ["SPY", "QQQ", "IWM", "DIA"].contains(&sym.as_str()) {
                4.5..8.5
            } else {
                1.5..5.5
            };
            assert!(band.contains(&median), "seed {seed}: {sym} skew {v:?}");
        }
        for t in &r.rationales {
            let cites = t.starts_with("IV rank ") && t.contains(" days)");
            assert!(cites, "seed {seed}: {t}");
        }
    }
}
