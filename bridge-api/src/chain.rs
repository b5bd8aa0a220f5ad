//! The query of `GET /chain`: which part of an option chain is asked for: the DTE window
//! (`min_dte`/`max_dte`/`strikes`), an explicit expiry list
//! (`expiries=2026-12-18,2027-01-15` with `strikes`), or explicit contracts
//! (`contracts=2026-12-18:600:P,...`). The explicit forms are capped at
//! [`MAX_SELECTED`] so one request fits IB's pacing. Parsing only; no I/O.

use chrono::NaiveDate;
use sas_core::market::{ChainWindow, OptionRight};

/// Most expiries or contracts one explicit selection may name.
pub const MAX_SELECTED: usize = 8;

/// One option contract named in `contracts=`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChainContract {
    /// Expiry date.
    pub expiry: NaiveDate,
    /// Strike.
    pub strike: f64,
    /// Call or put.
    pub right: OptionRight,
}

/// A parsed chain selection.
#[derive(Debug, Clone, PartialEq)]
pub enum ChainSelection {
    /// Expiries in a DTE window, `strikes` nearest spot each.
    Window(ChainWindow),
    /// These listed expiries (sorted, distinct), `strikes` nearest spot each.
    Expiries {
        /// The expiries.
        expiries: Vec<NaiveDate>,
        /// Strikes nearest spot per expiry.
        strikes: u32,
    },
    /// Exactly these contracts (distinct, in the order given).
    Contracts(Vec<ChainContract>),
}

/// Why a chain selection is invalid. HTTP 400 `invalid_parameter`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainSelectionError {
    /// A parameter has the wrong form or is out of range.
    #[error("`{param}`: {reason}")]
    Invalid {
        /// Query parameter.
        param: &'static str,
        /// Why.
        reason: String,
    },
    /// Parameters of two selections were mixed.
    #[error("`{0}` cannot be combined with `{1}`")]
    Conflict(&'static str, &'static str),
}

/// The raw query parameters of `GET /chain` (besides `symbol`).
#[derive(Debug, Default, Clone, Copy)]
pub struct ChainParams<'a> {
    /// `min_dte`.
    pub min_dte: Option<&'a str>,
    /// `max_dte`.
    pub max_dte: Option<&'a str>,
    /// `strikes`.
    pub strikes: Option<&'a str>,
    /// `expiries`.
    pub expiries: Option<&'a str>,
    /// `contracts`.
    pub contracts: Option<&'a str>,
}

fn invalid(param: &'static str, reason: impl Into<String>) -> ChainSelectionError {
    ChainSelectionError::Invalid {
        param,
        reason: reason.into(),
    }
}

fn short(s: &str) -> String {
    s.chars().take(32).collect()
}

fn parse_u32(
    param: &'static str,
    raw: Option<&str>,
    default: u32,
) -> Result<u32, ChainSelectionError> {
    match raw {
        None => Ok(default),
        Some(s) => s.trim().parse::<u32>().map_err(|_| {
            invalid(
                param,
                format!("must be a non-negative integer, got {:?}", short(s)),
            )
        }),
    }
}

fn parse_date(param: &'static str, s: &str) -> Result<NaiveDate, ChainSelectionError> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map_err(|_| invalid(param, format!("{:?} is not a YYYY-MM-DD date", short(s))))
}

fn items<'a>(param: &'static str, raw: &'a str) -> Result<Vec<&'a str>, ChainSelectionError> {
    let parts: Vec<&str> = raw.split(',').map(str::trim).collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(invalid(param, "empty item in the list"));
    }
    if parts.len() > MAX_SELECTED {
        return Err(invalid(
            param,
            format!(
                "at most {MAX_SELECTED} items per request (IB pacing), got {}",
                parts.len()
            ),
        ));
    }
    Ok(parts)
}

fn parse_contract(s: &str) -> Result<ChainContract, ChainSelectionError> {
    let bad = || {
        invalid(
            "contracts",
            format!(
                "{:?} is not EXPIRY:STRIKE:RIGHT (2026-12-18:600:P)",
                short(s)
            ),
        )
    };
    let mut it = s.split(':');
    let (Some(e), Some(k), Some(r), None) = (it.next(), it.next(), it.next(), it.next()) else {
        return Err(bad());
    };
    let expiry = parse_date("contracts", e)?;
    let strike: f64 = k.trim().parse().map_err(|_| bad())?;
    let on_cents = ((strike * 100.0).round() - strike * 100.0).abs() < 1e-6;
    if !strike.is_finite() || strike <= 0.0 || strike > 100_000.0 || !on_cents {
        return Err(invalid(
            "contracts",
            format!(
                "strike {:?} must be a positive price in whole cents",
                short(k)
            ),
        ));
    }
    let right = match r.trim().to_ascii_uppercase().as_str() {
        "P" | "PUT" => OptionRight::Put,
        "C" | "CALL" => OptionRight::Call,
        _ => return Err(bad()),
    };
    Ok(ChainContract {
        expiry,
        strike,
        right,
    })
}

impl ChainSelection {
    /// Parses and validates the query parameters.
    pub fn parse(p: ChainParams<'_>) -> Result<Self, ChainSelectionError> {
        let defaults = ChainWindow::default();
        match (p.expiries, p.contracts) {
            (Some(_), Some(_)) => Err(ChainSelectionError::Conflict("expiries", "contracts")),
            (Some(raw), None) => {
                if p.min_dte.is_some() {
                    return Err(ChainSelectionError::Conflict("expiries", "min_dte"));
                }
                if p.max_dte.is_some() {
                    return Err(ChainSelectionError::Conflict("expiries", "max_dte"));
                }
                let mut expiries = items("expiries", raw)?
                    .into_iter()
                    .map(|s| parse_date("expiries", s))
                    .collect::<Result<Vec<_>, _>>()?;
                expiries.sort();
                expiries.dedup();
                let strikes = parse_u32("strikes", p.strikes, defaults.strikes)?;
                if strikes == 0 || strikes > ChainWindow::MAX_STRIKES {
                    return Err(invalid(
                        "strikes",
                        format!("must be 1..={}", ChainWindow::MAX_STRIKES),
                    ));
                }
                Ok(Self::Expiries { expiries, strikes })
            }
            (None, Some(raw)) => {
                for (name, given) in [
                    ("min_dte", p.min_dte),
                    ("max_dte", p.max_dte),
                    ("strikes", p.strikes),
                ] {
                    if given.is_some() {
                        return Err(ChainSelectionError::Conflict("contracts", name));
                    }
                }
                let mut out: Vec<ChainContract> = Vec::new();
                for item in items("contracts", raw)? {
                    let c = parse_contract(item)?;
                    if !out.contains(&c) {
                        out.push(c);
                    }
                }
                Ok(Self::Contracts(out))
            }
            (None, None) => {
                let window = ChainWindow {
                    min_dte: parse_u32("min_dte", p.min_dte, defaults.min_dte)?,
                    max_dte: parse_u32("max_dte", p.max_dte, defaults.max_dte)?,
                    strikes: parse_u32("strikes", p.strikes, defaults.strikes)?,
                };
                window
                    .validate()
                    .map_err(|e| invalid("window", e.to_string()))?;
                Ok(Self::Window(window))
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn parses_each_form() {
        let w = ChainSelection::parse(ChainParams::default()).unwrap();
        assert_eq!(w, ChainSelection::Window(ChainWindow::default()));
        let e = ChainSelection::parse(ChainParams {
            expiries: Some("2027-01-15, 2026-12-18,2026-12-18"),
            strikes: Some("6"),
            ..ChainParams::default()
        })
        .unwrap();
        assert_eq!(
            e,
            ChainSelection::Expiries {
                expiries: vec![d("2026-12-18"), d("2027-01-15")],
                strikes: 6
            }
        );
        let c = ChainSelection::parse(ChainParams {
            contracts: Some("2026-12-18:600:P,2026-12-18:595.5:c"),
            ..ChainParams::default()
        })
        .unwrap();
        assert_eq!(
            c,
            ChainSelection::Contracts(vec![
                ChainContract {
                    expiry: d("2026-12-18"),
                    strike: 600.0,
                    right: OptionRight::Put
                },
                ChainContract {
                    expiry: d("2026-12-18"),
                    strike: 595.5,
                    right: OptionRight::Call
                },
            ])
        );
    }

    #[test]
    fn refuses_bad_or_oversized_selections() {
        let nine = (1..=9)
            .map(|i| format!("2027-01-{i:02}"))
            .collect::<Vec<_>>()
            .join(",");
        for p in [
            ChainParams {
                expiries: Some(&nine),
                ..ChainParams::default()
            },
            ChainParams {
                expiries: Some("2026-13-01"),
                ..ChainParams::default()
            },
            ChainParams {
                contracts: Some("2026-12-18:600"),
                ..ChainParams::default()
            },
            ChainParams {
                contracts: Some("2026-12-18:600.001:P"),
                ..ChainParams::default()
            },
            ChainParams {
                contracts: Some("2026-12-18:600:X"),
                ..ChainParams::default()
            },
            ChainParams {
                expiries: Some("2026-12-18"),
                contracts: Some("2026-12-18:600:P"),
                ..ChainParams::default()
            },
            ChainParams {
                expiries: Some("2026-12-18"),
                max_dte: Some("30"),
                ..ChainParams::default()
            },
            ChainParams {
                contracts: Some("2026-12-18:600:P"),
                strikes: Some("3"),
                ..ChainParams::default()
            },
        ] {
            assert!(ChainSelection::parse(p).is_err(), "{p:?}");
        }
    }
}
