//! The two baselines SASRec must beat, scored on the same split and protocols:
//!
//! - **most popular**: tracks ranked by how often they appear in training histories;
//! - **heuristic**: the product's own heuristic from `resonance-shared` (audio-preference match
//!   and popularity; interest graphs and request context are not part of this offline split),
//!   the very code the edge uses when the model is unavailable.

use resonance_shared::catalogue::Track;
use resonance_shared::features::{
    MeanSpread, TrackAudioFeatures, TrackFeatures, TrackPopularity, UserAudioPreferences,
    UserFeatures,
};
use resonance_shared::heuristic::{self, HeuristicCandidate, HeuristicWeights};

use super::evaluate::FullScorer;

/// Scores every track by its training count.
pub struct MostPopular {
    scores: Vec<f32>,
}

impl MostPopular {
    pub fn new(train_counts: &[u32]) -> Self {
        Self {
            scores: train_counts.iter().map(|&c| c as f32).collect(),
        }
    }
}

impl FullScorer for MostPopular {
    fn score(&mut self, _: &[usize], histories: &[&[u32]]) -> anyhow::Result<Vec<f32>> {
        Ok(histories
            .iter()
            .flat_map(|_| self.scores.iter().copied())
            .collect())
    }
}

/// Scores every track with the shared heuristic, from the user's training history.
pub struct Heuristic {
    /// Per embedding row (row 0 unused).
    tracks: Vec<TrackFeatures>,
    ids: Vec<String>,
    weights: HeuristicWeights,
}

impl Heuristic {
    /// `catalogue_rows[i]` is the catalogue entry of embedding row `i + 1`.
    pub fn new(catalogue_rows: &[&Track], train_counts: &[u32]) -> Self {
        let mut tracks = vec![neutral_track(None, 0)];
        tracks.extend(
            catalogue_rows
                .iter()
                .enumerate()
                .map(|(i, t)| neutral_track(Some(t), train_counts[i + 1])),
        );
        let ids = (0..tracks.len()).map(|i| i.to_string()).collect();
        Self {
            tracks,
            ids,
            weights: HeuristicWeights::default(),
        }
    }

    fn user(&self, history: &[u32]) -> UserFeatures {
        let stat = |f: fn(&TrackAudioFeatures) -> f32| {
            let values: Vec<f32> = history
                .iter()
                .map(|&i| f(&self.tracks[i as usize].audio))
                .collect();
            let n = values.len().max(1) as f32;
            let mean = values.iter().sum::<f32>() / n;
            let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
            MeanSpread {
                mean,
                spread: var.sqrt(),
            }
        };
        UserFeatures {
            audio_preferences: Some(UserAudioPreferences {
                energy: stat(|a| a.energy),
                valence: stat(|a| a.valence),
                danceability: stat(|a| a.danceability),
            }),
            ..Default::default()
        }
    }
}

/// A track's features for the heuristic; catalogues without audio analysis get neutral values
/// (which then rank nothing, since the heuristic normalises each signal over the candidates).
fn neutral_track(track: Option<&Track>, plays: u32) -> TrackFeatures {
    let audio = track.and_then(|t| t.audio);
    TrackFeatures {
        audio: TrackAudioFeatures {
            artist: track.map(|t| t.artist.clone()).unwrap_or_default(),
            genre: track.map(|t| t.genre.clone()).unwrap_or_default(),
            energy: audio.map_or(0.5, |a| a.energy),
            valence: audio.map_or(0.5, |a| a.valence),
            danceability: audio.map_or(0.5, |a| a.danceability),
            tempo: audio.map_or(120.0, |a| a.tempo),
            acousticness: audio.map_or(0.5, |a| a.acousticness),
            embedding: vec![],
        },
        // The offline split has no calendar windows: training counts stand in for both.
        popularity: Some(TrackPopularity {
            plays_7d: plays,
            plays_30d: plays,
            ..Default::default()
        }),
    }
}

impl FullScorer for Heuristic {
    fn score(&mut self, _: &[usize], histories: &[&[u32]]) -> anyhow::Result<Vec<f32>> {
        let candidates: Vec<HeuristicCandidate<'_>> = self
            .tracks
            .iter()
            .zip(&self.ids)
            .map(|(t, id)| HeuristicCandidate {
                track_id: id,
                features: Some(t),
            })
            .collect();
        let mut out = Vec::with_capacity(histories.len() * candidates.len());
        for history in histories {
            let user = self.user(history);
            out.extend(
                heuristic::score(&user, &candidates, None, &self.weights)
                    .iter()
                    .map(|s| s.total),
            );
        }
        Ok(out)
    }
}
