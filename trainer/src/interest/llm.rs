//! The LLM providers, over their own HTTP wire formats (`reqwest`, no SDK):
//!
//! | provider            | request                                             | auth header          |
//! |---------------------|-----------------------------------------------------|----------------------|
//! | `anthropic`         | `POST {base}/v1/messages` (Messages API)            | `x-api-key`, `anthropic-version: 2023-06-01` |
//! | `openai`            | `POST {base}/chat/completions`, `response_format: json_object` | `Authorization: Bearer` |
//! | `openai-compatible` | the same, at any base URL (Ollama, vLLM, …), key optional | `Authorization: Bearer` if a key is set |
//!
//! Every call has a timeout. 429, 408, 409, 5xx (and Anthropic's 529) and lost or timed-out
//! connections are retried with exponential backoff and jitter, waiting at least the server's
//! `Retry-After`; 401 and 403 (a bad key) and other 4xx (a bad request or model name) stop
//! the run, since every listener would fail the same way.

use std::time::Duration;

use anyhow::{Context, Result};
use rand::Rng;
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProviderKind {
    Anthropic,
    #[value(name = "openai")]
    OpenAi,
    #[value(name = "openai-compatible")]
    OpenAiCompatible,
    Offline,
}

impl ProviderKind {
    pub fn name(self) -> &'static str {
        match self {
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::OpenAi => "openai",
            ProviderKind::OpenAiCompatible => "openai-compatible",
            ProviderKind::Offline => "offline",
        }
    }

    pub fn default_base_url(self) -> Option<&'static str> {
        match self {
            ProviderKind::Anthropic => Some("https://api.anthropic.com"),
            ProviderKind::OpenAi => Some("https://api.openai.com/v1"),
            _ => None,
        }
    }

    pub fn default_model(self) -> Option<&'static str> {
        match self {
            ProviderKind::Anthropic => Some("claude-haiku-4-5"),
            ProviderKind::OpenAi => Some("gpt-4.1-mini"),
            _ => None,
        }
    }
}

/// USD per million input and output tokens, as listed by the providers in 2026; models not
/// listed get no cost figure rather than a guess.
pub fn price_per_million(model: &str) -> Option<(f64, f64)> {
    let table: [(&str, f64, f64); 7] = [
        ("claude-haiku-4-5", 1.0, 5.0),
        ("claude-sonnet-4-5", 3.0, 15.0),
        ("claude-opus-4-5", 5.0, 25.0),
        ("gpt-4.1-mini", 0.4, 1.6),
        ("gpt-4.1", 2.0, 8.0),
        ("gpt-4o-mini", 0.15, 0.6),
        ("gpt-4o", 2.5, 10.0),
    ];
    table
        .iter()
        .find(|(name, ..)| model == *name || model.starts_with(&format!("{name}-20")))
        .map(|&(_, input, output)| (input, output))
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
}

impl std::ops::AddAssign for Usage {
    fn add_assign(&mut self, other: Usage) {
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
    }
}

/// One answer: its text, whether the token limit cut it off, and what it cost.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub text: String,
    pub truncated: bool,
    pub refusal: Option<String>,
    pub usage: Usage,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    User,
    Assistant,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub role: Role,
    pub content: String,
}

/// Why a call produced no answer.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The configuration is wrong (key, model, request): stop the run.
    #[error("{0}")]
    Fatal(String),
    /// The provider kept failing for this request: record the listener as failed.
    #[error("{0}")]
    GaveUp(String),
}

pub struct LlmConfig {
    pub kind: ProviderKind,
    pub base_url: String,
    pub api_key: Option<String>,
    pub model: String,
    pub timeout: Duration,
    pub max_attempts: u32,
    pub max_tokens: u32,
    /// The first backoff; doubled per attempt, up to 30 s, with jitter.
    pub backoff: Duration,
}

pub struct LlmClient {
    config: LlmConfig,
    http: reqwest::blocking::Client,
}

impl LlmClient {
    pub fn new(config: LlmConfig) -> Result<Self> {
        let http = reqwest::blocking::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Self { config, http })
    }

    pub fn config(&self) -> &LlmConfig {
        &self.config
    }

    fn endpoint(&self) -> String {
        let base = self.config.base_url.trim_end_matches('/');
        match self.config.kind {
            ProviderKind::Anthropic => format!("{base}/v1/messages"),
            _ => format!("{base}/chat/completions"),
        }
    }

    /// The request body in the provider's wire format.
    pub fn body(&self, system: &str, messages: &[Message]) -> Value {
        let c = &self.config;
        let turns = |roles: (&str, &str)| -> Vec<Value> {
            messages
                .iter()
                .map(|m| {
                    let role = match m.role {
                        Role::User => roles.0,
                        Role::Assistant => roles.1,
                    };
                    json!({ "role": role, "content": m.content })
                })
                .collect()
        };
        match c.kind {
            ProviderKind::Anthropic => json!({
                "model": c.model,
                "max_tokens": c.max_tokens,
                "temperature": 0,
                "system": system,
                "messages": turns(("user", "assistant")),
            }),
            ProviderKind::OpenAi | ProviderKind::OpenAiCompatible | ProviderKind::Offline => {
                let mut all = vec![json!({ "role": "system", "content": system })];
                all.extend(turns(("user", "assistant")));
                let mut body = json!({
                    "model": c.model,
                    "messages": all,
                    "response_format": { "type": "json_object" },
                });
                // OpenAI's current name for the limit; local servers know the older one.
                if c.kind == ProviderKind::OpenAi {
                    body["max_completion_tokens"] = json!(c.max_tokens);
                } else {
                    body["max_tokens"] = json!(c.max_tokens);
                    body["temperature"] = json!(0);
                }
                body
            }
        }
    }

    /// Sends one conversation, retrying what is worth retrying.
    pub fn complete(&self, system: &str, messages: &[Message]) -> Result<Completion, CallError> {
        let url = self.endpoint();
        let body = serde_json::to_vec(&self.body(system, messages))
            .map_err(|e| CallError::Fatal(e.to_string()))?;
        let mut last = String::new();
        for attempt in 1..=self.config.max_attempts {
            let mut request = self
                .http
                .post(&url)
                .header("content-type", "application/json")
                .body(body.clone());
            request = match (self.config.kind, &self.config.api_key) {
                (ProviderKind::Anthropic, Some(key)) => request
                    .header("x-api-key", key)
                    .header("anthropic-version", "2023-06-01"),
                (_, Some(key)) => request.bearer_auth(key),
                (_, None) => request,
            };
            let mut wait = backoff(self.config.backoff, attempt);
            match request.send() {
                Ok(response) if response.status().is_success() => {
                    let text = response.text().unwrap_or_default();
                    match parse_completion(self.config.kind, &text) {
                        Ok(completion) => return Ok(completion),
                        // A body that is not the API's shape: a proxy or a glitch; retry.
                        Err(e) => last = format!("unreadable response: {e:#}"),
                    }
                }
                Ok(response) => {
                    let status = response.status().as_u16();
                    let retry_after = retry_after(response.headers());
                    let message = error_message(&response.text().unwrap_or_default());
                    last = format!("HTTP {status}: {message}");
                    match status {
                        401 | 403 => {
                            return Err(CallError::Fatal(format!(
                                "{url}: HTTP {status}: {message} (check {})",
                                match self.config.kind {
                                    ProviderKind::Anthropic => "ANTHROPIC_API_KEY",
                                    ProviderKind::OpenAi => "OPENAI_API_KEY",
                                    _ => "OPENAI_COMPATIBLE_API_KEY",
                                }
                            )));
                        }
                        408 | 409 | 429 | 500..=599 => {
                            if let Some(at_least) = retry_after {
                                wait = wait.max(at_least);
                            }
                        }
                        _ => return Err(CallError::Fatal(format!("{url}: {last}"))),
                    }
                }
                Err(e) if e.is_timeout() => {
                    last = format!("no answer within {:?}", self.config.timeout)
                }
                Err(e) => last = format!("{e}"),
            }
            if attempt < self.config.max_attempts {
                std::thread::sleep(wait);
            }
        }
        Err(CallError::GaveUp(format!(
            "{url} failed {} times; last: {last}",
            self.config.max_attempts
        )))
    }
}

/// `base · 2^(attempt-1)`, capped at 30 s, times a random factor in [0.5, 1).
fn backoff(base: Duration, attempt: u32) -> Duration {
    let exp = base.saturating_mul(1 << attempt.saturating_sub(1).min(16));
    exp.min(Duration::from_secs(30))
        .mul_f64(rand::rng().random_range(0.5..1.0))
}

/// `retry-after-ms` (OpenAI), or `retry-after` in seconds or as an HTTP date; at most 5
/// minutes.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let text = |name: &str| Some(headers.get(name)?.to_str().ok()?.trim().to_string());
    let seconds = |name: &str| text(name)?.parse::<f64>().ok();
    let wait = match seconds("retry-after-ms") {
        Some(ms) => ms / 1000.0,
        None => match seconds("retry-after") {
            Some(s) => s,
            None => {
                let at = httpdate::parse_http_date(&text("retry-after")?).ok()?;
                at.duration_since(std::time::SystemTime::now())
                    .unwrap_or_default()
                    .as_secs_f64()
            }
        },
    };
    (wait.is_finite() && wait >= 0.0).then(|| Duration::from_secs_f64(wait.min(300.0)))
}

/// The message of `{"error": {"message"}}` (both providers), else the body's start.
fn error_message(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| body.chars().take(300).collect())
}

/// Reads a successful response body.
pub fn parse_completion(kind: ProviderKind, body: &str) -> Result<Completion> {
    let v: Value = serde_json::from_str(body).context("the body is not JSON")?;
    let tokens = |key: &str| v["usage"][key].as_u64().unwrap_or(0);
    match kind {
        ProviderKind::Anthropic => {
            let blocks = v["content"]
                .as_array()
                .context("`content` is not an array")?;
            let text: String = blocks
                .iter()
                .filter(|b| b["type"] == "text")
                .filter_map(|b| b["text"].as_str())
                .collect();
            let stop = v["stop_reason"].as_str().unwrap_or("");
            Ok(Completion {
                text,
                truncated: stop == "max_tokens",
                refusal: (stop == "refusal").then(|| "stop_reason: refusal".to_string()),
                usage: Usage {
                    input_tokens: tokens("input_tokens"),
                    output_tokens: tokens("output_tokens"),
                },
            })
        }
        _ => {
            let choice = &v["choices"][0];
            anyhow::ensure!(choice.is_object(), "`choices` is empty");
            Ok(Completion {
                text: choice["message"]["content"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
                truncated: choice["finish_reason"] == "length",
                refusal: choice["message"]["refusal"].as_str().map(str::to_string),
                usage: Usage {
                    input_tokens: tokens("prompt_tokens"),
                    output_tokens: tokens("completion_tokens"),
                },
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_wire_formats_are_read() {
        let anthropic = r#"{"id":"msg_1","type":"message","role":"assistant","model":"m",
            "content":[{"type":"text","text":"{\"a\":1}"}],"stop_reason":"max_tokens",
            "usage":{"input_tokens":10,"output_tokens":3}}"#;
        let c = parse_completion(ProviderKind::Anthropic, anthropic).unwrap();
        assert_eq!((c.text.as_str(), c.truncated), ("{\"a\":1}", true));
        assert_eq!(c.usage.input_tokens, 10);
        let openai = r#"{"id":"c","object":"chat.completion","choices":[{"index":0,
            "message":{"role":"assistant","content":"{}","refusal":null},"finish_reason":"stop"}],
            "usage":{"prompt_tokens":7,"completion_tokens":2,"total_tokens":9}}"#;
        let c = parse_completion(ProviderKind::OpenAi, openai).unwrap();
        assert_eq!(
            (c.text.as_str(), c.truncated, c.usage.output_tokens),
            ("{}", false, 2)
        );
        assert!(parse_completion(ProviderKind::OpenAi, "{\"choices\":[]}").is_err());
    }

    #[test]
    fn backoff_grows_with_jitter_and_is_capped() {
        let base = Duration::from_millis(100);
        for attempt in 1..6 {
            let d = backoff(base, attempt);
            let full = base * (1 << (attempt - 1));
            assert!(d >= full / 2 && d < full, "{attempt}: {d:?}");
        }
        assert!(backoff(base, 40) <= Duration::from_secs(30));
    }

    #[test]
    fn retry_after_reads_seconds_milliseconds_and_dates() {
        let headers = |pairs: &[(&'static str, String)]| {
            let mut map = reqwest::header::HeaderMap::new();
            for (k, v) in pairs {
                map.insert(*k, v.parse().unwrap());
            }
            retry_after(&map)
        };
        assert_eq!(
            headers(&[("retry-after", "2".into())]),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            headers(&[
                ("retry-after-ms", "1500".into()),
                ("retry-after", "9".into())
            ]),
            Some(Duration::from_millis(1500))
        );
        let soon = std::time::SystemTime::now() + Duration::from_secs(30);
        let wait = headers(&[("retry-after", httpdate::fmt_http_date(soon))]).unwrap();
        assert!(
            wait > Duration::from_secs(25) && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
        assert_eq!(headers(&[("retry-after", "soon".into())]), None);
        assert_eq!(
            headers(&[("retry-after", "86400".into())]),
            Some(Duration::from_secs(300))
        );
    }

    #[test]
    fn prices_are_known_only_for_listed_models() {
        assert_eq!(price_per_million("claude-haiku-4-5"), Some((1.0, 5.0)));
        assert_eq!(
            price_per_million("gpt-4.1-mini-2025-04-14"),
            Some((0.4, 1.6))
        );
        assert_eq!(price_per_million("llama3.1:8b"), None);
    }
}
