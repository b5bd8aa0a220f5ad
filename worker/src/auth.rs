//! Authentication of API requests.
//!
//! A request presents zero or more credentials ([`PresentedCredentials`]); each
//! configured [`CredentialVerifier`] may accept one of them: the static bearer
//! token ([`BearerTokenVerifier`], compared in constant time) or a Cloudflare
//! Access JWT. The Cloudflare Access verifier (the `Cf-Access-Jwt-Assertion`
//! header) is [`crate::access::AccessVerifier`]; the edge fetches and caches
//! the team's JWKS it needs (`edge::access`) and tries it when the bearer
//! token does not match.

use subtle::ConstantTimeEq;

/// Longest credential header value considered, in bytes.
const MAX_CREDENTIAL_LEN: usize = 8 * 1024;

/// The credentials a request carries, taken from its headers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PresentedCredentials<'a> {
    /// Token from `Authorization: Bearer <token>`.
    pub bearer: Option<&'a str>,
    /// Token from `Cf-Access-Jwt-Assertion`.
    pub access_jwt: Option<&'a str>,
}

impl<'a> PresentedCredentials<'a> {
    /// Extracts credentials from the raw `Authorization` and
    /// `Cf-Access-Jwt-Assertion` header values. Malformed headers yield no credential.
    pub fn from_headers(authorization: Option<&'a str>, access_jwt: Option<&'a str>) -> Self {
        let bearer = authorization
            .filter(|v| v.len() <= MAX_CREDENTIAL_LEN)
            .and_then(|v| {
                let (scheme, token) = v.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .filter(|t| !t.is_empty());
        let access_jwt = access_jwt
            .map(str::trim)
            .filter(|v| !v.is_empty() && v.len() <= MAX_CREDENTIAL_LEN);
        Self { bearer, access_jwt }
    }
}

/// Who was let in, for logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// Holder of the static API token.
    ApiToken,
    /// A Cloudflare Access identity (e-mail or service-token client id).
    AccessIdentity(String),
}

/// One way of accepting a request.
pub trait CredentialVerifier {
    /// The principal when the presented credentials satisfy this verifier.
    fn verify(&self, presented: &PresentedCredentials<'_>) -> Option<Principal>;
}

/// Accepts `Authorization: Bearer <token>` equal to the configured token,
/// compared in constant time.
pub struct BearerTokenVerifier<'t> {
    expected: &'t str,
}

impl<'t> BearerTokenVerifier<'t> {
    /// A verifier for `expected`; an empty token never matches.
    pub fn new(expected: &'t str) -> Self {
        Self { expected }
    }
}

impl CredentialVerifier for BearerTokenVerifier<'_> {
    fn verify(&self, presented: &PresentedCredentials<'_>) -> Option<Principal> {
        let token = presented.bearer?;
        if self.expected.is_empty() {
            return None;
        }
        bool::from(token.as_bytes().ct_eq(self.expected.as_bytes())).then_some(Principal::ApiToken)
    }
}

/// Outcome of [`authorize`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthDecision {
    /// Let in as this principal.
    Allowed(Principal),
    /// Refuse with 401 (no detail about why).
    Denied,
}

/// Lets the request in when any verifier accepts its credentials.
pub fn authorize(
    presented: &PresentedCredentials<'_>,
    verifiers: &[&dyn CredentialVerifier],
) -> AuthDecision {
    verifiers
        .iter()
        .find_map(|v| v.verify(presented))
        .map_or(AuthDecision::Denied, AuthDecision::Allowed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "0123456789abcdef0123456789abcdef";

    fn decide(auth: Option<&str>) -> AuthDecision {
        let presented = PresentedCredentials::from_headers(auth, None);
        authorize(&presented, &[&BearerTokenVerifier::new(TOKEN)])
    }

    #[test]
    fn right_token_is_allowed() {
        assert_eq!(
            decide(Some(&format!("Bearer {TOKEN}"))),
            AuthDecision::Allowed(Principal::ApiToken)
        );
        assert_eq!(
            decide(Some(&format!("bearer   {TOKEN} "))),
            AuthDecision::Allowed(Principal::ApiToken)
        );
    }

    #[test]
    fn missing_wrong_or_malformed_is_denied() {
        for header in [
            None,
            Some(""),
            Some("Bearer"),
            Some("Bearer "),
            Some(TOKEN),
            Some("Basic 0123456789abcdef0123456789abcdef"),
            Some("Bearer 0123456789abcdef0123456789abcdeX"),
            Some("Bearer 0123456789abcdef0123456789abcdef0"),
            Some("Bearer 0123456789abcdef"),
        ] {
            assert_eq!(decide(header), AuthDecision::Denied, "{header:?}");
        }
    }

    #[test]
    fn empty_expected_token_never_matches() {
        let presented = PresentedCredentials::from_headers(Some("Bearer x"), None);
        let v = BearerTokenVerifier::new("");
        assert_eq!(authorize(&presented, &[&v]), AuthDecision::Denied);
    }

    #[test]
    fn another_verifier_can_accept_the_access_jwt() {
        struct AcceptsJwt;
        impl CredentialVerifier for AcceptsJwt {
            fn verify(&self, p: &PresentedCredentials<'_>) -> Option<Principal> {
                (p.access_jwt == Some("jwt")).then(|| Principal::AccessIdentity("me".into()))
            }
        }
        let presented = PresentedCredentials::from_headers(None, Some(" jwt "));
        let bearer = BearerTokenVerifier::new(TOKEN);
        assert_eq!(
            authorize(&presented, &[&bearer, &AcceptsJwt]),
            AuthDecision::Allowed(Principal::AccessIdentity("me".into()))
        );
        assert_eq!(authorize(&presented, &[&bearer]), AuthDecision::Denied);
    }
}
