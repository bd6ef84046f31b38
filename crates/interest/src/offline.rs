//! The `offline` provider: a deterministic interest graph computed from the same summary an
//! LLM would read, so the demo and the tests run without any network, and every listener has
//! a graph even where no provider is configured.
//!
//! - `topArtists`, `topGenres`: the summary's time-decayed weights (10 artists, 5 genres,
//!   weights ≥ 0.05);
//! - `moods`: the moods of at least 20 % of the positive listens, most frequent first;
//! - `themes`, `insights`: fixed rules over the audio statistics, the time of day and skips,
//!   stated as facts with their numbers.

use resonance_shared::interest::InterestGraph;

use super::summary::ListeningSummary;

const ARTISTS: usize = 10;
const GENRES: usize = 5;
const MIN_WEIGHT: f32 = 0.05;
const MIN_MOOD_SHARE: f32 = 0.2;

/// The provider name recorded with an offline graph.
pub const PROVIDER: &str = "offline";
/// The model name recorded with an offline graph: the version of the rules below.
pub const MODEL: &str = "decayed-counts-v1";

/// The graph of one summary, by the rules of the module documentation; the same summary
/// always gives the same graph.
pub fn graph(summary: &ListeningSummary) -> InterestGraph {
    let weighted = |stats: &[super::summary::NameStats], n: usize| {
        stats
            .iter()
            .filter(|s| s.weight >= MIN_WEIGHT)
            .take(n)
            .map(|s| (s.catalogue_name.clone(), s.weight.clamp(0.0, 1.0)))
            .collect()
    };
    let mut moods: Vec<(&str, f32)> = summary
        .moods
        .iter()
        .filter(|(_, share)| **share >= MIN_MOOD_SHARE)
        .map(|(&m, &share)| (m, share))
        .collect();
    moods.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
    InterestGraph {
        top_artists: weighted(&summary.top_artists, ARTISTS),
        top_genres: weighted(&summary.top_genres, GENRES),
        themes: themes(summary),
        moods: moods.into_iter().map(|(m, _)| m.to_string()).collect(),
        insights: insights(summary),
    }
}

fn busiest<'a>(
    shares: &'a std::collections::BTreeMap<&'static str, f32>,
) -> Option<(&'a str, f32)> {
    shares
        .iter()
        .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(a.0)))
        .map(|(k, v)| (*k, *v))
}

fn themes(s: &ListeningSummary) -> Vec<String> {
    let mut themes = Vec::new();
    if let Some(audio) = &s.audio {
        if audio.energy.mean >= 0.65 {
            themes.push("high-energy listening".to_string());
        } else if audio.energy.mean <= 0.35 {
            themes.push("calm, low-energy listening".to_string());
        }
        if audio.danceability.mean >= 0.65 {
            themes.push("music to dance to".to_string());
        }
        if audio.acousticness.mean >= 0.6 {
            themes.push("acoustic sound".to_string());
        }
    }
    if let Some((part, share)) = busiest(&s.time_of_day)
        && share >= 0.4
    {
        themes.push(format!("{part} listening"));
    }
    if s.top_genres.len() >= 6 && s.top_genres[1].weight >= 0.7 {
        themes.push("genre explorer".to_string());
    }
    themes
}

fn insights(s: &ListeningSummary) -> Vec<String> {
    let mut insights = Vec::new();
    if let Some(artist) = s.top_artists.first() {
        insights.push(format!(
            "Most played artist in the last {} days: {} ({} plays, {} likes).",
            s.window_days, artist.name, artist.plays, artist.likes
        ));
    }
    if let Some(genre) = s.top_genres.first() {
        insights.push(format!("Favourite genre lately: {}.", genre.name));
    }
    if let Some((part, share)) = busiest(&s.time_of_day) {
        insights.push(format!(
            "Listens most in the {part} ({:.0} % of listens).",
            share * 100.0
        ));
    }
    let total = s.listens.plays + s.listens.likes + s.listens.skips;
    if total > 0 {
        let mut sentence = format!("Skips {:.0} % of tracks", s.listens.skip_rate * 100.0);
        if let Some(g) = s.most_skipped_genres.first() {
            sentence.push_str(&format!(", most often {} ({} skips)", g.name, g.skips));
        }
        sentence.push('.');
        insights.push(sentence);
    }
    insights
        .into_iter()
        .filter(|i| i.len() <= resonance_shared::interest::MAX_TEXT_BYTES)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::{Listen, summarise, tests::track};
    use resonance_shared::events::EventKind;

    #[test]
    fn the_graph_follows_the_summary_and_is_valid() {
        let tracks: Vec<_> = (0..12)
            .map(|i| track(&format!("t{i}"), &format!("Artist {i}"), "house", 0.8))
            .collect();
        let listens: Vec<Listen<'_>> = tracks
            .iter()
            .enumerate()
            .flat_map(|(i, t)| {
                (0..=i).map(move |k| Listen {
                    track: t,
                    kind: EventKind::Play,
                    age_days: k as f64,
                    hour: Some(20),
                    device: None,
                })
            })
            .collect();
        let g = graph(&summarise(&listens, 90));
        assert_eq!(g.validate(), Ok(()));
        assert_eq!(g.top_artists.len(), 10);
        assert_eq!(g.top_artists["Artist 11"], 1.0);
        assert!(!g.top_artists.contains_key("Artist 0"));
        assert_eq!(g.top_genres["house"], 1.0);
        assert_eq!(g.moods, ["upbeat"]);
        assert!(g.themes.contains(&"high-energy listening".to_string()));
        assert!(g.themes.contains(&"evening listening".to_string()));
        assert_eq!(graph(&summarise(&listens, 90)), g, "deterministic");
    }

    #[test]
    fn an_empty_history_gives_an_empty_valid_graph() {
        let g = graph(&summarise(&[], 90));
        assert_eq!(g.validate(), Ok(()));
        assert!(g.top_artists.is_empty() && g.moods.is_empty());
    }
}
