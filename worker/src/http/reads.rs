//! The replies of the opportunity reads: the one mapping of
//! [`ReadError`] to a status and error body.

use super::error::ApiError;
use crate::opportunities::service::ReadError;

/// The error reply of a failed read (store failures are 500 and logged by
/// the caller).
pub fn read_error(e: &ReadError) -> ApiError {
    match e {
        ReadError::UnknownSymbol(_) => ApiError::new(404, "unknown_symbol", e.to_string()),
        ReadError::NoSnapshot(_) => ApiError::new(404, "no_snapshot", e.to_string()),
        ReadError::Store { .. } | ReadError::Unreadable(_) => ApiError::internal(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreError;
    use sas_core::market::Symbol;

    #[test]
    fn read_errors_map_to_their_replies() {
        let s = Symbol::parse("ZZZZ").unwrap();
        let e = read_error(&ReadError::UnknownSymbol(s.clone()));
        assert_eq!((e.status, e.code), (404, "unknown_symbol"));
        assert_eq!(
            e.message,
            "ZZZZ is not on the watchlist and has no stored analytics"
        );
        let e = read_error(&ReadError::NoSnapshot(s));
        assert_eq!((e.status, e.code), (404, "no_snapshot"));
        assert_eq!(e.message, "no option-chain snapshot is stored for ZZZZ yet");
        let e = read_error(&ReadError::Store {
            context: "opportunities",
            source: StoreError("D1 down".into()),
        });
        assert_eq!(e.status, 500);
    }
}
