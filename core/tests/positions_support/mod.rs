//! Helpers for the position-lifecycle tests: contracts, specs, executions.

#![allow(dead_code)]

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use sas_core::market::{OptionRight, SourceGreeks, Symbol};
use sas_core::money::Money;
use sas_core::portfolio::*;
use sas_core::strategy::StrategyKind;

pub fn sym(s: &str) -> Symbol {
    Symbol::parse(s).unwrap()
}

pub fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// 2026-12-01 15:00 UTC (10:00 New York), a Tuesday.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 15, 0, 0).unwrap()
}

pub fn expiry() -> NaiveDate {
    date(2027, 1, 15)
}

pub fn put(symbol: &str, strike: f64) -> ContractId {
    ContractId::option(sym(symbol), OptionRight::Put, expiry(), strike).unwrap()
}

pub fn call(symbol: &str, strike: f64) -> ContractId {
    ContractId::option(sym(symbol), OptionRight::Call, expiry(), strike).unwrap()
}

pub fn dollars(x: f64) -> Money {
    Money::from_dollars(x).unwrap()
}

/// A bull put spread: sell the 100 put, buy the 95 put.
pub fn bull_put_spec(key: &str, symbol: &str, units: u32) -> PositionSpec {
    PositionSpec {
        key: key.to_owned(),
        symbol: sym(symbol),
        strategy: StrategyKind::BullPutCreditSpread,
        legs: vec![
            PlannedLeg {
                contract: put(symbol, 100.0),
                ratio: -1,
            },
            PlannedLeg {
                contract: put(symbol, 95.0),
                ratio: 1,
            },
        ],
        units,
    }
}

pub fn exec(
    id: &str,
    order_ref: &str,
    contract: &ContractId,
    quantity: i64,
    price: f64,
    at: DateTime<Utc>,
) -> Execution {
    Execution {
        exec_id: id.to_owned(),
        order_ref: order_ref.to_owned(),
        contract: contract.clone(),
        quantity,
        price: dollars(price),
        time: at,
    }
}

pub fn commission(id: &str, c: f64) -> CommissionReport {
    CommissionReport {
        exec_id: id.to_owned(),
        commission: dollars(c),
    }
}

pub fn quote(contract: &ContractId, bid: f64, ask: f64, as_of: DateTime<Utc>) -> ContractQuote {
    ContractQuote {
        contract: contract.clone(),
        bid: Some(bid),
        ask: Some(ask),
        as_of,
        greeks: SourceGreeks {
            iv: Some(0.3),
            delta: Some(-0.3),
            gamma: Some(0.02),
            theta: Some(-0.05),
            vega: Some(0.1),
        },
    }
}

/// A bull put spread of `units` sets opened at `credit` per share
/// (short 100 put at `credit + 1`, long 95 put at 1), with $1 commission
/// per execution.
pub fn opened_bull_put(key: &str, units: u32, credit: f64) -> (PositionSpec, Ledger) {
    let spec = bull_put_spec(key, "SPY", units);
    let mut ledger = Ledger::new();
    let at = t0() - Duration::days(10);
    let u = i64::from(units);
    ledger.record_execution(exec(
        "e1",
        key,
        &spec.legs[0].contract,
        -u,
        credit + 1.0,
        at,
    ));
    ledger.record_execution(exec("e2", key, &spec.legs[1].contract, u, 1.0, at));
    ledger.record_commission(commission("e1", 1.0));
    ledger.record_commission(commission("e2", 1.0));
    (spec, ledger)
}

/// Quotes of the bull put's legs with the spread's mid at `spread_mid`
/// (short leg mid `spread_mid + 1`, long leg mid 1), each 0.04 wide.
pub fn bull_put_quotes(
    spec: &PositionSpec,
    spread_mid: f64,
    as_of: DateTime<Utc>,
) -> Vec<ContractQuote> {
    let short_mid = spread_mid + 1.0;
    vec![
        quote(
            &spec.legs[0].contract,
            short_mid - 0.02,
            short_mid + 0.02,
            as_of,
        ),
        quote(&spec.legs[1].contract, 0.98, 1.02, as_of),
    ]
}
