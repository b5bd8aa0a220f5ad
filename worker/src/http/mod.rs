//! The Worker's HTTP surface, as pure data: the one route table (every
//! route, with validated parameters, and which paths need a caller), the
//! auth gate in front of it ([`auth`]), the state-change gate ([`gate`]),
//! the JSON error every failure is answered with ([`error`]), the replies of
//! the approval API ([`approvals`]) and of the reads ([`reads`]), and the
//! `/broker/*` passthrough ([`proxy`]). `edge` applies it to Workers
//! requests.

pub mod approvals;
pub mod auth;
pub mod error;
pub mod events;
pub mod export;
pub mod gate;
pub mod iv_history;
pub mod positions;
pub mod proxy;
pub mod reads;
pub mod risk;

pub use error::ApiError;
use error::{truncate, Query};
use sas_core::market::Symbol;

/// Most runs `/ingest/runs` returns.
pub const MAX_RUNS_LIMIT: u32 = 200;
/// Default `limit` of `/ingest/runs`.
pub const DEFAULT_RUNS_LIMIT: u32 = 20;
/// Most days of history `/market/history` returns (the retention period).
pub const MAX_HISTORY_DAYS: u32 = 10;
/// Default `days` of `/market/history`.
pub const DEFAULT_HISTORY_DAYS: u32 = 2;
/// Most opportunities `/search/opportunities` returns.
pub const MAX_OPPORTUNITIES_LIMIT: u32 = 50;
/// Default `limit` of `/search/opportunities`.
pub const DEFAULT_OPPORTUNITIES_LIMIT: u32 = 10;

/// A matched route with its validated parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `GET /health` (no auth).
    Health,
    /// `GET /broker/account`.
    BrokerAccount,
    /// `GET /broker/quote?symbol=X`.
    BrokerQuote { symbol: Symbol },
    /// `POST /ingest/market`.
    IngestMarket,
    /// `GET /ingest/runs?limit=N`.
    IngestRuns { limit: u32 },
    /// `GET /market/latest`.
    MarketLatest,
    /// `GET /market/history?symbol=X&days=N`.
    MarketHistory { symbol: Symbol, days: u32 },
    /// `GET /search/opportunities?limit=N`.
    Opportunities { limit: u32 },
    /// `/proposals...`, `/audit`, `/kill-switch` (see [`approvals`]).
    Approval(approvals::ApprovalRoute),
    /// `/positions...`, `/orders`, `/pnl`, `/monitor/runs`,
    /// `/reconciliation...` (see [`positions`]).
    Position(positions::PositionRoute),
    /// `/risk...`, `/strategies`, `/performance...` (see [`risk`]).
    Risk(risk::RiskRoute),
    /// `GET /symbols/{symbol}/metrics?days=N&interval=daily|intraday`.
    SymbolMetrics {
        symbol: Symbol,
        days: u32,
        interval: crate::opportunities::MetricsInterval,
    },
    /// `GET /symbols/{symbol}/chain` (newest stored snapshot).
    SymbolChain { symbol: Symbol },
    /// `GET /symbols/{symbol}/quality` (data-quality verdict, IV history).
    SymbolQuality(iv_history::QualityRoute),
    /// `GET /alerts?limit=N`: recent alerts with their delivery state.
    Alerts { limit: u32 },
    /// `POST /alerts/test`: a test message to every configured channel.
    AlertsTest,
    /// `GET /metrics`: operator metrics in the Prometheus text format.
    Metrics,
    /// `GET /events`, `PUT /events` (see [`events`]).
    Events(events::EventsRoute),
}

impl Route {
    /// Whether the route needs an authenticated caller.
    pub fn requires_auth(&self) -> bool {
        !matches!(self, Route::Health)
    }
}

/// Paths of the API that need an authenticated caller (all but `/health`).
pub const PROTECTED_PATHS: [&str; 10] = [
    "/alerts",
    "/alerts/test",
    "/metrics",
    "/broker/account",
    "/broker/quote",
    "/ingest/market",
    "/ingest/runs",
    "/market/latest",
    "/market/history",
    "/search/opportunities",
];

/// Whether `path` is a protected route (checked before its parameters).
pub fn path_requires_auth(path: &str) -> bool {
    let path = if path.len() > 1 {
        path.trim_end_matches('/')
    } else {
        path
    };
    PROTECTED_PATHS.contains(&path)
        || export::is_export_path(path)
        || path.starts_with(SYMBOLS_PREFIX)
        || approvals::is_protected_path(path)
        || positions::is_protected_path(path)
        || risk::is_protected_path(path)
        || events::is_protected_path(path)
}

/// Prefix of the per-symbol routes (`/symbols/{symbol}/...`), all protected.
pub const SYMBOLS_PREFIX: &str = "/symbols/";

/// Matches `/symbols/{symbol}/{metrics|chain}` (`rest` is the path after
/// [`SYMBOLS_PREFIX`]).
fn symbol_route(method: &str, rest: &str, query: Option<&str>) -> Result<Route, ApiError> {
    let not_found = || {
        ApiError::new(
            404,
            "not_found",
            format!("no route for {SYMBOLS_PREFIX}{}", truncate(rest, 48)),
        )
    };
    let (raw_symbol, what) = rest.split_once('/').ok_or_else(not_found)?;
    if what == iv_history::QUALITY_SEGMENT {
        return iv_history::quality_route(method, || path_symbol(raw_symbol), query)
            .map(Route::SymbolQuality);
    }
    if !matches!(what, "metrics" | "chain") {
        return Err(not_found());
    }
    if method != "GET" {
        return Err(ApiError::new(
            405,
            "method_not_allowed",
            format!("{SYMBOLS_PREFIX}{{symbol}}/{what} only accepts GET"),
        ));
    }
    let symbol = path_symbol(raw_symbol)?;
    let mut q = Query::parse(query.unwrap_or(""))?;
    let route = if what == "metrics" {
        let days = q.bounded(
            "days",
            crate::opportunities::DEFAULT_METRICS_DAYS,
            1,
            crate::opportunities::MAX_METRICS_DAYS,
        )?;
        let interval = match q.take("interval") {
            None => crate::opportunities::MetricsInterval::Daily,
            Some(raw) => {
                crate::opportunities::MetricsInterval::parse(raw.trim()).ok_or_else(|| {
                    ApiError::bad_request("query parameter 'interval' must be daily or intraday")
                })?
            }
        };
        Route::SymbolMetrics {
            symbol,
            days,
            interval,
        }
    } else {
        Route::SymbolChain { symbol }
    };
    q.reject_unused()?;
    Ok(route)
}

/// The symbol of a `/symbols/{symbol}/...` path segment: percent-escapes
/// decoded, and the whole segment must be the symbol (`SPY&x=1` or `SPY%26x`
/// is a 400, never `SPY`).
fn path_symbol(segment: &str) -> Result<Symbol, ApiError> {
    let invalid =
        || ApiError::bad_request(format!("invalid symbol in path: {}", truncate(segment, 32)));
    let bytes = segment.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or_else(invalid)?;
            let hex = std::str::from_utf8(hex).map_err(|_| invalid())?;
            decoded.push(u8::from_str_radix(hex, 16).map_err(|_| invalid())?);
            i += 3;
        } else {
            decoded.push(bytes[i]);
            i += 1;
        }
    }
    let decoded = String::from_utf8(decoded).map_err(|_| invalid())?;
    // Symbol::parse trims; a path segment is taken exactly as sent.
    if decoded.trim() != decoded {
        return Err(invalid());
    }
    Symbol::parse(&decoded).map_err(|_| invalid())
}

/// Matches `method` + `path` + raw `query` (without `?`) to a [`Route`].
pub fn route(method: &str, path: &str, query: Option<&str>) -> Result<Route, ApiError> {
    let path = if path.len() > 1 {
        path.trim_end_matches('/')
    } else {
        path
    };
    if let Some(rest) = path.strip_prefix(SYMBOLS_PREFIX) {
        return symbol_route(method, rest, query);
    }
    if let Some(approval_route) = approvals::route(method, path, query) {
        return approval_route.map(Route::Approval);
    }
    if let Some(position_route) = positions::route(method, path, query) {
        return position_route.map(Route::Position);
    }
    if let Some(risk_route) = risk::route(method, path, query) {
        return risk_route.map(Route::Risk);
    }
    if let Some(events_route) = events::route(method, path, query) {
        return events_route.map(Route::Events);
    }
    let (allowed, build): (&str, RouteBuilder) = match path {
        "/health" => ("GET", |_| Ok(Route::Health)),
        "/broker/account" => ("GET", |_| Ok(Route::BrokerAccount)),
        "/broker/quote" => ("GET", |q| {
            Ok(Route::BrokerQuote {
                symbol: q.required_symbol("symbol")?,
            })
        }),
        "/ingest/market" => ("POST", |_| Ok(Route::IngestMarket)),
        "/alerts" => ("GET", |q| {
            Ok(Route::Alerts {
                limit: q.bounded("limit", 50, 1, 200)?,
            })
        }),
        "/alerts/test" => ("POST", |_| Ok(Route::AlertsTest)),
        "/metrics" => ("GET", |_| Ok(Route::Metrics)),
        "/ingest/runs" => ("GET", |q| {
            Ok(Route::IngestRuns {
                limit: q.bounded("limit", DEFAULT_RUNS_LIMIT, 1, MAX_RUNS_LIMIT)?,
            })
        }),
        "/market/latest" => ("GET", |_| Ok(Route::MarketLatest)),
        "/market/history" => ("GET", |q| {
            Ok(Route::MarketHistory {
                symbol: q.required_symbol("symbol")?,
                days: q.bounded("days", DEFAULT_HISTORY_DAYS, 1, MAX_HISTORY_DAYS)?,
            })
        }),
        "/search/opportunities" => ("GET", |q| {
            Ok(Route::Opportunities {
                limit: q.bounded(
                    "limit",
                    DEFAULT_OPPORTUNITIES_LIMIT,
                    1,
                    MAX_OPPORTUNITIES_LIMIT,
                )?,
            })
        }),
        _ => {
            return Err(ApiError::new(
                404,
                "not_found",
                format!("no route for {}", truncate(path, 64)),
            ))
        }
    };
    ApiError::require_method(method, allowed, path)?;
    let mut q = Query::parse(query.unwrap_or(""))?;
    let route = build(&mut q)?;
    q.reject_unused()?;
    Ok(route)
}

/// Builds a route from its validated query parameters.
type RouteBuilder = fn(&mut Query) -> Result<Route, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    fn sym(s: &str) -> Symbol {
        Symbol::parse(s).unwrap()
    }

    #[test]
    fn routes_with_defaults() {
        assert_eq!(route("GET", "/health", None), Ok(Route::Health));
        assert_eq!(route("GET", "/health/", Some("")), Ok(Route::Health));
        assert_eq!(
            route("GET", "/ingest/runs", None),
            Ok(Route::IngestRuns { limit: 20 })
        );
        assert_eq!(
            route("GET", "/market/history", Some("symbol=aapl")),
            Ok(Route::MarketHistory {
                symbol: sym("AAPL"),
                days: 2
            })
        );
        assert_eq!(
            route("GET", "/search/opportunities", Some("limit=5")),
            Ok(Route::Opportunities { limit: 5 })
        );
        assert_eq!(
            route("POST", "/ingest/market", None),
            Ok(Route::IngestMarket)
        );
        assert_eq!(
            route("GET", "/broker/quote", Some("symbol=BRK.B")),
            Ok(Route::BrokerQuote {
                symbol: sym("BRK.B")
            })
        );
    }

    fn err(method: &str, path: &str, query: Option<&str>) -> ApiError {
        route(method, path, query).unwrap_err()
    }

    #[test]
    fn unknown_route_and_wrong_method() {
        let e = err("GET", "/nope", None);
        assert_eq!((e.status, e.code), (404, "not_found"));
        let e = err("GET", "/ingest/market", None);
        assert_eq!((e.status, e.code), (405, "method_not_allowed"));
        assert!(e.message.contains("POST"));
        let e = err("DELETE", "/market/latest", None);
        assert_eq!(e.status, 405);
    }

    #[test]
    fn bad_queries_name_the_problem() {
        let cases = [
            ("/market/history", "days=3", "'symbol' is required"),
            ("/market/history", "symbol=$$", "invalid symbol"),
            ("/market/history", "symbol=AAPL&days=11", "'days' must be"),
            ("/market/history", "symbol=AAPL&days=0", "'days' must be"),
            ("/market/history", "symbol=AAPL&days=abc", "'days' must be"),
            (
                "/market/history",
                "symbol=AAPL&symbol=MSFT",
                "more than once",
            ),
            ("/ingest/runs", "limit=-1", "'limit' must be"),
            ("/ingest/runs", "limit=201", "'limit' must be"),
            ("/search/opportunities", "limit=51", "'limit' must be"),
            (
                "/search/opportunities",
                "foo=1",
                "unknown query parameter 'foo'",
            ),
            ("/broker/quote", "", "'symbol' is required"),
            ("/broker/quote", "symbol=TOOLONGSYMBOL", "invalid symbol"),
        ];
        for (path, q, needle) in cases {
            let e = err("GET", path, Some(q));
            assert_eq!(e.status, 400, "{path}?{q}");
            assert!(e.message.contains(needle), "{path}?{q}: {}", e.message);
        }
    }

    #[test]
    fn symbol_routes() {
        use crate::opportunities::MetricsInterval;
        assert_eq!(
            route("GET", "/symbols/aapl/metrics", None),
            Ok(Route::SymbolMetrics {
                symbol: sym("AAPL"),
                days: 30,
                interval: MetricsInterval::Daily
            })
        );
        assert_eq!(
            route(
                "GET",
                "/symbols/BRK.B/metrics/",
                Some("days=5&interval=intraday")
            ),
            Ok(Route::SymbolMetrics {
                symbol: sym("BRK.B"),
                days: 5,
                interval: MetricsInterval::Intraday
            })
        );
        assert_eq!(
            route("GET", "/symbols/SPY/chain", None),
            Ok(Route::SymbolChain { symbol: sym("SPY") })
        );
        let cases = [
            ("/symbols/%24%24/metrics", None, 400, "invalid symbol"),
            ("/symbols/TOOLONGSYMBOL/chain", None, 400, "invalid symbol"),
            (
                "/symbols/SPY/metrics",
                Some("days=0"),
                400,
                "'days' must be",
            ),
            (
                "/symbols/SPY/metrics",
                Some("days=731"),
                400,
                "'days' must be",
            ),
            (
                "/symbols/SPY/metrics",
                Some("interval=weekly"),
                400,
                "interval",
            ),
            (
                "/symbols/SPY/chain",
                Some("days=3"),
                400,
                "unknown query parameter",
            ),
            ("/symbols/SPY", None, 404, "no route"),
            ("/symbols/SPY/greeks", None, 404, "no route"),
        ];
        for (path, q, status, needle) in cases {
            let e = err("GET", path, q);
            assert_eq!(e.status, status, "{path}");
            assert!(e.message.contains(needle), "{path}: {}", e.message);
        }
        assert_eq!(err("POST", "/symbols/SPY/chain", None).status, 405);
        assert!(path_requires_auth("/symbols/SPY/metrics"));
        assert!(Route::SymbolChain { symbol: sym("SPY") }.requires_auth());
    }

    #[test]
    fn symbol_path_segment_is_strict() {
        for path in [
            "/symbols/SPY&x=1/metrics",
            "/symbols/SPY&x=1/chain",
            "/symbols/SPY%26x%3D1/metrics",
            "/symbols/SPY=/metrics",
            "/symbols/SPY+QQQ/metrics",
            "/symbols/SPY%20/metrics",
            "/symbols/%20SPY/metrics",
            "/symbols/SPY%/metrics",
            "/symbols/SPY%2/metrics",
            "/symbols/SPY%zz/metrics",
            "/symbols/SPY;x/metrics",
            "/symbols//metrics",
        ] {
            let e = err("GET", path, None);
            assert_eq!((e.status, e.code), (400, "bad_request"), "{path}");
            assert!(
                e.message.contains("invalid symbol"),
                "{path}: {}",
                e.message
            );
        }
        // Percent-escapes of valid characters are still fine.
        assert_eq!(
            route("GET", "/symbols/BRK%2EB/chain", None),
            Ok(Route::SymbolChain {
                symbol: sym("BRK.B")
            })
        );
    }

    #[test]
    fn error_body_is_json() {
        let v: serde_json::Value =
            serde_json::from_str(&ApiError::bad_request("x \"y\"").body()).unwrap();
        assert_eq!(v["error"], "bad_request");
        assert_eq!(v["message"], "x \"y\"");
        assert!(Route::BrokerAccount.requires_auth());
        assert!(path_requires_auth("/market/latest/"));
        assert!(!path_requires_auth("/health"));
        assert!(!path_requires_auth("/nope"));
        for p in PROTECTED_PATHS {
            assert_ne!(
                route("GET", p, Some("zzz=1")).unwrap_err().status,
                404,
                "{p}"
            );
        }
        assert!(!Route::Health.requires_auth());
    }

    /// Every request the router accepts is authenticated by the path check
    /// exactly when its route says it needs a caller (the edge checks both).
    #[test]
    fn path_auth_agrees_with_route_auth_for_every_route() {
        let requests = [
            ("GET", "/health", None),
            ("GET", "/broker/account", None),
            ("GET", "/broker/quote", Some("symbol=AAPL")),
            ("POST", "/ingest/market", None),
            ("GET", "/ingest/runs", None),
            ("GET", "/market/latest", None),
            ("GET", "/market/history", Some("symbol=AAPL")),
            ("GET", "/search/opportunities", None),
            ("GET", "/symbols/SPY/metrics", None),
            ("GET", "/symbols/SPY/chain", None),
            ("GET", "/proposals", None),
            ("GET", "/proposals/1", None),
            ("POST", "/proposals/1/approve", None),
            ("POST", "/proposals/1/reject", None),
            ("GET", "/audit", None),
            ("GET", "/kill-switch", None),
            ("POST", "/kill-switch", None),
        ];
        for (method, path, query) in requests {
            let r = route(method, path, query)
                .unwrap_or_else(|e| panic!("{method} {path}: {}", e.message));
            assert_eq!(
                path_requires_auth(path),
                r.requires_auth(),
                "{method} {path}"
            );
        }
    }
}
