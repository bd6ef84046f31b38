//! The one retry policy of every HTTP client Resonance has: the Worker's admin API, Cloudflare's
//! KV REST API and the LLM providers.
//!
//! Delays grow exponentially from a base with full jitter (backon's schedule), are capped, and
//! are never shorter than what the server asked for in `Retry-After` (seconds or an HTTP date)
//! or `retry-after-ms` (OpenAI), itself capped. What is worth retrying is decided per status by
//! [`retryable`]: 408, 409, 429 and 5xx, timeouts and lost connections.

use std::time::{Duration, SystemTime};

use anyhow::{Result, bail};
use backon::{BackoffBuilder, ExponentialBuilder};
use serde::Serialize;

/// How often and how long to retry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Tries in all, the first one included (≥ 1).
    pub max_attempts: u32,
    /// The first delay; doubled per retry.
    pub base: Duration,
    /// No delay of the schedule is longer.
    pub max_delay: Duration,
    /// A server's `Retry-After` is honoured up to this.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            base: Duration::from_millis(200),
            max_delay: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(300),
        }
    }
}

/// What one try came to.
pub enum Attempt<T> {
    /// It worked.
    Done(T),
    /// Worth another try: why, and how long the server asked to wait.
    Retry {
        /// Why it failed, for the log and the final error.
        reason: String,
        /// The server's `Retry-After`, when it gave one.
        retry_after: Option<Duration>,
    },
    /// Not worth retrying.
    Fail(anyhow::Error),
}

/// Why [`RetryPolicy::run`] returned no value.
#[derive(Debug)]
pub enum RetryError {
    /// A try failed in a way not worth retrying.
    Failed(anyhow::Error),
    /// Every try failed; the last reason.
    GaveUp {
        /// Tries made.
        attempts: u32,
        /// The last try's reason.
        last: String,
    },
}

impl std::fmt::Display for RetryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RetryError::Failed(e) => write!(f, "{e:#}"),
            RetryError::GaveUp { attempts, last } => {
                write!(f, "failed {attempts} times; last: {last}")
            }
        }
    }
}

impl std::error::Error for RetryError {}

impl RetryPolicy {
    /// The delays between tries, jittered and capped: `max_attempts - 1` of them.
    pub fn delays(&self) -> impl Iterator<Item = Duration> {
        ExponentialBuilder::default()
            .with_min_delay(self.base)
            .with_max_delay(self.max_delay)
            .with_factor(2.0)
            .with_max_times(self.max_attempts.saturating_sub(1) as usize)
            .with_jitter()
            .build()
    }

    /// Runs `attempt` (given the try's number, from 1) until it is done, fails for good, or the
    /// tries run out; `on_retry` hears each retry's reason and delay before the sleep.
    pub fn run<T>(
        &self,
        mut attempt: impl FnMut(u32) -> Attempt<T>,
        mut on_retry: impl FnMut(&str, Duration),
    ) -> Result<T, RetryError> {
        let mut delays = self.delays();
        let mut tries = 0;
        loop {
            tries += 1;
            let (reason, retry_after) = match attempt(tries) {
                Attempt::Done(value) => return Ok(value),
                Attempt::Fail(e) => return Err(RetryError::Failed(e)),
                Attempt::Retry {
                    reason,
                    retry_after,
                } => (reason, retry_after),
            };
            let Some(delay) = delays.next() else {
                return Err(RetryError::GaveUp {
                    attempts: tries,
                    last: reason,
                });
            };
            let delay = delay.max(retry_after.unwrap_or_default().min(self.max_retry_after));
            on_retry(&reason, delay);
            std::thread::sleep(delay);
        }
    }
}

/// Whether an HTTP status is worth another try: 408, 409, 429 and every 5xx.
pub fn retryable(status: u16) -> bool {
    matches!(status, 408 | 409 | 429 | 500..=599)
}

/// `retry-after-ms` (OpenAI), or `retry-after` in seconds or as an HTTP date.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let text = |name: &str| Some(headers.get(name)?.to_str().ok()?.trim().to_string());
    let seconds = |name: &str| text(name)?.parse::<f64>().ok();
    let wait = match seconds("retry-after-ms") {
        Some(ms) => ms / 1000.0,
        None => match seconds("retry-after") {
            Some(s) => s,
            None => {
                let at = httpdate::parse_http_date(&text("retry-after")?).ok()?;
                at.duration_since(SystemTime::now())
                    .unwrap_or_default()
                    .as_secs_f64()
            }
        },
    };
    (wait.is_finite() && wait >= 0.0).then(|| Duration::from_secs_f64(wait.min(86_400.0)))
}

/// Sends a JSON body with a bearer token under `policy`; other errors than [`retryable`] ones
/// fail at once with the server's message. Returns the answer's body.
pub fn send_json<T: Serialize + ?Sized>(
    client: &reqwest::blocking::Client,
    policy: &RetryPolicy,
    method: reqwest::Method,
    url: &str,
    token: &str,
    body: &T,
) -> Result<String> {
    let body = serde_json::to_vec(body)?;
    let result = policy.run(
        |_| {
            let sent = client
                .request(method.clone(), url)
                .bearer_auth(token)
                .header("Content-Type", "application/json")
                .body(body.clone())
                .send();
            match sent {
                Ok(response) if response.status().is_success() => {
                    Attempt::Done(response.text().unwrap_or_default())
                }
                Ok(response) => {
                    let status = response.status();
                    let wait = retry_after(response.headers());
                    let text = response.text().unwrap_or_default();
                    let reason = format!("{status}: {}", describe_error(&text));
                    if retryable(status.as_u16()) {
                        Attempt::Retry {
                            reason,
                            retry_after: wait,
                        }
                    } else {
                        Attempt::Fail(anyhow::anyhow!(reason))
                    }
                }
                Err(e) => Attempt::Retry {
                    reason: e.to_string(),
                    retry_after: None,
                },
            }
        },
        |reason, delay| eprintln!("warning: {method} {url}: {reason}; retrying in {delay:?}"),
    );
    match result {
        Ok(text) => Ok(text),
        Err(e) => bail!("{method} {url}: {e}"),
    }
}

/// The Worker's `{"error": {"code", "message", "field"}}` or Cloudflare's
/// `{"errors": [{"code", "message"}]}` as one line.
pub fn describe_error(text: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_with_jitter_are_capped_and_end() {
        let policy = RetryPolicy {
            max_attempts: 8,
            base: Duration::from_millis(100),
            max_delay: Duration::from_millis(1000),
            ..RetryPolicy::default()
        };
        let delays: Vec<Duration> = policy.delays().collect();
        assert_eq!(delays.len(), 7, "one delay between each two of 8 tries");
        for d in &delays {
            // backon's jitter adds up to one more delay on top of the schedule's.
            assert!(*d >= Duration::from_millis(100), "{d:?}");
            assert!(*d <= Duration::from_millis(2000), "{d:?}");
        }
        let distinct: std::collections::HashSet<_> = delays.iter().collect();
        assert!(distinct.len() > 1, "jittered: {delays:?}");
    }

    #[test]
    fn run_honours_retry_after_and_stops_at_the_limit() {
        let policy = RetryPolicy {
            max_attempts: 3,
            base: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
            max_retry_after: Duration::from_millis(50),
        };
        let mut waits = Vec::new();
        let result: Result<(), _> = policy.run(
            |n| Attempt::Retry {
                reason: format!("try {n}"),
                retry_after: Some(Duration::from_secs(60)),
            },
            |_, d| waits.push(d),
        );
        assert_eq!(
            waits,
            vec![Duration::from_millis(50); 2],
            "capped Retry-After"
        );
        match result {
            Err(RetryError::GaveUp { attempts, last }) => {
                assert_eq!((attempts, last.as_str()), (3, "try 3"))
            }
            other => panic!("{other:?}"),
        }
        let mut tries = 0;
        let failed: Result<(), _> = policy.run(
            |_| {
                tries += 1;
                Attempt::Fail(anyhow::anyhow!("400"))
            },
            |_, _| {},
        );
        assert!(matches!(failed, Err(RetryError::Failed(_))) && tries == 1);
        let done = policy.run(
            |n| {
                if n < 2 {
                    Attempt::Retry {
                        reason: "x".into(),
                        retry_after: None,
                    }
                } else {
                    Attempt::Done(n)
                }
            },
            |_, _| {},
        );
        assert_eq!(done.unwrap(), 2);
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
        let soon = SystemTime::now() + Duration::from_secs(30);
        let wait = headers(&[("retry-after", httpdate::fmt_http_date(soon))]).unwrap();
        assert!(
            wait > Duration::from_secs(25) && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
        assert_eq!(headers(&[("retry-after", "soon".into())]), None);
    }

    #[test]
    fn statuses_worth_retrying() {
        for s in [408, 409, 429, 500, 503, 529] {
            assert!(retryable(s), "{s}");
        }
        for s in [400, 401, 403, 404, 413, 422] {
            assert!(!retryable(s), "{s}");
        }
    }
}
