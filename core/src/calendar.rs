//! US equity market calendar (NYSE regular sessions), pure and clock-free.
//!
//! * Regular hours 09:30-16:00 America/New_York; early closes at 13:00.
//! * US Eastern time is computed by hand (no tz database): EDT (UTC-4) from the
//!   second Sunday of March 02:00 local to the first Sunday of November 02:00
//!   local, EST (UTC-5) otherwise. These are the rules in force since 2007.
//! * Full-day holidays by rule: New Year's Day, Martin Luther King Jr. Day,
//!   Washington's Birthday, Good Friday, Memorial Day, Juneteenth (from 2022),
//!   Independence Day, Labor Day, Thanksgiving, Christmas. A holiday falling on
//!   Sunday is observed on Monday, on Saturday on Friday, except New Year's Day:
//!   NYSE does not close on the Friday before a Saturday New Year's Day.
//! * Early closes (13:00): July 3 when it is a weekday and not itself a
//!   holiday, the day after Thanksgiving, and Christmas Eve when it is a
//!   weekday and not itself a holiday.
//!
//! Unscheduled closures (national days of mourning, weather) cannot be derived
//! by rule and are not modelled.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Utc, Weekday};

/// One regular trading session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session {
    /// The exchange-local (New York) calendar date of the session.
    pub date: NaiveDate,
    /// Opening bell (09:30 New York) in UTC.
    pub open_utc: DateTime<Utc>,
    /// Closing bell (16:00, or 13:00 on early-close days, New York) in UTC.
    pub close_utc: DateTime<Utc>,
    /// True when the session closes at 13:00.
    pub early_close: bool,
}

/// Why the market is closed at a given instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClosedReason {
    /// Saturday or Sunday in New York.
    Weekend,
    /// A full-day exchange holiday (the name says which).
    Holiday(&'static str),
    /// A trading day, before the opening bell.
    BeforeOpen,
    /// A trading day, at or after the closing bell.
    AfterClose,
}

impl std::fmt::Display for ClosedReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClosedReason::Weekend => f.write_str("weekend"),
            ClosedReason::Holiday(name) => write!(f, "holiday ({name})"),
            ClosedReason::BeforeOpen => f.write_str("before the opening bell"),
            ClosedReason::AfterClose => f.write_str("after the closing bell"),
        }
    }
}

/// Market state at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarketStatus {
    /// In a regular session.
    Open(Session),
    /// Closed, with the reason and the next opening bell.
    Closed {
        reason: ClosedReason,
        next_open: DateTime<Utc>,
    },
}

/// The NYSE regular-session calendar. Stateless; every answer is a pure
/// function of its arguments.
#[derive(Debug, Clone, Copy, Default)]
pub struct MarketCalendar;

const OPEN_TIME: (u32, u32) = (9, 30);
const CLOSE_TIME: (u32, u32) = (16, 0);
const EARLY_CLOSE_TIME: (u32, u32) = (13, 0);

impl MarketCalendar {
    /// The regular session on `date` (a New York calendar date), or `None` on
    /// weekends and holidays.
    pub fn session(date: NaiveDate) -> Option<Session> {
        if is_weekend(date) || holiday_name(date).is_some() {
            return None;
        }
        let early_close = is_early_close(date);
        let close = if early_close {
            EARLY_CLOSE_TIME
        } else {
            CLOSE_TIME
        };
        Some(Session {
            date,
            open_utc: eastern_to_utc(date, OPEN_TIME)?,
            close_utc: eastern_to_utc(date, close)?,
            early_close,
        })
    }

    /// The full-day holiday observed on `date`, by name, if any.
    pub fn holiday(date: NaiveDate) -> Option<&'static str> {
        holiday_name(date)
    }

    /// True when `now` falls inside a regular session (open inclusive, close
    /// exclusive).
    pub fn is_open(now: DateTime<Utc>) -> bool {
        matches!(Self::status(now), MarketStatus::Open(_))
    }

    /// Open (with its session) or closed (with the reason and next open).
    pub fn status(now: DateTime<Utc>) -> MarketStatus {
        let local_date = utc_to_eastern(now).date();
        let reason = if is_weekend(local_date) {
            ClosedReason::Weekend
        } else if let Some(name) = holiday_name(local_date) {
            ClosedReason::Holiday(name)
        } else {
            match Self::session(local_date) {
                Some(s) if now >= s.open_utc && now < s.close_utc => return MarketStatus::Open(s),
                Some(s) if now < s.open_utc => ClosedReason::BeforeOpen,
                _ => ClosedReason::AfterClose,
            }
        };
        MarketStatus::Closed {
            reason,
            next_open: Self::next_open(now),
        }
    }

    /// The first opening bell strictly after `now`.
    pub fn next_open(now: DateTime<Utc>) -> DateTime<Utc> {
        let mut date = utc_to_eastern(now).date();
        // A run of closed days is at most 4 long (e.g. Fri holiday + weekend +
        // Mon holiday never happens, but stay generous); bound the loop anyway.
        for _ in 0..15 {
            if let Some(s) = Self::session(date) {
                if s.open_utc > now {
                    return s.open_utc;
                }
            }
            match date.succ_opt() {
                Some(d) => date = d,
                None => break,
            }
        }
        // Unreachable for real dates; fall back to "a day later" without panicking.
        now + Duration::days(1)
    }
}

fn is_weekend(date: NaiveDate) -> bool {
    matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
}

/// The `n`-th (1-based) `weekday` of `month` in `year`.
fn nth_weekday(year: i32, month: u32, weekday: Weekday, n: u8) -> Option<NaiveDate> {
    NaiveDate::from_weekday_of_month_opt(year, month, weekday, n)
}

/// The last `weekday` of `month` in `year`.
fn last_weekday(year: i32, month: u32, weekday: Weekday) -> Option<NaiveDate> {
    let first_next = if month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)?
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)?
    };
    let mut d = first_next.pred_opt()?;
    while d.weekday() != weekday {
        d = d.pred_opt()?;
    }
    Some(d)
}

/// Easter Sunday (Gregorian), by the anonymous Gregorian computus.
fn easter_sunday(year: i32) -> Option<NaiveDate> {
    let a = year % 19;
    let b = year / 100;
    let c = year % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    NaiveDate::from_ymd_opt(year, u32::try_from(month).ok()?, u32::try_from(day).ok()?)
}

/// Saturday → preceding Friday, Sunday → following Monday.
fn observed(date: NaiveDate) -> NaiveDate {
    match date.weekday() {
        Weekday::Sat => date - Duration::days(1),
        Weekday::Sun => date + Duration::days(1),
        _ => date,
    }
}

fn fixed(year: i32, month: u32, day: u32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(year, month, day)
}

fn holiday_name(date: NaiveDate) -> Option<&'static str> {
    let year = date.year();
    // New Year's Day: Sunday → Monday; Saturday → not observed (no Friday close).
    if let Some(ny) = fixed(year, 1, 1) {
        let observed_ny = match ny.weekday() {
            Weekday::Sun => Some(ny + Duration::days(1)),
            Weekday::Sat => None,
            _ => Some(ny),
        };
        if observed_ny == Some(date) {
            return Some("New Year's Day");
        }
    }
    let by_rule: [(Option<NaiveDate>, &'static str); 9] = [
        (
            nth_weekday(year, 1, Weekday::Mon, 3),
            "Martin Luther King Jr. Day",
        ),
        (
            nth_weekday(year, 2, Weekday::Mon, 3),
            "Washington's Birthday",
        ),
        (
            easter_sunday(year).map(|e| e - Duration::days(2)),
            "Good Friday",
        ),
        (last_weekday(year, 5, Weekday::Mon), "Memorial Day"),
        (
            if year >= 2022 {
                fixed(year, 6, 19).map(observed)
            } else {
                None
            },
            "Juneteenth",
        ),
        (fixed(year, 7, 4).map(observed), "Independence Day"),
        (nth_weekday(year, 9, Weekday::Mon, 1), "Labor Day"),
        (nth_weekday(year, 11, Weekday::Thu, 4), "Thanksgiving Day"),
        (fixed(year, 12, 25).map(observed), "Christmas Day"),
    ];
    by_rule
        .into_iter()
        .find(|(d, _)| *d == Some(date))
        .map(|(_, name)| name)
}

fn is_early_close(date: NaiveDate) -> bool {
    if is_weekend(date) || holiday_name(date).is_some() {
        return false;
    }
    let year = date.year();
    let july_3 = fixed(year, 7, 3);
    let day_after_thanksgiving =
        nth_weekday(year, 11, Weekday::Thu, 4).map(|d| d + Duration::days(1));
    let christmas_eve = fixed(year, 12, 24);
    [july_3, day_after_thanksgiving, christmas_eve].contains(&Some(date))
}

/// The UTC instants at which US daylight saving time starts and ends in `year`.
fn dst_bounds_utc(year: i32) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    // DST starts at 02:00 EST = 07:00 UTC, ends at 02:00 EDT = 06:00 UTC.
    let start = nth_weekday(year, 3, Weekday::Sun, 2)?.and_hms_opt(7, 0, 0)?;
    let end = nth_weekday(year, 11, Weekday::Sun, 1)?.and_hms_opt(6, 0, 0)?;
    Some((start.and_utc(), end.and_utc()))
}

/// US Eastern UTC offset in hours (-4 in EDT, -5 in EST) at an instant.
fn eastern_offset_hours(now: DateTime<Utc>) -> i64 {
    match dst_bounds_utc(now.year()) {
        Some((start, end)) if now >= start && now < end => -4,
        _ => -5,
    }
}

/// The New York wall-clock time at an instant.
pub fn utc_to_eastern(now: DateTime<Utc>) -> NaiveDateTime {
    now.naive_utc() + Duration::hours(eastern_offset_hours(now))
}

/// A New York wall-clock time on `date` (between 03:00 and 24:00, so never in
/// a DST transition gap) as a UTC instant.
fn eastern_to_utc(date: NaiveDate, (h, m): (u32, u32)) -> Option<DateTime<Utc>> {
    let local = date.and_time(NaiveTime::from_hms_opt(h, m, 0)?);
    let dst_start = nth_weekday(date.year(), 3, Weekday::Sun, 2)?;
    let dst_end = nth_weekday(date.year(), 11, Weekday::Sun, 1)?;
    let offset = if date >= dst_start && date < dst_end {
        -4
    } else {
        -5
    };
    Some((local - Duration::hours(offset)).and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    /// Published NYSE full-day closures.
    const HOLIDAYS: &[(i32, u32, u32)] = &[
        // 2025
        (2025, 1, 1),
        (2025, 1, 20),
        (2025, 2, 17),
        (2025, 4, 18),
        (2025, 5, 26),
        (2025, 6, 19),
        (2025, 7, 4),
        (2025, 9, 1),
        (2025, 11, 27),
        (2025, 12, 25),
        // 2026
        (2026, 1, 1),
        (2026, 1, 19),
        (2026, 2, 16),
        (2026, 4, 3),
        (2026, 5, 25),
        (2026, 6, 19),
        (2026, 7, 3),
        (2026, 9, 7),
        (2026, 11, 26),
        (2026, 12, 25),
        // 2027
        (2027, 1, 1),
        (2027, 1, 18),
        (2027, 2, 15),
        (2027, 3, 26),
        (2027, 5, 31),
        (2027, 6, 18),
        (2027, 7, 5),
        (2027, 9, 6),
        (2027, 11, 25),
        (2027, 12, 24),
        // 2022: New Year's Day on Saturday (no Friday close), Sunday holidays.
        (2022, 1, 17),
        (2022, 6, 20),
        (2022, 12, 26),
        // 2023: New Year's Day on Sunday → Monday.
        (2023, 1, 2),
    ];

    #[test]
    fn published_holidays_are_closed() {
        for &(y, m, day) in HOLIDAYS {
            let date = d(y, m, day);
            assert!(
                MarketCalendar::holiday(date).is_some(),
                "{date} should be a holiday"
            );
            assert_eq!(MarketCalendar::session(date), None, "{date}");
        }
    }

    #[test]
    fn holiday_count_per_year_matches_nyse() {
        for (year, expected) in [(2025, 10), (2026, 10), (2027, 10), (2022, 9), (2021, 9)] {
            let mut date = d(year, 1, 1);
            let mut count = 0;
            while date.year() == year {
                if MarketCalendar::holiday(date).is_some() && !is_weekend(date) {
                    count += 1;
                }
                date = date.succ_opt().unwrap();
            }
            assert_eq!(count, expected, "{year}");
        }
    }

    #[test]
    fn good_friday_from_computus() {
        assert_eq!(easter_sunday(2025), Some(d(2025, 4, 20)));
        assert_eq!(easter_sunday(2026), Some(d(2026, 4, 5)));
        assert_eq!(easter_sunday(2027), Some(d(2027, 3, 28)));
        assert_eq!(easter_sunday(2024), Some(d(2024, 3, 31)));
        assert_eq!(easter_sunday(2038), Some(d(2038, 4, 25)));
        assert_eq!(MarketCalendar::holiday(d(2026, 4, 3)), Some("Good Friday"));
    }

    #[test]
    fn new_year_on_saturday_keeps_friday_open() {
        // 2022-01-01 and 2028-01-01 are Saturdays: Dec 31 trades a full day.
        for date in [d(2021, 12, 31), d(2027, 12, 31)] {
            let s = MarketCalendar::session(date).expect("trading day");
            assert!(!s.early_close, "{date}");
        }
        // Christmas on Saturday 2027: Friday Dec 24 is the observed holiday.
        assert_eq!(
            MarketCalendar::holiday(d(2027, 12, 24)),
            Some("Christmas Day")
        );
    }

    #[test]
    fn juneteenth_only_from_2022() {
        assert_eq!(MarketCalendar::holiday(d(2021, 6, 18)), None);
        assert!(MarketCalendar::session(d(2021, 6, 18)).is_some());
        assert_eq!(MarketCalendar::holiday(d(2026, 6, 19)), Some("Juneteenth"));
        // 2027-06-19 is a Saturday → Friday 18th.
        assert_eq!(MarketCalendar::holiday(d(2027, 6, 18)), Some("Juneteenth"));
    }

    #[test]
    fn early_closes() {
        for date in [
            d(2025, 7, 3),
            d(2025, 11, 28),
            d(2025, 12, 24),
            d(2026, 11, 27),
            d(2026, 12, 24),
            d(2027, 11, 26),
            d(2024, 7, 3),
        ] {
            let s = MarketCalendar::session(date).expect("trading day");
            assert!(s.early_close, "{date}");
            assert_eq!(
                utc_to_eastern(s.close_utc).time(),
                NaiveTime::from_hms_opt(13, 0, 0).unwrap()
            );
        }
        // 2026-07-03 is the observed Independence Day (holiday, not early close);
        // 2027-07-03 is a Saturday; 2027-12-24 is the observed Christmas.
        for date in [d(2026, 7, 3), d(2027, 12, 24)] {
            assert_eq!(MarketCalendar::session(date), None);
        }
        let normal = MarketCalendar::session(d(2026, 11, 20)).unwrap();
        assert!(!normal.early_close);
    }

    #[test]
    fn session_times_follow_dst() {
        // Winter (EST): 09:30 = 14:30 UTC.
        let s = MarketCalendar::session(d(2026, 1, 5)).unwrap();
        assert_eq!(s.open_utc, utc("2026-01-05T14:30:00Z"));
        assert_eq!(s.close_utc, utc("2026-01-05T21:00:00Z"));
        // Summer (EDT): 09:30 = 13:30 UTC.
        let s = MarketCalendar::session(d(2026, 7, 6)).unwrap();
        assert_eq!(s.open_utc, utc("2026-07-06T13:30:00Z"));
        // First trading day after DST start (2026-03-08) and after DST end (2026-11-01).
        let s = MarketCalendar::session(d(2026, 3, 9)).unwrap();
        assert_eq!(s.open_utc, utc("2026-03-09T13:30:00Z"));
        let s = MarketCalendar::session(d(2026, 3, 6)).unwrap();
        assert_eq!(s.open_utc, utc("2026-03-06T14:30:00Z"));
        let s = MarketCalendar::session(d(2026, 11, 2)).unwrap();
        assert_eq!(s.open_utc, utc("2026-11-02T14:30:00Z"));
        let s = MarketCalendar::session(d(2026, 10, 30)).unwrap();
        assert_eq!(s.open_utc, utc("2026-10-30T13:30:00Z"));
        // Early close on the day after Thanksgiving 2026 (EST): 13:00 = 18:00 UTC.
        let s = MarketCalendar::session(d(2026, 11, 27)).unwrap();
        assert_eq!(s.close_utc, utc("2026-11-27T18:00:00Z"));
    }

    #[test]
    fn eastern_clock_around_transitions() {
        // 2026-03-08 06:59 UTC = 01:59 EST; 07:00 UTC = 03:00 EDT.
        assert_eq!(
            utc_to_eastern(utc("2026-03-08T06:59:00Z")).time(),
            NaiveTime::from_hms_opt(1, 59, 0).unwrap()
        );
        assert_eq!(
            utc_to_eastern(utc("2026-03-08T07:00:00Z")).time(),
            NaiveTime::from_hms_opt(3, 0, 0).unwrap()
        );
        // 2026-11-01 05:59 UTC = 01:59 EDT; 06:00 UTC = 01:00 EST.
        assert_eq!(
            utc_to_eastern(utc("2026-11-01T05:59:00Z")).time(),
            NaiveTime::from_hms_opt(1, 59, 0).unwrap()
        );
        assert_eq!(
            utc_to_eastern(utc("2026-11-01T06:00:00Z")).time(),
            NaiveTime::from_hms_opt(1, 0, 0).unwrap()
        );
        // New Year's Eve, 03:00 UTC is still the previous evening in New York.
        assert_eq!(
            utc_to_eastern(utc("2027-01-01T03:00:00Z")).date(),
            d(2026, 12, 31)
        );
    }

    #[test]
    fn open_and_closed_instants() {
        assert!(MarketCalendar::is_open(utc("2026-11-20T14:30:00Z")));
        assert!(MarketCalendar::is_open(utc("2026-11-20T20:59:59Z")));
        assert!(!MarketCalendar::is_open(utc("2026-11-20T21:00:00Z")));
        assert!(!MarketCalendar::is_open(utc("2026-11-20T14:29:59Z")));
        // Early close: open at 17:59 UTC, closed at 18:00 UTC on 2026-11-27.
        assert!(MarketCalendar::is_open(utc("2026-11-27T17:59:00Z")));
        assert!(!MarketCalendar::is_open(utc("2026-11-27T18:00:00Z")));
        // Saturday 2026-11-21.
        assert_eq!(
            MarketCalendar::status(utc("2026-11-21T15:00:00Z")),
            MarketStatus::Closed {
                reason: ClosedReason::Weekend,
                next_open: utc("2026-11-23T14:30:00Z"),
            }
        );
        // Thanksgiving 2026.
        assert!(matches!(
            MarketCalendar::status(utc("2026-11-26T16:00:00Z")),
            MarketStatus::Closed {
                reason: ClosedReason::Holiday("Thanksgiving Day"),
                ..
            }
        ));
        assert!(matches!(
            MarketCalendar::status(utc("2026-11-20T12:00:00Z")),
            MarketStatus::Closed {
                reason: ClosedReason::BeforeOpen,
                ..
            }
        ));
        assert!(matches!(
            MarketCalendar::status(utc("2026-11-20T22:00:00Z")),
            MarketStatus::Closed {
                reason: ClosedReason::AfterClose,
                ..
            }
        ));
    }

    #[test]
    fn next_open_skips_holidays_and_weekends() {
        // Thursday evening before Good Friday 2026 → Monday 2026-04-06 (EDT).
        assert_eq!(
            MarketCalendar::next_open(utc("2026-04-02T21:00:00Z")),
            utc("2026-04-06T13:30:00Z")
        );
        // Christmas Eve 2027 (Friday, observed) from Thursday evening → Monday 27th.
        assert_eq!(
            MarketCalendar::next_open(utc("2027-12-23T22:00:00Z")),
            utc("2027-12-27T14:30:00Z")
        );
        // During a session the next open is the following trading day.
        assert_eq!(
            MarketCalendar::next_open(utc("2026-11-25T15:00:00Z")),
            utc("2026-11-27T14:30:00Z")
        );
        // Before the bell on a trading day → today's open.
        assert_eq!(
            MarketCalendar::next_open(utc("2026-11-23T10:00:00Z")),
            utc("2026-11-23T14:30:00Z")
        );
    }

    #[test]
    fn sessions_are_well_formed_for_a_decade() {
        let mut date = d(2020, 1, 1);
        let mut sessions = 0;
        while date.year() < 2030 {
            if let Some(s) = MarketCalendar::session(date) {
                sessions += 1;
                assert!(s.open_utc < s.close_utc);
                assert_eq!(utc_to_eastern(s.open_utc).date(), date);
                assert_eq!(
                    utc_to_eastern(s.open_utc).time(),
                    NaiveTime::from_hms_opt(9, 30, 0).unwrap()
                );
                assert!(MarketCalendar::is_open(s.open_utc));
                assert!(!MarketCalendar::is_open(s.close_utc));
            }
            date = date.succ_opt().unwrap();
        }
        // NYSE has 250-253 sessions a year.
        assert!((2500..=2530).contains(&sessions), "{sessions}");
    }
}
