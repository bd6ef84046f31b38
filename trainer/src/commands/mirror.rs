//! `trainer mirror`: copy the live feature version from Redis to the edge KV.

use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use resonance_edge::admin::MAX_BULK_PAIRS;
use resonance_shared::api::KvWrite;
use resonance_shared::keys::{self, KeyKind};

use crate::edge_sink::WorkerSink;
use crate::kv_rest::{self, CloudflareKv};
use crate::store::{Change, FeatureStore, StoredModel};

/// The consumer group of the edge mirrors on the change stream.
const GROUP: &str = "edge-mirror";

/// Where the mirror writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SinkKind {
    /// The Worker's authenticated bulk endpoint (`--worker`, RESONANCE_ADMIN_TOKEN).
    Worker,
    /// The Cloudflare KV REST API (CLOUDFLARE_ACCOUNT_ID, CLOUDFLARE_KV_NAMESPACE_ID,
    /// CLOUDFLARE_API_TOKEN).
    Cloudflare,
}

enum Sink {
    Worker(WorkerSink),
    Cloudflare(CloudflareKv),
}

impl Sink {
    fn max_batch(&self) -> usize {
        match self {
            Sink::Worker(_) => MAX_BULK_PAIRS,
            Sink::Cloudflare(_) => kv_rest::MAX_BULK_PAIRS,
        }
    }

    fn write(&self, pairs: &[KvWrite]) -> Result<()> {
        match self {
            Sink::Worker(sink) => sink.write(pairs),
            Sink::Cloudflare(sink) => sink.write(pairs),
        }
    }

    /// Whether the edge already serves model `version` (known for the Worker only). Switching
    /// to it again would reload it and drop the Worker's cached encoder states for nothing.
    fn serves_model(&self, version: &str) -> Result<bool> {
        match self {
            Sink::Worker(sink) => Ok(sink.health()?.model_version.as_deref() == Some(version)),
            Sink::Cloudflare(_) => Ok(false),
        }
    }

    /// Makes the model `version` live: the Worker loads and verifies it first; on plain KV the
    /// pointer is written after the chunks.
    fn switch_model(&self, version: &str) -> Result<()> {
        match self {
            Sink::Worker(sink) => sink.switch_model(version),
            Sink::Cloudflare(sink) => sink.write(&[KvWrite {
                key: resonance_shared::keys::CURRENT_MODEL.to_string(),
                value: version.to_string(),
                base64: false,
                expiration_ttl: None,
            }]),
        }
    }

    /// Makes `version` live: through the Worker's switch (which checks it is complete), or by
    /// writing the pointer key last on plain KV.
    fn switch_features(&self, version: u64) -> Result<()> {
        match self {
            Sink::Worker(sink) => sink.switch_features(version),
            Sink::Cloudflare(sink) => sink.write(&[KvWrite {
                key: resonance_shared::keys::CURRENT_FEATURES.to_string(),
                value: version.to_string(),
                base64: false,
                expiration_ttl: None,
            }]),
        }
    }
}

/// Copy the live feature version from Redis to the edge KV, then make it live there.
///
/// A full sync: the live model, when Redis holds one (`trainer publish --model-only
/// --to-redis`), then every key of the version Redis serves (`rsn:current`) in bulk batches,
/// the version's meta last; each is switched live on the edge once copied. Until
/// then the edge serves what it served; a run killed midway is completed by running it again
/// (writes are idempotent). Sinks: the Worker's authenticated bulk endpoint (the admin token
/// from RESONANCE_ADMIN_TOKEN), or the Cloudflare KV REST API (account, namespace and token
/// from CLOUDFLARE_ACCOUNT_ID, CLOUDFLARE_KV_NAMESPACE_ID, CLOUDFLARE_API_TOKEN). Both are
/// retried with backoff on 429 (honouring Retry-After) and 5xx.
#[derive(Args)]
pub struct MirrorArgs {
    /// Copy the whole live version once.
    #[arg(long, conflicts_with = "follow")]
    pub full: bool,
    /// Keep running: mirror every version `trainer materialize` makes live, from the change
    /// stream (a Redis consumer group; resumes where a killed run stopped).
    #[arg(long)]
    pub follow: bool,
    /// With --follow: this mirror's name in the consumer group.
    #[arg(long, value_name = "NAME", default_value = "mirror-1")]
    pub consumer: String,
    /// With --follow: stop after this many seconds without a new version (default: never).
    #[arg(long, value_name = "SECONDS")]
    pub idle_exit: Option<u64>,
    /// Redis to read from.
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379/0")]
    pub redis_url: String,
    /// Where to write.
    #[arg(long, value_enum, default_value_t = SinkKind::Worker)]
    pub sink: SinkKind,
    /// The Worker's base URL (`--sink worker`).
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:8787")]
    pub worker: String,
    /// Pairs per bulk request: at most 1000 for the Worker, 10000 for Cloudflare
    /// (default: 500 and 10000).
    #[arg(long, value_name = "N")]
    pub batch_size: Option<usize>,
    /// The Worker's admin token (`--sink worker`).
    #[arg(long, env = "RESONANCE_ADMIN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

pub fn run(args: MirrorArgs) -> Result<()> {
    if !args.full && !args.follow {
        bail!("say --full (copy the live version once) or --follow (keep mirroring new versions)");
    }
    let sink = match args.sink {
        SinkKind::Worker => {
            let token = args.token.as_deref().context(
                "the Worker sink needs the admin token: set RESONANCE_ADMIN_TOKEN (or --token)",
            )?;
            let sink = WorkerSink::new(&args.worker, token)?;
            sink.health()?;
            Sink::Worker(sink)
        }
        SinkKind::Cloudflare => Sink::Cloudflare(CloudflareKv::from_env()?),
    };
    let batch_size = args.batch_size.unwrap_or(match args.sink {
        SinkKind::Worker => 500,
        SinkKind::Cloudflare => kv_rest::MAX_BULK_PAIRS,
    });
    if batch_size == 0 || batch_size > sink.max_batch() {
        bail!(
            "--batch-size must be 1–{}, got {batch_size}",
            sink.max_batch()
        );
    }
    let target = match args.sink {
        SinkKind::Worker => args.worker.clone(),
        SinkKind::Cloudflare => "Cloudflare KV".to_string(),
    };
    let mut store = FeatureStore::connect(&args.redis_url)?;
    if args.follow {
        return follow(&args, &mut store, &sink, batch_size, &target);
    }
    let Some(version) = store.current()? else {
        bail!("Redis has no live feature version (rsn:current): run `trainer materialize` first");
    };
    mirror_model(&mut store, &sink, None, &target)?;
    mirror_version(&mut store, &sink, version, batch_size, &target)
}

/// Copies the live model (if Redis has one; only `only`, when given) and switches the sink
/// to it. Chunks go as base64, as they are stored.
fn mirror_model(
    store: &mut FeatureStore,
    sink: &Sink,
    only: Option<&str>,
    target: &str,
) -> Result<()> {
    let Some(StoredModel { version, pairs }) = store.current_model()? else {
        return Ok(());
    };
    if only.is_some_and(|wanted| wanted != version) {
        println!(
            "skipped model {}: superseded (live: {version})",
            only.unwrap_or_default()
        );
        return Ok(());
    }
    if sink.serves_model(&version)? {
        println!("model {version} is already live on {target}");
        return Ok(());
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
    // Chunks are up to 512 KiB each: a few per request.
    for batch in writes.chunks(8) {
        sink.write(batch)?;
    }
    sink.switch_model(&version)?;
    println!(
        "mirrored model {version} to {target} ({} keys); live there now",
        writes.len()
    );
    Ok(())
}

/// `--follow`: mirror each version `materialize` makes live, as its change record arrives.
///
/// The records are read with a consumer group and acknowledged only after the edge switched
/// to the version, so a mirror killed at any point finds its record pending when it starts
/// again and mirrors that version again. A record whose version is no longer live (a newer
/// one followed) is acknowledged without copying: the newer record carries the newer version.
fn follow(
    args: &MirrorArgs,
    store: &mut FeatureStore,
    sink: &Sink,
    batch_size: usize,
    target: &str,
) -> Result<()> {
    store.join_changes(GROUP)?;
    println!(
        "following {} as {}/{}",
        crate::store::CHANGES,
        GROUP,
        args.consumer
    );
    let mut idle_since = Instant::now();
    // Our own pending records first (a previous run died before acknowledging them).
    let mut pending = true;
    loop {
        let records = store.read_changes(GROUP, &args.consumer, pending)?;
        if pending && records.is_empty() {
            pending = false;
            continue;
        }
        if records.is_empty() {
            if args
                .idle_exit
                .is_some_and(|s| idle_since.elapsed().as_secs_f64() >= s as f64)
            {
                println!(
                    "no new version for {} s; stopping",
                    args.idle_exit.unwrap_or(0)
                );
                return Ok(());
            }
            continue;
        }
        for (id, change) in records {
            match change {
                Change::Model(model) => mirror_model(store, sink, Some(&model), target)?,
                Change::Features(version) => match store.current()? {
                    Some(live) if live == version => {
                        mirror_version(store, sink, version, batch_size, target)?;
                    }
                    live => println!(
                        "skipped version {version}: superseded (live: {})",
                        live.map_or("none".into(), |v| v.to_string())
                    ),
                },
            }
            store.ack_change(GROUP, &id)?;
        }
        idle_since = Instant::now();
    }
}

/// Copies one version to the sink, meta last, then switches the sink to it.
fn mirror_version(
    store: &mut FeatureStore,
    sink: &Sink,
    version: resonance_shared::keys::FeatureVersion,
    batch_size: usize,
    target: &str,
) -> Result<()> {
    let began = Instant::now();
    let bar = ProgressBar::new_spinner().with_style(
        ProgressStyle::with_template("mirroring {pos} keys  {per_sec}  {elapsed}")
            .expect("the template is valid"),
    );
    let mut bytes = 0usize;
    let keys = store.read_version(version, batch_size, |pairs| {
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
        "mirrored feature version {version} to {target}: {keys} keys, {:.1} MiB in {seconds:.1} s ({:.0} keys/s); live there now",
        bytes as f64 / (1024.0 * 1024.0),
        keys as f64 / seconds.max(1e-9)
    );
    Ok(())
}
