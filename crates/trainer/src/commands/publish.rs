//! `trainer publish`, retired: it wrote a feature version and its model straight into a
//! Worker's KV, a second path to live beside Redis and the mirror, with no record of what the
//! edge held (so nothing it wrote was ever deleted) and no lock against the daily job. A
//! model and its features now reach the edge one way: `trainer daily` (`materialize`, then
//! `mirror --full`). The subcommand stays, hidden, so a script that still calls it fails with
//! the commands to run instead of a usage error.

use anyhow::{Result, bail};
use clap::Args;

/// Retired: use `trainer daily` (or `trainer materialize` then `trainer mirror --full`).
#[derive(Args)]
pub struct PublishArgs {
    /// Whatever the old command was given: not read.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    pub ignored: Vec<String>,
}

/// Refuses, naming the one path to live.
pub fn run(_: PublishArgs) -> Result<()> {
    bail!(
        "`trainer publish` is retired: a model and its features reach the edge one way, through \
         Redis, so the mirror keeps a record of what the edge holds and deletes what is \
         superseded. Run `trainer daily --data DIR --models DIR --worker URL` (it starts from \
         Redis at REDIS_URL; `scripts/redis.sh start` runs one), or its two steps, `trainer \
         materialize` then `trainer mirror --full`"
    )
}
