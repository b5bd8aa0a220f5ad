//! Trade numbers of a set of legs: entry prices, payoff at the (front)
//! expiry, exact or grid extremes, breakevens, probability of profit and
//! expected value under the implied lognormal distribution, position greeks.
//!
//! Units: prices per share as quoted; `max_profit`, `max_loss`,
//! `expected_value`, greeks and the payoff curve in dollars per one unit of
//! the strategy (one contract of each leg times its ratio, times the
//! contract multiplier).

use serde::{Deserialize, Serialize};

use crate::analytics::bsm::{self, BsmInput, DAYS_PER_YEAR};

use super::types::{net_price_mid, net_price_natural, Leg};

/// Market inputs shared by all legs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PricingContext {
    /// Underlying price now.
    pub spot: f64,
    /// Continuously compounded risk-free rate.
    pub rate: f64,
    /// Continuous dividend yield.
    pub div_yield: f64,
    /// Volatility of the lognormal distribution used for PoP and EV
    /// (ATM implied vol of the front expiry, decimal).
    pub distribution_vol: f64,
}

/// How max profit / max loss were obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExtremesMethod {
    /// Piecewise-linear payoff: evaluated at zero, every strike and the
    /// slope beyond the last strike.
    Exact,
    /// Calendar: maximum/minimum of the payoff on a fine grid (back leg
    /// valued with BSM at the front expiry).
    Grid,
}

/// Position greeks of one unit of the strategy, in dollars per contract set:
/// delta in share equivalents, gamma in shares per $1, theta in $ per
/// calendar day, vega in $ per vol point.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct PositionGreeks {
    pub delta: f64,
    pub gamma: f64,
    pub theta_per_day: f64,
    pub vega_per_point: f64,
}

/// One point of the payoff chart.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PayoffPoint {
    /// Underlying price at the (front) expiry.
    pub underlying: f64,
    /// Profit or loss in dollars per contract set, entry at mid.
    pub pnl: f64,
}

/// The numbers of one candidate trade.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TradeMetrics {
    /// Net entry per share at mid (positive = debit, negative = credit).
    pub net_price_mid: f64,
    /// Net entry per share at the natural market (buy ask, sell bid).
    pub net_price_natural: f64,
    /// Max profit in $ per contract set at mid entry; `None` = unlimited.
    pub max_profit: Option<f64>,
    /// Max loss in $ per contract set at mid entry (positive number).
    pub max_loss: f64,
    /// Max loss in $ per contract set if filled at the natural price
    /// (what sizing uses).
    pub max_loss_natural: f64,
    /// Underlying prices at the (front) expiry where P&L is zero, ascending.
    pub breakevens: Vec<f64>,
    /// `max_profit / max_loss`; `None` when profit is unlimited.
    pub reward_risk: Option<f64>,
    /// P(P&L at the horizon > 0) under the risk-neutral lognormal.
    pub probability_of_profit: f64,
    /// Expected P&L in $ per contract set at the horizon (undiscounted),
    /// entry at mid, under the same distribution.
    pub expected_value: f64,
    pub greeks: PositionGreeks,
    pub extremes_method: ExtremesMethod,
    /// Days to the horizon (the only/front expiry).
    pub horizon_dte: u32,
    /// The distribution vol used for PoP/EV.
    pub distribution_vol: f64,
    /// Payoff chart points, ascending in `underlying`.
    pub payoff_curve: Vec<PayoffPoint>,
}

/// Why a set of legs cannot be analysed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "snake_case", tag = "code", content = "detail")]
pub enum AnalysisError {
    #[error("no legs")]
    NoLegs,
    #[error("invalid input: {0}")]
    InvalidInput(String),
    #[error("loss is unlimited")]
    UnlimitedLoss,
    #[error("trade shows no possible loss at mid (quotes inconsistent)")]
    NoRisk,
}

fn years(days: u32) -> f64 {
    f64::from(days) / DAYS_PER_YEAR
}

fn intrinsic(leg: &Leg, s: f64) -> f64 {
    match leg.right {
        crate::market::OptionRight::Call => (s - leg.strike).max(0.0),
        crate::market::OptionRight::Put => (leg.strike - s).max(0.0),
    }
}

/// Evaluates P&L at the horizon for the legs.
struct PayoffModel<'a> {
    legs: &'a [Leg],
    ctx: PricingContext,
    horizon_dte: u32,
    net_debit: f64,
    multiplier: f64,
}

impl PayoffModel<'_> {
    /// Value per share of one leg at the horizon for underlying `s`: the
    /// intrinsic value for legs expiring at the horizon; for later legs the
    /// BSM value at the leg's own IV, floored at intrinsic value (US equity
    /// options are American, so a long back leg is never worth less than
    /// exercising it).
    fn leg_value(&self, leg: &Leg, s: f64) -> f64 {
        if leg.dte <= self.horizon_dte {
            intrinsic(leg, s)
        } else {
            let vol = leg.quote.iv.unwrap_or(self.ctx.distribution_vol);
            let p = bsm::price(&BsmInput {
                spot: s,
                strike: leg.strike,
                t_years: years(leg.dte - self.horizon_dte),
                rate: self.ctx.rate,
                div_yield: self.ctx.div_yield,
                vol,
                right: leg.right,
            });
            if p.is_finite() {
                p.max(intrinsic(leg, s))
            } else {
                intrinsic(leg, s)
            }
        }
    }

    /// P&L per share at the horizon, entry at mid.
    fn pnl_per_share(&self, s: f64) -> f64 {
        self.legs
            .iter()
            .map(|l| l.signed_ratio() * self.leg_value(l, s))
            .sum::<f64>()
            - self.net_debit
    }

    fn pnl(&self, s: f64) -> f64 {
        self.pnl_per_share(s) * self.multiplier
    }
}

/// Lognormal distribution of the underlying at the horizon.
struct Lognormal {
    spot: f64,
    drift: f64,
    total_vol: f64,
}

impl Lognormal {
    fn new(ctx: &PricingContext, t: f64) -> Self {
        let v = ctx.distribution_vol;
        Self {
            spot: ctx.spot,
            drift: (ctx.rate - ctx.div_yield - 0.5 * v * v) * t,
            total_vol: v * t.sqrt(),
        }
    }

    /// P(S_T <= x).
    fn cdf(&self, x: f64) -> f64 {
        if x <= 0.0 {
            return 0.0;
        }
        if !x.is_finite() {
            return 1.0;
        }
        let z = (x / self.spot).ln() - self.drift;
        if self.total_vol > 0.0 {
            bsm::norm_cdf(z / self.total_vol)
        } else if z >= 0.0 {
            1.0
        } else {
            0.0
        }
    }

    fn at(&self, z: f64) -> f64 {
        self.spot * (self.drift + self.total_vol * z).exp()
    }
}

fn validate(legs: &[Leg], ctx: &PricingContext, multiplier: f64) -> Result<(), AnalysisError> {
    if legs.is_empty() {
        return Err(AnalysisError::NoLegs);
    }
    let bad = |what: &str| Err(AnalysisError::InvalidInput(what.to_string()));
    if !(ctx.spot.is_finite() && ctx.spot > 0.0) {
        return bad("spot");
    }
    if !(ctx.rate.is_finite() && ctx.div_yield.is_finite()) {
        return bad("rate or dividend yield");
    }
    if !(ctx.distribution_vol.is_finite() && ctx.distribution_vol > 0.0) {
        return bad("distribution vol");
    }
    if !(multiplier.is_finite() && multiplier > 0.0) {
        return bad("multiplier");
    }
    for l in legs {
        let q = &l.quote;
        if !(l.strike.is_finite() && l.strike > 0.0) {
            return bad("strike");
        }
        if l.ratio == 0 {
            return bad("ratio");
        }
        let ok = q.bid.is_finite()
            && q.ask.is_finite()
            && q.mid.is_finite()
            && q.bid >= 0.0
            && q.ask >= q.bid
            && q.mid >= q.bid
            && q.mid <= q.ask;
        if !ok {
            return bad("leg quote");
        }
        if let Some(iv) = q.iv {
            if !(iv.is_finite() && iv > 0.0) {
                return bad("leg iv");
            }
        }
    }
    Ok(())
}

/// Computes every number of the trade. `curve_points` is the number of
/// evenly spaced chart points (strikes and breakevens are added to them).
pub fn analyze(
    legs: &[Leg],
    ctx: &PricingContext,
    multiplier: f64,
    curve_points: usize,
) -> Result<TradeMetrics, AnalysisError> {
    validate(legs, ctx, multiplier)?;
    let horizon_dte = legs.iter().map(|l| l.dte).min().unwrap_or(0);
    let single_expiry = legs.iter().all(|l| l.dte == horizon_dte);
    let net_mid = net_price_mid(legs);
    let net_natural = net_price_natural(legs);
    let model = PayoffModel {
        legs,
        ctx: *ctx,
        horizon_dte,
        net_debit: net_mid,
        multiplier,
    };
    let t = years(horizon_dte);
    let dist = Lognormal::new(ctx, t);
    let mut strikes: Vec<f64> = legs.iter().map(|l| l.strike).collect();
    strikes.sort_by(f64::total_cmp);
    strikes.dedup_by(|a, b| (*a - *b).abs() < 1e-9);

    let (max_profit, min_pnl, breakevens, method) = if single_expiry {
        linear_extremes(&model, &strikes)?
    } else {
        grid_extremes(&model, &strikes, ctx, &dist)
    };
    let max_loss = -min_pnl;
    if !(max_loss.is_finite() && max_loss > 1e-9) {
        return Err(AnalysisError::NoRisk);
    }
    let natural_shift = (net_natural - net_mid) * multiplier;
    let max_loss_natural = max_loss + natural_shift.max(0.0);
    let reward_risk = max_profit.map(|p| p / max_loss);

    let probability_of_profit = pop(&model, &breakevens, &dist);
    let expected_value = if single_expiry {
        linear_expected_value(&model, t)
    } else {
        integrate(&dist, &strikes, |s| model.pnl(s))
    };
    let greeks = position_greeks(legs, ctx, multiplier);
    let payoff_curve = payoff_curve(&model, &strikes, &breakevens, &dist, curve_points);
    let all_finite = [
        net_mid,
        net_natural,
        max_loss_natural,
        expected_value,
        probability_of_profit,
        greeks.delta,
        greeks.gamma,
        greeks.theta_per_day,
        greeks.vega_per_point,
    ]
    .iter()
    .chain(max_profit.iter())
    .chain(breakevens.iter())
    .all(|v| v.is_finite())
        && payoff_curve
            .iter()
            .all(|p| p.pnl.is_finite() && p.underlying.is_finite());
    if !all_finite {
        return Err(AnalysisError::InvalidInput(
            "numbers overflow (spot or prices out of range)".to_string(),
        ));
    }
    Ok(TradeMetrics {
        net_price_mid: net_mid,
        net_price_natural: net_natural,
        max_profit,
        max_loss,
        max_loss_natural,
        breakevens,
        reward_risk,
        probability_of_profit,
        expected_value,
        greeks,
        extremes_method: method,
        horizon_dte,
        distribution_vol: ctx.distribution_vol,
        payoff_curve,
    })
}

type Extremes = (Option<f64>, f64, Vec<f64>, ExtremesMethod);

/// Exact extremes and breakevens of a piecewise-linear payoff.
fn linear_extremes(model: &PayoffModel<'_>, strikes: &[f64]) -> Result<Extremes, AnalysisError> {
    // Slope (per $1 of underlying, in $ per contract set) beyond the last strike.
    let slope_right: f64 = model
        .legs
        .iter()
        .filter(|l| l.right == crate::market::OptionRight::Call)
        .map(|l| l.signed_ratio())
        .sum::<f64>()
        * model.multiplier;
    if slope_right < -1e-12 {
        return Err(AnalysisError::UnlimitedLoss);
    }
    let mut points = Vec::with_capacity(strikes.len() + 1);
    points.push(0.0);
    points.extend_from_slice(strikes);
    let values: Vec<f64> = points.iter().map(|&s| model.pnl(s)).collect();
    let mut max_v = f64::NEG_INFINITY;
    let mut min_v = f64::INFINITY;
    for &v in &values {
        max_v = max_v.max(v);
        min_v = min_v.min(v);
    }
    let max_profit = (slope_right <= 1e-12).then_some(max_v);

    let mut be = Vec::new();
    for i in 0..points.len() {
        let (p, v) = (points[i], values[i]);
        if i > 0 && v == 0.0 {
            be.push(p);
        }
        if i + 1 < points.len() {
            let (p2, v2) = (points[i + 1], values[i + 1]);
            if (v < 0.0 && v2 > 0.0) || (v > 0.0 && v2 < 0.0) {
                be.push(p + (p2 - p) * (-v) / (v2 - v));
            }
        }
    }
    let (last_p, last_v) = (points[points.len() - 1], values[values.len() - 1]);
    if slope_right.abs() > 1e-12 && last_v * slope_right < 0.0 {
        be.push(last_p - last_v / slope_right);
    }
    be.sort_by(f64::total_cmp);
    be.dedup_by(|a, b| (*a - *b).abs() < 1e-9);
    Ok((max_profit, min_v, be, ExtremesMethod::Exact))
}

/// Grid used for calendar extremes: from 1% of spot to 10x the largest of
/// spot and strikes, dense (4,001 points) between +-6 sd of the front
/// distribution, plus every strike.
fn calendar_grid(strikes: &[f64], ctx: &PricingContext, dist: &Lognormal) -> Vec<f64> {
    let sd = dist.total_vol.max(0.05);
    let kmin = strikes.first().copied().unwrap_or(ctx.spot);
    let kmax = strikes.last().copied().unwrap_or(ctx.spot);
    let lo = (ctx.spot * (-6.0 * sd).exp()).min(kmin * 0.8);
    let hi = (ctx.spot * (6.0 * sd).exp()).max(kmax * 1.25);
    let n = 4000;
    let mut g: Vec<f64> = (0..=n)
        .map(|i| lo + (hi - lo) * f64::from(i) / f64::from(n))
        .collect();
    let far_hi = 10.0 * ctx.spot.max(kmax);
    let near_zero = 0.01 * ctx.spot.min(kmin);
    for i in 1..=50 {
        let f = f64::from(i) / 50.0;
        g.push(near_zero + (lo - near_zero) * f);
        g.push(hi + (far_hi - hi) * f);
    }
    g.push(near_zero);
    g.extend_from_slice(strikes);
    g.sort_by(f64::total_cmp);
    g.dedup();
    g
}

fn bisect_zero(f: impl Fn(f64) -> f64, mut a: f64, mut b: f64) -> f64 {
    let mut fa = f(a);
    for _ in 0..60 {
        let m = 0.5 * (a + b);
        let fm = f(m);
        if fm == 0.0 {
            return m;
        }
        if (fm < 0.0) == (fa < 0.0) {
            a = m;
            fa = fm;
        } else {
            b = m;
        }
    }
    0.5 * (a + b)
}

fn grid_extremes(
    model: &PayoffModel<'_>,
    strikes: &[f64],
    ctx: &PricingContext,
    dist: &Lognormal,
) -> Extremes {
    let grid = calendar_grid(strikes, ctx, dist);
    let values: Vec<f64> = grid.iter().map(|&s| model.pnl(s)).collect();
    let mut max_v = f64::NEG_INFINITY;
    let mut min_v = f64::INFINITY;
    for &v in &values {
        if v.is_finite() {
            max_v = max_v.max(v);
            min_v = min_v.min(v);
        }
    }
    let mut be = Vec::new();
    for i in 0..grid.len().saturating_sub(1) {
        let (v, v2) = (values[i], values[i + 1]);
        if v == 0.0 {
            be.push(grid[i]);
        } else if (v < 0.0 && v2 > 0.0) || (v > 0.0 && v2 < 0.0) {
            be.push(bisect_zero(|s| model.pnl(s), grid[i], grid[i + 1]));
        }
    }
    (Some(max_v), min_v, be, ExtremesMethod::Grid)
}

/// Probability that P&L at the horizon is positive: sums the lognormal
/// probability of every interval between breakevens where P&L is positive.
fn pop(model: &PayoffModel<'_>, breakevens: &[f64], dist: &Lognormal) -> f64 {
    let mut edges = Vec::with_capacity(breakevens.len() + 2);
    edges.push(0.0);
    edges.extend(breakevens.iter().copied().filter(|b| *b > 0.0));
    edges.push(f64::INFINITY);
    let mut p = 0.0;
    for w in edges.windows(2) {
        let (a, b) = (w[0], w[1]);
        let probe = if b.is_infinite() {
            a.max(model.ctx.spot) * 2.0 + 1.0
        } else {
            0.5 * (a + b)
        };
        if model.pnl(probe) > 0.0 {
            p += dist.cdf(b) - dist.cdf(a);
        }
    }
    p.clamp(0.0, 1.0)
}

/// Exact expectation of a single-expiry payoff: each option's undiscounted
/// BSM value at the distribution vol, minus the debit.
fn linear_expected_value(model: &PayoffModel<'_>, t: f64) -> f64 {
    let growth = (model.ctx.rate * t).exp();
    let legs_value: f64 = model
        .legs
        .iter()
        .map(|l| {
            let p = bsm::price(&BsmInput {
                spot: model.ctx.spot,
                strike: l.strike,
                t_years: t,
                rate: model.ctx.rate,
                div_yield: model.ctx.div_yield,
                vol: model.ctx.distribution_vol,
                right: l.right,
            });
            l.signed_ratio() * p * growth
        })
        .sum();
    (legs_value - model.net_debit) * model.multiplier
}

/// E[f(S_T)] by composite Simpson over z in [-8, 8], split at the strikes
/// (where the payoff has kinks) so every piece is smooth; about 800
/// intervals in all.
fn integrate(dist: &Lognormal, strikes: &[f64], f: impl Fn(f64) -> f64) -> f64 {
    let (a, b) = (-8.0_f64, 8.0_f64);
    let mut cuts = vec![a];
    if dist.total_vol > 0.0 {
        for &k in strikes {
            let z = ((k / dist.spot).ln() - dist.drift) / dist.total_vol;
            if z.is_finite() && z > a && z < b {
                cuts.push(z);
            }
        }
    }
    cuts.push(b);
    cuts.sort_by(f64::total_cmp);
    let mut total = 0.0;
    for w in cuts.windows(2) {
        let (lo, hi) = (w[0], w[1]);
        if hi <= lo {
            continue;
        }
        // Even number of intervals, about 50 per unit of z, at least 8.
        let n = (((hi - lo) * 50.0).ceil() as u32)
            .max(8)
            .next_multiple_of(2);
        let h = (hi - lo) / f64::from(n);
        let mut sum = 0.0;
        for i in 0..=n {
            let z = lo + h * f64::from(i);
            let wt = if i == 0 || i == n {
                1.0
            } else if i % 2 == 1 {
                4.0
            } else {
                2.0
            };
            sum += wt * f(dist.at(z)) * bsm::norm_pdf(z);
        }
        total += sum * h / 3.0;
    }
    total
}

/// Sum of BSM greeks of the legs (each at its own IV and expiry).
fn position_greeks(legs: &[Leg], ctx: &PricingContext, multiplier: f64) -> PositionGreeks {
    let mut g = PositionGreeks::default();
    for l in legs {
        let vol = l.quote.iv.unwrap_or(ctx.distribution_vol);
        let (_, lg) = bsm::price_and_greeks(&BsmInput {
            spot: ctx.spot,
            strike: l.strike,
            t_years: years(l.dte),
            rate: ctx.rate,
            div_yield: ctx.div_yield,
            vol,
            right: l.right,
        });
        let w = l.signed_ratio() * multiplier;
        let delta = l.quote.delta.filter(|d| d.is_finite()).unwrap_or(lg.delta);
        let add = |x: f64| if x.is_finite() { x * w } else { 0.0 };
        g.delta += add(delta);
        g.gamma += add(lg.gamma);
        g.theta_per_day += add(lg.theta_per_day);
        g.vega_per_point += add(lg.vega_per_point);
    }
    g
}

/// Chart points: `n` evenly spaced prices covering the strikes and +-3 sd,
/// plus the strikes and breakevens themselves.
fn payoff_curve(
    model: &PayoffModel<'_>,
    strikes: &[f64],
    breakevens: &[f64],
    dist: &Lognormal,
    n: usize,
) -> Vec<PayoffPoint> {
    let spot = model.ctx.spot;
    let sd = dist.total_vol.max(0.02);
    let kmin = strikes.first().copied().unwrap_or(spot);
    let kmax = strikes.last().copied().unwrap_or(spot);
    let lo = (spot * (-3.0 * sd).exp()).min(kmin) * 0.95;
    let hi = (spot * (3.0 * sd).exp()).max(kmax) * 1.05;
    // Bounded even for an unvalidated config.
    let n = n.clamp(2, 2001);
    let mut xs: Vec<f64> = (0..n)
        .map(|i| lo + (hi - lo) * i as f64 / (n - 1) as f64)
        .collect();
    xs.extend_from_slice(strikes);
    xs.extend(breakevens.iter().copied().filter(|b| *b >= lo && *b <= hi));
    xs.sort_by(f64::total_cmp);
    xs.dedup_by(|a, b| (*a - *b).abs() < 1e-9);
    xs.into_iter()
        .map(|s| PayoffPoint {
            underlying: s,
            pnl: model.pnl(s),
        })
        .collect()
}

/// P&L in $ per contract set at the horizon for underlying `s`, entry at mid
/// (the same function the metrics use; exposed for tests and charts).
pub fn pnl_at(legs: &[Leg], ctx: &PricingContext, multiplier: f64, s: f64) -> f64 {
    let horizon_dte = legs.iter().map(|l| l.dte).min().unwrap_or(0);
    PayoffModel {
        legs,
        ctx: *ctx,
        horizon_dte,
        net_debit: net_price_mid(legs),
        multiplier,
    }
    .pnl(s)
}
