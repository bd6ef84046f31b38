//! The heuristic scorer: what we know about a listener and a track, without the model.
//!
//! Five signals, each computed per candidate and then min–max normalised over the candidate
//! set, so that their weights mean the same thing whatever the catalogue's scale:
//!
//! | signal        | from                                                               |
//! |---------------|--------------------------------------------------------------------|
//! | audio match   | the track's energy/valence/danceability vs the user's mean ± spread |
//! | popularity    | plays and likes over 7 and 30 days, and the trend                  |
//! | interest      | the interest graph's weight for the artist and genre, and its moods |
//! | skip history  | a penalty for tracks the user recently skipped                     |
//! | context       | the fit of energy and danceability to the hour and device          |
//!
//! The scorer never fails on missing data: an unknown user or track simply has no signal.

use serde::{Deserialize, Serialize};

use crate::context::ContextAwareFeatures;
use crate::features::{TrackFeatures, UserAudioPreferences, UserFeatures};
use crate::validate::{self, FieldError};

/// How much each signal counts. Need not sum to one; must be finite and ≥ 0.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeuristicWeights {
    /// Weight of the audio match with the user's taste.
    pub audio_match: f32,
    /// Weight of recent popularity.
    pub popularity: f32,
    /// Weight of the interest graph's artists, genres and moods.
    pub interest: f32,
    /// Penalty for a track the user recently skipped (subtracted).
    pub skip_history: f32,
    /// Weight of the fit to the request's context.
    pub context: f32,
}

impl Default for HeuristicWeights {
    fn default() -> Self {
        Self {
            audio_match: 0.30,
            popularity: 0.20,
            interest: 0.25,
            skip_history: 0.15,
            context: 0.10,
        }
    }
}

impl HeuristicWeights {
    /// Checks that every weight is finite and ≥ 0; the error names the first bad one.
    pub fn validate(&self) -> Result<(), FieldError> {
        validate::non_negative("heuristic_weights.audio_match", self.audio_match)?;
        validate::non_negative("heuristic_weights.popularity", self.popularity)?;
        validate::non_negative("heuristic_weights.interest", self.interest)?;
        validate::non_negative("heuristic_weights.skip_history", self.skip_history)?;
        validate::non_negative("heuristic_weights.context", self.context)?;
        Ok(())
    }
}

/// One candidate as the heuristic sees it: its id and whatever features the store had.
#[derive(Debug, Clone, Copy)]
pub struct HeuristicCandidate<'a> {
    /// The candidate's track id.
    pub track_id: &'a str,
    /// The track's stored features; `None` when the store has none (every signal is then 0).
    pub features: Option<&'a TrackFeatures>,
}

/// The heuristic score of one candidate and its normalised signals (each in `[0, 1]`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct HeuristicScore {
    /// The weighted sum of the signals, the skip penalty subtracted; what the mixer uses.
    pub total: f32,
    /// How close the track sounds to the user's taste.
    pub audio_match: f32,
    /// How much the track was played and liked lately.
    pub popularity: f32,
    /// How well the track's artist, genre and mood match the interest graph.
    pub interest: f32,
    /// 1 when the user recently skipped this track.
    pub skipped: f32,
    /// How well the track's energy and danceability fit the moment.
    pub context: f32,
}

/// Scores every candidate for one user; the output is in the candidates' order.
pub fn score(
    user: &UserFeatures,
    candidates: &[HeuristicCandidate<'_>],
    context: Option<&ContextAwareFeatures>,
    weights: &HeuristicWeights,
) -> Vec<HeuristicScore> {
    let raw = |f: &dyn Fn(&TrackFeatures) -> f32| -> Vec<f32> {
        candidates
            .iter()
            .map(|c| c.features.map_or(0.0, f))
            .collect()
    };
    let audio_match = min_max(raw(&|t| {
        user.audio_preferences
            .as_ref()
            .map_or(0.0, |prefs| audio_match(prefs, t))
    }));
    let popularity = min_max(raw(&|t| {
        t.popularity.as_ref().map_or(0.0, |p| {
            (p.plays_7d as f32).ln_1p()
                + 0.5 * (p.plays_30d as f32).ln_1p()
                + 0.5 * (p.likes_30d as f32).ln_1p()
                + 0.3 * p.trend.clamp(-1.0, 2.0)
        })
    }));
    let graph = user.interest_graph.as_ref().map(|g| (g, g.weights()));
    let interest = min_max(raw(&|t| {
        graph.as_ref().map_or(0.0, |(g, weights)| {
            let mood = if g.has_mood(t.audio.mood().as_str()) {
                0.3
            } else {
                0.0
            };
            weights.artist(&t.audio.artist) + weights.genre(&t.audio.genre) + mood
        })
    }));
    let context = min_max(raw(&|t| {
        context.map_or(0.0, |c| c.fit(t.audio.energy, t.audio.danceability))
    }));
    candidates
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let skipped = if user.history.skipped.iter().any(|s| s == c.track_id) {
                1.0
            } else {
                0.0
            };
            let total = weights.audio_match * audio_match[i]
                + weights.popularity * popularity[i]
                + weights.interest * interest[i]
                + weights.context * context[i]
                - weights.skip_history * skipped;
            HeuristicScore {
                total,
                audio_match: audio_match[i],
                popularity: popularity[i],
                interest: interest[i],
                skipped,
                context: context[i],
            }
        })
        .collect()
}

/// A Gaussian kernel of the track's distance to the user's taste, in spreads; `(0, 1]`.
fn audio_match(prefs: &UserAudioPreferences, track: &TrackFeatures) -> f32 {
    let z = |value: f32, pref: &crate::features::MeanSpread| {
        let spread = pref.spread.max(0.08);
        let d = (value - pref.mean) / spread;
        d * d
    };
    let a = &track.audio;
    let mean_sq = (z(a.energy, &prefs.energy)
        + z(a.valence, &prefs.valence)
        + z(a.danceability, &prefs.danceability))
        / 3.0;
    (-0.5 * mean_sq).exp()
}

/// Rescales to `[0, 1]` over the set; a constant signal becomes all zeros (it ranks nothing).
fn min_max(values: Vec<f32>) -> Vec<f32> {
    let (lo, hi) = values
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    let range = hi - lo;
    if !(range.is_finite() && range > 1e-12) {
        return vec![0.0; values.len()];
    }
    values.into_iter().map(|v| (v - lo) / range).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::RequestContext;
    use crate::features::{MeanSpread, TrackAudioFeatures, TrackPopularity, UserRecentHistory};
    use crate::interest::InterestGraph;

    fn track(artist: &str, genre: &str, energy: f32, plays_7d: u32) -> TrackFeatures {
        TrackFeatures {
            audio: TrackAudioFeatures {
                artist: artist.into(),
                genre: genre.into(),
                energy,
                valence: 0.5,
                danceability: 0.5,
                tempo: 120.0,
                acousticness: 0.2,
                embedding: vec![],
                embedded: false,
            },
            popularity: Some(TrackPopularity {
                plays_7d,
                plays_30d: plays_7d * 4,
                ..Default::default()
            }),
        }
    }

    fn rank(scores: &[HeuristicScore]) -> usize {
        (0..scores.len())
            .max_by(|&a, &b| scores[a].total.total_cmp(&scores[b].total))
            .unwrap()
    }

    #[test]
    fn each_signal_prefers_the_track_it_should() {
        let tracks = [track("A", "jazz", 0.2, 5), track("B", "techno", 0.9, 500)];
        let cands: Vec<_> = ["a", "b"]
            .iter()
            .zip(&tracks)
            .map(|(id, t)| HeuristicCandidate {
                track_id: id,
                features: Some(t),
            })
            .collect();
        let only = |w: HeuristicWeights| w;
        let zero = HeuristicWeights {
            audio_match: 0.0,
            popularity: 0.0,
            interest: 0.0,
            skip_history: 0.0,
            context: 0.0,
        };
        let calm = UserFeatures {
            audio_preferences: Some(UserAudioPreferences {
                energy: MeanSpread {
                    mean: 0.25,
                    spread: 0.1,
                },
                valence: MeanSpread {
                    mean: 0.5,
                    spread: 0.1,
                },
                danceability: MeanSpread {
                    mean: 0.5,
                    spread: 0.1,
                },
            }),
            interest_graph: Some(InterestGraph {
                top_genres: [("jazz".to_string(), 1.0)].into(),
                ..Default::default()
            }),
            history: UserRecentHistory {
                tracks: vec![],
                skipped: vec!["b".into()],
            },
            ..Default::default()
        };
        let s = |w| score(&calm, &cands, None, &w);
        assert_eq!(
            rank(&s(only(HeuristicWeights {
                audio_match: 1.0,
                ..zero
            }))),
            0
        );
        assert_eq!(
            rank(&s(only(HeuristicWeights {
                popularity: 1.0,
                ..zero
            }))),
            1
        );
        assert_eq!(
            rank(&s(only(HeuristicWeights {
                interest: 1.0,
                ..zero
            }))),
            0
        );
        assert_eq!(
            rank(&s(only(HeuristicWeights {
                skip_history: 1.0,
                ..zero
            }))),
            0
        );
        let evening = RequestContext {
            hour: Some(20),
            ..Default::default()
        }
        .features();
        let ctx = score(
            &calm,
            &cands,
            evening.as_ref(),
            &HeuristicWeights {
                context: 1.0,
                ..zero
            },
        );
        assert_eq!(rank(&ctx), 1);
    }

    #[test]
    fn unknown_users_and_tracks_score_zero_without_failing() {
        let cands = [HeuristicCandidate {
            track_id: "x",
            features: None,
        }; 3];
        let scores = score(
            &UserFeatures::default(),
            &cands,
            None,
            &HeuristicWeights::default(),
        );
        assert!(scores.iter().all(|s| s.total == 0.0));
    }
}
