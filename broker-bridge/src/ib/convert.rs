//! Conversions between bridge types and `ibapi` types, IB error mapping and
//! IB time parsing. Pure functions.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, TimeDelta, Utc, Weekday};
use ibapi::contracts::{ComboLeg, Contract, Currency, Exchange, LegAction, SecurityType};
use sas_core::market::{DataType, OptionRight, Symbol};

use crate::broker::BrokerError;
use sas_bridge_api::orders::{Instrument, OrderAction, OrderStatus};

/// IB codes meaning "no market-data permission".
pub const NO_PERMISSION_CODES: [i32; 6] = [354, 10089, 10090, 10091, 10167, 10168];
/// IB codes meaning "no such contract".
pub const NO_CONTRACT_CODES: [i32; 2] = [200, 203];

/// What a failed request was about, to pick the right error.
#[derive(Debug, Clone, Copy)]
pub enum Ctx<'a> {
    Symbol(&'a Symbol),
    Contract(&'a str),
    Order,
    Other,
}

/// Maps an IB error (code + text) to a bridge error.
pub fn map_code(code: i32, message: &str, ctx: Ctx<'_>) -> BrokerError {
    let message = message.trim().to_string();
    if NO_CONTRACT_CODES.contains(&code) {
        return match ctx {
            Ctx::Symbol(s) => BrokerError::UnknownSymbol {
                symbol: s.to_string(),
                code: Some(code),
            },
            Ctx::Contract(d) => BrokerError::UnknownContract {
                description: d.to_string(),
                code: Some(code),
            },
            Ctx::Order => BrokerError::Rejected {
                code: Some(code),
                message,
            },
            Ctx::Other => BrokerError::UnknownContract {
                description: message,
                code: Some(code),
            },
        };
    }
    if NO_PERMISSION_CODES.contains(&code) {
        return BrokerError::NoMarketDataPermission {
            symbol: match ctx {
                Ctx::Symbol(s) => Some(s.to_string()),
                Ctx::Contract(d) => Some(d.to_string()),
                _ => None,
            },
            code: Some(code),
            message,
        };
    }
    match code {
        100 | 162 | 420 => BrokerError::Pacing {
            code: Some(code),
            message,
            retry_after: Some(std::time::Duration::from_secs(if code == 162 {
                15
            } else {
                1
            })),
        },
        101 => BrokerError::Pacing {
            code: Some(code),
            message: format!("too many simultaneous market-data lines: {message}"),
            retry_after: Some(std::time::Duration::from_secs(2)),
        },
        1100 | 1300 | 502 | 504 => BrokerError::Disconnected { reason: message },
        _ if matches!(ctx, Ctx::Order) => BrokerError::Rejected {
            code: Some(code),
            message,
        },
        _ => BrokerError::Internal(format!("IB error {code}: {message}")),
    }
}

/// Maps an `ibapi` error to a bridge error.
pub fn map_error(e: &ibapi::Error, ctx: Ctx<'_>) -> BrokerError {
    match e {
        ibapi::Error::Notice(n) => map_code(n.code, &n.message, ctx),
        ibapi::Error::ConnectionReset
        | ibapi::Error::ConnectionFailed
        | ibapi::Error::Shutdown
        | ibapi::Error::ConnectionRejected(_) => BrokerError::Disconnected {
            reason: format!("IB Gateway connection: {e}"),
        },
        ibapi::Error::Io(_) if e.is_connection_lost() => BrokerError::Disconnected {
            reason: format!("IB Gateway connection: {e}"),
        },
        ibapi::Error::Timeout => BrokerError::Timeout,
        other => BrokerError::Internal(format!("ibapi: {other}")),
    }
}

/// Maps an error of an `OPTION_IMPLIED_VOLATILITY` historical request. IB
/// answers most historical problems with 162 and a text: "no market data
/// permissions" is a permission problem (403), "returned no data" for an
/// underlying means it has no options (no IV to compute), and the rest of
/// 162 is a pacing violation (429).
pub fn map_iv_history_error(e: &ibapi::Error, symbol: &Symbol) -> BrokerError {
    if let ibapi::Error::Notice(n) = e {
        if n.code == 162 {
            let text = n.message.to_ascii_lowercase();
            if text.contains("permission") {
                return BrokerError::NoMarketDataPermission {
                    symbol: Some(symbol.to_string()),
                    code: Some(n.code),
                    message: n.message.trim().to_string(),
                };
            }
            if text.contains("no data") {
                return BrokerError::NoOptions {
                    symbol: symbol.to_string(),
                    code: Some(n.code),
                };
            }
        }
    }
    map_error(e, Ctx::Symbol(symbol))
}

/// IB market-data type number → bridge data type.
pub fn data_type_of(n: i32) -> DataType {
    match n {
        2 => DataType::Frozen,
        3 => DataType::Delayed,
        4 => DataType::DelayedFrozen,
        _ => DataType::Live,
    }
}

/// Bridge data type → `ibapi` market-data type (simulated maps to live).
pub fn ib_market_data_type(t: DataType) -> ibapi::market_data::MarketDataType {
    use ibapi::market_data::MarketDataType as M;
    match t {
        DataType::Live | DataType::Simulated => M::Realtime,
        DataType::Frozen => M::Frozen,
        DataType::Delayed => M::Delayed,
        DataType::DelayedFrozen => M::DelayedFrozen,
    }
}

fn right_of(r: OptionRight) -> ibapi::contracts::OptionRight {
    match r {
        OptionRight::Call => ibapi::contracts::OptionRight::Call,
        OptionRight::Put => ibapi::contracts::OptionRight::Put,
    }
}

/// The IB contract of a stock (SMART, USD).
pub fn stock_contract(symbol: &Symbol) -> Contract {
    Contract {
        symbol: ibapi::contracts::Symbol::from(symbol.as_str()),
        security_type: SecurityType::Stock,
        exchange: Exchange::from("SMART"),
        currency: Currency::from("USD"),
        ..Default::default()
    }
}

/// The IB contract of a single instrument.
pub fn contract_of(instrument: &Instrument) -> Contract {
    match instrument {
        Instrument::Stock { symbol } => stock_contract(symbol),
        Instrument::Option {
            symbol,
            expiry,
            strike,
            right,
        } => option_contract(symbol, *expiry, *strike, *right),
    }
}

/// The IB contract of a US equity option (SMART, USD, multiplier 100).
pub fn option_contract(
    symbol: &Symbol,
    expiry: NaiveDate,
    strike: f64,
    right: OptionRight,
) -> Contract {
    Contract {
        symbol: ibapi::contracts::Symbol::from(symbol.as_str()),
        security_type: SecurityType::Option,
        last_trade_date_or_contract_month: expiry.format("%Y%m%d").to_string(),
        strike,
        right: Some(right_of(right)),
        multiplier: "100".into(),
        exchange: Exchange::from("SMART"),
        currency: Currency::from("USD"),
        ..Default::default()
    }
}

/// A BAG (combo) contract over legs already resolved to contract ids.
pub fn combo_contract(symbol: &Symbol, legs: &[(i32, u32, OrderAction)]) -> Contract {
    Contract {
        symbol: ibapi::contracts::Symbol::from(symbol.as_str()),
        security_type: SecurityType::Spread,
        exchange: Exchange::from("SMART"),
        currency: Currency::from("USD"),
        combo_legs: legs
            .iter()
            .map(|(con_id, ratio, action)| ComboLeg {
                contract_id: *con_id,
                ratio: i32::try_from(*ratio).unwrap_or(1),
                action: match action {
                    OrderAction::Buy => LegAction::Buy,
                    OrderAction::Sell => LegAction::Sell,
                },
                exchange: "SMART".into(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

/// The bridge instrument of an IB stock or option contract.
pub fn instrument_of(c: &Contract) -> Option<Instrument> {
    let symbol = Symbol::parse(&c.symbol.to_string()).ok()?;
    match c.security_type {
        SecurityType::Stock => Some(Instrument::Stock { symbol }),
        SecurityType::Option => {
            let expiry =
                NaiveDate::parse_from_str(&c.last_trade_date_or_contract_month, "%Y%m%d").ok()?;
            let right = match c.right? {
                ibapi::contracts::OptionRight::Call => OptionRight::Call,
                ibapi::contracts::OptionRight::Put => OptionRight::Put,
            };
            Some(Instrument::Option {
                symbol,
                expiry,
                strike: c.strike,
                right,
            })
        }
        _ => None,
    }
}

/// IB order status text → bridge status.
pub fn status_of(text: &str, filled: f64, quantity: f64) -> OrderStatus {
    match text {
        "Filled" => OrderStatus::Filled,
        "Cancelled" | "ApiCancelled" => OrderStatus::Cancelled,
        "Inactive" => OrderStatus::Rejected,
        "PendingCancel" => OrderStatus::PendingCancel,
        "PendingSubmit" | "ApiPending" => OrderStatus::PendingSubmit,
        _ if filled > 0.0 && filled < quantity => OrderStatus::PartiallyFilled,
        _ => OrderStatus::Submitted,
    }
}

/// Parses IB's `YYYYMMDD HH:MM:SS <zone>` (execution times). UTC/GMT and
/// US Eastern (`US/Eastern`, `America/New_York`, `EST`, `EDT`) are
/// understood; other zones yield `None`.
pub fn parse_ib_time(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    let (stamp, zone) = match text.get(17..) {
        Some(z) => (&text[..17], z.trim()),
        None => (text, "UTC"),
    };
    let naive = NaiveDateTime::parse_from_str(stamp, "%Y%m%d %H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(stamp, "%Y%m%d-%H:%M:%S"))
        .ok()?;
    let offset_hours = match zone {
        "" | "UTC" | "GMT" | "Etc/UTC" => 0,
        "US/Eastern" | "America/New_York" | "EST" | "EDT" | "EST5EDT" => {
            if us_eastern_is_dst(naive) {
                4
            } else {
                5
            }
        }
        _ => return None,
    };
    Some(naive.and_utc() + TimeDelta::hours(offset_hours))
}

/// US daylight time: second Sunday of March 02:00 to first Sunday of
/// November 02:00 (local wall clock).
fn us_eastern_is_dst(local: NaiveDateTime) -> bool {
    let year = local.year();
    let nth_sunday = |month: u32, n: u8| {
        NaiveDate::from_weekday_of_month_opt(year, month, Weekday::Sun, n)
            .and_then(|d| d.and_hms_opt(2, 0, 0))
    };
    match (nth_sunday(3, 2), nth_sunday(11, 1)) {
        (Some(start), Some(end)) => local >= start && local < end,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_map_to_bridge_errors() {
        let spy = Symbol::parse("SPY").unwrap();
        assert!(matches!(
            map_code(200, "No security definition", Ctx::Symbol(&spy)),
            BrokerError::UnknownSymbol {
                code: Some(200),
                ..
            }
        ));
        for code in [354, 10089, 10091] {
            assert!(matches!(
                map_code(code, "x", Ctx::Symbol(&spy)),
                BrokerError::NoMarketDataPermission { .. }
            ));
        }
        assert!(matches!(
            map_code(162, "pacing", Ctx::Other),
            BrokerError::Pacing {
                code: Some(162),
                ..
            }
        ));
        assert!(matches!(
            map_code(201, "Order rejected", Ctx::Order),
            BrokerError::Rejected {
                code: Some(201),
                ..
            }
        ));
        assert!(matches!(
            map_code(9999, "odd", Ctx::Other),
            BrokerError::Internal(_)
        ));
    }

    #[test]
    fn ib_times_parse_with_zone() {
        let utc = parse_ib_time("20260115 14:30:00 UTC").unwrap();
        assert_eq!(utc.to_rfc3339(), "2026-01-15T14:30:00+00:00");
        let winter = parse_ib_time("20260115 09:30:00 US/Eastern").unwrap();
        assert_eq!(winter.to_rfc3339(), "2026-01-15T14:30:00+00:00");
        let summer = parse_ib_time("20260715 09:30:00 America/New_York").unwrap();
        assert_eq!(summer.to_rfc3339(), "2026-07-15T13:30:00+00:00");
        assert!(parse_ib_time("20260715 09:30:00 Asia/Tokyo").is_none());
        assert!(parse_ib_time("garbage").is_none());
    }

    #[test]
    fn statuses_map() {
        assert_eq!(status_of("Filled", 1.0, 1.0), OrderStatus::Filled);
        assert_eq!(
            status_of("Submitted", 1.0, 3.0),
            OrderStatus::PartiallyFilled
        );
        assert_eq!(status_of("PreSubmitted", 0.0, 3.0), OrderStatus::Submitted);
        assert_eq!(status_of("Inactive", 0.0, 3.0), OrderStatus::Rejected);
    }

    #[test]
    fn contracts_round_trip() {
        let inst = Instrument::Option {
            symbol: Symbol::parse("SPY").unwrap(),
            expiry: NaiveDate::from_ymd_opt(2026, 12, 18).unwrap(),
            strike: 600.0,
            right: OptionRight::Put,
        };
        assert_eq!(instrument_of(&contract_of(&inst)), Some(inst));
        let combo = combo_contract(
            &Symbol::parse("SPY").unwrap(),
            &[(1, 1, OrderAction::Sell), (2, 1, OrderAction::Buy)],
        );
        assert_eq!(combo.security_type, SecurityType::Spread);
        assert_eq!(combo.combo_legs[0].action, LegAction::Sell);
    }
}
