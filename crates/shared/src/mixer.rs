//! The hybrid mixer: `score = w_t · transformer + w_h · heuristic`.
//!
//! The transformer's logits and the heuristic's totals live on unrelated scales, so each is
//! standardised (z-score) over the candidate set before mixing. A candidate the model could
//! not score (an unknown track) gets the transformer's mean, 0, so it neither wins nor loses
//! on a signal it does not have. Ties are broken by track id, and the statistics are summed
//! in sorted order, so the ranking does not depend on the order the candidates arrived in.

use serde::{Deserialize, Serialize};

use crate::validate::{self, FieldError};

/// The mix of the two parts. Defaults to 0.7 transformer, 0.3 heuristic.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct MixWeights {
    /// Weight of the standardised transformer part (≥ 0).
    pub transformer: f32,
    /// Weight of the standardised heuristic part (≥ 0; the two may not both be 0).
    pub heuristic: f32,
}

impl Default for MixWeights {
    fn default() -> Self {
        Self {
            transformer: 0.7,
            heuristic: 0.3,
        }
    }
}

impl MixWeights {
    /// Checks that both weights are finite and non-negative and not both zero.
    pub fn validate(&self) -> Result<(), FieldError> {
        validate::non_negative("weights.transformer", self.transformer)?;
        validate::non_negative("weights.heuristic", self.heuristic)?;
        if self.transformer + self.heuristic <= 0.0 {
            return Err(FieldError::new(
                "weights",
                "at least one weight must be positive",
            ));
        }
        Ok(())
    }
}

/// One candidate's two raw parts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PartScores<'a> {
    /// The candidate.
    pub track_id: &'a str,
    /// The model's logit; `None` when the model could not score this track.
    pub transformer: Option<f32>,
    /// The heuristic's total (see [`crate::heuristic`]).
    pub heuristic: f32,
}

/// One candidate in the final ranking, with its normalised parts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MixedScore {
    /// The candidate.
    pub track_id: String,
    /// `w_t · transformer + w_h · heuristic`, the parts standardised; the ranking's key.
    pub score: f32,
    /// The standardised transformer part; `None` when the model had no score for it.
    pub transformer: Option<f32>,
    /// The standardised heuristic part.
    pub heuristic: f32,
}

/// Mixes and ranks, best first. Rejects non-finite inputs, naming the candidate.
pub fn mix(parts: &[PartScores<'_>], weights: &MixWeights) -> Result<Vec<MixedScore>, FieldError> {
    weights.validate()?;
    for (i, p) in parts.iter().enumerate() {
        if p.transformer.is_some_and(|t| !t.is_finite()) {
            return Err(FieldError::new(
                format!("transformer[{i}]"),
                "is not finite",
            ));
        }
        if !p.heuristic.is_finite() {
            return Err(FieldError::new(format!("heuristic[{i}]"), "is not finite"));
        }
    }
    let transformer = Standardiser::fit(parts.iter().filter_map(|p| p.transformer));
    let heuristic = Standardiser::fit(parts.iter().map(|p| p.heuristic));
    let mut ranked: Vec<MixedScore> = parts
        .iter()
        .map(|p| {
            let t = p.transformer.map(|x| transformer.apply(x));
            let h = heuristic.apply(p.heuristic);
            MixedScore {
                track_id: p.track_id.to_string(),
                score: weights.transformer * t.unwrap_or(0.0) + weights.heuristic * h,
                transformer: t,
                heuristic: h,
            }
        })
        .collect();
    sort_best_first(&mut ranked);
    Ok(ranked)
}

/// Highest score first; equal scores by ascending track id.
pub fn sort_best_first(ranked: &mut [MixedScore]) {
    ranked.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.track_id.cmp(&b.track_id))
    });
}

/// Mean and standard deviation, computed in a fixed order so the result is the same bit for bit
/// whatever order the values came in. The edge's mixer and the offline evaluation of the hybrid
/// both standardise with it, so they agree.
pub struct Standardiser {
    mean: f64,
    std: f64,
}

impl Standardiser {
    /// The mean and deviation of `values` (both 0 when there are none).
    pub fn fit(values: impl Iterator<Item = f32>) -> Self {
        let mut v: Vec<f64> = values.map(f64::from).collect();
        if v.is_empty() {
            return Self {
                mean: 0.0,
                std: 0.0,
            };
        }
        v.sort_by(f64::total_cmp);
        let n = v.len() as f64;
        let mean = v.iter().sum::<f64>() / n;
        let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
        Self {
            mean,
            std: var.sqrt(),
        }
    }

    /// `x`'s z-score; 0 for a constant part.
    pub fn apply(&self, x: f32) -> f32 {
        // A constant part carries no ranking information: it contributes 0 to everyone.
        if self.std < 1e-9 {
            0.0
        } else {
            ((f64::from(x) - self.mean) / self.std) as f32
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_mix_ranks_by_both_parts() {
        let parts = [
            PartScores {
                track_id: "a",
                transformer: Some(3.0),
                heuristic: 0.0,
            },
            PartScores {
                track_id: "b",
                transformer: Some(1.0),
                heuristic: 1.0,
            },
            PartScores {
                track_id: "c",
                transformer: Some(2.0),
                heuristic: 0.5,
            },
        ];
        let ranked = mix(&parts, &MixWeights::default()).unwrap();
        let order: Vec<_> = ranked.iter().map(|r| r.track_id.as_str()).collect();
        assert_eq!(order, ["a", "c", "b"]);
        let heuristic_only = mix(
            &parts,
            &MixWeights {
                transformer: 0.0,
                heuristic: 1.0,
            },
        )
        .unwrap();
        assert_eq!(heuristic_only[0].track_id, "b");
    }

    #[test]
    fn an_unscored_track_gets_the_transformer_mean() {
        let parts = [
            PartScores {
                track_id: "a",
                transformer: Some(1.0),
                heuristic: 0.0,
            },
            PartScores {
                track_id: "b",
                transformer: Some(-1.0),
                heuristic: 0.0,
            },
            PartScores {
                track_id: "new",
                transformer: None,
                heuristic: 0.0,
            },
        ];
        let ranked = mix(
            &parts,
            &MixWeights {
                transformer: 1.0,
                heuristic: 0.0,
            },
        )
        .unwrap();
        let order: Vec<_> = ranked.iter().map(|r| r.track_id.as_str()).collect();
        assert_eq!(order, ["a", "new", "b"]);
        assert_eq!(ranked[1].transformer, None);
    }

    #[test]
    fn bad_weights_and_scores_are_rejected() {
        let parts = [PartScores {
            track_id: "a",
            transformer: Some(f32::NAN),
            heuristic: 0.0,
        }];
        assert_eq!(
            mix(&parts, &MixWeights::default()).unwrap_err().field,
            "transformer[0]"
        );
        let none = MixWeights {
            transformer: 0.0,
            heuristic: 0.0,
        };
        assert_eq!(mix(&[], &none).unwrap_err().field, "weights");
    }
}
