//! Plain-words explanation of a proposal, built from the regime reasons, the
//! score breakdown and the chosen trade.

use crate::market::OptionRight;
use crate::score::OpportunityScore;

use super::analysis::TradeMetrics;
use super::exits::ExitPlan;
use super::regime::{
    Direction, FactorEffect, PremiumStance, RegimeDecision, RegimeFactor, RegimeInputs,
    SelectionRule,
};
use super::sizing::{SizingDecision, SizingLimit};
use super::types::{Leg, LegAction, StrategyKind};

/// Formats a number with at most 2 decimals, trailing zeros dropped
/// (`95`, `92.5`, `101.25`).
fn num(x: f64) -> String {
    let s = format!("{x:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

/// A price with exactly 2 decimals (`1.20`, `141.39`).
fn px(x: f64) -> String {
    format!("{x:.2}")
}

/// Whole dollars with thousands separators: `$1,985`, `-$222`.
fn money(x: f64) -> String {
    let digits = format!("{:.0}", x.abs());
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 && c.is_ascii_digit() {
            grouped.push(',');
        }
        grouped.push(c);
    }
    if x < 0.0 && digits != "0" {
        format!("-${grouped}")
    } else {
        format!("${grouped}")
    }
}

/// The volatility half of the sentence ("IV rank 78 (over 252 days) and IV
/// 6.0 points over 20-day RV favour selling premium"): the IV rank with the
/// days it rests on, and whether it was too short a history to act on.
pub fn volatility_clause(decision: &RegimeDecision, inputs: &RegimeInputs) -> String {
    let inp = inputs.sanitized();
    let too_few = decision
        .reasons
        .iter()
        .find(|r| r.factor == RegimeFactor::IvRank && r.effect == FactorEffect::TooFewDays)
        .and_then(|r| r.threshold);
    let rank = inp.iv_rank.map(|r| match (inp.iv_rank_days, too_few) {
        (Some(d), Some(min)) => {
            format!("IV rank {r:.0} (on only {d} days, under {min:.0}: not used)")
        }
        (Some(d), None) => format!("IV rank {r:.0} (over {d} days)"),
        (None, _) => format!("IV rank {r:.0}"),
    });
    let spread = inp.iv_rv_spread.map(|s| {
        if s >= 0.0 {
            format!("IV {s:.1} points over 20-day RV")
        } else {
            format!("IV {:.1} points under 20-day RV", -s)
        }
    });
    let facts: Vec<String> = [rank, spread].into_iter().flatten().collect();
    let facts = if facts.is_empty() {
        "volatility data missing".to_string()
    } else {
        facts.join(" and ")
    };
    match decision.stance {
        PremiumStance::Sell => format!("{facts} favour selling premium"),
        PremiumStance::Buy => format!("{facts} favour buying premium"),
        PremiumStance::Neutral => format!("{facts}: volatility neither rich nor cheap"),
    }
}

/// The direction clause ("uptrend (trend +0.45)").
pub fn direction_clause(decision: &RegimeDecision, inputs: &RegimeInputs) -> String {
    let t = inputs.sanitized().trend;
    let val = t.map(|t| format!(" (trend {t:+.2})")).unwrap_or_default();
    match (decision.direction, t) {
        (_, None) => "trend unknown, treated as neutral".to_string(),
        (Direction::Bullish, _) => format!("uptrend{val}"),
        (Direction::Bearish, _) => format!("downtrend{val}"),
        (Direction::Neutral, _) => format!("no clear trend{val}"),
    }
}

fn rule_note(decision: &RegimeDecision, inputs: &RegimeInputs) -> Option<String> {
    let inp = inputs.sanitized();
    match decision.rule {
        SelectionRule::SellPremiumNeutralRichPuts => inp
            .skew_25d
            .map(|s| format!("puts rich (25-delta skew {s:.1} points)")),
        SelectionRule::BuyPremiumNeutralCalendar => Some(match inp.term_slope {
            Some(s) => format!("term structure {s:+.1} points back minus front suits a calendar"),
            None => "term structure unknown".to_string(),
        }),
        SelectionRule::BuyPremiumStrongTrend => Some("strong trend and very low IV rank".into()),
        _ => None,
    }
}

fn right_word(r: OptionRight) -> &'static str {
    match r {
        OptionRight::Call => "call",
        OptionRight::Put => "put",
    }
}

fn leg_words(l: &Leg, with_dte: bool) -> String {
    let verb = match l.action {
        LegAction::Buy => "buy",
        LegAction::Sell => "sell",
    };
    let delta = match (l.action, l.quote.delta) {
        (LegAction::Sell, Some(d)) => format!(" ({:.2} delta)", d.abs()),
        _ => String::new(),
    };
    let dte = if with_dte {
        format!(" {}-DTE", l.dte)
    } else {
        String::new()
    };
    format!(
        "{verb}{dte} {} {}{delta}",
        num(l.strike),
        right_word(l.right)
    )
}

/// The trade clause ("bull put spread: sell 95 put (0.25 delta) / buy 90 put, 35 DTE (2026-12-26)").
pub fn trade_clause(kind: StrategyKind, legs: &[Leg]) -> String {
    let calendar = kind.is_calendar();
    let parts: Vec<String> = legs.iter().map(|l| leg_words(l, calendar)).collect();
    let front = legs.iter().min_by_key(|l| l.dte);
    let when = match (calendar, front) {
        (false, Some(l)) => format!(", {} DTE ({})", l.dte, l.expiry),
        _ => String::new(),
    };
    format!("{}: {}{when}", kind.label(), parts.join(" / "))
}

fn numbers_clause(kind: StrategyKind, m: &TradeMetrics, width: f64) -> String {
    let entry = if m.net_price_mid < 0.0 {
        format!(
            "credit {} ({} natural)",
            px(-m.net_price_mid),
            px(-m.net_price_natural)
        )
    } else {
        format!(
            "debit {} ({} natural)",
            px(m.net_price_mid),
            px(m.net_price_natural)
        )
    };
    let wide = if width > 0.0 {
        format!(" on {} wide", num(width))
    } else {
        String::new()
    };
    let profit = match m.max_profit {
        Some(p) => format!("max profit {}", money(p)),
        None => "unlimited upside".to_string(),
    };
    let est = if kind.is_calendar() {
        " (calendar: estimated at the front expiry)"
    } else {
        ""
    };
    let be: Vec<String> = m.breakevens.iter().map(|b| px(*b)).collect();
    let be = if be.is_empty() {
        String::new()
    } else {
        format!(", breakeven {}", be.join(" / "))
    };
    format!(
        "{entry}{wide}; {profit}, max loss {} per contract{est}{be}; PoP {:.0}%, EV {}",
        money(m.max_loss),
        m.probability_of_profit * 100.0,
        money(m.expected_value)
    )
}

fn sizing_clause(s: &SizingDecision) -> String {
    let why = match s.limited_by {
        SizingLimit::RiskPerTrade => "per-trade risk limit",
        SizingLimit::PortfolioHeat => "portfolio heat limit",
        SizingLimit::MaxContracts => "contract cap",
    };
    let plural = if s.contracts == 1 { "" } else { "s" };
    format!(
        "{} contract{plural} risking {} ({why})",
        s.contracts,
        money(s.total_max_loss)
    )
}

fn exit_clause(e: &ExitPlan) -> String {
    let trail = e
        .trailing_stop_fraction
        .map(|t| format!(", trailing stop {:.0}% of peak profit", t * 100.0))
        .unwrap_or_default();
    format!(
        "exit: take profit at {}, stop at {}, or by {} ({} DTE){trail}",
        money(e.take_profit.pnl),
        money(e.stop_loss.pnl),
        e.time_exit_date,
        e.time_exit_dte
    )
}

/// "Score 81/100 (iv_rank +27.0, realized_vol +20.0, volume +12.0)": the
/// three largest factor contributions; without a score, the measured
/// regime factors are listed instead.
pub fn score_clause(score: Option<&OpportunityScore>, inputs: &RegimeInputs) -> String {
    match score {
        Some(s) => {
            let mut f: Vec<_> = s
                .factors
                .iter()
                .filter(|f| f.contribution.is_finite() && f.contribution > 0.0)
                .collect();
            f.sort_by(|a, b| b.contribution.total_cmp(&a.contribution));
            let top: Vec<String> = f
                .iter()
                .take(3)
                .map(|f| format!("{} +{:.1}", f.name, f.contribution))
                .collect();
            if top.is_empty() {
                format!("score {:.0}/100", s.score)
            } else {
                format!("score {:.0}/100 ({})", s.score, top.join(", "))
            }
        }
        None => {
            let inp = inputs.sanitized();
            let mut parts = Vec::new();
            if let Some(v) = inp.iv_rank {
                parts.push(format!("IV rank {v:.0}"));
            }
            if let Some(v) = inp.iv_rv_spread {
                parts.push(format!("IV-RV {v:+.1}"));
            }
            if let Some(v) = inp.skew_25d {
                parts.push(format!("skew {v:+.1}"));
            }
            if let Some(v) = inp.term_slope {
                parts.push(format!("term slope {v:+.1}"));
            }
            if let Some(v) = inp.trend {
                parts.push(format!("trend {v:+.2}"));
            }
            if parts.is_empty() {
                "no score breakdown".to_string()
            } else {
                format!("factors: {}", parts.join(", "))
            }
        }
    }
}

/// Everything a proposal's rationale is made from.
pub struct RationaleParts<'a> {
    pub decision: &'a RegimeDecision,
    pub inputs: &'a RegimeInputs,
    pub score: Option<&'a OpportunityScore>,
    pub kind: StrategyKind,
    pub legs: &'a [Leg],
    pub metrics: &'a TradeMetrics,
    pub width: f64,
    pub sizing: &'a SizingDecision,
    pub exits: &'a ExitPlan,
}

/// The full rationale, e.g. "IV rank 78 and IV 6.0 points over 20-day RV
/// favour selling premium; uptrend (trend +0.45) → bull put spread: sell 95
/// put (0.25 delta) / buy 90 put, 35 DTE (2026-12-26). credit 1.2 ...".
pub fn rationale(p: &RationaleParts<'_>) -> String {
    let mut head = format!(
        "{}; {}",
        volatility_clause(p.decision, p.inputs),
        direction_clause(p.decision, p.inputs)
    );
    if let Some(n) = rule_note(p.decision, p.inputs) {
        head.push_str("; ");
        head.push_str(&n);
    }
    let fallback = if p.decision.primary() != Some(p.kind) {
        match p.decision.primary() {
            Some(k) => format!(
                " (instead of {}, which could not be built or sized)",
                k.label()
            ),
            None => String::new(),
        }
    } else {
        String::new()
    };
    format!(
        "{head} → {}{fallback}. {}. {}; {}. {}.",
        trade_clause(p.kind, p.legs),
        numbers_clause(p.kind, p.metrics, p.width),
        sizing_clause(p.sizing),
        exit_clause(p.exits),
        score_clause(p.score, p.inputs)
    )
}
