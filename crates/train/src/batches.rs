//! Training examples: every user's training history cut into windows of `max_len` positions,
//! each position predicting the next track, with one sampled negative per position (the
//! paper's binary cross-entropy setup).
//!
//! Long histories give several windows (stepping back `max_len` at a time from the most recent
//! track), so heavy listeners contribute all their history rather than only the last 50 tracks.

use std::collections::HashSet;

use rand::Rng;

use super::sequences::{UserSequence, left_pad};

/// One training window: `input[i]` is followed by `target[i]`; 0 marks padding.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    /// The user's index in the sequences.
    pub user: usize,
    /// Embedding rows the model reads, left-padded to `max_len`.
    pub input: Vec<u32>,
    /// The row that follows each input position, aligned with `input`.
    pub target: Vec<u32>,
}

/// All training windows of all users, in user order.
pub fn windows(users: &[UserSequence], max_len: usize) -> Vec<Window> {
    let mut out = Vec::new();
    for (user, seq) in users.iter().enumerate() {
        let train = seq.train();
        if train.len() < 2 {
            continue;
        }
        let (inputs, targets) = (&train[..train.len() - 1], &train[1..]);
        let mut end = inputs.len();
        while end > 0 {
            let start = end.saturating_sub(max_len);
            out.push(Window {
                user,
                input: left_pad(&inputs[start..end], max_len),
                target: left_pad(&targets[start..end], max_len),
            });
            end = start;
        }
    }
    out
}

/// Items each user interacted with, so negatives are tracks the user never played.
pub fn interacted(users: &[UserSequence]) -> Vec<HashSet<u32>> {
    users
        .iter()
        .map(|u| u.items.iter().copied().collect())
        .collect()
}

/// A uniformly drawn item in `1..=num_items` outside `seen` (after a few tries, any item
/// other than the positive, so a user who played nearly everything cannot stall training).
pub fn sample_negative(
    rng: &mut impl Rng,
    num_items: usize,
    seen: &HashSet<u32>,
    positive: u32,
) -> u32 {
    for _ in 0..32 {
        let item = rng.random_range(1..=num_items as u32);
        if !seen.contains(&item) {
            return item;
        }
    }
    loop {
        let item = rng.random_range(1..=num_items as u32);
        if item != positive || num_items == 1 {
            return item;
        }
    }
}

/// One batch as flat row-major `[batch, max_len]` arrays, ready for tensors.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// Windows in the batch (B).
    pub size: usize,
    /// The windows' inputs, [B, max_len].
    pub input: Vec<i64>,
    /// The true next rows, [B, max_len]; 0 at padding.
    pub positive: Vec<i64>,
    /// One sampled negative per position, [B, max_len]; 0 at padding.
    pub negative: Vec<i64>,
}

/// Assembles a batch from windows, drawing one negative per real position.
pub fn assemble(
    windows: &[&Window],
    seen: &[HashSet<u32>],
    num_items: usize,
    rng: &mut impl Rng,
) -> Batch {
    let mut batch = Batch {
        size: windows.len(),
        input: vec![],
        positive: vec![],
        negative: vec![],
    };
    for w in windows {
        batch.input.extend(w.input.iter().map(|&i| i64::from(i)));
        batch
            .positive
            .extend(w.target.iter().map(|&i| i64::from(i)));
        batch.negative.extend(w.target.iter().map(|&t| {
            if t == 0 {
                0
            } else {
                i64::from(sample_negative(rng, num_items, &seen[w.user], t))
            }
        }));
    }
    batch
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    #[test]
    fn long_histories_become_several_left_padded_windows() {
        // items 1..=9: train = 1..=7, pairs (1→2) … (6→7)
        let users = [UserSequence {
            user_id: "u".into(),
            items: (1..=9).collect(),
        }];
        let w = windows(&users, 4);
        assert_eq!(w.len(), 2);
        assert_eq!(
            (w[0].input.as_slice(), w[0].target.as_slice()),
            (&[3, 4, 5, 6][..], &[4, 5, 6, 7][..])
        );
        assert_eq!(
            (w[1].input.as_slice(), w[1].target.as_slice()),
            (&[0, 0, 1, 2][..], &[0, 0, 2, 3][..])
        );
    }

    #[test]
    fn negatives_avoid_the_users_tracks_and_padding_stays_padding() {
        let users = [UserSequence {
            user_id: "u".into(),
            items: vec![1, 2, 3, 4, 5],
        }];
        let w = windows(&users, 4);
        let seen = interacted(&users);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let refs: Vec<_> = w.iter().collect();
        let batch = assemble(&refs, &seen, 50, &mut rng);
        assert_eq!(batch.input, [0, 0, 1, 2]);
        assert_eq!(batch.positive, [0, 0, 2, 3]);
        assert_eq!(&batch.negative[..2], [0, 0]);
        assert!(batch.negative[2..].iter().all(|&n| n > 5 && n <= 50));
    }
}
