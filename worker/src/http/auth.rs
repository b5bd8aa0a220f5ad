//! The one auth gate in front of the route table: credentials in, a
//! [`Principal`] (or none, for a public path) or a refusal out. The bearer
//! token is checked here; a Cloudflare Access JWT is checked by an
//! [`AccessTokenVerifier`] the caller supplies (`edge` verifies it through
//! its JWKS key cache and the runtime's fetch). After routing,
//! [`fail_closed`] refuses a route that needs a caller and has none, even if
//! the path check were to miss it.

use super::error::ApiError;
use super::{path_requires_auth, Route};
use crate::access::AccessSettings;
use crate::auth::{authorize, AuthDecision, BearerTokenVerifier, PresentedCredentials, Principal};

/// Verifies a Cloudflare Access JWT; `None` = refused. Not `Send` (Workers
/// `fetch`), hence `async fn` in a trait used with static dispatch.
#[allow(async_fn_in_trait)]
pub trait AccessTokenVerifier {
    async fn verify(
        &self,
        settings: &AccessSettings,
        token: &str,
        now_ms: i64,
    ) -> Option<Principal>;
}

/// Why a request was not let in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthRefusal {
    /// A protected path, but the Worker's configuration is invalid (503).
    #[error("worker configuration is invalid")]
    Misconfigured,
    /// No credential was accepted (401, no detail).
    #[error("no credential accepted")]
    Unauthorized,
}

impl From<AuthRefusal> for ApiError {
    fn from(r: AuthRefusal) -> Self {
        match r {
            AuthRefusal::Misconfigured => ApiError::misconfigured(),
            AuthRefusal::Unauthorized => ApiError::unauthorized(),
        }
    }
}

/// What the gate needs of the configuration.
#[derive(Debug, Clone, Copy)]
pub struct AuthConfig<'a> {
    /// `API_TOKEN` (empty never matches).
    pub api_token: &'a str,
    /// Cloudflare Access, when configured.
    pub access: Option<&'a AccessSettings>,
}

/// The gate, run once per request before any parameter is validated (so an
/// anonymous caller of a protected path learns nothing but 401). A public
/// path is let in without a principal; a protected one needs a valid
/// configuration (`config` `None` = invalid) and an accepted credential:
/// the bearer token first, then the Access JWT.
pub async fn authenticate(
    path: &str,
    config: Option<AuthConfig<'_>>,
    presented: &PresentedCredentials<'_>,
    access: &impl AccessTokenVerifier,
    now_ms: i64,
) -> Result<Option<Principal>, AuthRefusal> {
    if !path_requires_auth(path) {
        return Ok(None);
    }
    let cfg = config.ok_or(AuthRefusal::Misconfigured)?;
    let bearer = BearerTokenVerifier::new(cfg.api_token);
    match authorize(presented, &[&bearer]) {
        AuthDecision::Allowed(p) => Ok(Some(p)),
        AuthDecision::Denied => match (cfg.access, presented.access_jwt) {
            (Some(settings), Some(token)) => access
                .verify(settings, token, now_ms)
                .await
                .map(Some)
                .ok_or(AuthRefusal::Unauthorized),
            _ => Err(AuthRefusal::Unauthorized),
        },
    }
}

/// Fail closed after routing: a route that needs a caller is never served
/// without one.
pub fn fail_closed(route: &Route, principal: Option<&Principal>) -> Result<(), AuthRefusal> {
    if route.requires_auth() && principal.is_none() {
        Err(AuthRefusal::Unauthorized)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::cell::Cell;

    use futures_executor::block_on;

    use super::*;

    const TOKEN: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    #[derive(Default)]
    struct FakeAccess {
        accept: bool,
        calls: Cell<usize>,
    }

    impl AccessTokenVerifier for FakeAccess {
        async fn verify(&self, _s: &AccessSettings, token: &str, _now: i64) -> Option<Principal> {
            self.calls.set(self.calls.get() + 1);
            self.accept
                .then(|| Principal::AccessIdentity(format!("who:{token}")))
        }
    }

    fn settings() -> AccessSettings {
        let vars = [
            ("API_TOKEN", TOKEN),
            ("BRIDGE_TOKEN", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"),
            ("ENVIRONMENT", "development"),
            ("WATCHLIST", "AAPL"),
            ("ACCESS_TEAM_DOMAIN", "team.cloudflareaccess.com"),
            ("ACCESS_AUD", "aud-tag"),
        ];
        let cfg = crate::config::Config::from_lookup(|k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        })
        .unwrap();
        cfg.approval.access.unwrap()
    }

    fn gate(
        path: &str,
        config: Option<AuthConfig<'_>>,
        bearer: Option<&str>,
        jwt: Option<&str>,
        access: &FakeAccess,
    ) -> Result<Option<Principal>, AuthRefusal> {
        let presented = PresentedCredentials {
            bearer,
            access_jwt: jwt,
        };
        block_on(authenticate(path, config, &presented, access, 0))
    }

    #[test]
    fn public_paths_pass_without_credentials_or_configuration() {
        let access = FakeAccess::default();
        assert_eq!(gate("/health", None, None, None, &access), Ok(None));
        assert_eq!(gate("/nope", None, None, None, &access), Ok(None));
    }

    #[test]
    fn a_protected_path_needs_a_valid_configuration_and_a_credential() {
        let access = FakeAccess::default();
        let cfg = AuthConfig {
            api_token: TOKEN,
            access: None,
        };
        assert_eq!(
            gate("/market/latest", None, Some(TOKEN), None, &access),
            Err(AuthRefusal::Misconfigured)
        );
        assert_eq!(
            gate("/market/latest", Some(cfg), Some(TOKEN), None, &access),
            Ok(Some(Principal::ApiToken))
        );
        assert_eq!(
            gate("/market/latest", Some(cfg), Some("wrong"), None, &access),
            Err(AuthRefusal::Unauthorized)
        );
        // Without Access configured a JWT is never looked at.
        assert_eq!(
            gate("/market/latest", Some(cfg), None, Some("jwt"), &access),
            Err(AuthRefusal::Unauthorized)
        );
        assert_eq!(access.calls.get(), 0);
        let empty = AuthConfig {
            api_token: "",
            access: None,
        };
        assert_eq!(
            gate("/market/latest", Some(empty), Some(""), None, &access),
            Err(AuthRefusal::Unauthorized)
        );
    }

    #[test]
    fn an_access_jwt_is_verified_only_when_the_bearer_token_fails() {
        let s = settings();
        let cfg = AuthConfig {
            api_token: TOKEN,
            access: Some(&s),
        };
        let yes = FakeAccess {
            accept: true,
            ..FakeAccess::default()
        };
        assert_eq!(
            gate("/proposals", Some(cfg), Some(TOKEN), Some("jwt"), &yes),
            Ok(Some(Principal::ApiToken))
        );
        assert_eq!(yes.calls.get(), 0);
        assert_eq!(
            gate("/proposals", Some(cfg), None, Some("jwt"), &yes),
            Ok(Some(Principal::AccessIdentity("who:jwt".into())))
        );
        let no = FakeAccess::default();
        assert_eq!(
            gate("/proposals", Some(cfg), Some("wrong"), Some("jwt"), &no),
            Err(AuthRefusal::Unauthorized)
        );
        assert_eq!(no.calls.get(), 1);
    }

    #[test]
    fn routes_fail_closed_after_routing() {
        let r = Route::BrokerAccount;
        assert_eq!(fail_closed(&r, None), Err(AuthRefusal::Unauthorized));
        assert_eq!(fail_closed(&r, Some(&Principal::ApiToken)), Ok(()));
        assert_eq!(fail_closed(&Route::Health, None), Ok(()));
        let e: ApiError = AuthRefusal::Unauthorized.into();
        assert_eq!(e.status, 401);
        let e: ApiError = AuthRefusal::Misconfigured.into();
        assert_eq!(e, ApiError::misconfigured());
    }
}
