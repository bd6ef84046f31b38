//! Choosing the hybrid's mix for one model on one catalogue.
//!
//! The edge's default 0.7 / 0.3 is a guess that is wrong somewhere: on MovieLens-100K the
//! default hybrid scores below SASRec alone. So `trainer eval` scores a grid of mixes on the
//! **validation** split (each user's second-to-last interaction: the test split stays unseen
//! until the reported figures) and keeps the best; `trainer export` writes it into the
//! manifest as the model's default, and the edge mixes with it unless a request says
//! otherwise.
//!
//! Only the ratio of the two weights changes a ranking, so the grid keeps `w_t + w_h = 1`
//! and walks the heuristic's share from 0 (SASRec alone) to 1 (the heuristic alone). Both
//! parts are computed once per batch and every mix is judged on the same users and sampled
//! negatives ([`evaluate_variants`]), so the grid costs one model pass, not eleven.

use resonance_shared::mixer::MixWeights;
use serde::Serialize;

use crate::baselines::Hybrid;
use crate::evaluate::{ProtocolMetrics, Split, VariantScorer, evaluate_variants};
use crate::sequences::UserSequence;

/// The heuristic's shares the grid tries (the transformer gets the rest).
pub const HEURISTIC_SHARES: [f32; 11] = [0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0];

/// What the grid measured and what it chose.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MixChoice {
    /// The mix with the best validation NDCG@10 over the full catalogue (the gate's
    /// protocol); ties go to the sampled protocol's NDCG@10, then to the share nearest the
    /// default's.
    pub chosen: MixWeights,
    /// Every mix tried, in grid order, with its validation metrics.
    pub grid: Vec<MixTrial>,
}

/// One mix of the grid and how it scored on the validation split.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MixTrial {
    /// The mix.
    pub weights: MixWeights,
    /// Its validation metrics.
    pub metrics: ProtocolMetrics,
}

/// The grid as weights, `w_t = 1 − w_h`.
pub fn grid() -> Vec<MixWeights> {
    HEURISTIC_SHARES
        .iter()
        .map(|&heuristic| MixWeights {
            transformer: 1.0 - heuristic,
            heuristic,
        })
        .collect()
}

/// Scores every mix of `grid` from one run of the hybrid's two parts.
struct MixGrid<'a> {
    hybrid: &'a mut Hybrid,
    grid: &'a [MixWeights],
}

impl VariantScorer for MixGrid<'_> {
    fn variants(&self) -> usize {
        self.grid.len()
    }

    fn score_variants(
        &mut self,
        users: &[usize],
        histories: &[&[u32]],
    ) -> anyhow::Result<Vec<Vec<f32>>> {
        let parts = self.hybrid.parts(users, histories)?;
        Ok(self.grid.iter().map(|w| parts.mix(w)).collect())
    }
}

/// Scores the grid with `hybrid`'s two parts on the validation split and chooses a mix.
pub fn tune(
    hybrid: &mut Hybrid,
    users: &[UserSequence],
    num_items: usize,
    seed: u64,
    on_progress: impl FnMut(usize),
) -> anyhow::Result<MixChoice> {
    let grid = grid();
    let metrics = evaluate_variants(
        &mut MixGrid {
            hybrid,
            grid: &grid,
        },
        users,
        num_items,
        Split::Validation,
        seed,
        256,
        on_progress,
    )?;
    let trials: Vec<MixTrial> = grid
        .iter()
        .zip(metrics)
        .map(|(&weights, metrics)| MixTrial { weights, metrics })
        .collect();
    Ok(MixChoice {
        chosen: choose(&trials),
        grid: trials,
    })
}

/// The best trial: full-catalogue NDCG@10, then sampled NDCG@10, then the share nearest the
/// default, then the smaller heuristic share (0.2 and 0.4 are equally near 0.3; the distance
/// is rounded so that f32 noise does not decide between them).
fn choose(trials: &[MixTrial]) -> MixWeights {
    let default = MixWeights::default();
    let default_share = default.heuristic / (default.transformer + default.heuristic);
    let key = |t: &MixTrial| {
        let distance = ((t.weights.heuristic - default_share).abs() * 1e4).round();
        (
            t.metrics.full_catalogue.ndcg_at_10,
            t.metrics.sampled_100.ndcg_at_10,
            -distance,
            -t.weights.heuristic,
        )
    };
    trials
        .iter()
        .max_by(|a, b| {
            key(a)
                .partial_cmp(&key(b))
                .unwrap_or(std::cmp::Ordering::Equal)
        })
        .map_or(default, |t| t.weights)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluate::Metrics;

    fn trial(heuristic: f32, full: f64, sampled: f64) -> MixTrial {
        let at = |ndcg_at_10| Metrics {
            hr_at_10: 0.0,
            ndcg_at_10,
            users: 10,
        };
        MixTrial {
            weights: MixWeights {
                transformer: 1.0 - heuristic,
                heuristic,
            },
            metrics: ProtocolMetrics {
                sampled_100: at(sampled),
                full_catalogue: at(full),
            },
        }
    }

    #[test]
    fn the_best_full_catalogue_figure_wins_then_the_sampled_then_the_share_nearest_the_default() {
        let best = choose(&[
            trial(0.0, 0.2, 0.5),
            trial(0.1, 0.3, 0.1),
            trial(0.5, 0.25, 0.9),
        ]);
        assert_eq!(best.heuristic, 0.1);
        let tie = choose(&[
            trial(0.0, 0.3, 0.5),
            trial(0.2, 0.3, 0.6),
            trial(0.4, 0.3, 0.6),
        ]);
        assert_eq!(
            tie.heuristic, 0.2,
            "sampled breaks the tie; 0.2 and 0.4 are as near 0.3, and the smaller share wins"
        );
        let nearer = choose(&[trial(0.5, 0.3, 0.6), trial(0.4, 0.3, 0.6)]);
        assert_eq!(nearer.heuristic, 0.4, "0.4 is nearer the default than 0.5");
        let flat = choose(&[
            trial(0.0, 0.3, 0.5),
            trial(0.3, 0.3, 0.5),
            trial(1.0, 0.3, 0.5),
        ]);
        assert_eq!(flat, MixWeights::default(), "a flat grid keeps the default");
    }

    #[test]
    fn the_grid_runs_from_the_model_alone_to_the_heuristic_alone_and_every_mix_is_valid() {
        let grid = grid();
        assert_eq!(grid.first().unwrap().heuristic, 0.0);
        assert_eq!(grid.last().unwrap().transformer, 0.0);
        assert!(
            grid.contains(&MixWeights::default()),
            "the default is tried too"
        );
        for w in &grid {
            w.validate().unwrap();
            assert!((w.transformer + w.heuristic - 1.0).abs() < 1e-6);
        }
    }
}
