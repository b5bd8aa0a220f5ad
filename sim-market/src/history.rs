//! Seeded daily OHLCV history.

use chrono::NaiveDate;
use sas_core::market::{DailyBar, Symbol};

use crate::daily::{sessions_before, PathDay};
use crate::market::SimMarket;
use crate::SimError;

/// Most bars [`SimMarket::daily_history`] returns (about two years).
pub const MAX_HISTORY_DAYS: u32 = 730;
/// Most calendar days [`SimMarket::iv_history`] spans (one year).
pub const MAX_IV_HISTORY_DAYS: u32 = 365;

impl SimMarket {
    /// `days` daily bars (NYSE trading days only: no weekends or exchange
    /// holidays; oldest first) ending at the last trading day before
    /// `today`.
    ///
    /// Every bar is a session of one path per (seed, symbol), walked
    /// forward from the first session of 2015 (see `docs/sim-market.md`):
    /// the bar of a date is the same whatever `today` it is asked from, a
    /// shorter request is a suffix of a longer one, and a market started on
    /// `today` starts at the last bar's close. Daily volatility follows the
    /// volatility model's state; OHLC are consistent
    /// (`low <= min(open, close)`, `high >= max(open, close)`), prices in cents.
    pub fn daily_history(
        &self,
        symbol: &Symbol,
        days: u32,
        today: NaiveDate,
    ) -> Result<Vec<DailyBar>, SimError> {
        if days == 0 || days > MAX_HISTORY_DAYS {
            return Err(SimError::InvalidInput {
                field: "days",
                reason: format!("must be 1..={MAX_HISTORY_DAYS}, got {days}"),
            });
        }
        let mut path = self.daily_path(symbol, today)?;
        path.truncate(days as usize);
        Ok(path.into_iter().rev().map(|d| d.bar).collect())
    }

    /// Daily closes of the symbol's 30-day at-the-money implied volatility
    /// on the sessions of the `calendar_days` days before `today` (1..=365),
    /// oldest first. Each close is the option surface's 30-day ATM IV
    /// ([`SimMarket::model_iv`]'s term structure) at that day's volatility
    /// state, the same state that drove the day's bar in
    /// [`SimMarket::daily_history`]; so implied and realized volatility move
    /// together, implied a little above. The close of a date is the same
    /// whatever `today` it is asked from.
    pub fn iv_history(
        &self,
        symbol: &Symbol,
        calendar_days: u32,
        today: NaiveDate,
    ) -> Result<Vec<IvClose>, SimError> {
        if calendar_days == 0 || calendar_days > MAX_IV_HISTORY_DAYS {
            return Err(SimError::InvalidInput {
                field: "days",
                reason: format!("must be 1..={MAX_IV_HISTORY_DAYS}, got {calendar_days}"),
            });
        }
        let first = today - chrono::Duration::days(i64::from(calendar_days));
        let path = self.daily_path(symbol, today)?;
        let mut out: Vec<IvClose> = path
            .iter()
            .take_while(|d| d.bar.date >= first)
            .map(|d| IvClose {
                date: d.bar.date,
                iv: d.iv,
            })
            .collect();
        out.reverse();
        Ok(out)
    }

    fn daily_path(&self, symbol: &Symbol, today: NaiveDate) -> Result<Vec<PathDay>, SimError> {
        let params = self.params(symbol)?;
        Ok(sessions_before(
            self.config().seed,
            params,
            today,
            MAX_HISTORY_DAYS as usize,
        ))
    }
}

/// One daily close of the 30-day ATM implied volatility.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IvClose {
    /// Session date.
    pub date: NaiveDate,
    /// Decimal IV (0.25 = 25 %).
    pub iv: f64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::is_trading_day;
    use crate::SimConfig;
    use chrono::{TimeZone, Utc};
    use proptest::prelude::*;

    fn market(seed: u64) -> SimMarket {
        let start = Utc.with_ymd_and_hms(2026, 11, 21, 9, 0, 0).unwrap();
        let syms = ["SPY", "TSLA", "NVDA", "ZZZQ"]
            .iter()
            .map(|s| Symbol::parse(s).unwrap())
            .collect();
        SimMarket::new(SimConfig::new(seed, syms, start)).unwrap()
    }

    fn spy() -> Symbol {
        Symbol::parse("SPY").unwrap()
    }

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 21).unwrap()
    }

    #[test]
    fn ends_before_today_on_trading_days_at_the_market_start() {
        let m = market(1);
        let bars = m.daily_history(&spy(), 730, today()).unwrap();
        assert_eq!(bars.len(), 730);
        assert_eq!(
            bars.last().unwrap().date,
            NaiveDate::from_ymd_opt(2026, 11, 20).unwrap()
        );
        // The intraday path starts at the last close before its start.
        assert_eq!(bars.last().unwrap().close, m.spot(&spy()).unwrap());
        assert!(bars.iter().all(|b| is_trading_day(b.date)));
        assert!(bars.windows(2).all(|w| w[0].date < w[1].date));
        // 730 sessions: about 2.9 calendar years.
        let span = (bars[729].date - bars[0].date).num_days();
        assert!((1_050..=1_065).contains(&span), "{span}");
        for holiday in [(2025, 11, 27), (2025, 12, 25), (2026, 7, 3)] {
            let d = NaiveDate::from_ymd_opt(holiday.0, holiday.1, holiday.2).unwrap();
            assert!(bars.iter().all(|b| b.date != d), "bar on holiday {d}");
        }
    }

    #[test]
    fn shorter_request_is_suffix_and_seeded() {
        let m = market(1);
        let long = m.daily_history(&spy(), 300, today()).unwrap();
        let short = m.daily_history(&spy(), 20, today()).unwrap();
        assert_eq!(&long[280..], &short[..]);
        let other = market(2).daily_history(&spy(), 20, today()).unwrap();
        assert_ne!(short, other);
        assert_eq!(short, market(1).daily_history(&spy(), 20, today()).unwrap());
    }

    #[test]
    fn realized_vol_is_near_parameter() {
        let m = market(9);
        for (s, lo, hi) in [("SPY", 0.09, 0.30), ("TSLA", 0.35, 1.0)] {
            let bars = m
                .daily_history(&Symbol::parse(s).unwrap(), 730, today())
                .unwrap();
            let rets: Vec<f64> = bars
                .windows(2)
                .map(|w| (w[1].close / w[0].close).ln())
                .collect();
            let mean = rets.iter().sum::<f64>() / rets.len() as f64;
            let var = rets.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / rets.len() as f64;
            let annual = (var * 252.0).sqrt();
            assert!((lo..hi).contains(&annual), "{s} realized {annual}");
        }
    }

    #[test]
    fn bad_days_and_unknown_symbol() {
        let m = market(1);
        assert!(matches!(
            m.daily_history(&spy(), 0, today()),
            Err(SimError::InvalidInput { field: "days", .. })
        ));
        assert!(m.daily_history(&spy(), 731, today()).is_err());
        assert!(matches!(
            m.daily_history(&Symbol::parse("AAPL").unwrap(), 5, today()),
            Err(SimError::UnknownSymbol(_))
        ));
    }

    proptest! {
        #[test]
        fn ohlc_consistent_and_volumes_vary(seed in any::<u64>(), days in 2u32..=730, which in 0usize..4) {
            let m = market(seed);
            let s = ["SPY", "TSLA", "NVDA", "ZZZQ"][which];
            let bars = m.daily_history(&Symbol::parse(s).unwrap(), days, today()).unwrap();
            prop_assert_eq!(bars.len(), days as usize);
            for b in &bars {
                prop_assert!(b.low > 0.0);
                prop_assert!(b.low <= b.open.min(b.close), "{:?}", b);
                prop_assert!(b.high >= b.open.max(b.close), "{:?}", b);
                prop_assert!(b.volume > 0);
            }
            let first = bars[0].volume;
            prop_assert!(bars.iter().any(|b| b.volume != first));
        }
    }
}
