//! The synthetic catalogue: artists with a genre, a sound and a Zipf popularity; albums of
//! 6–14 tracks in order; tracks whose audio features scatter around their artist's sound.
//!
//! Besides the public [`Track`] rows it keeps the facts the listener simulation needs
//! (popularity, next track on the album, artists by genre), indexed by a dense track number.

use std::collections::BTreeSet;

use rand::Rng;
use rand::seq::SliceRandom;
use resonance_shared::catalogue::{AudioFeatures, Track};

use super::genres::{GENRE_COUNT, GENRES, Sound};
use super::names;
use super::{gaussian, id_width, log_normal, pick_weighted};

/// One track per this many in the catalogue gets an artist: most artists release one album,
/// popular ones two or three.
const TRACKS_PER_ARTIST: usize = 12;
/// Zipf exponent of artist popularity by rank.
const ARTIST_ZIPF_EXPONENT: f64 = 0.9;
/// The last year an album can come out (the world is set in autumn 2026).
const LATEST_RELEASE_YEAR: u16 = 2026;

pub(super) struct Artist {
    pub genre: usize,
    /// Zipf-distributed by a random rank: a few stars, a long tail.
    pub popularity: f64,
    /// The energy of the artist's sound, which context-aware choices compare with the moment.
    pub energy: f64,
    /// Dense track numbers, album by album in order. Empty only in tiny catalogues.
    pub tracks: Vec<u32>,
}

/// What the simulation knows about a track beyond its public row.
#[derive(Debug, Clone, Copy)]
pub(super) struct TrackFacts {
    pub artist: u32,
    pub genre: usize,
    pub energy: f64,
    pub valence: f64,
    /// Relative play appeal: artist popularity × the track's own appeal (singles get more).
    pub popularity: f64,
    /// Popularity percentile in `[0, 1]`: well-known tracks are skipped less.
    pub fame: f64,
    /// The dense number of the next track on the same album, if any.
    pub next_on_album: Option<u32>,
}

pub(super) struct Catalogue {
    /// Public rows, indexed by dense track number (not yet sorted by id).
    pub tracks: Vec<Track>,
    pub facts: Vec<TrackFacts>,
    pub artists: Vec<Artist>,
    /// Artists with at least one track, per genre.
    pub artists_by_genre: Vec<Vec<u32>>,
    /// Total artist popularity per genre: the scale a listener's favourite-artist boost uses.
    pub genre_mass: [f64; GENRE_COUNT],
}

/// Sound offsets: how far an artist, an album and a track stray from what comes above.
const ARTIST_SPREAD: [f64; 5] = [0.08, 0.10, 0.07, 0.08, 8.0];
const ALBUM_SPREAD: [f64; 5] = [0.04, 0.06, 0.03, 0.04, 3.0];
const TRACK_SPREAD: [f64; 5] = [0.07, 0.12, 0.07, 0.06, 6.0];

fn scatter(rng: &mut impl Rng, sound: Sound, spread: [f64; 5]) -> Sound {
    Sound {
        energy: sound.energy + gaussian(rng, spread[0]),
        valence: sound.valence + gaussian(rng, spread[1]),
        danceability: sound.danceability + gaussian(rng, spread[2]),
        acousticness: sound.acousticness + gaussian(rng, spread[3]),
        tempo: sound.tempo + gaussian(rng, spread[4]),
    }
}

/// Folds a feature back into `[0, 1]` by reflecting it at the edges: genres near an edge
/// (techno's acousticness, classical's) keep a smooth spread instead of a pile of exact 0s or 1s.
fn unit(value: f64) -> f32 {
    let reflected = value.abs();
    let reflected = if reflected > 1.0 {
        2.0 - reflected
    } else {
        reflected
    };
    reflected.clamp(0.0, 1.0) as f32
}

impl Catalogue {
    /// Exactly `track_count` tracks (≥ 100).
    pub fn generate(track_count: usize, rng: &mut impl Rng) -> Catalogue {
        let genre_weights: Vec<f64> = GENRES.iter().map(|g| g.popularity).collect();
        let artist_count = (track_count / TRACKS_PER_ARTIST).max(8);
        let mut ranks: Vec<usize> = (0..artist_count).collect();
        ranks.shuffle(rng);

        let mut taken_names = BTreeSet::new();
        let mut artists = Vec::with_capacity(artist_count);
        // Per artist: name, sound and the year their next album comes out.
        let mut identities = Vec::with_capacity(artist_count);
        for &rank in &ranks {
            let genre = pick_weighted(rng, &genre_weights).unwrap_or(0);
            let name = unique_artist_name(rng, GENRES[genre].name, &mut taken_names);
            let sound = scatter(rng, GENRES[genre].sound, ARTIST_SPREAD);
            let debut = GENRES[genre].debut_year + gaussian(rng, 9.0);
            let debut = debut.round().clamp(1955.0, f64::from(LATEST_RELEASE_YEAR)) as u16;
            artists.push(Artist {
                genre,
                popularity: (rank as f64 + 1.0).powf(-ARTIST_ZIPF_EXPONENT),
                energy: sound.energy.clamp(0.0, 1.0),
                tracks: Vec::new(),
            });
            identities.push((name, sound, debut));
        }

        // Every artist gets a first album; the rest of the budget goes to further albums,
        // more often for popular artists. The last album may be a short EP so the count is
        // exact.
        let mut albums: Vec<(usize, usize)> = Vec::new();
        let mut remaining = track_count;
        for artist in 0..artist_count {
            if remaining == 0 {
                break;
            }
            let size = rng.random_range(6..=14).min(remaining);
            albums.push((artist, size));
            remaining -= size;
        }
        let prolific: Vec<f64> = artists.iter().map(|a| a.popularity.sqrt()).collect();
        while remaining > 0 {
            let artist = pick_weighted(rng, &prolific).unwrap_or(0);
            let size = rng.random_range(6..=14).min(remaining);
            albums.push((artist, size));
            remaining -= size;
        }

        let mut tracks = Vec::with_capacity(track_count);
        let mut facts = Vec::with_capacity(track_count);
        for (artist_index, size) in albums {
            let (artist_name, artist_sound, release_year) = &mut identities[artist_index];
            let album = names::album_title(rng, artist_name);
            let album_sound = scatter(rng, *artist_sound, ALBUM_SPREAD);
            let year = *release_year;
            *release_year = (year + rng.random_range(1..=4)).min(LATEST_RELEASE_YEAR);
            let singles = [rng.random_range(0..size), rng.random_range(0..size)];
            let artist = &mut artists[artist_index];
            let genre = &GENRES[artist.genre];
            for position in 0..size {
                let number = tracks.len() as u32;
                let sound = scatter(rng, album_sound, TRACK_SPREAD);
                let seconds = track_seconds(rng, genre.typical_seconds);
                let single_boost = if singles.contains(&position) {
                    3.0
                } else {
                    1.0
                };
                let appeal = log_normal(rng, 0.6) * single_boost / (1.0 + 0.05 * position as f64);
                tracks.push(Track {
                    track_id: String::new(),
                    title: names::track_title(rng, genre.name),
                    artist: artist_name.clone(),
                    album: album.clone(),
                    album_position: (position + 1) as u16,
                    genre: genre.name.to_string(),
                    audio: Some(AudioFeatures {
                        energy: unit(sound.energy),
                        valence: unit(sound.valence),
                        danceability: unit(sound.danceability),
                        tempo: sound.tempo.clamp(50.0, 210.0) as f32,
                        acousticness: unit(sound.acousticness),
                    }),
                    release_year: year,
                    duration_ms: (seconds * 1000.0) as u32,
                });
                facts.push(TrackFacts {
                    artist: artist_index as u32,
                    genre: artist.genre,
                    energy: f64::from(unit(sound.energy)),
                    valence: f64::from(unit(sound.valence)),
                    popularity: artist.popularity * appeal,
                    fame: 0.0,
                    next_on_album: (position + 1 < size).then_some(number + 1),
                });
                artist.tracks.push(number);
            }
        }

        assign_fame(&mut facts);
        assign_shuffled_ids(rng, &mut tracks);

        let mut artists_by_genre = vec![Vec::new(); GENRE_COUNT];
        let mut genre_mass = [0.0; GENRE_COUNT];
        for (index, artist) in artists.iter().enumerate() {
            if !artist.tracks.is_empty() {
                artists_by_genre[artist.genre].push(index as u32);
                genre_mass[artist.genre] += artist.popularity;
            }
        }
        Catalogue {
            tracks,
            facts,
            artists,
            artists_by_genre,
            genre_mass,
        }
    }

    pub fn genre_has_artists(&self, genre: usize) -> bool {
        !self.artists_by_genre[genre].is_empty()
    }

    /// The public rows, sorted by track id.
    pub fn into_sorted_tracks(self) -> Vec<Track> {
        let mut tracks = self.tracks;
        tracks.sort_by(|a, b| a.track_id.cmp(&b.track_id));
        tracks
    }
}

fn unique_artist_name(rng: &mut impl Rng, genre: &str, taken: &mut BTreeSet<String>) -> String {
    for _ in 0..20 {
        let name = names::artist_name(rng, genre);
        if taken.insert(name.clone()) {
            return name;
        }
    }
    // Word lists run out in huge catalogues: number the namesakes, as streaming services do.
    let base = names::artist_name(rng, genre);
    let name = (2..)
        .map(|n| format!("{base} ({n})"))
        .find(|candidate| !taken.contains(candidate))
        .unwrap_or(base);
    taken.insert(name.clone());
    name
}

/// A track length around the genre's typical one, between 2 and 6 minutes. Out-of-range
/// draws are redrawn rather than clamped, so no lengths pile up at the limits.
fn track_seconds(rng: &mut impl Rng, typical: f64) -> f64 {
    for _ in 0..20 {
        let seconds = typical * log_normal(rng, 0.2);
        if (120.5..359.5).contains(&seconds) {
            return seconds;
        }
    }
    typical.clamp(120.5, 359.5)
}

/// Popularity percentile of every track, ties broken by track number.
fn assign_fame(facts: &mut [TrackFacts]) {
    let mut order: Vec<usize> = (0..facts.len()).collect();
    order.sort_by(|&a, &b| {
        facts[a]
            .popularity
            .total_cmp(&facts[b].popularity)
            .then(a.cmp(&b))
    });
    let top = (facts.len().max(2) - 1) as f64;
    for (rank, index) in order.into_iter().enumerate() {
        facts[index].fame = rank as f64 / top;
    }
}

/// Ids in random order, so that `t000123 → t000124` says nothing about albums.
fn assign_shuffled_ids(rng: &mut impl Rng, tracks: &mut [Track]) {
    let width = id_width(tracks.len(), 6);
    let mut numbers: Vec<usize> = (1..=tracks.len()).collect();
    numbers.shuffle(rng);
    for (track, number) in tracks.iter_mut().zip(numbers) {
        track.track_id = format!("t{number:0width$}");
    }
}
