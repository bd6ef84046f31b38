//! `trainer export`: publish a trained, evaluated run as `model/<version>/`.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use resonance_train::export::{self, default_version};

/// Export a run as a model artifact: `<models>/<version>/` with manifest.json (vocabulary,
/// hyperparameters, test metrics, SHA-256 of each file, the ONNX signature), sasrec.onnx (the
/// graph the edge runs: history and candidate embeddings in, scores out), the burn weights and
/// the item-embedding table. The folder is written under a temporary name and renamed, then
/// `<models>/CURRENT` is switched to the new version; a failure leaves the previous model
/// current.
#[derive(Args)]
pub struct ExportArgs {
    /// The run folder (trained by `trainer train`, evaluated by `trainer eval`).
    #[arg(long, value_name = "DIR", default_value = "runs/sasrec")]
    pub run: PathBuf,
    /// The models folder.
    #[arg(long, value_name = "DIR", default_value = "model")]
    pub models: PathBuf,
    /// The model version to write (default: the time, YYYYMMDD-HHMMSS).
    #[arg(long, value_name = "VERSION")]
    pub model_version: Option<String>,
    /// Replace the version if it already exists.
    #[arg(long)]
    pub force: bool,
}

/// Exports the run and says where it went.
pub fn run(args: ExportArgs) -> Result<()> {
    let version = args.model_version.unwrap_or_else(default_version);
    let out = export::export_run(&args.run, &args.models, &version, args.force)?;
    println!(
        "exported {} (now current in {})",
        out.display(),
        args.models.join(export::CURRENT_POINTER).display()
    );
    Ok(())
}
