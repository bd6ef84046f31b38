//! Interest graphs in Redis (`rsn:interest:user:{id}`, failures in `rsn:interest:failed`), and
//! joining them into a feature version's user values.
//!
//! Graphs live outside the feature versions: they are rebuilt monthly, features daily, so each
//! `materialize` copies the stored graphs into the users' values.

use anyhow::{Context, Result};
use redis::Commands;
use resonance_data::Dataset;
use resonance_interest::store::GraphStore;
use resonance_interest::{DEFAULT_SINCE_DAYS, FailureRecord, GraphRecord, offline_graphs};
use resonance_shared::features::{decode, encode};

use crate::store::FeatureStore;
use crate::views::FeatureSet;

/// `rsn:interest:user:{id}` holds one listener's [`GraphRecord`].
pub const RECORD_PREFIX: &str = "rsn:interest:user:";
/// Hash of listener → [`FailureRecord`] for the last run that could not build their graph.
pub const FAILURES: &str = "rsn:interest:failed";

impl GraphStore for FeatureStore {
    fn graph_records(&mut self, users: &[&str]) -> Result<Vec<Option<GraphRecord>>> {
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

    fn save_graphs(
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
pub fn attach_stored(store: &mut dyn GraphStore, set: &mut FeatureSet) -> Result<(usize, usize)> {
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
pub fn attach_offline(set: &mut FeatureSet, data: &Dataset, as_of: i64, since_days: u32) -> usize {
    let mut graphs = offline_graphs(data, as_of, since_days);
    let mut attached = 0;
    for (id, user) in &mut set.users {
        if let Some(graph) = graphs.remove(id.as_str()) {
            user.interest_graph = Some(graph);
            attached += 1;
        }
    }
    attached
}

/// Where a command takes the users' interest graphs from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphSource {
    /// The graphs `trainer interest-graph` stored in Redis.
    Redis,
    /// Built now by the offline provider from the same data.
    Offline,
    /// No interest graphs.
    None,
}

/// What [`attach`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Attached {
    /// Users who got a graph.
    pub users_with_graph: usize,
    /// Users in the set.
    pub users: usize,
    /// Stored graphs left out because they no longer validate.
    pub invalid: usize,
}

impl Attached {
    /// A line for the log.
    pub fn describe(&self, source: GraphSource) -> String {
        let Attached {
            users_with_graph: n,
            users,
            invalid,
        } = *self;
        match source {
            GraphSource::None => "interest graphs: none (--interest-graphs none)".to_string(),
            GraphSource::Offline => format!("interest graphs: {n} of {users} users, built offline"),
            GraphSource::Redis if invalid > 0 => format!(
                "interest graphs: {n} of {users} users, from Redis (`trainer interest-graph`); \
                 {invalid} stored graphs failed validation and were left out"
            ),
            GraphSource::Redis => {
                format!(
                    "interest graphs: {n} of {users} users, from Redis (`trainer interest-graph`)"
                )
            }
        }
    }
}

/// Gives the users of `set` their interest graphs from `source`. `store` is used for
/// [`GraphSource::Redis`] (connected to `redis_url` when not given).
pub fn attach(
    source: GraphSource,
    set: &mut FeatureSet,
    data: &Dataset,
    as_of: i64,
    store: Option<&mut FeatureStore>,
    redis_url: Option<&str>,
) -> Result<Attached> {
    let (users_with_graph, invalid) = match source {
        GraphSource::None => (0, 0),
        GraphSource::Offline => (attach_offline(set, data, as_of, DEFAULT_SINCE_DAYS), 0),
        GraphSource::Redis => match store {
            Some(store) => attach_stored(store, set)?,
            None => {
                let url = redis_url.ok_or_else(|| {
                    anyhow::anyhow!(
                        "--interest-graphs redis needs the feature store: set REDIS_URL (or --redis-url), \
                         or choose --interest-graphs offline"
                    )
                })?;
                attach_stored(&mut FeatureStore::connect(url)?, set)?
            }
        },
    };
    Ok(Attached {
        users_with_graph,
        users: set.users.len(),
        invalid,
    })
}
