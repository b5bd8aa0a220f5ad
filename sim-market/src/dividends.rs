//! Seeded dividend schedules: what IB's "IB dividends" tick (generic tick
//! 456, received tick 59) reports for an underlying.
//!
//! A symbol whose dividend yield is zero pays nothing. Every other one pays
//! quarterly: ex-dates every [`DIVIDEND_PERIOD_DAYS`] calendar days from a
//! phase drawn from (seed, symbol), each moved forward to the next NYSE
//! trading day, and a fixed amount of `start price × yield / 4` rounded to
//! cents (at least one cent). Same seed, same schedule; the schedule does not
//! depend on the market's clock or path.

use chrono::{Duration, NaiveDate};
use sas_core::market::Symbol;

use crate::calendar::trading_day_on_or_after;
use crate::market::SimMarket;
use crate::seed::{fnv1a, unit};
use crate::SimError;

/// Calendar days between two ex-dates (about a quarter).
pub const DIVIDEND_PERIOD_DAYS: i64 = 91;
/// Seed domain of dividend phases (distinct from the market's own tags).
const DIVIDEND_TAG: u64 = 0xd1_71de_4d00;
/// Phases count from this Monday.
const EPOCH: (i32, u32, u32) = (2000, 1, 3);

/// An underlying's dividends as of one day, in IB's terms.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DividendInfo {
    /// Sum of the dividends with an ex-date in the 12 months before the day.
    pub past_12m: f64,
    /// Sum of the dividends with an ex-date in the 12 months from the day on.
    pub next_12m: f64,
    /// The next ex-date (on or after the day) and its amount; `None` for a
    /// symbol that pays no dividend.
    pub next: Option<(NaiveDate, f64)>,
}

impl DividendInfo {
    /// IB's tick 59 text: `past12m,next12m,nextDate(YYYYMMDD),nextAmount`
    /// (a non-payer: `0,0,,`).
    #[must_use]
    pub fn ib_text(&self) -> String {
        match self.next {
            Some((d, a)) => format!(
                "{},{},{},{}",
                cents(self.past_12m),
                cents(self.next_12m),
                d.format("%Y%m%d"),
                cents(a)
            ),
            None => "0,0,,".to_string(),
        }
    }
}

fn cents(x: f64) -> String {
    let s = format!("{x:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

impl SimMarket {
    /// The quarterly amount of `symbol`'s dividend (0 for a non-payer).
    fn dividend_amount(&self, symbol: &Symbol) -> Result<f64, SimError> {
        let p = self.params(symbol)?;
        if p.dividend_yield <= 0.0 {
            return Ok(0.0);
        }
        let raw = p.start_price * p.dividend_yield / 4.0;
        Ok(((raw * 100.0).round() / 100.0).max(0.01))
    }

    /// Ex-dates of `symbol` from `from` to `to` (inclusive), oldest first,
    /// with their amounts; empty for a non-payer.
    pub fn ex_dividends(
        &self,
        symbol: &Symbol,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<(NaiveDate, f64)>, SimError> {
        let amount = self.dividend_amount(symbol)?;
        if amount <= 0.0 || to < from {
            return Ok(Vec::new());
        }
        let epoch = NaiveDate::from_ymd_opt(EPOCH.0, EPOCH.1, EPOCH.2).unwrap_or_default();
        let phase = (unit(&[DIVIDEND_TAG, self.config().seed, fnv1a(symbol.as_str())])
            * DIVIDEND_PERIOD_DAYS as f64) as i64;
        let first = epoch + Duration::days(phase);
        // First nominal date that could land on or after `from` (a nominal
        // date moves forward at most a few days to a trading day).
        let k0 = ((from - first).num_days() - 7).max(0) / DIVIDEND_PERIOD_DAYS;
        let mut out = Vec::new();
        let mut k = k0;
        loop {
            let nominal = first + Duration::days(k * DIVIDEND_PERIOD_DAYS);
            let ex = trading_day_on_or_after(nominal);
            if ex > to {
                break;
            }
            if ex >= from {
                out.push((ex, amount));
            }
            k += 1;
        }
        Ok(out)
    }

    /// What IB's dividends tick says for `symbol` on `today`.
    pub fn dividends(&self, symbol: &Symbol, today: NaiveDate) -> Result<DividendInfo, SimError> {
        let year = Duration::days(365);
        let past = self.ex_dividends(symbol, today - year, today - Duration::days(1))?;
        let ahead = self.ex_dividends(symbol, today, today + year - Duration::days(1))?;
        Ok(DividendInfo {
            past_12m: past.iter().map(|d| d.1).sum(),
            next_12m: ahead.iter().map(|d| d.1).sum(),
            next: ahead.first().copied(),
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::calendar::is_trading_day;
    use crate::SimConfig;

    fn market(seed: u64) -> SimMarket {
        let symbols = ["SPY", "AAPL", "TSLA", "AMZN", "JPM"]
            .iter()
            .map(|s| Symbol::parse(s).unwrap())
            .collect();
        let start = Utc.with_ymd_and_hms(2026, 3, 2, 15, 0, 0).unwrap();
        SimMarket::new(SimConfig::new(seed, symbols, start)).unwrap()
    }

    fn sym(s: &str) -> Symbol {
        Symbol::parse(s).unwrap()
    }

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn non_payers_have_no_dividend() {
        let m = market(7);
        for s in ["TSLA", "AMZN"] {
            let d = m.dividends(&sym(s), day(2026, 3, 2)).unwrap();
            assert_eq!(d.next, None);
            assert_eq!(d.ib_text(), "0,0,,");
        }
    }

    #[test]
    fn payers_pay_quarterly_on_trading_days() {
        let m = market(7);
        let exs = m
            .ex_dividends(&sym("SPY"), day(2026, 1, 1), day(2027, 12, 31))
            .unwrap();
        assert!((7..=9).contains(&exs.len()), "{exs:?}");
        for w in exs.windows(2) {
            let gap = (w[1].0 - w[0].0).num_days();
            assert!((84..=98).contains(&gap), "{w:?}");
        }
        for (d, a) in &exs {
            assert!(is_trading_day(*d), "{d}");
            assert!((a - 670.0 * 0.012 / 4.0).abs() < 0.006, "{a}");
        }
        let info = m.dividends(&sym("SPY"), day(2026, 6, 1)).unwrap();
        let (next, amount) = info.next.unwrap();
        assert!(next >= day(2026, 6, 1) && next < day(2026, 9, 10));
        assert!((info.next_12m - 4.0 * amount).abs() < 0.011 + amount);
        let text = info.ib_text();
        let parts: Vec<&str> = text.split(',').collect();
        assert_eq!(parts.len(), 4);
        assert_eq!(parts[2], next.format("%Y%m%d").to_string());
    }

    #[test]
    fn same_seed_same_schedule_other_seed_other_phase() {
        let (a, b) = (market(7), market(7));
        let from = day(2026, 1, 1);
        let to = day(2026, 12, 31);
        assert_eq!(
            a.ex_dividends(&sym("JPM"), from, to).unwrap(),
            b.ex_dividends(&sym("JPM"), from, to).unwrap()
        );
        // Over a few seeds the phase differs at least once.
        let first = |seed| {
            market(seed)
                .ex_dividends(&sym("JPM"), from, to)
                .unwrap()
                .first()
                .unwrap()
                .0
        };
        assert!((1..6).any(|s| first(s) != first(0)));
    }

    #[test]
    fn the_next_ex_date_is_never_before_today() {
        let m = market(3);
        let mut d = day(2026, 1, 1);
        while d < day(2026, 12, 31) {
            let info = m.dividends(&sym("AAPL"), d).unwrap();
            let (next, _) = info.next.unwrap();
            assert!(next >= d && (next - d).num_days() <= 98, "{d} {next}");
            d += Duration::days(3);
        }
    }
}
