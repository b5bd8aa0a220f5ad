//! The JSON error every route answers with (`{"error": code, "message": ..}`
//! with its HTTP status) and the query-string reader the routes share.

use sas_core::market::Symbol;
use serde::Serialize;

pub use crate::config::truncate;

/// An error answered as `{"error": code, "message": message}` with `status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// Stable snake_case code.
    pub code: &'static str,
    /// Human-readable text, safe to show (no internal detail).
    pub message: String,
}

/// Wire form of [`ApiError`].
#[derive(Debug, Serialize)]
pub struct ErrorBody<'a> {
    pub error: &'a str,
    pub message: &'a str,
}

impl ApiError {
    /// A new error.
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }
    /// 400 `bad_request` naming the problem.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "bad_request", message)
    }
    /// 401 with no detail.
    pub fn unauthorized() -> Self {
        Self::new(401, "unauthorized", "missing or invalid credentials")
    }
    /// 503 when the Worker's configuration is invalid (details only in logs).
    pub fn misconfigured() -> Self {
        Self::new(
            503,
            "misconfigured",
            "the service is not configured correctly; see the Worker logs",
        )
    }
    /// 405 `method_not_allowed`: `path` (cut to 64 characters) only accepts `allowed`.
    pub fn method_not_allowed(path: &str, allowed: &str) -> Self {
        Self::new(
            405,
            "method_not_allowed",
            format!(
                "{} only accepts {allowed}",
                crate::config::truncate(path, 64)
            ),
        )
    }
    /// `Ok` when `method` is `allowed`, else [`ApiError::method_not_allowed`].
    pub fn require_method(method: &str, allowed: &str, path: &str) -> Result<(), Self> {
        if method == allowed {
            Ok(())
        } else {
            Err(Self::method_not_allowed(path, allowed))
        }
    }
    /// 500 with no detail (the cause is logged).
    pub fn internal() -> Self {
        Self::new(500, "internal", "internal error")
    }
    /// The JSON body.
    pub fn body(&self) -> String {
        serde_json::to_string(&ErrorBody {
            error: self.code,
            message: &self.message,
        })
        .unwrap_or_else(|_| String::from(r#"{"error":"internal","message":"internal error"}"#))
    }
}

/// Decoded query parameters; each may appear once, and every one must be used.
pub(crate) struct Query {
    params: Vec<(String, String, bool)>,
}

impl Query {
    pub(crate) fn parse(raw: &str) -> Result<Self, ApiError> {
        if raw.len() > 2048 {
            return Err(ApiError::bad_request("query string is too long"));
        }
        let mut params: Vec<(String, String, bool)> = Vec::new();
        for (k, v) in worker::url::form_urlencoded::parse(raw.as_bytes()) {
            if params.iter().any(|(name, _, _)| *name == k) {
                return Err(ApiError::bad_request(format!(
                    "query parameter '{}' is given more than once",
                    truncate(&k, 32)
                )));
            }
            params.push((k.into_owned(), v.into_owned(), false));
        }
        Ok(Self { params })
    }

    pub(crate) fn take(&mut self, name: &str) -> Option<String> {
        self.params
            .iter_mut()
            .find(|(k, _, _)| k == name)
            .map(|(_, v, used)| {
                *used = true;
                v.clone()
            })
    }

    pub(crate) fn required_symbol(&mut self, name: &'static str) -> Result<Symbol, ApiError> {
        match self.take(name) {
            None => Err(ApiError::bad_request(format!(
                "query parameter '{name}' is required"
            ))),
            Some(raw) => Symbol::parse(&raw).map_err(|e| ApiError::bad_request(e.to_string())),
        }
    }

    pub(crate) fn bounded(
        &mut self,
        name: &'static str,
        default: u32,
        min: u32,
        max: u32,
    ) -> Result<u32, ApiError> {
        match self.take(name) {
            None => Ok(default),
            Some(raw) => match raw.trim().parse::<u32>() {
                Ok(n) if (min..=max).contains(&n) => Ok(n),
                _ => Err(ApiError::bad_request(format!(
                    "query parameter '{name}' must be an integer in {min}..={max}"
                ))),
            },
        }
    }

    pub(crate) fn reject_unused(&self) -> Result<(), ApiError> {
        match self.params.iter().find(|(_, _, used)| !used) {
            None => Ok(()),
            Some((k, _, _)) => Err(ApiError::bad_request(format!(
                "unknown query parameter '{}'",
                truncate(k, 32)
            ))),
        }
    }
}
