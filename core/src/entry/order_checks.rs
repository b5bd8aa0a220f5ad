//! The economic checks of an approved order at its re-priced numbers, run
//! before anything is stored or sent. The wire checks (key shape, leg and
//! price caps) belong to the bridge contract (`sas_bridge_api`), which the
//! Worker runs as well.

use crate::strategy::{Proposal, Repriced};

/// Why no order may be built from a re-priced proposal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderCheckError {
    #[error("an order has 1 to 4 legs")]
    NoLegs,
    #[error("re-priced size is zero or larger than proposed")]
    Size,
    #[error("limit price is not a usable price")]
    LimitPrice,
    #[error("a single-leg order needs a positive limit price")]
    SingleLegCredit,
}

/// A price rounded to whole cents.
pub fn to_cents(price: f64) -> f64 {
    (price * 100.0).round() / 100.0
}

/// The order's limit price (whole cents) when `r` may be sent for `p`:
/// some legs, a size of at least one and never more than proposed, a finite
/// limit, positive for a single leg.
pub fn check(p: &Proposal, r: &Repriced) -> Result<f64, OrderCheckError> {
    if r.legs.is_empty() {
        return Err(OrderCheckError::NoLegs);
    }
    if r.contracts == 0 || r.contracts > p.sizing.contracts {
        return Err(OrderCheckError::Size);
    }
    let limit_price = to_cents(r.limit_price);
    if !limit_price.is_finite() {
        return Err(OrderCheckError::LimitPrice);
    }
    if r.legs.len() == 1 && limit_price <= 0.0 {
        return Err(OrderCheckError::SingleLegCredit);
    }
    Ok(limit_price)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cents_round_half_away() {
        assert_eq!(to_cents(1.005_000_1), 1.01);
        assert_eq!(to_cents(-0.985), -0.99);
    }
}
