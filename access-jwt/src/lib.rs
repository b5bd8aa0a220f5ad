//! Verification of Cloudflare Access JWTs (`Cf-Access-Jwt-Assertion`).
//!
//! Cloudflare Access signs a JWT with RS256 for every request it lets through to
//! an application. A service trusts the request only after checking, in order:
//! the token's shape, the algorithm (`RS256` only: `none` and HMAC algorithms are
//! refused, so a public key can never be used as an HMAC secret), the signature
//! against the team's JWKS (`https://<team>.cloudflareaccess.com/cdn-cgi/access/certs`)
//! selected by `kid`, the issuer, the audience (the application's AUD tag), and the
//! `exp`/`nbf` times with a small leeway.
//!
//! [`verify`] is pure. [`KeyCache`] holds the JWKS between requests: it checks a
//! token's shape and `kid` before any fetch ([`precheck`]), shares one
//! in-flight fetch between concurrent requests, refreshes once on an unknown
//! `kid` (Access rotates keys) at most every few seconds, and remembers a
//! failed fetch briefly, so a flood of bad tokens costs at most one fetch per
//! period. The fetch itself is the caller's ([`JwksFetcher`]).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::signature::Verifier;
use rsa::{BigUint, RsaPublicKey};
use serde::Deserialize;
use sha2::Sha256;
use thiserror::Error;

/// Largest token accepted, in bytes. Access tokens are about 1 KB; the cap keeps
/// a hostile header from costing work.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

/// Why a token was refused. The messages are safe to log; the HTTP edge answers
/// every variant with the same bare 401.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AccessJwtError {
    #[error("token is malformed: {0}")]
    Malformed(&'static str),
    #[error("token algorithm {0:?} is not accepted (RS256 only)")]
    UnsupportedAlgorithm(String),
    #[error("no key with kid {0:?} in the key set")]
    UnknownKey(String),
    #[error("signature does not verify")]
    BadSignature,
    #[error("token expired")]
    Expired,
    #[error("token not valid yet")]
    NotYetValid,
    #[error("issuer does not match")]
    WrongIssuer,
    #[error("audience does not match")]
    WrongAudience,
    #[error("key set is invalid: {0}")]
    InvalidKeySet(String),
    #[error("policy is invalid: {0}")]
    InvalidPolicy(&'static str),
}

/// What a verified token must match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessPolicy {
    /// `https://<team>.cloudflareaccess.com` (no trailing slash).
    pub issuer: String,
    /// The Access application's AUD tag.
    pub audience: String,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    pub leeway_seconds: i64,
}

impl AccessPolicy {
    /// Policy for a team domain such as `myteam.cloudflareaccess.com` (a scheme
    /// and trailing slash are tolerated) and an application AUD tag.
    pub fn new(team_domain: &str, audience: &str) -> Result<Self, AccessJwtError> {
        let host = team_domain
            .trim()
            .trim_start_matches("https://")
            .trim_end_matches('/');
        if host.is_empty() || host.contains('/') || host.contains(char::is_whitespace) {
            return Err(AccessJwtError::InvalidPolicy(
                "team domain must be a bare host name",
            ));
        }
        let audience = audience.trim();
        if audience.is_empty() {
            return Err(AccessJwtError::InvalidPolicy("audience must not be empty"));
        }
        Ok(Self {
            issuer: format!("https://{host}"),
            audience: audience.to_owned(),
            leeway_seconds: 60,
        })
    }

    /// The JWKS address Access publishes for this team.
    pub fn certs_url(&self) -> String {
        format!("{}/cdn-cgi/access/certs", self.issuer)
    }
}

/// One RSA verification key from a JWKS.
#[derive(Debug, Clone)]
pub struct VerificationKey {
    pub kid: String,
    key: VerifyingKey<Sha256>,
}

/// A parsed JSON Web Key Set: the RSA signing keys only (others are ignored).
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    keys: Vec<VerificationKey>,
}

#[derive(Deserialize)]
struct RawJwks {
    keys: Vec<RawJwk>,
}

#[derive(Deserialize)]
struct RawJwk {
    kty: String,
    kid: Option<String>,
    #[serde(rename = "use")]
    key_use: Option<String>,
    alg: Option<String>,
    n: Option<String>,
    e: Option<String>,
}

impl KeySet {
    /// Parses a JWKS document. RSA keys meant for signatures are kept; a set with
    /// no usable key is an error, so a broken fetch never yields an empty trust set
    /// that silently refuses everyone without saying why.
    pub fn from_json(json: &str) -> Result<Self, AccessJwtError> {
        let raw: RawJwks = serde_json::from_str(json)
            .map_err(|e| AccessJwtError::InvalidKeySet(format!("not a JWKS document: {e}")))?;
        let mut keys = Vec::new();
        for jwk in raw.keys {
            let usable = jwk.kty == "RSA"
                && jwk.key_use.as_deref().is_none_or(|u| u == "sig")
                && jwk.alg.as_deref().is_none_or(|a| a == "RS256");
            let (Some(kid), Some(n), Some(e)) = (jwk.kid, jwk.n, jwk.e) else {
                continue;
            };
            if !usable {
                continue;
            }
            let n = decode_b64(&n)
                .map_err(|_| AccessJwtError::InvalidKeySet(format!("key {kid}: bad modulus")))?;
            let e = decode_b64(&e)
                .map_err(|_| AccessJwtError::InvalidKeySet(format!("key {kid}: bad exponent")))?;
            let public = RsaPublicKey::new(BigUint::from_bytes_be(&n), BigUint::from_bytes_be(&e))
                .map_err(|err| AccessJwtError::InvalidKeySet(format!("key {kid}: {err}")))?;
            keys.push(VerificationKey {
                kid,
                key: VerifyingKey::new(public),
            });
        }
        if keys.is_empty() {
            return Err(AccessJwtError::InvalidKeySet("no RS256 signing key".into()));
        }
        Ok(Self { keys })
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    fn find(&self, kid: &str) -> Option<&VerificationKey> {
        self.keys.iter().find(|k| k.kid == kid)
    }
}

/// Who the verified token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessIdentity {
    /// The user's e-mail, for tokens issued to a person.
    pub email: Option<String>,
    /// The service token's client id, for tokens issued to a service.
    pub common_name: Option<String>,
    pub subject: String,
    pub expires_at: i64,
}

impl AccessIdentity {
    /// A short label for audit logs: the e-mail, else the service token id.
    pub fn label(&self) -> String {
        match (&self.email, &self.common_name) {
            (Some(email), _) => email.clone(),
            (None, Some(cn)) => format!("service:{cn}"),
            (None, None) => format!("sub:{}", self.subject),
        }
    }
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
struct Claims {
    iss: Option<String>,
    aud: Option<Audience>,
    exp: Option<i64>,
    nbf: Option<i64>,
    #[serde(default)]
    sub: String,
    email: Option<String>,
    common_name: Option<String>,
}

/// Longest accepted `kid`, in characters.
pub const MAX_KID_LEN: usize = 128;
/// Signature length bounds, in bytes (RSA keys of 1024 to 8192 bits).
const SIGNATURE_LEN: std::ops::RangeInclusive<usize> = 128..=1024;

/// The parts of a token whose shape is right.
struct Parts<'t> {
    header_b64: &'t str,
    claims_b64: &'t str,
    kid: String,
    sig_bytes: Vec<u8>,
}

/// Checks everything about `token` that needs no key: its length, three
/// base64url parts, a JSON header with `alg` RS256 and a `kid`, and a
/// signature of a plausible length. Returns the `kid`. Run before any key
/// set is fetched, so a malformed token never causes a fetch.
pub fn precheck(token: &str) -> Result<String, AccessJwtError> {
    split(token).map(|p| p.kid)
}

fn split(token: &str) -> Result<Parts<'_>, AccessJwtError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(AccessJwtError::Malformed("token too long"));
    }
    let mut parts = token.split('.');
    let (Some(header_b64), Some(claims_b64), Some(sig_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AccessJwtError::Malformed(
            "expected three dot-separated parts",
        ));
    };

    let header: Header = decode_json(header_b64, "header")?;
    if header.alg != "RS256" {
        return Err(AccessJwtError::UnsupportedAlgorithm(
            header.alg.chars().take(16).collect(),
        ));
    }
    let kid = header
        .kid
        .filter(|k| !k.is_empty())
        .ok_or(AccessJwtError::Malformed("header has no kid"))?;
    if kid.chars().count() > MAX_KID_LEN {
        return Err(AccessJwtError::Malformed("kid is too long"));
    }
    if decode_b64(claims_b64).is_err() {
        return Err(AccessJwtError::Malformed("claims are not base64url"));
    }
    let sig_bytes =
        decode_b64(sig_b64).map_err(|_| AccessJwtError::Malformed("signature is not base64url"))?;
    if !SIGNATURE_LEN.contains(&sig_bytes.len()) {
        return Err(AccessJwtError::Malformed(
            "signature has an impossible length",
        ));
    }
    Ok(Parts {
        header_b64,
        claims_b64,
        kid,
        sig_bytes,
    })
}

/// Verifies `token` against `keys` and `policy` at `now_unix` (seconds).
pub fn verify(
    token: &str,
    keys: &KeySet,
    policy: &AccessPolicy,
    now_unix: i64,
) -> Result<AccessIdentity, AccessJwtError> {
    let Parts {
        header_b64,
        claims_b64,
        kid,
        sig_bytes,
    } = split(token)?;
    let key = keys
        .find(&kid)
        .ok_or_else(|| AccessJwtError::UnknownKey(kid.chars().take(64).collect()))?;

    let signature =
        Signature::try_from(sig_bytes.as_slice()).map_err(|_| AccessJwtError::BadSignature)?;
    let signed = &token[..header_b64.len() + 1 + claims_b64.len()];
    key.key
        .verify(signed.as_bytes(), &signature)
        .map_err(|_| AccessJwtError::BadSignature)?;

    // Only a signed payload is interpreted.
    let claims: Claims = decode_json(claims_b64, "claims")?;
    if claims.iss.as_deref() != Some(policy.issuer.as_str()) {
        return Err(AccessJwtError::WrongIssuer);
    }
    let audience_ok = match &claims.aud {
        Some(Audience::One(a)) => *a == policy.audience,
        Some(Audience::Many(list)) => list.contains(&policy.audience),
        None => false,
    };
    if !audience_ok {
        return Err(AccessJwtError::WrongAudience);
    }
    let exp = claims
        .exp
        .ok_or(AccessJwtError::Malformed("claims have no exp"))?;
    if now_unix > exp.saturating_add(policy.leeway_seconds) {
        return Err(AccessJwtError::Expired);
    }
    if let Some(nbf) = claims.nbf {
        if now_unix.saturating_add(policy.leeway_seconds) < nbf {
            return Err(AccessJwtError::NotYetValid);
        }
    }
    Ok(AccessIdentity {
        email: claims.email,
        common_name: claims.common_name,
        subject: claims.sub,
        expires_at: exp,
    })
}

fn decode_b64(s: &str) -> Result<Vec<u8>, base64::DecodeError> {
    URL_SAFE_NO_PAD.decode(s.trim_end_matches('='))
}

fn decode_json<T: for<'de> Deserialize<'de>>(
    part: &str,
    what: &'static str,
) -> Result<T, AccessJwtError> {
    let bytes = decode_b64(part).map_err(|_| {
        AccessJwtError::Malformed(if what == "header" {
            "header is not base64url"
        } else {
            "claims are not base64url"
        })
    })?;
    serde_json::from_slice(&bytes).map_err(|_| {
        AccessJwtError::Malformed(if what == "header" {
            "header is not JSON"
        } else {
            "claims are not JSON"
        })
    })
}

mod cache;
pub use cache::{
    JwksFetcher, KeyCache, KeyCacheError, JWKS_FAILURE_TTL_MS, JWKS_MIN_REFRESH_INTERVAL_MS,
    JWKS_TTL_MS, MAX_WAIT_PAUSES,
};

#[cfg(test)]
mod tests;
