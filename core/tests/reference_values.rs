//! Prices and greeks against QuantLib's AnalyticEuropeanEngine
//! (fixture written by scripts/gen-reference-values.py).

use sas_core::analytics::bsm::{price_and_greeks, BsmInput};
use sas_core::analytics::iv::{implied_vol, IvInput};
use sas_core::market::OptionRight;
use serde::Deserialize;

#[derive(Deserialize)]
struct Fixture {
    quantlib_version: String,
    cases: Vec<Case>,
}

#[derive(Deserialize, Debug)]
struct Case {
    spot: f64,
    strike: f64,
    t_years: f64,
    rate: f64,
    div_yield: f64,
    vol: f64,
    right: OptionRight,
    price: f64,
    delta: f64,
    gamma: f64,
    theta_per_year: f64,
    vega: f64,
    rho: f64,
}

/// Relative 1e-9, with an absolute floor for values near zero.
fn check(name: &str, ours: f64, reference: f64, case: &Case, failures: &mut Vec<String>) {
    let tol = 1e-9 * reference.abs() + 1e-12;
    if (ours - reference).abs() > tol {
        failures.push(format!(
            "{name}: ours {ours} vs QuantLib {reference} for {case:?}"
        ));
    }
}

#[test]
fn matches_quantlib_analytic_european_engine() {
    let text = include_str!("fixtures/bsm_reference.json");
    let fixture: Fixture = serde_json::from_str(text).expect("fixture parses");
    assert!(
        fixture.cases.len() >= 300,
        "fixture has {} cases",
        fixture.cases.len()
    );
    assert!(!fixture.quantlib_version.is_empty());
    let mut failures = Vec::new();
    let (mut calls, mut puts, mut with_div) = (0, 0, 0);
    for c in &fixture.cases {
        let input = BsmInput {
            spot: c.spot,
            strike: c.strike,
            t_years: c.t_years,
            rate: c.rate,
            div_yield: c.div_yield,
            vol: c.vol,
            right: c.right,
        };
        let (p, g) = price_and_greeks(&input);
        check("price", p, c.price, c, &mut failures);
        check("delta", g.delta, c.delta, c, &mut failures);
        check("gamma", g.gamma, c.gamma, c, &mut failures);
        // QuantLib: theta per year, vega and rho per 1.00
        check(
            "theta",
            g.theta_per_day * 365.0,
            c.theta_per_year,
            c,
            &mut failures,
        );
        check("vega", g.vega_per_point * 100.0, c.vega, c, &mut failures);
        check("rho", g.rho_per_point * 100.0, c.rho, c, &mut failures);
        // QuantLib's price implies the generating vol back
        if c.price >= 0.01 && c.vega > 1e-3 {
            let iv = implied_vol(&IvInput {
                price: c.price,
                spot: c.spot,
                strike: c.strike,
                t_years: c.t_years,
                rate: c.rate,
                div_yield: c.div_yield,
                right: c.right,
            });
            match iv {
                Ok(v) if (v - c.vol).abs() <= 1e-9 => {}
                other => failures.push(format!("iv: {other:?} vs {} for {c:?}", c.vol)),
            }
        }
        match c.right {
            OptionRight::Call => calls += 1,
            OptionRight::Put => puts += 1,
        }
        if c.div_yield > 0.0 {
            with_div += 1;
        }
    }
    assert!(calls > 100 && puts > 100 && with_div > 100);
    assert!(
        failures.is_empty(),
        "{} mismatches, first: {:#?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
}
