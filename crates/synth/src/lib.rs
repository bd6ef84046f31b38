//! # The synthetic music world
//!
//! `trainer data synth` needs a catalogue and a listening history that look like a streaming
//! service's, and — more importantly — that contain the *kinds* of structure the Resonance
//! models are meant to learn: a sequence model (SASRec) must find the next track far more
//! predictable from the last few than from global popularity, and the heuristic scorer and
//! context features must find real daily rhythms. Everything is generated from one seeded
//! ChaCha8 stream in a fixed order, so the same [`SynthConfig`] always gives byte-identical
//! output.
//!
//! ## The catalogue
//!
//! - **Genres** (20, `genres.rs`): each has a typical sound (energy, valence, danceability,
//!   acousticness, tempo), a market share, a typical track length and era, and a place in a
//!   2-D *style space* (acoustic ↔ electronic, mellow ↔ intense). Closeness in that space is
//!   what makes jazz lead to blues and house to techno.
//! - **Artists** (one per ~12 tracks): a genre, a personal sound offset, and a Zipf popularity
//!   (exponent 0.9 over a random ranking) — a few stars and a long tail. Names come from word
//!   lists and syllables (`names.rs`); a few contain commas or double quotes on purpose.
//! - **Albums** of 6–14 tracks (the last one may be a short EP so the count is exact): every
//!   artist has one, popular artists more, released a few years apart. One or two tracks per
//!   album are "singles" with triple appeal.
//! - **Tracks**: audio features = genre sound + artist offset + album offset + track noise,
//!   clamped; 2–6 minutes long. Ids are assigned in shuffled order, so an id says nothing about
//!   album order.
//!
//! ## The listeners
//!
//! Each listener (`listeners.rs`) has a taste over 2–4 favourite genres near each other
//! (Dirichlet-like weights, plus a little mass on the neighbourhood), 2–6 favourite artists, a
//! preferred energy and valence, a heavy-tailed activity level (log-normal sessions per day:
//! some listen daily, most a few times a week; a fifth join partway through the window), a skip
//! and a like bias, an album affinity, a repeat rate, an adventurousness, a home time zone, a
//! chronotype over the day's slots, and device habits (car or transit commute, desk job, smart
//! speaker, TV). Taste drifts: every genre weight wobbles a little each day, about one listener
//! in 125 per day takes up a genre next to one they love, and liking a track by a new artist
//! sometimes makes that artist a favourite.
//!
//! ## Sessions and the structure they carry
//!
//! Sessions (`sessions.rs`, with the daily rhythm in `rhythm.rs`) start at plausible local
//! times (morning commute, lunch, working hours, the evening peak, late night; weekends shift
//! later) on a device that fits the slot. The hour sets a target energy (calm mornings ≈ 0.35,
//! energetic evenings ≈ 0.7, calm late nights ≈ 0.3; cars and speakers push it up, desktops
//! down), blended 75/25 with the listener's own preference; every context-aware choice below
//! favours tracks near it, and mismatches are skipped more.
//!
//! Session length is geometric (mean ≈ 10 tracks, per-listener). The first track resumes an
//! album left off last time, replays a recent favourite, or is a fresh pick (genre by taste ×
//! fit to the moment, then artist by popularity with a boost for favourites, then track by
//! popularity × fit). Each next track is one of these *moves* (`moves.rs`):
//!
//! | move | weight | what |
//! |---|---|---|
//! | repeat | ~0.08 | a recently enjoyed track again (liked ones 3×) |
//! | album next | ~0.33 | the next track on the same album (in album order) |
//! | same artist | 0.18 | another track by the artist |
//! | same genre | 0.30 | another artist of the genre |
//! | next door | ~0.10 | a neighbouring genre in style space |
//! | fresh | ~0.06 | back to the listener's overall taste |
//!
//! After a skip, album and artist moves are much less likely. Album-next transitions are shared
//! by every listener, so a bigram model alone predicts a good share of next tracks; artist,
//! genre and repeat moves reward models that look further back.
//!
//! ## Outcomes
//!
//! In `outcomes.rs`. P(skip) is a logistic function of the mismatch between the track and the
//! listener (genre affinity, valence), the mismatch with the moment (energy), the listener's
//! skip bias, and familiarity (favourite artist, liked before, famous track). A skip hears
//! 3–30 s. Otherwise the track is liked (one `like` row instead of `play`) with a probability
//! that grows with match, favourite artists and fame — never twice for the same track — or
//! played, mostly to the end and now and then in part. The next track starts when the last one
//! stopped plus a second or two (occasionally a pause of minutes).
//!
//! ## What the defaults give
//!
//! 3000 listeners (each with at least one session), 10 000 tracks by 833 artists, about
//! 420 000 events over 60 days (mean ≈ 141 per listener, median ≈ 76, a few heavy listeners
//! with thousands); ≈ 70% plays, 9% likes, 21% skips; the top 1% of tracks draw ≈ 14% of
//! listens. 38% of consecutive listens share an artist (chance: 0.6%); the most frequent
//! follower of the previous track is the next track ≈ 21% of the time, the most popular track
//! ≈ 0.5%. Tracks heard at 06–09 average energy ≈ 0.55, at 18–22 ≈ 0.65. Generation takes
//! about a second in a release build. `structure_tests::default_world_has_the_documented_statistics`
//! asserts these numbers (and prints them with `--nocapture`).

mod catalogue;
mod genres;
mod listeners;
mod moves;
mod names;
mod outcomes;
mod rhythm;
mod sessions;
#[cfg(test)]
mod structure_tests;
#[cfg(test)]
mod tests;

use anyhow::{Result, bail};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use resonance_shared::catalogue::Track;
use resonance_shared::events::ListeningEvent;

use catalogue::Catalogue;
use listeners::Listener;

/// How big and how long the synthetic world is, and which one of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynthConfig {
    /// Listeners to generate, 1 to 100 000.
    pub users: usize,
    /// Catalogue size, 100 to 1 000 000.
    pub tracks: usize,
    /// Length of the listening history, in days (1 to 3650).
    pub days: u32,
    /// The seed of the one ChaCha8 stream everything is drawn from.
    pub seed: u64,
    /// Unix seconds of day 0, 00:00 UTC.
    pub start: i64,
}

impl Default for SynthConfig {
    fn default() -> Self {
        SynthConfig {
            users: 3000,
            tracks: 10_000,
            days: 60,
            seed: 42,
            // 2026-09-01T00:00:00Z
            start: 1_788_220_800,
        }
    }
}

const SECONDS_PER_DAY: i64 = 86_400;

/// The largest world accepted: beyond these the output would not fit in memory.
const MAX_USERS: usize = 100_000;
const MAX_TRACKS: usize = 1_000_000;
const MAX_DAYS: u32 = 3650;
const MAX_USER_DAYS: u64 = 4_000_000;
/// The latest timestamp events may carry (2100-01-01), as `ListeningEvent::validate` checks.
const LATEST_TIMESTAMP: i64 = 4_102_444_800;

impl SynthConfig {
    /// Rejects absurd sizes; the message names the command-line flag to change.
    pub fn validate(&self) -> Result<()> {
        if self.users == 0 {
            bail!("--users must be at least 1");
        }
        if self.users > MAX_USERS {
            bail!("--users must be at most {MAX_USERS} (got {})", self.users);
        }
        if self.tracks < 100 {
            bail!("--tracks must be at least 100 (got {})", self.tracks);
        }
        if self.tracks > MAX_TRACKS {
            bail!(
                "--tracks must be at most {MAX_TRACKS} (got {})",
                self.tracks
            );
        }
        if self.days == 0 {
            bail!("--days must be at least 1");
        }
        if self.days > MAX_DAYS {
            bail!("--days must be at most {MAX_DAYS} (got {})", self.days);
        }
        let user_days = self.users as u64 * u64::from(self.days);
        if user_days > MAX_USER_DAYS {
            bail!(
                "--users × --days must be at most {MAX_USER_DAYS} (got {user_days}); \
                 lower --users or --days"
            );
        }
        let end = self.start + i64::from(self.days) * SECONDS_PER_DAY;
        if self.start < 0 || end > LATEST_TIMESTAMP {
            bail!(
                "--start must put the whole window of --days between 1970 and 2100 \
                 (got unix time {})",
                self.start
            );
        }
        Ok(())
    }
}

/// A generated catalogue and listening history.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticWorld {
    /// Sorted by `track_id`.
    pub catalogue: Vec<Track>,
    /// Sorted by timestamp, then user id, then generation order.
    pub events: Vec<ListeningEvent>,
}

/// Generates the world `config` describes. `on_progress(done_users, total_users)` is called
/// now and then so the CLI can draw a bar.
pub fn generate(
    config: &SynthConfig,
    on_progress: &mut dyn FnMut(usize, usize),
) -> Result<SyntheticWorld> {
    config.validate()?;
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let catalogue = Catalogue::generate(config.tracks, &mut rng);

    let user_width = id_width(config.users, 5);
    let report_every = (config.users / 200).max(1);
    let mut events = Vec::with_capacity(config.users * 150);
    on_progress(0, config.users);
    for index in 0..config.users {
        let id = format!("u{:0user_width$}", index + 1);
        let mut listener = Listener::new(id, &catalogue, config.days, &mut rng);
        sessions::simulate_listener(&mut listener, &catalogue, config, &mut rng, &mut events);
        let done = index + 1;
        if done % report_every == 0 || done == config.users {
            on_progress(done, config.users);
        }
    }
    // Stable: ties keep generation order, so each listener's events stay in their order.
    events.sort_by(|a, b| {
        a.timestamp
            .cmp(&b.timestamp)
            .then_with(|| a.user_id.cmp(&b.user_id))
    });
    Ok(SyntheticWorld {
        catalogue: catalogue.into_sorted_tracks(),
        events,
    })
}

/// Digits needed for zero-padded ids up to `count`, at least `minimum`.
fn id_width(count: usize, minimum: usize) -> usize {
    count.to_string().len().max(minimum)
}

/// Picks an index with probability proportional to its weight; `None` when no weight is
/// positive. Sums run left to right, so the result depends only on the weights and the stream.
fn pick_weighted(rng: &mut impl Rng, weights: &[f64]) -> Option<usize> {
    let total: f64 = weights.iter().filter(|w| **w > 0.0).sum();
    if !(total > 0.0 && total.is_finite()) {
        return None;
    }
    let mut remaining = rng.random::<f64>() * total;
    let mut last_positive = None;
    for (index, &weight) in weights.iter().enumerate() {
        if weight > 0.0 {
            if remaining < weight {
                return Some(index);
            }
            remaining -= weight;
            last_positive = Some(index);
        }
    }
    // Rounding left a sliver past the end: the last candidate takes it.
    last_positive
}

/// A normal draw with mean 0.
fn gaussian(rng: &mut impl Rng, std_dev: f64) -> f64 {
    rng.sample::<f64, _>(StandardNormal) * std_dev
}

/// A log-normal multiplier with median 1.
fn log_normal(rng: &mut impl Rng, sigma: f64) -> f64 {
    gaussian(rng, sigma).exp()
}
