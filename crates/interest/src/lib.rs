//! Interest graphs: for each listener, a summary of their recent history goes to an LLM (or
//! the offline builder), and the answer, once checked, becomes the interest graph the
//! heuristic scores with.
//!
//! ```text
//! events ─► summary::summarise ─► prompt (versioned) ─► llm::LlmClient ─► prompt::parse_answer
//!                              └─► offline::graph (no network) ─────────────────┤
//!                                                                               ▼
//!            batch::run (threads, resumable) ─► store::GraphStore (Redis: rsn:interest:user:{id})
//! ```
//!
//! Storage is behind [`store::GraphStore`]: the feature store implements it on Redis, tests on
//! memory, so this crate needs neither Redis nor burn.
//!
//! Graphs live in their own keys, outside the feature versions, because they are rebuilt
//! monthly while features are rebuilt daily: each `trainer materialize` copies the stored
//! graphs into the users' values, and the mirror carries them to the edge with the rest.
//! A failed listener is recorded in `rsn:interest:failed` and keeps the graph they had.

pub mod batch;
pub mod llm;
pub mod offline;
pub mod prompt;
pub mod store;
pub mod summary;

use std::collections::HashMap;

use resonance_data::Dataset;
use resonance_shared::catalogue::Track;
use resonance_shared::interest::InterestGraph;
use serde::{Deserialize, Serialize};

use llm::{CallError, LlmClient, Message, Role, Usage};
use prompt::{AllowedNames, AnswerError};
use summary::ListeningSummary;

/// A stored graph with where it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GraphRecord {
    /// The validated graph, names in the catalogue's spelling.
    pub graph: InterestGraph,
    /// Who wrote it: `offline`, `anthropic`, `openai` or `openai-compatible`.
    pub provider: String,
    /// The provider's model (the offline builder's rule set for `offline`).
    pub model: String,
    /// [`prompt::PROMPT_VERSION`] at the time; a re-run rebuilds graphs of another version.
    pub prompt_version: String,
    /// RFC 3339.
    pub created_at: String,
    /// The end of the summarised window, RFC 3339.
    pub as_of: String,
    /// Days of history summarised, ending at `as_of`.
    pub since_days: u32,
    /// Prompt tokens billed for the graph, corrections included (0 offline).
    pub input_tokens: u64,
    /// Answer tokens billed for the graph, corrections included (0 offline).
    pub output_tokens: u64,
    /// Requests that produced an answer (1, or 2 after a correction).
    pub answers: u32,
}

/// Why the last run could not build a listener's graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailureRecord {
    /// What went wrong, for a person.
    pub error: String,
    /// The provider tried.
    pub provider: String,
    /// The model tried.
    pub model: String,
    /// The prompt version tried.
    pub prompt_version: String,
    /// When it failed, RFC 3339.
    pub at: String,
}

/// Where graphs come from.
pub enum Provider {
    /// The deterministic builder of [`offline`], no network.
    Offline,
    /// An LLM over HTTP.
    Llm(LlmClient),
}

impl Provider {
    /// The provider's name, as recorded in [`GraphRecord::provider`].
    pub fn name(&self) -> &str {
        match self {
            Provider::Offline => offline::PROVIDER,
            Provider::Llm(client) => client.config().kind.name(),
        }
    }

    /// The model's name, as recorded in [`GraphRecord::model`].
    pub fn model(&self) -> &str {
        match self {
            Provider::Offline => offline::MODEL,
            Provider::Llm(client) => &client.config().model,
        }
    }
}

/// A built graph and what it cost.
#[derive(Debug, Clone, PartialEq)]
pub struct Built {
    /// The graph, validated.
    pub graph: InterestGraph,
    /// Tokens spent on it, every answer included.
    pub usage: Usage,
    /// Answers it took: 0 offline, 1, or 2 after a correction.
    pub answers: u32,
}

/// Why a listener has no new graph.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// Stop the whole run (bad key, bad model name).
    #[error("{0}")]
    Fatal(String),
    /// This listener failed; tokens spent are still counted.
    #[error("{message}")]
    Failed {
        /// Why, for the failure record.
        message: String,
        /// Tokens spent on the listener before it failed.
        usage: Usage,
    },
}

/// Builds one listener's graph: one answer, and one correction if it is refused. Whatever
/// the provider, the graph is validated once more before it is returned.
pub fn build(provider: &Provider, summary: &ListeningSummary) -> Result<Built, BuildError> {
    let built = match provider {
        Provider::Offline => Built {
            graph: offline::graph(summary),
            usage: Usage::default(),
            answers: 0,
        },
        Provider::Llm(client) => ask(client, summary)?,
    };
    match built.graph.validate() {
        Ok(()) => Ok(built),
        Err(e) => Err(BuildError::Failed {
            message: format!("the graph is invalid at `{}`: {}", e.field, e.message),
            usage: built.usage,
        }),
    }
}

fn ask(client: &LlmClient, summary: &ListeningSummary) -> Result<Built, BuildError> {
    let names = AllowedNames::of(summary);
    let mut messages = vec![Message {
        role: Role::User,
        content: prompt::user_message(summary),
    }];
    let mut usage = Usage::default();
    let mut errors: Vec<AnswerError> = Vec::new();
    for answers in 1..=2 {
        let completion =
            client
                .complete(prompt::SYSTEM_PROMPT, &messages)
                .map_err(|e| match e {
                    CallError::Fatal(message) => BuildError::Fatal(message),
                    CallError::GaveUp(message) => BuildError::Failed { message, usage },
                })?;
        usage += completion.usage;
        let checked = if let Some(refusal) = &completion.refusal {
            Err(AnswerError::Refused(refusal.clone()))
        } else if completion.truncated {
            Err(AnswerError::Truncated)
        } else {
            prompt::parse_answer(&completion.text, &names)
        };
        match checked {
            Ok(graph) => {
                return Ok(Built {
                    graph,
                    usage,
                    answers,
                });
            }
            Err(error) if answers == 1 => {
                // Anthropic refuses empty assistant turns before the last one.
                let content = match completion.text.trim() {
                    "" => "(empty answer)".to_string(),
                    _ => completion.text,
                };
                messages.push(Message {
                    role: Role::Assistant,
                    content,
                });
                messages.push(Message {
                    role: Role::User,
                    content: prompt::correction(&error.to_string()),
                });
                errors.push(error);
            }
            Err(error) => errors.push(error),
        }
    }
    let [first, last] = &errors[..] else {
        unreachable!("two answers, each refused")
    };
    Err(BuildError::Failed {
        message: format!("two invalid answers; first: {first}; last: {last}"),
        usage,
    })
}

/// The window the offline graphs of `materialize --interest-graphs offline` and `snapshot` summarise, as `interest-graph`'s
/// default.
pub const DEFAULT_SINCE_DAYS: u32 = 90;

/// The offline graph of every listener with history in the `since_days` before `as_of`
/// (only graphs that validate).
pub fn offline_graphs(
    data: &Dataset,
    as_of: i64,
    since_days: u32,
) -> HashMap<String, InterestGraph> {
    let catalogue: HashMap<&str, &Track> = data
        .catalogue
        .iter()
        .map(|t| (t.track_id.as_str(), t))
        .collect();
    summary::listens_by_user(&data.events, &catalogue, as_of, since_days)
        .into_iter()
        .map(|(id, listens)| {
            (
                id.to_string(),
                offline::graph(&summary::summarise(&listens, since_days)),
            )
        })
        .filter(|(_, graph)| graph.validate().is_ok())
        .collect()
}
