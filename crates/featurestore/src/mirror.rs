//! The mirror: Redis → the edge KV.
//!
//! The unit copied is the live state: the feature version `rsn:current` names and the model
//! its meta names. A sync copies the model when the edge does not hold it (manifest and
//! chunks; the Worker verifies it), then every key of the version in bulk batches, its meta
//! last, then switches the edge to the version, which goes live there with that model. Until
//! then the edge serves what it served; a run killed midway is completed by running it again
//! (writes are idempotent).
//!
//! The listeners' states of the model (`crate::states`) go before the switch too, only
//! those the edge lacks. After the switch, the staged model (`crate::staging`), if any, is
//! copied and verified the same way, serving no traffic.
//!
//! Following reads the change stream with a consumer group; each record only wakes the mirror,
//! which copies whatever is live in Redis then, so records that arrive late, twice or out of
//! order change nothing. A record is acknowledged only after the edge switched.
//!
//! Superseded states are deleted from the edge ([`Mirror::collect`]) once they have been
//! neither live nor previous for the grace period: the meta first (so the version can no
//! longer go live), then its values; a model's manifest first, then its chunks. What to delete
//! comes from the mirror's own record ([`crate::ledger`]) and Redis's copy of each version,
//! which Redis keeps until the edge's is gone.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use resonance_failpoint::mirror;
use resonance_shared::api::KvWrite;
use resonance_shared::features::FeatureSetMeta;
use resonance_shared::keys::{self, FeatureVersion, KeyKind};
use resonance_shared::versioned;
use serde::Serialize;

use crate::sinks::EdgeSink;
use crate::store::{CHANGES, Change, FeatureStore, LiveState, StoredModel};

/// Seconds since the epoch.
fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// The consumer group of the edge mirrors on the change stream.
pub const GROUP: &str = "edge-mirror";

/// Model chunks are up to 512 KiB each: a few per request.
const MODEL_CHUNKS_PER_WRITE: usize = 8;

/// One mirror run: a store, a sink and how to report.
pub struct Mirror<'a> {
    /// Where the versions come from.
    pub store: &'a mut FeatureStore,
    /// Where they go.
    pub sink: &'a dyn EdgeSink,
    /// Pairs per bulk write (at most the sink's [`EdgeSink::max_batch`]).
    pub batch_size: usize,
    /// A line for the operator.
    pub log: &'a dyn Fn(&str),
    /// Keys written so far in the version being copied.
    pub progress: &'a dyn Fn(u64),
    /// How long a superseded state stays at the edge before it is deleted: at least KV's
    /// propagation (≈60 s), its read cache (60 s), the isolates' caches (60 s) and pointer
    /// check (5 s), so no reader still holds it.
    pub grace: Duration,
}

/// What copying one feature version did.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MirroredVersion {
    /// The version, now live on the edge.
    pub version: u64,
    /// Keys written, the meta included.
    pub keys: usize,
    /// Bytes of keys and values.
    pub bytes: usize,
    /// Wall time.
    pub seconds: f64,
}

/// What copying the model did.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase", tag = "outcome")]
pub enum MirroredModel {
    /// The edge holds it already (the mirror's record says it wrote it).
    AtTheEdge {
        /// The model.
        version: String,
    },
    /// Copied (and, on the Worker, verified).
    Copied {
        /// The model.
        version: String,
        /// Keys written.
        keys: usize,
    },
}

/// What one sync did.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Synced {
    /// The model of the live state.
    pub model: MirroredModel,
    /// The listeners' states of that model copied (layout 2).
    pub states: crate::states::MirroredStates,
    /// The feature version, copied and switched; `None` when the edge served it already.
    pub features: Option<MirroredVersion>,
    /// The staged model, copied or held; `None` when nothing is staged (or it failed).
    pub staged: Option<MirroredModel>,
    /// Why the staged model could not be put at the edge (the live state was synced).
    pub staged_error: Option<String>,
    /// What was deleted from the edge afterwards.
    pub collected: Collected,
}

/// What [`Mirror::collect`] deleted from the edge.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Collected {
    /// Feature versions deleted.
    pub versions: Vec<u64>,
    /// Models deleted.
    pub models: Vec<String>,
    /// Keys deleted.
    pub keys: usize,
    /// Layout 3's entity values deleted (no version left at the edge reads them): in `keys` too.
    pub values: usize,
    /// Superseded versions and models still within the grace period.
    pub waiting: usize,
}

impl Mirror<'_> {
    /// Checks the batch size against the sink.
    pub fn check(&self) -> Result<()> {
        let max = self.sink.max_batch();
        if self.batch_size == 0 || self.batch_size > max {
            bail!("--batch-size must be 1–{max}, got {}", self.batch_size);
        }
        Ok(())
    }

    /// Copies the live state (the model, then the feature version) and switches the edge to
    /// it, unless the edge serves it already; then deletes what the grace period lets go.
    pub fn full(&mut self) -> Result<Synced> {
        self.check()?;
        // One sync at a time: two would interleave their switches and clean-ups.
        let _lock = crate::lock::Lock::take(
            self.store.url(),
            crate::lock::MIRROR,
            Duration::from_secs(3600),
            Duration::from_secs(600),
        )?;
        let Some(LiveState {
            version,
            model,
            layout,
        }) = self.store.live_state()?
        else {
            bail!(
                "Redis has no live feature version (rsn:current): run `trainer materialize` first"
            );
        };
        // An edge whose Worker predates the layout would serve it as errors: refuse before
        // writing anything, so the upgrade order (Worker first, then data) is kept.
        if self.sink.reads_layout(layout)? == Some(false) {
            bail!(
                "feature version {version} is of layout {layout}, which the Worker at {} does not \
                 read (its /health lists no such layout): deploy the new Worker first (`wrangler \
                 deploy`), or materialize with a `--layout` it lists until it is",
                self.sink.target()
            );
        }
        // Nor move the edge backwards: refused before the model or any state is written.
        self.check_forward(version)?;
        let model_outcome = self.model(&model, layout)?;
        // Before the switch, so the version goes live with its listeners' states; each is
        // checked against the listener's history where it is read, so order cannot mislead.
        let states = if layout >= 2 {
            let copied = self
                .store
                .mirror_states(&model, self.sink, self.batch_size)?;
            if copied.written > 0 {
                (self.log)(&format!(
                    "mirrored {} listener states of model {model} to {} ({} unchanged)",
                    copied.written,
                    self.sink.target(),
                    copied.unchanged
                ));
            }
            copied
        } else {
            Default::default()
        };
        let edge = self.store.edge_state()?;
        let serving =
            edge.live == Some(version.0) && self.sink.serves_features(version.0)?.unwrap_or(true);
        let features = if serving {
            (self.log)(&format!(
                "feature version {version} with model {model} is already live on {}",
                self.sink.target()
            ));
            None
        } else {
            Some(self.version(version, &model, layout)?)
        };
        // The live state is whole at the edge now: a staged model that cannot be put there
        // is reported (and `trainer status` names it), not a reason to skip the clean-up.
        let (staged, staged_error) = match self.staged(&model) {
            Ok(staged) => (staged, None),
            Err(e) => {
                (self.log)(&format!(
                    "warning: the staged model was not put at the edge: {e:#}"
                ));
                (None, Some(format!("{e:#}")))
            }
        };
        let collected = self.collect()?;
        Ok(Synced {
            model: model_outcome,
            states,
            features,
            staged,
            staged_error,
            collected,
        })
    }

    /// Refuses to move the edge to a version older than the one it serves (versions only
    /// increase; a Redis started afresh or restored from an older backup numbers below it).
    fn check_forward(&self, version: FeatureVersion) -> Result<()> {
        if let Some(served) = self.sink.served_version()?.filter(|s| *s > version.0) {
            bail!(
                "feature version {version} is older than {served}, which {} serves: the edge only \
                 moves forward (is this Redis new, or restored from an older backup?); \
                 materialize a version above it (`trainer materialize --feature-version {}`)",
                self.sink.target(),
                served + 1
            );
        }
        Ok(())
    }

    /// Puts Redis's staged model at the edge beside `live_model` (copied unless held, then
    /// verified), and records it; with nothing staged, or the staged model live now, records
    /// none, so the one staged before is collected after the grace period.
    fn staged(&mut self, live_model: &str) -> Result<Option<MirroredModel>> {
        let staged = self.store.staged()?.filter(|m| m != live_model);
        let recorded = self.store.edge_state()?.staged_model;
        let target = self.sink.target();
        let Some(staged) = staged else {
            if let Some(before) = recorded {
                self.store.record_edge_staged(None)?;
                let now = if before == live_model {
                    "live now"
                } else {
                    "no longer staged"
                };
                (self.log)(&format!("model {before} is {now} on {target}"));
            }
            return Ok(None);
        };
        // Its embeddings too: staging needs layout 2 or above (`trainer models stage`).
        let outcome = self.model(&staged, versioned::VERSIONED_LAYOUT)?;
        if recorded.as_deref() != Some(&staged) {
            self.store.record_edge_staged(Some(&staged))?;
            (self.log)(&format!(
                "model {staged} is staged on {target} (stored, and checked where the sink can: \
                 the Worker loads and verifies it), serving no traffic"
            ));
        }
        Ok(Some(outcome))
    }

    /// Copies model `version` from Redis unless the edge holds it (the mirror's record, with
    /// its embeddings when `layout` needs them), and has the sink verify it. Chunks go as
    /// base64, as they are stored, a few a request; embeddings as text, a full batch a
    /// request; the manifest last.
    pub fn model(&mut self, version: &str, layout: u32) -> Result<MirroredModel> {
        let target = self.sink.target();
        let needs_embeddings = layout >= 2;
        // The record says the edge holds it; a sink that can check (the Worker) confirms.
        let held = self.store.edge_models()?.contains(version)
            && (!needs_embeddings || self.store.edge_has_embeddings(version)?);
        if held && self.sink.verify_model(version).is_ok() {
            return Ok(MirroredModel::AtTheEdge {
                version: version.to_string(),
            });
        }
        let Some(StoredModel { pairs, .. }) = self.store.model(version)? else {
            bail!(
                "model {version} (the live feature version's, or the staged one) is not in Redis \
                 (rsn:model:{version}:manifest): run `trainer materialize` (or `trainer models \
                 stage`) with that model again"
            );
        };
        let manifest = keys::model_manifest_key(version);
        let mut chunks = Vec::new();
        let mut embeddings = Vec::new();
        let mut manifests = Vec::new();
        for (key, value) in pairs {
            let write = |base64| KvWrite {
                base64,
                key: key.clone(),
                value: value.clone(),
                expiration_ttl: None,
            };
            match keys::parse_key(&key) {
                Ok(KeyKind::ModelChunk { .. }) => chunks.push(write(true)),
                Ok(KeyKind::ModelEmbedding { .. }) => embeddings.push(write(false)),
                _ if key == manifest => manifests.push(write(false)),
                _ => {}
            }
        }
        if needs_embeddings && embeddings.is_empty() {
            bail!(
                "model {version} (the live feature version's, or the staged one) needs its \
                 embeddings, but Redis holds none of them (rsn:model:{version}:embedding:*): run \
                 `trainer materialize` (or `trainer models stage`) with that model again"
            );
        }
        let keys = chunks.len() + embeddings.len() + manifests.len();
        // Recorded before the first write, so a killed run's keys are collected too.
        self.store.record_edge_model(version, unix_now())?;
        let batches = chunks
            .chunks(MODEL_CHUNKS_PER_WRITE)
            .chain(embeddings.chunks(self.batch_size));
        for batch in batches {
            self.sink.write(batch)?;
            resonance_failpoint::reached(mirror::MODEL_BATCH);
        }
        self.sink.write(&manifests)?;
        if !embeddings.is_empty() {
            self.store.record_edge_embeddings(version)?;
        }
        self.sink.verify_model(version)?;
        resonance_failpoint::reached(mirror::MODEL_STAGED);
        (self.log)(&format!(
            "mirrored model {version} to {target} ({keys} keys: {} chunks, {} embeddings)",
            chunks.len(),
            embeddings.len()
        ));
        Ok(MirroredModel::Copied {
            version: version.to_string(),
            keys,
        })
    }

    /// Deletes from the edge every feature version and model the mirror wrote that has been
    /// neither live nor previous there for [`Mirror::grace`], and then, from Redis, the
    /// versions Redis kept only for this.
    pub fn collect(&mut self) -> Result<Collected> {
        let edge = self.store.edge_state()?;
        let now = unix_now();
        let grace = self.grace.as_secs() as i64;
        let mut collected = Collected::default();
        let redis_live = self.store.current()?.map(|v| v.0);
        let redis_previous = self.store.previous()?;
        let kept = edge.kept_versions();
        for version in self.store.mirrored_versions()? {
            if kept.contains(&version) {
                continue;
            }
            if !self.due(&format!("v:{version}"), now, grace, &mut collected)? {
                continue;
            }
            let keys = self.store.version_keys(FeatureVersion(version))?;
            collected.keys += self.delete(&keys)?;
            self.store.forget_edge_version(version)?;
            if redis_live != Some(version) && redis_previous != Some(version) {
                self.store.drop_version(FeatureVersion(version))?;
            }
            collected.versions.push(version);
        }
        let kept = edge.kept_models();
        for model in self.store.edge_models()? {
            if kept.contains(&model) {
                continue;
            }
            if !self.due(&format!("m:{model}"), now, grace, &mut collected)? {
                continue;
            }
            // Key names only (manifest first): the chunks' megabytes are not read to delete them.
            let keys = self.store.model_keys(&model)?;
            collected.keys += self.delete(&keys)?;
            self.store.forget_edge_model(&model)?;
            collected.models.push(model);
        }
        // Layout 3's values, once no version left at the edge reads them (back to layout 2).
        let values = self.store.edge_values_unread()?;
        if !values.is_empty() {
            collected.keys += self.delete(&values)?;
            collected.values = values.len();
            self.store.forget_edge_values()?;
        }
        self.store.drop_unread_values()?;
        if !collected.versions.is_empty() || !collected.models.is_empty() || collected.values > 0 {
            (self.log)(&format!(
                "deleted superseded state from {}: versions {:?}, models {:?}, {} layout-3 \
                 values ({} keys)",
                self.sink.target(),
                collected.versions,
                collected.models,
                collected.values,
                collected.keys
            ));
        }
        Ok(collected)
    }

    /// Whether `what` (`v:{N}` / `m:{model}`) has been superseded for the grace period; a
    /// state still inside it is counted as waiting.
    fn due(&mut self, what: &str, now: i64, grace: i64, collected: &mut Collected) -> Result<bool> {
        let due = now - self.store.retired_at(what, now)? >= grace;
        if !due {
            collected.waiting += 1;
        }
        Ok(due)
    }

    /// Deletes `keys` in order, in the sink's batches; returns how many.
    fn delete(&self, keys: &[String]) -> Result<usize> {
        for batch in keys.chunks(self.sink.max_batch()) {
            self.sink
                .delete(batch)
                .with_context(|| format!("deleting superseded keys from {}", self.sink.target()))?;
            resonance_failpoint::reached(mirror::COLLECT_BATCH);
        }
        Ok(keys.len())
    }

    /// Copies one version to the sink, meta last, then switches the sink to it (with `model`,
    /// which its meta names) and records the switch. A version of layout 3 copies only the
    /// entities' values the edge lacks (`crate::values`), then its meta.
    pub fn version(
        &mut self,
        version: FeatureVersion,
        model: &str,
        layout: u32,
    ) -> Result<MirroredVersion> {
        let began = Instant::now();
        // Recorded first: `trainer forget` deletes a listener from every version the edge holds.
        self.store.record_mirrored(version)?;
        let (sink, progress) = (self.sink, self.progress);
        let (keys, bytes) = if layout >= versioned::VERSIONED_LAYOUT {
            let copied = self.store.mirror_values(sink, self.batch_size)?;
            let meta = self.store.meta(version)?.with_context(|| {
                format!("feature version {version} is incomplete in Redis: its meta is missing")
            })?;
            // Stamped: readers serving another version wait for the values to settle.
            let meta = FeatureSetMeta {
                values_written_at: Some(unix_now()),
                ..meta
            };
            let meta = KvWrite {
                key: version.meta_key(),
                value: serde_json::to_string(&meta)?,
                base64: false,
                expiration_ttl: None,
            };
            sink.write(std::slice::from_ref(&meta))?;
            let bytes = copied.bytes + meta.key.len() + meta.value.len();
            (copied.written + 1, bytes)
        } else {
            let mut bytes = 0usize;
            let mut written = 0u64;
            let keys = self.store.read_version(version, self.batch_size, |pairs| {
                bytes += pairs.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>();
                let writes: Vec<KvWrite> = pairs
                    .into_iter()
                    .map(|(key, value)| KvWrite {
                        key,
                        value,
                        base64: false,
                        expiration_ttl: None,
                    })
                    .collect();
                sink.write(&writes)?;
                written += writes.len() as u64;
                progress(written);
                resonance_failpoint::reached(mirror::BATCH);
                Ok(())
            })?;
            (keys, bytes)
        };
        sink.switch_features(version.0, model)?;
        resonance_failpoint::reached(mirror::SWITCHED);
        self.store
            .record_edge_switch(version.0, model, unix_now())?;
        let seconds = began.elapsed().as_secs_f64();
        (self.log)(&format!(
            "mirrored feature version {version} to {}: {keys} keys, {:.1} MiB in {seconds:.1} s ({:.0} keys/s); live there now",
            sink.target(),
            bytes as f64 / (1024.0 * 1024.0),
            keys as f64 / seconds.max(1e-9)
        ));
        Ok(MirroredVersion {
            version: version.0,
            keys,
            bytes,
            seconds,
        })
    }

    /// Mirrors the live state each time a change record arrives, as `consumer` of [`GROUP`],
    /// and deletes superseded states as their grace period ends; returns after `idle_exit`
    /// without a new record (never when `None`).
    pub fn follow(&mut self, consumer: &str, idle_exit: Option<Duration>) -> Result<()> {
        self.check()?;
        self.store.join_changes(GROUP)?;
        (self.log)(&format!("following {CHANGES} as {GROUP}/{consumer}"));
        let mut idle_since = Instant::now();
        // Our own pending records first (a previous run died before acknowledging them).
        let mut pending = true;
        loop {
            let records = self.store.read_changes(GROUP, consumer, pending)?;
            if pending && records.is_empty() {
                pending = false;
                continue;
            }
            if records.is_empty() {
                // Under the mirror lock, skipped while a `--full` run holds it: a clean-up
                // must not interleave with a sync recording what it writes.
                // A short lease: a follower killed here holds up no job for long.
                if let Some(_lock) = crate::lock::Lock::try_take(
                    self.store.url(),
                    crate::lock::MIRROR,
                    Duration::from_secs(60),
                )? {
                    self.collect()?;
                }
                if let Some(idle) = idle_exit.filter(|idle| idle_since.elapsed() >= *idle) {
                    (self.log)(&format!(
                        "no new version for {} s; stopping",
                        idle.as_secs()
                    ));
                    return Ok(());
                }
                continue;
            }
            // Every record asks for the same thing: the edge at Redis's live state.
            self.full()?;
            for (id, change) in records {
                if let Change::Model(model) = change {
                    (self.log)(&format!(
                        "record {id} (model {model}) is from an older trainer: a model now goes \
                         live with the feature version that names it"
                    ));
                }
                self.store.ack_change(GROUP, &id)?;
            }
            idle_since = Instant::now();
        }
    }
}
