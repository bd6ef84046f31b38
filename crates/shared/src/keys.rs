//! The feature-store key schema, shared by Redis and the edge KV.
//!
//! ```text
//! rsn:current                     → "7"            the live feature version (a pointer)
//! rsn:v7:user:{user_id}           → UserFeatures   one value (Redis: one hash) per user
//! rsn:v7:track:{track_id}         → TrackFeatures  one value (Redis: one hash) per track
//! rsn:user:{user_id}              → the user's values by version (layout 3, `crate::versioned`)
//! rsn:track:{track_id}            → the track's values by version (layout 3)
//! rsn:model:current               → "20261126-1"   the live model version
//! rsn:model:{version}:manifest    → manifest.json
//! rsn:model:{version}:chunk:{i}   → bytes of sasrec.onnx, in order
//! rsn:model:{version}:embedding:{track_id} → the track's row of the model's embedding table
//! rsn:model:{version}:state:{user_id}      → the listener's encoder state (`crate::state`)
//! ```
//!
//! Embeddings belong to a model, not to a feature version (layout 2, `features::SCHEMA_VERSION`):
//! they are written once per model and deleted with it, and a version's track values only say
//! whether their model has one (`TrackAudioFeatures::embedded`).
//!
//! A new feature version is written beside the live one and published by switching
//! `rsn:current` in one step, so readers never see a half-written version. In Redis each entity
//! is a hash whose fields are the views ([`FeatureView::field`]); in the KV, which has no hashes,
//! the same views travel together as one JSON value.

use std::fmt;

use crate::validate::{self, FieldError};

/// Every key starts with this namespace.
pub const NAMESPACE: &str = "rsn";

/// The feature-version pointer.
pub const CURRENT_FEATURES: &str = "rsn:current";

/// The model-version pointer.
pub const CURRENT_MODEL: &str = "rsn:model:current";

/// The kind of entity a key belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Entity {
    /// A listener (`rsn:v{N}:user:{id}`).
    User,
    /// A track (`rsn:v{N}:track:{id}`).
    Track,
}

impl Entity {
    /// The entity's segment in a key: `user` or `track`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Entity::User => "user",
            Entity::Track => "track",
        }
    }
}

/// The stored feature views, with the entity each belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FeatureView {
    /// [`crate::features::UserListeningStats`].
    UserListeningStats,
    /// [`crate::features::UserAudioPreferences`].
    UserAudioPreferences,
    /// [`crate::features::UserRecentHistory`].
    UserRecentHistory,
    /// [`crate::interest::InterestGraph`].
    InterestGraph,
    /// [`crate::features::TrackAudioFeatures`].
    TrackAudioFeatures,
    /// [`crate::features::TrackPopularity`].
    TrackPopularity,
}

impl FeatureView {
    /// Every stored view: the user views, then the track views.
    pub const ALL: [FeatureView; 6] = [
        FeatureView::UserListeningStats,
        FeatureView::UserAudioPreferences,
        FeatureView::UserRecentHistory,
        FeatureView::InterestGraph,
        FeatureView::TrackAudioFeatures,
        FeatureView::TrackPopularity,
    ];

    /// The view's name, used as the field of the entity's Redis hash.
    pub fn field(&self) -> &'static str {
        match self {
            FeatureView::UserListeningStats => "user_listening_stats",
            FeatureView::UserAudioPreferences => "user_audio_preferences",
            FeatureView::UserRecentHistory => "user_recent_history",
            FeatureView::InterestGraph => "interest_graph",
            FeatureView::TrackAudioFeatures => "track_audio_features",
            FeatureView::TrackPopularity => "track_popularity",
        }
    }

    /// The kind of entity the view is stored under.
    pub fn entity(&self) -> Entity {
        match self {
            FeatureView::TrackAudioFeatures | FeatureView::TrackPopularity => Entity::Track,
            _ => Entity::User,
        }
    }
}

/// A feature version: a positive integer, increasing with each materialization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FeatureVersion(pub u64);

impl fmt::Display for FeatureVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FeatureVersion {
    /// Parses the value of the [`CURRENT_FEATURES`] pointer.
    pub fn parse_pointer(value: &str) -> Result<Self, FieldError> {
        match value.trim().parse::<u64>() {
            Ok(v) if v > 0 => Ok(FeatureVersion(v)),
            _ => Err(FieldError::new(
                CURRENT_FEATURES,
                format!("{value:?} is not a positive feature version"),
            )),
        }
    }

    /// The prefix shared by every key of this version, e.g. `rsn:v7:`.
    pub fn prefix(&self) -> String {
        format!("{NAMESPACE}:v{}:", self.0)
    }

    /// The key of one entity's views in this version.
    pub fn entity_key(&self, entity: Entity, id: &str) -> String {
        // Built with `concat`, not format!: a rerank builds one per candidate.
        let mut digits = itoa::Buffer::new();
        let version = digits.format(self.0);
        concat(&[NAMESPACE, ":v", version, ":", entity.as_str(), ":", id])
    }

    /// The key of the version's [`crate::features::FeatureSetMeta`], written after every
    /// entity of the version, so its presence means the version is complete.
    pub fn meta_key(&self) -> String {
        format!("{NAMESPACE}:v{}:meta", self.0)
    }

    /// Splits a key of this version back into its entity and id.
    pub fn parse_entity_key<'k>(&self, key: &'k str) -> Result<(Entity, &'k str), FieldError> {
        let bad = || {
            FieldError::new(
                "key",
                format!("{key:?} is not an entity key of version {self}"),
            )
        };
        let rest = key.strip_prefix(&self.prefix()).ok_or_else(bad)?;
        let (entity, id) = rest.split_once(':').ok_or_else(bad)?;
        let entity = match entity {
            "user" => Entity::User,
            "track" => Entity::Track,
            _ => return Err(bad()),
        };
        validate::id("key", id)?;
        Ok((entity, id))
    }
}

/// The key of one entity's values across versions (layout 3, [`crate::versioned`]):
/// `rsn:user:{id}` or `rsn:track:{id}`, written only when the entity's value changes.
pub fn values_key(entity: Entity, id: &str) -> String {
    // By hand, like `FeatureVersion::entity_key`: a rerank builds one per candidate.
    concat(&[NAMESPACE, ":", entity.as_str(), ":", id])
}

/// `parts` joined into one string allocated once: the keys a rerank builds per candidate,
/// where `format!`'s machinery was a tenth of the native request path.
pub fn concat(parts: &[&str]) -> String {
    let mut joined = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for part in parts {
        joined.push_str(part);
    }
    joined
}

/// A model version: `[A-Za-z0-9._-]{1,64}`, so it is safe in keys, paths and URLs.
pub fn validate_model_version(version: &str) -> Result<(), FieldError> {
    let ok = !version.is_empty()
        && version.len() <= 64
        && version
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(FieldError::new(
            "model_version",
            format!("{version:?} must be 1–64 characters of A–Z, a–z, 0–9, '.', '_' or '-'"),
        ))
    }
}

/// The key of a model version's manifest.
pub fn model_manifest_key(version: &str) -> String {
    format!("{NAMESPACE}:model:{version}:manifest")
}

/// The key of one track's embedding in a model version's namespace (layout 2).
pub fn model_embedding_key(version: &str, track_id: &str) -> String {
    format!("{NAMESPACE}:model:{version}:embedding:{track_id}")
}

/// The key of one listener's encoder state in a model version's namespace.
pub fn model_state_key(version: &str, user_id: &str) -> String {
    format!("{NAMESPACE}:model:{version}:state:{user_id}")
}

/// The key of the `index`-th chunk of a model version's ONNX file.
pub fn model_chunk_key(version: &str, index: usize) -> String {
    format!("{NAMESPACE}:model:{version}:chunk:{index}")
}

/// What a key in the `rsn:` namespace names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyKind<'k> {
    /// `rsn:current`: the live feature version.
    FeaturePointer,
    /// `rsn:v{N}:user:{id}` or `rsn:v{N}:track:{id}`.
    Entity {
        /// The feature version the key belongs to.
        version: FeatureVersion,
        /// User or track.
        entity: Entity,
        /// The user or track id.
        id: &'k str,
    },
    /// `rsn:user:{id}` or `rsn:track:{id}`: an entity's values by version (layout 3).
    EntityValues {
        /// User or track.
        entity: Entity,
        /// The user or track id.
        id: &'k str,
    },
    /// `rsn:v{N}:meta`.
    FeatureMeta {
        /// The feature version described.
        version: FeatureVersion,
    },
    /// `rsn:model:current`: the live model version.
    ModelPointer,
    /// `rsn:model:{v}:manifest`.
    ModelManifest {
        /// The model version.
        version: &'k str,
    },
    /// `rsn:model:{v}:chunk:{i}`.
    ModelChunk {
        /// The model version.
        version: &'k str,
        /// The chunk's position in the ONNX file, from 0.
        index: usize,
    },
    /// `rsn:model:{v}:embedding:{track_id}`.
    ModelEmbedding {
        /// The model version.
        version: &'k str,
        /// The track whose embedding it is.
        track: &'k str,
    },
    /// `rsn:model:{v}:state:{user_id}`.
    ModelState {
        /// The model version.
        version: &'k str,
        /// The listener whose state it is.
        user: &'k str,
    },
}

impl KeyKind<'_> {
    /// Whether the key is a pointer (`rsn:current`, `rsn:model:current`), which only the
    /// switches write.
    pub fn is_pointer(&self) -> bool {
        matches!(self, KeyKind::FeaturePointer | KeyKind::ModelPointer)
    }
}

/// Classifies a key; anything outside the schema is an error naming it.
pub fn parse_key(key: &str) -> Result<KeyKind<'_>, FieldError> {
    let bad = || FieldError::new("key", format!("{key:?} is not a key of the rsn: schema"));
    if key == CURRENT_FEATURES {
        return Ok(KeyKind::FeaturePointer);
    }
    if key == CURRENT_MODEL {
        return Ok(KeyKind::ModelPointer);
    }
    if let Some(rest) = key.strip_prefix("rsn:model:") {
        let (version, what) = rest.split_once(':').ok_or_else(bad)?;
        validate_model_version(version).map_err(|e| FieldError::new("key", e.message))?;
        return match what {
            "manifest" => Ok(KeyKind::ModelManifest { version }),
            _ if what.starts_with("embedding:") => {
                let track = &what["embedding:".len()..];
                validate::id("key", track)?;
                Ok(KeyKind::ModelEmbedding { version, track })
            }
            _ if what.starts_with("state:") => {
                let user = &what["state:".len()..];
                validate::id("key", user)?;
                Ok(KeyKind::ModelState { version, user })
            }
            _ => {
                let index = what
                    .strip_prefix("chunk:")
                    .and_then(|i| i.parse::<usize>().ok())
                    .ok_or_else(bad)?;
                Ok(KeyKind::ModelChunk { version, index })
            }
        };
    }
    for entity in [Entity::User, Entity::Track] {
        if let Some(id) = key
            .strip_prefix("rsn:")
            .and_then(|k| k.strip_prefix(entity.as_str()))
            .and_then(|k| k.strip_prefix(':'))
        {
            validate::id("key", id)?;
            return Ok(KeyKind::EntityValues { entity, id });
        }
    }
    let rest = key.strip_prefix("rsn:v").ok_or_else(bad)?;
    let (number, tail) = rest.split_once(':').ok_or_else(bad)?;
    let version = FeatureVersion::parse_pointer(number).map_err(|_| bad())?;
    if tail == "meta" {
        return Ok(KeyKind::FeatureMeta { version });
    }
    let (entity, id) = version.parse_entity_key(key)?;
    Ok(KeyKind::Entity {
        version,
        entity,
        id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entity_keys_round_trip() {
        let v = FeatureVersion(7);
        let key = v.entity_key(Entity::Track, "t:42");
        assert_eq!(key, "rsn:v7:track:t:42");
        assert_eq!(v.parse_entity_key(&key), Ok((Entity::Track, "t:42")));
        assert!(FeatureVersion(8).parse_entity_key(&key).is_err());
        assert!(v.parse_entity_key("rsn:v7:album:x").is_err());
    }

    #[test]
    fn pointers_and_model_versions_are_validated() {
        assert_eq!(FeatureVersion::parse_pointer("12"), Ok(FeatureVersion(12)));
        assert!(FeatureVersion::parse_pointer("0").is_err());
        assert!(FeatureVersion::parse_pointer("v1").is_err());
        assert!(validate_model_version("20261126-1").is_ok());
        assert!(validate_model_version("../etc").is_err());
        assert_eq!(model_chunk_key("m1", 3), "rsn:model:m1:chunk:3");
    }

    #[test]
    fn keys_are_classified() {
        assert_eq!(parse_key("rsn:current"), Ok(KeyKind::FeaturePointer));
        assert_eq!(parse_key("rsn:model:current"), Ok(KeyKind::ModelPointer));
        assert_eq!(
            parse_key("rsn:v3:user:u:1"),
            Ok(KeyKind::Entity {
                version: FeatureVersion(3),
                entity: Entity::User,
                id: "u:1"
            })
        );
        assert_eq!(
            parse_key(&values_key(Entity::Track, "t:9")),
            Ok(KeyKind::EntityValues {
                entity: Entity::Track,
                id: "t:9"
            })
        );
        assert_eq!(values_key(Entity::User, "u1"), "rsn:user:u1");
        assert_eq!(
            parse_key("rsn:v3:meta"),
            Ok(KeyKind::FeatureMeta {
                version: FeatureVersion(3)
            })
        );
        assert_eq!(
            parse_key("rsn:model:m-1:chunk:2"),
            Ok(KeyKind::ModelChunk {
                version: "m-1",
                index: 2
            })
        );
        assert_eq!(
            parse_key("rsn:model:m-1:manifest"),
            Ok(KeyKind::ModelManifest { version: "m-1" })
        );
        assert_eq!(
            parse_key(&model_embedding_key("m-1", "t:42")),
            Ok(KeyKind::ModelEmbedding {
                version: "m-1",
                track: "t:42"
            })
        );
        assert_eq!(
            parse_key(&model_state_key("m-1", "u:7")),
            Ok(KeyKind::ModelState {
                version: "m-1",
                user: "u:7"
            })
        );
        for bad in [
            "other",
            "rsn:v0:user:a",
            "rsn:v1:album:a",
            "rsn:model:../x:manifest",
            "rsn:model:m:chunk:x",
            "rsn:model:m:embedding:",
            "rsn:model:m:state:",
            "rsn:user:",
            "rsn:users:x",
        ] {
            assert!(parse_key(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_view_has_a_distinct_field() {
        let mut fields: Vec<_> = FeatureView::ALL.iter().map(|v| v.field()).collect();
        fields.sort();
        fields.dedup();
        assert_eq!(fields.len(), FeatureView::ALL.len());
        assert_eq!(FeatureView::TrackPopularity.entity(), Entity::Track);
    }
}
