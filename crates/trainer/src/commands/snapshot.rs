//! `trainer snapshot`: the web demo's bundled data, for when no Worker answers.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use resonance_edge::FeatureSnapshot;
use resonance_edge::publication::sha256_hex;
use resonance_shared::features::encode;
use serde_json::json;

use crate::choices::GraphSourceArg;
use crate::flags::{DataFlag, ModelChoiceFlags, RedisFlag};
use resonance_data::atomic::publish_dir;
use resonance_data::candidates;
use resonance_featurestore::views as features;

/// Write the web demo's offline bundle: a model, demo listeners with candidates, and their
/// features.
///
/// The folder gets `model.onnx` (the published graph), `features.json` (a feature snapshot in
/// the KV's own encoding: each listener, their candidates and their history tracks) and
/// `demo.json` (the listeners, their candidate lists, and titles, artists and genres for
/// display). The page reads the same data from the Worker when it runs, and this bundle
/// when it does not. The folder is replaced whole, so a failed run leaves the old one.
#[derive(Args)]
pub struct SnapshotArgs {
    #[command(flatten)]
    pub data: DataFlag,
    #[command(flatten)]
    pub model: ModelChoiceFlags,
    /// Where to write the bundle.
    #[arg(long, value_name = "DIR", default_value = "web-demo/public/demo")]
    pub out: PathBuf,
    /// How many demo listeners (the busiest ones), 1–50.
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=50))]
    pub listeners: u64,
    /// Candidates per listener, 1–500.
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=500))]
    pub candidates: u64,
    /// Where the listeners' interest graphs come from: built now offline, those
    /// `trainer interest-graph` stored in Redis (--redis-url), or none.
    #[arg(long, value_enum, value_name = "SOURCE", default_value = "offline")]
    pub interest_graphs: GraphSourceArg,
    /// Redis, for --interest-graphs redis.
    #[command(flatten)]
    pub redis: RedisFlag,
}

/// Computes the demo listeners' views and writes the bundle.
pub fn run(args: SnapshotArgs) -> Result<()> {
    let dataset = args.data.load()?;
    let artifact = args.model.open()?;
    let as_of = features::resolve_as_of(None, &dataset)?;
    let (set, graphs) = super::views_with_graphs(
        &dataset,
        &artifact,
        as_of,
        args.interest_graphs,
        None,
        &args.redis,
    )?;
    println!("{}", graphs.describe(args.interest_graphs.into()));

    let users = candidates::busiest_listeners(&dataset, args.listeners as usize);
    let mut listeners = Vec::new();
    let mut wanted: HashSet<&str> = HashSet::new();
    for user in &users {
        let list = candidates::sample_candidates(&dataset, user, args.candidates as usize);
        wanted.extend(list.iter().copied());
        listeners.push(json!({ "userId": user, "candidates": list, "hour": 20 }));
    }
    let mut snapshot = FeatureSnapshot {
        feature_version: as_of.max(1) as u64,
        ..Default::default()
    };
    for (id, user) in &set.users {
        if users.contains(id) {
            wanted.extend(user.history.tracks.iter().map(String::as_str));
            snapshot.users.insert(id.clone(), encode(user));
        }
    }
    for (id, track) in &set.tracks {
        if wanted.contains(id.as_str()) {
            snapshot.tracks.insert(id.clone(), encode(track));
        }
    }
    // Names for display: every track the demo listeners ever played, and the candidates.
    let mut named = wanted.clone();
    named.extend(
        dataset
            .events
            .iter()
            .filter(|e| users.contains(&e.user_id))
            .map(|e| e.track_id.as_str()),
    );
    let catalogue: BTreeMap<&str, _> = dataset
        .catalogue
        .iter()
        .filter(|t| named.contains(t.track_id.as_str()))
        .map(|t| {
            let text = json!({ "title": t.title, "artist": t.artist, "genre": t.genre });
            (t.track_id.as_str(), text)
        })
        .collect();
    let demo = json!({
        "modelVersion": artifact.manifest.version,
        // The model's mix (`MixWeights`), which the page mixes with, as the Worker would.
        "modelMix": artifact.manifest.mix.unwrap_or_default(),
        "modelSha256": sha256_hex(&artifact.onnx),
        "featureVersion": snapshot.feature_version,
        "listeners": listeners,
        "catalogue": catalogue,
    });

    let files = [
        ("model.onnx", artifact.onnx.clone()),
        ("features.json", serde_json::to_vec(&snapshot)?),
        ("demo.json", serde_json::to_vec(&demo)?),
    ];
    publish_dir(&args.out, true, |staging| {
        for (name, bytes) in &files {
            let path = staging.join(name);
            fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
        }
        Ok(())
    })?;
    println!(
        "wrote {}: model {}, {} listeners, {} tracks",
        args.out.display(),
        artifact.manifest.version,
        snapshot.users.len(),
        snapshot.tracks.len()
    );
    Ok(())
}
