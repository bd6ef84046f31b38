//! Listener tokens: short-lived JWTs (JWS compact, HS256) the music service's backend mints
//! for a signed-in listener, so their browser may ask the edge about them and no one else.
//!
//! Header `{"alg": "HS256", "kid": <a configured key id>}`; claims `sub` (the listener id,
//! by the shared id rules), `aud` ([`AUDIENCE`], or an array holding it), `exp` (required,
//! unix seconds, at most [`MAX_LIFETIME_S`] ahead), `nbf` and `iat` (optional). Times allow
//! [`LEEWAY_S`] of clock skew. Verification is one HMAC-SHA256 and reads nothing.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use jwt_compact::alg::{Hs256, Hs256Key};
use jwt_compact::{AlgorithmExt, Claims, Header, TimeOptions, UntrustedToken, ValidationError};
use resonance_shared::api::ApiError;
use resonance_shared::validate;
use serde::{Deserialize, Serialize};

use crate::bearer::Digest;

/// The `aud` every listener token must name: this API.
pub const AUDIENCE: &str = "resonance-edge";
/// Clock skew allowed on `exp` and `nbf`, in seconds.
pub const LEEWAY_S: i64 = 60;
/// The longest a listener token may live: `exp` at most this far past now (or past `iat`).
pub const MAX_LIFETIME_S: i64 = 3600;
/// The shortest secret accepted (RFC 7518 §3.2: at least the hash's 256 bits).
pub const MIN_SECRET_BYTES: usize = 32;
/// The most keys one Worker holds (the current one, the next one, a few being retired).
pub const MAX_KEYS: usize = 8;

/// The signing keys, by key id (`LISTENER_TOKEN_KEYS`: a JSON object `{"<kid>": "<secret>"}`).
pub struct ListenerKeys {
    keys: BTreeMap<String, Hs256Key>,
    /// Each secret's digest, to refuse a bearer token equal to one (`holds_secret`).
    digests: Vec<Digest>,
}

/// The claims this API reads; others are ignored.
#[derive(Serialize, Deserialize)]
struct ListenerClaims {
    sub: String,
    aud: Audience,
}

/// `aud`: one string or an array of them (RFC 7519 §4.1.3).
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    fn names(&self, audience: &str) -> bool {
        match self {
            Audience::One(a) => a == audience,
            Audience::Many(all) => all.iter().any(|a| a == audience),
        }
    }
}

fn unauthorized(message: impl Into<String>) -> ApiError {
    ApiError::new(401, "unauthorized", message)
}

impl ListenerKeys {
    /// Parses the `LISTENER_TOKEN_KEYS` secret: 1–[`MAX_KEYS`] key ids (letters, digits, `.`,
    /// `_`, `-`; at most 64) each with a secret of at least [`MIN_SECRET_BYTES`] bytes.
    pub fn parse(json: &str) -> Result<ListenerKeys, String> {
        let raw: BTreeMap<String, String> = serde_json::from_str(json).map_err(|e| {
            format!("LISTENER_TOKEN_KEYS must be a JSON object {{\"<kid>\": \"<secret>\"}}: {e}")
        })?;
        if raw.is_empty() || raw.len() > MAX_KEYS {
            return Err(format!(
                "LISTENER_TOKEN_KEYS holds {} keys; it takes 1 to {MAX_KEYS}",
                raw.len()
            ));
        }
        let mut keys = BTreeMap::new();
        let mut digests = Vec::new();
        for (kid, secret) in raw {
            let good_kid = !kid.is_empty()
                && kid.len() <= 64
                && kid
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
            if !good_kid {
                return Err(format!(
                    "LISTENER_TOKEN_KEYS: the key id {kid:?} must be 1-64 letters, digits, '.', '_' or '-'"
                ));
            }
            if secret.len() < MIN_SECRET_BYTES {
                return Err(format!(
                    "LISTENER_TOKEN_KEYS: the secret of key {kid:?} is {} bytes; HS256 needs at least {MIN_SECRET_BYTES}",
                    secret.len()
                ));
            }
            digests.push(crate::bearer::digest(&secret));
            keys.insert(kid, Hs256Key::new(secret.as_bytes()));
        }
        Ok(ListenerKeys { keys, digests })
    }

    /// Whether a secret with this digest is a signing secret (no bearer token may be one).
    pub(crate) fn holds_digest(&self, digest: &Digest) -> bool {
        self.digests.iter().any(|d| crate::bearer::same(d, digest))
    }

    /// Verifies a listener token at `now_s` (unix seconds) and returns its listener id.
    /// Every refusal is a 401 that says what is wrong with the token, never anything about
    /// the listener.
    pub fn verify(&self, token: &str, now_s: i64) -> Result<String, ApiError> {
        let untrusted = UntrustedToken::new(token)
            .map_err(|e| unauthorized(format!("the listener token is not a JWT: {e}")))?;
        if untrusted.algorithm() != "HS256" {
            return Err(unauthorized(format!(
                "the listener token's alg is {:?}; this API takes HS256 only",
                untrusted.algorithm()
            )));
        }
        let kid = untrusted
            .header()
            .key_id
            .as_deref()
            .ok_or_else(|| unauthorized("the listener token's header has no kid"))?;
        let key = self.keys.get(kid).ok_or_else(|| {
            unauthorized(format!(
                "the listener token's kid {kid:?} names no key of this API"
            ))
        })?;
        let token = Hs256
            .validator::<ListenerClaims>(key)
            .validate(&untrusted)
            .map_err(|e| match e {
                ValidationError::InvalidSignature | ValidationError::InvalidSignatureLen { .. } => {
                    unauthorized("the listener token's signature does not verify")
                }
                other => unauthorized(format!("the listener token's claims are invalid: {other}")),
            })?;
        let claims = token.claims();
        check_times(claims, now_s)?;
        if !claims.custom.aud.names(AUDIENCE) {
            return Err(unauthorized(format!(
                "the listener token's aud does not name {AUDIENCE:?}"
            )));
        }
        validate::id("sub", &claims.custom.sub)
            .map_err(|e| unauthorized(format!("the listener token's {e}")))?;
        Ok(claims.custom.sub.clone())
    }

    /// Mints a listener token (for operators, the demo and the tests; a music service mints
    /// them with the JWT library it already has).
    pub fn mint(
        &self,
        kid: &str,
        sub: &str,
        lifetime_s: i64,
        now_s: i64,
    ) -> Result<String, String> {
        let key = self
            .keys
            .get(kid)
            .ok_or_else(|| format!("no key {kid:?} in LISTENER_TOKEN_KEYS"))?;
        let now = at(now_s)?;
        let clock = TimeOptions::new(Duration::zero(), move || now);
        let claims = Claims::new(ListenerClaims {
            sub: sub.to_string(),
            aud: Audience::One(AUDIENCE.to_string()),
        })
        .set_duration_and_issuance(&clock, Duration::seconds(lifetime_s));
        let header = Header::empty().with_key_id(kid).with_token_type("JWT");
        Hs256
            .token(&header, &claims, key)
            .map_err(|e| format!("the token cannot be signed: {e}"))
    }

    /// The key ids, in order.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }
}

fn at(unix_s: i64) -> Result<DateTime<Utc>, String> {
    DateTime::from_timestamp(unix_s, 0).ok_or_else(|| format!("{unix_s} is not a time"))
}

/// `exp` present, not past (with leeway), not too far ahead; `nbf` (if any) reached.
fn check_times<T>(claims: &Claims<T>, now_s: i64) -> Result<(), ApiError> {
    let now = at(now_s).map_err(unauthorized)?;
    let clock = TimeOptions::new(Duration::seconds(LEEWAY_S), move || now);
    claims.validate_expiration(&clock).map_err(|e| match e {
        ValidationError::Expired => unauthorized("the listener token has expired"),
        _ => unauthorized("the listener token has no exp; this API requires one"),
    })?;
    if claims.not_before.is_some() {
        claims
            .validate_maturity(&clock)
            .map_err(|_| unauthorized("the listener token is not valid yet (nbf)"))?;
    }
    let exp = claims.expiration.expect("checked above").timestamp();
    let from = claims
        .issued_at
        .map_or(now_s, |iat| iat.timestamp().min(now_s));
    if exp - from > MAX_LIFETIME_S + LEEWAY_S {
        return Err(unauthorized(format!(
            "the listener token lives {} s; this API takes at most {MAX_LIFETIME_S} s",
            exp - from
        )));
    }
    Ok(())
}
