//! `trainer mirror`: copy the live feature version from Redis to the edge KV (the engine is
//! `resonance_featurestore::mirror`).

use std::time::Duration;

use anyhow::Result;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use resonance_featurestore::mirror::{Mirror, Synced};
use resonance_featurestore::sinks::cloudflare;

use crate::flags::{EdgeFlags, RedisFlag, SinkKind};

/// Copy the live state from Redis to the edge KV, make it live there, delete what it replaced.
///
/// The live state is the feature version Redis serves (`rsn:current`) and the model its meta
/// names (its track embeddings are that model's). A sync copies the model when the edge does
/// not hold it, then every key of the version in bulk batches, its meta last, then switches
/// the edge to the version, which goes live there with its model. Until then the edge serves
/// what it served; a run killed midway is completed by running it again (writes are
/// idempotent). The edge keeps the live and the previous state; older ones are deleted
/// after --grace seconds (the meta first, so they can no longer go live), from the mirror's
/// own record of what it wrote. Sinks: the Worker's authenticated bulk endpoint (the admin token
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
    pub edge: EdgeFlags,
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
    if args.follow {
        return with_mirror(&args.redis, &args.edge, args.batch_size, false, |mirror| {
            mirror.follow(&args.consumer, args.idle_exit.map(Duration::from_secs))
        });
    }
    let synced = sync(&args.redis, &args.edge, args.batch_size, args.json)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&synced)?);
    }
    staged_outcome(&synced)
}

/// Fails when the staged model could not be put at the edge, after the live state was
/// synced: a cron line sees it, though what is live is whole.
pub fn staged_outcome(synced: &Synced) -> Result<()> {
    match &synced.staged_error {
        Some(e) => {
            anyhow::bail!("the live state is synced, but the staged model is not at the edge: {e}")
        }
        None => Ok(()),
    }
}

/// One `--full` sync: the live state in Redis copied to the edge and made live there, then
/// the clean-up. `quiet` keeps stdout for a JSON summary.
pub fn sync(
    redis: &RedisFlag,
    edge: &EdgeFlags,
    batch_size: Option<usize>,
    quiet: bool,
) -> Result<Synced> {
    with_mirror(redis, edge, batch_size, quiet, |mirror| mirror.full())
}

/// Connects the sink and the store and hands `work` a mirror that reports on the terminal.
fn with_mirror<T>(
    redis: &RedisFlag,
    edge: &EdgeFlags,
    batch_size: Option<usize>,
    quiet: bool,
    work: impl FnOnce(&mut Mirror) -> Result<T>,
) -> Result<T> {
    let (sink, _) = edge.sink.connect()?;
    let batch_size = batch_size.unwrap_or(match edge.sink.sink {
        SinkKind::Worker => 500,
        SinkKind::Cloudflare => cloudflare::MAX_BULK_PAIRS,
    });
    let bar = ProgressBar::new_spinner().with_style(
        ProgressStyle::with_template("mirroring {pos} keys  {per_sec}  {elapsed}")
            .expect("the template is valid"),
    );
    let log = |line: &str| {
        if !quiet {
            bar.suspend(|| println!("{line}"));
        }
    };
    let mut mirror = Mirror {
        store: &mut redis.connect()?,
        sink: sink.as_ref(),
        batch_size,
        log: &log,
        progress: &|n| bar.set_position(n),
        grace: Duration::from_secs(edge.grace),
    };
    let outcome = work(&mut mirror);
    bar.finish_and_clear();
    outcome
}
