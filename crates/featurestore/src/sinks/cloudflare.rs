//! The Cloudflare KV REST API as a mirror sink: bulk writes of up to 10,000 pairs a request
//! (`PUT /accounts/{account}/storage/kv/namespaces/{namespace}/bulk`, the same pair format as
//! the Worker's admin endpoint), retried under the one policy (408, 409, 429, 5xx; Retry-After honoured) (`resonance_http::send_json`).
//!
//! The account, namespace and token come from the environment: `CLOUDFLARE_ACCOUNT_ID`,
//! `CLOUDFLARE_KV_NAMESPACE_ID`, `CLOUDFLARE_API_TOKEN`; `CLOUDFLARE_API_BASE` points at
//! another server speaking the same API (the tests' stand-in).

use anyhow::{Context, Result, bail};
use resonance_http::{RetryPolicy, send_json};
use resonance_shared::api::KvWrite;
use serde::Deserialize;

use super::EdgeSink;

/// Pairs per bulk request, Cloudflare's limit.
pub const MAX_BULK_PAIRS: usize = 10_000;
const DEFAULT_API_BASE: &str = "https://api.cloudflare.com/client/v4";

/// Cloudflare's KV REST API as an [`EdgeSink`].
pub struct CloudflareKv {
    client: reqwest::blocking::Client,
    bulk_url: String,
    token: String,
    retry: RetryPolicy,
}

/// Cloudflare's answer envelope.
#[derive(Deserialize)]
struct Envelope {
    success: bool,
    #[serde(default)]
    errors: Vec<serde_json::Value>,
    result: Option<BulkResult>,
}

#[derive(Deserialize)]
struct BulkResult {
    #[serde(default)]
    unsuccessful_keys: Vec<String>,
}

impl CloudflareKv {
    /// Reads the account, namespace and token from the environment, naming what is missing.
    pub fn from_env() -> Result<Self> {
        let var = |name: &str| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .with_context(|| format!("{name} is not set (the Cloudflare KV sink needs it)"))
        };
        let (account, namespace, token) = (
            var("CLOUDFLARE_ACCOUNT_ID")?,
            var("CLOUDFLARE_KV_NAMESPACE_ID")?,
            var("CLOUDFLARE_API_TOKEN")?,
        );
        let base = std::env::var("CLOUDFLARE_API_BASE").unwrap_or_else(|_| DEFAULT_API_BASE.into());
        let client = reqwest::blocking::Client::builder()
            .timeout(std::time::Duration::from_secs(120))
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Self {
            client,
            bulk_url: format!(
                "{}/accounts/{account}/storage/kv/namespaces/{namespace}/bulk",
                base.trim_end_matches('/')
            ),
            token,
            retry: RetryPolicy::default(),
        })
    }
}

impl EdgeSink for CloudflareKv {
    fn target(&self) -> String {
        "Cloudflare KV".to_string()
    }

    fn max_batch(&self) -> usize {
        MAX_BULK_PAIRS
    }

    /// Writes one batch (at most [`MAX_BULK_PAIRS`]); every key must be stored.
    fn write(&self, pairs: &[KvWrite]) -> Result<()> {
        if pairs.len() > MAX_BULK_PAIRS {
            bail!(
                "{} pairs in one bulk write; Cloudflare takes at most {MAX_BULK_PAIRS}",
                pairs.len()
            );
        }
        self.bulk(reqwest::Method::PUT, &self.bulk_url, pairs)
    }

    /// `POST …/bulk/delete` with the keys (at most [`MAX_BULK_PAIRS`]).
    fn delete(&self, keys: &[String]) -> Result<()> {
        if keys.len() > MAX_BULK_PAIRS {
            bail!(
                "{} keys in one bulk delete; Cloudflare takes at most {MAX_BULK_PAIRS}",
                keys.len()
            );
        }
        self.bulk(
            reqwest::Method::POST,
            &format!("{}/delete", self.bulk_url),
            keys,
        )
    }
}

impl CloudflareKv {
    /// One bulk call; the envelope must say success and list no unsuccessful key.
    fn bulk<T: serde::Serialize + ?Sized>(
        &self,
        method: reqwest::Method,
        url: &str,
        body: &T,
    ) -> Result<()> {
        let text = send_json(&self.client, &self.retry, method, url, &self.token, body)?;
        let envelope: Envelope = serde_json::from_str(&text)
            .with_context(|| format!("{url}: unexpected answer {text}"))?;
        if !envelope.success {
            bail!(
                "{}: Cloudflare refused the call: {:?}",
                url,
                envelope.errors
            );
        }
        let failed = envelope
            .result
            .map(|r| r.unsuccessful_keys)
            .unwrap_or_default();
        if !failed.is_empty() {
            bail!(
                "{}: {} keys were not written or deleted, first {}",
                url,
                failed.len(),
                failed[0]
            );
        }
        Ok(())
    }
}
