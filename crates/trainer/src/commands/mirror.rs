//! `trainer mirror`: copy the live feature version from Redis to the edge KV (the engine is
//! `resonance_featurestore::mirror`).

use std::time::Duration;

use anyhow::Result;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use resonance_featurestore::mirror::Mirror;
use resonance_featurestore::sinks::cloudflare;

use crate::flags::{RedisFlag, SinkFlags, SinkKind};

/// Copy the live feature version from Redis to the edge KV, then make it live there.
///
/// A full sync: the live model, when Redis holds one (`trainer publish --model-only
/// --to-redis`), then every key of the version Redis serves (`rsn:current`) in bulk batches,
/// the version's meta last; each is switched live on the edge once copied. Until
/// then the edge serves what it served; a run killed midway is completed by running it again
/// (writes are idempotent). Sinks: the Worker's authenticated bulk endpoint (the admin token
/// from RESONANCE_ADMIN_TOKEN), or the Cloudflare KV REST API (account, namespace and token
/// from CLOUDFLARE_ACCOUNT_ID, CLOUDFLARE_KV_NAMESPACE_ID, CLOUDFLARE_API_TOKEN). Both are
/// retried under one policy: jittered backoff on 408, 409, 429 and 5xx, honouring Retry-After.
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
    #[command(flatten)]
    pub redis: RedisFlag,
    #[command(flatten)]
    pub sink: SinkFlags,
    /// Pairs per bulk request: at most 1000 for the Worker, 10000 for Cloudflare
    /// (default: 500 and 10000).
    #[arg(long, value_name = "N")]
    pub batch_size: Option<usize>,
    /// Print a JSON summary of a `--full` run on stdout instead of the prose lines.
    #[arg(long, conflicts_with = "follow")]
    pub json: bool,
}

/// Connects the sink and the store, then mirrors once or follows.
pub fn run(args: MirrorArgs) -> Result<()> {
    if !args.full && !args.follow {
        anyhow::bail!(
            "say --full (copy the live version once) or --follow (keep mirroring new versions)"
        );
    }
    let (sink, _) = args.sink.connect()?;
    let batch_size = args.batch_size.unwrap_or(match args.sink.sink {
        SinkKind::Worker => 500,
        SinkKind::Cloudflare => cloudflare::MAX_BULK_PAIRS,
    });
    let bar = ProgressBar::new_spinner().with_style(
        ProgressStyle::with_template("mirroring {pos} keys  {per_sec}  {elapsed}")
            .expect("the template is valid"),
    );
    let quiet = args.json;
    let log = |line: &str| {
        if !quiet {
            bar.suspend(|| println!("{line}"));
        }
    };
    let mut mirror = Mirror {
        store: &mut args.redis.connect()?,
        sink: sink.as_ref(),
        batch_size,
        log: &log,
        progress: &|n| bar.set_position(n),
    };
    if args.follow {
        return mirror.follow(&args.consumer, args.idle_exit.map(Duration::from_secs));
    }
    let (model, features) = mirror.full()?;
    bar.finish_and_clear();
    if args.json {
        let summary = serde_json::json!({ "model": model, "features": features });
        println!("{}", serde_json::to_string_pretty(&summary)?);
    }
    Ok(())
}
