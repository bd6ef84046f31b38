//! One module per subcommand: flag definitions (with the `--help` text) and a thin `run`
//! over the library crates.

pub mod daily;
pub mod eval;
pub mod export;
pub mod forget;
pub mod import;
pub mod interest_graph;
pub mod listener_token;
pub mod materialize;
pub mod mirror;
pub mod models;
pub mod publish;
pub mod rerank;
pub mod retrain;
pub mod rollback;
pub mod snapshot;
pub mod staging;
pub mod stats;
pub mod status;
pub mod synth;
pub mod train;

use std::collections::HashMap;

use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};
use resonance_data::Dataset;
use resonance_edge::SequenceScorer;
use resonance_edge::tract::TractModel;
use resonance_featurestore::graphs::{self, Attached};
use resonance_featurestore::states::EncodedState;
use resonance_featurestore::store::FeatureStore;
use resonance_featurestore::views::{self, FeatureSet, ModelEmbeddings};
use resonance_registry::ModelArtifact;
use resonance_shared::state::{history_fingerprint, history_tail};

use crate::choices::GraphSourceArg;
use crate::flags::RedisFlag;

/// The prologue of `materialize` and `snapshot`: the views of `dataset` as of
/// `as_of` with `artifact`'s embeddings, and the users' interest graphs from `source`.
fn views_with_graphs(
    dataset: &Dataset,
    artifact: &ModelArtifact,
    as_of: i64,
    source: GraphSourceArg,
    store: Option<&mut FeatureStore>,
    redis: &RedisFlag,
) -> Result<(FeatureSet, Attached)> {
    let mut set = views::compute(dataset, as_of, Some(&ModelEmbeddings::of(artifact)));
    let attached = graphs::attach(
        source.into(),
        &mut set,
        dataset,
        as_of,
        store,
        redis.redis_url.as_deref(),
    )?;
    Ok((set, attached))
}

/// The encoder states of `artifact`'s model for the listeners of `set` whose history is not the
/// one `known` (user → fingerprint) says their stored state encoded, on every core, with a
/// progress bar. Listeners none of whose last L tracks the model knows get none.
fn encode_states(
    artifact: &ModelArtifact,
    set: &FeatureSet,
    known: &HashMap<String, String>,
) -> Result<Vec<EncodedState>> {
    let model = TractModel::from_onnx(&artifact.onnx)?;
    let dim = artifact.manifest.embeddings.dim;
    // Row 0 is padding; row i is idx_to_track[i].
    let rows: HashMap<&str, &[f32]> = artifact
        .manifest
        .idx_to_track
        .iter()
        .zip(artifact.embeddings.chunks_exact(dim))
        .skip(1)
        .map(|(id, row)| (id.as_str(), row))
        .collect();
    let listeners: Vec<(&str, &[String])> = set
        .users
        .iter()
        .map(|(id, user)| (id.as_str(), user.history.tracks.as_slice()))
        .filter(|(id, history)| {
            let tail = history_tail(history, model.max_len());
            !tail.is_empty() && known.get(*id) != Some(&history_fingerprint(tail))
        })
        .collect();
    let bar = ProgressBar::new(listeners.len() as u64).with_style(
        ProgressStyle::with_template(
            "encoding listener states {bar:30} {pos}/{len}  {per_sec}  ETA {eta}",
        )
        .expect("the template is valid"),
    );
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let embedding = |id: &str| rows.get(id).copied();
    let states =
        resonance_edge::states::encode_states(&model, &embedding, &listeners, threads, &|n| {
            bar.set_position(n as u64)
        })?;
    bar.finish_and_clear();
    Ok(states
        .into_iter()
        .map(|(user, state)| EncodedState {
            user: user.to_string(),
            fingerprint: state.history.clone(),
            value: state.encode(),
        })
        .collect())
}
