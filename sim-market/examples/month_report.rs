//! A simulated month through the data-quality gate, the analytics and the
//! strategy engine (see `month/mod.rs`): the gate's verdicts, the IV rank
//! the regime rules saw, the rules they picked and the proposals by
//! strategy. `cargo run -p sas-sim-market --example month_report [seed] [strikes] [max_dte]`
//! (default 40 strikes, 7-60 DTE; the Worker asks for 20 strikes by default).

#[path = "month/mod.rs"]
mod month;

fn main() {
    let seed: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let arg = |i: usize, default: u32| {
        std::env::args()
            .nth(i)
            .and_then(|s| s.parse().ok())
            .unwrap_or(default)
    };
    let window = sas_core::market::ChainWindow {
        min_dte: month::WINDOW.min_dte,
        max_dte: arg(3, month::WINDOW.max_dte),
        strikes: arg(2, month::WINDOW.strikes),
    };
    println!(
        "chain window: {}-{} DTE, {} strikes",
        window.min_dte, window.max_dte, window.strikes
    );
    let r = match month::run_with(seed, window) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{e}");
            return;
        }
    };
    let n = r.days.len() * r.symbols;
    if let (Some(first), Some(last)) = (r.days.first(), r.days.last()) {
        println!(
            "seed {seed}, {} sessions from {first} to {last}, {} symbols",
            r.days.len(),
            r.symbols
        );
    }
    println!(
        "gate: {} of {n} symbol-days held; {} of {} contracts dropped ({:.2}%)",
        r.held,
        r.dropped,
        r.contracts,
        100.0 * r.dropped as f64 / r.contracts.max(1) as f64
    );
    println!(
        "IV rank known on {} of {n} symbol-days (fewest days behind a rank: {:?})",
        r.ranks.len(),
        r.rank_days_min
    );
    for b in 0..5 {
        let (lo, hi) = (f64::from(b) * 20.0, f64::from(b + 1) * 20.0);
        let c = r
            .ranks
            .iter()
            .filter(|x| **x >= lo && (**x < hi || (b == 4 && **x <= 100.0)))
            .count();
        println!(
            "  IVR {lo:>3.0}-{hi:<3.0} {c:>4} ({:>4.1}%)",
            100.0 * c as f64 / r.ranks.len().max(1) as f64
        );
    }
    println!("25-delta put-minus-call skew (vol points), per symbol: min / median / max");
    for (sym, v) in &r.skews {
        let mut v = v.clone();
        v.sort_by(f64::total_cmp);
        if let (Some(lo), Some(hi)) = (v.first(), v.last()) {
            println!(
                "  {sym:<6} {lo:>5.1} / {:>5.1} / {hi:>5.1}  ({} days)",
                v[v.len() / 2],
                v.len()
            );
        }
    }
    println!("regime rule by symbol-day:");
    for (rule, c) in &r.by_rule {
        println!("  {rule:<28} {c:>4}");
    }
    let cited = r
        .rationales
        .iter()
        .filter(|t| t.contains("IV rank") && t.contains("days)"))
        .count();
    println!(
        "proposals: {} ({cited} cite the IV rank and its days)",
        r.rationales.len()
    );
    for (k, c) in &r.by_strategy {
        println!("  {k:<26} {c:>4}");
    }
    for (day, sym) in &r.condors {
        println!("  iron condor on {sym} {day}");
    }
    println!("skipped candidates by reason:");
    for (k, c) in &r.skipped {
        println!("  {c:>4}  {k}");
    }
}
