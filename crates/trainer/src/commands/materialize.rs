//! `trainer materialize`: compute the feature views and publish them into Redis as a new
//! version, switched live in one step.

use std::time::{Duration, Instant};

use anyhow::Result;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use time::OffsetDateTime;

use crate::choices::GraphSourceArg;
use crate::flags::{DataFlag, ModelsFlag, RedisFlag, SnapshotFlags};
use resonance_featurestore::lock::{self, Lock};
use resonance_featurestore::{publication, views};
use resonance_registry::ModelArtifact;
use resonance_shared::versioned;

/// Compute the feature views from events and catalogue, and publish them into Redis.
///
/// Every view is computed as of `--as-of` (7- and 30-day windows end there; nothing after it
/// is read, so a backfill is reproducible): user listening stats, audio preferences and
/// recent history; track audio features with the model's embeddings, and popularity. They
/// Users carry the interest graphs `trainer interest-graph` stored (--interest-graphs).
/// They are written under a new version `rsn:v{N}:` in pipelines, then `rsn:current` is switched
/// to it in one step; the model whose embeddings they carry is written into Redis with its
/// first version and goes live with it. Versions only increase: N (default: the unix time, or
/// one above the newest version when the clock is behind) must be above every version Redis
/// knows. A run that fails or is killed midway leaves the live version as it was; its
/// half-written keys expire after 6 hours. The previous version is kept; older ones are
/// deleted, once the edge holds them no longer (`trainer mirror` deletes them there first).
#[derive(Args)]
pub struct MaterializeArgs {
    #[command(flatten)]
    pub data: DataFlag,
    /// Track embeddings come from the model `<models>/CURRENT` names.
    #[command(flatten)]
    pub models: ModelsFlag,
    #[command(flatten)]
    pub snapshot: SnapshotFlags,
    #[command(flatten)]
    pub redis: RedisFlag,
    /// Where the users' interest graphs come from: those `trainer interest-graph` stored in
    /// Redis, graphs built now offline, or none.
    #[arg(long, value_enum, value_name = "SOURCE", default_value = "redis")]
    pub interest_graphs: GraphSourceArg,
    /// Keys per pipelined round trip (1–10000).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_BATCH_SIZE, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub batch_size: u64,
    /// Print a JSON summary on stdout instead of the prose lines.
    #[arg(long)]
    pub json: bool,
}

/// Keys per pipelined round trip when a job does not say (`trainer retrain`).
pub const DEFAULT_BATCH_SIZE: u64 = 1000;

/// Computes the views with their graphs and publishes them as a new live version.
pub fn run(args: MaterializeArgs) -> Result<()> {
    let summary = publish(&args)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    }
    Ok(())
}

/// Does the work of `run`, printing the prose lines unless `--json`; returns the summary.
pub fn publish(args: &MaterializeArgs) -> Result<serde_json::Value> {
    let began = Instant::now();
    // Connect first: a Redis that is down fails the run before minutes of work.
    let mut store = args.redis.connect()?;
    // The daily and the weekly job must not publish at once.
    let _lock = Lock::take(
        store.url(),
        lock::MATERIALIZE,
        Duration::from_secs(6 * 3600),
        Duration::ZERO,
    )?;
    let dataset = args.data.load()?;
    let artifact = ModelArtifact::open(&args.models.models, None)?;
    let now = OffsetDateTime::now_utc();
    let as_of = args.snapshot.as_of(&dataset)?;
    // Versions only increase, whatever this host's clock says.
    let version = match args.snapshot.feature_version {
        Some(requested) => views::resolve_version(Some(requested), 0)?,
        None => store.next_version(now.unix_timestamp())?,
    };
    let computed = Instant::now();
    let (mut set, graphs) = super::views_with_graphs(
        &dataset,
        &artifact,
        as_of,
        args.interest_graphs,
        Some(&mut store),
        &args.redis,
    )?;
    // Listeners erased by `trainer forget` stay erased, whatever old events say.
    let forgotten = store.forgotten()?;
    let before = set.users.len();
    set.users.retain(|(id, _)| !forgotten.contains(id));
    let skipped = before - set.users.len();
    let compute_seconds = computed.elapsed().as_secs_f64();
    let layout = args.snapshot.layout.or(versioned::VERSIONED_LAYOUT);
    // Layout 3 writes only what changed (`values`); the others a whole copy a version.
    let pairs: Vec<(String, String)> = if layout >= versioned::VERSIONED_LAYOUT {
        Vec::new()
    } else {
        set.stored_pairs(version, layout).collect()
    };
    let meta = publication::meta(
        version,
        &set,
        layout,
        &pairs,
        as_of,
        now,
        &artifact.manifest.version,
    )?;
    // The model its embeddings come from goes into Redis with it (once), for the mirror.
    let model_pairs = publication::model_pairs(&artifact)
        .into_iter()
        .map(|w| (w.key, w.value))
        .collect();
    let model_version = &artifact.manifest.version;
    let model_written = store.write_model(model_version, model_pairs)?;
    // Before the switch: the listeners whose history changed get their state for the model.
    let states = if layout >= 2 {
        let known = store.state_index(model_version)?;
        let began = Instant::now();
        let states = super::encode_states(&artifact, &set, &known)?;
        store.write_states(model_version, &states, args.batch_size as usize)?;
        serde_json::json!({
            "written": states.len(),
            "alreadyStored": known.len(),
            "seconds": began.elapsed().as_secs_f64(),
        })
    } else {
        serde_json::Value::Null
    };
    let entities = (set.users.len() + set.tracks.len()) as u64;
    let bar = ProgressBar::new(entities + 1).with_style(
        ProgressStyle::with_template("writing {bar:30} {pos}/{len} keys  {per_sec}  ETA {eta}")
            .expect("the template is valid"),
    );
    let batch = args.batch_size as usize;
    let written = if layout >= versioned::VERSIONED_LAYOUT {
        let values = set.entity_values();
        store.publish_changed(version, values, &meta, batch, |n| bar.inc(n as u64))?
    } else {
        store.publish(version, pairs.into_iter(), &meta, batch, |n| {
            bar.inc(n as u64)
        })?
    };
    bar.finish_and_clear();
    let seconds = began.elapsed().as_secs_f64();
    let summary = serde_json::json!({
            "version": version.0,
            "asOf": meta.as_of,
            "users": set.users.len(),
            "forgottenSkipped": skipped,
            "tracks": set.tracks.len(),
            "keys": written.keys,
            "bytes": written.bytes,
            "events": dataset.events.len(),
            "seconds": seconds,
            "previous": written.previous,
            "deleted": written.deleted,
            "modelsDeleted": written.models_deleted,
            "interestGraphs": graphs,
            "modelVersion": artifact.manifest.version,
            "modelWritten": model_written,
            "states": states,
            "layout": layout,
            // Layout 3: the values written, by kind (the others write every one).
            "changed": written.changed.map(|(users, tracks)| serde_json::json!({"users": users, "tracks": tracks})),
    });
    if args.json {
        return Ok(summary);
    }
    println!("{}", graphs.describe(args.interest_graphs.into()));
    if skipped > 0 {
        println!("skipped {skipped} forgotten listeners (rsn:forgotten)");
    }
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
    if let Some(written) = states["written"].as_u64() {
        println!(
            "encoded {written} listener states for model {model_version} (histories that changed) in {:.1} s",
            states["seconds"].as_f64().unwrap_or(0.0)
        );
    }
    match written.previous {
        Some(previous) => println!("live: {version} (previous {previous} kept)"),
        None => println!("live: {version}"),
    }
    if !written.deleted.is_empty() {
        println!("deleted older versions: {:?}", written.deleted);
    }
    if !written.models_deleted.is_empty() {
        println!(
            "deleted older models from Redis: {:?}",
            written.models_deleted
        );
    }
    Ok(summary)
}
