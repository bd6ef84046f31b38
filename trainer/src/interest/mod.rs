//! Interest graphs: for each listener, a summary of their recent history goes to an LLM (or
//! the offline builder), and the answer, once checked, becomes the interest graph the
//! heuristic scores with.
//!
//! ```text
//! events ─► summary::summarise ─► prompt (versioned) ─► llm::LlmClient ─► prompt::parse_answer
//!                              └─► offline::graph (no network) ─────────────────┤
//!                                                                               ▼
//!                       Redis rsn:interest:user:{id} (GraphRecord) ─► materialize ─► user values
//! ```
//!
//! Graphs live in their own keys, outside the feature versions, because they are rebuilt
//! monthly while features are rebuilt daily: each `trainer materialize` copies the stored
//! graphs into the users' values, and the mirror carries them to the edge with the rest.
//! A failed listener is recorded in `rsn:interest:failed` and keeps the graph they had.

pub mod llm;
pub mod offline;
pub mod prompt;
pub mod summary;

use std::collections::HashMap;

use anyhow::{Context, Result};
use redis::Commands;
use resonance_shared::features::{decode, encode};
use resonance_shared::interest::InterestGraph;
use serde::{Deserialize, Serialize};

use crate::features::FeatureSet;
use crate::store::FeatureStore;
use llm::{CallError, LlmClient, Message, Role, Usage};
use prompt::{AllowedNames, AnswerError};
use summary::ListeningSummary;

/// `rsn:interest:user:{id}` holds one listener's [`GraphRecord`].
pub const RECORD_PREFIX: &str = "rsn:interest:user:";
/// Hash of listener → [`FailureRecord`] for the last run that could not build their graph.
pub const FAILURES: &str = "rsn:interest:failed";

/// A stored graph with where it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GraphRecord {
    pub graph: InterestGraph,
    pub provider: String,
    pub model: String,
    pub prompt_version: String,
    /// RFC 3339.
    pub created_at: String,
    /// The end of the summarised window, RFC 3339.
    pub as_of: String,
    pub since_days: u32,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Requests that produced an answer (1, or 2 after a correction).
    pub answers: u32,
}

/// Why the last run could not build a listener's graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailureRecord {
    pub error: String,
    pub provider: String,
    pub model: String,
    pub prompt_version: String,
    pub at: String,
}

/// Where graphs come from.
pub enum Provider {
    Offline,
    Llm(LlmClient),
}

impl Provider {
    pub fn name(&self) -> &str {
        match self {
            Provider::Offline => offline::PROVIDER,
            Provider::Llm(client) => client.config().kind.name(),
        }
    }

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
    pub graph: InterestGraph,
    pub usage: Usage,
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
    Failed { message: String, usage: Usage },
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

impl FeatureStore {
    /// The stored records of `users`, in order (`None` where absent or unreadable).
    pub fn graph_records(&mut self, users: &[&str]) -> Result<Vec<Option<GraphRecord>>> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = users
            .iter()
            .map(|u| format!("{RECORD_PREFIX}{u}"))
            .collect();
        let url = self.url.clone();
        let values: Vec<Option<String>> = self
            .conn
            .mget(&keys)
            .with_context(|| format!("Redis at {url}: reading interest graphs"))?;
        Ok(values
            .into_iter()
            .map(|v| v.and_then(|text| decode::<GraphRecord>(&text).ok()))
            .collect())
    }

    /// Stores new graphs (clearing their failures) and records failures, in one round trip.
    pub fn save_graphs(
        &mut self,
        built: &[(String, GraphRecord)],
        failed: &[(String, FailureRecord)],
    ) -> Result<()> {
        if built.is_empty() && failed.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for (user, record) in built {
            pipe.set(format!("{RECORD_PREFIX}{user}"), encode(record))
                .ignore()
                .hdel(FAILURES, user)
                .ignore();
        }
        for (user, failure) in failed {
            pipe.hset(FAILURES, user, serde_json::to_string(failure)?)
                .ignore();
        }
        let url = self.url.clone();
        pipe.exec(&mut self.conn)
            .with_context(|| format!("Redis at {url}: storing interest graphs"))
    }
}

/// Copies the stored graphs into the users of `set`; returns how many users got one.
/// A record that no longer passes validation is skipped (and counted in the second number).
pub fn attach_stored(store: &mut FeatureStore, set: &mut FeatureSet) -> Result<(usize, usize)> {
    let (mut attached, mut invalid) = (0, 0);
    for chunk in set.users.chunks_mut(1000) {
        let ids: Vec<&str> = chunk.iter().map(|(id, _)| id.as_str()).collect();
        let records = store.graph_records(&ids)?;
        for ((_, user), record) in chunk.iter_mut().zip(records) {
            match record {
                Some(r) if r.graph.validate().is_ok() => {
                    user.interest_graph = Some(r.graph);
                    attached += 1;
                }
                Some(_) => invalid += 1,
                None => {}
            }
        }
    }
    Ok((attached, invalid))
}

/// Computes offline graphs for the users of `set` from `data`, as of `as_of`.
pub fn attach_offline(
    set: &mut FeatureSet,
    data: &crate::data::Dataset,
    as_of: i64,
    since_days: u32,
) -> usize {
    let catalogue: HashMap<&str, &resonance_shared::catalogue::Track> = data
        .catalogue
        .iter()
        .map(|t| (t.track_id.as_str(), t))
        .collect();
    let listens = summary::listens_by_user(&data.events, &catalogue, as_of, since_days);
    let mut attached = 0;
    for (id, user) in &mut set.users {
        if let Some(listens) = listens.get(id.as_str()) {
            let graph = offline::graph(&summary::summarise(listens, since_days));
            if graph.validate().is_ok() {
                user.interest_graph = Some(graph);
                attached += 1;
            }
        }
    }
    attached
}

/// Where a command takes the users' interest graphs from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GraphSource {
    /// The graphs `trainer interest-graph` stored in Redis.
    Redis,
    /// Built now by the offline provider from the same data.
    Offline,
    /// No interest graphs.
    None,
}

/// The window the offline graphs of `publish` and `snapshot` summarise, as `interest-graph`'s
/// default.
pub const DEFAULT_SINCE_DAYS: u32 = 90;

/// Gives the users of `set` their interest graphs from `source`; returns a line for the log.
/// `store` is used for [`GraphSource::Redis`] (connected to `redis_url` when not given).
pub fn attach(
    source: GraphSource,
    set: &mut FeatureSet,
    data: &crate::data::Dataset,
    as_of: i64,
    store: Option<&mut FeatureStore>,
    redis_url: &str,
) -> Result<String> {
    Ok(match source {
        GraphSource::None => "interest graphs: none (--interest-graphs none)".to_string(),
        GraphSource::Offline => {
            let n = attach_offline(set, data, as_of, DEFAULT_SINCE_DAYS);
            format!(
                "interest graphs: {n} of {} users, built offline",
                set.users.len()
            )
        }
        GraphSource::Redis => {
            let mut connected;
            let store = match store {
                Some(store) => store,
                None => {
                    connected = FeatureStore::connect(redis_url)?;
                    &mut connected
                }
            };
            let (n, invalid) = attach_stored(store, set)?;
            let mut line = format!(
                "interest graphs: {n} of {} users, from Redis (`trainer interest-graph`)",
                set.users.len()
            );
            if invalid > 0 {
                line.push_str(&format!(
                    "; {invalid} stored graphs failed validation and were left out"
                ));
            }
            line
        }
    })
}
