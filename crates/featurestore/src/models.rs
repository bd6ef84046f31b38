//! Models in Redis: written once with the first version (or staging) that needs them, read
//! by the mirror, and pruned when no version Redis keeps names them, none is staged and the
//! edge no longer holds them.
//!
//! ```text
//! rsn:model:{m}:manifest        PublishedModel JSON, written last
//! rsn:model:{m}:chunk:{i}       the ONNX graph, base64, 512 KiB a chunk
//! rsn:model:{m}:embedding:{id}  a track's row of m's embedding table (layout 2 and above)
//! rsn:models                    sorted set: the models written (score = unix time)
//! ```

use anyhow::{Context, Result};
use redis::Commands;
use resonance_shared::keys::{self, FeatureVersion};
use resonance_shared::manifest::PublishedModel;

use crate::store::{FeatureStore, MODELS, StoredModel, VERSIONS};

impl FeatureStore {
    /// Writes a model's keys (manifest, base64 chunks, embeddings) unless Redis holds them
    /// already (a manifest without `embeddings`, from before layout 2, is written again with
    /// them), and records it in [`MODELS`]; it goes live with the first version whose meta
    /// names it. Returns whether it was written now.
    pub fn write_model(&mut self, version: &str, pairs: Vec<(String, String)>) -> Result<bool> {
        let manifest = keys::model_manifest_key(version);
        let present: Option<String> = self
            .conn
            .get(&manifest)
            .with_context(|| self.context("looking for the model"))?;
        let complete = present
            .and_then(|text| serde_json::from_str::<PublishedModel>(&text).ok())
            .is_some_and(|m| m.embeddings.is_some());
        if complete {
            return Ok(false);
        }
        let mut pipe = redis::pipe();
        // The manifest last: its presence means the chunks are in.
        let (manifests, chunks): (Vec<_>, Vec<_>) = pairs.iter().partition(|(k, _)| *k == manifest);
        for (key, value) in chunks.into_iter().chain(manifests) {
            pipe.set(key, value).ignore();
        }
        pipe.zadd(
            MODELS,
            version,
            time::OffsetDateTime::now_utc().unix_timestamp(),
        )
        .ignore();
        pipe.exec(&mut self.conn)
            .with_context(|| self.context("writing the model"))?;
        Ok(true)
    }

    /// A model's keys, its manifest first (SCAN only: no value is read).
    pub fn model_keys(&mut self, version: &str) -> Result<Vec<String>> {
        let manifest = keys::model_manifest_key(version);
        let mut model_keys = self.scan(&format!("rsn:model:{version}:*"))?;
        model_keys.retain(|k| *k != manifest);
        model_keys.sort();
        model_keys.insert(0, manifest);
        Ok(model_keys)
    }

    /// A model's keys and values (manifest, chunks, embeddings; not the listeners' states,
    /// which `crate::states` copies), if Redis has it.
    pub fn model(&mut self, version: &str) -> Result<Option<StoredModel>> {
        let mut model_keys = self.model_keys(version)?;
        model_keys.retain(|k| !matches!(keys::parse_key(k), Ok(keys::KeyKind::ModelState { .. })));
        let values: Vec<Option<String>> = self
            .conn
            .mget(&model_keys)
            .with_context(|| self.context("reading the model"))?;
        if values.first().is_none_or(Option::is_none) {
            return Ok(None);
        }
        let pairs = model_keys
            .into_iter()
            .zip(values)
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect();
        Ok(Some(StoredModel {
            version: version.to_string(),
            pairs,
        }))
    }

    /// Deletes every model in [`MODELS`] that no version Redis keeps names, that is not
    /// staged, and that the edge no longer holds (the mirror reads a model's keys from here to delete it there).
    pub(crate) fn prune_models(&mut self) -> Result<Vec<String>> {
        let held: Vec<String> = self
            .conn
            .zrange(MODELS, 0, -1)
            .with_context(|| self.context("listing models"))?;
        let mut needed = self.edge_models()?;
        needed.extend(self.staged()?);
        let versions: Vec<u64> = self
            .conn
            .zrange(VERSIONS, 0, -1)
            .with_context(|| self.context("listing versions"))?;
        for version in versions {
            if let Some(model) = self
                .meta(FeatureVersion(version))?
                .and_then(|m| m.model_version)
            {
                needed.insert(model);
            }
        }
        let mut deleted = Vec::new();
        for model in held.into_iter().filter(|m| !needed.contains(m)) {
            // The manifest first: a half-deleted model is never taken for a whole one.
            for key in self.model_keys(&model)? {
                let _: () = redis::cmd("UNLINK")
                    .arg(&key)
                    .query(&mut self.conn)
                    .with_context(|| self.context("deleting an old model"))?;
            }
            let _: () = redis::cmd("UNLINK")
                .arg(crate::states::index_key(&model))
                .query(&mut self.conn)
                .with_context(|| self.context("deleting an old model's state index"))?;
            let _: () = self
                .conn
                .zrem(MODELS, &model)
                .with_context(|| self.context("forgetting an old model"))?;
            deleted.push(model);
        }
        Ok(deleted)
    }
}
