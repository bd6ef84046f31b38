//! Reading a published model artifact (`model/<version>/`, written by `trainer export`), with
//! every file checked against the SHA-256 in its manifest.
//!
//! This crate is the room of the model registry: the layout of `model/<version>/`, the
//! `CURRENT` pointer, and ([`catalog`]) listing, the promotion gate, rollback and the audit
//! trail, and ([`retention`]) what `trainer models gc` may delete.

pub mod catalog;
pub mod retention;

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use resonance_shared::keys::validate_model_version;
use resonance_shared::manifest::ModelManifest;
use sha2::{Digest, Sha256};

/// The manifest of a version (`ModelManifest` as JSON).
pub const MANIFEST_FILE: &str = "manifest.json";
/// The ONNX graph the edge runs.
pub const ONNX_FILE: &str = "sasrec.onnx";
/// `[num_items + 1, d]` little-endian f32, row 0 padding.
pub const EMBEDDINGS_FILE: &str = "item_embeddings.f32";
/// burn's weights (the browser's WebGPU engine and further training).
pub const WEIGHTS_FILE: &str = "sasrec.bpk";
/// `models/CURRENT` names the live version.
pub const CURRENT_POINTER: &str = "CURRENT";

/// One published model version, read into memory with every file's checksum verified.
pub struct ModelArtifact {
    /// The version's folder, `models/<version>`.
    pub dir: PathBuf,
    /// The validated `manifest.json`.
    pub manifest: ModelManifest,
    /// The bytes of [`ONNX_FILE`].
    pub onnx: Vec<u8>,
    /// `[num_items + 1, d]`, row-major; row 0 is padding.
    pub embeddings: Vec<f32>,
}

impl ModelArtifact {
    /// Opens `models/<version>`, or the version `models/CURRENT` names.
    pub fn open(models: &Path, version: Option<&str>) -> Result<Self> {
        let version = match version {
            Some(v) => v.to_string(),
            None => {
                let pointer = models.join(CURRENT_POINTER);
                fs::read_to_string(&pointer)
                    .with_context(|| {
                        format!(
                            "{} is missing: export a model first (`trainer export`)",
                            pointer.display()
                        )
                    })?
                    .trim()
                    .to_string()
            }
        };
        validate_model_version(&version).map_err(|e| anyhow::anyhow!("model version: {e}"))?;
        let dir = models.join(&version);
        let manifest_path = dir.join(MANIFEST_FILE);
        let manifest: ModelManifest = serde_json::from_str(
            &fs::read_to_string(&manifest_path)
                .with_context(|| format!("cannot read {}", manifest_path.display()))?,
        )
        .with_context(|| format!("{}: malformed", manifest_path.display()))?;
        manifest
            .validate()
            .map_err(|e| anyhow::anyhow!("{}: {e}", manifest_path.display()))?;
        let read = |name: &str| -> Result<Vec<u8>> {
            let path = dir.join(name);
            let bytes =
                fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
            let expected = manifest
                .files
                .get(name)
                .with_context(|| format!("{}: files.{name} is missing", manifest_path.display()))?;
            let found = hex::encode(Sha256::digest(&bytes));
            if found != expected.sha256 {
                bail!(
                    "{} is damaged: SHA-256 {found}, the manifest says {}",
                    path.display(),
                    expected.sha256
                );
            }
            Ok(bytes)
        };
        let onnx = read(ONNX_FILE)?;
        let raw = read(EMBEDDINGS_FILE)?;
        let expected = manifest.embeddings.rows * manifest.embeddings.dim * 4;
        if raw.len() != expected {
            bail!(
                "{}: {} bytes, expected {expected} for [{}, {}] f32",
                EMBEDDINGS_FILE,
                raw.len(),
                manifest.embeddings.rows,
                manifest.embeddings.dim
            );
        }
        let embeddings = raw
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        Ok(Self {
            dir,
            manifest,
            onnx,
            embeddings,
        })
    }
}
