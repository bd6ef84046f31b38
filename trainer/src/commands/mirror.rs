//! `trainer mirror`: copy the live feature version from Redis to the edge KV.

use std::time::Instant;

use anyhow::{Result, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use resonance_edge::admin::MAX_BULK_PAIRS;
use resonance_shared::api::KvWrite;

use crate::edge_sink::WorkerSink;
use crate::store::FeatureStore;

/// Copy the live feature version from Redis to a Worker's KV, then make it live there.
///
/// A full sync: every key of the version Redis serves (`rsn:current`) is written through the
/// Worker's authenticated bulk endpoint in batches, the version's meta last, and then the
/// Worker's feature pointer is switched. Until then the Worker serves what it served; a run
/// killed midway is completed by running it again (writes are idempotent). The admin token is
/// read from RESONANCE_ADMIN_TOKEN.
#[derive(Args)]
pub struct MirrorArgs {
    /// Copy the whole live version (the only mode so far; `--follow` is not built yet).
    #[arg(long)]
    pub full: bool,
    /// Redis to read from.
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379/0")]
    pub redis_url: String,
    /// The Worker's base URL.
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:8787")]
    pub worker: String,
    /// Pairs per bulk request (at most 1000, the Worker's limit).
    #[arg(long, value_name = "N", default_value_t = 500)]
    pub batch_size: usize,
    /// The Worker's admin token.
    #[arg(long, env = "RESONANCE_ADMIN_TOKEN", hide_env_values = true)]
    pub token: String,
}

pub fn run(args: MirrorArgs) -> Result<()> {
    if !args.full {
        bail!("say --full: an incremental mirror (--follow) is not built yet");
    }
    if args.batch_size == 0 || args.batch_size > MAX_BULK_PAIRS {
        bail!(
            "--batch-size must be 1–{MAX_BULK_PAIRS}, got {}",
            args.batch_size
        );
    }
    let began = Instant::now();
    let mut store = FeatureStore::connect(&args.redis_url)?;
    let Some(version) = store.current()? else {
        bail!("Redis has no live feature version (rsn:current): run `trainer materialize` first");
    };
    let sink = WorkerSink::new(&args.worker, &args.token)?;
    sink.health()?;
    let bar = ProgressBar::new_spinner().with_style(
        ProgressStyle::with_template("mirroring {pos} keys  {per_sec}  {elapsed}")
            .expect("the template is valid"),
    );
    let mut bytes = 0usize;
    let keys = store.read_version(version, args.batch_size, |pairs| {
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
        bar.inc(writes.len() as u64);
        crate::failpoint::reached("mirror-batch");
        Ok(())
    })?;
    bar.finish_and_clear();
    sink.switch_features(version.0)?;
    let seconds = began.elapsed().as_secs_f64();
    println!(
        "mirrored feature version {version} to {}: {keys} keys, {:.1} MiB in {seconds:.1} s ({:.0} keys/s); live there now",
        args.worker,
        bytes as f64 / (1024.0 * 1024.0),
        keys as f64 / seconds.max(1e-9)
    );
    Ok(())
}
