//! Local stand-ins for the Anthropic Messages API and the OpenAI Chat Completions API (the
//! real ones are unreachable here, and paid), for `trainer interest-graph`'s tests.
//!
//! They check what the real APIs require of a request (path, method, auth and version
//! headers, content type, the body's fields and roles) and answer in their exact wire
//! formats, including usage and stop reasons. Like a model, they read the summary in the
//! user message and answer with its top artists and genres. A test scripts what they do with
//! each request ([`Act`]): succeed, rate-limit with Retry-After, fail, stall past the
//! timeout, answer malformed JSON, JSON of the wrong shape, a truncated answer, or obey
//! instructions injected through catalogue text.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub const ANTHROPIC_KEY: &str = "sk-ant-test-0123";
pub const OPENAI_KEY: &str = "sk-openai-test-4567";

#[derive(Clone, Copy, PartialEq)]
pub enum Api {
    Anthropic,
    OpenAi,
}

/// What the stand-in does with one request.
#[derive(Clone)]
pub enum Act {
    /// Answer with a graph built from the summary, as a model would.
    Good,
    /// Answer with this text as the model's output.
    Text(&'static str),
    /// Answer with the start of a good graph, stopped by the token limit.
    Truncated,
    /// An error status (with Retry-After seconds).
    Status(u16, Option<u64>),
    /// Wait this long, then answer well.
    Stall(Duration),
}

struct Recorded {
    body: Value,
    at: Instant,
}

#[derive(Default)]
struct Script {
    acts: VecDeque<Act>,
    requests: Vec<Recorded>,
    problems: Vec<String>,
}

pub struct StandIn {
    script: Arc<Mutex<Script>>,
    pub base_url: String,
}

impl StandIn {
    pub fn start(api: Api, acts: &[Act]) -> StandIn {
        let script = Arc::new(Mutex::new(Script {
            acts: acts.iter().cloned().collect(),
            ..Default::default()
        }));
        let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
        let port = server.server_addr().to_ip().unwrap().port();
        let shared = script.clone();
        std::thread::spawn(move || {
            for request in server.incoming_requests() {
                let shared = shared.clone();
                // One thread per request, so a stalled answer does not hold up the others.
                std::thread::spawn(move || serve(api, request, &shared));
            }
        });
        let base_url = match api {
            Api::Anthropic => format!("http://127.0.0.1:{port}"),
            Api::OpenAi => format!("http://127.0.0.1:{port}/v1"),
        };
        StandIn { script, base_url }
    }

    pub fn requests(&self) -> usize {
        self.script.lock().unwrap().requests.len()
    }

    pub fn body(&self, i: usize) -> Value {
        self.script.lock().unwrap().requests[i].body.clone()
    }

    pub fn gap(&self, i: usize) -> Duration {
        let s = self.script.lock().unwrap();
        s.requests[i].at - s.requests[i - 1].at
    }

    pub fn assert_no_problems(&self) {
        let s = self.script.lock().unwrap();
        assert!(
            s.problems.is_empty(),
            "requests broke the wire format: {:?}",
            s.problems
        );
    }
}

fn serve(api: Api, mut request: tiny_http::Request, script: &Mutex<Script>) {
    let mut text = String::new();
    let _ = request.as_reader().read_to_string(&mut text);
    let header = |name: &str| -> Option<String> {
        let found = request
            .headers()
            .iter()
            .find(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name))?;
        Some(found.value.as_str().to_string())
    };
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let mut problems = check_request(
        api,
        request.method().as_str(),
        request.url(),
        &header,
        &body,
    );
    let act = {
        let mut s = script.lock().unwrap();
        s.requests.push(Recorded {
            body: body.clone(),
            at: Instant::now(),
        });
        s.problems.append(&mut problems.clone());
        s.acts.pop_front().unwrap_or(Act::Good)
    };
    if !problems.is_empty() {
        let message = problems.remove(0);
        return respond(
            request,
            400,
            &error_body(api, "invalid_request_error", &message),
            None,
        );
    }
    let user_message = body["messages"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["role"] == "user"))
        .and_then(|m| m["content"].as_str())
        .unwrap_or("");
    let (text, stop) = match act {
        Act::Good => (model_answer(user_message), false),
        Act::Stall(wait) => {
            std::thread::sleep(wait);
            (model_answer(user_message), false)
        }
        Act::Text(t) => (t.to_string(), false),
        Act::Truncated => {
            let full = model_answer(user_message);
            let half = full.chars().count() / 2;
            (full.chars().take(half).collect(), true)
        }
        Act::Status(code, retry_after) => {
            let kind = if code == 429 {
                "rate_limit_error"
            } else {
                "api_error"
            };
            return respond(
                request,
                code,
                &error_body(api, kind, "scripted failure"),
                retry_after,
            );
        }
    };
    let answer = match api {
        Api::Anthropic => json!({
            "id": "msg_01standin", "type": "message", "role": "assistant",
            "model": body["model"], "content": [{"type": "text", "text": text}],
            "stop_reason": if stop { "max_tokens" } else { "end_turn" }, "stop_sequence": null,
            "usage": {"input_tokens": 1000, "output_tokens": 100},
        }),
        Api::OpenAi => json!({
            "id": "chatcmpl-standin", "object": "chat.completion", "created": 1_700_000_000,
            "model": body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text, "refusal": null},
                         "finish_reason": if stop { "length" } else { "stop" }}],
            "usage": {"prompt_tokens": 1000, "completion_tokens": 100, "total_tokens": 1100},
        }),
    };
    respond(request, 200, &answer, None);
}

/// What the real APIs require; each broken rule is reported by name.
fn check_request(
    api: Api,
    method: &str,
    url: &str,
    header: &dyn Fn(&str) -> Option<String>,
    body: &Value,
) -> Vec<String> {
    let mut problems = Vec::new();
    let mut require = |ok: bool, what: &str| {
        if !ok {
            problems.push(what.to_string());
        }
    };
    require(method == "POST", "method must be POST");
    require(
        header("content-type").is_some_and(|c| c.starts_with("application/json")),
        "content-type must be application/json",
    );
    require(body["model"].is_string(), "model must be a string");
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    require(!messages.is_empty(), "messages must be a non-empty array");
    require(
        messages.iter().all(|m| m["content"].is_string()),
        "every message needs string content",
    );
    match api {
        Api::Anthropic => {
            require(url == "/v1/messages", "path must be /v1/messages");
            require(
                header("x-api-key").as_deref() == Some(ANTHROPIC_KEY),
                "x-api-key must be the key",
            );
            require(
                header("anthropic-version").as_deref() == Some("2023-06-01"),
                "anthropic-version header is required",
            );
            require(body["max_tokens"].is_u64(), "max_tokens is required");
            require(
                body["system"].is_string(),
                "system must be a top-level string",
            );
            let last = messages.len().saturating_sub(1);
            require(
                messages.iter().enumerate().all(|(i, m)| {
                    i == last || !m["content"].as_str().unwrap_or("").trim().is_empty()
                }),
                "all messages must have non-empty content except for the optional final assistant message",
            );
            let roles: Vec<&str> = messages.iter().filter_map(|m| m["role"].as_str()).collect();
            require(
                roles
                    .iter()
                    .enumerate()
                    .all(|(i, r)| *r == ["user", "assistant"][i % 2]),
                "roles must alternate, starting with user",
            );
        }
        Api::OpenAi => {
            require(
                url == "/v1/chat/completions",
                "path must be /v1/chat/completions",
            );
            require(
                header("authorization").as_deref() == Some(&format!("Bearer {OPENAI_KEY}")),
                "Authorization must be the bearer key",
            );
            require(
                messages.first().is_some_and(|m| m["role"] == "system"),
                "system message first",
            );
            require(
                body["response_format"]["type"] == "json_object",
                "response_format must ask for json_object",
            );
            require(
                body["max_completion_tokens"].is_u64(),
                "max_completion_tokens is required",
            );
        }
    }
    problems
}

/// A model's answer: the summary's first three artists and two genres, a mood and a theme;
/// or, if catalogue text carries an instruction, what the instruction asks for.
fn model_answer(user_message: &str) -> String {
    if user_message.contains("Ignore all previous instructions") {
        return r#"{"pwned": true, "topArtists": {}}"#.to_string();
    }
    let summary: Value = user_message
        .split_once('\n')
        .and_then(|(_, json)| serde_json::from_str(json).ok())
        .unwrap_or(Value::Null);
    let names = |key: &str, n: usize| -> serde_json::Map<String, Value> {
        summary[key]
            .as_array()
            .into_iter()
            .flatten()
            .take(n)
            .map(|s| {
                (
                    s["name"].as_str().unwrap().to_ascii_uppercase(),
                    s["weight"].clone(),
                )
            })
            .collect()
    };
    json!({
        "topArtists": names("topArtists", 3), "topGenres": names("topGenres", 2),
        "themes": ["evening energy"], "moods": ["Upbeat"],
        "insights": ["Listens mostly to a few artists."],
    })
    .to_string()
}

fn error_body(api: Api, kind: &str, message: &str) -> Value {
    match api {
        Api::Anthropic => json!({"type": "error", "error": {"type": kind, "message": message}}),
        Api::OpenAi => {
            json!({"error": {"message": message, "type": kind, "param": null, "code": null}})
        }
    }
}

fn respond(request: tiny_http::Request, status: u16, body: &Value, retry_after: Option<u64>) {
    let mut response = tiny_http::Response::from_string(body.to_string())
        .with_status_code(status)
        .with_header(
            "Content-Type: application/json"
                .parse::<tiny_http::Header>()
                .unwrap(),
        );
    if let Some(seconds) = retry_after {
        response.add_header(
            format!("retry-after: {seconds}")
                .parse::<tiny_http::Header>()
                .unwrap(),
        );
    }
    let _ = request.respond(response);
}
