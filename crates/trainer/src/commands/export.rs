//! `trainer export`: publish a trained, evaluated run as `model/<version>/`, and make it
//! current when it passes the gate.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Args;
use resonance_registry::catalog;
use resonance_train::export::{self, default_version};

use super::models::{GateFlags, promote_checked};

/// Export a run as a model artifact, and make it current if it is not worse than the current one.
///
/// Writes `<models>/<version>/` with manifest.json (vocabulary, hyperparameters, test
/// metrics, SHA-256 of each file, the ONNX signature), sasrec.onnx (the graph the edge runs:
/// history and candidate embeddings in, scores out), the burn weights and the item-embedding
/// table, under a temporary name then renamed. Then the gate: the new version's NDCG@10 with
/// the scorer the edge serves (hybrid, full catalogue) against the current model's, on the
/// same data and split; a drop of more than --max-regression leaves it a candidate
/// (`trainer models promote VERSION --force` overrides, with a reason) and fails the run, so
/// a weekly job stops before it materializes a worse model. Passing, `<models>/CURRENT` is
/// switched to it and the move is recorded in `<models>/audit.jsonl`.
#[derive(Args)]
pub struct ExportArgs {
    /// The run folder (trained by `trainer train`, evaluated by `trainer eval`).
    #[arg(long, value_name = "DIR")]
    pub run: PathBuf,
    /// The models folder.
    #[arg(long, value_name = "DIR")]
    pub models: PathBuf,
    /// The model version to write (default: the time, YYYYMMDD-HHMMSS).
    #[arg(long, value_name = "VERSION")]
    pub model_version: Option<String>,
    /// Replace the version if it already exists.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub gate: GateFlags,
}

/// Exports the run, then promotes it through the gate.
pub fn run(args: ExportArgs) -> Result<()> {
    export_and_promote(
        &args.run,
        &args.models,
        args.model_version,
        args.force,
        &args.gate,
    )
    .map(|_| ())
}

/// Exports `run` into `models` (its lineage: the run and the model current now), then makes
/// it current through the gate; a refusal is an error with both figures. Returns the version.
pub fn export_and_promote(
    run: &Path,
    models: &Path,
    version: Option<String>,
    replace: bool,
    gate: &GateFlags,
) -> Result<String> {
    let version = version.unwrap_or_else(default_version);
    let parent = catalog::current(models)?;
    let out = export::export_run(run, models, &version, replace, parent.as_deref())?;
    println!("exported {}", out.display());
    let mut entry = catalog::AuditEntry::now("export", &version, None);
    entry.reason = gate.reason.clone();
    promote_checked(models, entry, gate, false)?;
    Ok(version)
}
