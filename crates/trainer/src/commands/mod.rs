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
pub mod snapshot;
pub mod stats;
pub mod status;
pub mod synth;
pub mod train;

use anyhow::Result;
use resonance_data::Dataset;
use resonance_featurestore::graphs::{self, Attached};
use resonance_featurestore::store::FeatureStore;
use resonance_featurestore::views::{self, FeatureSet, ModelEmbeddings};
use resonance_registry::ModelArtifact;

use crate::choices::GraphSourceArg;
use crate::flags::RedisFlag;

/// The prologue of `materialize`, `publish` and `snapshot`: the views of `dataset` as of
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
