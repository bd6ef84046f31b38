//! From events to the sequences SASRec learns from, and the leave-one-out split of the paper:
//! each user's last track is the test target, the second-last the validation target, and the
//! rest is training history.

use std::collections::HashMap;

use resonance_shared::events::ListeningEvent;
use serde::{Deserialize, Serialize};

use resonance_data::Dataset;

/// Track ids ↔ embedding rows. Row 0 is padding, so track `i` of the catalogue is row `i + 1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Vocabulary {
    /// The track id of each row; `idx_to_track[0]` is `""` (padding).
    pub idx_to_track: Vec<String>,
    #[serde(skip)]
    track_to_idx: HashMap<String, u32>,
}

impl Vocabulary {
    /// Every catalogue track gets a row, in catalogue order.
    pub fn from_catalogue(data: &Dataset) -> Self {
        let mut idx_to_track = vec![String::new()];
        idx_to_track.extend(data.catalogue.iter().map(|t| t.track_id.clone()));
        Self::from_rows(idx_to_track)
    }

    /// Rebuilds the lookup from `idx_to_track` (row 0 is padding).
    pub fn from_rows(idx_to_track: Vec<String>) -> Self {
        let track_to_idx = idx_to_track
            .iter()
            .enumerate()
            .skip(1)
            .map(|(i, t)| (t.clone(), i as u32))
            .collect();
        Self {
            idx_to_track,
            track_to_idx,
        }
    }

    /// Tracks in the vocabulary (not counting padding).
    pub fn num_items(&self) -> usize {
        self.idx_to_track.len() - 1
    }

    /// The row of a track; `None` outside the vocabulary.
    pub fn index(&self, track_id: &str) -> Option<u32> {
        self.track_to_idx.get(track_id).copied()
    }

    /// The track of a row; `None` for padding (0) and rows past the end.
    pub fn track(&self, idx: u32) -> Option<&str> {
        self.idx_to_track
            .get(idx as usize)
            .filter(|_| idx != 0)
            .map(String::as_str)
    }

    /// The map stored in the manifest as `track_to_idx`.
    pub fn track_to_idx(&self) -> std::collections::BTreeMap<&str, u32> {
        self.track_to_idx
            .iter()
            .map(|(t, &i)| (t.as_str(), i))
            .collect()
    }
}

/// Which events make up a sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SequencePolicy {
    /// Count skips as interactions. Off for music (a skip is a rejection); on for datasets
    /// whose "skips" are low ratings that the literature treats as interactions (MovieLens).
    pub include_skips: bool,
}

/// One user's sequence, split leave-one-out.
#[derive(Debug, Clone, PartialEq)]
pub struct UserSequence {
    /// The user.
    pub user_id: String,
    /// Every interaction in time order, as embedding rows.
    pub items: Vec<u32>,
}

impl UserSequence {
    /// Training history: all but the last two.
    pub fn train(&self) -> &[u32] {
        &self.items[..self.items.len() - 2]
    }

    /// Validation: history (all but the last two) and target (the second-last).
    pub fn validation(&self) -> (&[u32], u32) {
        let n = self.items.len();
        (&self.items[..n - 2], self.items[n - 2])
    }

    /// Test: history (all but the last) and target (the last).
    pub fn test(&self) -> (&[u32], u32) {
        let n = self.items.len();
        (&self.items[..n - 1], self.items[n - 1])
    }
}

/// The sequences of a dataset, and what was left out.
#[derive(Debug, Clone)]
pub struct Sequences {
    /// The rows the sequences are written in.
    pub vocabulary: Vocabulary,
    /// Every user with at least 3 interactions, sorted by user id.
    pub users: Vec<UserSequence>,
    /// Users with fewer than 3 interactions (too short to split), dropped.
    pub dropped_short_users: usize,
    /// Events of tracks outside the vocabulary, dropped.
    pub dropped_unknown_tracks: usize,
}

impl Sequences {
    /// Groups `data`'s events per user in time order under `policy`, keeping users with at least 3
    /// interactions.
    pub fn build(data: &Dataset, vocabulary: Vocabulary, policy: SequencePolicy) -> Self {
        let mut per_user: HashMap<&str, Vec<u32>> = HashMap::new();
        let mut dropped_unknown_tracks = 0;
        for ListeningEvent {
            user_id,
            track_id,
            kind,
            ..
        } in &data.events
        {
            if !policy.include_skips && !kind.is_positive() {
                continue;
            }
            match vocabulary.index(track_id) {
                Some(idx) => per_user.entry(user_id).or_default().push(idx),
                None => dropped_unknown_tracks += 1,
            }
        }
        let mut users: Vec<UserSequence> = per_user
            .into_iter()
            .map(|(user_id, items)| UserSequence {
                user_id: user_id.to_string(),
                items,
            })
            .collect();
        users.sort_by(|a, b| a.user_id.cmp(&b.user_id));
        let before = users.len();
        users.retain(|u| u.items.len() >= 3);
        Self {
            vocabulary,
            dropped_short_users: before - users.len(),
            users,
            dropped_unknown_tracks,
        }
    }

    /// How often each row appears in training histories (the most-popular baseline).
    pub fn train_counts(&self) -> Vec<u32> {
        let mut counts = vec![0u32; self.vocabulary.num_items() + 1];
        for u in &self.users {
            for &i in u.train() {
                counts[i as usize] += 1;
            }
        }
        counts
    }
}

/// The last `len` items of `history`, left-padded with 0.
pub fn left_pad(history: &[u32], len: usize) -> Vec<u32> {
    let tail = &history[history.len().saturating_sub(len)..];
    let mut out = vec![0; len - tail.len()];
    out.extend_from_slice(tail);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn left_padding_keeps_the_most_recent_tracks_last() {
        assert_eq!(left_pad(&[1, 2, 3], 5), [0, 0, 1, 2, 3]);
        assert_eq!(left_pad(&[1, 2, 3, 4, 5, 6], 4), [3, 4, 5, 6]);
        assert_eq!(left_pad(&[], 2), [0, 0]);
    }

    #[test]
    fn the_split_is_leave_one_out() {
        let u = UserSequence {
            user_id: "u".into(),
            items: vec![5, 6, 7, 8],
        };
        assert_eq!(u.train(), [5, 6]);
        assert_eq!(u.validation(), (&[5, 6][..], 7));
        assert_eq!(u.test(), (&[5, 6, 7][..], 8));
    }
}
