//! The two baselines SASRec must beat, and the hybrid the edge serves, scored on the same
//! split and protocols:
//!
//! - **most popular**: tracks ranked by how often they appear in training histories;
//! - **heuristic**: the product's own heuristic from `resonance-shared` (audio-preference match
//!   and popularity; request context is not part of this offline split), the very code the
//!   edge uses when the model is unavailable; with or without interest graphs;
//! - **hybrid**: SASRec and the heuristic with graphs, each standardised over the catalogue and
//!   mixed as the edge mixes them (the mix `trainer eval` tunes, [`crate::mix`]).

use resonance_shared::catalogue::Track;
use resonance_shared::features::{
    MeanSpread, TrackAudioFeatures, TrackFeatures, TrackPopularity, UserAudioPreferences,
    UserFeatures,
};
use resonance_shared::heuristic::{self, HeuristicCandidate, HeuristicWeights};
use resonance_shared::interest::InterestGraph;
use resonance_shared::mixer::{MixWeights, Standardiser};

use super::evaluate::FullScorer;
use super::scorer::SasRecScorer;

/// Scores every track by its training count.
pub struct MostPopular {
    scores: Vec<f32>,
}

impl MostPopular {
    /// `train_counts[i]`: how often embedding row `i` occurs in the training histories.
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
    /// Per user index; empty when the heuristic runs without interest graphs.
    graphs: Vec<InterestGraph>,
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
            graphs: Vec::new(),
        }
    }

    /// The same heuristic, with `graphs[u]` as user `u`'s interest graph.
    pub fn with_graphs(mut self, graphs: Vec<InterestGraph>) -> Self {
        self.graphs = graphs;
        self
    }

    fn user(&self, index: usize, history: &[u32]) -> UserFeatures {
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
            interest_graph: self.graphs.get(index).cloned(),
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
            embedded: false,
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
    fn score(&mut self, users: &[usize], histories: &[&[u32]]) -> anyhow::Result<Vec<f32>> {
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
        for (&index, history) in users.iter().zip(histories) {
            let user = self.user(index, history);
            out.extend(
                heuristic::score(&user, &candidates, None, &self.weights)
                    .iter()
                    .map(|s| s.total),
            );
        }
        Ok(out)
    }
}

/// SASRec and the heuristic, each standardised (z-score) over the catalogue, mixed as the edge
/// mixes them.
pub struct Hybrid {
    /// The transformer part.
    pub model: SasRecScorer,
    /// The heuristic part, usually with interest graphs.
    pub heuristic: Heuristic,
    /// The mix: the model's own (tuned by `trainer eval`), or the edge's default 0.7 / 0.3.
    pub weights: MixWeights,
}

/// A batch's two parts, each standardised per user over the catalogue, row-major
/// `[users, num_items + 1]` as [`FullScorer::score`] returns them.
pub struct StandardisedParts {
    transformer: Vec<f32>,
    heuristic: Vec<f32>,
}

impl StandardisedParts {
    /// `w_t · transformer + w_h · heuristic`, element by element.
    pub fn mix(&self, weights: &MixWeights) -> Vec<f32> {
        self.transformer
            .iter()
            .zip(&self.heuristic)
            .map(|(t, h)| weights.transformer * t + weights.heuristic * h)
            .collect()
    }
}

impl Hybrid {
    /// Runs both parts on a batch and standardises each user's row of each.
    pub fn parts(
        &mut self,
        users: &[usize],
        histories: &[&[u32]],
    ) -> anyhow::Result<StandardisedParts> {
        let mut transformer = self.model.score(users, histories)?;
        let mut heuristic = self.heuristic.score(users, histories)?;
        let row = transformer.len() / histories.len().max(1);
        for part in [&mut transformer, &mut heuristic] {
            for user in part.chunks_mut(row.max(1)) {
                standardise(user);
            }
        }
        Ok(StandardisedParts {
            transformer,
            heuristic,
        })
    }
}

impl FullScorer for Hybrid {
    fn score(&mut self, users: &[usize], histories: &[&[u32]]) -> anyhow::Result<Vec<f32>> {
        Ok(self.parts(users, histories)?.mix(&self.weights))
    }
}

/// z-scores a row in place, fitted without row 0 (padding); a constant row becomes zeros.
/// The shared mixer's standardiser, so the evaluated hybrid is the one the edge serves.
fn standardise(row: &mut [f32]) {
    let fitted = Standardiser::fit(row[1..].iter().copied());
    for v in row {
        *v = fitted.apply(*v);
    }
}

/// Interest graphs for the evaluation, leak-free: the offline builder on each user's test
/// history (everything before the held-out track). The sequences carry no timestamps, so the
/// history is spread evenly over the builder's 90-day window, the newest track last.
pub fn offline_graphs(
    histories: impl Iterator<Item = Vec<u32>>,
    catalogue_rows: &[&resonance_shared::catalogue::Track],
) -> Vec<InterestGraph> {
    use resonance_interest::{DEFAULT_SINCE_DAYS, offline, summary};
    histories
        .map(|history| {
            let n = history.len().max(1) as f64;
            let listens: Vec<summary::Listen<'_>> = history
                .iter()
                .enumerate()
                .filter_map(|(i, &row)| {
                    let track = *catalogue_rows.get((row as usize).checked_sub(1)?)?;
                    Some(summary::Listen {
                        track,
                        kind: resonance_shared::events::EventKind::Play,
                        age_days: (n - 1.0 - i as f64) * f64::from(DEFAULT_SINCE_DAYS) / n,
                        hour: None,
                        device: None,
                    })
                })
                .collect();
            offline::graph(&summary::summarise(&listens, DEFAULT_SINCE_DAYS))
        })
        .collect()
}
