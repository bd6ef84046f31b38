//! The model artifact's `manifest.json` (`docs/DESIGN.md`, "The model artifact"): what the trainer
//! writes beside `sasrec.onnx` and what every reader (the Worker, the browser module, the
//! feature store) checks before trusting the files.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::validate::FieldError;

/// The manifest layout version; readers reject any other.
pub const MANIFEST_SCHEMA: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelManifest {
    pub schema: u32,
    /// Always `sasrec`.
    pub model: String,
    pub version: String,
    /// RFC 3339.
    pub created_at: String,
    pub hyperparameters: Hyperparameters,
    pub num_items: usize,
    /// Embedding row of each track; row 0 is padding.
    pub track_to_idx: BTreeMap<String, u32>,
    /// Track of each embedding row; `idx_to_track[0]` is `""` (padding).
    pub idx_to_track: Vec<String>,
    /// Held-out metrics, keyed by what was measured, each naming its protocol.
    pub metrics: serde_json::Value,
    /// SHA-256 (hex) and size of every file of the artifact.
    pub files: BTreeMap<String, FileDigest>,
    pub onnx: OnnxSignature,
    pub embeddings: EmbeddingTable,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hyperparameters {
    pub d_model: usize,
    pub heads: usize,
    pub layers: usize,
    pub max_len: usize,
    pub dropout: f64,
    pub init_std: f64,
    pub epochs_run: usize,
    pub best_epoch: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub seed: u64,
    pub loss: String,
    pub include_skips: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileDigest {
    pub sha256: String,
    pub bytes: u64,
}

/// One input or output of the ONNX graph; a dimension is a number or a symbolic name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TensorSignature {
    pub name: String,
    pub dtype: String,
    pub shape: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OnnxSignature {
    pub file: String,
    pub opset: i64,
    pub inputs: Vec<TensorSignature>,
    pub outputs: Vec<TensorSignature>,
}

/// The item-embedding table: raw little-endian f32, row-major `[rows, dim]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingTable {
    pub file: String,
    pub rows: usize,
    pub dim: usize,
}

impl ModelManifest {
    /// Checks the manifest's own consistency; the error names the field.
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.schema != MANIFEST_SCHEMA {
            return Err(FieldError::new(
                "schema",
                format!(
                    "manifest schema {} is not the supported {MANIFEST_SCHEMA}",
                    self.schema
                ),
            ));
        }
        crate::keys::validate_model_version(&self.version)?;
        if self.idx_to_track.len() != self.num_items + 1
            || self.track_to_idx.len() != self.num_items
        {
            return Err(FieldError::new(
                "num_items",
                format!(
                    "{} does not match idx_to_track ({} rows) and track_to_idx ({} tracks)",
                    self.num_items,
                    self.idx_to_track.len(),
                    self.track_to_idx.len()
                ),
            ));
        }
        if let Some((track, &idx)) = self.track_to_idx.iter().find(|(t, i)| {
            self.idx_to_track
                .get(**i as usize)
                .is_none_or(|back| back != *t)
        }) {
            return Err(FieldError::new(
                format!("track_to_idx.{track}"),
                format!("row {idx} does not map back to this track in idx_to_track"),
            ));
        }
        if self.embeddings.rows != self.num_items + 1
            || self.embeddings.dim != self.hyperparameters.d_model
        {
            return Err(FieldError::new(
                "embeddings",
                format!(
                    "[{}, {}] does not match [num_items + 1, d_model] = [{}, {}]",
                    self.embeddings.rows,
                    self.embeddings.dim,
                    self.num_items + 1,
                    self.hyperparameters.d_model
                ),
            ));
        }
        Ok(())
    }
}

/// Schema of [`PublishedModel`].
pub const PUBLISHED_MODEL_SCHEMA: u32 = 1;
/// Largest chunk of a published model, in bytes (KV values are read whole; small chunks keep
/// each read fast and well under every runtime's value limit).
pub const MODEL_CHUNK_BYTES: usize = 512 * 1024;

/// What the edge needs to load a model from its KV, stored under
/// [`crate::keys::model_manifest_key`]: the ONNX file is split into `chunks` values under
/// [`crate::keys::model_chunk_key`], checked against `onnx_sha256` once reassembled.
/// The full [`ModelManifest`] (vocabulary included) stays with the artifact; the edge reads
/// track embeddings from the feature store instead.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PublishedModel {
    pub schema: u32,
    pub model: String,
    pub version: String,
    pub created_at: String,
    pub d_model: usize,
    pub max_len: usize,
    pub onnx_bytes: usize,
    pub onnx_sha256: String,
    pub chunks: usize,
    #[serde(default)]
    pub metrics: serde_json::Value,
}

impl PublishedModel {
    /// Describes `onnx` (already written as chunks of [`MODEL_CHUNK_BYTES`]) for `manifest`.
    pub fn describe(manifest: &ModelManifest, onnx_len: usize, onnx_sha256: String) -> Self {
        Self {
            schema: PUBLISHED_MODEL_SCHEMA,
            model: manifest.model.clone(),
            version: manifest.version.clone(),
            created_at: manifest.created_at.clone(),
            d_model: manifest.hyperparameters.d_model,
            max_len: manifest.hyperparameters.max_len,
            onnx_bytes: onnx_len,
            onnx_sha256,
            chunks: onnx_len.div_ceil(MODEL_CHUNK_BYTES),
            metrics: manifest.metrics.clone(),
        }
    }

    pub fn validate(&self) -> Result<(), FieldError> {
        if self.schema != PUBLISHED_MODEL_SCHEMA {
            return Err(FieldError::new(
                "schema",
                format!(
                    "published model schema {} is not the supported {PUBLISHED_MODEL_SCHEMA}",
                    self.schema
                ),
            ));
        }
        crate::keys::validate_model_version(&self.version)?;
        if self.d_model == 0 || self.max_len == 0 {
            return Err(FieldError::new(
                "d_model",
                "d_model and max_len must be positive",
            ));
        }
        if self.onnx_bytes == 0 || self.chunks != self.onnx_bytes.div_ceil(MODEL_CHUNK_BYTES) {
            return Err(FieldError::new(
                "chunks",
                format!(
                    "{} chunks cannot hold {} bytes in chunks of {MODEL_CHUNK_BYTES}",
                    self.chunks, self.onnx_bytes
                ),
            ));
        }
        let hex =
            self.onnx_sha256.len() == 64 && self.onnx_sha256.bytes().all(|b| b.is_ascii_hexdigit());
        if !hex {
            return Err(FieldError::new("onnx_sha256", "must be 64 hex digits"));
        }
        Ok(())
    }
}
