//! `trainer retrain`: the weekly job in one command: train, eval, export through the gate,
//! then publish the new model with its embeddings through Redis and the mirror.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use resonance_train::export::default_version;

use super::eval::{self, EvalArgs};
use super::export::export_and_promote;
use super::materialize::{self, MaterializeArgs};
use super::mirror;
use super::models::GateFlags;
use super::train::{self, TrainArgs};
use crate::choices::GraphSourceArg;
use crate::flags::{DataFlag, EdgeFlags, LayoutFlag, ModelsFlag, RedisFlag, SnapshotFlags};

/// The weekly job: train a new model, and put it live only if the gate passes it.
///
/// In order, stopping at the first failure: `trainer train` (with its flags, into
/// --out, default <runs>/<model version>), `trainer eval`, `trainer export` (the gate: the new
/// model's hybrid NDCG@10 against the current one's on the same held-out split; a drop of
/// more than --max-regression leaves it a candidate and ends the job with both figures,
/// nothing published), then `trainer materialize` (a feature version with the new model's
/// embeddings) and `trainer mirror --full` (the model and that version go live at the edge
/// together). Redis and the edge are checked before training starts, so an hour of training
/// is not lost to a wrong URL.
#[derive(Args)]
pub struct RetrainArgs {
    #[command(flatten)]
    pub train: TrainArgs,
    #[command(flatten)]
    pub models: ModelsFlag,
    /// The folder of run folders: the run goes into <runs>/<model version> unless --out.
    #[arg(long, value_name = "DIR", default_value = "runs")]
    pub runs: PathBuf,
    /// The new model's version (default: the time, YYYYMMDD-HHMMSS).
    #[arg(long, value_name = "VERSION")]
    pub model_version: Option<String>,
    #[command(flatten)]
    pub gate: GateFlags,
    /// The feature version to write (default: the current unix time, or one above the newest
    /// version in Redis, when that is higher).
    #[arg(long, value_name = "N")]
    pub feature_version: Option<u64>,
    #[command(flatten)]
    pub layout: LayoutFlag,
    #[command(flatten)]
    pub redis: RedisFlag,
    /// Where the users' interest graphs come from (as `trainer materialize`).
    #[arg(long, value_enum, value_name = "SOURCE", default_value = "redis")]
    pub interest_graphs: GraphSourceArg,
    #[command(flatten)]
    pub edge: EdgeFlags,
    /// Pairs per bulk request to the edge (default: 500 for the Worker, 10000 for Cloudflare).
    #[arg(long, value_name = "N")]
    pub edge_batch_size: Option<usize>,
}

pub fn run(args: RetrainArgs) -> Result<()> {
    // Fail before training, not after it.
    args.redis.connect()?;
    args.edge.sink.connect()?;
    let version = args.model_version.clone().unwrap_or_else(default_version);
    let out = args
        .train
        .out
        .clone()
        .unwrap_or_else(|| args.runs.join(&version));
    train::train_into(&args.train, &out)?;
    eval::run(EvalArgs {
        run: out.clone(),
        data: Some(args.train.data.clone()),
        seed: eval::SAMPLING_SEED,
        skip_bad: args.train.skip_bad,
        mix: None,
    })?;
    export_and_promote(
        &out,
        &args.models.models,
        Some(version.clone()),
        false,
        &args.gate,
    )
    .with_context(|| {
        format!("retrain stopped before publishing: {version} is not current, the live state is unchanged")
    })?;
    materialize::publish(&MaterializeArgs {
        data: DataFlag {
            data: args.train.data.clone(),
        },
        models: args.models.clone(),
        snapshot: SnapshotFlags {
            as_of: args.train.as_of.clone(),
            feature_version: args.feature_version,
            layout: args.layout,
        },
        redis: args.redis.clone(),
        interest_graphs: args.interest_graphs,
        batch_size: materialize::DEFAULT_BATCH_SIZE,
        json: false,
    })?;
    let synced = mirror::sync(&args.redis, &args.edge, args.edge_batch_size, false)?;
    println!("retrained: {version} is live with its embeddings");
    mirror::staged_outcome(&synced)
}
