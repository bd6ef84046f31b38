//! Summary statistics of a dataset: what a person checks before training on it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use resonance_shared::events::EventKind;
use serde::Serialize;

use super::Dataset;
use super::events_csv::format_timestamp;

/// What a dataset holds, from [`DatasetStats::of`]; `Display` prints it for the terminal.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DatasetStats {
    /// Distinct listeners with at least one event.
    pub users: usize,
    /// Tracks in the catalogue.
    pub tracks: usize,
    /// Distinct tracks with at least one event.
    pub tracks_played: usize,
    /// Distinct artists in the catalogue.
    pub artists: usize,
    /// Distinct genres in the catalogue.
    pub genres: usize,
    /// Events in all.
    pub events: usize,
    /// Events per user: the length of the sequences a sequential model learns from.
    pub mean_sequence_length: f64,
    /// The median of events per user (the upper one for an even count).
    pub median_sequence_length: usize,
    /// The fewest events of any user.
    pub min_sequence_length: usize,
    /// The most events of any user.
    pub max_sequence_length: usize,
    /// Users too short for the leave-one-out split (at least one event to train on, one to
    /// validate, one to test).
    pub users_with_fewer_than_3_events: usize,
    /// Share of events that are plays, in [0, 1].
    pub share_play: f64,
    /// Share of events that are likes, in [0, 1].
    pub share_like: f64,
    /// Share of events that are skips, in [0, 1].
    pub share_skip: f64,
    /// Share of events on the most-played 1% of played tracks: how long-tailed popularity is.
    pub share_of_top_1pct_tracks: f64,
    /// The earliest event's time, RFC 3339; `None` without events.
    pub first_event: Option<String>,
    /// The latest event's time, RFC 3339; `None` without events.
    pub last_event: Option<String>,
    /// The most listened genres with their share of events.
    pub top_genres: Vec<(String, f64)>,
}

impl DatasetStats {
    /// Computes the statistics of `data`.
    pub fn of(data: &Dataset) -> Self {
        let mut per_user: HashMap<&str, usize> = HashMap::new();
        let mut per_track: HashMap<&str, usize> = HashMap::new();
        let mut per_kind: BTreeMap<EventKind, usize> = BTreeMap::new();
        for e in &data.events {
            *per_user.entry(&e.user_id).or_default() += 1;
            *per_track.entry(&e.track_id).or_default() += 1;
            *per_kind.entry(e.kind).or_default() += 1;
        }
        let genre_of: HashMap<&str, &str> = data
            .catalogue
            .iter()
            .map(|t| (t.track_id.as_str(), t.genre.as_str()))
            .collect();
        let mut per_genre: HashMap<&str, usize> = HashMap::new();
        for (track, n) in &per_track {
            *per_genre
                .entry(genre_of.get(track).copied().unwrap_or("?"))
                .or_default() += n;
        }

        let mut lengths: Vec<usize> = per_user.values().copied().collect();
        lengths.sort_unstable();
        let mut plays: Vec<usize> = per_track.values().copied().collect();
        plays.sort_unstable_by(|a, b| b.cmp(a));
        let top = plays.len().div_ceil(100);
        let events = data.events.len();
        let share = |n: usize| {
            if events == 0 {
                0.0
            } else {
                n as f64 / events as f64
            }
        };
        let mut top_genres: Vec<(String, f64)> = per_genre
            .iter()
            .map(|(g, n)| (g.to_string(), share(*n)))
            .collect();
        top_genres.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        top_genres.truncate(5);

        Self {
            users: per_user.len(),
            tracks: data.catalogue.len(),
            tracks_played: per_track.len(),
            artists: data
                .catalogue
                .iter()
                .map(|t| &t.artist)
                .collect::<HashSet<_>>()
                .len(),
            genres: data
                .catalogue
                .iter()
                .map(|t| &t.genre)
                .collect::<HashSet<_>>()
                .len(),
            events,
            mean_sequence_length: if lengths.is_empty() {
                0.0
            } else {
                events as f64 / lengths.len() as f64
            },
            median_sequence_length: lengths.get(lengths.len() / 2).copied().unwrap_or(0),
            min_sequence_length: lengths.first().copied().unwrap_or(0),
            max_sequence_length: lengths.last().copied().unwrap_or(0),
            users_with_fewer_than_3_events: lengths.iter().filter(|&&n| n < 3).count(),
            share_play: share(per_kind.get(&EventKind::Play).copied().unwrap_or(0)),
            share_like: share(per_kind.get(&EventKind::Like).copied().unwrap_or(0)),
            share_skip: share(per_kind.get(&EventKind::Skip).copied().unwrap_or(0)),
            share_of_top_1pct_tracks: share(plays[..top].iter().sum()),
            first_event: data.events.first().map(|e| format_timestamp(e.timestamp)),
            last_event: data.events.last().map(|e| format_timestamp(e.timestamp)),
            top_genres,
        }
    }
}

impl fmt::Display for DatasetStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pct = |x: f64| format!("{:.1}%", 100.0 * x);
        writeln!(f, "users                 {}", self.users)?;
        writeln!(
            f,
            "tracks                {} ({} played)",
            self.tracks, self.tracks_played
        )?;
        writeln!(f, "artists, genres       {}, {}", self.artists, self.genres)?;
        writeln!(f, "events                {}", self.events)?;
        writeln!(
            f,
            "events per user       mean {:.1}, median {}, min {}, max {} ({} users with < 3)",
            self.mean_sequence_length,
            self.median_sequence_length,
            self.min_sequence_length,
            self.max_sequence_length,
            self.users_with_fewer_than_3_events
        )?;
        writeln!(
            f,
            "play / like / skip    {} / {} / {}",
            pct(self.share_play),
            pct(self.share_like),
            pct(self.share_skip)
        )?;
        writeln!(
            f,
            "top 1% of tracks      {} of events",
            pct(self.share_of_top_1pct_tracks)
        )?;
        writeln!(
            f,
            "time span             {} … {}",
            self.first_event.as_deref().unwrap_or("-"),
            self.last_event.as_deref().unwrap_or("-")
        )?;
        let genres: Vec<_> = self
            .top_genres
            .iter()
            .map(|(g, s)| format!("{g} {}", pct(*s)))
            .collect();
        write!(f, "top genres            {}", genres.join(", "))
    }
}
