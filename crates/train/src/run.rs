//! The run folder `trainer train` writes and `trainer eval` / `trainer export` read:
//!
//! ```text
//! run.json             hyperparameters, training options, data, what was dropped, best epoch
//! vocabulary.json      the track of each embedding row (row 0 is padding)
//! sasrec.bpk           the best epoch's weights (burnpack)
//! metrics.jsonl        one line per epoch: loss, validation HR/NDCG@10, seconds, sequences/s
//! training_curve.svg   loss per epoch, validation NDCG@10 against training seconds
//! evaluation.json      test metrics of SASRec and the baselines (written by `trainer eval`)
//! ```

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::module::Module;
use burn::tensor::Device;
use resonance_sasrec::{SasRec, SasRecConfig};
use serde::{Deserialize, Serialize};

use super::plot;
use super::sequences::{SequencePolicy, Vocabulary};
use super::train::{EpochRecord, TrainOptions};
use resonance_data::atomic::{publish_dir, write_file};

/// The run's [`RunInfo`], as JSON.
pub const RUN_FILE: &str = "run.json";
/// The run's [`Vocabulary`], as JSON.
pub const VOCABULARY_FILE: &str = "vocabulary.json";
/// The same file name in a run and in an exported model.
pub use resonance_registry::WEIGHTS_FILE;
/// One [`EpochRecord`] per line, as JSON.
pub const METRICS_FILE: &str = "metrics.jsonl";
/// The training curve (see [`plot::training_curve`]).
pub const CURVE_FILE: &str = "training_curve.svg";
/// The test metrics of SASRec and the baselines (see [`crate::evaluation`]).
pub const EVALUATION_FILE: &str = "evaluation.json";

/// What a run was and did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunInfo {
    /// The dataset folder trained on.
    pub data: PathBuf,
    /// Only events up to this instant (unix seconds) were read (`--as-of`); evaluation reads
    /// the same, so a backfill never sees its own future.
    #[serde(default)]
    pub as_of: Option<i64>,
    /// The model's hyperparameters.
    pub model: SasRecConfig,
    /// How it was trained.
    pub options: TrainOptions,
    /// Which events made up the sequences.
    pub policy: SequencePolicy,
    /// Where it trained, e.g. `cpu (flex)` or `gpu (wgpu)`.
    pub device: String,
    /// Users with sequences long enough to split.
    pub users: usize,
    /// Users left out for having fewer than 3 interactions.
    pub dropped_short_users: usize,
    /// Training windows per epoch.
    pub training_windows: usize,
    /// Epochs trained (early stopping may end before the limit).
    pub epochs_run: usize,
    /// The epoch, from 1, whose weights were kept.
    pub best_epoch: usize,
    /// When training finished, RFC 3339.
    pub created_at: String,
}

/// A finished run, about to be written.
pub struct FinishedRun<'a> {
    /// What the run was and did.
    pub info: &'a RunInfo,
    /// The track of each embedding row.
    pub vocabulary: &'a Vocabulary,
    /// The best epoch's weights.
    pub model: &'a SasRec,
    /// Every epoch's record, in order.
    pub epochs: &'a [EpochRecord],
}

/// Writes the run folder atomically.
pub fn save(out: &Path, replace: bool, run: FinishedRun<'_>) -> Result<()> {
    publish_dir(out, replace, |dir| {
        write_file(&dir.join(RUN_FILE), |w| {
            Ok(serde_json::to_writer_pretty(w, run.info)?)
        })?;
        write_file(&dir.join(VOCABULARY_FILE), |w| {
            Ok(serde_json::to_writer(w, &run.vocabulary.idx_to_track)?)
        })?;
        write_file(&dir.join(METRICS_FILE), |w| {
            for e in run.epochs {
                serde_json::to_writer(&mut *w, e)?;
                w.write_all(b"\n")?;
            }
            Ok(())
        })?;
        run.model
            .clone()
            .save_file(dir.join(WEIGHTS_FILE))
            .map_err(|e| anyhow::anyhow!("cannot save the weights: {e:?}"))?;
        let title = format!(
            "SASRec on {} (best epoch {})",
            run.info.data.display(),
            run.info.best_epoch
        );
        plot::training_curve(
            &dir.join(CURVE_FILE),
            run.epochs,
            run.info.best_epoch,
            &title,
        )
    })
}

/// A run read back: its description, vocabulary and weights (in inference mode).
pub struct LoadedRun {
    /// What the run was and did.
    pub info: RunInfo,
    /// The track of each embedding row.
    pub vocabulary: Vocabulary,
    /// The best epoch's weights, in inference mode.
    pub model: SasRec,
}

/// Loads a run folder, checking that the weights match the description.
pub fn load(dir: &Path, device: &Device) -> Result<LoadedRun> {
    let read = |name: &str| {
        fs::read_to_string(dir.join(name)).with_context(|| {
            format!(
                "{} is not a complete run folder (no {name}); run `trainer train` first",
                dir.display()
            )
        })
    };
    let info: RunInfo = serde_json::from_str(&read(RUN_FILE)?)
        .with_context(|| format!("{}: malformed", dir.join(RUN_FILE).display()))?;
    let rows: Vec<String> = serde_json::from_str(&read(VOCABULARY_FILE)?)
        .with_context(|| format!("{}: malformed", dir.join(VOCABULARY_FILE).display()))?;
    if rows.len() != info.model.num_items + 1 {
        bail!(
            "{}: {} rows, but run.json says num_items = {} (expected {} rows with padding)",
            dir.join(VOCABULARY_FILE).display(),
            rows.len(),
            info.model.num_items,
            info.model.num_items + 1
        );
    }
    info.model
        .check()
        .map_err(|e| anyhow::anyhow!("{}: {e}", dir.join(RUN_FILE).display()))?;
    let weights = dir.join(WEIGHTS_FILE);
    let model = info.model.init(device).try_load_file(&weights).map_err(|e| {
        anyhow::anyhow!(
            "{}: the checkpoint is corrupted or does not match the hyperparameters in run.json ({e:?})",
            weights.display()
        )
    })?;
    Ok(LoadedRun {
        info,
        vocabulary: Vocabulary::from_rows(rows),
        model: model.valid(),
    })
}
