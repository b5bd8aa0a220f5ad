//! `GET /quote`, `GET /quotes`, `GET /chain`, `GET /chain/expiries` and
//! `GET /history/daily`, `GET /history/iv` and `GET /events/dividends`. The market types themselves (quote, chain, bar) are
//! declared once in `sas-core` and re-exported here; this module adds the
//! bodies that wrap them. The `/chain` query is in [`crate::chain`].

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::error::ErrorCode;

/// One bar of [`HistoryBody::bars`].
pub use sas_core::market::DailyBar;
/// `GET /chain` body.
pub use sas_core::market::OptionChain;
/// `GET /quote` body, and one entry of [`QuotesBody::quotes`].
pub use sas_core::market::Quote;
pub use sas_core::market::{DataType, Symbol, MAX_SYMBOLS_PER_REQUEST};

/// Most daily bars one `GET /history/daily` may ask for.
pub const MAX_HISTORY_DAYS: u32 = 730;

/// One symbol `GET /quotes` could not serve.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SymbolError {
    /// The symbol as asked.
    pub symbol: String,
    /// Why (the code the same failure has as a whole response).
    pub error: ErrorCode,
    /// Human text.
    pub message: String,
}

/// `GET /quotes` body: one unknown symbol never fails the rest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuotesBody {
    /// Quotes served, in the order asked.
    pub quotes: Vec<Quote>,
    /// Symbols not served.
    pub errors: Vec<SymbolError>,
}

/// `GET /chain/expiries` body: listed expiries from today on, sorted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpiriesBody {
    /// Underlying.
    pub symbol: Symbol,
    /// Expiries, sorted, distinct.
    pub expiries: Vec<NaiveDate>,
}

/// `GET /history/daily` body: bars oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryBody {
    /// Symbol.
    pub symbol: Symbol,
    /// Daily bars.
    pub bars: Vec<DailyBar>,
}

/// Most calendar days one `GET /history/iv` may span (one year: one IB
/// historical request).
pub const MAX_IV_HISTORY_DAYS: u32 = 365;

/// One daily close of an underlying's 30-day implied volatility.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct IvBar {
    /// Session date.
    pub date: NaiveDate,
    /// 30-day implied volatility at the close, decimal (0.25 = 25 %).
    pub iv: f64,
}

/// Where a `GET /history/iv` series comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IvSource {
    /// IB's `OPTION_IMPLIED_VOLATILITY` daily bars.
    Ib,
    /// The simulated market's volatility model.
    Sim,
}

/// `GET /history/iv` body: daily IV closes, oldest first, of the sessions in
/// the `days` calendar days before today (gaps are left out, never filled).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IvHistoryBody {
    /// Symbol.
    pub symbol: Symbol,
    /// Daily IV closes, oldest first.
    pub bars: Vec<IvBar>,
    /// Which broker served the series.
    pub source: IvSource,
}

/// Where a `GET /events/dividends` answer comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DividendSource {
    /// IB's "IB dividends" tick (generic tick 456, received tick 59).
    Ib,
    /// The simulated market's seeded schedule.
    Sim,
}

/// `GET /events/dividends?symbol=` body: IB's dividend summary of an
/// underlying. A symbol that pays no dividend has `next_ex_date` and
/// `next_amount` null and both sums 0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DividendsBody {
    /// Underlying.
    pub symbol: Symbol,
    /// Dividends (per share, dollars) with an ex-date in the past 12 months.
    pub past_12m: f64,
    /// Dividends expected in the next 12 months.
    pub next_12m: f64,
    /// The next ex-dividend date, when one is known.
    pub next_ex_date: Option<NaiveDate>,
    /// The next dividend's amount per share, when known.
    pub next_amount: Option<f64>,
    /// Which broker served it.
    pub source: DividendSource,
}
