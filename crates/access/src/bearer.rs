//! Opaque bearer tokens (the service token, the admin token): a current and a next value,
//! so a token is rotated without downtime (put the new one as `_NEXT`, move the callers, then
//! make it the current one). Compared as SHA-256 digests in constant time, so neither the
//! content nor the length of a secret leaks through timing.

use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;

/// A token's SHA-256.
pub type Digest = [u8; 32];

/// The shortest bearer token accepted.
pub const MIN_TOKEN_BYTES: usize = 16;

/// The SHA-256 of a token.
pub fn digest(token: &str) -> Digest {
    Sha256::digest(token.as_bytes()).into()
}

/// Constant-time equality of two digests.
pub fn same(a: &Digest, b: &Digest) -> bool {
    a.ct_eq(b).into()
}

/// The accepted values of one bearer token: the current one and, while rotating, the next.
pub struct BearerTokens {
    /// The secrets' names, for messages (`SERVICE_TOKEN`).
    pub name: &'static str,
    digests: Vec<Digest>,
}

impl BearerTokens {
    /// The tokens from the secrets `name` and `name_NEXT` (either may be absent, not both).
    pub fn parse(
        name: &'static str,
        current: Option<&str>,
        next: Option<&str>,
    ) -> Result<BearerTokens, String> {
        let given: Vec<(&str, &str)> = [("", current), ("_NEXT", next)]
            .into_iter()
            .filter_map(|(suffix, v)| Some((suffix, v.filter(|v| !v.is_empty())?)))
            .collect();
        if given.is_empty() {
            return Err(format!("no {name} secret is configured"));
        }
        for (suffix, token) in &given {
            if token.len() < MIN_TOKEN_BYTES {
                return Err(format!(
                    "{name}{suffix} is {} bytes; a token needs at least {MIN_TOKEN_BYTES}",
                    token.len()
                ));
            }
        }
        Ok(BearerTokens {
            name,
            digests: given.iter().map(|(_, t)| digest(t)).collect(),
        })
    }

    /// Whether `token` is one of the accepted values (every value is compared).
    pub fn accepts(&self, token: &str) -> bool {
        let probe = digest(token);
        self.digests
            .iter()
            .fold(false, |found, d| found | same(d, &probe))
    }

    /// Whether any accepted value is also one of `other`'s (roles must not share a token).
    pub fn overlaps(&self, other: &BearerTokens) -> bool {
        self.digests
            .iter()
            .any(|d| other.digests.iter().any(|o| same(d, o)))
    }

    /// The accepted values' digests.
    pub(crate) fn digests(&self) -> &[Digest] {
        &self.digests
    }
}

/// The token of an `Authorization: Bearer <token>` header; `Err` says what is wrong.
pub fn bearer(header: Option<&str>) -> Result<Option<&str>, &'static str> {
    match header {
        None => Ok(None),
        Some(h) => h
            .strip_prefix("Bearer ")
            .map(|t| Some(t.trim()))
            .ok_or("the Authorization header must be `Bearer <token>`"),
    }
}
