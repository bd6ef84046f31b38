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

    /// Deletes one batch of user or track values (at most [`EdgeSink::max_batch`]); deleting
    /// an absent key succeeds.
    fn delete(&self, keys: &[String]) -> Result<()>;

    /// Whether the edge already serves model `version` (when the sink can tell). Switching to
    /// it again would reload it and drop the edge's cached encoder states for nothing.
    fn serves_model(&self, _version: &str) -> Result<bool> {
        Ok(false)
    }

    /// Makes model `version` live, after its chunks are written: on plain KV, the pointer key.
    fn switch_model(&self, version: &str) -> Result<()> {
        self.write(&[pointer(CURRENT_MODEL, version.to_string())])
    }

    /// Makes feature version `version` live, after its keys are written: on plain KV, the
    /// pointer key.
    fn switch_features(&self, version: u64) -> Result<()> {
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
