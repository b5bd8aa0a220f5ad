//! `GET /events` and `PUT /events` (issue 14): the routes' parsing, the
//! `PUT` body's reading, and the one mapping of [`EventsError`] to a reply.

use sas_core::market::Symbol;

use super::approvals::parse_json_body;
use super::error::{truncate, ApiError, Query};
use crate::events::model::PutEventsBody;
use crate::events::EventsError;

/// The path of both routes.
pub const EVENTS_PATH: &str = "/events";

/// A matched events route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventsRoute {
    /// `GET /events[?symbol=X]`: upcoming events and the dividend refresh
    /// state.
    List { symbol: Option<Symbol> },
    /// `PUT /events`: add / remove earnings dates (JSON body, audited).
    Change,
}

/// Whether `path` is this API's (it needs authentication).
pub fn is_protected_path(path: &str) -> bool {
    path.trim_end_matches('/') == EVENTS_PATH
}

/// Matches `/events`; `None` for another path.
pub fn route(
    method: &str,
    path: &str,
    query: Option<&str>,
) -> Option<Result<EventsRoute, ApiError>> {
    if !is_protected_path(path) {
        return None;
    }
    Some(route_inner(method, query.unwrap_or("")))
}

fn route_inner(method: &str, query: &str) -> Result<EventsRoute, ApiError> {
    let mut q = Query::parse(query)?;
    let route = match method {
        "GET" => {
            let symbol = match q.take("symbol") {
                None => None,
                Some(raw) => Some(Symbol::parse(&raw).map_err(|_| {
                    ApiError::bad_request(format!(
                        "query parameter 'symbol' is an invalid symbol: {}",
                        truncate(&raw, 32)
                    ))
                })?),
            };
            EventsRoute::List { symbol }
        }
        "PUT" => EventsRoute::Change,
        _ => {
            return Err(ApiError::new(
                405,
                "method_not_allowed",
                "/events only accepts GET and PUT",
            ))
        }
    };
    q.reject_unused()?;
    Ok(route)
}

/// Reads a `PUT /events` body: JSON, an object, only `add` and `remove`,
/// each a list of `{"symbol", "date"[, "note"]}` (a 400 names what is
/// wrong; the entries' values are checked by the workflow).
pub fn parse_put(raw: &[u8]) -> Result<PutEventsBody, ApiError> {
    parse_json_body(raw)
}

/// The error reply of an events workflow (store failures are 500 and logged
/// by the caller).
pub fn events_error(e: &EventsError) -> ApiError {
    match e {
        EventsError::Invalid(m) => ApiError::bad_request(m.clone()),
        EventsError::Store(_) => ApiError::internal(),
    }
}

#[cfg(test)]
mod events_route_tests {
    use super::*;
    use crate::store::StoreError;

    #[test]
    fn events_routes_parse() {
        assert_eq!(route("GET", "/eventsx", None), None);
        assert_eq!(
            route("GET", "/events", None),
            Some(Ok(EventsRoute::List { symbol: None }))
        );
        assert_eq!(
            route("GET", "/events/", Some("symbol=aapl")),
            Some(Ok(EventsRoute::List {
                symbol: Some(Symbol::parse("AAPL").unwrap())
            }))
        );
        assert_eq!(route("PUT", "/events", None), Some(Ok(EventsRoute::Change)));
        let e = route("POST", "/events", None).unwrap().unwrap_err();
        assert_eq!((e.status, e.code), (405, "method_not_allowed"));
        let e = route("GET", "/events", Some("symbol=$$"))
            .unwrap()
            .unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.message.contains("symbol"), "{}", e.message);
        let e = route("GET", "/events", Some("days=3"))
            .unwrap()
            .unwrap_err();
        assert!(e.message.contains("days"), "{}", e.message);
        let e = route("PUT", "/events", Some("x=1")).unwrap().unwrap_err();
        assert_eq!(e.status, 400);
        assert!(is_protected_path("/events"));
        assert!(is_protected_path("/events/"));
    }

    #[test]
    fn malformed_bodies_are_400_naming_the_problem() {
        let ok =
            parse_put(br#"{"add":[{"symbol":"AAPL","date":"2026-12-10","note":"Q4"}]}"#).unwrap();
        assert_eq!(ok.add.len(), 1);
        assert!(ok.remove.is_empty());
        let cases: [(&[u8], &str); 6] = [
            (b"{", "not valid JSON"),
            (b"[]", "must be a JSON object"),
            (br#"{"add":[{"symbol":"AAPL"}]}"#, "date"),
            (
                br#"{"add":[{"symbol":"AAPL","date":"2026-12-10","kind":"x"}]}"#,
                "kind",
            ),
            (br#"{"added":[]}"#, "added"),
            (
                br#"{"add":{"symbol":"AAPL","date":"2026-12-10"}}"#,
                "sequence",
            ),
        ];
        for (raw, needle) in cases {
            let e = parse_put(raw).unwrap_err();
            assert_eq!(e.status, 400, "{}", String::from_utf8_lossy(raw));
            assert!(e.message.contains(needle), "{needle}: {}", e.message);
        }
    }

    #[test]
    fn events_errors_map_once() {
        let e = events_error(&EventsError::Invalid("add[0].date is in the past".into()));
        assert_eq!((e.status, e.code), (400, "bad_request"));
        assert_eq!(e.message, "add[0].date is in the past");
        let e = events_error(&EventsError::Store(StoreError("D1 down".into())));
        assert_eq!((e.status, e.code), (500, "internal"));
        assert!(!e.message.contains("D1"));
    }
}
