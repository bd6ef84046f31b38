//! The model artifact `model/<version>/` (`docs/DESIGN.md`, "The model artifact"):
//!
//! ```text
//! manifest.json         hyperparameters, vocabulary, metrics, the mix, SHA-256 of every file, ONNX signature
//! sasrec.onnx           the serving graph (embeddings in, scores out)
//! sasrec.bpk            the burn weights it came from
//! item_embeddings.f32   the item-embedding table, little-endian f32 [num_items + 1, d]
//! ```
//!
//! Written to a temporary folder and renamed, so a crash at any point leaves nothing half
//! written; `model/CURRENT` is the registry's to move (`resonance_registry::catalog`).

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use resonance_sasrec::onnx;
use resonance_shared::keys::validate_model_version;
use resonance_shared::manifest::{
    EmbeddingTable, FileDigest, Hyperparameters, Lineage, MANIFEST_SCHEMA, ModelManifest,
    OnnxSignature, TensorSignature,
};
use resonance_shared::mixer::MixWeights;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::run::{LoadedRun, WEIGHTS_FILE};
use resonance_data::atomic::{publish_dir, write_file};

pub use resonance_registry::{CURRENT_POINTER, EMBEDDINGS_FILE, MANIFEST_FILE, ONNX_FILE};

/// A version from the clock: `YYYYMMDD-HHMMSS`.
pub fn default_version() -> String {
    let now = OffsetDateTime::now_utc();
    format!(
        "{:04}{:02}{:02}-{:02}{:02}{:02}",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    )
}

/// Writes `models/<version>/` from a run and its evaluation (a candidate: making it current
/// is the registry's, behind its gate: `resonance_registry::catalog`).
pub fn export(
    run_dir: &Path,
    run: &LoadedRun,
    metrics: serde_json::Value,
    models: &Path,
    version: &str,
    replace: bool,
    parent: Option<&str>,
) -> Result<PathBuf> {
    validate_model_version(version)
        .map_err(|e| anyhow::anyhow!("--model-version: {}", e.message))?;
    let out = models.join(version);
    let model = &run.model;
    let (d_model, max_len) = (model.d_model(), model.max_len());
    let table = model
        .item_embedding
        .weight
        .val()
        .try_into_vec_as::<f32>()
        .map_err(|e| anyhow::anyhow!("cannot read the embedding table: {e:?}"))?;
    let onnx_bytes = onnx::export(model, env!("CARGO_PKG_VERSION"));
    // The mix `trainer eval` chose becomes the model's default; an evaluation from before
    // tuning has none, and the model mixes 0.7 / 0.3.
    let mix = match metrics.get("mix") {
        None | Some(serde_json::Value::Null) => None,
        Some(value) => Some(
            serde_json::from_value::<MixWeights>(value.clone())
                .map_err(|e| anyhow::anyhow!("the evaluation's mix is malformed: {e}"))?,
        ),
    };

    publish_dir(&out, replace, |dir| {
        write_file(&dir.join(ONNX_FILE), |w| Ok(w.write_all(&onnx_bytes)?))?;
        write_file(&dir.join(EMBEDDINGS_FILE), |w| {
            for v in &table {
                w.write_all(&v.to_le_bytes())?;
            }
            Ok(())
        })?;
        fs::copy(run_dir.join(WEIGHTS_FILE), dir.join(WEIGHTS_FILE))
            .with_context(|| format!("cannot copy {}", run_dir.join(WEIGHTS_FILE).display()))?;
        let mut files = BTreeMap::new();
        for name in [ONNX_FILE, EMBEDDINGS_FILE, WEIGHTS_FILE] {
            let bytes = fs::read(dir.join(name))?;
            files.insert(
                name.to_string(),
                FileDigest {
                    sha256: hex::encode(Sha256::digest(&bytes)),
                    bytes: bytes.len() as u64,
                },
            );
        }
        let info = &run.info;
        let [history, mask, candidates, scores, user_state] = onnx::signature(max_len, d_model);
        let signature = |(name, shape): (&str, Vec<String>)| TensorSignature {
            name: name.into(),
            dtype: "float32".into(),
            shape,
        };
        let manifest = ModelManifest {
            schema: MANIFEST_SCHEMA,
            model: "sasrec".into(),
            version: version.into(),
            created_at: OffsetDateTime::now_utc().format(&Rfc3339)?,
            hyperparameters: Hyperparameters {
                d_model,
                heads: info.model.heads,
                layers: info.model.layers,
                max_len,
                dropout: info.model.dropout,
                init_std: info.model.init_std,
                epochs_run: info.epochs_run,
                best_epoch: info.best_epoch,
                batch_size: info.options.batch_size,
                learning_rate: info.options.learning_rate,
                seed: info.options.seed,
                loss: info.options.loss.describe(info.options.negatives),
                include_skips: info.policy.include_skips,
            },
            num_items: run.vocabulary.num_items(),
            track_to_idx: run
                .vocabulary
                .track_to_idx()
                .into_iter()
                .map(|(t, i)| (t.to_string(), i))
                .collect(),
            idx_to_track: run.vocabulary.idx_to_track.clone(),
            metrics,
            files,
            onnx: OnnxSignature {
                file: ONNX_FILE.into(),
                opset: onnx::OPSET,
                inputs: vec![signature(history), signature(mask), signature(candidates)],
                outputs: vec![signature(scores), signature(user_state)],
            },
            embeddings: EmbeddingTable {
                file: EMBEDDINGS_FILE.into(),
                rows: run.vocabulary.num_items() + 1,
                dim: d_model,
            },
            lineage: Some(Lineage {
                // Absolute, so `models gc` finds the run whatever folder it runs from.
                run: run_dir
                    .canonicalize()
                    .unwrap_or_else(|_| run_dir.to_path_buf())
                    .display()
                    .to_string(),
                parent: parent.map(String::from),
            }),
            mix,
        };
        manifest
            .validate()
            .map_err(|e| anyhow::anyhow!("the manifest is inconsistent: {e}"))?;
        write_file(&dir.join(MANIFEST_FILE), |w| {
            Ok(serde_json::to_writer_pretty(w, &manifest)?)
        })
    })?;
    Ok(out)
}

/// Exports the run in `run_dir`, which must be evaluated (its `evaluation.json` becomes the
/// manifest's metrics), as `models/<version>/`.
pub fn export_run(
    run_dir: &Path,
    models: &Path,
    version: &str,
    replace: bool,
    parent: Option<&str>,
) -> Result<PathBuf> {
    let evaluation_path = run_dir.join(super::run::EVALUATION_FILE);
    let text = fs::read_to_string(&evaluation_path).with_context(|| {
        format!(
            "{} is missing; run `trainer eval --run {}` first",
            evaluation_path.display(),
            run_dir.display()
        )
    })?;
    let evaluation: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{}: malformed", evaluation_path.display()))?;
    let loaded = super::run::load(run_dir, &burn::tensor::Device::flex())?;
    export(
        run_dir, &loaded, evaluation, models, version, replace, parent,
    )
}

/// An exported model read back for scoring: its burn weights (`sasrec.bpk`) with the shape and
/// vocabulary of its manifest, in inference mode.
pub fn load_exported(
    dir: &Path,
    manifest: &ModelManifest,
) -> Result<(resonance_sasrec::SasRec, crate::sequences::Vocabulary)> {
    use burn::module::Module;
    let h = &manifest.hyperparameters;
    let config = resonance_sasrec::SasRecConfig {
        num_items: manifest.num_items,
        max_len: h.max_len,
        d_model: h.d_model,
        heads: h.heads,
        layers: h.layers,
        dropout: h.dropout,
        init_std: h.init_std,
    };
    let weights = dir.join(super::run::WEIGHTS_FILE);
    let model = config
        .init(&burn::tensor::Device::flex())
        .try_load_file(&weights)
        .map_err(|e| {
            anyhow::anyhow!("{}: does not match its manifest ({e:?})", weights.display())
        })?;
    Ok((
        model.valid(),
        crate::sequences::Vocabulary::from_rows(manifest.idx_to_track.clone()),
    ))
}
