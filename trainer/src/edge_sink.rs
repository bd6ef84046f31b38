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
        send_json(&self.client, method, &url, &self.token, body).map(|_| ())
    }
}

/// Sends a JSON body with a bearer token, retrying with exponential backoff on 429 (waiting
/// at least its `Retry-After`), 5xx and lost connections; other errors fail at once with the
/// server's message. Returns the answer's body.
pub fn send_json<T: Serialize + ?Sized>(
    client: &reqwest::blocking::Client,
    method: reqwest::Method,
    url: &str,
    token: &str,
    body: &T,
) -> Result<String> {
    let body = serde_json::to_vec(body)?;
    let mut delay = Duration::from_millis(200);
    for attempt in 1..=ATTEMPTS {
        let result = client
            .request(method.clone(), url)
            .bearer_auth(token)
            .header("Content-Type", "application/json")
            .body(body.clone())
            .send();
        let retry_reason = match result {
            Ok(response) if response.status().is_success() => {
                return Ok(response.text().unwrap_or_default());
            }
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

/// The Worker's `{"error": {"code", "message", "field"}}` or Cloudflare's
/// `{"errors": [{"code", "message"}]}` as one line.
fn describe_error(text: &str) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_str(text).ok();
    if let Some(errors) = parsed.as_ref().and_then(|v| v.get("errors")?.as_array()) {
        let messages: Vec<String> = errors
            .iter()
            .map(|e| format!("{} {}", e["code"], e["message"].as_str().unwrap_or("")))
            .collect();
        return messages.join("; ");
    }
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
