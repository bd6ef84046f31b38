//! A portable bundle of stored features, in the store's own encoding.
//!
//! Two things carry features to a browser: the Worker's `POST /v1/features`, which answers with
//! what one rerank reads, and the web demo's bundled snapshot, used when the Worker is down.
//! Both are a [`FeatureSnapshot`]: the feature version and, per user and per track, the very
//! schema-versioned text the KV holds, so the browser decodes it with the same checks as the
//! Worker and rejects an unknown schema the same way.
//!
//! ```json
//! {"featureVersion": 3,
//!  "users":  {"u00001": "{\"schema\":1,\"history\":{…},\"listening_stats\":{…},…}"},
//!  "tracks": {"t00042": "{\"schema\":1,\"audio\":{…},\"popularity\":{…}}"}}
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use resonance_shared::features;
use resonance_shared::keys::{Entity, FeatureVersion};
use serde::{Deserialize, Serialize};

use crate::rerank::Gathered;
use crate::source::{MemorySource, SourceError, decode_track, decode_value};

/// What one rerank reads, as stored values: `POST /v1/features` answers it, the browser
/// module reranks from it, `trainer snapshot` bundles it for the web demo.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FeatureSnapshot {
    /// The feature version the values belong to.
    pub feature_version: u64,
    /// User id → stored value.
    pub users: BTreeMap<String, String>,
    /// Track id → stored value.
    pub tracks: BTreeMap<String, String>,
}

impl FeatureSnapshot {
    /// What one rerank of `candidates` (in request order) read, re-encoded as the store
    /// holds it.
    pub fn from_gathered(
        version: FeatureVersion,
        user_id: &str,
        candidates: &[&str],
        gathered: &Gathered,
    ) -> Self {
        Self {
            feature_version: version.0,
            users: gathered
                .user
                .iter()
                .map(|u| (user_id.to_string(), features::encode(u.as_ref())))
                .collect(),
            tracks: gathered
                .tracks(candidates)
                .map(|(id, t)| (id.to_string(), features::encode(t.as_ref())))
                .collect(),
        }
    }

    /// Parses a snapshot, naming the field at fault.
    pub fn parse(text: &str) -> Result<Self, SourceError> {
        let mut json = serde_json::Deserializer::from_str(text);
        serde_path_to_error::deserialize(&mut json).map_err(|e| SourceError::Incompatible {
            key: format!("snapshot.{}", e.path()),
            message: e.inner().to_string(),
        })
    }

    /// Decodes every value (schema version, audio ranges) into a store the rerank core reads.
    pub fn into_source(self) -> Result<MemorySource, SourceError> {
        let version = FeatureVersion(self.feature_version);
        let mut source = MemorySource {
            version: Some(version),
            ..Default::default()
        };
        for (id, text) in &self.users {
            let key = version.entity_key(Entity::User, id);
            source
                .users
                .insert(id.clone(), Arc::new(decode_value(&key, text)?));
        }
        for (id, text) in &self.tracks {
            let key = version.entity_key(Entity::Track, id);
            source
                .tracks
                .insert(id.clone(), Arc::new(decode_track(&key, text)?));
        }
        Ok(source)
    }
}
