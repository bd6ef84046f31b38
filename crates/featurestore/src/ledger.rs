//! What the edge holds, as the mirror wrote it. Redis keeps the record, so nothing ever lists
//! the edge's namespace (KV listing is slow, paged and billed), and the mirror can delete
//! exactly what it wrote once it is superseded.
//!
//! ```text
//! rsn:mirrored       sorted set: feature versions written to the edge (recorded before the
//!                    first key, so a killed run is recorded too); score = the version
//! rsn:edge           hash: live, previous (feature versions), liveModel, previousModel (the
//!                    last model other than the live one), switchedAt (unix s): the edge's
//!                    state after the mirror's last switch; stagedModel: the model the mirror
//!                    staged there (`crate::staging`), serving no traffic
//! rsn:edge:models    sorted set: models written to the edge; score = when (unix s)
//! rsn:edge:states:{m} hash: the listeners' states of model m written to the edge
//!                    (`crate::states`)
//! rsn:edge:retired   hash: "v:{N}" | "m:{model}" → when it was first seen neither live nor
//!                    previous (unix s): deleted once the grace period has passed
//! ```

use std::collections::BTreeSet;

use anyhow::{Context, Result};
use redis::Commands;
use serde::Serialize;

use crate::erasure::MIRRORED;
use crate::store::FeatureStore;

/// The edge's state after the mirror's last switch.
pub const EDGE: &str = "rsn:edge";
/// Models written to the edge.
pub const EDGE_MODELS: &str = "rsn:edge:models";
/// The models of [`EDGE_MODELS`] whose embeddings (layout 2) the mirror wrote to the edge too.
pub const EDGE_EMBEDDED: &str = "rsn:edge:embedded";
/// When each superseded version or model was first seen superseded.
pub const RETIRED: &str = "rsn:edge:retired";

/// The edge's state as the mirror last left it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EdgeState {
    /// The live feature version.
    pub live: Option<u64>,
    /// The model its meta names.
    pub live_model: Option<String>,
    /// The version live before it.
    pub previous: Option<u64>,
    /// The last model live before the live one (the model of `previous`, or of an older
    /// version when `previous` has the live model): what a rollback returns to.
    pub previous_model: Option<String>,
    /// When the mirror switched to `live` (unix seconds).
    pub switched_at: Option<i64>,
    /// The model staged there: loaded and verified, serving no traffic.
    pub staged_model: Option<String>,
}

impl EdgeState {
    /// The feature versions the edge keeps.
    pub fn kept_versions(&self) -> BTreeSet<u64> {
        self.live.into_iter().chain(self.previous).collect()
    }

    /// The models the edge keeps: live, previous and staged.
    pub fn kept_models(&self) -> BTreeSet<String> {
        self.live_model
            .iter()
            .chain(&self.previous_model)
            .chain(&self.staged_model)
            .cloned()
            .collect()
    }
}

impl FeatureStore {
    fn ledger_context(&self, what: &str) -> String {
        format!("Redis at {}: {what}", self.url())
    }

    /// The edge's state as the mirror last left it.
    pub fn edge_state(&mut self) -> Result<EdgeState> {
        let context = self.ledger_context("reading rsn:edge");
        let fields: std::collections::HashMap<String, String> =
            self.connection().hgetall(EDGE).context(context)?;
        let number = |name: &str| fields.get(name).and_then(|v| v.parse().ok());
        Ok(EdgeState {
            live: number("live"),
            live_model: fields.get("liveModel").cloned(),
            previous: number("previous"),
            previous_model: fields.get("previousModel").cloned(),
            switched_at: fields.get("switchedAt").and_then(|v| v.parse().ok()),
            staged_model: fields.get("stagedModel").cloned(),
        })
    }

    /// Records the model staged at the edge (`None`: none; the one staged before, unless
    /// live or previous, is collected after the grace period).
    pub fn record_edge_staged(&mut self, model: Option<&str>) -> Result<()> {
        let context = self.ledger_context("recording the edge's staged model");
        let mut pipe = redis::pipe();
        pipe.atomic();
        match model {
            Some(model) => pipe
                .hset(EDGE, "stagedModel", model)
                .ignore()
                .hdel(RETIRED, format!("m:{model}"))
                .ignore(),
            None => pipe.hdel(EDGE, "stagedModel").ignore(),
        };
        pipe.exec(self.connection()).context(context)
    }

    /// Records that the edge now serves `version` with `model`; the state it replaced becomes
    /// the previous one.
    pub fn record_edge_switch(&mut self, version: u64, model: &str, now: i64) -> Result<()> {
        let old = self.edge_state()?;
        if old.live == Some(version) {
            return Ok(());
        }
        let context = self.ledger_context("recording the edge's switch");
        let mut pipe = redis::pipe();
        pipe.atomic()
            .hset(EDGE, "live", version)
            .ignore()
            .hset(EDGE, "liveModel", model)
            .ignore()
            .hset(EDGE, "switchedAt", now)
            .ignore();
        if let Some(previous) = old.live {
            pipe.hset(EDGE, "previous", previous).ignore();
        }
        // The previous model is the last one other than the live one (a rollback target),
        // so the previous version's model is always live or previous.
        let previous_model = match old.live_model {
            Some(m) if m != model => Some(m),
            _ => old.previous_model,
        };
        if let Some(previous_model) = previous_model {
            pipe.hset(EDGE, "previousModel", previous_model).ignore();
        }
        // What is live or previous again is no longer retired.
        pipe.hdel(RETIRED, &[format!("v:{version}"), format!("m:{model}")])
            .ignore();
        pipe.exec(self.connection()).context(context)
    }

    /// The feature versions the mirror wrote to the edge and has not deleted there.
    pub fn mirrored_versions(&mut self) -> Result<BTreeSet<u64>> {
        let context = self.ledger_context("reading rsn:mirrored");
        let members: Vec<String> = self.connection().zrange(MIRRORED, 0, -1).context(context)?;
        Ok(members.iter().filter_map(|v| v.parse().ok()).collect())
    }

    /// Records that the mirror wrote `model` to the edge.
    pub fn record_edge_model(&mut self, model: &str, now: i64) -> Result<()> {
        let context = self.ledger_context("recording rsn:edge:models");
        self.connection()
            .zadd::<_, _, _, ()>(EDGE_MODELS, model, now)
            .context(context)
    }

    /// Records that the mirror wrote `model`'s embeddings to the edge.
    pub fn record_edge_embeddings(&mut self, model: &str) -> Result<()> {
        let context = self.ledger_context("recording rsn:edge:embedded");
        self.connection()
            .sadd::<_, _, ()>(EDGE_EMBEDDED, model)
            .context(context)
    }

    /// Whether the mirror wrote `model`'s embeddings to the edge.
    pub fn edge_has_embeddings(&mut self, model: &str) -> Result<bool> {
        let context = self.ledger_context("reading rsn:edge:embedded");
        self.connection()
            .sismember(EDGE_EMBEDDED, model)
            .context(context)
    }

    /// The models the mirror wrote to the edge and has not deleted there.
    pub fn edge_models(&mut self) -> Result<BTreeSet<String>> {
        let context = self.ledger_context("reading rsn:edge:models");
        let members: Vec<String> = self
            .connection()
            .zrange(EDGE_MODELS, 0, -1)
            .context(context)?;
        Ok(members.into_iter().collect())
    }

    /// When `what` (`v:{N}` or `m:{model}`) was first seen superseded: `now` the first time.
    pub fn retired_at(&mut self, what: &str, now: i64) -> Result<i64> {
        let context = self.ledger_context("reading rsn:edge:retired");
        let conn = self.connection();
        let _: bool = conn.hset_nx(RETIRED, what, now).context(context.clone())?;
        let at: Option<i64> = conn.hget(RETIRED, what).context(context)?;
        Ok(at.unwrap_or(now))
    }

    /// Forgets a version deleted from the edge.
    pub fn forget_edge_version(&mut self, version: u64) -> Result<()> {
        let context = self.ledger_context("updating rsn:mirrored");
        redis::pipe()
            .atomic()
            .zrem(MIRRORED, version.to_string())
            .ignore()
            .hdel(RETIRED, format!("v:{version}"))
            .ignore()
            .exec(self.connection())
            .context(context)
    }

    /// Forgets a model deleted from the edge.
    pub fn forget_edge_model(&mut self, model: &str) -> Result<()> {
        let context = self.ledger_context("updating rsn:edge:models");
        redis::pipe()
            .atomic()
            .zrem(EDGE_MODELS, model)
            .ignore()
            .srem(EDGE_EMBEDDED, model)
            .ignore()
            .del(crate::states::edge_index_key(model))
            .ignore()
            .hdel(RETIRED, format!("m:{model}"))
            .ignore()
            .exec(self.connection())
            .context(context)
    }
}
