//! A simulated month through the data-quality gate, the analytics and the
//! strategy engine (see `month/mod.rs`): the gate's verdicts, the IV rank
//! the regime rules saw, the rules they picked and the proposals by
//! strategy. `cargo run -p sas-sim-market --example month_report [seed]`.

#[path = "month/mod.rs"]
mod month;

fn main() {
    let seed: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let r = match month::run(seed) {
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
}
