//! The feature views of the feature store (`docs/DESIGN.md`, "The feature store").
//!
//! Four views are materialized from the events and stored per entity; the fifth,
//! [`crate::context::ContextAwareFeatures`], is computed at request time and never stored.
//! A user's stored views travel together in [`UserFeatures`] and a track's in
//! [`TrackFeatures`], so one entity is read in one round trip (a Redis hash, or one KV value).
//!
//! Every stored value carries the schema it was written with ([`SCHEMA_VERSION`], or 1 for
//! Workers of the older layout); [`decode`] reads [`OLDEST_SCHEMA`] to [`SCHEMA_VERSION`] and
//! rejects any other with a clear error instead of guessing at a layout it does not know.
//!
//! The two layouts differ only in where a track's embedding lives: in schema 1 inside the
//! track's value of every feature version; in schema 2 once per model, under
//! `rsn:model:{m}:embedding:{id}` ([`encode_embedding`]), with `audio.embedded` saying the
//! model has one. A version's [`FeatureSetMeta::layout`] is the schema of all its values.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::catalogue::{AudioFeatures, Mood};
use crate::interest::InterestGraph;
use crate::validate::FieldError;

/// The layout version of the stored feature values this code writes. Bump it when a view
/// changes shape, and keep reading the one before it for a rollout (`docs/DESIGN.md` §4).
pub const SCHEMA_VERSION: u32 = 2;

/// The oldest layout readers still accept: schema 1, embeddings inside the track values.
pub const OLDEST_SCHEMA: u32 = 1;

/// `user_listening_stats`: the last 7 days of a user's listening.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct UserListeningStats {
    /// Plays in the last 7 days.
    pub plays_7d: u32,
    /// Likes in the last 7 days.
    pub likes_7d: u32,
    /// Skips in the last 7 days.
    pub skips_7d: u32,
    /// skips / (plays + likes + skips), 0 when there were none.
    pub skip_rate_7d: f32,
    /// Minutes heard in the last 7 days (the sum of `ms_played`).
    pub minutes_7d: f32,
}

/// Mean and spread (standard deviation) of one audio feature over a user's positive listens.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct MeanSpread {
    /// The mean, in the feature's own unit.
    pub mean: f32,
    /// The population standard deviation (≥ 0).
    pub spread: f32,
}

/// `user_audio_preferences`: what a user's liked and played tracks sound like.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct UserAudioPreferences {
    /// Energy of the user's positive listens.
    pub energy: MeanSpread,
    /// Valence of the user's positive listens.
    pub valence: MeanSpread,
    /// Danceability of the user's positive listens.
    pub danceability: MeanSpread,
}

/// `track_audio_features`: catalogue metadata and audio features, plus the track's embedding
/// from the latest model artifact (empty until a model is published).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct TrackAudioFeatures {
    /// The track's artist.
    pub artist: String,
    /// The track's genre.
    pub genre: String,
    /// Energy, in [0, 1] (see [`AudioFeatures`]).
    pub energy: f32,
    /// Valence, in [0, 1].
    pub valence: f32,
    /// Danceability, in [0, 1].
    pub danceability: f32,
    /// Tempo, in beats per minute.
    pub tempo: f32,
    /// Acousticness, in [0, 1].
    pub acousticness: f32,
    /// The track's item embedding from the model named in [`FeatureSetMeta::model_version`]; empty
    /// without one. Stored values of schema 2 leave it empty: readers fill it from the model's
    /// namespace when [`TrackAudioFeatures::embedded`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub embedding: Vec<f32>,
    /// Whether the version's model has an embedding for this track (schema 2; always false in
    /// schema 1, whose values carry the embedding itself). Embedded but without one after a
    /// read means its key was missing: the track is scored by the heuristic alone, flagged.
    #[serde(default, skip_serializing_if = "is_false")]
    pub embedded: bool,
}

fn is_false(b: &bool) -> bool {
    !b
}

impl TrackAudioFeatures {
    /// The track's mood quadrant (see [`Mood::from_energy_valence`]).
    pub fn mood(&self) -> Mood {
        Mood::from_energy_valence(self.energy, self.valence)
    }
}

/// `track_popularity`: plays and likes over 7 and 30 days.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct TrackPopularity {
    /// Plays in the last 7 days.
    pub plays_7d: u32,
    /// Likes in the last 7 days.
    pub likes_7d: u32,
    /// Plays in the last 30 days.
    pub plays_30d: u32,
    /// Likes in the last 30 days.
    pub likes_30d: u32,
    /// Relative change of the weekly play rate: `plays_7d / (plays_30d / 30 · 7) − 1`, in
    /// `[-1, ∞)`; 0 when the track had no plays in 30 days.
    pub trend: f32,
}

/// A user's recent history: the last L track ids they listened to (oldest first) and the
/// tracks they recently skipped.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct UserRecentHistory {
    /// The last L tracks of the model's input sequence, oldest first.
    pub tracks: Vec<String>,
    /// Tracks recently skipped, oldest first (a bounded number).
    #[serde(default)]
    pub skipped: Vec<String>,
}

/// Everything stored about one user, as one value.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct UserFeatures {
    /// `user_listening_stats`; `None` when not materialized.
    pub listening_stats: Option<UserListeningStats>,
    /// `user_audio_preferences`; `None` without positive listens of tracks with audio features.
    pub audio_preferences: Option<UserAudioPreferences>,
    /// `user_recent_history`.
    pub history: UserRecentHistory,
    /// The LLM-written interest graph; `None` until one is stored.
    pub interest_graph: Option<InterestGraph>,
}

/// Everything stored about one track, as one value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct TrackFeatures {
    /// `track_audio_features`.
    pub audio: TrackAudioFeatures,
    /// `track_popularity`; `None` when not materialized.
    pub popularity: Option<TrackPopularity>,
}

/// What a published feature version holds, stored under [`crate::keys::FeatureVersion::meta_key`]
/// once all its entities are written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureSetMeta {
    /// The feature version's number.
    pub version: u64,
    /// RFC 3339; the end of every time window of the version.
    pub as_of: String,
    /// When the version was materialized, RFC 3339.
    pub created_at: String,
    /// Users written in this version.
    pub users: usize,
    /// Tracks written in this version.
    pub tracks: usize,
    /// The model whose embeddings `track_audio_features` carries, if any.
    pub model_version: Option<String>,
    /// Bytes of the version's user and track keys and values (absent in older metas).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// The schema of every value of the version (1 in metas written before layouts existed):
    /// 2 puts the embeddings in the model's namespace, so its model must have been published
    /// with them (`PublishedModel::embeddings`).
    #[serde(default = "schema_one")]
    pub layout: u32,
    /// Layout 3 at the edge: when the mirror finished writing the version's values there
    /// (unix seconds; absent in Redis). A reader serving another version switches to it only
    /// once the settle time has passed since: KV may show an overwritten key late.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values_written_at: Option<i64>,
}

fn schema_one() -> u32 {
    OLDEST_SCHEMA
}

/// A track's embedding as stored in its model's namespace: base64 of little-endian f32s
/// (684 characters for d = 128, against ~1.3 KB as JSON numbers, and no float parsing).
pub fn encode_embedding(row: &[f32]) -> String {
    use base64::Engine;
    let bytes: Vec<u8> = row.iter().flat_map(|x| x.to_le_bytes()).collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Reads [`encode_embedding`]'s text, which must hold `dim` finite floats.
pub fn decode_embedding(text: &str, dim: usize) -> Result<Vec<f32>, FieldError> {
    let row = parse_embedding(text)?;
    if row.len() != dim {
        return Err(FieldError::new(
            "embedding",
            format!("holds {} floats, not {dim} (the model's d)", row.len()),
        ));
    }
    Ok(row)
}

/// Reads [`encode_embedding`]'s text: a non-empty whole number of finite floats.
pub fn parse_embedding(text: &str) -> Result<Vec<f32>, FieldError> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|e| FieldError::new("embedding", format!("is not base64: {e}")))?;
    if bytes.is_empty() || bytes.len() % 4 != 0 {
        return Err(FieldError::new(
            "embedding",
            format!("holds {} bytes, not a whole number of f32s", bytes.len()),
        ));
    }
    let row: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    if let Some(i) = row.iter().position(|x| !x.is_finite()) {
        return Err(FieldError::new(format!("embedding[{i}]"), "is not finite"));
    }
    Ok(row)
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
    /// Written with a schema version this reader does not know.
    #[error(
        "stored value has schema version {found}, this reader knows {OLDEST_SCHEMA} to {SCHEMA_VERSION}; upgrade the reader or re-materialize"
    )]
    UnknownSchema {
        /// The version the value carries.
        found: u32,
    },
    /// A value of layout 3 was expected (`crate::versioned`), one of another schema found.
    #[error(
        "stored value has schema version {found}, not 3: a value of layout 3 holds its entity's entries by version; re-materialize with --layout 3, or read the version's own layout"
    )]
    NotVersioned {
        /// The version the value carries.
        found: u32,
    },
    /// The value has no numeric `schema` field.
    #[error("stored value has no schema version")]
    MissingSchema,
    /// The value does not have the view's shape.
    #[error("stored value is malformed at `{field}`: {message}")]
    Malformed {
        /// The offending path, such as `history.tracks[0]` (`.` for the whole value).
        field: String,
        /// serde's message.
        message: String,
    },
}

/// Serialises a view or bundle with the current schema version.
pub fn encode<T: Serialize>(value: &T) -> String {
    encode_as(value, SCHEMA_VERSION)
}

/// Serialises a value under `schema`; the caller shapes it for that schema (schema 1: the
/// embedding inside, `embedded` false).
pub fn encode_as<T: Serialize>(value: &T, schema: u32) -> String {
    serde_json::to_string(&Stored { schema, value })
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
        Some(v) if (u64::from(OLDEST_SCHEMA)..=u64::from(SCHEMA_VERSION)).contains(&v) => {}
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
    /// Checks the audio features as [`AudioFeatures::validate`] does, and that the embedding is finite.
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
        assert!(text.starts_with(r#"{"schema":2,"#), "{text}");
        assert_eq!(decode::<UserFeatures>(&text), Ok(user.clone()));
        // The older layout is still read, the same way.
        let old = encode_as(&user, 1);
        assert!(old.starts_with(r#"{"schema":1,"#), "{old}");
        assert_eq!(decode::<UserFeatures>(&old), Ok(user));
    }

    #[test]
    fn embeddings_round_trip_as_base64_and_bad_ones_name_the_problem() {
        let row = [0.5f32, -1.25, 3.0e-7, 42.0];
        let text = encode_embedding(&row);
        assert_eq!(text.len(), 24);
        assert_eq!(decode_embedding(&text, 4).unwrap(), row);
        let short = decode_embedding(&text, 5).unwrap_err();
        assert!(short.message.contains("not 5"), "{short}");
        assert!(decode_embedding("%%", 4).is_err());
        let nan = encode_embedding(&[1.0, f32::NAN]);
        assert_eq!(decode_embedding(&nan, 2).unwrap_err().field, "embedding[1]");
    }

    #[test]
    fn a_meta_without_a_layout_is_of_the_first() {
        let meta: FeatureSetMeta = serde_json::from_str(
            r#"{"version":3,"as_of":"x","created_at":"y","users":1,"tracks":2,"model_version":"m"}"#,
        )
        .unwrap();
        assert_eq!(meta.layout, 1);
    }

    #[test]
    fn unknown_or_missing_schema_versions_are_rejected() {
        let text = r#"{"schema":3,"history":{"tracks":[]}}"#;
        let refused = decode::<UserFeatures>(text).unwrap_err();
        assert_eq!(refused, DecodeError::UnknownSchema { found: 3 });
        assert!(refused.to_string().contains("knows 1 to 2"), "{refused}");
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
