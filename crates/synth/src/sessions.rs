//! Listening sessions: when they start, how long they run, and what a listener remembers from
//! one session to the next. Which track follows which is in `moves.rs`; how each listen ends,
//! in `outcomes.rs`.

use std::collections::{BTreeSet, VecDeque};

use rand::Rng;
use rand_distr::{Distribution, Geometric, Poisson};
use resonance_shared::events::{Device, EventKind, ListeningContext, ListeningEvent};

use super::catalogue::Catalogue;
use super::listeners::Listener;
use super::moves::Move;
use super::outcomes::Listen;
use super::rhythm::{Slot, local_hour, moment_energy};
use super::{SECONDS_PER_DAY, SynthConfig};

/// How many recently enjoyed tracks a listener keeps in mind for repeats.
const RECENT_MEMORY: usize = 40;
/// How much the moment (hour, device) weighs against the listener's own preferred energy.
const MOMENT_WEIGHT: f64 = 0.75;

/// A track the listener enjoyed lately.
#[derive(Debug, Clone, Copy)]
pub(super) struct Recent {
    pub track: u32,
    pub liked: bool,
}

pub(super) struct Session {
    /// The energy the listener wants now: the moment's, blended with their own.
    pub target_energy: f64,
    pub device: Option<Device>,
    pub played: Vec<u32>,
}

/// One listener's run through the window, with what they remember between sessions.
pub(super) struct Run<'a> {
    pub catalogue: &'a Catalogue,
    pub listener: &'a mut Listener,
    pub liked: BTreeSet<u32>,
    /// Newest first.
    pub recent: VecDeque<Recent>,
    /// Where an album was left off at the end of the last session.
    pub resume_album_at: Option<u32>,
    /// Scratch space for sampling weights.
    pub weights: Vec<f64>,
}

/// Simulates every session of one listener and appends the events in time order.
pub(super) fn simulate_listener(
    listener: &mut Listener,
    catalogue: &Catalogue,
    config: &SynthConfig,
    rng: &mut impl Rng,
    events: &mut Vec<ListeningEvent>,
) {
    let window_start = config.start;
    let window_end = config.start + i64::from(config.days) * SECONDS_PER_DAY;
    let offset_seconds = i64::from(listener.utc_offset_minutes) * 60;
    let first_day = listener.first_day;
    let mut run = Run {
        catalogue,
        listener,
        liked: BTreeSet::new(),
        recent: VecDeque::with_capacity(RECENT_MEMORY + 1),
        resume_album_at: None,
        weights: Vec::new(),
    };
    // Local midnight (as unix time) and whether it is a weekend, for day `day` of the window.
    let local_day = |day: i64| {
        // 1970-01-01 was a Thursday; weekday 0 is Monday.
        let weekday = (window_start.div_euclid(SECONDS_PER_DAY) + day + 3).rem_euclid(7);
        (
            window_start + day * SECONDS_PER_DAY - offset_seconds,
            weekday >= 5,
        )
    };
    let events_before = events.len();
    let mut busy_until = window_start - 2 * SECONDS_PER_DAY;
    // Local days from the one before the window to the one after it, so every UTC hour of
    // the window is covered whatever the time zone; events outside it are dropped.
    for day in -1..=i64::from(config.days) {
        if first_day > 0 && day < first_day {
            continue;
        }
        run.listener.drift_one_day(catalogue, rng);
        let (local_midnight, weekend) = local_day(day);
        let rate = run.listener.sessions_per_day * if weekend { 1.15 } else { 1.0 };
        let count = Poisson::new(rate).map_or(0.0, |p| p.sample(rng)).min(8.0) as usize;
        let mut starts: Vec<(i64, Slot)> = (0..count)
            .map(|_| {
                let slot = run.listener.pick_slot(weekend, rng);
                (
                    local_midnight + slot.random_start_second(weekend, rng),
                    slot,
                )
            })
            .collect();
        starts.sort_by_key(|&(start, _)| start);
        for (planned, slot) in starts {
            let begin = if planned < busy_until + 300 {
                busy_until + rng.random_range(300..=1800)
            } else {
                planned
            };
            if (window_start..window_end).contains(&begin) {
                busy_until = run.session(begin, slot, weekend, window_end, rng, events);
            }
        }
    }
    // Everyone in the world listened at least once: a quiet listener gets one session on
    // some day after joining.
    if events.len() == events_before {
        let mut tries = 0;
        let (begin, slot, weekend) = loop {
            let day = rng.random_range(first_day..i64::from(config.days));
            let (local_midnight, weekend) = local_day(day);
            let slot = run.listener.pick_slot(weekend, rng);
            let begin = local_midnight + slot.random_start_second(weekend, rng);
            tries += 1;
            // Day 0 mornings east of UTC and late nights west of it fall outside the window.
            if (window_start..window_end).contains(&begin) || tries == 8 {
                break (begin.clamp(window_start, window_end - 3600), slot, weekend);
            }
        };
        run.session(begin, slot, weekend, window_end, rng, events);
    }
}

impl Run<'_> {
    /// Plays one session from `begin`; returns when it ended.
    fn session(
        &mut self,
        begin: i64,
        slot: Slot,
        weekend: bool,
        window_end: i64,
        rng: &mut impl Rng,
        events: &mut Vec<ListeningEvent>,
    ) -> i64 {
        let offset = self.listener.utc_offset_minutes;
        let device = self.listener.pick_device(slot, weekend, rng);
        let moment = moment_energy(local_hour(begin, offset), weekend, device);
        let target_energy =
            MOMENT_WEIGHT * moment + (1.0 - MOMENT_WEIGHT) * self.listener.preferred_energy;
        let mut session = Session {
            target_energy,
            device,
            played: Vec::new(),
        };
        let stop_chance = 1.0 / self.listener.mean_session_tracks;
        let length = 1 + Geometric::new(stop_chance)
            .map_or(0, |g| g.sample(rng))
            .min(120);

        let mut clock = begin;
        let mut previous: Option<(u32, bool)> = None;
        let mut last_move = Move::Fresh;
        let mut skips_in_a_row = 0;
        for _ in 0..length {
            let (track, how) = match previous {
                None => self.opening(&session, rng),
                Some((track, skipped)) => self.follow(track, skipped, &session, rng),
            };
            let (kind, ms_played) =
                self.listen(track, &session, previous.is_some_and(|p| p.1), rng);
            events.push(ListeningEvent {
                user_id: self.listener.id.clone(),
                track_id: self.catalogue.tracks[track as usize].track_id.clone(),
                timestamp: clock,
                kind,
                ms_played: Some(ms_played),
                context: ListeningContext {
                    device: session.device,
                    hour: Some(local_hour(clock, offset)),
                },
            });
            session.played.push(track);
            previous = Some((track, kind == EventKind::Skip));
            last_move = how;
            skips_in_a_row = if kind == EventKind::Skip {
                skips_in_a_row + 1
            } else {
                0
            };

            // Next track: after what was heard, a moment to pick, now and then a pause.
            let pause = if rng.random_bool(0.04) {
                rng.random_range(10..=240)
            } else {
                rng.random_range(0..=2)
            };
            clock += i64::from(ms_played.div_ceil(1000)) + pause;
            if clock >= window_end || (skips_in_a_row >= 3 && rng.random_bool(0.5)) {
                break;
            }
        }
        // Someone listening through an album picks it up there next time.
        self.resume_album_at = match previous {
            Some((track, false)) if last_move == Move::AlbumNext => {
                self.catalogue.facts[track as usize].next_on_album
            }
            _ => None,
        };
        clock
    }

    /// How a listen ends, and how many milliseconds were heard; remembers likes and plays.
    fn listen(
        &mut self,
        track: u32,
        session: &Session,
        previous_skipped: bool,
        rng: &mut impl Rng,
    ) -> (EventKind, u32) {
        let facts = self.catalogue.facts[track as usize];
        let liked_before = self.liked.contains(&track);
        let listen = Listen {
            listener: &*self.listener,
            track: facts,
            duration_ms: self.catalogue.tracks[track as usize].duration_ms,
            target_energy: session.target_energy,
            liked_before,
            previous_skipped,
        };
        let (kind, ms_played) = listen.outcome(rng);
        if kind == EventKind::Skip {
            return (kind, ms_played);
        }
        if kind == EventKind::Like {
            self.liked.insert(track);
            // Loving a track by someone new sometimes makes them a favourite.
            if !self.listener.is_favourite(facts.artist) && rng.random_bool(0.15) {
                self.listener.adopt_favourite_artist(facts.artist);
            }
        }
        self.recent.push_front(Recent {
            track,
            liked: kind == EventKind::Like || liked_before,
        });
        self.recent.truncate(RECENT_MEMORY);
        (kind, ms_played)
    }
}
