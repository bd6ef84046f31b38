//! Offline evaluation, leave-one-out, under two protocols:
//!
//! - **sampled** (the SASRec paper's): the target is ranked against 100 tracks the user never
//!   interacted with, drawn uniformly;
//! - **full**: the target is ranked against the whole catalogue, excluding tracks already in
//!   the user's history (the target itself is always ranked, even if it is a repeat).
//!
//! HR@10 is the share of users whose target lands in the top 10; NDCG@10 credits it by
//! `1 / log2(rank + 2)`. Ties count against the target, so a scorer that gives many tracks the
//! same score (popularity) is not flattered.

use std::collections::HashSet;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::batches::sample_negative;
use super::sequences::UserSequence;

/// Negatives per user in the sampled protocol.
pub const SAMPLED_NEGATIVES: usize = 100;
/// The cut-off of HR and NDCG.
pub const CUTOFF: usize = 10;

/// Which target is held out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// The second-to-last interaction (model selection, early stopping).
    Validation,
    /// The last interaction (the reported numbers).
    Test,
}

/// HR@10 and NDCG@10 over a set of users.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Metrics {
    /// Share of users whose target ranks in the top 10, in [0, 1].
    pub hr_at_10: f64,
    /// Mean of `1 / log2(rank + 2)` over users, 0 outside the top 10; in [0, 1].
    pub ndcg_at_10: f64,
    /// Users evaluated.
    pub users: usize,
}

/// Both protocols' metrics of one scorer on one split.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct ProtocolMetrics {
    /// Target vs 100 uniformly sampled unseen tracks (Kang & McAuley 2018).
    pub sampled_100: Metrics,
    /// Target vs the whole catalogue minus the user's history.
    pub full_catalogue: Metrics,
}

/// Anything that scores every track for a batch of users given their histories.
pub trait FullScorer {
    /// Scores for `histories.len()` users, row-major `[users, num_items + 1]` (row 0 is padding
    /// and ignored). `users` are the users' indices, for scorers that keep per-user state.
    fn score(&mut self, users: &[usize], histories: &[&[u32]]) -> anyhow::Result<Vec<f32>>;
}

/// A scorer that scores every track several ways from one pass (a grid of mixes over one
/// model run), so each way is judged on the same users and the same sampled negatives.
pub trait VariantScorer {
    /// How many ways: the length of what [`VariantScorer::score_variants`] returns.
    fn variants(&self) -> usize;
    /// One row-major `[users, num_items + 1]` block per variant, as [`FullScorer::score`].
    fn score_variants(
        &mut self,
        users: &[usize],
        histories: &[&[u32]],
    ) -> anyhow::Result<Vec<Vec<f32>>>;
}

/// A plain scorer as a grid of one.
struct Single<'a>(&'a mut dyn FullScorer);

impl VariantScorer for Single<'_> {
    fn variants(&self) -> usize {
        1
    }

    fn score_variants(
        &mut self,
        users: &[usize],
        histories: &[&[u32]],
    ) -> anyhow::Result<Vec<Vec<f32>>> {
        Ok(vec![self.0.score(users, histories)?])
    }
}

/// The rank of `target` among `others` (0 = best); ties count against the target.
fn rank(target_score: f32, others: impl Iterator<Item = f32>) -> usize {
    others.filter(|&s| s >= target_score).count()
}

#[derive(Default)]
struct Accumulator {
    hits: f64,
    ndcg: f64,
    users: usize,
}

impl Accumulator {
    fn add(&mut self, rank: usize) {
        self.users += 1;
        if rank < CUTOFF {
            self.hits += 1.0;
            self.ndcg += 1.0 / ((rank + 2) as f64).log2();
        }
    }

    fn metrics(&self) -> Metrics {
        let n = self.users.max(1) as f64;
        Metrics {
            hr_at_10: self.hits / n,
            ndcg_at_10: self.ndcg / n,
            users: self.users,
        }
    }
}

/// Evaluates a scorer on every user under both protocols. `seed` fixes the sampled negatives,
/// so every scorer is judged on the same candidates.
pub fn evaluate(
    scorer: &mut dyn FullScorer,
    users: &[UserSequence],
    num_items: usize,
    split: Split,
    seed: u64,
    chunk: usize,
    on_progress: impl FnMut(usize),
) -> anyhow::Result<ProtocolMetrics> {
    let mut single = Single(scorer);
    let mut metrics = evaluate_variants(
        &mut single,
        users,
        num_items,
        split,
        seed,
        chunk,
        on_progress,
    )?;
    Ok(metrics.remove(0))
}

/// [`evaluate`] for every variant of `scorer` at once, in its order.
pub fn evaluate_variants(
    scorer: &mut dyn VariantScorer,
    users: &[UserSequence],
    num_items: usize,
    split: Split,
    seed: u64,
    chunk: usize,
    mut on_progress: impl FnMut(usize),
) -> anyhow::Result<Vec<ProtocolMetrics>> {
    let variants = scorer.variants();
    let mut sampled: Vec<Accumulator> = (0..variants).map(|_| Accumulator::default()).collect();
    let mut full: Vec<Accumulator> = (0..variants).map(|_| Accumulator::default()).collect();
    let indices: Vec<usize> = (0..users.len()).collect();
    let row = num_items + 1;
    for part in indices.chunks(chunk.max(1)) {
        let cases: Vec<(&[u32], u32)> = part
            .iter()
            .map(|&u| match split {
                Split::Validation => users[u].validation(),
                Split::Test => users[u].test(),
            })
            .collect();
        let histories: Vec<&[u32]> = cases.iter().map(|c| c.0).collect();
        let blocks = scorer.score_variants(part, &histories)?;
        anyhow::ensure!(
            blocks.len() == variants,
            "the scorer returned {} variants, not {variants}",
            blocks.len()
        );
        for scores in &blocks {
            anyhow::ensure!(
                scores.len() == part.len() * row,
                "the scorer returned {} scores for {} users",
                scores.len(),
                part.len()
            );
        }
        for (k, (&user, &(history, target))) in part.iter().zip(&cases).enumerate() {
            // Sampled: 100 tracks the user never interacted with.
            let seen: HashSet<u32> = users[user].items.iter().copied().collect();
            let mut rng =
                ChaCha8Rng::seed_from_u64(seed ^ (user as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let negatives: Vec<u32> = (0..SAMPLED_NEGATIVES)
                .map(|_| sample_negative(&mut rng, num_items, &seen, target))
                .collect();
            // Full: every track but padding, the history and the target itself.
            let history: HashSet<u32> = history.iter().copied().collect();
            let others: Vec<u32> = (1..row as u32)
                .filter(|i| *i != target && !history.contains(i))
                .collect();
            for (v, scores) in blocks.iter().enumerate() {
                let scores = &scores[k * row..(k + 1) * row];
                let target_score = scores[target as usize];
                sampled[v].add(rank(
                    target_score,
                    negatives.iter().map(|&n| scores[n as usize]),
                ));
                full[v].add(rank(
                    target_score,
                    others.iter().map(|&i| scores[i as usize]),
                ));
            }
        }
        on_progress(part.len());
    }
    Ok(sampled
        .iter()
        .zip(&full)
        .map(|(sampled, full)| ProtocolMetrics {
            sampled_100: sampled.metrics(),
            full_catalogue: full.metrics(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Scores the track after the last one in history highest: a perfect next-item oracle
    /// for the sequences below.
    struct NextOracle(usize);
    impl FullScorer for NextOracle {
        fn score(&mut self, _: &[usize], histories: &[&[u32]]) -> anyhow::Result<Vec<f32>> {
            let row = self.0 + 1;
            let mut out = vec![0.0; histories.len() * row];
            for (k, h) in histories.iter().enumerate() {
                let next = (*h.last().unwrap() as usize % self.0) + 1;
                out[k * row + next] = 1.0;
            }
            Ok(out)
        }
    }

    struct Constant(usize);
    impl FullScorer for Constant {
        fn score(&mut self, _: &[usize], histories: &[&[u32]]) -> anyhow::Result<Vec<f32>> {
            Ok(vec![0.5; histories.len() * (self.0 + 1)])
        }
    }

    fn users() -> Vec<UserSequence> {
        (0..20u32)
            .map(|u| UserSequence {
                user_id: format!("u{u}"),
                items: (1..=5).map(|k| (u * 3 + k) % 200 + 1).collect(),
            })
            .collect()
    }

    #[test]
    fn a_perfect_scorer_gets_one_and_a_constant_scorer_gets_zero() {
        let users = users();
        let perfect =
            evaluate(&mut NextOracle(200), &users, 200, Split::Test, 1, 7, |_| {}).unwrap();
        assert_eq!(perfect.sampled_100.hr_at_10, 1.0);
        assert_eq!(perfect.full_catalogue.ndcg_at_10, 1.0);
        assert_eq!(perfect.full_catalogue.users, 20);
        let constant = evaluate(
            &mut Constant(200),
            &users,
            200,
            Split::Validation,
            1,
            7,
            |_| {},
        )
        .unwrap();
        assert_eq!(
            constant.sampled_100.hr_at_10, 0.0,
            "ties must count against the target"
        );
        assert_eq!(constant.full_catalogue.hr_at_10, 0.0);
    }

    #[test]
    fn ndcg_credits_rank_by_log() {
        let mut acc = Accumulator::default();
        acc.add(0);
        acc.add(1);
        acc.add(10);
        let m = acc.metrics();
        assert!((m.hr_at_10 - 2.0 / 3.0).abs() < 1e-12);
        assert!((m.ndcg_at_10 - (1.0 + 1.0 / 3f64.log2()) / 3.0).abs() < 1e-12);
    }
}
