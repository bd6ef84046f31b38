//! The model artifact's `manifest.json` (`docs/DESIGN.md`, "The model artifact"): what the trainer
//! writes beside `sasrec.onnx` and what every reader (the Worker, the browser module, the
//! feature store) checks before trusting the files.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::mixer::MixWeights;
use crate::validate::FieldError;

/// The manifest layout version; readers reject any other.
pub const MANIFEST_SCHEMA: u32 = 1;

/// `manifest.json` of a model artifact: its version, hyperparameters, vocabulary, metrics, file
/// digests and the shapes of the ONNX graph and the embedding table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelManifest {
    /// The layout version, [`MANIFEST_SCHEMA`].
    pub schema: u32,
    /// Always `sasrec`.
    pub model: String,
    /// The model version, such as `20261126-1` (see [`crate::keys::validate_model_version`]).
    pub version: String,
    /// RFC 3339.
    pub created_at: String,
    /// How the model was built and trained.
    pub hyperparameters: Hyperparameters,
    /// Tracks in the vocabulary; the embedding table has `num_items + 1` rows.
    pub num_items: usize,
    /// Embedding row of each track; row 0 is padding.
    pub track_to_idx: BTreeMap<String, u32>,
    /// Track of each embedding row; `idx_to_track[0]` is `""` (padding).
    pub idx_to_track: Vec<String>,
    /// Held-out metrics, keyed by what was measured, each naming its protocol.
    pub metrics: serde_json::Value,
    /// SHA-256 (hex) and size of every file of the artifact.
    pub files: BTreeMap<String, FileDigest>,
    /// The ONNX graph's file and signature.
    pub onnx: OnnxSignature,
    /// The item-embedding table's file and shape.
    pub embeddings: EmbeddingTable,
    /// Where it came from: its run and the model current when it was exported (absent in
    /// manifests written before lineage was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lineage: Option<Lineage>,
    /// The hybrid's mix for this model, tuned on its validation split by `trainer eval`: what
    /// a rerank without `weights` gets. Absent (a manifest written before tuning, or an
    /// evaluation without it): the edge's default, 0.7 / 0.3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mix: Option<MixWeights>,
}

/// A model's origin, for the registry: which run trained it and which model it was meant to
/// replace (current when it was exported, so the one the gate compared it with).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lineage {
    /// The run folder it was exported from, as given to `trainer export`.
    pub run: String,
    /// The model `CURRENT` named at export, if any.
    pub parent: Option<String>,
}

/// The model's and the training run's settings, recorded for reproducibility.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hyperparameters {
    /// Embedding and hidden size (d).
    pub d_model: usize,
    /// Attention heads.
    pub heads: usize,
    /// Self-attention blocks.
    pub layers: usize,
    /// Tracks of history the model reads (L).
    pub max_len: usize,
    /// Dropout rate during training, in [0, 1).
    pub dropout: f64,
    /// Standard deviation of the embedding initialisation.
    pub init_std: f64,
    /// Epochs trained before stopping (early stopping may end before the limit).
    pub epochs_run: usize,
    /// The epoch, from 1, whose weights were kept (best validation NDCG@10).
    pub best_epoch: usize,
    /// Training windows per batch.
    pub batch_size: usize,
    /// Adam's learning rate.
    pub learning_rate: f64,
    /// The seed of the initialisation, shuffling and negative sampling.
    pub seed: u64,
    /// The training loss, described in words (e.g. binary cross-entropy with one negative).
    pub loss: String,
    /// Whether skips counted as interactions in the training sequences (and so in the history).
    pub include_skips: bool,
}

/// The checksum and size of one file of the artifact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileDigest {
    /// SHA-256 of the file's bytes, lowercase hex.
    pub sha256: String,
    /// The file's size in bytes.
    pub bytes: u64,
}

/// One input or output of the ONNX graph; a dimension is a number or a symbolic name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TensorSignature {
    /// The graph's name for the tensor.
    pub name: String,
    /// The element type, e.g. `float32`.
    pub dtype: String,
    /// One entry per dimension: a number, or a symbolic name such as `batch`.
    pub shape: Vec<String>,
}

/// The ONNX graph's file, opset and inputs and outputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OnnxSignature {
    /// The graph's file name within the artifact.
    pub file: String,
    /// The ONNX opset version the graph uses.
    pub opset: i64,
    /// The graph's inputs, in order.
    pub inputs: Vec<TensorSignature>,
    /// The graph's outputs, in order.
    pub outputs: Vec<TensorSignature>,
}

/// The item-embedding table: raw little-endian f32, row-major `[rows, dim]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingTable {
    /// The table's file name within the artifact.
    pub file: String,
    /// `num_items + 1`: row 0 is padding.
    pub rows: usize,
    /// The embedding size, `d_model`.
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
        validate_mix(self.mix.as_ref())
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
    /// The layout version, [`PUBLISHED_MODEL_SCHEMA`].
    pub schema: u32,
    /// Always `sasrec`.
    pub model: String,
    /// The model version.
    pub version: String,
    /// When the artifact was exported, RFC 3339.
    pub created_at: String,
    /// Embedding and hidden size (d): the width of the graph's inputs.
    pub d_model: usize,
    /// Tracks of history the graph reads (L).
    pub max_len: usize,
    /// The ONNX file's size in bytes.
    pub onnx_bytes: usize,
    /// SHA-256 of the whole ONNX file, lowercase hex.
    pub onnx_sha256: String,
    /// Chunks the ONNX file is split into: `ceil(onnx_bytes / MODEL_CHUNK_BYTES)`.
    pub chunks: usize,
    /// The artifact's held-out metrics, copied from its manifest.
    #[serde(default)]
    pub metrics: serde_json::Value,
    /// Embedding keys (`rsn:model:{v}:embedding:{track}`, one per track of its vocabulary)
    /// written before this manifest; `None` when published without them (before layout 2),
    /// so no version of layout 2 may go live with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embeddings: Option<usize>,
    /// The model's mix ([`ModelManifest::mix`]); absent: 0.7 / 0.3. A Worker older than this
    /// field ignores it and mixes 0.7 / 0.3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mix: Option<MixWeights>,
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
            embeddings: Some(manifest.num_items),
            mix: manifest.mix,
        }
    }

    /// Checks the schema, the version, the sizes and the chunk count; the error names the field.
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
        validate_mix(self.mix.as_ref())
    }

    /// The mix a rerank without `weights` gets with this model.
    pub fn default_mix(&self) -> MixWeights {
        self.mix.unwrap_or_default()
    }
}

/// A model's mix, if it has one, is a valid one; the error names `mix.…`.
fn validate_mix(mix: Option<&MixWeights>) -> Result<(), FieldError> {
    mix.map_or(Ok(()), |mix| {
        mix.validate()
            .map_err(|e| FieldError::new(e.field.replacen("weights", "mix", 1), e.message))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn published(mix: Option<MixWeights>) -> PublishedModel {
        PublishedModel {
            schema: PUBLISHED_MODEL_SCHEMA,
            model: "sasrec".into(),
            version: "m-1".into(),
            created_at: "2026-12-03T00:00:00Z".into(),
            d_model: 8,
            max_len: 4,
            onnx_bytes: 10,
            onnx_sha256: "a".repeat(64),
            chunks: 1,
            metrics: serde_json::Value::Null,
            embeddings: Some(3),
            mix,
        }
    }

    #[test]
    fn a_model_without_a_mix_mixes_by_default_and_a_bad_mix_is_refused_by_name() {
        let old = published(None);
        old.validate().unwrap();
        assert_eq!(old.default_mix(), MixWeights::default());
        assert!(
            !serde_json::to_string(&old).unwrap().contains("mix"),
            "an old model's manifest keeps its shape"
        );
        let tuned = MixWeights {
            transformer: 0.85,
            heuristic: 0.15,
        };
        let read: PublishedModel =
            serde_json::from_str(&serde_json::to_string(&published(Some(tuned))).unwrap()).unwrap();
        assert_eq!(read.default_mix(), tuned);
        let negative = published(Some(MixWeights {
            transformer: 0.5,
            heuristic: -0.1,
        }));
        assert_eq!(negative.validate().unwrap_err().field, "mix.heuristic");
        let zero = published(Some(MixWeights {
            transformer: 0.0,
            heuristic: 0.0,
        }));
        assert_eq!(zero.validate().unwrap_err().field, "mix");
    }
}
