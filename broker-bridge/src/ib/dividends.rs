//! IB's dividend summary of an underlying: market data with generic tick
//! 456 ("IB dividends"), which delivers received tick 59 (`IB_DIVIDENDS`)
//! as text `past12m,next12m,nextDate(YYYYMMDD),nextAmount`.
//!
//! IB refuses generic ticks on a snapshot (error 321), so the request is a
//! streaming subscription held on one market-data line from the bridge's
//! budget (the same lines as snapshots and quote streams, so the line cap
//! holds) only until the tick arrives, then cancelled.

use std::sync::Arc;

use chrono::NaiveDate;
use ibapi::contracts::tick_types::TickType;
use ibapi::market_data::realtime::{generic_tick, TickTypes};
use ibapi::prelude::StreamExt;
use ibapi::subscriptions::SubscriptionItem;
use sas_bridge_api::market::{DividendSource, DividendsBody};
use sas_core::market::Symbol;

use super::convert::{self, map_error, Ctx, NO_PERMISSION_CODES};
use super::Inner;
use crate::broker::BrokerError;

/// IB's tick 59 text, parsed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct IbDividends {
    pub past_12m: f64,
    pub next_12m: f64,
    pub next_date: Option<NaiveDate>,
    pub next_amount: Option<f64>,
}

/// Parses `past12m,next12m,nextDate,nextAmount` (empty fields: unknown; a
/// non-payer is `0,0,,`). `None` for text of another shape.
pub(crate) fn parse_ib_dividends(text: &str) -> Option<IbDividends> {
    let parts: Vec<&str> = text.trim().split(',').map(str::trim).collect();
    let [past, next, date, amount] = parts.as_slice() else {
        return None;
    };
    let money = |s: &str| -> Option<Option<f64>> {
        if s.is_empty() {
            return Some(None);
        }
        let v: f64 = s.parse().ok()?;
        (v.is_finite() && v >= 0.0).then_some(Some(v))
    };
    let next_date = if date.is_empty() {
        None
    } else {
        Some(NaiveDate::parse_from_str(date, "%Y%m%d").ok()?)
    };
    let next_amount = money(amount)?.filter(|a| *a > 0.0);
    Some(IbDividends {
        past_12m: money(past)?.unwrap_or(0.0),
        next_12m: money(next)?.unwrap_or(0.0),
        // A date without an amount (or the reverse) is not a usable dividend.
        next_date: next_date.filter(|_| next_amount.is_some()),
        next_amount: next_amount.filter(|_| next_date.is_some()),
    })
}

impl Inner {
    /// Subscribes `symbol` with generic tick 456 on one line, waits (up to
    /// the snapshot timeout) for tick 59, cancels.
    pub(super) async fn dividends(
        self: &Arc<Self>,
        symbol: &Symbol,
    ) -> Result<DividendsBody, BrokerError> {
        let permit = self.acquire_line(self.cfg.snapshot_timeout, false).await?;
        let client = self.client()?;
        let contract = convert::stock_contract(symbol);
        let mut sub = client
            .market_data(&contract)
            .generic_ticks(&[generic_tick::IB_DIVIDENDS])
            .subscribe()
            .await
            .map_err(|e| map_error(&e, Ctx::Symbol(symbol)))?;
        let deadline = tokio::time::Instant::now() + self.cfg.snapshot_timeout;
        let mut text: Option<String> = None;
        let mut permission: Option<ibapi::Notice> = None;
        loop {
            let item = match tokio::time::timeout_at(deadline, sub.next()).await {
                Err(_) | Ok(None) => break,
                Ok(Some(item)) => item,
            };
            match item {
                Ok(SubscriptionItem::Data(TickTypes::String(s)))
                    if s.tick_type == TickType::IbDividends =>
                {
                    text = Some(s.value);
                    break;
                }
                Ok(SubscriptionItem::Data(_)) => {}
                Ok(SubscriptionItem::Notice(n)) => {
                    self.metrics
                        .notices
                        .with_label_values(&[&n.code.to_string()])
                        .inc();
                    if NO_PERMISSION_CODES.contains(&n.code) {
                        permission = Some(n);
                    }
                }
                Err(e) => return Err(map_error(&e, Ctx::Symbol(symbol))),
            }
        }
        // Dropping the subscription cancels the market data; then the line
        // goes back to the budget.
        drop(sub);
        drop(permit);
        let Some(text) = text else {
            return Err(match permission {
                Some(n) => convert::map_code(n.code, &n.message, Ctx::Symbol(symbol)),
                None => BrokerError::Timeout,
            });
        };
        self.touch_tick();
        let d = parse_ib_dividends(&text).ok_or_else(|| {
            BrokerError::Internal(format!(
                "unreadable IB dividends tick for {symbol}: {text:?}"
            ))
        })?;
        Ok(DividendsBody {
            symbol: symbol.clone(),
            past_12m: d.past_12m,
            next_12m: d.next_12m,
            next_ex_date: d.next_date,
            next_amount: d.next_amount,
            source: DividendSource::Ib,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ibs_dividend_text() {
        let d = parse_ib_dividends("0.83,0.92,20130219,0.23").unwrap();
        assert_eq!(d.past_12m, 0.83);
        assert_eq!(d.next_12m, 0.92);
        assert_eq!(d.next_date, NaiveDate::from_ymd_opt(2013, 2, 19));
        assert_eq!(d.next_amount, Some(0.23));
    }

    #[test]
    fn a_non_payer_has_no_next_dividend() {
        for t in ["0,0,,", ",,,", "0,0,20130219,", "0,0,,0.5"] {
            let d = parse_ib_dividends(t).unwrap();
            assert_eq!((d.next_date, d.next_amount), (None, None), "{t}");
        }
    }

    #[test]
    fn malformed_text_is_refused() {
        for t in [
            "",
            "1,2,3",
            "1,2,20130219,0.2,9",
            "x,0,20130219,0.2",
            "1,2,2013-02-19,0.2",
            "1,2,20131399,0.2",
            "1,-2,20130219,0.2",
            "1,2,20130219,NaN",
        ] {
            assert_eq!(parse_ib_dividends(t), None, "{t}");
        }
    }
}
