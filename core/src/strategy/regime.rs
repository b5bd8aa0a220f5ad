//! Regime selection: from an underlying's volatility and trend snapshot to
//! "sell premium / buy premium", a direction, and the strategy kinds to try.
//! The rule that fired and every factor's reading are returned as data.

use serde::{Deserialize, Serialize};

use crate::analytics::chain::ChainAnalytics;

use super::config::StrategyConfig;
use super::types::StrategyKind;

/// The analytics snapshot regime selection reads. The Worker fills it from
/// the analytics output; any field may be missing (`None`) and non-finite
/// values count as missing.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct RegimeInputs {
    /// IV rank, 0-100 (where today's ATM IV sits in its 1-year range).
    pub iv_rank: Option<f64>,
    /// Days the IV rank rests on (today included). Under
    /// `StrategyConfig::iv_rank_min_days` the rank is cited but not acted
    /// on; `None` = not given (the rank is used as is).
    #[serde(default)]
    pub iv_rank_days: Option<u32>,
    /// ATM implied vol minus 20-day realized vol, in vol points (6.0 = 6 points).
    pub iv_rv_spread: Option<f64>,
    /// 25-delta put IV minus 25-delta call IV, in vol points.
    pub skew_25d: Option<f64>,
    /// Term-structure slope: back-month minus front-month ATM IV, in vol
    /// points per 30 days (positive = contango).
    pub term_slope: Option<f64>,
    /// Trend/momentum score in -1..=1 (positive = up).
    pub trend: Option<f64>,
    /// ATM implied vol (decimal, 0.25 = 25%), for the rationale text only.
    pub atm_iv: Option<f64>,
    /// 20-day realized vol (decimal), for the rationale text only.
    pub realized_vol: Option<f64>,
}

/// Trend slope (percent per day of the 20-day log-price regression) that maps
/// to a trend score of ±1: 0.5 %/day ≈ 10 % over 20 sessions.
pub const TREND_FULL_SCALE_PCT_PER_DAY: f64 = 0.5;

fn finite(v: Option<f64>) -> Option<f64> {
    v.filter(|x| x.is_finite())
}

impl RegimeInputs {
    /// Fills the inputs from the analytics output of one underlying:
    /// IV rank as is; IV-RV spread, 25-delta skew (30-day) and term slope
    /// (per 30 days) converted from decimal vol to vol points; trend =
    /// 20-day log-price slope / [`TREND_FULL_SCALE_PCT_PER_DAY`], clamped to
    /// -1..=1; ATM IV = 30-day ATM IV; realized vol = 20-day close-to-close.
    pub fn from_chain_analytics(a: &ChainAnalytics) -> Self {
        let points = |v: Option<f64>| v.map(|x| x * 100.0);
        Self {
            iv_rank: a.iv_rank.as_ref().and_then(|r| r.iv_rank),
            iv_rank_days: a.iv_rank.as_ref().and_then(|r| u32::try_from(r.days).ok()),
            iv_rv_spread: points(a.iv_rv_spread),
            skew_25d: points(a.skew_25d_30d),
            term_slope: points(a.term_slope_per_30d),
            trend: a
                .momentum
                .trend_20d_pct_per_day
                .map(|t| (t / TREND_FULL_SCALE_PCT_PER_DAY).clamp(-1.0, 1.0)),
            atm_iv: a.atm_iv_30d,
            realized_vol: a.rv_20d,
        }
        .sanitized()
    }

    /// A copy with non-finite values replaced by `None` and IV rank / trend
    /// values outside their ranges dropped.
    pub fn sanitized(&self) -> Self {
        Self {
            iv_rank: finite(self.iv_rank).filter(|v| (0.0..=100.0).contains(v)),
            iv_rank_days: self.iv_rank_days,
            iv_rv_spread: finite(self.iv_rv_spread),
            skew_25d: finite(self.skew_25d),
            term_slope: finite(self.term_slope),
            trend: finite(self.trend).map(|t| t.clamp(-1.0, 1.0)),
            atm_iv: finite(self.atm_iv).filter(|v| *v > 0.0),
            realized_vol: finite(self.realized_vol).filter(|v| *v >= 0.0),
        }
    }
}

/// Whether the vol regime favours selling or buying option premium.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PremiumStance {
    Sell,
    Buy,
    /// Neither threshold met (or IV rank unknown).
    Neutral,
}

/// Directional view from the trend score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Bullish,
    Bearish,
    Neutral,
}

/// The named rule that picked the strategy (stable identifiers for storage).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SelectionRule {
    /// Rich vol, uptrend: bull put credit spread.
    SellPremiumBullish,
    /// Rich vol, downtrend: bear call credit spread.
    SellPremiumBearish,
    /// Rich vol, no trend: iron condor.
    SellPremiumNeutral,
    /// Rich vol, no trend, steep put skew: bull put credit spread.
    SellPremiumNeutralRichPuts,
    /// Cheap vol, strong trend, very low IV rank: long option (debit spread as fallback).
    BuyPremiumStrongTrend,
    /// Cheap vol, trend: debit spread.
    BuyPremiumTrend,
    /// Cheap vol, no trend, flat or inverted term structure: calendar.
    BuyPremiumNeutralCalendar,
    /// Cheap vol, no trend, but back months much dearer than the front: no trade.
    BuyPremiumTermTooSteep,
    /// Vol neither rich nor cheap, but a trend: debit spread (defined risk, little vega).
    MixedVolTrend,
    /// Vol neither rich nor cheap and no trend: no trade.
    NoEdge,
}

/// Which input a reason is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegimeFactor {
    IvRank,
    IvRvSpread,
    Skew25d,
    TermSlope,
    Trend,
}

/// What a factor's reading meant for the decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FactorEffect {
    FavoursSelling,
    FavoursBuying,
    /// Blocks selling premium (e.g. IV under realized).
    AgainstSelling,
    /// Inside the neutral band.
    Neutral,
    Bullish,
    Bearish,
    StrongBullish,
    StrongBearish,
    /// Put skew steep enough to prefer selling puts.
    RichPuts,
    /// Term structure allows a calendar.
    CalendarFriendly,
    /// Term structure too steep for a calendar.
    CalendarUnfriendly,
    /// The input was missing.
    Missing,
    /// The IV rank rests on fewer days than `iv_rank_min_days`: cited
    /// (`value`, `threshold` = the minimum), not acted on.
    TooFewDays,
}

/// One factor's reading, the threshold it was compared with and its effect.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RegimeReason {
    pub factor: RegimeFactor,
    pub value: Option<f64>,
    pub threshold: Option<f64>,
    pub effect: FactorEffect,
}

/// The outcome of regime selection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegimeDecision {
    pub stance: PremiumStance,
    pub direction: Direction,
    pub rule: SelectionRule,
    /// Strategy kinds to try, best first (empty = no trade).
    pub strategies: Vec<StrategyKind>,
    pub reasons: Vec<RegimeReason>,
}

impl RegimeDecision {
    /// The first strategy to try, if any.
    pub fn primary(&self) -> Option<StrategyKind> {
        self.strategies.first().copied()
    }
}

fn reason(
    factor: RegimeFactor,
    value: Option<f64>,
    threshold: Option<f64>,
    effect: FactorEffect,
) -> RegimeReason {
    RegimeReason {
        factor,
        value,
        threshold,
        effect,
    }
}

/// Chooses stance, direction and strategies from the inputs (see
/// docs/strategies.md for the rule table).
pub fn select_regime(raw: &RegimeInputs, cfg: &StrategyConfig) -> RegimeDecision {
    use FactorEffect as E;
    use RegimeFactor as F;
    let sane = raw.sanitized();
    // An IV rank on too short a history is cited, never acted on.
    let short_rank = sane
        .iv_rank
        .zip(sane.iv_rank_days)
        .filter(|(_, days)| *days < cfg.iv_rank_min_days);
    let inp = RegimeInputs {
        iv_rank: sane.iv_rank.filter(|_| short_rank.is_none()),
        ..sane
    };
    let mut reasons = Vec::new();

    // Volatility stance.
    let rich_rank = inp.iv_rank.map(|r| r >= cfg.sell_min_iv_rank);
    let cheap_rank = inp.iv_rank.map(|r| r <= cfg.buy_max_iv_rank);
    let spread_ok_to_sell = inp.iv_rv_spread.map(|s| s >= cfg.sell_min_iv_rv_spread);
    let spread_cheap = inp.iv_rv_spread.map(|s| s <= cfg.buy_max_iv_rv_spread);
    let stance = if rich_rank == Some(true) && spread_ok_to_sell != Some(false) {
        PremiumStance::Sell
    } else if cheap_rank == Some(true) || spread_cheap == Some(true) {
        PremiumStance::Buy
    } else {
        PremiumStance::Neutral
    };
    reasons.push(match inp.iv_rank {
        None => match short_rank {
            Some((r, _)) => reason(
                F::IvRank,
                Some(r),
                Some(f64::from(cfg.iv_rank_min_days)),
                E::TooFewDays,
            ),
            None => reason(F::IvRank, None, None, E::Missing),
        },
        Some(r) if r >= cfg.sell_min_iv_rank => reason(
            F::IvRank,
            Some(r),
            Some(cfg.sell_min_iv_rank),
            E::FavoursSelling,
        ),
        Some(r) if r <= cfg.buy_max_iv_rank => reason(
            F::IvRank,
            Some(r),
            Some(cfg.buy_max_iv_rank),
            E::FavoursBuying,
        ),
        Some(r) => reason(F::IvRank, Some(r), Some(cfg.sell_min_iv_rank), E::Neutral),
    });
    reasons.push(match inp.iv_rv_spread {
        None => reason(F::IvRvSpread, None, None, E::Missing),
        Some(s) if s <= cfg.buy_max_iv_rv_spread => reason(
            F::IvRvSpread,
            Some(s),
            Some(cfg.buy_max_iv_rv_spread),
            E::FavoursBuying,
        ),
        Some(s) if s < cfg.sell_min_iv_rv_spread => reason(
            F::IvRvSpread,
            Some(s),
            Some(cfg.sell_min_iv_rv_spread),
            E::AgainstSelling,
        ),
        Some(s) => reason(
            F::IvRvSpread,
            Some(s),
            Some(cfg.sell_min_iv_rv_spread),
            E::FavoursSelling,
        ),
    });

    // Direction.
    let (direction, strong) = match inp.trend {
        None => {
            reasons.push(reason(F::Trend, None, None, E::Missing));
            (Direction::Neutral, false)
        }
        Some(t) => {
            let strong = t.abs() >= cfg.strong_trend_threshold;
            let (dir, eff, thr) = if t >= cfg.trend_threshold {
                let e = if strong { E::StrongBullish } else { E::Bullish };
                (Direction::Bullish, e, cfg.trend_threshold)
            } else if t <= -cfg.trend_threshold {
                let e = if strong { E::StrongBearish } else { E::Bearish };
                (Direction::Bearish, e, -cfg.trend_threshold)
            } else {
                (Direction::Neutral, E::Neutral, cfg.trend_threshold)
            };
            reasons.push(reason(F::Trend, Some(t), Some(thr), eff));
            (dir, strong)
        }
    };

    use StrategyKind as K;
    let (rule, strategies) = match (stance, direction) {
        (PremiumStance::Sell, Direction::Bullish) => (
            SelectionRule::SellPremiumBullish,
            vec![K::BullPutCreditSpread],
        ),
        (PremiumStance::Sell, Direction::Bearish) => (
            SelectionRule::SellPremiumBearish,
            vec![K::BearCallCreditSpread],
        ),
        (PremiumStance::Sell, Direction::Neutral) => match inp.skew_25d {
            Some(s) if s >= cfg.rich_put_skew => {
                reasons.push(reason(
                    F::Skew25d,
                    Some(s),
                    Some(cfg.rich_put_skew),
                    E::RichPuts,
                ));
                (
                    SelectionRule::SellPremiumNeutralRichPuts,
                    vec![K::BullPutCreditSpread],
                )
            }
            s => {
                let eff = if s.is_some() { E::Neutral } else { E::Missing };
                reasons.push(reason(F::Skew25d, s, Some(cfg.rich_put_skew), eff));
                (SelectionRule::SellPremiumNeutral, vec![K::IronCondor])
            }
        },
        (PremiumStance::Buy, Direction::Bullish | Direction::Bearish) => {
            let bullish = direction == Direction::Bullish;
            let (outright, spread) = if bullish {
                (K::LongCall, K::BullCallDebitSpread)
            } else {
                (K::LongPut, K::BearPutDebitSpread)
            };
            let very_cheap = inp
                .iv_rank
                .is_some_and(|r| r <= cfg.long_option_max_iv_rank);
            if strong && very_cheap {
                (SelectionRule::BuyPremiumStrongTrend, vec![outright, spread])
            } else {
                (SelectionRule::BuyPremiumTrend, vec![spread])
            }
        }
        (PremiumStance::Buy, Direction::Neutral) => {
            let order = if inp.trend.is_some_and(|t| t < 0.0) {
                vec![K::PutCalendar, K::CallCalendar]
            } else {
                vec![K::CallCalendar, K::PutCalendar]
            };
            match inp.term_slope {
                Some(s) if s > cfg.calendar_max_term_slope => {
                    reasons.push(reason(
                        F::TermSlope,
                        Some(s),
                        Some(cfg.calendar_max_term_slope),
                        E::CalendarUnfriendly,
                    ));
                    (SelectionRule::BuyPremiumTermTooSteep, Vec::new())
                }
                s => {
                    let eff = if s.is_some() {
                        E::CalendarFriendly
                    } else {
                        E::Missing
                    };
                    reasons.push(reason(
                        F::TermSlope,
                        s,
                        Some(cfg.calendar_max_term_slope),
                        eff,
                    ));
                    (SelectionRule::BuyPremiumNeutralCalendar, order)
                }
            }
        }
        (PremiumStance::Neutral, Direction::Bullish) => {
            (SelectionRule::MixedVolTrend, vec![K::BullCallDebitSpread])
        }
        (PremiumStance::Neutral, Direction::Bearish) => {
            (SelectionRule::MixedVolTrend, vec![K::BearPutDebitSpread])
        }
        (PremiumStance::Neutral, Direction::Neutral) => (SelectionRule::NoEdge, Vec::new()),
    };

    RegimeDecision {
        stance,
        direction,
        rule,
        strategies,
        reasons,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::rationale::volatility_clause;

    fn rich(days: Option<u32>) -> RegimeInputs {
        RegimeInputs {
            iv_rank: Some(80.0),
            iv_rank_days: days,
            iv_rv_spread: Some(5.0),
            trend: Some(0.0),
            skew_25d: Some(1.0),
            ..RegimeInputs::default()
        }
    }

    #[test]
    fn an_iv_rank_on_too_few_days_is_cited_not_acted_on() {
        let cfg = StrategyConfig::default();
        assert_eq!(cfg.iv_rank_min_days, 20);
        for days in [Some(20), Some(252), None] {
            let d = select_regime(&rich(days), &cfg);
            assert_eq!(d.stance, PremiumStance::Sell, "{days:?}");
            assert_eq!(d.strategies, vec![StrategyKind::IronCondor]);
        }
        for days in [1, 5, 19] {
            let inputs = rich(Some(days));
            let d = select_regime(&inputs, &cfg);
            assert_ne!(d.stance, PremiumStance::Sell, "{days} days");
            let r = d.reasons[0];
            assert_eq!(r.factor, RegimeFactor::IvRank);
            assert_eq!(r.effect, FactorEffect::TooFewDays);
            assert_eq!((r.value, r.threshold), (Some(80.0), Some(20.0)));
            let clause = volatility_clause(&d, &inputs);
            assert!(
                clause.contains(&format!(
                    "IV rank 80 (on only {days} days, under 20: not used)"
                )),
                "{clause}"
            );
        }
        // A low rank on a short history does not buy premium either.
        let cheap = RegimeInputs {
            iv_rank: Some(5.0),
            iv_rank_days: Some(3),
            iv_rv_spread: None,
            trend: Some(0.0),
            ..RegimeInputs::default()
        };
        assert_eq!(select_regime(&cheap, &cfg).rule, SelectionRule::NoEdge);
    }

    #[test]
    fn the_rationale_cites_the_rank_and_its_days() {
        let cfg = StrategyConfig::default();
        let inputs = rich(Some(252));
        let d = select_regime(&inputs, &cfg);
        assert_eq!(
            volatility_clause(&d, &inputs),
            "IV rank 80 (over 252 days) and IV 5.0 points over 20-day RV favour selling premium"
        );
    }
}
