//! Calendar helpers for the simulator, on top of the NYSE calendar in
//! `sas_core::calendar` (sessions with DST, holidays, early closes): trading
//! days, option expiry dates (Friday, or the Thursday before when the Friday
//! is a holiday), session fraction for the intraday volume profile.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, Utc, Weekday};
use sas_core::calendar::{utc_to_eastern, MarketCalendar};

/// Whether `d` (a New York date) has a regular session.
#[must_use]
pub fn is_trading_day(d: NaiveDate) -> bool {
    MarketCalendar::session(d).is_some()
}

/// The last trading day strictly before `d`.
#[must_use]
pub fn previous_trading_day(d: NaiveDate) -> NaiveDate {
    let mut x = d - Duration::days(1);
    // Never more than a handful of iterations (weekend + holiday).
    for _ in 0..10 {
        if is_trading_day(x) {
            return x;
        }
        x -= Duration::days(1);
    }
    x
}

/// The first trading day on or after `d`.
#[must_use]
pub fn trading_day_on_or_after(d: NaiveDate) -> NaiveDate {
    let mut x = d;
    // Never more than a handful of iterations (weekend + holiday).
    for _ in 0..10 {
        if is_trading_day(x) {
            return x;
        }
        x += Duration::days(1);
    }
    x
}

/// The third Friday of a month (standard monthly option expiry before
/// holiday adjustment).
#[must_use]
pub fn third_friday(year: i32, month: u32) -> Option<NaiveDate> {
    NaiveDate::from_weekday_of_month_opt(year, month, Weekday::Fri, 3)
}

/// The expiry date for a Friday: the Friday itself, or the previous trading
/// day when the Friday is a holiday (e.g. Good Friday, Christmas).
#[must_use]
pub fn expiry_for_friday(friday: NaiveDate) -> NaiveDate {
    if is_trading_day(friday) {
        friday
    } else {
        previous_trading_day(friday)
    }
}

/// If `d` is an expiry date, the Friday it stands for.
#[must_use]
pub fn friday_of_expiry(d: NaiveDate) -> Option<NaiveDate> {
    if !is_trading_day(d) {
        return None;
    }
    let friday = match d.weekday() {
        Weekday::Fri => d,
        // A Thursday (or earlier) standing in for a holiday Friday.
        wd => d + Duration::days(i64::from(4 - wd.num_days_from_monday().min(4))),
    };
    (friday.weekday() == Weekday::Fri && expiry_for_friday(friday) == d).then_some(friday)
}

/// Whether `d` is a standard monthly expiry (third Friday, holiday-adjusted).
#[must_use]
pub fn is_monthly_expiry(d: NaiveDate) -> bool {
    friday_of_expiry(d).is_some_and(|f| third_friday(f.year(), f.month()) == Some(f))
}

/// Closing bell of the session on `d` in UTC (16:00 New York, 13:00 on early
/// closes). For a date without a session, 21:00 UTC (a 16:00 EST close).
#[must_use]
pub fn session_close(d: NaiveDate) -> DateTime<Utc> {
    MarketCalendar::session(d).map_or_else(
        || {
            d.and_time(NaiveTime::from_hms_opt(21, 0, 0).unwrap_or(NaiveTime::MIN))
                .and_utc()
        },
        |s| s.close_utc,
    )
}

/// The next session close strictly after `t`.
#[must_use]
pub fn next_session_close(t: DateTime<Utc>) -> DateTime<Utc> {
    let mut d = utc_to_eastern(t).date();
    for _ in 0..15 {
        if let Some(s) = MarketCalendar::session(d) {
            if s.close_utc > t {
                return s.close_utc;
            }
        }
        d += Duration::days(1);
    }
    t + Duration::days(1)
}

/// The New York trading date of `t`, if that date has a session.
#[must_use]
pub fn trading_date(t: DateTime<Utc>) -> Option<NaiveDate> {
    let d = utc_to_eastern(t).date();
    is_trading_day(d).then_some(d)
}

/// Fraction of the regular session elapsed at `t`: 0 before the open (and on
/// days without a session), 1 after the close.
#[must_use]
pub fn session_fraction(t: DateTime<Utc>) -> f64 {
    let Some(s) = MarketCalendar::session(utc_to_eastern(t).date()) else {
        return 0.0;
    };
    if t <= s.open_utc {
        0.0
    } else if t >= s.close_utc {
        1.0
    } else {
        (t - s.open_utc).num_milliseconds() as f64
            / (s.close_utc - s.open_utc).num_milliseconds().max(1) as f64
    }
}

/// Cumulative share of a day's volume traded by session fraction `x`, from a
/// U-shaped intensity `1 + 3·(2x-1)²` (heavy at the open and the close).
#[must_use]
pub fn cumulative_volume_share(x: f64) -> f64 {
    let x = x.clamp(0.0, 1.0);
    // ∫0..x (1 + 3(2s-1)^2) ds = x + ((2x-1)^3 + 1) / 2 ; total at 1 is 2.
    (x + ((2.0 * x - 1.0).powi(3) + 1.0) / 2.0) / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn monthly_expiries_with_holiday_adjustment() {
        assert_eq!(third_friday(2026, 11), Some(date(2026, 11, 20)));
        assert!(is_monthly_expiry(date(2026, 12, 18)));
        assert!(is_monthly_expiry(date(2027, 1, 15)));
        assert!(!is_monthly_expiry(date(2027, 1, 22)));
        // 2025-04-18 was Good Friday and the third Friday: expiry Thursday.
        assert_eq!(expiry_for_friday(date(2025, 4, 18)), date(2025, 4, 17));
        assert!(is_monthly_expiry(date(2025, 4, 17)));
        assert!(!is_monthly_expiry(date(2025, 4, 18)));
        // Christmas 2026 is a Friday: that week's expiry is Thursday the 24th.
        assert_eq!(
            friday_of_expiry(date(2026, 12, 24)),
            Some(date(2026, 12, 25))
        );
        assert_eq!(friday_of_expiry(date(2026, 12, 23)), None);
        assert_eq!(friday_of_expiry(date(2026, 12, 17)), None);
    }

    #[test]
    fn previous_trading_day_skips_weekends_and_holidays() {
        assert_eq!(previous_trading_day(date(2026, 11, 21)), date(2026, 11, 20));
        assert_eq!(previous_trading_day(date(2026, 11, 23)), date(2026, 11, 20));
        // Thanksgiving 2026-11-26.
        assert_eq!(previous_trading_day(date(2026, 11, 27)), date(2026, 11, 25));
    }

    #[test]
    fn sessions_follow_dst_and_early_closes() {
        // Winter: 16:00 EST = 21:00 UTC; summer: 16:00 EDT = 20:00 UTC.
        assert_eq!(
            session_close(date(2026, 11, 20)),
            Utc.with_ymd_and_hms(2026, 11, 20, 21, 0, 0).unwrap()
        );
        assert_eq!(
            session_close(date(2026, 7, 17)),
            Utc.with_ymd_and_hms(2026, 7, 17, 20, 0, 0).unwrap()
        );
        // Day after Thanksgiving closes at 13:00 EST.
        assert_eq!(
            session_close(date(2026, 11, 27)),
            Utc.with_ymd_and_hms(2026, 11, 27, 18, 0, 0).unwrap()
        );
        let sat = Utc.with_ymd_and_hms(2026, 11, 21, 15, 0, 0).unwrap();
        assert_eq!(
            next_session_close(sat),
            Utc.with_ymd_and_hms(2026, 11, 23, 21, 0, 0).unwrap()
        );
        assert_eq!(session_fraction(sat), 0.0);
        let mid = Utc.with_ymd_and_hms(2026, 11, 20, 17, 45, 0).unwrap();
        assert!((session_fraction(mid) - 0.5).abs() < 1e-9);
    }

    #[test]
    fn volume_share_is_u_shaped_and_monotone() {
        assert_eq!(cumulative_volume_share(0.0), 0.0);
        assert!((cumulative_volume_share(1.0) - 1.0).abs() < 1e-12);
        let first_hour = cumulative_volume_share(1.0 / 6.5);
        let mid_hour = cumulative_volume_share(3.5 / 6.5) - cumulative_volume_share(2.5 / 6.5);
        assert!(first_hour > 2.0 * mid_hour, "{first_hour} vs {mid_hour}");
        let mut prev = 0.0;
        for i in 0..=100 {
            let v = cumulative_volume_share(f64::from(i) / 100.0);
            assert!(v >= prev);
            prev = v;
        }
    }
}
