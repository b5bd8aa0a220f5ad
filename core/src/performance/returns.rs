//! Figures from equity snapshots.
//!
//! Conventions (see docs/performance.md):
//! - the equity of a day is its last snapshot (New York date);
//! - daily return `r_d = E_d / E_{d−1} − 1` between consecutive days that
//!   have a snapshot (deposits and withdrawals are not adjusted for);
//! - Sharpe = mean(r) / s(r) × √252, `s` the sample standard deviation
//!   (n − 1), risk-free rate 0;
//! - Sortino = mean(r) / DD × √252, `DD = √(Σ min(r, 0)² / n)` over all n
//!   days (not only the losing ones);
//! - max drawdown = max over days of `(peak − E) / peak`, peak the running
//!   maximum of daily equity; its duration runs from that peak to the day
//!   equity first regained it (or to the last day when it has not);
//! - annualized return = `(E_last / E_first)^(252 / n) − 1`; Calmar =
//!   annualized return / max drawdown.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::calendar::utc_to_eastern;
use crate::money::Money;

/// Trading days per year.
pub const TRADING_DAYS: f64 = 252.0;

/// Net liquidation at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EquitySnapshot {
    pub at: DateTime<Utc>,
    pub net_liquidation: Money,
}

/// One day's closing equity.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DailyEquity {
    pub date: NaiveDate,
    pub equity: f64,
}

/// The last snapshot of each New York date, in date order.
#[must_use]
pub fn daily_equity(snapshots: &[EquitySnapshot]) -> Vec<DailyEquity> {
    let mut sorted: Vec<&EquitySnapshot> = snapshots.iter().collect();
    sorted.sort_by_key(|s| s.at);
    let mut out: Vec<DailyEquity> = Vec::new();
    for s in sorted {
        let date = utc_to_eastern(s.at).date();
        let equity = s.net_liquidation.dollars();
        match out.last_mut() {
            Some(last) if last.date == date => last.equity = equity,
            _ => out.push(DailyEquity { date, equity }),
        }
    }
    out
}

/// Daily returns of consecutive days (a day after a non-positive equity is
/// skipped).
#[must_use]
pub fn daily_returns(days: &[DailyEquity]) -> Vec<f64> {
    days.windows(2)
        .filter(|w| w[0].equity > 0.0)
        .map(|w| w[1].equity / w[0].equity - 1.0)
        .collect()
}

fn mean(r: &[f64]) -> Option<f64> {
    (!r.is_empty()).then(|| r.iter().sum::<f64>() / r.len() as f64)
}

/// Sample standard deviation (n − 1).
#[must_use]
pub fn sample_std(r: &[f64]) -> Option<f64> {
    if r.len() < 2 {
        return None;
    }
    let m = mean(r)?;
    let ss: f64 = r.iter().map(|x| (x - m) * (x - m)).sum();
    Some((ss / (r.len() - 1) as f64).sqrt())
}

/// Annualized Sharpe ratio (rf = 0); `None` under 2 returns or no spread.
#[must_use]
pub fn sharpe(r: &[f64]) -> Option<f64> {
    let s = sample_std(r).filter(|s| *s > 0.0)?;
    Some(mean(r)? / s * TRADING_DAYS.sqrt())
}

/// Downside deviation `√(Σ min(r,0)² / n)` over all days.
#[must_use]
pub fn downside_deviation(r: &[f64]) -> Option<f64> {
    if r.is_empty() {
        return None;
    }
    let ss: f64 = r.iter().map(|x| x.min(0.0).powi(2)).sum();
    Some((ss / r.len() as f64).sqrt())
}

/// Annualized Sortino ratio (rf = 0); `None` without a losing day.
#[must_use]
pub fn sortino(r: &[f64]) -> Option<f64> {
    let dd = downside_deviation(r).filter(|d| *d > 0.0)?;
    Some(mean(r)? / dd * TRADING_DAYS.sqrt())
}

/// The deepest fall from a running peak of daily equity.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Drawdown {
    /// Fraction of the peak (0.1 = 10 %).
    pub depth: f64,
    pub peak: NaiveDate,
    pub trough: NaiveDate,
    /// First day equity was back at the peak, if it was.
    pub recovered: Option<NaiveDate>,
    /// Calendar days from the peak to the recovery (or to the last day).
    pub duration_days: i64,
}

/// Max drawdown of daily equity; `None` with no day or no fall.
#[must_use]
pub fn max_drawdown(days: &[DailyEquity]) -> Option<Drawdown> {
    let mut peak = *days.first()?;
    let mut best: Option<(f64, DailyEquity, DailyEquity)> = None;
    for d in days {
        if d.equity > peak.equity {
            peak = *d;
        }
        if peak.equity > 0.0 {
            let depth = (peak.equity - d.equity) / peak.equity;
            if depth > 0.0 && best.is_none_or(|(b, _, _)| depth > b) {
                best = Some((depth, peak, *d));
            }
        }
    }
    let (depth, peak, trough) = best?;
    let recovered = days
        .iter()
        .find(|d| d.date > trough.date && d.equity >= peak.equity)
        .map(|d| d.date);
    let end = recovered.unwrap_or(days.last()?.date);
    Some(Drawdown {
        depth,
        peak: peak.date,
        trough: trough.date,
        recovered,
        duration_days: (end - peak.date).num_days(),
    })
}

/// `(E_last / E_first)^(252 / n) − 1` with n daily returns.
#[must_use]
pub fn annualized_return(days: &[DailyEquity]) -> Option<f64> {
    let (first, last) = (days.first()?, days.last()?);
    let n = days.len().checked_sub(1).filter(|n| *n > 0)?;
    if first.equity <= 0.0 || last.equity < 0.0 {
        return None;
    }
    Some((last.equity / first.equity).powf(TRADING_DAYS / n as f64) - 1.0)
}

/// Annualized return / max drawdown depth; `None` without a drawdown.
#[must_use]
pub fn calmar(days: &[DailyEquity]) -> Option<f64> {
    let dd = max_drawdown(days)?.depth;
    Some(annualized_return(days)? / dd)
}

/// Every equity figure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct EquityFigures {
    pub days: usize,
    pub daily_returns: Vec<f64>,
    pub total_return: Option<f64>,
    pub annualized_return: Option<f64>,
    pub sharpe: Option<f64>,
    pub sortino: Option<f64>,
    pub max_drawdown: Option<Drawdown>,
    pub calmar: Option<f64>,
}

/// All figures of a series of snapshots.
#[must_use]
pub fn equity_figures(snapshots: &[EquitySnapshot]) -> EquityFigures {
    let days = daily_equity(snapshots);
    let r = daily_returns(&days);
    let total_return = match (days.first(), days.last()) {
        (Some(f), Some(l)) if f.equity > 0.0 && days.len() > 1 => Some(l.equity / f.equity - 1.0),
        _ => None,
    };
    EquityFigures {
        days: days.len(),
        total_return,
        annualized_return: annualized_return(&days),
        sharpe: sharpe(&r),
        sortino: sortino(&r),
        max_drawdown: max_drawdown(&days),
        calmar: calmar(&days),
        daily_returns: r,
    }
}
