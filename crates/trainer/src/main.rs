//! # trainer
//!
//! The native half of Resonance: it makes and checks the data everything else learns from.
//!
//! ```text
//! trainer data synth   --out data/synth           a seeded, realistic synthetic music world
//! trainer data import  --format recbole …         MovieLens (RecBole atomic files) or any CSV
//! trainer data stats   --data data/synth          what a dataset holds
//! trainer train        --data data/synth          SASRec → runs/sasrec/
//! trainer eval         --run runs/sasrec          HR@10, NDCG@10 vs baselines
//! trainer export       --run runs/sasrec          model/<version>/ (ONNX, manifest), current if the gate passes
//! trainer models list|show|promote|rollback       the registry: stages, the gate, the audit trail
//! trainer interest-graph --all-users         interest graphs (LLM or offline) → Redis
//! trainer materialize                       feature views (+ graphs) → Redis, a new version
//! trainer mirror --full                     Redis → the edge KV (the live state; superseded ones deleted)
//! trainer status                            what is live in Redis and at the edge; exit 1 when they disagree
//! trainer publish      --worker URL               features + model → the Worker's KV, made live
//! trainer rerank       --worker URL               rerank a sample through the Worker, as a table
//! ```
//!
//! Each command validates its flags and files and says which field of which line is wrong.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod choices;
mod commands;
mod flags;

/// Resonance trainer: build the data, the model and the features behind the edge reranker.
#[derive(Parser)]
#[command(version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Make, import and inspect datasets (a catalogue.csv and an events.csv in one folder).
    #[command(subcommand)]
    Data(DataCommand),
    Train(commands::train::TrainArgs),
    Eval(commands::eval::EvalArgs),
    Export(commands::export::ExportArgs),
    Models(commands::models::ModelsArgs),
    InterestGraph(commands::interest_graph::InterestGraphArgs),
    Materialize(commands::materialize::MaterializeArgs),
    Mirror(commands::mirror::MirrorArgs),
    Status(commands::status::StatusArgs),
    Publish(commands::publish::PublishArgs),
    Rerank(commands::rerank::RerankArgs),
    ListenerToken(commands::listener_token::ListenerTokenArgs),
    Forget(commands::forget::ForgetArgs),
    Snapshot(commands::snapshot::SnapshotArgs),
}

#[derive(Subcommand)]
enum DataCommand {
    Synth(commands::synth::SynthArgs),
    Import(commands::import::ImportArgs),
    Stats(commands::stats::StatsArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Data(DataCommand::Synth(args)) => commands::synth::run(args),
        Command::Data(DataCommand::Import(args)) => commands::import::run(args),
        Command::Data(DataCommand::Stats(args)) => commands::stats::run(args),
        Command::Train(args) => commands::train::run(args),
        Command::Eval(args) => commands::eval::run(args),
        Command::Export(args) => commands::export::run(args),
        Command::Models(args) => commands::models::run(args),
        Command::InterestGraph(args) => commands::interest_graph::run(args),
        Command::Materialize(args) => commands::materialize::run(args),
        Command::Mirror(args) => commands::mirror::run(args),
        Command::Status(args) => commands::status::run(args),
        Command::Publish(args) => commands::publish::run(args),
        Command::Rerank(args) => commands::rerank::run(args),
        Command::ListenerToken(args) => commands::listener_token::run(args),
        Command::Forget(args) => commands::forget::run(args),
        Command::Snapshot(args) => commands::snapshot::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    /// clap checks a command line only when it is built: check every subcommand's here, so a
    /// clash (two arguments of one name) fails a test rather than a user.
    #[test]
    fn every_subcommand_is_well_formed() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
