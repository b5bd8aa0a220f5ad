//! Paper matching rules used by the simulated broker.
//!
//! A resting limit order fills when the market crosses it: a buy fills at
//! `min(limit, ask)` once `ask <= limit`, a sell at `max(limit, bid)` once
//! `bid >= limit`. A combo (several legs, one net limit) fills at the net mid
//! when the net limit is marketable against it.

/// Buy or sell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Buy (pay the ask).
    Buy,
    /// Sell (hit the bid).
    Sell,
}

impl Side {
    /// +1 for buys, -1 for sells.
    #[must_use]
    pub fn sign(self) -> f64 {
        match self {
            Side::Buy => 1.0,
            Side::Sell => -1.0,
        }
    }
}

/// Fill price of a single-instrument limit order against a bid/ask, or `None`
/// when it keeps resting (or the quote is unusable).
#[must_use]
pub fn single_fill_price(side: Side, limit: f64, bid: f64, ask: f64) -> Option<f64> {
    if !(limit.is_finite() && bid.is_finite() && ask.is_finite()) || bid > ask {
        return None;
    }
    match side {
        Side::Buy if ask > 0.0 && ask <= limit => Some(limit.min(ask)),
        Side::Sell if bid > 0.0 && bid >= limit => Some(limit.max(bid)),
        _ => None,
    }
}

/// One leg of a combo for matching: side, ratio and the leg's market.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ComboLegMarket {
    /// Buy or sell this leg when the combo is bought.
    pub side: Side,
    /// Units of this leg per combo unit.
    pub ratio: u32,
    /// Leg bid.
    pub bid: f64,
    /// Leg ask.
    pub ask: f64,
}

/// Net mid of a combo per unit: Σ sign·ratio·mid (positive = debit).
/// `None` when any leg lacks a two-sided market.
#[must_use]
pub fn combo_net_mid(legs: &[ComboLegMarket]) -> Option<f64> {
    let mut net = 0.0;
    for leg in legs {
        let two_sided = leg.bid.is_finite()
            && leg.ask.is_finite()
            && leg.bid >= 0.0
            && leg.ask >= leg.bid
            && leg.ask > 0.0;
        if !two_sided {
            return None;
        }
        net += leg.side.sign() * f64::from(leg.ratio) * 0.5 * (leg.bid + leg.ask);
    }
    Some(net)
}

/// Fill price of a combo with net limit `net_limit` (positive = pay at most
/// this debit, negative = receive at least this credit), or `None` while it
/// rests. Fills at the net mid rounded to the cent when `net_mid <= net_limit`.
#[must_use]
pub fn combo_fill_price(legs: &[ComboLegMarket], net_limit: f64) -> Option<f64> {
    if legs.is_empty() || !net_limit.is_finite() {
        return None;
    }
    let net_mid = (combo_net_mid(legs)? * 100.0).round() / 100.0;
    (net_mid <= net_limit + 1e-9).then_some(net_mid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buy_fills_when_ask_reaches_limit() {
        assert_eq!(single_fill_price(Side::Buy, 10.00, 9.90, 10.05), None);
        assert_eq!(
            single_fill_price(Side::Buy, 10.10, 9.90, 10.05),
            Some(10.05)
        );
        assert_eq!(
            single_fill_price(Side::Buy, 10.05, 9.90, 10.05),
            Some(10.05)
        );
    }

    #[test]
    fn sell_fills_when_bid_reaches_limit() {
        assert_eq!(single_fill_price(Side::Sell, 10.00, 9.90, 10.05), None);
        assert_eq!(single_fill_price(Side::Sell, 9.80, 9.90, 10.05), Some(9.90));
    }

    #[test]
    fn unusable_quotes_never_fill() {
        assert_eq!(single_fill_price(Side::Buy, 10.0, 10.2, 10.1), None);
        assert_eq!(single_fill_price(Side::Buy, f64::NAN, 1.0, 1.1), None);
        assert_eq!(single_fill_price(Side::Sell, 0.0, 0.0, 0.05), None);
    }

    #[test]
    fn credit_spread_fills_at_net_mid_when_marketable() {
        // Sell the 100 put (mid 2.00), buy the 95 put (mid 0.80): credit 1.20.
        let legs = [
            ComboLegMarket {
                side: Side::Sell,
                ratio: 1,
                bid: 1.95,
                ask: 2.05,
            },
            ComboLegMarket {
                side: Side::Buy,
                ratio: 1,
                bid: 0.75,
                ask: 0.85,
            },
        ];
        assert!((combo_net_mid(&legs).unwrap() + 1.20).abs() < 1e-9);
        // Asking for a 1.30 credit (limit -1.30) is not marketable.
        assert_eq!(combo_fill_price(&legs, -1.30), None);
        // Accepting 1.10 credit fills at the mid credit 1.20.
        assert_eq!(combo_fill_price(&legs, -1.10), Some(-1.20));
    }

    #[test]
    fn combo_with_one_sided_leg_rests() {
        let legs = [ComboLegMarket {
            side: Side::Buy,
            ratio: 2,
            bid: 1.0,
            ask: f64::NAN,
        }];
        assert_eq!(combo_fill_price(&legs, 100.0), None);
    }
}
