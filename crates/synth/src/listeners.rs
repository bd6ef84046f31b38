//! Listeners: who they are (taste, favourite artists, rhythm, devices, time zone) and how
//! their taste drifts from day to day.

use rand::Rng;
use rand_distr::{Beta, Distribution, Gamma};
use resonance_shared::events::Device;

use super::catalogue::Catalogue;
use super::genres::{GENRE_COUNT, GENRES, Sound, similarity};
use super::rhythm::{DeviceHabits, Slot, random_utc_offset_minutes};
use super::{gaussian, log_normal, pick_weighted};

/// Chance per day that a listener takes up a genre next to one they love.
const GENRE_ADOPTION_PER_DAY: f64 = 0.008;
/// Day-to-day log-scale wobble of every genre weight.
const TASTE_DRIFT_PER_DAY: f64 = 0.04;

pub(super) struct Listener {
    pub id: String,
    /// Minutes east of UTC.
    pub utc_offset_minutes: i32,
    /// The first day (of the window) on which they listen: some join late.
    pub first_day: i64,
    /// Weight per genre, summing to 1; drifts daily.
    pub taste: [f64; GENRE_COUNT],
    /// Sorted artist numbers; grows when they like tracks by new artists.
    pub favourite_artists: Vec<u32>,
    pub preferred_energy: f64,
    pub preferred_valence: f64,
    /// Mean number of sessions per day (heavy-tailed across listeners).
    pub sessions_per_day: f64,
    pub mean_session_tracks: f64,
    /// Added to the skip logit: some people skip a lot.
    pub skip_bias: f64,
    /// Added to the like logit.
    pub like_bias: f64,
    /// Tendency to play on to the next track of the album.
    pub album_affinity: f64,
    /// Tendency to go back to a recently played favourite.
    pub repeat_rate: f64,
    /// Tendency to leave the current genre.
    pub adventurousness: f64,
    /// Personal multipliers of the population's slot weights (their chronotype).
    slot_preference: [f64; 5],
    devices: DeviceHabits,
}

impl Listener {
    /// A random listener, who may join on any of the `days`.
    pub fn new(id: String, catalogue: &Catalogue, days: u32, rng: &mut impl Rng) -> Listener {
        let utc_offset_minutes = random_utc_offset_minutes(rng);
        let first_day = if rng.random_bool(0.2) {
            rng.random_range(0..i64::from(days))
        } else {
            0
        };

        let taste = random_taste(catalogue, rng);
        let favourite_artists = random_favourite_artists(catalogue, &taste, rng);

        let taste_mean = |sound: fn(&Sound) -> f64| -> f64 {
            (0..GENRE_COUNT)
                .map(|g| taste[g] * sound(&GENRES[g].sound))
                .sum()
        };
        let preferred_energy = (taste_mean(|s| s.energy) + gaussian(rng, 0.07)).clamp(0.1, 0.9);
        let preferred_valence = (taste_mean(|s| s.valence) + gaussian(rng, 0.08)).clamp(0.1, 0.9);

        let sessions_per_day = (0.16 * log_normal(rng, 1.0)).clamp(0.05, 4.0);
        let mean_session_tracks = (10.0 * log_normal(rng, 0.25)).clamp(4.0, 25.0);
        let skip_bias = gaussian(rng, 0.6);
        let like_bias = gaussian(rng, 0.7);
        let album_affinity = Beta::new(2.0, 4.0).expect("valid beta").sample(rng);
        let repeat_rate = Beta::new(1.5, 18.0).expect("valid beta").sample(rng);
        let adventurousness = log_normal(rng, 0.5);
        let chronotype = Gamma::new(2.0, 0.5).expect("valid gamma");
        let slot_preference = [(); 5].map(|()| chronotype.sample(rng));

        let devices = DeviceHabits::random(rng);

        Listener {
            id,
            utc_offset_minutes,
            first_day,
            taste,
            favourite_artists,
            preferred_energy,
            preferred_valence,
            sessions_per_day,
            mean_session_tracks,
            skip_bias,
            like_bias,
            album_affinity,
            repeat_rate,
            adventurousness,
            slot_preference,
            devices,
        }
    }

    /// How much they like a genre relative to their favourite one, in `[0, 1]`.
    pub fn genre_affinity(&self, genre: usize) -> f64 {
        let top = self.taste.iter().copied().fold(0.0, f64::max);
        if top > 0.0 {
            self.taste[genre] / top
        } else {
            0.0
        }
    }

    pub fn is_favourite(&self, artist: u32) -> bool {
        self.favourite_artists.binary_search(&artist).is_ok()
    }

    pub fn adopt_favourite_artist(&mut self, artist: u32) {
        if let Err(at) = self.favourite_artists.binary_search(&artist) {
            self.favourite_artists.insert(at, artist);
        }
    }

    /// One day of slow drift: every genre weight wobbles a little, and now and then a
    /// genre next to a loved one is taken up.
    pub fn drift_one_day(&mut self, catalogue: &Catalogue, rng: &mut impl Rng) {
        for weight in &mut self.taste {
            if *weight > 0.0 {
                *weight *= (gaussian(rng, TASTE_DRIFT_PER_DAY)).exp();
            }
        }
        if rng.random_bool(GENRE_ADOPTION_PER_DAY) {
            let source = pick_weighted(rng, &self.taste).unwrap_or(0);
            let top = self.taste.iter().copied().fold(0.0, f64::max);
            let weights: Vec<f64> = (0..GENRE_COUNT)
                .map(|g| {
                    let new = catalogue.genre_has_artists(g) && self.taste[g] < 0.15 * top;
                    if new { similarity(source, g) } else { 0.0 }
                })
                .collect();
            if let Some(adopted) = pick_weighted(rng, &weights) {
                self.taste[adopted] += 0.3 * top;
            }
        }
        normalise(&mut self.taste);
    }

    pub fn pick_slot(&self, weekend: bool, rng: &mut impl Rng) -> Slot {
        let weights: Vec<f64> = Slot::ALL
            .iter()
            .zip(self.slot_preference)
            .map(|(slot, personal)| slot.base_weight(weekend) * personal)
            .collect();
        Slot::ALL[pick_weighted(rng, &weights).unwrap_or(3)]
    }

    /// The device for a session; `None` (unknown) for about 1% of sessions.
    pub fn pick_device(&self, slot: Slot, weekend: bool, rng: &mut impl Rng) -> Option<Device> {
        self.devices.pick(slot, weekend, rng)
    }
}

/// A home genre (by market share), one to three more near it with Dirichlet-like weights, and
/// a little mass on the rest of the neighbourhood; summing to 1.
fn random_taste(catalogue: &Catalogue, rng: &mut impl Rng) -> [f64; GENRE_COUNT] {
    let available = |g: usize| catalogue.genre_has_artists(g);
    let home_weights: Vec<f64> = (0..GENRE_COUNT)
        .map(|g| {
            if available(g) {
                GENRES[g].popularity
            } else {
                0.0
            }
        })
        .collect();
    let home = pick_weighted(rng, &home_weights).unwrap_or(0);
    let mut favourites = vec![home];
    let wanted = rng.random_range(2..=4);
    while favourites.len() < wanted {
        let weights: Vec<f64> = (0..GENRE_COUNT)
            .map(|g| {
                let fits = available(g) && !favourites.contains(&g);
                let closeness = similarity(home, g) + 0.03;
                if fits {
                    GENRES[g].popularity.sqrt() * closeness
                } else {
                    0.0
                }
            })
            .collect();
        match pick_weighted(rng, &weights) {
            Some(genre) => favourites.push(genre),
            None => break,
        }
    }
    let share = Gamma::new(1.5, 1.0).expect("valid gamma");
    let mut taste = [0.0; GENRE_COUNT];
    for (rank, &genre) in favourites.iter().enumerate() {
        let home_boost = if rank == 0 { 1.5 } else { 1.0 };
        taste[genre] = 0.05 + home_boost * share.sample(rng);
    }
    let favourite_mass: f64 = taste.iter().sum();
    for (genre, weight) in taste.iter_mut().enumerate() {
        if *weight == 0.0 && available(genre) {
            let closeness = favourites
                .iter()
                .map(|&f| similarity(f, genre))
                .fold(0.0, f64::max);
            *weight = favourite_mass * 0.03 * closeness;
        }
    }
    normalise(&mut taste);
    taste
}

/// Two to six artists from the listener's genres; favourites are often not the stars.
fn random_favourite_artists(
    catalogue: &Catalogue,
    taste: &[f64; GENRE_COUNT],
    rng: &mut impl Rng,
) -> Vec<u32> {
    let mut favourite_artists = Vec::new();
    for _ in 0..rng.random_range(2..=6) {
        let genre = pick_weighted(rng, taste).unwrap_or(0);
        let candidates = &catalogue.artists_by_genre[genre];
        let weights: Vec<f64> = candidates
            .iter()
            .map(|&a| catalogue.artists[a as usize].popularity.powf(0.4))
            .collect();
        if let Some(pick) = pick_weighted(rng, &weights) {
            favourite_artists.push(candidates[pick]);
        }
    }
    favourite_artists.sort_unstable();
    favourite_artists.dedup();
    favourite_artists
}

fn normalise(weights: &mut [f64]) {
    let total: f64 = weights.iter().sum();
    if total > 0.0 {
        weights.iter_mut().for_each(|w| *w /= total);
    }
}
