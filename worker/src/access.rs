//! Cloudflare Access authentication (pure): a [`CredentialVerifier`] over a
//! key set. The cache rules (shape and `kid` checked before any fetch, one
//! shared in-flight fetch, refresh on an unknown `kid` at most every
//! [`JWKS_MIN_REFRESH_INTERVAL_MS`], failures remembered
//! [`JWKS_FAILURE_TTL_MS`]) are [`sas_access_jwt::KeyCache`]; fetching the
//! JWKS is `edge::access`.

use sas_access_jwt::{verify, AccessJwtError, AccessPolicy, KeySet};

use crate::auth::{CredentialVerifier, PresentedCredentials, Principal};

pub use crate::config::approval::AccessSettings;
pub use sas_access_jwt::{JWKS_FAILURE_TTL_MS, JWKS_MIN_REFRESH_INTERVAL_MS, JWKS_TTL_MS};

/// Why a token was refused, or that the keys must be refreshed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessCheck {
    /// Verified: the caller.
    Allowed(Principal),
    /// The token names a key the cached set does not have.
    UnknownKey,
    /// Refused (bad signature, wrong issuer/audience, expired, malformed ...).
    Refused(AccessJwtError),
}

/// Verifies `token` against the cached `keys` at `now_ms`.
pub fn check(token: &str, keys: &KeySet, policy: &AccessPolicy, now_ms: i64) -> AccessCheck {
    match verify(token, keys, policy, now_ms.div_euclid(1000)) {
        Ok(identity) => AccessCheck::Allowed(Principal::AccessIdentity(identity.label())),
        Err(AccessJwtError::UnknownKey(_)) => AccessCheck::UnknownKey,
        Err(e) => AccessCheck::Refused(e),
    }
}

/// A verifier for the `Cf-Access-Jwt-Assertion` credential over one key set.
pub struct AccessVerifier<'a> {
    keys: &'a KeySet,
    policy: &'a AccessPolicy,
    now_ms: i64,
}

impl<'a> AccessVerifier<'a> {
    /// A verifier checking tokens at `now_ms`.
    pub fn new(keys: &'a KeySet, policy: &'a AccessPolicy, now_ms: i64) -> Self {
        Self {
            keys,
            policy,
            now_ms,
        }
    }
}

impl CredentialVerifier for AccessVerifier<'_> {
    fn verify(&self, presented: &PresentedCredentials<'_>) -> Option<Principal> {
        match check(presented.access_jwt?, self.keys, self.policy, self.now_ms) {
            AccessCheck::Allowed(p) => Some(p),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{authorize, AuthDecision, BearerTokenVerifier};
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use rsa::pkcs1v15::SigningKey;
    use rsa::signature::{SignatureEncoding, Signer};
    use rsa::traits::PublicKeyParts;
    use rsa::RsaPrivateKey;
    use sha2::Sha256;

    const TEAM: &str = "sas-test.cloudflareaccess.com";
    const AUD: &str = "aud-tag-1";
    const NOW_MS: i64 = 1_800_000_000_000;
    const TOKEN: &str = "0123456789abcdef0123456789abcdef";

    fn key() -> RsaPrivateKey {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        RsaPrivateKey::new(&mut rng, 2048).unwrap()
    }
    use rand::SeedableRng;

    fn jwks(k: &RsaPrivateKey, kid: &str) -> String {
        let p = k.to_public_key();
        serde_json::json!({"keys": [{
            "kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig",
            "n": URL_SAFE_NO_PAD.encode(p.n().to_bytes_be()),
            "e": URL_SAFE_NO_PAD.encode(p.e().to_bytes_be()),
        }]})
        .to_string()
    }

    fn token(k: &RsaPrivateKey, kid: &str, claims: serde_json::Value) -> String {
        let h = URL_SAFE_NO_PAD
            .encode(serde_json::json!({"alg": "RS256", "kid": kid, "typ": "JWT"}).to_string());
        let c = URL_SAFE_NO_PAD.encode(claims.to_string());
        let signing = SigningKey::<Sha256>::new(k.clone());
        let sig = signing.sign(format!("{h}.{c}").as_bytes());
        format!("{h}.{c}.{}", URL_SAFE_NO_PAD.encode(sig.to_bytes()))
    }

    fn claims(iss: &str, aud: &str, exp_s: i64) -> serde_json::Value {
        serde_json::json!({"iss": iss, "aud": [aud], "exp": exp_s, "iat": exp_s - 3600,
            "sub": "u-1", "email": "trader@example.com"})
    }

    #[test]
    fn access_tokens_are_checked_and_bearer_still_works() {
        let k = key();
        let keys = KeySet::from_json(&jwks(&k, "kid-1")).unwrap();
        let policy = AccessPolicy::new(TEAM, AUD).unwrap();
        let iss = format!("https://{TEAM}");
        let exp = NOW_MS / 1000 + 600;
        let good = token(&k, "kid-1", claims(&iss, AUD, exp));
        let access = AccessVerifier::new(&keys, &policy, NOW_MS);
        let bearer = BearerTokenVerifier::new(TOKEN);
        let decide = |auth: Option<&str>, jwt: Option<&str>| {
            authorize(
                &PresentedCredentials::from_headers(auth, jwt),
                &[&bearer, &access],
            )
        };
        assert_eq!(
            decide(None, Some(&good)),
            AuthDecision::Allowed(Principal::AccessIdentity("trader@example.com".into()))
        );
        assert_eq!(
            decide(Some(&format!("Bearer {TOKEN}")), None),
            AuthDecision::Allowed(Principal::ApiToken)
        );
        let other = RsaPrivateKey::new(&mut rand::rngs::StdRng::seed_from_u64(8), 2048).unwrap();
        let refused = [
            token(&k, "kid-1", claims(&iss, "other-aud", exp)),
            token(
                &k,
                "kid-1",
                claims("https://evil.cloudflareaccess.com", AUD, exp),
            ),
            token(&k, "kid-1", claims(&iss, AUD, NOW_MS / 1000 - 3600)),
            token(&other, "kid-1", claims(&iss, AUD, exp)),
            format!("{good}x"),
            "not-a-jwt".to_owned(),
        ];
        for t in &refused {
            assert_eq!(decide(None, Some(t)), AuthDecision::Denied, "{t}");
        }
        assert_eq!(
            check(
                &token(&k, "kid-2", claims(&iss, AUD, exp)),
                &keys,
                &policy,
                NOW_MS
            ),
            AccessCheck::UnknownKey
        );
        assert!(matches!(
            check(&refused[0], &keys, &policy, NOW_MS),
            AccessCheck::Refused(AccessJwtError::WrongAudience)
        ));
    }
}
