//! Exact money: a signed integer number of micro-dollars (1e-6 USD).
//!
//! Why not cents: IB reports combo average fill prices with four or more
//! decimals and commissions in fractions of a cent (e.g. 1.0476); rounding
//! each of them to the cent would make sums drift from the broker's. Why not
//! `f64`: sums of many fills must be exact, so that realized + unrealized
//! equals the value change of the fills to the cent, whatever the order of
//! the additions. Micro-dollars in an `i64` hold ±9.2 trillion dollars,
//! every per-share price times quantity times multiplier is exact, and the
//! values shown to people are rounded to cents once, at the end
//! ([`Money::cents`]).

use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign, Mul, Neg, Sub, SubAssign};

use serde::{Deserialize, Serialize};

/// Micro-dollars per dollar.
pub const MICROS_PER_DOLLAR: i64 = 1_000_000;

/// A signed amount of money (or a per-share price) in micro-dollars.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(transparent)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(type = "number"))]
pub struct Money(i64);

impl Money {
    pub const ZERO: Money = Money(0);

    /// Largest magnitude accepted from a float (a trillion dollars), so that
    /// products with quantities and multipliers stay far from overflow.
    const MAX_DOLLARS: f64 = 1e12;

    #[must_use]
    pub const fn from_micros(micros: i64) -> Money {
        Money(micros)
    }

    #[must_use]
    pub const fn from_cents(cents: i64) -> Money {
        Money(cents * 10_000)
    }

    /// From a dollar float, rounded to the nearest micro-dollar; `None` when
    /// not finite or beyond a trillion dollars.
    #[must_use]
    pub fn from_dollars(dollars: f64) -> Option<Money> {
        if !dollars.is_finite() || dollars.abs() > Self::MAX_DOLLARS {
            return None;
        }
        // |dollars * 1e6| <= 1e18 < i64::MAX: the cast is exact after round.
        Some(Money((dollars * MICROS_PER_DOLLAR as f64).round() as i64))
    }

    #[must_use]
    pub const fn micros(self) -> i64 {
        self.0
    }

    /// Rounded to whole cents, half away from zero.
    #[must_use]
    pub fn cents(self) -> i64 {
        let q = self.0 / 10_000;
        let r = self.0 % 10_000;
        if r >= 5_000 {
            q + 1
        } else if r <= -5_000 {
            q - 1
        } else {
            q
        }
    }

    /// As a float of dollars (for display and ratios only, never for sums).
    #[must_use]
    pub fn dollars(self) -> f64 {
        self.0 as f64 / MICROS_PER_DOLLAR as f64
    }

    #[must_use]
    pub const fn abs(self) -> Money {
        Money(self.0.abs())
    }

    #[must_use]
    pub const fn signum(self) -> i64 {
        self.0.signum()
    }

    #[must_use]
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// `self * num / den`, rounded half away from zero (`den != 0`).
    #[must_use]
    pub fn mul_div(self, num: i64, den: i64) -> Money {
        let n = i128::from(self.0) * i128::from(num);
        let d = i128::from(den);
        let q = n / d;
        let r = n % d;
        let q = if 2 * r.abs() >= d.abs() {
            if (n < 0) != (d < 0) {
                q - 1
            } else {
                q + 1
            }
        } else {
            q
        };
        Money(i64::try_from(q).unwrap_or(if q < 0 { i64::MIN } else { i64::MAX }))
    }

    /// Rounds to a multiple of `step` (> 0) toward negative infinity.
    #[must_use]
    pub fn floor_to(self, step: Money) -> Money {
        Money(self.0.div_euclid(step.0) * step.0)
    }

    /// Rounds to a multiple of `step` (> 0) toward positive infinity.
    #[must_use]
    pub fn ceil_to(self, step: Money) -> Money {
        -((-self).floor_to(step))
    }
}

impl fmt::Display for Money {
    /// Dollars rounded to cents: `-12.35`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.cents();
        let sign = if c < 0 { "-" } else { "" };
        write!(f, "{sign}{}.{:02}", c.abs() / 100, c.abs() % 100)
    }
}

impl Add for Money {
    type Output = Money;
    fn add(self, rhs: Money) -> Money {
        Money(self.0 + rhs.0)
    }
}

impl Sub for Money {
    type Output = Money;
    fn sub(self, rhs: Money) -> Money {
        Money(self.0 - rhs.0)
    }
}

impl Neg for Money {
    type Output = Money;
    fn neg(self) -> Money {
        Money(-self.0)
    }
}

impl AddAssign for Money {
    fn add_assign(&mut self, rhs: Money) {
        self.0 += rhs.0;
    }
}

impl SubAssign for Money {
    fn sub_assign(&mut self, rhs: Money) {
        self.0 -= rhs.0;
    }
}

impl Mul<i64> for Money {
    type Output = Money;
    fn mul(self, rhs: i64) -> Money {
        Money(self.0 * rhs)
    }
}

impl Sum for Money {
    fn sum<I: Iterator<Item = Money>>(iter: I) -> Money {
        iter.fold(Money::ZERO, |a, b| a + b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cents_round_half_away_from_zero() {
        assert_eq!(Money::from_micros(5_000).cents(), 1);
        assert_eq!(Money::from_micros(-5_000).cents(), -1);
        assert_eq!(Money::from_micros(4_999).cents(), 0);
        assert_eq!(Money::from_dollars(1.0476).unwrap().micros(), 1_047_600);
        assert_eq!(Money::from_dollars(-12.345).unwrap().to_string(), "-12.35");
        assert_eq!(Money::from_micros(-7).mul_div(1, 2).micros(), -4);
        assert_eq!(
            Money::from_cents(103).floor_to(Money::from_cents(5)),
            Money::from_cents(100)
        );
        assert_eq!(
            Money::from_cents(-103).floor_to(Money::from_cents(5)),
            Money::from_cents(-105)
        );
        assert_eq!(
            Money::from_cents(-103).ceil_to(Money::from_cents(5)),
            Money::from_cents(-100)
        );
    }
}
