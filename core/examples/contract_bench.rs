//! Plain timing loop of IV + five greeks per contract, built both natively
//! and for `wasm32-wasip1` (run under Node's `node:wasi`) by
//! `scripts/bench-wasm`, so the two numbers come from the same code and
//! the same inputs. Prints one line: `ns_per_contract=<best of rounds>`.
//!
//! `cargo run --release -p sas-core --example contract_bench [-- rounds]`

use std::time::Instant;

use sas_core::analytics::bsm::{price, BsmInput};
use sas_core::analytics::iv::{implied_vol_and_greeks, IvInput};
use sas_core::market::OptionRight;

/// Deterministic inputs without any RNG crate (xorshift64*).
fn contracts(n: usize) -> Vec<IvInput> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut unit = move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let spot = 20.0 + 480.0 * unit();
        let b = BsmInput {
            spot,
            strike: spot * (0.7 + 0.6 * unit()),
            t_years: (1.0 + 364.0 * unit()) / 365.0,
            rate: 0.04,
            div_yield: 0.03 * unit(),
            vol: 0.1 + 0.9 * unit(),
            right: if unit() < 0.5 {
                OptionRight::Call
            } else {
                OptionRight::Put
            },
        };
        let p = price(&b);
        if p >= 0.01 {
            out.push(IvInput {
                price: p,
                spot: b.spot,
                strike: b.strike,
                t_years: b.t_years,
                rate: b.rate,
                div_yield: b.div_yield,
                right: b.right,
            });
        }
    }
    out
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(15);
    let inputs = contracts(20_000);
    let mut best = f64::INFINITY;
    let mut checksum = 0.0;
    for _ in 0..rounds {
        let start = Instant::now();
        for i in &inputs {
            if let Ok(r) = implied_vol_and_greeks(std::hint::black_box(i)) {
                checksum += r.iv + r.greeks.delta + r.greeks.gamma;
            }
        }
        let ns = start.elapsed().as_nanos() as f64 / inputs.len() as f64;
        best = best.min(ns);
    }
    println!(
        "ns_per_contract={best:.1} contracts={} rounds={rounds} checksum={checksum:.6}",
        inputs.len()
    );
}
