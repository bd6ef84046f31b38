//! Writing to a Worker's KV through its admin API (`POST /admin/kv/bulk`, the wire format of
//! Cloudflare's KV REST bulk write), retried under the one policy of `resonance_http` (408, 409, 429, 5xx, lost
//! connections). Errors from the Worker are shown with their field.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use resonance_http::{RetryPolicy, send_json};
use resonance_shared::api::{HealthResponse, KvWrite};
use serde::Serialize;

use super::EdgeSink;

/// The Worker's admin API as an [`EdgeSink`].
pub struct WorkerSink {
    client: reqwest::blocking::Client,
    base: String,
    token: String,
    retry: RetryPolicy,
}

impl WorkerSink {
    /// A sink writing to the Worker at `base` with the admin `token`.
    pub fn new(base: &str, token: &str) -> Result<Self> {
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Self {
            client,
            base: base.trim_end_matches('/').to_string(),
            token: token.to_string(),
            retry: RetryPolicy::default(),
        })
    }

    /// `GET /health`.
    pub fn health(&self) -> Result<HealthResponse> {
        let url = format!("{}/health", self.base);
        let response = self
            .client
            .get(&url)
            .send()
            .with_context(|| format!("cannot reach the Worker at {url}"))?;
        let status = response.status();
        let text = response.text()?;
        if !status.is_success() {
            bail!("GET {url}: {status}: {text}");
        }
        serde_json::from_str(&text).with_context(|| format!("GET {url}: unexpected answer {text}"))
    }

    fn send<T: Serialize + ?Sized>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &T,
    ) -> Result<()> {
        let url = format!("{}{path}", self.base);
        send_json(&self.client, &self.retry, method, &url, &self.token, body).map(|_| ())
    }
}

impl EdgeSink for WorkerSink {
    fn target(&self) -> String {
        self.base.clone()
    }

    fn max_batch(&self) -> usize {
        resonance_edge::admin::MAX_BULK_PAIRS
    }

    /// `POST /admin/kv/bulk`: at most 1,000 pairs, the Worker's limit per request.
    fn write(&self, pairs: &[KvWrite]) -> Result<()> {
        self.send(reqwest::Method::POST, "/admin/kv/bulk", &pairs)
    }

    /// `POST /admin/kv/bulk/delete`: Cloudflare's bulk delete body (an array of keys).
    fn delete(&self, keys: &[String]) -> Result<()> {
        self.send(reqwest::Method::POST, "/admin/kv/bulk/delete", &keys)
    }

    /// The Worker says which version it serves in `/health`.
    fn serves_features(&self, version: u64) -> Result<Option<bool>> {
        Ok(Some(self.health()?.features_version == Some(version)))
    }

    /// `/health`'s `featuresVersion`.
    fn served_version(&self) -> Result<Option<u64>> {
        Ok(self.health()?.features_version)
    }

    /// `/health`'s `layouts` (absent, so `[1]`, on Workers older than layouts).
    fn reads_layout(&self, layout: u32) -> Result<Option<bool>> {
        Ok(Some(self.health()?.layouts.contains(&layout)))
    }

    /// `PUT /admin/model/staged`: the Worker loads and verifies the model, serving nothing.
    fn verify_model(&self, version: &str) -> Result<()> {
        self.send(
            reqwest::Method::PUT,
            "/admin/model/staged",
            &serde_json::json!({ "version": version }),
        )
    }

    /// `PUT /admin/features/current`: the Worker checks the version is complete and loads
    /// the model its meta names (which must be `model`) before it switches.
    fn switch_features(&self, version: u64, _model: &str) -> Result<()> {
        self.send(
            reqwest::Method::PUT,
            "/admin/features/current",
            &serde_json::json!({ "version": version }),
        )
    }
}
