//! What is live where (`trainer status`): the state Redis serves, the state the edge serves
//! (the mirror's record, and the Worker's own `/health` when it can be asked), what the edge
//! holds, the mirror's lag on the change stream, and failed interest graphs. [`Status::problems`]
//! lists every disagreement, so a cron job or a probe can alert on a non-empty list.

use anyhow::{Context, Result};
use redis::Commands;
use resonance_shared::api::HealthResponse;
use resonance_shared::features::FeatureSetMeta;
use resonance_shared::keys::FeatureVersion;
use resonance_shared::versioned;
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::graphs::FAILURES;
use crate::ledger::EdgeState;
use crate::mirror::GROUP;
use crate::store::{CHANGES, FeatureStore, MODELS};

/// One feature version as Redis describes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionInfo {
    /// The version.
    pub version: u64,
    /// The model its embeddings belong to.
    pub model: Option<String>,
    /// The end of its windows (RFC 3339).
    pub as_of: String,
    /// When it was materialized (RFC 3339).
    pub created_at: String,
    /// Seconds since then.
    pub age_seconds: Option<i64>,
    /// Its keys: users + tracks + the meta (in layout 3 the entities' keys are shared by the
    /// versions, and written only when they change).
    pub keys: usize,
    /// Bytes of its keys and values, when the meta says.
    pub bytes: Option<u64>,
}

impl VersionInfo {
    fn of(meta: &FeatureSetMeta, now: i64) -> Self {
        let created = OffsetDateTime::parse(&meta.created_at, &Rfc3339).ok();
        VersionInfo {
            version: meta.version,
            model: meta.model_version.clone(),
            as_of: meta.as_of.clone(),
            created_at: meta.created_at.clone(),
            age_seconds: created.map(|c| now - c.unix_timestamp()),
            keys: meta.users + meta.tracks + 1,
            bytes: meta.bytes,
        }
    }
}

/// Redis's side.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RedisSide {
    /// The live version.
    pub live: Option<VersionInfo>,
    /// The version live before it.
    pub previous: Option<VersionInfo>,
    /// Every complete version Redis holds.
    pub versions: Vec<u64>,
    /// Every model Redis holds.
    pub models: Vec<String>,
    /// The staged model (`rsn:staged`).
    pub staged: Option<String>,
}

/// The edge's side.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EdgeSide {
    /// The state after the mirror's last switch.
    pub recorded: EdgeState,
    /// What the Worker says it serves, when it was asked.
    pub worker: Option<HealthResponse>,
    /// Feature versions the mirror wrote there and has not deleted.
    pub versions_held: Vec<u64>,
    /// Models the mirror wrote there and has not deleted.
    pub models_held: Vec<String>,
    /// Keys of the feature versions held, as their metas count them (those Redis still
    /// describes).
    pub feature_keys_held: usize,
}

/// The mirror's consumer group on the change stream.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MirrorLag {
    /// Records delivered and not acknowledged (a mirror died midway, or is working).
    pub pending: u64,
    /// Records not yet delivered, when Redis can tell (7.0+).
    pub lag: Option<u64>,
}

/// Everything `trainer status` says.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// Redis.
    pub redis: RedisSide,
    /// The edge.
    pub edge: EdgeSide,
    /// The mirror; `None` when no mirror ever joined.
    pub mirror: Option<MirrorLag>,
    /// Listeners whose last interest-graph build failed.
    pub failed_interest_graphs: u64,
    /// Every disagreement; empty when Redis and the edge serve the same state.
    pub problems: Vec<String>,
}

/// Reads the whole status; `worker` is the Worker's `/health`, when one was asked.
pub fn read(store: &mut FeatureStore, worker: Option<HealthResponse>) -> Result<Status> {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let describe = |store: &mut FeatureStore, v: Option<u64>| -> Result<Option<VersionInfo>> {
        Ok(match v {
            Some(v) => store
                .meta(FeatureVersion(v))?
                .map(|m| VersionInfo::of(&m, now)),
            None => None,
        })
    };
    let live = store.current()?.map(|v| v.0);
    let previous = store.previous()?;
    let redis = RedisSide {
        live: describe(store, live)?,
        previous: describe(store, previous)?,
        versions: sorted_set(store, crate::store::VERSIONS)?
            .iter()
            .filter_map(|v| v.parse().ok())
            .collect(),
        models: sorted_set(store, MODELS)?,
        staged: store.staged()?,
    };
    let recorded = store.edge_state()?;
    let versions_held: Vec<u64> = store.mirrored_versions()?.into_iter().collect();
    let mut feature_keys_held = 0;
    let mut versioned_held = false;
    for v in &versions_held {
        if let Some(meta) = store.meta(FeatureVersion(*v))? {
            // Layout 3's entity keys serve every version: counted once, from the mirror's
            // record, below.
            versioned_held |= meta.layout >= versioned::VERSIONED_LAYOUT;
            feature_keys_held += if meta.layout >= versioned::VERSIONED_LAYOUT {
                1
            } else {
                meta.users + meta.tracks + 1
            };
        }
    }
    if versioned_held {
        feature_keys_held += store.edge_value_keys()?;
    }
    let edge = EdgeSide {
        models_held: store.edge_models()?.into_iter().collect(),
        recorded,
        worker,
        versions_held,
        feature_keys_held,
    };
    let mirror = mirror_lag(store)?;
    let failed_interest_graphs: u64 = store
        .connection()
        .hlen(FAILURES)
        .context("Redis: reading rsn:interest:failed")?;
    let mut status = Status {
        problems: Vec::new(),
        redis,
        edge,
        mirror,
        failed_interest_graphs,
    };
    status.problems = problems(&status, live);
    Ok(status)
}

fn problems(status: &Status, redis_live: Option<u64>) -> Vec<String> {
    let mut problems = Vec::new();
    let redis_model = status.redis.live.as_ref().and_then(|l| l.model.clone());
    if redis_live.is_some() && status.redis.live.is_none() {
        problems.push(format!(
            "rsn:current names version {}, whose meta is missing in Redis",
            redis_live.unwrap_or_default()
        ));
    }
    let recorded = &status.edge.recorded;
    if recorded.live != redis_live {
        problems.push(format!(
            "Redis serves version {}, the edge (as last mirrored) {}: run `trainer mirror --full`",
            show(redis_live),
            show(recorded.live)
        ));
    }
    if let Some(health) = &status.edge.worker {
        if health.features_version != recorded.live || health.model_version != recorded.live_model {
            problems.push(format!(
                "the Worker serves version {} with model {}, the mirror's record says {} with {}",
                show(health.features_version),
                health.model_version.as_deref().unwrap_or("none"),
                show(recorded.live),
                recorded.live_model.as_deref().unwrap_or("none"),
            ));
        }
        if health.status != "ok" {
            problems.push(format!(
                "the Worker says {}: {}",
                health.status,
                health
                    .model_error
                    .iter()
                    .chain(&health.access_problems)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("; ")
            ));
        }
    }
    if recorded.live == redis_live && recorded.live_model != redis_model {
        problems.push(format!(
            "the edge records model {} for version {}, Redis's meta names {}",
            recorded.live_model.as_deref().unwrap_or("none"),
            show(redis_live),
            redis_model.as_deref().unwrap_or("none")
        ));
    }
    // A staged model that is live now is simply live.
    let staged = status
        .redis
        .staged
        .as_ref()
        .filter(|m| Some(*m) != redis_model.as_ref());
    if staged != recorded.staged_model.as_ref() {
        problems.push(format!(
            "Redis stages model {}, the edge (as last mirrored) {}: run `trainer mirror --full`",
            staged.map_or("none", |m| m.as_str()),
            recorded.staged_model.as_deref().unwrap_or("none")
        ));
    }
    if let Some(mirror) = &status.mirror
        && mirror.pending > 0
    {
        problems.push(format!(
            "{} change records delivered to a mirror and not acknowledged",
            mirror.pending
        ));
    }
    problems
}

fn show(v: Option<u64>) -> String {
    v.map_or("none".into(), |v| v.to_string())
}

fn sorted_set(store: &mut FeatureStore, key: &str) -> Result<Vec<String>> {
    store
        .connection()
        .zrange(key, 0, -1)
        .with_context(|| format!("Redis: reading {key}"))
}

/// The edge mirrors' group on the change stream (XINFO GROUPS), if it exists.
fn mirror_lag(store: &mut FeatureStore) -> Result<Option<MirrorLag>> {
    let exists: bool = store
        .connection()
        .exists(CHANGES)
        .context("Redis: reading rsn:changes")?;
    if !exists {
        return Ok(None);
    }
    let groups: Vec<std::collections::HashMap<String, redis::Value>> = redis::cmd("XINFO")
        .arg("GROUPS")
        .arg(CHANGES)
        .query(store.connection())
        .context("Redis: XINFO GROUPS rsn:changes")?;
    let number = |v: Option<&redis::Value>| match v {
        Some(redis::Value::Int(n)) => Some(*n as u64),
        _ => None,
    };
    for group in groups {
        let name = match group.get("name") {
            Some(redis::Value::BulkString(b)) => String::from_utf8_lossy(b).to_string(),
            Some(redis::Value::SimpleString(s)) => s.clone(),
            _ => continue,
        };
        if name == GROUP {
            return Ok(Some(MirrorLag {
                pending: number(group.get("pending")).unwrap_or(0),
                lag: number(group.get("lag")),
            }));
        }
    }
    Ok(None)
}
