//! `trainer publish`: compute the feature views and push them, with the model, straight into
//! a Worker's KV through its admin API, then make both live.

use std::time::Instant;

use anyhow::Result;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use resonance_edge::admin::MAX_BULK_PAIRS;
use resonance_shared::api::KvWrite;
use time::OffsetDateTime;

use crate::choices::GraphSourceArg;
use crate::flags::{
    AdminTokenFlag, DataFlag, ModelChoiceFlags, RedisFlag, SnapshotFlags, WorkerFlag,
};
use resonance_featurestore::sinks::EdgeSink;
use resonance_featurestore::sinks::worker::WorkerSink;
use resonance_featurestore::{publication, views};
use resonance_shared::keys::{self, FeatureVersion};

/// Publish a model and the feature views of a dataset to a Worker (e.g. `wrangler dev`).
///
/// Computes every stored view as of `--as-of` (user listening stats, audio preferences and
/// recent history; track audio features with the model's embeddings, and popularity), writes
/// them under a new feature version with the model's ONNX chunks, then switches the Worker to
/// the version, which goes live with the model its meta names (the Worker loads and verifies
/// both first). Until the switch, the Worker keeps serving what it served before; a failure
/// midway changes nothing live.
///
/// The admin token is read from RESONANCE_ADMIN_TOKEN.
#[derive(Args)]
pub struct PublishArgs {
    #[command(flatten)]
    pub data: DataFlag,
    #[command(flatten)]
    pub model: ModelChoiceFlags,
    #[command(flatten)]
    pub worker: WorkerFlag,
    #[command(flatten)]
    pub snapshot: SnapshotFlags,
    /// Pairs per bulk request (at most 1000, the Worker's limit).
    #[arg(long, value_name = "N", default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..=MAX_BULK_PAIRS as u64))]
    pub batch_size: u64,
    /// Removed: a model goes live only with the feature version that holds its embeddings.
    #[arg(long, hide = true)]
    pub model_only: bool,
    /// Removed with --model-only.
    #[arg(long, hide = true)]
    pub to_redis: bool,
    /// Redis, for --interest-graphs redis.
    #[command(flatten)]
    pub redis: RedisFlag,
    /// Where the users' interest graphs come from: built now offline, those
    /// `trainer interest-graph` stored in Redis (--redis-url), or none.
    #[arg(long, value_enum, value_name = "SOURCE", default_value = "offline")]
    pub interest_graphs: GraphSourceArg,
    /// The Worker's admin token (not needed with --to-redis).
    #[command(flatten)]
    pub token: AdminTokenFlag,
}

/// Writes the model and the views to the Worker, then switches both.
pub fn run(args: PublishArgs) -> Result<()> {
    let began = Instant::now();
    if args.model_only || args.to_redis {
        anyhow::bail!(
            "--model-only and --to-redis are gone: a model goes live only with a feature version \
             materialized with its embeddings. Through Redis: `trainer materialize --models DIR` \
             (it writes the model into Redis too), then `trainer mirror --full`; straight to a \
             Worker: `trainer publish` without --model-only"
        );
    }
    // Whole versions: a Worker keeps no record of what changed since the last one.
    let layout = args
        .snapshot
        .layout
        .or(resonance_shared::features::SCHEMA_VERSION);
    if layout >= resonance_shared::versioned::VERSIONED_LAYOUT {
        anyhow::bail!(
            "--layout 3 writes only what changed since the version before, which needs Redis's \
             records: `trainer materialize --layout 3`, then `trainer mirror --full`; `publish` \
             writes whole versions (--layout 1 or 2)"
        );
    }
    // Ask the Worker first: it is the only record of what it serves (there is no Redis here).
    let sink = WorkerSink::new(args.worker.require()?, args.token.require()?)?;
    let before = sink.health()?;
    let artifact = args.model.open()?;
    let dataset = args.data.load()?;
    let now = OffsetDateTime::now_utc();
    let as_of = args.snapshot.as_of(&dataset)?;
    // Versions only increase, whatever this host's clock says (DESIGN §4, versioning).
    let live = before.features_version;
    let version = match args.snapshot.feature_version {
        Some(requested) => {
            let version = views::resolve_version(Some(requested), 0)?;
            if let Some(live) = live.filter(|live| version.0 <= *live) {
                anyhow::bail!(
                    "--feature-version {version} is not newer than {live}, the version the Worker \
                     serves: versions only increase (omit it for the next one)"
                );
            }
            version
        }
        None => FeatureVersion(
            (now.unix_timestamp().max(1) as u64).max(live.map_or(0, |live| live + 1)),
        ),
    };
    let manifest = &artifact.manifest;
    let (set, graphs) = super::views_with_graphs(
        &dataset,
        &artifact,
        as_of,
        args.interest_graphs,
        None,
        &args.redis,
    )?;
    println!("{}", graphs.describe(args.interest_graphs.into()));

    let stored: Vec<(String, String)> = set.stored_pairs(version, layout).collect();
    let meta = publication::meta(
        version,
        &set,
        layout,
        &stored,
        as_of,
        now,
        &manifest.version,
    )?;
    let mut pairs = publication::model_pairs(&artifact);
    let model_keys = pairs.len();
    // Every listener's state for the model (the Worker keeps no record of which it holds).
    if layout >= 2 {
        let states = super::encode_states(&artifact, &set, &Default::default())?;
        pairs.extend(states.into_iter().map(|s| KvWrite {
            key: keys::model_state_key(&manifest.version, &s.user),
            value: s.value,
            base64: false,
            expiration_ttl: None,
        }));
    }
    pairs.extend(stored.into_iter().map(|(key, value)| KvWrite {
        key,
        value,
        base64: false,
        expiration_ttl: None,
    }));
    // The meta key goes last: its presence marks the version complete.
    pairs.push(KvWrite {
        key: version.meta_key(),
        value: serde_json::to_string(&meta)?,
        base64: false,
        expiration_ttl: None,
    });
    let bytes: usize = pairs.iter().map(|p| p.key.len() + p.value.len()).sum();

    let bar = ProgressBar::new(pairs.len() as u64).with_style(
        ProgressStyle::with_template("publishing {bar:30} {pos}/{len} keys  {per_sec}  ETA {eta}")
            .expect("the template is valid"),
    );
    for batch in pairs.chunks(args.batch_size as usize) {
        sink.write(batch)?;
        bar.inc(batch.len() as u64);
    }
    bar.finish_and_clear();
    sink.stage_model(&manifest.version)?;
    sink.switch_features(version.0, &manifest.version)?;
    let after = sink.health()?;
    println!(
        "published model {} ({model_keys} keys) and feature version {version} ({} users, {} tracks, as of {}) to {}",
        manifest.version,
        set.users.len(),
        set.tracks.len(),
        meta.as_of,
        args.worker.require()?
    );
    println!(
        "  {} keys, {:.1} MiB in {:.1} s; the Worker served model {:?} / features {:?}, now {:?} / {:?}",
        pairs.len(),
        bytes as f64 / (1024.0 * 1024.0),
        began.elapsed().as_secs_f64(),
        before.model_version,
        before.features_version,
        after.model_version,
        after.features_version
    );
    Ok(())
}
