//! Strike and expiry construction: turns a strategy kind and a chain into
//! concrete legs, then prices them with [`analyze`].

use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::market::{OptionChain, OptionRight};

use super::analysis::{analyze, AnalysisError, PricingContext, TradeMetrics};
use super::chain::{
    atm_iv, expiries_in_window, view_expiry, ChainContext, Contract, ContractProblem,
    EventCalendar, EventKind, ExpiryView,
};
use super::config::{StrategyConfig, WidthRule};
use super::types::{Leg, LegAction, StrategyKind};

/// Why no trade of a kind could be built from a chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "code")]
pub enum BuildFailure {
    /// Spot price missing, zero or not finite.
    BadSpot,
    /// No expiry in the DTE window.
    NoExpiryInWindow { min_dte: u32, max_dte: u32 },
    /// Every expiry in the window spans a known event.
    EventInsideTrade { event: EventKind, date: NaiveDate },
    /// No usable contract near the delta target.
    NoStrikeNearDelta {
        right: OptionRight,
        expiry: NaiveDate,
        target: f64,
        /// Most frequent contract problems of that expiry.
        problems: Vec<(ContractProblem, usize)>,
    },
    /// The protective leg's strike is not listed or not usable.
    NoWingStrike {
        right: OptionRight,
        expiry: NaiveDate,
        short_strike: f64,
        problem: Option<ContractProblem>,
    },
    /// Calendar: no strike usable in both the front and the back expiry.
    NoCalendarPair { front: NaiveDate },
    /// Credit spread pays too little for its width.
    CreditTooSmall { credit: f64, width: f64 },
    /// No ATM IV for the probability distribution.
    NoAtmIv { expiry: NaiveDate },
    /// The numbers could not be computed (inconsistent quotes).
    Analysis { error: AnalysisError },
}

impl fmt::Display for BuildFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildFailure::BadSpot => write!(f, "spot price missing or invalid"),
            BuildFailure::NoExpiryInWindow { min_dte, max_dte } => {
                write!(f, "no expiry between {min_dte} and {max_dte} DTE")
            }
            BuildFailure::EventInsideTrade { event, date } => {
                let what = match event {
                    EventKind::Earnings => "earnings",
                    EventKind::ExDividend => "ex-dividend date",
                };
                write!(f, "{what} on {date} falls inside every candidate expiry")
            }
            BuildFailure::NoStrikeNearDelta {
                right,
                expiry,
                target,
                problems,
            } => {
                write!(
                    f,
                    "no liquid {} near {target:.2} delta for {expiry}",
                    right_word(*right)
                )?;
                if !problems.is_empty() {
                    let parts: Vec<String> = problems
                        .iter()
                        .map(|(p, n)| format!("{n} {}", problem_word(*p)))
                        .collect();
                    write!(f, " ({})", parts.join(", "))?;
                }
                Ok(())
            }
            BuildFailure::NoWingStrike {
                right,
                expiry,
                short_strike,
                problem,
            } => {
                write!(
                    f,
                    "no usable protective {} beyond strike {short_strike} for {expiry}",
                    right_word(*right)
                )?;
                if let Some(p) = problem {
                    write!(f, " ({})", problem_word(*p))?;
                }
                Ok(())
            }
            BuildFailure::NoCalendarPair { front } => {
                write!(f, "no strike liquid in both {front} and a later expiry")
            }
            BuildFailure::CreditTooSmall { credit, width } => {
                write!(
                    f,
                    "credit {credit:.2} too small for a {width:.2} wide spread"
                )
            }
            BuildFailure::NoAtmIv { expiry } => write!(f, "no ATM implied vol for {expiry}"),
            BuildFailure::Analysis { error } => write!(f, "cannot price the trade: {error}"),
        }
    }
}

fn right_word(r: OptionRight) -> &'static str {
    match r {
        OptionRight::Call => "call",
        OptionRight::Put => "put",
    }
}

fn problem_word(p: ContractProblem) -> &'static str {
    match p {
        ContractProblem::BadStrike => "bad strike",
        ContractProblem::NoTwoSidedQuote => "without a two-sided quote",
        ContractProblem::NoIvOrDelta => "without IV/delta",
        ContractProblem::LowOpenInterest => "low open interest",
        ContractProblem::LowVolume => "low volume",
        ContractProblem::WideSpread => "wide bid-ask",
    }
}

/// A priced candidate trade.
#[derive(Debug, Clone, PartialEq)]
pub struct BuiltTrade {
    pub kind: StrategyKind,
    pub legs: Vec<Leg>,
    pub metrics: TradeMetrics,
    pub pricing: PricingContext,
    /// Width of verticals/condor wings in dollars (0 for single options and calendars).
    pub width: f64,
}

fn leg(c: &Contract, view: &ExpiryView, action: LegAction) -> Leg {
    Leg {
        right: c.right,
        strike: c.strike,
        expiry: view.expiry,
        dte: view.dte,
        action,
        ratio: 1,
        quote: c.quote,
    }
}

/// The usable contract with |delta| nearest `target` inside `lo..=hi`.
fn pick_by_delta(
    view: &ExpiryView,
    right: OptionRight,
    target: f64,
    lo: f64,
    hi: f64,
) -> Result<Contract, BuildFailure> {
    view.side(right)
        .iter()
        .filter(|c| c.usable())
        .filter_map(|c| c.quote.delta.map(|d| (c, d.abs())))
        .filter(|(_, d)| *d >= lo - 1e-12 && *d <= hi + 1e-12)
        .min_by(|a, b| (a.1 - target).abs().total_cmp(&(b.1 - target).abs()))
        .map(|(c, _)| *c)
        .ok_or_else(|| {
            let mut problems = view.problem_counts();
            problems.sort_by_key(|p| std::cmp::Reverse(p.1));
            problems.truncate(3);
            BuildFailure::NoStrikeNearDelta {
                right,
                expiry: view.expiry,
                target,
                problems,
            }
        })
}

/// The protective leg `width` away from `anchor` (higher strikes when
/// `upward`), among the listed strikes of that right.
fn pick_wing(
    view: &ExpiryView,
    right: OptionRight,
    anchor: f64,
    upward: bool,
    width: WidthRule,
) -> Result<Contract, BuildFailure> {
    let side = view.side(right);
    let beyond: Vec<&Contract> = if upward {
        side.iter().filter(|c| c.strike > anchor + 1e-9).collect()
    } else {
        side.iter()
            .rev()
            .filter(|c| c.strike < anchor - 1e-9)
            .collect()
    };
    let chosen = match width {
        WidthRule::Strikes(n) => {
            let n = usize::try_from(n).unwrap_or(usize::MAX).max(1);
            beyond.get(n - 1).copied()
        }
        WidthRule::Dollars(d) => {
            let target = if upward { anchor + d } else { anchor - d };
            beyond
                .iter()
                .min_by(|a, b| {
                    (a.strike - target)
                        .abs()
                        .total_cmp(&(b.strike - target).abs())
                })
                .copied()
        }
    };
    match chosen {
        Some(c) if c.usable() => Ok(*c),
        other => Err(BuildFailure::NoWingStrike {
            right,
            expiry: view.expiry,
            short_strike: anchor,
            problem: other.and_then(|c| c.problem),
        }),
    }
}

fn legs_single_expiry(
    kind: StrategyKind,
    v: &ExpiryView,
    cfg: &StrategyConfig,
) -> Result<(Vec<Leg>, f64), BuildFailure> {
    use LegAction::{Buy, Sell};
    use OptionRight::{Call, Put};
    let long_lo = (cfg.long_delta_target - cfg.long_delta_tolerance).max(0.01);
    let long_hi = (cfg.long_delta_target + cfg.long_delta_tolerance).min(0.99);
    let long_pick = |r| pick_by_delta(v, r, cfg.long_delta_target, long_lo, long_hi);
    let short_pick = |r| {
        pick_by_delta(
            v,
            r,
            cfg.short_delta_target,
            cfg.short_delta_min,
            cfg.short_delta_max,
        )
    };
    let w = cfg.spread_width;
    Ok(match kind {
        StrategyKind::LongCall => (vec![leg(&long_pick(Call)?, v, Buy)], 0.0),
        StrategyKind::LongPut => (vec![leg(&long_pick(Put)?, v, Buy)], 0.0),
        StrategyKind::BullCallDebitSpread => {
            let l = long_pick(Call)?;
            let s = pick_wing(v, Call, l.strike, true, w)?;
            (vec![leg(&l, v, Buy), leg(&s, v, Sell)], s.strike - l.strike)
        }
        StrategyKind::BearPutDebitSpread => {
            let l = long_pick(Put)?;
            let s = pick_wing(v, Put, l.strike, false, w)?;
            (vec![leg(&l, v, Buy), leg(&s, v, Sell)], l.strike - s.strike)
        }
        StrategyKind::BullPutCreditSpread => {
            let s = short_pick(Put)?;
            let l = pick_wing(v, Put, s.strike, false, w)?;
            (vec![leg(&s, v, Sell), leg(&l, v, Buy)], s.strike - l.strike)
        }
        StrategyKind::BearCallCreditSpread => {
            let s = short_pick(Call)?;
            let l = pick_wing(v, Call, s.strike, true, w)?;
            (vec![leg(&s, v, Sell), leg(&l, v, Buy)], l.strike - s.strike)
        }
        StrategyKind::IronCondor => {
            let sp = short_pick(Put)?;
            let lp = pick_wing(v, Put, sp.strike, false, w)?;
            let sc = short_pick(Call)?;
            let lc = pick_wing(v, Call, sc.strike, true, w)?;
            if sp.strike >= sc.strike {
                return Err(BuildFailure::NoStrikeNearDelta {
                    right: Call,
                    expiry: v.expiry,
                    target: cfg.short_delta_target,
                    problems: Vec::new(),
                });
            }
            let width = (sp.strike - lp.strike).max(lc.strike - sc.strike);
            (
                vec![
                    leg(&lp, v, Buy),
                    leg(&sp, v, Sell),
                    leg(&sc, v, Sell),
                    leg(&lc, v, Buy),
                ],
                width,
            )
        }
        StrategyKind::CallCalendar | StrategyKind::PutCalendar => {
            // Calendars are built by `legs_calendar`.
            return Err(BuildFailure::NoCalendarPair { front: v.expiry });
        }
    })
}

fn legs_calendar(
    kind: StrategyKind,
    front: &ExpiryView,
    back: &ExpiryView,
    spot: f64,
) -> Result<Vec<Leg>, BuildFailure> {
    let right = if kind == StrategyKind::PutCalendar {
        OptionRight::Put
    } else {
        OptionRight::Call
    };
    let pair = front
        .side(right)
        .iter()
        .filter(|c| c.usable())
        .filter_map(|f| {
            back.side(right)
                .iter()
                .find(|b| b.usable() && (b.strike - f.strike).abs() < 1e-9)
                .map(|b| (f, b))
        })
        .min_by(|a, b| {
            (a.0.strike - spot)
                .abs()
                .total_cmp(&(b.0.strike - spot).abs())
        });
    match pair {
        Some((f, b)) => Ok(vec![
            leg(f, front, LegAction::Sell),
            leg(b, back, LegAction::Buy),
        ]),
        None => Err(BuildFailure::NoCalendarPair {
            front: front.expiry,
        }),
    }
}

fn price(
    kind: StrategyKind,
    legs: Vec<Leg>,
    width: f64,
    front: &ExpiryView,
    cctx: &ChainContext,
    cfg: &StrategyConfig,
) -> Result<BuiltTrade, BuildFailure> {
    let vol = atm_iv(front, cctx.spot).ok_or(BuildFailure::NoAtmIv {
        expiry: front.expiry,
    })?;
    let pricing = PricingContext {
        spot: cctx.spot,
        rate: cctx.rate,
        div_yield: cctx.div_yield,
        distribution_vol: vol,
    };
    let metrics = analyze(
        &legs,
        &pricing,
        cfg.contract_multiplier,
        cfg.payoff_curve_points,
    )
    .map_err(|error| BuildFailure::Analysis { error })?;
    if kind.is_credit() {
        let credit = -metrics.net_price_mid;
        if !(credit > 0.0 && credit >= cfg.min_credit_to_width * width) {
            return Err(BuildFailure::CreditTooSmall { credit, width });
        }
    }
    Ok(BuiltTrade {
        kind,
        legs,
        metrics,
        pricing,
        width,
    })
}

/// Builds and prices a trade of `kind` from `chain`: tries the expiries of
/// the DTE window nearest the target first, skips expiries that span a
/// known event (from `trade_date` to the last expiry of the trade), and
/// returns the first trade that passes every filter, or the failure of the
/// best expiry.
pub fn build_trade(
    kind: StrategyKind,
    chain: &OptionChain,
    cfg: &StrategyConfig,
    events: Option<&EventCalendar>,
    trade_date: NaiveDate,
) -> Result<BuiltTrade, BuildFailure> {
    let cctx = ChainContext::of(chain, cfg).ok_or(BuildFailure::BadSpot)?;
    let event_in = |to: NaiveDate| events.and_then(|ev| ev.first_between(trade_date, to));
    let mut first_failure: Option<BuildFailure> = None;
    let mut event_block: Option<BuildFailure> = None;
    if kind.is_calendar() {
        let mid = (cfg.calendar_front_min_dte + cfg.calendar_front_max_dte) / 2;
        let fronts = expiries_in_window(
            chain,
            cfg.calendar_front_min_dte,
            cfg.calendar_front_max_dte,
            mid,
        );
        if fronts.is_empty() {
            return Err(BuildFailure::NoExpiryInWindow {
                min_dte: cfg.calendar_front_min_dte,
                max_dte: cfg.calendar_front_max_dte,
            });
        }
        for fi in fronts {
            let fe = &chain.expiries[fi];
            let gap_mid = (cfg.calendar_min_gap_days + cfg.calendar_max_gap_days) / 2;
            let backs = expiries_in_window(
                chain,
                fe.dte.saturating_add(cfg.calendar_min_gap_days),
                fe.dte.saturating_add(cfg.calendar_max_gap_days),
                fe.dte.saturating_add(gap_mid),
            );
            if backs.is_empty() {
                first_failure.get_or_insert(BuildFailure::NoCalendarPair { front: fe.expiry });
                continue;
            }
            for bi in backs {
                let be = &chain.expiries[bi];
                if let Some((event, date)) = event_in(be.expiry) {
                    event_block.get_or_insert(BuildFailure::EventInsideTrade { event, date });
                    continue;
                }
                let front = view_expiry(fe, &cctx, cfg);
                let back = view_expiry(be, &cctx, cfg);
                let result = legs_calendar(kind, &front, &back, cctx.spot)
                    .and_then(|legs| price(kind, legs, 0.0, &front, &cctx, cfg));
                match result {
                    Ok(t) => return Ok(t),
                    Err(e) => {
                        first_failure.get_or_insert(e);
                    }
                }
            }
        }
    } else {
        let order = expiries_in_window(chain, cfg.min_dte, cfg.max_dte, cfg.target_dte);
        if order.is_empty() {
            return Err(BuildFailure::NoExpiryInWindow {
                min_dte: cfg.min_dte,
                max_dte: cfg.max_dte,
            });
        }
        for i in order {
            let e = &chain.expiries[i];
            if let Some((event, date)) = event_in(e.expiry) {
                event_block.get_or_insert(BuildFailure::EventInsideTrade { event, date });
                continue;
            }
            let v = view_expiry(e, &cctx, cfg);
            let result = legs_single_expiry(kind, &v, cfg)
                .and_then(|(legs, width)| price(kind, legs, width, &v, &cctx, cfg));
            match result {
                Ok(t) => return Ok(t),
                Err(e) => {
                    first_failure.get_or_insert(e);
                }
            }
        }
    }
    Err(first_failure
        .or(event_block)
        .unwrap_or(BuildFailure::NoExpiryInWindow {
            min_dte: cfg.min_dte,
            max_dte: cfg.max_dte,
        }))
}
