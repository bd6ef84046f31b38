//! The feature views of the feature store (`docs/DESIGN.md`, "The feature store").
//!
//! Four views are materialized from the events and stored per entity; the fifth,
//! [`crate::context::ContextAwareFeatures`], is computed at request time and never stored.
//! A user's stored views travel together in [`UserFeatures`] and a track's in
//! [`TrackFeatures`], so one entity is read in one round trip (a Redis hash, or one KV value).
//!
//! Every stored value carries [`SCHEMA_VERSION`]; [`decode`] rejects any other version with a
//! clear error instead of guessing at a layout it does not know.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::catalogue::{AudioFeatures, Mood};
use crate::interest::InterestGraph;
use crate::validate::FieldError;

/// The layout version of every stored feature value. Bump it when a view changes shape.
pub const SCHEMA_VERSION: u32 = 1;

/// `user_listening_stats`: the last 7 days of a user's listening.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct UserListeningStats {
    pub plays_7d: u32,
    pub likes_7d: u32,
    pub skips_7d: u32,
    /// skips / (plays + likes + skips), 0 when there were none.
    pub skip_rate_7d: f32,
    pub minutes_7d: f32,
}

/// Mean and spread (standard deviation) of one audio feature over a user's positive listens.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MeanSpread {
    pub mean: f32,
    pub spread: f32,
}

/// `user_audio_preferences`: what a user's liked and played tracks sound like.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserAudioPreferences {
    pub energy: MeanSpread,
    pub valence: MeanSpread,
    pub danceability: MeanSpread,
}

/// `track_audio_features`: catalogue metadata and audio features, plus the track's embedding
/// from the latest model artifact (empty until a model is published).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackAudioFeatures {
    pub artist: String,
    pub genre: String,
    pub energy: f32,
    pub valence: f32,
    pub danceability: f32,
    pub tempo: f32,
    pub acousticness: f32,
    #[serde(default)]
    pub embedding: Vec<f32>,
}

impl TrackAudioFeatures {
    pub fn mood(&self) -> Mood {
        Mood::from_energy_valence(self.energy, self.valence)
    }
}

/// `track_popularity`: plays and likes over 7 and 30 days.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TrackPopularity {
    pub plays_7d: u32,
    pub likes_7d: u32,
    pub plays_30d: u32,
    pub likes_30d: u32,
    /// Relative change of the weekly play rate: `plays_7d / (plays_30d / 30 · 7) − 1`, in
    /// `[-1, ∞)`; 0 when the track had no plays in 30 days.
    pub trend: f32,
}

/// A user's recent history: the last L track ids they listened to (oldest first) and the
/// tracks they recently skipped.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct UserRecentHistory {
    pub tracks: Vec<String>,
    #[serde(default)]
    pub skipped: Vec<String>,
}

/// Everything stored about one user, as one value.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct UserFeatures {
    pub listening_stats: Option<UserListeningStats>,
    pub audio_preferences: Option<UserAudioPreferences>,
    pub history: UserRecentHistory,
    pub interest_graph: Option<InterestGraph>,
}

/// Everything stored about one track, as one value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackFeatures {
    pub audio: TrackAudioFeatures,
    pub popularity: Option<TrackPopularity>,
}

/// What a published feature version holds, stored under [`crate::keys::FeatureVersion::meta_key`]
/// once all its entities are written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureSetMeta {
    pub version: u64,
    /// RFC 3339; the end of every time window of the version.
    pub as_of: String,
    pub created_at: String,
    pub users: usize,
    pub tracks: usize,
    /// The model whose embeddings `track_audio_features` carries, if any.
    pub model_version: Option<String>,
}

/// A stored value: the payload plus the schema version it was written with.
#[derive(Serialize)]
struct Stored<T> {
    schema: u32,
    #[serde(flatten)]
    value: T,
}

/// Why a stored value could not be read.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DecodeError {
    #[error(
        "stored value has schema version {found}, this reader knows only {SCHEMA_VERSION}; upgrade the reader or re-materialize"
    )]
    UnknownSchema { found: u32 },
    #[error("stored value has no schema version")]
    MissingSchema,
    #[error("stored value is malformed at `{field}`: {message}")]
    Malformed { field: String, message: String },
}

/// Serialises a view or bundle with the current schema version.
pub fn encode<T: Serialize>(value: &T) -> String {
    serde_json::to_string(&Stored {
        schema: SCHEMA_VERSION,
        value,
    })
    .expect("feature values are plain data and always serialise")
}

/// Reads a value written by [`encode`], rejecting unknown schema versions first.
pub fn decode<T: DeserializeOwned>(text: &str) -> Result<T, DecodeError> {
    let mut value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| DecodeError::Malformed {
            field: ".".into(),
            message: e.to_string(),
        })?;
    let schema = value
        .as_object_mut()
        .and_then(|o| o.remove("schema"))
        .ok_or(DecodeError::MissingSchema)?;
    match schema.as_u64() {
        Some(v) if v == u64::from(SCHEMA_VERSION) => {}
        Some(found) => {
            return Err(DecodeError::UnknownSchema {
                found: u32::try_from(found).unwrap_or(u32::MAX),
            });
        }
        None => return Err(DecodeError::MissingSchema),
    }
    serde_path_to_error::deserialize(value).map_err(|e| DecodeError::Malformed {
        field: e.path().to_string(),
        message: e.inner().to_string(),
    })
}

impl TrackAudioFeatures {
    pub fn validate(&self) -> Result<(), FieldError> {
        // The catalogue's own checks, so a stored view accepts exactly what the catalogue does.
        AudioFeatures {
            energy: self.energy,
            valence: self.valence,
            danceability: self.danceability,
            tempo: self.tempo,
            acousticness: self.acousticness,
        }
        .validate()?;
        if let Some(i) = self.embedding.iter().position(|x| !x.is_finite()) {
            return Err(FieldError::new(format!("embedding[{i}]"), "is not finite"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_with_their_schema_version() {
        let user = UserFeatures {
            listening_stats: Some(UserListeningStats {
                plays_7d: 3,
                ..Default::default()
            }),
            history: UserRecentHistory {
                tracks: vec!["a".into(), "b".into()],
                skipped: vec![],
            },
            ..Default::default()
        };
        let text = encode(&user);
        assert!(text.starts_with(r#"{"schema":1,"#), "{text}");
        assert_eq!(decode::<UserFeatures>(&text), Ok(user));
    }

    #[test]
    fn unknown_or_missing_schema_versions_are_rejected() {
        let text = r#"{"schema":2,"history":{"tracks":[]}}"#;
        assert_eq!(
            decode::<UserFeatures>(text),
            Err(DecodeError::UnknownSchema { found: 2 })
        );
        assert_eq!(
            decode::<UserFeatures>(r#"{"history":{"tracks":[]}}"#),
            Err(DecodeError::MissingSchema)
        );
    }

    #[test]
    fn malformed_values_name_the_field() {
        let text = r#"{"schema":1,"history":{"tracks":[1]}}"#;
        match decode::<UserFeatures>(text) {
            Err(DecodeError::Malformed { field, .. }) => assert_eq!(field, "history.tracks[0]"),
            other => panic!("expected a malformed error, got {other:?}"),
        }
    }
}
