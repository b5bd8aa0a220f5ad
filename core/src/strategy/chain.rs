//! A checked view of an option chain: usable two-sided quotes with an IV and
//! a delta, liquidity verdicts, expiry choice and the event calendar.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::analytics::bsm::{self, BsmInput, DAYS_PER_YEAR};
use crate::analytics::iv::{self, IvInput};
use crate::market::{ChainExpiry, OptionChain, OptionQuote, OptionRight};

use super::config::StrategyConfig;
use super::types::LegQuote;

/// Known corporate events of one underlying.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct EventCalendar {
    pub earnings: Vec<NaiveDate>,
    pub ex_dividend: Vec<NaiveDate>,
}

/// Kind of an event that blocks a trade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Earnings,
    ExDividend,
}

impl EventCalendar {
    /// A calendar of these dates, each list sorted and without repeats.
    #[must_use]
    pub fn new(mut earnings: Vec<NaiveDate>, mut ex_dividend: Vec<NaiveDate>) -> Self {
        earnings.sort_unstable();
        earnings.dedup();
        ex_dividend.sort_unstable();
        ex_dividend.dedup();
        Self {
            earnings,
            ex_dividend,
        }
    }

    /// No event known.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.earnings.is_empty() && self.ex_dividend.is_empty()
    }

    /// The first event with `from <= date <= to`, if any (both ends
    /// inclusive: an event on the trade date or on the expiry itself is
    /// inside the trade; on a tie earnings come first).
    pub fn first_between(&self, from: NaiveDate, to: NaiveDate) -> Option<(EventKind, NaiveDate)> {
        let e = self
            .earnings
            .iter()
            .filter(|d| **d >= from && **d <= to)
            .min()
            .map(|d| (EventKind::Earnings, *d));
        let x = self
            .ex_dividend
            .iter()
            .filter(|d| **d >= from && **d <= to)
            .min()
            .map(|d| (EventKind::ExDividend, *d));
        match (e, x) {
            (Some(a), Some(b)) => Some(if a.1 <= b.1 { a } else { b }),
            (a, b) => a.or(b),
        }
    }
}

/// Why a contract cannot be used as a leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContractProblem {
    /// Strike not a positive finite number.
    BadStrike,
    /// Bid/ask missing, not finite, negative or crossed.
    NoTwoSidedQuote,
    /// Neither a usable IV nor a usable delta.
    NoIvOrDelta,
    LowOpenInterest,
    LowVolume,
    WideSpread,
}

/// A contract of the chain after checks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Contract {
    pub right: OptionRight,
    pub strike: f64,
    pub quote: LegQuote,
    /// `None` when usable as a leg; otherwise the first problem found.
    pub problem: Option<ContractProblem>,
}

impl Contract {
    /// Usable as a leg (two-sided, IV/delta, liquid).
    pub fn usable(&self) -> bool {
        self.problem.is_none()
    }
}

/// One expiry of the chain after checks, contracts sorted by strike.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpiryView {
    pub expiry: NaiveDate,
    pub dte: u32,
    pub calls: Vec<Contract>,
    pub puts: Vec<Contract>,
}

impl ExpiryView {
    /// Contracts of one right, ascending strike.
    pub fn side(&self, right: OptionRight) -> &[Contract] {
        match right {
            OptionRight::Call => &self.calls,
            OptionRight::Put => &self.puts,
        }
    }

    /// Count of contracts per problem (for skip reasons).
    pub fn problem_counts(&self) -> Vec<(ContractProblem, usize)> {
        let mut out: Vec<(ContractProblem, usize)> = Vec::new();
        for c in self.calls.iter().chain(&self.puts) {
            if let Some(p) = c.problem {
                match out.iter_mut().find(|(q, _)| *q == p) {
                    Some((_, n)) => *n += 1,
                    None => out.push((p, 1)),
                }
            }
        }
        out
    }
}

/// Market context of the chain.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChainContext {
    pub spot: f64,
    pub rate: f64,
    pub div_yield: f64,
}

impl ChainContext {
    /// `None` when spot is unusable.
    pub fn of(chain: &OptionChain, cfg: &StrategyConfig) -> Option<Self> {
        let spot = chain.spot;
        if !(spot.is_finite() && spot > 0.0) {
            return None;
        }
        let div_yield = chain
            .dividend_yield
            .filter(|q| q.is_finite() && (-0.5..=0.5).contains(q))
            .unwrap_or(0.0);
        Some(Self {
            spot,
            rate: cfg.risk_free_rate,
            div_yield,
        })
    }
}

fn usable_iv(iv: Option<f64>) -> Option<f64> {
    iv.filter(|v| v.is_finite() && *v > 0.005 && *v < 5.0)
}

fn usable_delta(d: Option<f64>, right: OptionRight) -> Option<f64> {
    d.filter(|v| {
        v.is_finite()
            && match right {
                OptionRight::Call => (0.0..=1.0).contains(v),
                OptionRight::Put => (-1.0..=0.0).contains(v),
            }
    })
}

/// Delta of one long option: the source delta when finite with the right
/// sign, else BSM from `iv` at the context's spot.
pub fn leg_delta(
    source: Option<f64>,
    iv: Option<f64>,
    ctx: &ChainContext,
    right: OptionRight,
    strike: f64,
    dte: u32,
) -> Option<f64> {
    usable_delta(source, right).or_else(|| {
        let vol = iv?;
        let (_, g) = bsm::price_and_greeks(&BsmInput {
            spot: ctx.spot,
            strike,
            t_years: f64::from(dte) / DAYS_PER_YEAR,
            rate: ctx.rate,
            div_yield: ctx.div_yield,
            vol,
            right,
        });
        usable_delta(Some(g.delta), right)
    })
}

/// The IV of a quote: the source's (when usable), else the IV implied by
/// `mid` (Let's Be Rational); `None` when neither exists.
pub fn quote_iv(q: &OptionQuote, mid: f64, dte: u32, ctx: &ChainContext) -> Option<f64> {
    let t_years = f64::from(dte) / DAYS_PER_YEAR;
    usable_iv(q.greeks.iv).or_else(|| {
        usable_iv(
            iv::implied_vol(&IvInput {
                price: mid,
                spot: ctx.spot,
                strike: q.strike,
                t_years,
                rate: ctx.rate,
                div_yield: ctx.div_yield,
                right: q.right,
            })
            .ok(),
        )
    })
}

/// Checks one chain quote: two-sided market, IV (source, else implied from
/// the mid), delta (source, else BSM from the IV), then liquidity against
/// the config.
pub fn check_contract(
    q: &OptionQuote,
    dte: u32,
    ctx: &ChainContext,
    cfg: &StrategyConfig,
) -> Contract {
    let strike = q.strike;
    let empty = LegQuote {
        bid: 0.0,
        ask: 0.0,
        mid: 0.0,
        iv: None,
        delta: None,
        open_interest: q.open_interest,
        volume: q.volume,
    };
    let fail = |p, quote| Contract {
        right: q.right,
        strike: if strike.is_finite() { strike } else { 0.0 },
        quote,
        problem: Some(p),
    };
    if !(strike.is_finite() && strike > 0.0) {
        return fail(ContractProblem::BadStrike, empty);
    }
    let Some((bid, ask, mid)) = LegQuote::two_sided(q) else {
        return fail(ContractProblem::NoTwoSidedQuote, empty);
    };
    let iv = quote_iv(q, mid, dte, ctx);
    let delta = leg_delta(q.greeks.delta, iv, ctx, q.right, strike, dte);
    let quote = LegQuote {
        bid,
        ask,
        mid,
        iv,
        delta,
        open_interest: q.open_interest,
        volume: q.volume,
    };
    let problem = if iv.is_none() || delta.is_none() {
        Some(ContractProblem::NoIvOrDelta)
    } else {
        liquidity_problem(&quote, cfg)
    };
    Contract {
        right: q.right,
        strike,
        quote,
        problem,
    }
}

/// Liquidity verdict of a quote: open interest, volume, bid-ask width.
pub fn liquidity_problem(quote: &LegQuote, cfg: &StrategyConfig) -> Option<ContractProblem> {
    if cfg.min_open_interest > 0 && quote.open_interest.unwrap_or(0) < cfg.min_open_interest {
        return Some(ContractProblem::LowOpenInterest);
    }
    if cfg.min_volume > 0 && quote.volume.unwrap_or(0) < cfg.min_volume {
        return Some(ContractProblem::LowVolume);
    }
    let sf = quote.spread_fraction();
    if !(sf.is_finite() && sf <= cfg.max_leg_spread_fraction) {
        return Some(ContractProblem::WideSpread);
    }
    None
}

/// Builds the checked view of one expiry.
pub fn view_expiry(e: &ChainExpiry, ctx: &ChainContext, cfg: &StrategyConfig) -> ExpiryView {
    let mut calls = Vec::new();
    let mut puts = Vec::new();
    for q in &e.contracts {
        let c = check_contract(q, e.dte, ctx, cfg);
        if c.problem == Some(ContractProblem::BadStrike) {
            continue;
        }
        match c.right {
            OptionRight::Call => calls.push(c),
            OptionRight::Put => puts.push(c),
        }
    }
    for side in [&mut calls, &mut puts] {
        side.sort_by(|a, b| a.strike.total_cmp(&b.strike));
        // Keep the first quote of a duplicated strike.
        side.dedup_by(|a, b| (a.strike - b.strike).abs() < 1e-9);
    }
    ExpiryView {
        expiry: e.expiry,
        dte: e.dte,
        calls,
        puts,
    }
}

/// ATM implied vol of an expiry: average of the usable call and put IVs at
/// the strike nearest spot (either alone if only one exists); falls back to
/// the nearest strike with any IV.
pub fn atm_iv(view: &ExpiryView, spot: f64) -> Option<f64> {
    let nearest = |side: &[Contract]| {
        side.iter()
            .filter(|c| c.quote.iv.is_some())
            .min_by(|a, b| (a.strike - spot).abs().total_cmp(&(b.strike - spot).abs()))
            .map(|c| (c.strike, c.quote.iv.unwrap_or(0.0)))
    };
    match (nearest(&view.calls), nearest(&view.puts)) {
        (Some((kc, vc)), Some((kp, vp))) if (kc - kp).abs() < 1e-9 => Some(0.5 * (vc + vp)),
        (Some((kc, vc)), Some((kp, vp))) => {
            if (kc - spot).abs() <= (kp - spot).abs() {
                Some(vc)
            } else {
                Some(vp)
            }
        }
        (Some((_, v)), None) | (None, Some((_, v))) => Some(v),
        (None, None) => None,
    }
}

/// Expiries with `min <= dte <= max`, nearest `target` first (ties: shorter first).
pub fn expiries_in_window(chain: &OptionChain, min: u32, max: u32, target: u32) -> Vec<usize> {
    let mut idx: Vec<usize> = chain
        .expiries
        .iter()
        .enumerate()
        .filter(|(_, e)| e.dte >= min && e.dte <= max)
        .map(|(i, _)| i)
        .collect();
    idx.sort_by_key(|&i| {
        let d = chain.expiries[i].dte;
        (d.abs_diff(target), d)
    });
    idx
}

#[cfg(test)]
mod event_tests {
    use super::*;

    fn d(day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, day).unwrap_or_default()
    }

    #[test]
    fn first_between_is_inclusive_and_picks_the_earliest() {
        let cal = EventCalendar::new(vec![d(20), d(10)], vec![d(15), d(10)]);
        assert_eq!(cal.earnings, vec![d(10), d(20)]);
        assert_eq!(cal.ex_dividend, vec![d(10), d(15)]);
        // Tie on the 10th: earnings first.
        assert_eq!(
            cal.first_between(d(1), d(31)),
            Some((EventKind::Earnings, d(10)))
        );
        assert_eq!(
            cal.first_between(d(11), d(31)),
            Some((EventKind::ExDividend, d(15)))
        );
        // Both ends count.
        assert_eq!(
            cal.first_between(d(15), d(15)),
            Some((EventKind::ExDividend, d(15)))
        );
        assert_eq!(
            cal.first_between(d(16), d(20)),
            Some((EventKind::Earnings, d(20)))
        );
        // Outside the window, or an empty window, or an empty calendar: none.
        assert_eq!(cal.first_between(d(21), d(31)), None);
        assert_eq!(cal.first_between(d(1), d(9)), None);
        assert_eq!(cal.first_between(d(20), d(11)), None);
        assert!(EventCalendar::default().is_empty());
        assert_eq!(EventCalendar::default().first_between(d(1), d(31)), None);
        assert!(!cal.is_empty());
    }
}
