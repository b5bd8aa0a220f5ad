//! Market-data types exchanged between the broker bridge, the Worker and the UI.
//! Their serde form is the JSON wire format of the bridge API (see docs/api.md).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::CoreError;

/// Most symbols one request may name (bridge `/quotes`, Worker watchlist).
pub const MAX_SYMBOLS_PER_REQUEST: usize = 50;

/// The default watchlist: ten liquid US names.
pub const DEFAULT_WATCHLIST: [&str; 10] = [
    "AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "META", "TSLA", "SPY", "QQQ", "IWM",
];

/// A validated ticker symbol: 1-10 chars, `[A-Z][A-Z0-9.-]*`, stored upper-case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(type = "string"))]
pub struct Symbol(String);

impl Symbol {
    pub fn parse(raw: &str) -> Result<Self, CoreError> {
        let s = raw.trim().to_ascii_uppercase();
        let mut chars = s.chars();
        let ok = matches!(chars.next(), Some(c) if c.is_ascii_uppercase())
            && s.len() <= 10
            && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '.' || c == '-');
        if ok {
            Ok(Self(s))
        } else {
            Err(CoreError::InvalidSymbol(raw.chars().take(32).collect()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Symbol {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for Symbol {
    type Error = CoreError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Symbol> for String {
    fn from(s: Symbol) -> String {
        s.0
    }
}

/// Parses a comma-separated symbol list (`"AAPL,msft, SPY"`): non-empty, at most
/// `max` entries, no duplicates, each a valid [`Symbol`]. Order is kept.
pub fn parse_symbol_list(raw: &str, max: usize) -> Result<Vec<Symbol>, CoreError> {
    let parts: Vec<&str> = raw
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    if parts.is_empty() {
        return Err(CoreError::EmptySymbolList);
    }
    if parts.len() > max {
        return Err(CoreError::TooManySymbols {
            got: parts.len(),
            max,
        });
    }
    let mut out: Vec<Symbol> = Vec::with_capacity(parts.len());
    for p in parts {
        let sym = Symbol::parse(p)?;
        if out.contains(&sym) {
            return Err(CoreError::DuplicateSymbol(sym.0));
        }
        out.push(sym);
    }
    Ok(out)
}

/// Where a price came from; reported with every quote so downstream code knows
/// when data is delayed or simulated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataType {
    Live,
    Frozen,
    Delayed,
    DelayedFrozen,
    Simulated,
}

impl DataType {
    pub fn as_str(self) -> &'static str {
        match self {
            DataType::Live => "live",
            DataType::Frozen => "frozen",
            DataType::Delayed => "delayed",
            DataType::DelayedFrozen => "delayed_frozen",
            DataType::Simulated => "simulated",
        }
    }
}

/// A top-of-book quote for one underlying.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quote {
    pub symbol: Symbol,
    pub bid: f64,
    pub ask: f64,
    pub last: f64,
    /// Shares traded today so far.
    pub volume: u64,
    pub timestamp: DateTime<Utc>,
    pub data_type: DataType,
}

impl Quote {
    /// Mid price, or `None` when the quote is one-sided, crossed or not finite.
    pub fn mid(&self) -> Option<f64> {
        let ok =
            self.bid.is_finite() && self.ask.is_finite() && self.bid > 0.0 && self.ask >= self.bid;
        ok.then_some(0.5 * (self.bid + self.ask))
    }
}

/// Account summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Account {
    pub account_id: String,
    pub net_liquidation: f64,
    pub cash: f64,
    pub buying_power: f64,
    pub currency: String,
    pub as_of: DateTime<Utc>,
}

/// One daily OHLCV bar.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DailyBar {
    pub date: NaiveDate,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: u64,
}

/// Call or put.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum OptionRight {
    #[serde(rename = "C", alias = "call", alias = "CALL")]
    Call,
    #[serde(rename = "P", alias = "put", alias = "PUT")]
    Put,
}

/// Greeks as reported by a source (IB model greeks, or the simulator).
/// Conventions: theta per calendar day, vega per 1 vol point (0.01).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct SourceGreeks {
    pub iv: Option<f64>,
    pub delta: Option<f64>,
    pub gamma: Option<f64>,
    pub theta: Option<f64>,
    pub vega: Option<f64>,
}

/// One option contract's market in a chain snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OptionQuote {
    pub strike: f64,
    pub right: OptionRight,
    pub bid: Option<f64>,
    pub ask: Option<f64>,
    pub last: Option<f64>,
    pub volume: Option<u64>,
    pub open_interest: Option<u64>,
    #[serde(flatten)]
    pub greeks: SourceGreeks,
}

/// All quoted strikes of one expiry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChainExpiry {
    pub expiry: NaiveDate,
    /// Calendar days from the snapshot date to expiry.
    pub dte: u32,
    pub contracts: Vec<OptionQuote>,
}

/// An option-chain snapshot for one underlying, windowed around spot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OptionChain {
    pub symbol: Symbol,
    pub spot: f64,
    pub as_of: DateTime<Utc>,
    pub data_type: DataType,
    /// Annualized continuous dividend yield assumed for the underlying, when known.
    pub dividend_yield: Option<f64>,
    pub expiries: Vec<ChainExpiry>,
}

/// Which part of a chain to return: DTE window and strikes per expiry nearest spot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainWindow {
    pub min_dte: u32,
    pub max_dte: u32,
    pub strikes: u32,
}

impl Default for ChainWindow {
    fn default() -> Self {
        Self {
            min_dte: 7,
            max_dte: 60,
            strikes: 20,
        }
    }
}

impl ChainWindow {
    pub const MAX_DTE: u32 = 730;
    pub const MAX_STRIKES: u32 = 100;

    pub fn validate(&self) -> Result<(), CoreError> {
        if self.min_dte > self.max_dte {
            return Err(CoreError::InvalidInput {
                field: "min_dte",
                reason: format!(
                    "min_dte {} is greater than max_dte {}",
                    self.min_dte, self.max_dte
                ),
            });
        }
        if self.max_dte > Self::MAX_DTE {
            return Err(CoreError::InvalidInput {
                field: "max_dte",
                reason: format!("at most {}", Self::MAX_DTE),
            });
        }
        if self.strikes == 0 || self.strikes > Self::MAX_STRIKES {
            return Err(CoreError::InvalidInput {
                field: "strikes",
                reason: format!("must be 1..={}", Self::MAX_STRIKES),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbol_normalizes_and_rejects() {
        assert_eq!(Symbol::parse(" aapl ").unwrap().as_str(), "AAPL");
        assert_eq!(Symbol::parse("BRK.B").unwrap().as_str(), "BRK.B");
        for bad in ["", "1ABC", "TOOLONGSYMBOL", "A B", "AA$", "ÄPL"] {
            assert!(Symbol::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn symbol_list_limits() {
        assert_eq!(parse_symbol_list("a, b ,C", 10).unwrap().len(), 3);
        assert_eq!(
            parse_symbol_list(" , ", 10),
            Err(CoreError::EmptySymbolList)
        );
        assert!(matches!(
            parse_symbol_list("A,B,C", 2),
            Err(CoreError::TooManySymbols { got: 3, max: 2 })
        ));
        assert_eq!(
            parse_symbol_list("A,a", 5),
            Err(CoreError::DuplicateSymbol("A".into()))
        );
        assert!(matches!(
            parse_symbol_list("A,$$", 5),
            Err(CoreError::InvalidSymbol(_))
        ));
    }

    #[test]
    fn quote_mid_rejects_crossed_and_one_sided() {
        let mut q = Quote {
            symbol: Symbol::parse("SPY").unwrap(),
            bid: 100.0,
            ask: 100.2,
            last: 100.1,
            volume: 1,
            timestamp: DateTime::<Utc>::UNIX_EPOCH,
            data_type: DataType::Simulated,
        };
        assert_eq!(q.mid(), Some(100.1));
        q.bid = 100.3;
        assert_eq!(q.mid(), None);
        q.bid = 0.0;
        assert_eq!(q.mid(), None);
    }

    #[test]
    fn option_right_wire_form() {
        assert_eq!(serde_json::to_string(&OptionRight::Call).unwrap(), "\"C\"");
        let p: OptionRight = serde_json::from_str("\"put\"").unwrap();
        assert_eq!(p, OptionRight::Put);
    }
}
