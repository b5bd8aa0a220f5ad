//! `GET /symbols/{symbol}/quality` (issue 14): the route's parsing and the
//! one mapping of [`IvHistoryError`] to a reply. The route table in
//! `http::mod` matches the `quality` segment of `/symbols/{symbol}/...` and
//! calls [`quality_route`] with the decoded path symbol.

use sas_core::market::Symbol;

use super::error::{ApiError, Query};
use crate::iv_history::IvHistoryError;

/// The path segment after `/symbols/{symbol}/`.
pub const QUALITY_SEGMENT: &str = "quality";

/// A matched `GET /symbols/{symbol}/quality`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QualityRoute {
    pub symbol: Symbol,
}

/// Parses `GET /symbols/{symbol}/quality`: the method first (405), then the
/// path symbol (`symbol`, the route table's decoder: a 400 for a bad
/// segment), then the query, which takes no parameter (400 for any).
pub fn quality_route(
    method: &str,
    symbol: impl FnOnce() -> Result<Symbol, ApiError>,
    query: Option<&str>,
) -> Result<QualityRoute, ApiError> {
    if method != "GET" {
        return Err(ApiError::new(
            405,
            "method_not_allowed",
            "/symbols/{symbol}/quality only accepts GET",
        ));
    }
    let symbol = symbol()?;
    Query::parse(query.unwrap_or(""))?.reject_unused()?;
    Ok(QualityRoute { symbol })
}

/// The error reply of a failed quality read (store failures are 500 and
/// logged by the caller; bridge failures are reported inside a 200 body).
pub fn quality_error(e: &IvHistoryError) -> ApiError {
    match e {
        IvHistoryError::UnknownSymbol(_) => ApiError::new(404, "unknown_symbol", e.to_string()),
        _ => ApiError::internal(),
    }
}

#[cfg(test)]
mod iv_history_route_tests {
    use super::*;
    use crate::store::StoreError;

    fn spy() -> Result<Symbol, ApiError> {
        Symbol::parse("SPY").map_err(|_| ApiError::internal())
    }

    #[test]
    fn quality_route_takes_get_with_no_parameter() {
        assert_eq!(
            quality_route("GET", spy, None).map(|r| r.symbol.to_string()),
            Ok("SPY".to_owned())
        );
        assert_eq!(quality_route("GET", spy, Some("")).map(|_| ()), Ok(()));
        let e = quality_route("POST", spy, None).unwrap_err();
        assert_eq!((e.status, e.code), (405, "method_not_allowed"));
        let e = quality_route("GET", spy, Some("days=3")).unwrap_err();
        assert_eq!((e.status, e.code), (400, "bad_request"));
        assert!(e.message.contains("days"), "{}", e.message);
        let bad = || Err(ApiError::bad_request("invalid symbol in path: $$"));
        let e = quality_route("GET", bad, None).unwrap_err();
        assert_eq!(e.status, 400);
        // The method is checked before the symbol is decoded.
        assert_eq!(quality_route("PUT", bad, None).unwrap_err().status, 405);
    }

    #[test]
    fn quality_errors_map_to_their_replies() {
        let e = quality_error(&IvHistoryError::UnknownSymbol("ZZZZ".into()));
        assert_eq!((e.status, e.code), (404, "unknown_symbol"));
        assert_eq!(e.message, "ZZZZ is not on the watchlist");
        let e = quality_error(&IvHistoryError::Store(StoreError("D1 down".into())));
        assert_eq!((e.status, e.code), (500, "internal"));
        assert!(!e.message.contains("D1"));
    }
}
