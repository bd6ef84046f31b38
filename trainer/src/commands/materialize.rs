//! `trainer materialize`: compute the feature views and publish them into Redis as a new
//! version, switched live in one step.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Result, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use resonance_shared::features::FeatureSetMeta;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::artifact::ModelArtifact;
use crate::data::{self, read::BadRowPolicy};
use crate::features::{self, ModelEmbeddings};
use crate::interest::{self, GraphSource};
use crate::store::FeatureStore;

/// Compute the feature views from events and catalogue, and publish them into Redis.
///
/// Every view is computed as of `--as-of` (7- and 30-day windows end there; nothing after it
/// is read, so a backfill is reproducible): user listening stats, audio preferences and
/// recent history; track audio features with the model's embeddings, and popularity. They
/// Users carry the interest graphs `trainer interest-graph` stored (--interest-graphs).
/// They are written under a new version `rsn:v{N}:` in pipelines, then `rsn:current` is switched
/// to it in one step. A run that fails or is killed midway leaves the live version as it
/// was; its half-written keys expire after 6 hours. The previous version is kept until the
/// next switch; older ones are deleted.
#[derive(Args)]
pub struct MaterializeArgs {
    /// The dataset folder (catalogue.csv, events.csv).
    #[arg(long, value_name = "DIR", default_value = "data/synth")]
    pub data: PathBuf,
    /// The models folder: track embeddings come from the model `<models>/CURRENT` names.
    #[arg(long, value_name = "DIR", default_value = "model")]
    pub models: PathBuf,
    /// The end of every window: RFC 3339 or unix seconds (default: the last event).
    #[arg(long, value_name = "TIME")]
    pub as_of: Option<String>,
    /// The version to write (default: the current unix time).
    #[arg(long, value_name = "N")]
    pub feature_version: Option<u64>,
    /// Redis to write to.
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379/0")]
    pub redis_url: String,
    /// Where the users' interest graphs come from: those `trainer interest-graph` stored in
    /// Redis, graphs built now offline, or none.
    #[arg(long, value_enum, value_name = "SOURCE", default_value = "redis")]
    pub interest_graphs: GraphSource,
    /// Keys per pipelined round trip (1–10000).
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub batch_size: usize,
}

pub fn run(args: MaterializeArgs) -> Result<()> {
    if args.batch_size == 0 || args.batch_size > 10_000 {
        bail!("--batch-size must be 1–10000, got {}", args.batch_size);
    }
    let began = Instant::now();
    // Connect first: a Redis that is down fails the run before minutes of work.
    let mut store = FeatureStore::connect(&args.redis_url)?;
    let (dataset, _) = data::load(&args.data, BadRowPolicy::Stop)?;
    let artifact = ModelArtifact::open(&args.models, None)?;
    let as_of = features::resolve_as_of(args.as_of.as_deref(), &dataset)?;
    let now = OffsetDateTime::now_utc();
    let version = features::resolve_version(args.feature_version, now.unix_timestamp())?;
    let computed = Instant::now();
    let mut set = features::compute(&dataset, as_of, Some(&ModelEmbeddings::of(&artifact)));
    let compute_seconds = computed.elapsed().as_secs_f64();
    let graphs = interest::attach(
        args.interest_graphs,
        &mut set,
        &dataset,
        as_of,
        Some(&mut store),
        &args.redis_url,
    )?;
    println!("{graphs}");
    let meta = FeatureSetMeta {
        version: version.0,
        as_of: OffsetDateTime::from_unix_timestamp(as_of)?.format(&Rfc3339)?,
        created_at: now.format(&Rfc3339)?,
        users: set.users.len(),
        tracks: set.tracks.len(),
        model_version: Some(artifact.manifest.version.clone()),
    };

    let pairs: Vec<(String, String)> = set.stored_pairs(version).collect();
    let bar = ProgressBar::new(pairs.len() as u64 + 1).with_style(
        ProgressStyle::with_template("writing {bar:30} {pos}/{len} keys  {per_sec}  ETA {eta}")
            .expect("the template is valid"),
    );
    let written = store.publish(version, pairs.into_iter(), &meta, args.batch_size, |n| {
        bar.inc(n as u64)
    })?;
    bar.finish_and_clear();
    let seconds = began.elapsed().as_secs_f64();
    println!(
        "materialized feature version {version} as of {}: {} users, {} tracks, {} keys, {:.1} MiB \
         from {} events in {seconds:.1} s ({:.0} events/s computing, {compute_seconds:.1} s of it)",
        meta.as_of,
        set.users.len(),
        set.tracks.len(),
        written.keys,
        written.bytes as f64 / (1024.0 * 1024.0),
        dataset.events.len(),
        dataset.events.len() as f64 / compute_seconds.max(1e-9),
    );
    match written.previous {
        Some(previous) => println!("live: {version} (previous {previous} kept)"),
        None => println!("live: {version}"),
    }
    if !written.deleted.is_empty() {
        println!("deleted older versions: {:?}", written.deleted);
    }
    Ok(())
}
