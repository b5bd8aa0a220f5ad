//! Calendar helpers: weekdays, Fridays, third Fridays, the simulated session.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Timelike, Utc, Weekday};

/// Regular session open and close in UTC seconds of the day. The simulator
/// uses US Eastern standard time all year (14:30-21:00 UTC); it is a model,
/// not an exchange calendar.
pub const SESSION_OPEN_UTC_SECS: u32 = 14 * 3600 + 30 * 60;
/// See [`SESSION_OPEN_UTC_SECS`].
pub const SESSION_CLOSE_UTC_SECS: u32 = 21 * 3600;

/// Monday to Friday (exchange holidays are not modelled).
#[must_use]
pub fn is_weekday(d: NaiveDate) -> bool {
    !matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
}

/// The last weekday strictly before `d`.
#[must_use]
pub fn previous_weekday(d: NaiveDate) -> NaiveDate {
    let mut x = d - Duration::days(1);
    while !is_weekday(x) {
        x -= Duration::days(1);
    }
    x
}

/// The third Friday of the month of `d` (standard monthly option expiry).
#[must_use]
pub fn third_friday(year: i32, month: u32) -> Option<NaiveDate> {
    NaiveDate::from_weekday_of_month_opt(year, month, Weekday::Fri, 3)
}

/// Whether `d` is the third Friday of its month.
#[must_use]
pub fn is_monthly_expiry(d: NaiveDate) -> bool {
    third_friday(d.year(), d.month()) == Some(d)
}

/// Fraction of the regular session elapsed at `t`: 0 before the open, 1 after
/// the close.
#[must_use]
pub fn session_fraction(t: DateTime<Utc>) -> f64 {
    let secs = t.num_seconds_from_midnight();
    if secs <= SESSION_OPEN_UTC_SECS {
        0.0
    } else if secs >= SESSION_CLOSE_UTC_SECS {
        1.0
    } else {
        f64::from(secs - SESSION_OPEN_UTC_SECS)
            / f64::from(SESSION_CLOSE_UTC_SECS - SESSION_OPEN_UTC_SECS)
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

    #[test]
    fn third_fridays() {
        assert_eq!(
            third_friday(2026, 11),
            NaiveDate::from_ymd_opt(2026, 11, 20)
        );
        assert_eq!(
            third_friday(2026, 12),
            NaiveDate::from_ymd_opt(2026, 12, 18)
        );
        assert!(is_monthly_expiry(
            NaiveDate::from_ymd_opt(2027, 1, 15).unwrap()
        ));
        assert!(!is_monthly_expiry(
            NaiveDate::from_ymd_opt(2027, 1, 22).unwrap()
        ));
    }

    #[test]
    fn previous_weekday_skips_weekend() {
        let sat = NaiveDate::from_ymd_opt(2026, 11, 21).unwrap();
        let mon = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        let fri = NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
        assert_eq!(previous_weekday(sat), fri);
        assert_eq!(previous_weekday(mon), fri);
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
