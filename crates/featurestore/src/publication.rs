//! What a publication writes besides the views: the model as KV pairs (base64 chunks, one
//! embedding per track of its vocabulary, and the edge manifest) and the meta that marks a
//! feature version complete.

use anyhow::Result;
use base64::Engine;
use resonance_edge::publication::{self, sha256_hex};
use resonance_registry::ModelArtifact;
use resonance_shared::api::KvWrite;
use resonance_shared::features::{self, FeatureSetMeta};
use resonance_shared::keys::{self, FeatureVersion};
use resonance_shared::manifest::PublishedModel;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::views::FeatureSet;

/// The model's chunks (base64), its embeddings (`features::encode_embedding`, layout 2) and its
/// edge manifest, manifest last: its presence means the rest is in.
pub fn model_pairs(artifact: &ModelArtifact) -> Vec<KvWrite> {
    let version = &artifact.manifest.version;
    let mut pairs: Vec<KvWrite> = publication::split(&artifact.onnx)
        .enumerate()
        .map(|(i, chunk)| KvWrite {
            key: keys::model_chunk_key(version, i),
            value: base64::engine::general_purpose::STANDARD.encode(chunk),
            base64: true,
            expiration_ttl: None,
        })
        .collect();
    let dim = artifact.manifest.embeddings.dim;
    let rows = artifact.embeddings.chunks_exact(dim);
    // Row 0 is padding; row i is idx_to_track[i].
    for (track, row) in artifact.manifest.idx_to_track.iter().zip(rows).skip(1) {
        pairs.push(KvWrite {
            key: keys::model_embedding_key(version, track),
            value: features::encode_embedding(row),
            base64: false,
            expiration_ttl: None,
        });
    }
    let published = PublishedModel::describe(
        &artifact.manifest,
        artifact.onnx.len(),
        sha256_hex(&artifact.onnx),
    );
    pairs.push(KvWrite {
        key: keys::model_manifest_key(version),
        value: serde_json::to_string(&published).expect("the manifest serialises"),
        base64: false,
        expiration_ttl: None,
    });
    pairs
}

/// The meta of version `version` of `set`, stored as `pairs` (`FeatureSet::stored_pairs` of
/// `layout`), computed as of `as_of` (unix seconds) with the embeddings of `model`, created
/// `now`.
pub fn meta(
    version: FeatureVersion,
    set: &FeatureSet,
    layout: u32,
    pairs: &[(String, String)],
    as_of: i64,
    now: OffsetDateTime,
    model: &str,
) -> Result<FeatureSetMeta> {
    Ok(FeatureSetMeta {
        version: version.0,
        as_of: OffsetDateTime::from_unix_timestamp(as_of)?.format(&Rfc3339)?,
        created_at: now.format(&Rfc3339)?,
        users: set.users.len(),
        tracks: set.tracks.len(),
        model_version: Some(model.to_string()),
        // Layout 3 writes only what changed: its values are not the version's alone.
        bytes: (layout < resonance_shared::versioned::VERSIONED_LAYOUT)
            .then(|| pairs.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>() as u64),
        layout,
        values_written_at: None,
    })
}
