//! A compact, factual summary of one listener's recent history: what an LLM is shown, and what
//! the offline provider builds its graph from.
//!
//! ```text
//! listens           plays, likes, skips and skip rate in the window
//! topArtists        up to 15, with plays, likes, skips and a time-decayed weight in [0, 1]
//! topGenres         up to 8, likewise
//! audio             mean and spread of energy, valence, danceability, acousticness, tempo
//! moods             share of positive listens per mood (from energy and valence)
//! timeOfDay         share of listens at night, morning, afternoon, evening (local hour)
//! devices           share of listens per device
//! mostSkippedGenres the 3 genres skipped most often, with their skip rate
//! recentLikes       the last 5 liked tracks (title, artist)
//! ```
//!
//! Weights decay with a 30-day half-life, and a like counts twice a play, so the graph follows
//! current taste. Catalogue text (titles, artist names) is data: control characters are
//! removed and titles shortened, and the prompt sends it inside a JSON document.

use std::collections::{BTreeMap, HashMap};

use resonance_shared::catalogue::{Mood, Track};
use resonance_shared::events::{EventKind, ListeningEvent};
use serde::Serialize;

/// Half-life of a listen's weight, in days.
pub const HALF_LIFE_DAYS: f64 = 30.0;
const TOP_ARTISTS: usize = 15;
const TOP_GENRES: usize = 8;
const RECENT_LIKES: usize = 5;
const MAX_TITLE_CHARS: usize = 80;
/// Names longer than this cannot be graph keys (the graph's own limit), so they are left out.
const MAX_NAME_BYTES: usize = resonance_shared::interest::MAX_TEXT_BYTES;

/// One listen of the history being summarised.
#[derive(Debug, Clone, Copy)]
pub struct Listen<'a> {
    /// The track listened to.
    pub track: &'a Track,
    /// Play, like or skip.
    pub kind: EventKind,
    /// How long before the summary's end it happened.
    pub age_days: f64,
    /// The listener's local hour, 0–23, when known.
    pub hour: Option<u8>,
    /// The device, when known.
    pub device: Option<resonance_shared::events::Device>,
}

/// What the LLM is shown about one listener (serialised in camelCase, as in the module's table).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListeningSummary {
    /// Days of history summarised.
    pub window_days: u32,
    /// Counts by kind over the window.
    pub listens: ListenCounts,
    /// The most listened artists, heaviest first.
    pub top_artists: Vec<NameStats>,
    /// The most listened genres, heaviest first.
    pub top_genres: Vec<NameStats>,
    /// Audio statistics of the positive listens; `None` when no such track has audio features.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audio: Option<AudioSummary>,
    /// Mood name → share of the positive listens with audio features, rounded to 0.01.
    pub moods: BTreeMap<&'static str, f32>,
    /// Part of the day ([`part_of_day`]) → share of the listens with a known hour.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub time_of_day: BTreeMap<&'static str, f32>,
    /// Device name → share of the listens with a known device.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub devices: BTreeMap<&'static str, f32>,
    /// The three genres with the most skips, most first.
    pub most_skipped_genres: Vec<SkippedGenre>,
    /// The most recent likes, newest first.
    pub recent_likes: Vec<RecentLike>,
}

/// A listener's listens in the window, by kind.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListenCounts {
    /// Plays.
    pub plays: u32,
    /// Likes.
    pub likes: u32,
    /// Skips.
    pub skips: u32,
    /// `skips / (plays + likes + skips)`, rounded to 0.01; 0 without listens.
    pub skip_rate: f32,
}

/// An artist or genre: counts in the window and its decayed weight relative to the top one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NameStats {
    /// As shown to the model (cleaned).
    pub name: String,
    /// As the catalogue spells it: what graphs store, and what the heuristic looks up.
    #[serde(skip)]
    pub catalogue_name: String,
    /// Plays in the window.
    pub plays: u32,
    /// Likes in the window.
    pub likes: u32,
    /// Skips in the window.
    pub skips: u32,
    /// Decayed weight (likes count twice, skips not at all) relative to the top name's: in (0, 1].
    pub weight: f32,
}

/// Mean and standard deviation of one audio feature, rounded to 0.01.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Spread {
    /// The mean, in the feature's unit.
    pub mean: f32,
    /// The population standard deviation.
    pub spread: f32,
}

/// The audio features of a listener's positive listens.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AudioSummary {
    /// Energy, in [0, 1].
    pub energy: Spread,
    /// Valence, in [0, 1].
    pub valence: Spread,
    /// Danceability, in [0, 1].
    pub danceability: Spread,
    /// Acousticness, in [0, 1].
    pub acousticness: Spread,
    /// Tempo, in beats per minute.
    pub tempo_bpm: Spread,
}

/// A genre the listener skips.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SkippedGenre {
    /// The genre, cleaned for the prompt.
    pub name: String,
    /// Skips of the genre in the window.
    pub skips: u32,
    /// Share of the genre's listens that were skips, rounded to 0.01.
    pub skip_rate: f32,
}

/// A recently liked track, as the prompt shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecentLike {
    /// The title, cleaned and shortened.
    pub title: String,
    /// The artist, cleaned and shortened.
    pub artist: String,
}

/// Each user's listens in the `since_days` before `as_of` (unix seconds), oldest first.
pub fn listens_by_user<'a>(
    events: &'a [ListeningEvent],
    catalogue: &HashMap<&str, &'a Track>,
    as_of: i64,
    since_days: u32,
) -> BTreeMap<&'a str, Vec<Listen<'a>>> {
    let start = as_of - i64::from(since_days) * 86_400;
    let mut users: BTreeMap<&str, Vec<Listen<'_>>> = BTreeMap::new();
    for event in events {
        if event.timestamp <= start || event.timestamp > as_of {
            continue;
        }
        let Some(track) = catalogue.get(event.track_id.as_str()) else {
            continue;
        };
        users.entry(&event.user_id).or_default().push(Listen {
            track,
            kind: event.kind,
            age_days: (as_of - event.timestamp) as f64 / 86_400.0,
            hour: event.context.hour,
            device: event.context.device,
        });
    }
    users
}

#[derive(Default)]
struct Tally {
    plays: u32,
    likes: u32,
    skips: u32,
    weight: f64,
}

impl Tally {
    fn add(&mut self, listen: &Listen<'_>) {
        match listen.kind {
            EventKind::Play => self.plays += 1,
            EventKind::Like => self.likes += 1,
            EventKind::Skip => self.skips += 1,
        }
        let strength = match listen.kind {
            EventKind::Like => 2.0,
            EventKind::Play => 1.0,
            EventKind::Skip => 0.0,
        };
        self.weight += strength * 0.5f64.powf(listen.age_days / HALF_LIFE_DAYS);
    }
}

/// The top `n` names by decayed weight (ties by name), weights relative to the first.
fn top(tallies: HashMap<&str, Tally>, n: usize) -> Vec<NameStats> {
    let mut sorted: Vec<(&str, Tally)> = tallies
        .into_iter()
        .filter(|(name, t)| t.weight > 0.0 && !name.is_empty() && name.len() <= MAX_NAME_BYTES)
        .collect();
    sorted.sort_by(|a, b| b.1.weight.total_cmp(&a.1.weight).then(a.0.cmp(b.0)));
    let best = sorted.first().map_or(1.0, |(_, t)| t.weight);
    sorted
        .into_iter()
        .take(n)
        .map(|(name, t)| NameStats {
            name: clean(name, usize::MAX),
            catalogue_name: name.to_string(),
            plays: t.plays,
            likes: t.likes,
            skips: t.skips,
            weight: round2(t.weight / best),
        })
        .collect()
}

/// Summarises one listener's listens (any order) over a window of `window_days`.
pub fn summarise(listens: &[Listen<'_>], window_days: u32) -> ListeningSummary {
    let mut counts = ListenCounts::default();
    let mut artists: HashMap<&str, Tally> = HashMap::new();
    let mut genres: HashMap<&str, Tally> = HashMap::new();
    let mut audio: [Vec<f32>; 5] = Default::default();
    let mut moods: BTreeMap<&'static str, f32> = BTreeMap::new();
    let mut hours: BTreeMap<&'static str, f32> = BTreeMap::new();
    let mut devices: BTreeMap<&'static str, f32> = BTreeMap::new();
    let (mut with_hour, mut with_device, mut positive) = (0u32, 0u32, 0u32);
    for listen in listens {
        match listen.kind {
            EventKind::Play => counts.plays += 1,
            EventKind::Like => counts.likes += 1,
            EventKind::Skip => counts.skips += 1,
        }
        artists.entry(&listen.track.artist).or_default().add(listen);
        genres.entry(&listen.track.genre).or_default().add(listen);
        if let Some(hour) = listen.hour {
            *hours.entry(part_of_day(hour)).or_default() += 1.0;
            with_hour += 1;
        }
        if let Some(device) = listen.device {
            *devices.entry(device.as_str()).or_default() += 1.0;
            with_device += 1;
        }
        if !listen.kind.is_positive() {
            continue;
        }
        positive += 1;
        if let Some(a) = listen.track.audio {
            for (values, x) in
                audio
                    .iter_mut()
                    .zip([a.energy, a.valence, a.danceability, a.acousticness, a.tempo])
            {
                values.push(x);
            }
            *moods
                .entry(Mood::from_energy_valence(a.energy, a.valence).as_str())
                .or_default() += 1.0;
        }
    }
    let total = counts.plays + counts.likes + counts.skips;
    counts.skip_rate = round2(counts.skips as f64 / f64::from(total.max(1)));
    let shares = |map: &mut BTreeMap<&'static str, f32>, n: u32| {
        map.values_mut()
            .for_each(|v| *v = round2(f64::from(*v) / f64::from(n.max(1))));
    };
    let with_audio = audio[0].len() as u32;
    shares(&mut moods, with_audio);
    shares(&mut hours, with_hour);
    shares(&mut devices, with_device);
    let _ = positive;

    let mut most_skipped: Vec<SkippedGenre> = genres
        .iter()
        .filter(|(name, t)| t.skips > 0 && !name.is_empty() && name.len() <= MAX_NAME_BYTES)
        .map(|(name, t)| SkippedGenre {
            name: clean(name, usize::MAX),
            skips: t.skips,
            skip_rate: round2(f64::from(t.skips) / f64::from(t.plays + t.likes + t.skips)),
        })
        .collect();
    most_skipped.sort_by(|a, b| b.skips.cmp(&a.skips).then(a.name.cmp(&b.name)));
    most_skipped.truncate(3);

    let mut likes: Vec<&Listen<'_>> = listens
        .iter()
        .filter(|l| l.kind == EventKind::Like)
        .collect();
    likes.sort_by(|a, b| a.age_days.total_cmp(&b.age_days));
    let recent_likes = likes
        .into_iter()
        .take(RECENT_LIKES)
        .map(|l| RecentLike {
            title: clean(&l.track.title, MAX_TITLE_CHARS),
            artist: clean(&l.track.artist, MAX_TITLE_CHARS),
        })
        .collect();

    let audio_summary = (with_audio > 0).then(|| {
        let s = |values: &[f32]| {
            let (mean, spread) = mean_spread(values);
            Spread {
                mean: round2(mean),
                spread: round2(spread),
            }
        };
        AudioSummary {
            energy: s(&audio[0]),
            valence: s(&audio[1]),
            danceability: s(&audio[2]),
            acousticness: s(&audio[3]),
            tempo_bpm: s(&audio[4]),
        }
    });
    ListeningSummary {
        window_days,
        listens: counts,
        top_artists: top(artists, TOP_ARTISTS),
        top_genres: top(genres, TOP_GENRES),
        audio: audio_summary,
        moods,
        time_of_day: hours,
        devices,
        most_skipped_genres: most_skipped,
        recent_likes,
    }
}

/// Mean and standard deviation, in f64; (0, 0) for no values.
pub fn mean_spread(values: &[f32]) -> (f64, f64) {
    let n = values.len().max(1) as f64;
    let mean = values.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let var = values
        .iter()
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum::<f64>()
        / n;
    (mean, var.sqrt())
}

/// Night 0–5, morning 6–11, afternoon 12–17, evening 18–23.
pub fn part_of_day(hour: u8) -> &'static str {
    match hour {
        0..=5 => "night",
        6..=11 => "morning",
        12..=17 => "afternoon",
        _ => "evening",
    }
}

/// Catalogue text as data: control characters dropped, whitespace collapsed, at most
/// `max_chars` characters.
pub fn clean(text: &str, max_chars: usize) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    let joined = words.join(" ");
    let mut out: String = joined
        .chars()
        .filter(|c| !c.is_control())
        .take(max_chars)
        .collect();
    if joined.chars().count() > max_chars {
        out.push('…');
    }
    out
}

fn round2(x: f64) -> f32 {
    ((x * 100.0).round() / 100.0) as f32
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use resonance_shared::catalogue::AudioFeatures;

    pub(crate) fn track(id: &str, artist: &str, genre: &str, energy: f32) -> Track {
        Track {
            track_id: id.into(),
            title: format!("Song {id}"),
            artist: artist.into(),
            album: String::new(),
            album_position: 0,
            genre: genre.into(),
            audio: Some(AudioFeatures {
                energy,
                valence: 0.7,
                danceability: 0.6,
                tempo: 120.0,
                acousticness: 0.1,
            }),
            release_year: 0,
            duration_ms: 200_000,
        }
    }

    fn listen(track: &Track, kind: EventKind, age_days: f64, hour: u8) -> Listen<'_> {
        Listen {
            track,
            kind,
            age_days,
            hour: Some(hour),
            device: None,
        }
    }

    #[test]
    fn recent_likes_outweigh_old_plays_and_skips_count_apart() {
        let (a, b) = (
            track("a", "Nova", "house", 0.8),
            track("b", "Echo", "jazz", 0.2),
        );
        let listens = [
            listen(&b, EventKind::Play, 80.0, 9),
            listen(&b, EventKind::Play, 70.0, 9),
            listen(&b, EventKind::Skip, 1.0, 21),
            listen(&a, EventKind::Like, 2.0, 21),
            listen(&a, EventKind::Play, 1.0, 22),
        ];
        let s = summarise(&listens, 90);
        assert_eq!(s.listens.skips, 1);
        assert_eq!(s.listens.skip_rate, 0.2);
        assert_eq!(s.top_artists[0].name, "Nova");
        assert_eq!(s.top_artists[0].weight, 1.0);
        assert!(s.top_artists[1].weight < 0.3, "{:?}", s.top_artists);
        assert_eq!(s.most_skipped_genres[0].name, "jazz");
        assert_eq!(s.time_of_day["evening"], 0.6);
        assert_eq!(s.recent_likes[0].artist, "Nova");
        assert_eq!(s.moods["upbeat"], 0.5);
    }

    #[test]
    fn catalogue_text_is_cleaned_and_bounded() {
        assert_eq!(clean("a\u{7}b\n\nc", 10), "ab c");
        assert_eq!(clean("abcdef", 3), "abc…");
    }
}
