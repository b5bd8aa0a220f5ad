//! IV recovery over 1,000,000 seeded samples (the acceptance run):
//! `cargo run --release -p sas-core --example iv_recovery [-- samples seed]`.
//! Exits non-zero when any quotable sample fails or errs by more than 1e-12.

#[path = "../tests/support/iv_sample.rs"]
mod iv_sample;

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let seed: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_261_121);
    let start = std::time::Instant::now();
    let r = iv_sample::run(seed, n);
    let elapsed = start.elapsed();
    println!("samples          {}", r.samples);
    println!("quotable         {}", r.quotable);
    println!("failures         {}", r.failures.len());
    println!("max |IV error|   {:.3e}", r.max_abs_error);
    println!("  over 1e-12     {}", r.over_1e12);
    println!("  S,K <= 200     {:.3e}", r.max_abs_error_spot_le_200);
    println!(
        "  in eps·max(S,K)/vega units {:.2}",
        r.max_conditioned_error
    );
    if let Some((b, iv)) = &r.worst {
        println!("worst case       {b:?} -> iv {iv}");
    }
    for (b, p, f) in r.failures.iter().take(5) {
        println!("failure          {f:?} price {p} for {b:?}");
    }
    println!("elapsed          {elapsed:.2?} (price + IV per sample, seed {seed})");
    if !r.failures.is_empty() || r.max_abs_error > 1e-12 {
        std::process::exit(1);
    }
}
