//! One module per subcommand: flag definitions (with the `--help` text) and a thin `run`
//! over the library modules.

pub mod eval;
pub mod export;
pub mod import;
pub mod interest_graph;
pub mod materialize;
pub mod mirror;
pub mod publish;
pub mod rerank;
pub mod snapshot;
pub mod stats;
pub mod synth;
pub mod train;
