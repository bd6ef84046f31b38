//! Models published into a KV store: the ONNX file in chunks under a versioned key, described
//! by a [`PublishedModel`], made live by switching `rsn:model:current`.
//!
//! A reader reassembles the chunks and checks the SHA-256 before it swaps models, so a chunk
//! that is missing or damaged never replaces a model that works.

use resonance_shared::manifest::{MODEL_CHUNK_BYTES, PublishedModel};
use sha2::{Digest, Sha256};

/// Why a published model could not be reassembled.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PublicationError {
    /// No manifest under the version.
    #[error("model {version} is not published (no manifest)")]
    NotPublished {
        /// The model version.
        version: String,
    },
    /// The manifest does not parse, validate, or match the graph.
    #[error("the manifest of model {version} is invalid: {message}")]
    BadManifest {
        /// The model version.
        version: String,
        /// What is wrong.
        message: String,
    },
    /// A chunk the manifest announces is not stored.
    #[error("model {version}: chunk {index} of {chunks} is missing")]
    MissingChunk {
        /// The model version.
        version: String,
        /// The missing chunk, from 0.
        index: usize,
        /// Chunks announced.
        chunks: usize,
    },
    /// The chunks add up to another size than the manifest's.
    #[error("model {version}: the chunks hold {found} bytes, the manifest says {expected}")]
    WrongSize {
        /// The model version.
        version: String,
        /// Bytes announced.
        expected: usize,
        /// Bytes stored.
        found: usize,
    },
    /// The chunks' SHA-256 is not the manifest's.
    #[error("model {version}: checksum mismatch (manifest {expected}, chunks {found})")]
    Checksum {
        /// The model version.
        version: String,
        /// SHA-256 announced.
        expected: String,
        /// SHA-256 of the chunks.
        found: String,
    },
}

/// SHA-256 of `bytes`, lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(&Sha256::digest(bytes)[..])
}

/// The chunks to store, in order.
pub fn split(onnx: &[u8]) -> impl Iterator<Item = &[u8]> {
    onnx.chunks(MODEL_CHUNK_BYTES)
}

/// Reads a stored manifest.
pub fn parse_manifest(version: &str, text: &str) -> Result<PublishedModel, PublicationError> {
    let bad = |message: String| PublicationError::BadManifest {
        version: version.to_string(),
        message,
    };
    let published: PublishedModel = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
    published.validate().map_err(|e| bad(e.to_string()))?;
    if published.version != version {
        return Err(bad(format!(
            "it describes version {}, not {version}",
            published.version
        )));
    }
    Ok(published)
}

/// Joins the chunks read from the store (`None` for a missing one) and checks them against
/// the manifest.
pub fn assemble(
    published: &PublishedModel,
    chunks: Vec<Option<Vec<u8>>>,
) -> Result<Vec<u8>, PublicationError> {
    let version = published.version.clone();
    let mut onnx = Vec::with_capacity(published.onnx_bytes);
    for index in 0..published.chunks {
        match chunks.get(index).cloned().flatten() {
            Some(chunk) => onnx.extend_from_slice(&chunk),
            None => {
                return Err(PublicationError::MissingChunk {
                    version,
                    index,
                    chunks: published.chunks,
                });
            }
        }
    }
    if onnx.len() != published.onnx_bytes {
        return Err(PublicationError::WrongSize {
            version,
            expected: published.onnx_bytes,
            found: onnx.len(),
        });
    }
    let found = sha256_hex(&onnx);
    if found != published.onnx_sha256 {
        return Err(PublicationError::Checksum {
            version,
            expected: published.onnx_sha256.clone(),
            found,
        });
    }
    Ok(onnx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use resonance_shared::manifest::PUBLISHED_MODEL_SCHEMA;

    fn published(onnx: &[u8]) -> PublishedModel {
        PublishedModel {
            schema: PUBLISHED_MODEL_SCHEMA,
            model: "sasrec".into(),
            version: "v1".into(),
            created_at: "2026-11-26T00:00:00Z".into(),
            d_model: 8,
            max_len: 4,
            onnx_bytes: onnx.len(),
            onnx_sha256: sha256_hex(onnx),
            chunks: onnx.len().div_ceil(MODEL_CHUNK_BYTES),
            metrics: serde_json::Value::Null,
            embeddings: None,
            mix: None,
        }
    }

    #[test]
    fn chunks_reassemble_and_damage_is_caught() {
        let onnx: Vec<u8> = (0..MODEL_CHUNK_BYTES * 2 + 17).map(|i| i as u8).collect();
        let manifest = published(&onnx);
        manifest.validate().unwrap();
        let chunks: Vec<_> = split(&onnx).map(|c| Some(c.to_vec())).collect();
        assert_eq!(chunks.len(), 3);
        assert_eq!(assemble(&manifest, chunks.clone()).unwrap(), onnx);

        let mut missing = chunks.clone();
        missing[1] = None;
        assert!(matches!(
            assemble(&manifest, missing),
            Err(PublicationError::MissingChunk { index: 1, .. })
        ));
        let mut damaged = chunks;
        damaged[2].as_mut().unwrap()[0] ^= 1;
        assert!(matches!(
            assemble(&manifest, damaged),
            Err(PublicationError::Checksum { .. })
        ));
    }

    #[test]
    fn a_manifest_for_another_version_is_rejected() {
        let text = serde_json::to_string(&published(b"onnx")).unwrap();
        assert!(parse_manifest("v1", &text).is_ok());
        assert!(matches!(
            parse_manifest("v2", &text),
            Err(PublicationError::BadManifest { .. })
        ));
    }
}
