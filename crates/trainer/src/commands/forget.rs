//! `trainer forget`: erase one listener from the feature store and the edge (the engine is
//! `resonance_featurestore::erasure`).

use anyhow::Result;
use clap::Args;
use resonance_featurestore::erasure;

use crate::flags::{RedisFlag, SinkFlags};

/// Erase one listener's data from Redis and the edge KV, and keep it from coming back.
///
/// Deletes their value of every feature version (`rsn:v{N}:user:{id}`: plays, skips, stats,
/// audio taste, interest graph) from Redis and from the edge (every version the mirror wrote,
/// every version Redis holds, and the one the Worker serves), their interest graph record,
/// and adds the id to `rsn:forgotten`, which `materialize` and `interest-graph` skip. The edge
/// stops serving the value at once in the isolate that takes the delete, and within a minute
/// (the caches' TTL) everywhere. The music service's own event log is theirs to erase.
#[derive(Args)]
pub struct ForgetArgs {
    /// The listener to erase.
    #[arg(long, value_name = "ID")]
    pub user_id: String,
    #[command(flatten)]
    pub redis: RedisFlag,
    #[command(flatten)]
    pub sink: SinkFlags,
    /// Print a JSON summary (the keys deleted) instead of the prose line.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: ForgetArgs) -> Result<()> {
    resonance_shared::validate::id("--user-id", &args.user_id)?;
    let (sink, edge_live) = args.sink.connect()?;
    let mut store = args.redis.connect()?;
    let erased = erasure::forget(&mut store, sink.as_ref(), &args.user_id, edge_live)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&erased)?);
    } else {
        println!(
            "forgot {}: {} keys deleted from Redis, {} from {} (one per feature version, and their state in each model); \
             materialize skips them from now on",
            erased.user_id,
            erased.redis_keys.len(),
            erased.edge_keys.len(),
            sink.target()
        );
    }
    Ok(())
}
