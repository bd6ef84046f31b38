//! Where a rerank reads its features: the edge KV in the Worker, a snapshot in the browser, a
//! map in tests. Values are the schema-versioned bundles of `resonance_shared::features`.

use std::collections::HashMap;
use std::sync::Arc;

use resonance_shared::features::{self, TrackFeatures, UserFeatures};
use resonance_shared::keys::{self, Entity, FeatureVersion, KeyKind};
use resonance_shared::state::UserState;
use resonance_shared::versioned;

/// Why features could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SourceError {
    /// The store did not answer (network, KV outage): the caller may degrade.
    #[error("the feature store is unavailable: {0}")]
    Unavailable(String),
    /// A stored value this reader cannot read (an unknown schema version, a corrupt value):
    /// never guessed at.
    #[error("the stored value `{key}` cannot be read: {message}")]
    Incompatible {
        /// The key read.
        key: String,
        /// Why it cannot be read.
        message: String,
    },
}

/// One track's lookup: found, not stored, or failed.
pub type TrackLookup = Result<Option<Arc<TrackFeatures>>, SourceError>;

/// A feature store as the rerank core sees it.
#[allow(async_fn_in_trait)] // single-threaded runtimes (Worker, browser) and tests only
pub trait FeatureSource {
    /// The live feature version, `None` when nothing is published.
    async fn version(&self) -> Result<Option<FeatureVersion>, SourceError>;
    /// One user's bundle, `None` when the user is not stored.
    async fn user(&self, id: &str) -> Result<Option<Arc<UserFeatures>>, SourceError>;
    /// One lookup per id, in order; implementations batch and parallelise the reads.
    async fn tracks(&self, ids: &[&str]) -> Vec<TrackLookup>;
    /// The listener's encoder state stored for model `(version, d)`, `None` when there is none.
    /// A store that keeps no states (the browser's snapshot) has none.
    async fn user_state(
        &self,
        _model: (&str, usize),
        _id: &str,
    ) -> Result<Option<Arc<UserState>>, SourceError> {
        Ok(None)
    }
}

/// Decodes a stored bundle, naming its key in the error.
pub fn decode_value<T: serde::de::DeserializeOwned>(
    key: &str,
    text: &str,
) -> Result<T, SourceError> {
    features::decode(text).map_err(|e| SourceError::Incompatible {
        key: key.to_string(),
        message: e.to_string(),
    })
}

/// Decodes a stored track and checks its audio features as the catalogue does.
pub fn decode_track(key: &str, text: &str) -> Result<TrackFeatures, SourceError> {
    let track: TrackFeatures = decode_value(key, text)?;
    check_track(key, &track)?;
    Ok(track)
}

/// Layout 3: the entry of `version` in a stored entity's values (`None`: not stored in it),
/// naming the key in the error.
pub fn decode_entry<T: serde::de::DeserializeOwned>(
    key: &str,
    text: &str,
    version: FeatureVersion,
) -> Result<Option<T>, SourceError> {
    versioned::decode_at(text, version.0).map_err(|e| SourceError::Incompatible {
        key: key.to_string(),
        message: e.to_string(),
    })
}

/// [`decode_entry`] of a track, its audio features checked as the catalogue does.
pub fn decode_track_entry(
    key: &str,
    text: &str,
    version: FeatureVersion,
) -> Result<Option<TrackFeatures>, SourceError> {
    let track: Option<TrackFeatures> = decode_entry(key, text, version)?;
    if let Some(track) = &track {
        check_track(key, track)?;
    }
    Ok(track)
}

/// Checks a stored track's audio features as the catalogue does.
pub fn check_track(key: &str, track: &TrackFeatures) -> Result<(), SourceError> {
    track
        .audio
        .validate()
        .map_err(|e| SourceError::Incompatible {
            key: key.to_string(),
            message: e.to_string(),
        })
}

/// Features held in memory: the browser's snapshot and the native tests' store.
#[derive(Debug, Clone, Default)]
pub struct MemorySource {
    /// The version the values belong to.
    pub version: Option<FeatureVersion>,
    /// Users by id.
    pub users: HashMap<String, Arc<UserFeatures>>,
    /// Tracks by id.
    pub tracks: HashMap<String, Arc<TrackFeatures>>,
}

impl MemorySource {
    /// Builds the store from KV pairs of one version (what the mirror writes; in layout 3 the
    /// entities' keys, of which this version's entries) and of its model `(version, d)` (the
    /// embeddings of layouts 2 and 3), decoding and checking every value.
    /// Keys of other versions or models and the rest are ignored; a track whose model has an
    /// embedding the pairs lack is kept without it, as the edge reads it.
    pub fn from_kv<'a>(
        version: FeatureVersion,
        model: Option<(&str, usize)>,
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, SourceError> {
        let mut source = MemorySource {
            version: Some(version),
            ..Default::default()
        };
        let mut embeddings: HashMap<&str, Vec<f32>> = HashMap::new();
        let mut tracks = Vec::new();
        for (key, value) in pairs {
            if let (Some((m, dim)), Ok(KeyKind::ModelEmbedding { version, track })) =
                (model, keys::parse_key(key))
            {
                if version == m {
                    let row = features::decode_embedding(value, dim).map_err(|e| {
                        SourceError::Incompatible {
                            key: key.to_string(),
                            message: e.to_string(),
                        }
                    })?;
                    embeddings.insert(track, row);
                }
                continue;
            }
            // Layout 3: the entity's values by version, of which this version's entry.
            if let Ok(KeyKind::EntityValues { entity, id }) = keys::parse_key(key) {
                match entity {
                    Entity::User => {
                        if let Some(user) = decode_entry(key, value, version)? {
                            source.users.insert(id.to_string(), Arc::new(user));
                        }
                    }
                    Entity::Track => {
                        if let Some(track) = decode_track_entry(key, value, version)? {
                            tracks.push((id, track));
                        }
                    }
                }
                continue;
            }
            let Ok((entity, id)) = version.parse_entity_key(key) else {
                continue;
            };
            match entity {
                Entity::User => {
                    let user = decode_value(key, value)?;
                    source.users.insert(id.to_string(), Arc::new(user));
                }
                Entity::Track => tracks.push((id, decode_track(key, value)?)),
            }
        }
        for (id, mut track) in tracks {
            if track.audio.embedded
                && track.audio.embedding.is_empty()
                && let Some(row) = embeddings.remove(id)
            {
                track.audio.embedding = row;
            }
            source.tracks.insert(id.to_string(), Arc::new(track));
        }
        Ok(source)
    }
}

impl FeatureSource for MemorySource {
    async fn version(&self) -> Result<Option<FeatureVersion>, SourceError> {
        Ok(self.version)
    }

    async fn user(&self, id: &str) -> Result<Option<Arc<UserFeatures>>, SourceError> {
        Ok(self.users.get(id).cloned())
    }

    async fn tracks(&self, ids: &[&str]) -> Vec<TrackLookup> {
        ids.iter()
            .map(|id| Ok(self.tracks.get(*id).cloned()))
            .collect()
    }
}
