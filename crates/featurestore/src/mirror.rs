//! The mirror: Redis → the edge KV.
//!
//! A full sync copies the live model (when Redis holds one), then every key of the live
//! feature version in bulk batches, the version's meta last, and switches the edge to each
//! once copied; until then the edge serves what it served, and a run killed midway is
//! completed by running it again (writes are idempotent).
//!
//! Following reads the change stream with a consumer group and acknowledges a record only
//! after the edge switched, so a mirror killed at any point finds its record pending when it
//! starts again. A record whose version is no longer live (a newer one followed) is
//! acknowledged without copying: the newer record carries the newer version.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use resonance_shared::api::KvWrite;
use resonance_shared::keys::{self, FeatureVersion, KeyKind};
use serde::Serialize;

use crate::sinks::EdgeSink;
use crate::store::{CHANGES, Change, FeatureStore, StoredModel};

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
    /// Redis holds no model.
    NoModel,
    /// The edge already served it.
    AlreadyLive {
        /// The model.
        version: String,
    },
    /// A newer model replaced it in Redis.
    Superseded {
        /// The model of the record.
        version: String,
        /// The model Redis serves.
        live: String,
    },
    /// Copied and made live.
    Copied {
        /// The model.
        version: String,
        /// Keys written.
        keys: usize,
    },
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

    /// Copies the live model, then the live feature version, once.
    pub fn full(&mut self) -> Result<(MirroredModel, MirroredVersion)> {
        self.check()?;
        let Some(version) = self.store.current()? else {
            bail!(
                "Redis has no live feature version (rsn:current): run `trainer materialize` first"
            );
        };
        let model = self.model(None)?;
        Ok((model, self.version(version)?))
    }

    /// Copies the live model (if Redis has one; only `only`, when given) and switches the
    /// sink to it. Chunks go as base64, as they are stored.
    pub fn model(&mut self, only: Option<&str>) -> Result<MirroredModel> {
        let target = self.sink.target();
        let Some(StoredModel { version, pairs }) = self.store.current_model()? else {
            return Ok(MirroredModel::NoModel);
        };
        if let Some(wanted) = only.filter(|wanted| *wanted != version) {
            (self.log)(&format!(
                "skipped model {wanted}: superseded (live: {version})"
            ));
            return Ok(MirroredModel::Superseded {
                version: wanted.to_string(),
                live: version,
            });
        }
        if self.sink.serves_model(&version)? {
            (self.log)(&format!("model {version} is already live on {target}"));
            return Ok(MirroredModel::AlreadyLive { version });
        }
        let writes: Vec<KvWrite> = pairs
            .into_iter()
            .map(|(key, value)| KvWrite {
                base64: matches!(keys::parse_key(&key), Ok(KeyKind::ModelChunk { .. })),
                key,
                value,
                expiration_ttl: None,
            })
            .collect();
        for batch in writes.chunks(MODEL_CHUNKS_PER_WRITE) {
            self.sink.write(batch)?;
        }
        self.sink.switch_model(&version)?;
        (self.log)(&format!(
            "mirrored model {version} to {target} ({} keys); live there now",
            writes.len()
        ));
        Ok(MirroredModel::Copied {
            version,
            keys: writes.len(),
        })
    }

    /// Copies one version to the sink, meta last, then switches the sink to it.
    pub fn version(&mut self, version: FeatureVersion) -> Result<MirroredVersion> {
        let began = Instant::now();
        // Recorded first: `trainer forget` deletes a listener from every version the edge holds.
        self.store.record_mirrored(version)?;
        let mut bytes = 0usize;
        let mut written = 0u64;
        let (sink, progress) = (self.sink, self.progress);
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
            resonance_failpoint::reached("mirror-batch");
            Ok(())
        })?;
        sink.switch_features(version.0)?;
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

    /// Mirrors each version `materialize` makes live, as its change record arrives, as
    /// `consumer` of [`GROUP`]; returns after `idle_exit` without a new record (never when
    /// `None`).
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
                if let Some(idle) = idle_exit.filter(|idle| idle_since.elapsed() >= *idle) {
                    (self.log)(&format!(
                        "no new version for {} s; stopping",
                        idle.as_secs()
                    ));
                    return Ok(());
                }
                continue;
            }
            for (id, change) in records {
                match change {
                    Change::Model(model) => {
                        self.model(Some(&model))?;
                    }
                    Change::Features(version) => match self.store.current()? {
                        Some(live) if live == version => {
                            self.version(version)?;
                        }
                        live => (self.log)(&format!(
                            "skipped version {version}: superseded (live: {})",
                            live.map_or("none".into(), |v| v.to_string())
                        )),
                    },
                }
                self.store.ack_change(GROUP, &id)?;
            }
            idle_since = Instant::now();
        }
    }
}
