//! The calibrated simulator over a simulated month (issue 14): through the
//! data-quality gate, the analytics with the IV history and the strategy
//! engine, every watchlist symbol has an IV rank from the first session,
//! the gate holds nothing on clean simulated data, and the proposals include
//! credit spreads and iron condors as well as debit trades, each citing the
//! IV rank and the days it rests on. Same engine as
//! `cargo run -p sas-sim-market --example month_report`.
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
        assert!(
            r.dropped * 50 < r.contracts,
            "seed {seed}: under 2 % dropped"
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
        let credit = count("bull_put_credit_spread") + count("bear_call_credit_spread");
        let debit = count("bull_call_debit_spread") + count("bear_put_debit_spread");
        assert!(credit >= 5, "seed {seed}: {:?}", r.by_strategy);
        assert!(
            count("iron_condor") >= 1,
            "seed {seed}: {:?}",
            r.by_strategy
        );
        assert!(debit >= 20, "seed {seed}: {:?}", r.by_strategy);
        for t in &r.rationales {
            let cites = t.starts_with("IV rank ") && t.contains(" days)");
            assert!(cites, "seed {seed}: {t}");
        }
    }
}
