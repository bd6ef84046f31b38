//! `trainer publish`: compute the feature views and push them, with the model, straight into
//! a Worker's KV through its admin API, then make both live.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use base64::Engine;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use resonance_edge::admin::MAX_BULK_PAIRS;
use resonance_edge::publication::{self, sha256_hex};
use resonance_shared::api::KvWrite;
use resonance_shared::features::FeatureSetMeta;
use resonance_shared::keys;
use resonance_shared::manifest::PublishedModel;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::artifact::ModelArtifact;
use crate::data::{self, read::BadRowPolicy};
use crate::edge_sink::WorkerSink;
use crate::features::{self, ModelEmbeddings};
use crate::interest::{self, GraphSource};

/// Publish a model and the feature views of a dataset to a Worker (e.g. `wrangler dev`).
///
/// Computes every stored view as of `--as-of` (user listening stats, audio preferences and
/// recent history; track audio features with the model's embeddings, and popularity), writes
/// them under a new feature version with the model's ONNX chunks, then switches the model
/// pointer (the Worker loads and verifies it first) and the feature pointer. Until the switch,
/// the Worker keeps serving what it served before; a failure midway changes nothing live.
///
/// The admin token is read from RESONANCE_ADMIN_TOKEN.
#[derive(Args)]
pub struct PublishArgs {
    /// The dataset folder (catalogue.csv, events.csv).
    #[arg(long, value_name = "DIR", default_value = "data/synth")]
    pub data: PathBuf,
    /// The models folder written by `trainer export`.
    #[arg(long, value_name = "DIR", default_value = "model")]
    pub models: PathBuf,
    /// The model version to publish (default: the one `<models>/CURRENT` names).
    #[arg(long, value_name = "VERSION")]
    pub model_version: Option<String>,
    /// The Worker's base URL.
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:8787")]
    pub worker: String,
    /// The end of every feature window: RFC 3339 or unix seconds (default: the last event).
    #[arg(long, value_name = "TIME")]
    pub as_of: Option<String>,
    /// The feature version to write (default: the current unix time).
    #[arg(long, value_name = "N")]
    pub feature_version: Option<u64>,
    /// Pairs per bulk request (at most 1000, the Worker's limit).
    #[arg(long, value_name = "N", default_value_t = 500)]
    pub batch_size: usize,
    /// Publish the model alone; the features then come from Redis (`trainer materialize`,
    /// then `trainer mirror --full`).
    #[arg(long)]
    pub model_only: bool,
    /// With --model-only: publish into the feature store (Redis, `REDIS_URL`) instead of the
    /// Worker; `trainer mirror` then carries it to the edge with the features.
    #[arg(long, requires = "model_only")]
    pub to_redis: bool,
    /// Redis, for --to-redis.
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379/0")]
    pub redis_url: String,
    /// Where the users' interest graphs come from: built now offline, those
    /// `trainer interest-graph` stored in Redis (--redis-url), or none.
    #[arg(long, value_enum, value_name = "SOURCE", default_value = "offline")]
    pub interest_graphs: GraphSource,
    /// The Worker's admin token (not needed with --to-redis).
    #[arg(long, env = "RESONANCE_ADMIN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

pub fn run(args: PublishArgs) -> Result<()> {
    if args.batch_size == 0 || args.batch_size > MAX_BULK_PAIRS {
        bail!(
            "--batch-size must be 1–{MAX_BULK_PAIRS}, got {}",
            args.batch_size
        );
    }
    let began = Instant::now();
    let artifact = ModelArtifact::open(&args.models, args.model_version.as_deref())?;
    if args.model_only {
        return publish_model(&args, &artifact, began);
    }
    let (dataset, _) = data::load(&args.data, BadRowPolicy::Stop)?;
    let as_of = features::resolve_as_of(args.as_of.as_deref(), &dataset)?;
    let now = OffsetDateTime::now_utc();
    let version = features::resolve_version(args.feature_version, now.unix_timestamp())?;

    let manifest = &artifact.manifest;
    let embeddings = ModelEmbeddings::of(&artifact);
    let mut set = features::compute(&dataset, as_of, Some(&embeddings));
    let graphs = interest::attach(
        args.interest_graphs,
        &mut set,
        &dataset,
        as_of,
        None,
        &args.redis_url,
    )?;
    println!("{graphs}");

    let mut pairs = model_pairs(&artifact);
    let model_keys = pairs.len();
    pairs.extend(set.stored_pairs(version).map(|(key, value)| KvWrite {
        key,
        value,
        base64: false,
        expiration_ttl: None,
    }));
    // The meta key goes last: its presence marks the version complete.
    let meta = FeatureSetMeta {
        version: version.0,
        as_of: format_time(as_of)?,
        created_at: now.format(&Rfc3339)?,
        users: set.users.len(),
        tracks: set.tracks.len(),
        model_version: Some(manifest.version.clone()),
    };
    pairs.push(KvWrite {
        key: version.meta_key(),
        value: serde_json::to_string(&meta)?,
        base64: false,
        expiration_ttl: None,
    });
    let bytes: usize = pairs.iter().map(|p| p.key.len() + p.value.len()).sum();

    let sink = WorkerSink::new(&args.worker, token(&args)?)?;
    let before = sink.health()?;
    let bar = ProgressBar::new(pairs.len() as u64).with_style(
        ProgressStyle::with_template("publishing {bar:30} {pos}/{len} keys  {per_sec}  ETA {eta}")
            .expect("the template is valid"),
    );
    for batch in pairs.chunks(args.batch_size) {
        sink.write(batch)?;
        bar.inc(batch.len() as u64);
    }
    bar.finish_and_clear();
    sink.switch_model(&manifest.version)?;
    sink.switch_features(version.0)?;
    let after = sink.health()?;
    println!(
        "published model {} ({model_keys} keys) and feature version {version} ({} users, {} tracks, as of {}) to {}",
        manifest.version,
        set.users.len(),
        set.tracks.len(),
        meta.as_of,
        args.worker
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

/// `--model-only`: the model's chunks and manifest, then the switch (the Worker verifies it).
fn publish_model(args: &PublishArgs, artifact: &ModelArtifact, began: Instant) -> Result<()> {
    let pairs = model_pairs(artifact);
    if args.to_redis {
        let mut store = crate::store::FeatureStore::connect(&args.redis_url)?;
        let entries = pairs.iter().map(|p| (p.key.clone(), p.value.clone()));
        store.publish_model(&artifact.manifest.version, entries.collect())?;
        println!(
            "published model {} ({} keys) into Redis at {} in {:.1} s; `trainer mirror` takes it to the edge",
            artifact.manifest.version,
            pairs.len(),
            args.redis_url,
            began.elapsed().as_secs_f64()
        );
        return Ok(());
    }
    let sink = WorkerSink::new(&args.worker, token(args)?)?;
    sink.health()?;
    for batch in pairs.chunks(args.batch_size) {
        sink.write(batch)?;
    }
    sink.switch_model(&artifact.manifest.version)?;
    println!(
        "published model {} ({} keys) to {} in {:.1} s",
        artifact.manifest.version,
        pairs.len(),
        args.worker,
        began.elapsed().as_secs_f64()
    );
    Ok(())
}

fn token(args: &PublishArgs) -> Result<&str> {
    args.token
        .as_deref()
        .context("the Worker's admin token is needed: set RESONANCE_ADMIN_TOKEN (or --token)")
}

/// The model's chunks (base64) and its edge manifest.
fn model_pairs(artifact: &ModelArtifact) -> Vec<KvWrite> {
    let version = &artifact.manifest.version;
    let mut pairs: Vec<KvWrite> = publication::split(&artifact.onnx)
        .enumerate()
        .map(|(i, chunk)| KvWrite {
            key: keys::model_chunk_key(version, i),
            value: base64::engine::general_purpose::STANDARD.encode(chunk),
            base64: true,
            expiration_ttl: None,
        })
        .collect();
    let published = PublishedModel::describe(
        &artifact.manifest,
        artifact.onnx.len(),
        sha256_hex(&artifact.onnx),
    );
    pairs.push(KvWrite {
        key: keys::model_manifest_key(version),
        value: serde_json::to_string(&published).expect("the manifest serialises"),
        base64: false,
        expiration_ttl: None,
    });
    pairs
}

fn format_time(unix: i64) -> Result<String> {
    Ok(OffsetDateTime::from_unix_timestamp(unix)?.format(&Rfc3339)?)
}
