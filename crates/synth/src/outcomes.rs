//! How a listen ends: skipped after a few seconds, played (mostly to the end) or liked.

use rand::Rng;
use resonance_shared::events::EventKind;

use super::catalogue::TrackFacts;
use super::listeners::Listener;

/// Skip and like logits before taste, context and the listener's own bias (calibrated for
/// roughly 70% plays, 9% likes and 21% skips with the default world).
const SKIP_BASE_LOGIT: f64 = -1.9;
const LIKE_BASE_LOGIT: f64 = -4.0;
/// Share of plays the listener leaves partway through.
const PARTIAL_PLAY_SHARE: f64 = 0.12;

/// One listen about to happen: who, what, and in which moment.
pub(super) struct Listen<'a> {
    pub listener: &'a Listener,
    pub track: TrackFacts,
    pub duration_ms: u32,
    /// The energy the moment calls for.
    pub target_energy: f64,
    pub liked_before: bool,
    pub previous_skipped: bool,
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn flag(yes: bool) -> f64 {
    if yes { 1.0 } else { 0.0 }
}

impl Listen<'_> {
    /// What the listener does, and how many milliseconds they hear.
    ///
    /// Skips grow with mismatch: a genre they care little for, a valence far from theirs, an
    /// energy wrong for the moment, and their own impatience (more so right after a skip).
    /// Familiarity (a favourite artist, a track they liked before, a famous one) holds them.
    /// Likes grow with the same match; a track is liked at most once.
    pub fn outcome(&self, rng: &mut impl Rng) -> (EventKind, u32) {
        let listener = self.listener;
        let affinity = listener.genre_affinity(self.track.genre);
        let favourite = listener.is_favourite(self.track.artist);
        let energy_miss = (self.track.energy - self.target_energy).abs();
        let valence_miss = (self.track.valence - listener.preferred_valence).abs();

        let skip_logit = SKIP_BASE_LOGIT
            + listener.skip_bias
            + 3.5 * energy_miss
            + 1.6 * (1.0 - affinity)
            + 1.2 * valence_miss
            - 0.9 * flag(favourite)
            - 0.8 * self.track.fame
            - 1.2 * flag(self.liked_before)
            + 0.4 * flag(self.previous_skipped);
        if rng.random_bool(sigmoid(skip_logit)) {
            return (EventKind::Skip, rng.random_range(3_000..=30_000));
        }

        let like_logit = LIKE_BASE_LOGIT
            + listener.like_bias
            + 1.6 * affinity
            + 1.3 * flag(favourite)
            + 0.8 * self.track.fame
            - 2.5 * energy_miss;
        if !self.liked_before && rng.random_bool(sigmoid(like_logit)) {
            return (EventKind::Like, self.heard_to_the_end(rng));
        }
        let ms_played = if rng.random_bool(PARTIAL_PLAY_SHARE) {
            // Heard a good part, then moved on (or was interrupted).
            rng.random_range(self.duration_ms * 35 / 100..self.duration_ms * 90 / 100)
        } else {
            self.heard_to_the_end(rng)
        };
        (EventKind::Play, ms_played)
    }

    /// The whole track, give or take the last seconds of fade-out.
    fn heard_to_the_end(&self, rng: &mut impl Rng) -> u32 {
        self.duration_ms - rng.random_range(0..=4_000)
    }
}
