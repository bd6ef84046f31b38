//! A listener's interest graph, in the JSON shape the LLM is asked to write:
//!
//! ```json
//! { "topArtists": { "Nova Lights": 0.9 }, "topGenres": { "synthpop": 0.8, "house": 0.4 },
//!   "themes": ["late-night drives"], "moods": ["upbeat", "chill"],
//!   "insights": ["Listens to energetic music in the evening"] }
//! ```
//!
//! Weights are in `[0, 1]`. Validation bounds every size, so a runaway answer cannot bloat the
//! feature store or the edge KV.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};

use serde::{Deserialize, Serialize};

use crate::validate::{self, FieldError};

/// At most this many artists or genres.
pub const MAX_WEIGHTED_ENTRIES: usize = 25;
/// At most this many themes, moods or insights.
pub const MAX_LIST_ENTRIES: usize = 10;
/// Longest name or sentence, in bytes.
pub const MAX_TEXT_BYTES: usize = 300;

/// What a listener is into, as an LLM summarised it from their history; feeds the heuristic's
/// interest signal.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InterestGraph {
    /// Artist name → weight in [0, 1]; at most [`MAX_WEIGHTED_ENTRIES`].
    pub top_artists: BTreeMap<String, f32>,
    /// Genre name → weight in [0, 1]; at most [`MAX_WEIGHTED_ENTRIES`].
    pub top_genres: BTreeMap<String, f32>,
    /// Short phrases about what the listener's music is for (`late-night drives`).
    #[serde(default)]
    pub themes: Vec<String>,
    /// Moods the listener favours, matched against [`crate::catalogue::Mood`] names.
    #[serde(default)]
    pub moods: Vec<String>,
    /// One-sentence observations about the listener's habits.
    #[serde(default)]
    pub insights: Vec<String>,
}

impl InterestGraph {
    /// Checks types, ranges and sizes; the error names the offending entry.
    pub fn validate(&self) -> Result<(), FieldError> {
        check_weights("topArtists", &self.top_artists)?;
        check_weights("topGenres", &self.top_genres)?;
        check_list("themes", &self.themes)?;
        check_list("moods", &self.moods)?;
        check_list("insights", &self.insights)?;
        Ok(())
    }

    /// The artist and genre weights, matched without regard to case (0 when absent), indexed
    /// for many lookups (a rerank's candidates).
    pub fn weights(&self) -> InterestWeights<'_> {
        InterestWeights {
            artists: WeightIndex::new(&self.top_artists),
            genres: WeightIndex::new(&self.top_genres),
        }
    }

    /// Whether the graph names this mood, without regard to case.
    pub fn has_mood(&self, mood: &str) -> bool {
        self.moods.iter().any(|m| m.eq_ignore_ascii_case(mood))
    }
}

/// An interest graph's artist and genre weights, each looked up in constant time: by the exact
/// name first, then without regard to ASCII case (the first such name in the graph's order).
/// Scanning the names case-insensitively for every candidate was 6 % of the Worker's CPU.
pub struct InterestWeights<'g> {
    artists: WeightIndex<'g>,
    genres: WeightIndex<'g>,
}

impl InterestWeights<'_> {
    /// The weight of an artist; 0 when absent.
    pub fn artist(&self, artist: &str) -> f32 {
        self.artists.get(artist)
    }

    /// The weight of a genre; 0 when absent.
    pub fn genre(&self, genre: &str) -> f32 {
        self.genres.get(genre)
    }
}

struct WeightIndex<'g> {
    exact: &'g BTreeMap<String, f32>,
    caseless: foldhash::HashMap<Caseless<'g>, f32>,
    /// Two names differ only in case, so an exact match must be tried first.
    ambiguous: bool,
}

impl<'g> WeightIndex<'g> {
    fn new(weights: &'g BTreeMap<String, f32>) -> Self {
        let mut caseless = foldhash::HashMap::default();
        let mut ambiguous = false;
        for (name, &weight) in weights {
            match caseless.entry(Caseless(name)) {
                std::collections::hash_map::Entry::Vacant(entry) => {
                    entry.insert(weight);
                }
                std::collections::hash_map::Entry::Occupied(_) => ambiguous = true,
            }
        }
        Self {
            exact: weights,
            caseless,
            ambiguous,
        }
    }

    fn get(&self, name: &str) -> f32 {
        let exact = if self.ambiguous {
            self.exact.get(name)
        } else {
            None
        };
        exact
            .or_else(|| self.caseless.get(&Caseless(name)))
            .copied()
            .unwrap_or(0.0)
    }
}

/// A name compared and hashed without regard to ASCII case.
#[derive(Clone, Copy)]
struct Caseless<'a>(&'a str);

impl PartialEq for Caseless<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.0.eq_ignore_ascii_case(other.0)
    }
}

impl Eq for Caseless<'_> {}

impl Hash for Caseless<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // The lower-cased bytes, a block at a time (names that are equal here lower-case to
        // the same bytes, so they hash alike).
        let mut block = [0u8; 32];
        for chunk in self.0.as_bytes().chunks(block.len()) {
            let lower = &mut block[..chunk.len()];
            lower.copy_from_slice(chunk);
            lower.make_ascii_lowercase();
            state.write(lower);
        }
        state.write_usize(self.0.len());
    }
}

fn check_text(field: &str, text: &str) -> Result<(), FieldError> {
    if text.trim().is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    if text.len() > MAX_TEXT_BYTES {
        return Err(FieldError::new(
            field,
            format!(
                "is {} bytes long; the limit is {MAX_TEXT_BYTES}",
                text.len()
            ),
        ));
    }
    Ok(())
}

fn check_weights(field: &str, weights: &BTreeMap<String, f32>) -> Result<(), FieldError> {
    if weights.len() > MAX_WEIGHTED_ENTRIES {
        return Err(FieldError::new(
            field,
            format!(
                "has {} entries; the limit is {MAX_WEIGHTED_ENTRIES}",
                weights.len()
            ),
        ));
    }
    for (name, &weight) in weights {
        let entry = format!("{field}.{name}");
        check_text(&entry, name)?;
        validate::unit_interval(&entry, weight)?;
    }
    Ok(())
}

fn check_list(field: &str, items: &[String]) -> Result<(), FieldError> {
    if items.len() > MAX_LIST_ENTRIES {
        return Err(FieldError::new(
            field,
            format!(
                "has {} entries; the limit is {MAX_LIST_ENTRIES}",
                items.len()
            ),
        ));
    }
    for (i, item) in items.iter().enumerate() {
        check_text(&format!("{field}[{i}]"), item)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"{"topArtists":{"Nova Lights":0.9},"topGenres":{"synthpop":0.8,"house":0.4},
        "themes":["late-night drives"],"moods":["upbeat","chill"],"insights":["Evening energy"]}"#;

    #[test]
    fn parses_the_seed_shape_and_looks_up_without_case() {
        let graph: InterestGraph = serde_json::from_str(SAMPLE).unwrap();
        assert_eq!(graph.validate(), Ok(()));
        let weights = graph.weights();
        assert_eq!(weights.artist("nova lights"), 0.9);
        assert_eq!(weights.genre("House"), 0.4);
        assert_eq!(weights.genre("jazz"), 0.0);
        assert!(graph.has_mood("Chill"));
        let round: InterestGraph =
            serde_json::from_str(&serde_json::to_string(&graph).unwrap()).unwrap();
        assert_eq!(round, graph);
    }

    #[test]
    fn weights_out_of_range_and_oversized_lists_are_rejected() {
        let mut graph: InterestGraph = serde_json::from_str(SAMPLE).unwrap();
        graph.top_genres.insert("rock".into(), 1.5);
        assert_eq!(graph.validate().unwrap_err().field, "topGenres.rock");
        let mut graph: InterestGraph = serde_json::from_str(SAMPLE).unwrap();
        graph.insights = vec!["x".into(); 11];
        assert_eq!(graph.validate().unwrap_err().field, "insights");
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let bad = r#"{"topArtists":{},"topGenres":{},"instructions":"ignore all"}"#;
        assert!(serde_json::from_str::<InterestGraph>(bad).is_err());
    }

    #[test]
    fn an_exact_name_wins_over_one_that_differs_in_case() {
        let graph = InterestGraph {
            top_genres: [("Rock".to_string(), 0.2), ("rock".to_string(), 0.7)].into(),
            ..Default::default()
        };
        let weights = graph.weights();
        assert_eq!(weights.genre("rock"), 0.7);
        assert_eq!(weights.genre("Rock"), 0.2);
        // Neither exact: the first in the graph's (sorted) order.
        assert_eq!(weights.genre("ROCK"), 0.2);
        assert_eq!(weights.genre("rocks"), 0.0);
    }
}
