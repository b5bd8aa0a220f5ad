//! Which stored trades count for generation: approved trades are open (for
//! the per-symbol limit and portfolio heat) until their last leg can have
//! expired; pending proposals hold their symbol; every proposal of today
//! counts against the daily limit.

use chrono::NaiveDate;

use crate::market::Symbol;
use crate::strategy::ExistingTrade;

/// The longest DTE a proposed leg can have (a calendar's back month: front
/// at most 35 days plus a gap of at most 49 with the default strategy
/// configuration, rounded up).
pub const LONGEST_LEG_DTE: u32 = 90;

/// Approved trades count as open (for limits and heat) this many days after
/// their trade date: the longest DTE a leg can have (a trade is open until
/// its last leg expires), plus a week of margin.
pub const OPEN_TRADE_LOOKBACK_DAYS: i64 = LONGEST_LEG_DTE as i64 + 7;

/// The decision state of a stored trade, as far as these rules care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TradeState {
    Pending,
    Approved,
    /// Rejected or expired: counts only against the daily limit.
    Closed,
}

/// One stored trade (a proposal row).
#[derive(Debug, Clone, PartialEq)]
pub struct TradeRecord {
    pub symbol: Symbol,
    pub idempotency_key: String,
    pub state: TradeState,
    pub trade_date: NaiveDate,
    /// Max loss of all proposed contracts, dollars.
    pub total_max_loss: f64,
    /// Contracts approved (an approval may size down), if approved.
    pub approved_contracts: Option<u32>,
    /// Contracts proposed.
    pub contracts: u32,
}

/// The trades generation must know about, split the way it wants them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExistingTrades {
    /// Approved within [`OPEN_TRADE_LOOKBACK_DAYS`]: open positions.
    pub open: Vec<ExistingTrade>,
    /// Awaiting a decision.
    pub pending: Vec<ExistingTrade>,
    /// Made on `today` (any state): the daily limit.
    pub today: Vec<ExistingTrade>,
}

/// Splits `records` for a generation on `today`. An approved trade's max
/// loss is scaled to the contracts actually approved.
pub fn split(records: &[TradeRecord], today: NaiveDate) -> ExistingTrades {
    let since = today - chrono::Duration::days(OPEN_TRADE_LOOKBACK_DAYS);
    let mut out = ExistingTrades::default();
    for r in records {
        let max_loss = match (r.state, r.approved_contracts) {
            (TradeState::Approved, Some(n)) if n > 0 && r.contracts > 0 => {
                r.total_max_loss * f64::from(n) / f64::from(r.contracts)
            }
            _ => r.total_max_loss,
        };
        let trade = ExistingTrade {
            symbol: r.symbol.clone(),
            idempotency_key: Some(r.idempotency_key.clone()),
            max_loss,
        };
        if r.trade_date == today {
            out.today.push(trade.clone());
        }
        match r.state {
            TradeState::Pending => out.pending.push(trade),
            TradeState::Approved if r.trade_date >= since => out.open.push(trade),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn rec(state: TradeState, date: NaiveDate, approved: Option<u32>) -> TradeRecord {
        TradeRecord {
            symbol: Symbol::parse("SPY").unwrap(),
            idempotency_key: "k".into(),
            state,
            trade_date: date,
            total_max_loss: 400.0,
            approved_contracts: approved,
            contracts: 4,
        }
    }

    #[test]
    fn approved_trades_stay_open_for_the_lookback_and_scale_to_approved_size() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 17).unwrap();
        let old = today - chrono::Duration::days(OPEN_TRADE_LOOKBACK_DAYS + 1);
        let edge = today - chrono::Duration::days(OPEN_TRADE_LOOKBACK_DAYS);
        let t = split(
            &[
                rec(TradeState::Approved, today, Some(2)),
                rec(TradeState::Approved, edge, None),
                rec(TradeState::Approved, old, None),
                rec(TradeState::Pending, edge, None),
                rec(TradeState::Closed, today, None),
            ],
            today,
        );
        assert_eq!(t.open.len(), 2);
        assert_eq!(t.open[0].max_loss, 200.0);
        assert_eq!(t.pending.len(), 1);
        assert_eq!(t.today.len(), 2);
    }
}
