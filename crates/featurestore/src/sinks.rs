//! Where the mirror writes: the edge KV, behind [`EdgeSink`].
//!
//! - [`worker::WorkerSink`]: a Worker's admin API (`POST /admin/kv/bulk`, switches that the
//!   Worker checks before it goes live);
//! - [`cloudflare::CloudflareKv`]: Cloudflare's KV REST API (pointers written last, as plain
//!   keys; the Worker checks them where it reads them).

pub mod cloudflare;
pub mod worker;

use anyhow::Result;
use resonance_shared::api::KvWrite;
use resonance_shared::keys::{CURRENT_FEATURES, CURRENT_MODEL};

/// An edge KV the mirror can write to.
pub trait EdgeSink {
    /// Where it writes, for the log.
    fn target(&self) -> String;

    /// Pairs per bulk write at most.
    fn max_batch(&self) -> usize;

    /// Writes one batch of pairs; every pair is stored, or it fails.
    fn write(&self, pairs: &[KvWrite]) -> Result<()>;

    /// Deletes one batch of keys (at most [`EdgeSink::max_batch`]); deleting an absent key
    /// succeeds. The Worker refuses pointers and the keys of the state it serves.
    fn delete(&self, keys: &[String]) -> Result<()>;

    /// Whether the edge serves feature version `version`, when the sink can tell (`None`:
    /// it cannot, and the mirror's record is trusted).
    fn serves_features(&self, _version: u64) -> Result<Option<bool>> {
        Ok(None)
    }

    /// The feature version the edge serves, when the sink can tell (`None`: it cannot, or
    /// none).
    fn served_version(&self) -> Result<Option<u64>> {
        Ok(None)
    }

    /// Whether the edge's readers read values of `layout`, when the sink can tell (`None`: it
    /// cannot, and the operator is trusted to have deployed the Worker first).
    fn reads_layout(&self, _layout: u32) -> Result<Option<bool>> {
        Ok(None)
    }

    /// Verifies model `version` once its keys are written, serving nothing yet (the Worker
    /// loads it and checks its checksum; plain KV cannot, so the reader checks it).
    fn verify_model(&self, _version: &str) -> Result<()> {
        Ok(())
    }

    /// Makes feature version `version` live with `model`, the model its meta names, after
    /// both are written: on plain KV, the model pointer (for readers of the older layout)
    /// and then the feature pointer, which a reader checks against the meta.
    fn switch_features(&self, version: u64, model: &str) -> Result<()> {
        self.write(&[pointer(CURRENT_MODEL, model.to_string())])?;
        self.write(&[pointer(CURRENT_FEATURES, version.to_string())])
    }
}

fn pointer(key: &str, value: String) -> KvWrite {
    KvWrite {
        key: key.to_string(),
        value,
        base64: false,
        expiration_ttl: None,
    }
}
