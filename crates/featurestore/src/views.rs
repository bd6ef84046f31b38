//! The feature views of `docs/DESIGN.md`, computed from a dataset as of one instant.
//!
//! Every window ends at `as_of` and only events at or before it count, so a backfill is
//! reproducible and nothing from the future leaks in:
//!
//! ```text
//! user_listening_stats     plays, likes, skips, skip rate, minutes     (as_of − 7 d, as_of]
//! user_audio_preferences   mean and spread of energy, valence, dance   positive listens ≤ as_of
//! user_recent_history      the last L tracks the model reads, recent skips
//! track_audio_features     catalogue audio features + the model's embedding
//! track_popularity         plays and likes over 7 and 30 days, trend
//! ```
//!
//! The history follows the model's own rule: positive listens only, unless the model was
//! trained with skips as interactions (`include_skips` in its manifest).

use std::collections::HashMap;

use resonance_shared::events::EventKind;
use resonance_shared::features::{
    MeanSpread, TrackAudioFeatures, TrackFeatures, TrackPopularity, UserAudioPreferences,
    UserFeatures, UserListeningStats, UserRecentHistory, encode_as,
};
use resonance_shared::keys::{Entity, FeatureVersion};
use resonance_shared::versioned;

use resonance_data::Dataset;

use crate::values::EntityValue;

const DAY: i64 = 86_400;
/// Recent skips kept per user (the heuristic penalises re-recommending them).
pub const RECENT_SKIPS: usize = 20;

/// The model whose embeddings the track views carry.
pub struct ModelEmbeddings<'a> {
    /// Track id → row of `table`.
    pub rows: HashMap<&'a str, usize>,
    /// `[rows, dim]`, row-major.
    pub table: &'a [f32],
    /// Floats per row (the model's d).
    pub dim: usize,
    /// How many history tracks the model reads.
    pub max_len: usize,
    /// Whether the model was trained on skipped tracks too (its history rule).
    pub include_skips: bool,
}

impl<'a> ModelEmbeddings<'a> {
    /// The embeddings and history rule of an exported model.
    pub fn of(artifact: &'a resonance_registry::ModelArtifact) -> Self {
        let manifest = &artifact.manifest;
        Self {
            rows: manifest
                .track_to_idx
                .iter()
                .map(|(t, &i)| (t.as_str(), i as usize))
                .collect(),
            table: &artifact.embeddings,
            dim: manifest.embeddings.dim,
            max_len: manifest.hyperparameters.max_len,
            include_skips: manifest.hyperparameters.include_skips,
        }
    }
}

/// Every stored view of every user and track, ready to publish.
#[derive(Debug, Clone, Default)]
pub struct FeatureSet {
    /// Every user's value, by id.
    pub users: Vec<(String, UserFeatures)>,
    /// Every track's value, by id.
    pub tracks: Vec<(String, TrackFeatures)>,
}

/// The instant every window ends: `--as-of` (RFC 3339 or unix seconds), else the last event.
pub fn resolve_as_of(flag: Option<&str>, data: &Dataset) -> anyhow::Result<i64> {
    match flag {
        Some(text) => resonance_data::events_csv::parse_timestamp(text)
            .map_err(|e| anyhow::anyhow!("--as-of: {}", e.message)),
        None => data
            .events
            .last()
            .map(|e| e.timestamp)
            .ok_or_else(|| anyhow::anyhow!("the dataset has no events")),
    }
}

/// The version to write: `--feature-version`, else the unix time `now`; never 0.
pub fn resolve_version(flag: Option<u64>, now: i64) -> anyhow::Result<FeatureVersion> {
    match flag.unwrap_or(now.max(0) as u64) {
        0 => anyhow::bail!("--feature-version must be positive"),
        v => Ok(FeatureVersion(v)),
    }
}

/// Computes every view as of `as_of` (unix seconds).
pub fn compute(data: &Dataset, as_of: i64, model: Option<&ModelEmbeddings<'_>>) -> FeatureSet {
    let history_len = model.map_or(50, |m| m.max_len);
    let include_skips = model.is_some_and(|m| m.include_skips);
    let audio: HashMap<&str, _> = data
        .catalogue
        .iter()
        .filter_map(|t| t.audio.map(|a| (t.track_id.as_str(), a)))
        .collect();

    #[derive(Default)]
    struct UserAcc<'a> {
        stats: UserListeningStats,
        energy: Moments,
        valence: Moments,
        danceability: Moments,
        history: Vec<&'a str>,
        skipped: Vec<&'a str>,
    }
    let mut users: HashMap<&str, UserAcc<'_>> = HashMap::new();
    let mut popularity: HashMap<&str, TrackPopularity> = HashMap::new();
    for event in data.events.iter().take_while(|e| e.timestamp <= as_of) {
        let age = as_of - event.timestamp;
        let user = users.entry(&event.user_id).or_default();
        let track = popularity.entry(&event.track_id).or_default();
        if age < 7 * DAY {
            match event.kind {
                EventKind::Play => user.stats.plays_7d += 1,
                EventKind::Like => user.stats.likes_7d += 1,
                EventKind::Skip => user.stats.skips_7d += 1,
            }
            user.stats.minutes_7d += event.ms_played.unwrap_or(0) as f32 / 60_000.0;
        }
        if event.kind.is_positive() {
            if let Some(a) = audio.get(event.track_id.as_str()) {
                user.energy.add(a.energy);
                user.valence.add(a.valence);
                user.danceability.add(a.danceability);
            }
            if age < 7 * DAY {
                track.plays_7d += 1;
                track.likes_7d += u32::from(event.kind == EventKind::Like);
            }
            if age < 30 * DAY {
                track.plays_30d += 1;
                track.likes_30d += u32::from(event.kind == EventKind::Like);
            }
        } else {
            user.skipped.push(&event.track_id);
        }
        if include_skips || event.kind.is_positive() {
            user.history.push(&event.track_id);
        }
    }

    let mut user_views: Vec<(String, UserFeatures)> = users
        .into_iter()
        .map(|(id, mut acc)| {
            let total = acc.stats.plays_7d + acc.stats.likes_7d + acc.stats.skips_7d;
            if total > 0 {
                acc.stats.skip_rate_7d = acc.stats.skips_7d as f32 / total as f32;
            }
            let audio_preferences = (acc.energy.count > 0).then(|| UserAudioPreferences {
                energy: acc.energy.finish(),
                valence: acc.valence.finish(),
                danceability: acc.danceability.finish(),
            });
            let last = |v: &[&str], n: usize| -> Vec<String> {
                v[v.len().saturating_sub(n)..]
                    .iter()
                    .map(|s| s.to_string())
                    .collect()
            };
            let features = UserFeatures {
                listening_stats: Some(acc.stats),
                audio_preferences,
                history: UserRecentHistory {
                    tracks: last(&acc.history, history_len),
                    skipped: last(&acc.skipped, RECENT_SKIPS),
                },
                interest_graph: None,
            };
            (id.to_string(), features)
        })
        .collect();
    user_views.sort_by(|a, b| a.0.cmp(&b.0));

    let track_views = data
        .catalogue
        .iter()
        .filter_map(|t| {
            let a = t.audio?;
            let embedding = model
                .and_then(|m| {
                    m.rows
                        .get(t.track_id.as_str())
                        .map(|&row| m.table[row * m.dim..(row + 1) * m.dim].to_vec())
                })
                .unwrap_or_default();
            let popularity = popularity.remove(t.track_id.as_str()).map(|mut p| {
                p.trend = trend(p.plays_7d, p.plays_30d);
                p
            });
            let features = TrackFeatures {
                audio: TrackAudioFeatures {
                    artist: t.artist.clone(),
                    genre: t.genre.clone(),
                    energy: a.energy,
                    valence: a.valence,
                    danceability: a.danceability,
                    tempo: a.tempo,
                    acousticness: a.acousticness,
                    embedded: !embedding.is_empty(),
                    embedding,
                },
                popularity,
            };
            Some((t.track_id.clone(), features))
        })
        .collect();
    FeatureSet {
        users: user_views,
        tracks: track_views,
    }
}

impl FeatureSet {
    /// Every entity as a stored pair: its key in `version` and its value in `layout` (a
    /// schema, `features::OLDEST_SCHEMA..=SCHEMA_VERSION`; [`stored_track`]).
    pub fn stored_pairs(
        &self,
        version: FeatureVersion,
        layout: u32,
    ) -> impl Iterator<Item = (String, String)> + '_ {
        let users = self.users.iter().map(move |(id, user)| {
            let key = version.entity_key(Entity::User, id);
            (key, encode_as(user, layout))
        });
        let tracks = self.tracks.iter().map(move |(id, track)| {
            let key = version.entity_key(Entity::Track, id);
            (key, encode_as(&stored_track(track, layout), layout))
        });
        users.chain(tracks)
    }

    /// Every entity's value as layout 3 stores it in its entries (`crate::values`): the shape
    /// of layout 2, without a schema field.
    pub fn entity_values(&self) -> Vec<EntityValue> {
        let users = self.users.iter().map(|(id, user)| EntityValue {
            entity: Entity::User,
            id: id.clone(),
            text: versioned::encode_value(user),
        });
        let tracks = self.tracks.iter().map(|(id, track)| EntityValue {
            entity: Entity::Track,
            id: id.clone(),
            text: versioned::encode_value(&stored_track(track, versioned::ENTRY_VALUE_SCHEMA)),
        });
        users.chain(tracks).collect()
    }
}

/// A track's value as `layout` stores it: from 2 on its embedding is left to the model's
/// namespace (`publication::model_pairs`); in 1, for Workers of the older layout, it is
/// carried and `embedded` is false.
fn stored_track(track: &TrackFeatures, layout: u32) -> TrackFeatures {
    let mut stored = track.clone();
    if layout >= 2 {
        stored.audio.embedding.clear();
    } else {
        stored.audio.embedded = false;
    }
    stored
}

/// `plays_7d / (plays_30d / 30 · 7) − 1`: above 0 when the last week beats the month's pace.
fn trend(plays_7d: u32, plays_30d: u32) -> f32 {
    if plays_30d == 0 {
        return 0.0;
    }
    plays_7d as f32 / (plays_30d as f32 * 7.0 / 30.0) - 1.0
}

/// Running mean and variance (Welford), for the audio preferences.
#[derive(Default)]
struct Moments {
    count: u32,
    mean: f64,
    m2: f64,
}

impl Moments {
    fn add(&mut self, x: f32) {
        self.count += 1;
        let delta = f64::from(x) - self.mean;
        self.mean += delta / f64::from(self.count);
        self.m2 += delta * (f64::from(x) - self.mean);
    }

    fn finish(&self) -> MeanSpread {
        MeanSpread {
            mean: self.mean as f32,
            spread: (self.m2 / f64::from(self.count.max(1))).sqrt() as f32,
        }
    }
}

#[cfg(test)]
mod tests;
