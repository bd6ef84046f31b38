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
use resonance_http::{Attempt, RetryError, RetryPolicy};
use serde_json::{Value, json};

/// Who writes the graphs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    /// Anthropic's Messages API.
    Anthropic,
    /// OpenAI's Chat Completions.
    OpenAi,
    /// Any server speaking OpenAI's Chat Completions (Ollama, vLLM, …).
    OpenAiCompatible,
    /// The deterministic builder, no network.
    Offline,
}

impl ProviderKind {
    /// The name used on the command line and in graph records.
    pub fn name(self) -> &'static str {
        match self {
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::OpenAi => "openai",
            ProviderKind::OpenAiCompatible => "openai-compatible",
            ProviderKind::Offline => "offline",
        }
    }

    /// The provider's public API, or `None` where a base URL must be given.
    pub fn default_base_url(self) -> Option<&'static str> {
        match self {
            ProviderKind::Anthropic => Some("https://api.anthropic.com"),
            ProviderKind::OpenAi => Some("https://api.openai.com/v1"),
            _ => None,
        }
    }

    /// The model used when none is named (a small, inexpensive one), or `None` where one must be
    /// named.
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

/// Tokens billed, as the provider reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Answer tokens.
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
    /// The answer's text (empty when there was none).
    pub text: String,
    /// The token limit cut the answer off.
    pub truncated: bool,
    /// Why the model declined to answer, when it did.
    pub refusal: Option<String>,
    /// Tokens billed for this call.
    pub usage: Usage,
}

/// Who said a [`Message`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The caller: the summary, or a correction.
    User,
    /// The model: an earlier answer.
    Assistant,
}

/// One turn of a conversation (the system prompt is sent apart).
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// Who said it.
    pub role: Role,
    /// What was said.
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

/// How to reach one provider and model.
pub struct LlmConfig {
    /// The wire format.
    pub kind: ProviderKind,
    /// The API's base URL, without the endpoint's path.
    pub base_url: String,
    /// The key; optional only for `openai-compatible` servers.
    pub api_key: Option<String>,
    /// The model to ask.
    pub model: String,
    /// Limit for one request; connecting is limited to the lesser of this and 10 s.
    pub timeout: Duration,
    /// The answer's token limit.
    pub max_tokens: u32,
    /// Attempts and backoff (the first delay doubled per attempt, up to 30 s, with jitter;
    /// a 429's Retry-After honoured up to 5 minutes).
    pub retry: RetryPolicy,
}

/// A blocking HTTP client for one [`LlmConfig`].
pub struct LlmClient {
    config: LlmConfig,
    http: reqwest::blocking::Client,
}

impl LlmClient {
    /// A client with the configuration's timeouts.
    pub fn new(config: LlmConfig) -> Result<Self> {
        let http = reqwest::blocking::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Self { config, http })
    }

    /// The configuration the client was built with.
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
        let key_var = match self.config.kind {
            ProviderKind::Anthropic => "ANTHROPIC_API_KEY",
            ProviderKind::OpenAi => "OPENAI_API_KEY",
            _ => "OPENAI_COMPATIBLE_API_KEY",
        };
        let result = self.config.retry.run(
            |_| {
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
                let retry = |reason: String| Attempt::Retry {
                    reason,
                    retry_after: None,
                };
                match request.send() {
                    Ok(response) if response.status().is_success() => {
                        let text = response.text().unwrap_or_default();
                        match parse_completion(self.config.kind, &text) {
                            Ok(completion) => Attempt::Done(completion),
                            // A body that is not the API's shape: a proxy or a glitch; retry.
                            Err(e) => retry(format!("unreadable response: {e:#}")),
                        }
                    }
                    Ok(response) => {
                        let status = response.status().as_u16();
                        let retry_after = resonance_http::retry_after(response.headers());
                        let message = error_message(&response.text().unwrap_or_default());
                        let reason = format!("HTTP {status}: {message}");
                        match status {
                            401 | 403 => {
                                Attempt::Fail(anyhow::anyhow!("{url}: {reason} (check {key_var})"))
                            }
                            s if resonance_http::retryable(s) => Attempt::Retry {
                                reason,
                                retry_after,
                            },
                            _ => Attempt::Fail(anyhow::anyhow!("{url}: {reason}")),
                        }
                    }
                    Err(e) if e.is_timeout() => {
                        retry(format!("no answer within {:?}", self.config.timeout))
                    }
                    Err(e) => retry(format!("{e}")),
                }
            },
            |_, _| {},
        );
        result.map_err(|e| match e {
            RetryError::Failed(e) => CallError::Fatal(format!("{e:#}")),
            RetryError::GaveUp { .. } => CallError::GaveUp(format!("{url} {e}")),
        })
    }
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
    fn prices_are_known_only_for_listed_models() {
        assert_eq!(price_per_million("claude-haiku-4-5"), Some((1.0, 5.0)));
        assert_eq!(
            price_per_million("gpt-4.1-mini-2025-04-14"),
            Some((0.4, 1.6))
        );
        assert_eq!(price_per_million("llama3.1:8b"), None);
    }
}
