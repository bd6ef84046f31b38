//! `trainer daily`: the daily job in one command, `materialize` then `mirror --full`.

use anyhow::Result;
use clap::Args;

use super::materialize::{self, MaterializeArgs};
use super::mirror;
use crate::flags::EdgeFlags;

/// The daily job: materialize a new feature version into Redis and mirror it to the edge.
///
/// The same steps as `trainer materialize` then `trainer mirror --full`, with their flags:
/// the views as of --as-of under a new version (with the embeddings of the model
/// `<models>/CURRENT` names, so a model promoted since the last run goes live with it), made
/// live in Redis, then copied to the edge and made live there; superseded states are deleted
/// after --grace. The edge is checked before anything is written, so a Worker that does not
/// answer fails the job before it publishes. A job killed anywhere leaves the edge serving a
/// consistent state; running it again completes it (a second run while one materializes
/// fails at once, naming the holder of the lock).
#[derive(Args)]
pub struct DailyArgs {
    #[command(flatten)]
    pub materialize: MaterializeArgs,
    #[command(flatten)]
    pub edge: EdgeFlags,
    /// Pairs per bulk request to the edge: at most 1000 for the Worker, 10000 for Cloudflare
    /// (default: 500 and 10000).
    #[arg(long, value_name = "N")]
    pub edge_batch_size: Option<usize>,
}

pub fn run(args: DailyArgs) -> Result<()> {
    args.edge.sink.connect()?;
    let materialized = materialize::publish(&args.materialize)?;
    let mirrored = mirror::sync(
        &args.materialize.redis,
        &args.edge,
        args.edge_batch_size,
        args.materialize.json,
    )?;
    if args.materialize.json {
        let summary = serde_json::json!({ "materialized": materialized, "mirrored": mirrored });
        println!("{}", serde_json::to_string_pretty(&summary)?);
    }
    mirror::staged_outcome(&mirrored)
}
