//! Sample rerank requests: which listeners to show and which candidates to send for them, the
//! way a service would send "tracks we might play next" (the catalogue's most played tracks
//! the listener has not played, plus a few of their own recent ones). Used by `trainer rerank`
//! and by `trainer snapshot` for the web demo.

use std::collections::{HashMap, HashSet};

use crate::Dataset;

/// The `n` listeners with the most events, busiest first (ties by id).
pub fn busiest_listeners(dataset: &Dataset, n: usize) -> Vec<String> {
    let mut events: HashMap<&str, usize> = HashMap::new();
    for e in &dataset.events {
        *events.entry(&e.user_id).or_default() += 1;
    }
    let mut users: Vec<(&str, usize)> = events.into_iter().collect();
    users.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    users
        .into_iter()
        .take(n)
        .map(|(u, _)| u.to_string())
        .collect()
}

/// `count` candidates for `user`: a tenth from their own recent tracks, the rest the most
/// played tracks, in a stable order without repeats.
pub fn sample_candidates<'a>(dataset: &'a Dataset, user: &str, count: usize) -> Vec<&'a str> {
    let mut plays: HashMap<&str, usize> = HashMap::new();
    for e in &dataset.events {
        *plays.entry(&e.track_id).or_default() += 1;
    }
    let mut popular: Vec<(&str, usize)> = plays.into_iter().collect();
    popular.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));

    let mut candidates: Vec<&str> = dataset
        .events
        .iter()
        .rev()
        .filter(|e| e.user_id == user)
        .map(|e| e.track_id.as_str())
        .take(count / 10)
        .collect();
    candidates.sort();
    candidates.dedup();
    let mut seen: HashSet<&str> = candidates.iter().copied().collect();
    for (track, _) in popular {
        if candidates.len() >= count {
            break;
        }
        if seen.insert(track) {
            candidates.push(track);
        }
    }
    candidates
}
