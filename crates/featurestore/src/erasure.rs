//! Erasing one listener (`trainer forget`): every stored value of theirs in Redis and at the
//! edge, and a suppression entry so the next `materialize` does not bring them back.
//!
//! ```text
//! rsn:v{N}:user:{id}        deleted for every N (found by SCAN, staging versions included)
//! rsn:user:{id}             (layout 3) deleted, with its entries in rsn:fp:user and
//!                           rsn:edge:fp:user; at the edge too
//! rsn:model:{m}:state:{id}  deleted for every model m (found by SCAN), with its entries in
//!                           rsn:states:{m} and rsn:edge:states:{m}; at the edge, for every
//!                           model the edge or Redis may hold
//! rsn:interest:user:{id}    deleted, and the id's entry in rsn:interest:failed
//! rsn:forgotten             set of erased ids: materialize and interest-graph skip them
//! rsn:mirrored              sorted set of versions the mirror wrote to the edge: the edge
//!                           deletes rsn:v{N}:user:{id} for each, and for its live version
//! ```

use std::collections::BTreeSet;

use anyhow::{Context, Result};
use redis::Commands;
use resonance_shared::keys::{self, Entity, FeatureVersion, KeyKind};
use resonance_shared::validate;
use serde::Serialize;

use crate::graphs::{FAILURES, RECORD_PREFIX};
use crate::sinks::EdgeSink;
use crate::states;
use crate::store::FeatureStore;
use crate::values;

/// The set of erased listener ids.
pub const FORGOTTEN: &str = "rsn:forgotten";
/// The sorted set of feature versions the mirror wrote to the edge.
pub const MIRRORED: &str = "rsn:mirrored";

/// What `forget` removed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Erased {
    /// The listener.
    pub user_id: String,
    /// Redis keys deleted.
    pub redis_keys: Vec<String>,
    /// Edge keys deleted (deleting a key the edge does not hold is harmless).
    pub edge_keys: Vec<String>,
}

/// `*`, `?`, `[`, `]` and `\` escaped for a SCAN pattern.
fn glob_escape(id: &str) -> String {
    id.chars().fold(String::new(), |mut out, c| {
        if "*?[]\\".contains(c) {
            out.push('\\');
        }
        out.push(c);
        out
    })
}

impl FeatureStore {
    /// The erased listener ids.
    pub fn forgotten(&mut self) -> Result<BTreeSet<String>> {
        let url = self.url().to_string();
        self.connection()
            .smembers(FORGOTTEN)
            .with_context(|| format!("Redis at {url}: reading {FORGOTTEN}"))
    }

    /// Records that the mirror wrote `version` to the edge (before writing it, so a run killed
    /// midway is recorded too).
    pub fn record_mirrored(&mut self, version: FeatureVersion) -> Result<()> {
        let url = self.url().to_string();
        self.connection()
            .zadd::<_, _, _, ()>(MIRRORED, version.0.to_string(), version.0 as f64)
            .with_context(|| format!("Redis at {url}: recording {MIRRORED}"))
    }

    /// The versions the edge may hold: every one mirrored, and every one Redis holds.
    pub fn edge_versions(&mut self) -> Result<BTreeSet<u64>> {
        let url = self.url().to_string();
        let conn = self.connection();
        let mut versions: BTreeSet<u64> = BTreeSet::new();
        for set in [MIRRORED, crate::store::VERSIONS] {
            let members: Vec<String> = conn
                .zrange(set, 0, -1)
                .with_context(|| format!("Redis at {url}: reading {set}"))?;
            versions.extend(members.iter().filter_map(|v| v.parse::<u64>().ok()));
        }
        Ok(versions)
    }

    /// Deletes every Redis key of `user_id` and adds them to [`FORGOTTEN`]; returns the keys
    /// deleted and the feature versions they belonged to.
    pub fn forget_user(&mut self, user_id: &str) -> Result<(Vec<String>, BTreeSet<u64>)> {
        let (keys, versions, _) = self.forget_user_everywhere(user_id)?;
        Ok((keys, versions))
    }

    /// [`FeatureStore::forget_user`], also returning every model Redis holds or held a state
    /// of theirs for.
    fn forget_user_everywhere(
        &mut self,
        user_id: &str,
    ) -> Result<(Vec<String>, BTreeSet<u64>, BTreeSet<String>)> {
        validate::id("user_id", user_id).map_err(|e| anyhow::anyhow!("{e}"))?;
        let url = self.url().to_string();
        let conn = self.connection();
        let pattern = format!("rsn:v*:user:{}", glob_escape(user_id));
        let mut keys: Vec<String> = conn
            .scan_match::<_, String>(&pattern)
            .with_context(|| format!("Redis at {url}: scanning for {pattern}"))?
            .collect::<redis::RedisResult<_>>()
            .with_context(|| format!("Redis at {url}: scanning for {pattern}"))?;
        // A pattern match is not a parse: keep only keys that really are this user's.
        let mut versions = BTreeSet::new();
        keys.retain(|key| {
            key.strip_prefix("rsn:v")
                .and_then(|rest| rest.split_once(':'))
                .and_then(|(n, _)| FeatureVersion::parse_pointer(n).ok())
                .filter(|v| v.entity_key(Entity::User, user_id) == *key)
                .map(|v| versions.insert(v.0))
                .is_some()
        });
        // Their encoder states, in every model's namespace.
        let pattern = format!("rsn:model:*:state:{}", glob_escape(user_id));
        let states: Vec<String> = conn
            .scan_match::<_, String>(&pattern)
            .with_context(|| format!("Redis at {url}: scanning for {pattern}"))?
            .collect::<redis::RedisResult<_>>()
            .with_context(|| format!("Redis at {url}: scanning for {pattern}"))?;
        let mut models: BTreeSet<String> = conn
            .zrange(crate::store::MODELS, 0, -1)
            .with_context(|| format!("Redis at {url}: listing models"))?;
        for key in states {
            if let Ok(KeyKind::ModelState { version, user }) = keys::parse_key(&key)
                && user == user_id
            {
                models.insert(version.to_string());
                keys.push(key);
            }
        }
        keys.push(keys::values_key(Entity::User, user_id));
        keys.push(format!("{RECORD_PREFIX}{user_id}"));
        let mut pipe = redis::pipe();
        pipe.atomic();
        for record in [
            values::fingerprints_key(Entity::User),
            values::edge_fingerprints_key(Entity::User),
        ] {
            pipe.hdel(record, user_id).ignore();
        }
        for key in &keys {
            pipe.del(key).ignore();
        }
        for model in &models {
            pipe.hdel(states::index_key(model), user_id)
                .ignore()
                .hdel(states::edge_index_key(model), user_id)
                .ignore();
        }
        pipe.hdel(FAILURES, user_id)
            .ignore()
            .sadd(FORGOTTEN, user_id)
            .ignore();
        pipe.query::<()>(conn)
            .with_context(|| format!("Redis at {url}: deleting {user_id}'s keys"))?;
        Ok((keys, versions, models))
    }
}

/// Erases `user_id` from Redis and from the edge behind `sink`: the edge's keys of every
/// version it may hold (mirrored, in Redis, or `edge_live`, the version it serves), and their
/// state in every model it may hold.
pub fn forget(
    store: &mut FeatureStore,
    sink: &dyn EdgeSink,
    user_id: &str,
    edge_live: Option<u64>,
) -> Result<Erased> {
    let mut versions = store.edge_versions()?;
    let mut models = store.edge_models()?;
    let (redis_keys, found, held) = store.forget_user_everywhere(user_id)?;
    versions.extend(found);
    versions.extend(edge_live);
    models.extend(held);
    let edge_keys: Vec<String> = versions
        .iter()
        .map(|v| FeatureVersion(*v).entity_key(Entity::User, user_id))
        .chain(models.iter().map(|m| keys::model_state_key(m, user_id)))
        .chain([keys::values_key(Entity::User, user_id)])
        .collect();
    for batch in edge_keys.chunks(sink.max_batch()) {
        sink.delete(batch)?;
    }
    Ok(Erased {
        user_id: user_id.to_string(),
        redis_keys,
        edge_keys,
    })
}
