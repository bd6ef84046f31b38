//! Writing to a Worker's KV through its admin API (`POST /admin/kv/bulk`, the wire format of
//! Cloudflare's KV REST bulk write), with retries and backoff on 429, 5xx and lost
//! connections. Errors from the Worker are shown with their field.

use std::thread::sleep;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use resonance_shared::api::{HealthResponse, KvWrite};
use serde::Serialize;

/// Attempts per call before giving up.
const ATTEMPTS: u32 = 6;

pub struct WorkerSink {
    client: reqwest::blocking::Client,
    base: String,
    token: String,
}

impl WorkerSink {
    pub fn new(base: &str, token: &str) -> Result<Self> {
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Self {
            client,
            base: base.trim_end_matches('/').to_string(),
            token: token.to_string(),
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

    /// Writes one batch (at most 1,000 pairs, the Worker's limit per request).
    pub fn write(&self, pairs: &[KvWrite]) -> Result<()> {
        self.send(reqwest::Method::POST, "/admin/kv/bulk", &pairs)
    }

    /// `PUT /admin/model/current`: the Worker verifies the model before switching.
    pub fn switch_model(&self, version: &str) -> Result<()> {
        self.send(
            reqwest::Method::PUT,
            "/admin/model/current",
            &serde_json::json!({ "version": version }),
        )
    }

    /// `PUT /admin/features/current`: the Worker checks the version is complete first.
    pub fn switch_features(&self, version: u64) -> Result<()> {
        self.send(
            reqwest::Method::PUT,
            "/admin/features/current",
            &serde_json::json!({ "version": version }),
        )
    }

    fn send<T: Serialize + ?Sized>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &T,
    ) -> Result<()> {
        let url = format!("{}{path}", self.base);
        let body = serde_json::to_vec(body)?;
        let mut delay = Duration::from_millis(200);
        for attempt in 1..=ATTEMPTS {
            let result = self
                .client
                .request(method.clone(), &url)
                .bearer_auth(&self.token)
                .header("Content-Type", "application/json")
                .body(body.clone())
                .send();
            let retry_reason = match result {
                Ok(response) if response.status().is_success() => return Ok(()),
                Ok(response) => {
                    let status = response.status();
                    let retry_after = response
                        .headers()
                        .get("Retry-After")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<u64>().ok());
                    let text = response.text().unwrap_or_default();
                    if status.as_u16() != 429 && !status.is_server_error() {
                        bail!("{method} {url}: {status}: {}", describe_error(&text));
                    }
                    if let Some(seconds) = retry_after {
                        delay = delay.max(Duration::from_secs(seconds.min(60)));
                    }
                    format!("{status}: {}", describe_error(&text))
                }
                Err(e) => format!("{e}"),
            };
            if attempt == ATTEMPTS {
                bail!("{method} {url} failed {ATTEMPTS} times; last: {retry_reason}");
            }
            eprintln!("warning: {method} {url}: {retry_reason}; retrying in {delay:?}");
            sleep(delay);
            delay = (delay * 2).min(Duration::from_secs(10));
        }
        unreachable!("the loop returns or bails")
    }
}

/// `{"error": {"code", "message", "field"}}` as one line.
fn describe_error(text: &str) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_str(text).ok();
    match parsed.as_ref().and_then(|v| v.get("error")) {
        Some(error) => {
            let field = error.get("field").and_then(|f| f.as_str());
            let message = error.get("message").and_then(|m| m.as_str()).unwrap_or("");
            match field {
                Some(field) => format!("{field}: {message}"),
                None => message.to_string(),
            }
        }
        None => text.chars().take(300).collect(),
    }
}
