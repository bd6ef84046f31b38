//! The daily rhythm: when sessions start (slots in local time), the energy each hour calls
//! for, which device is at hand, and where on Earth listeners live.

use rand::Rng;
use resonance_shared::events::Device;

use super::{SECONDS_PER_DAY, pick_weighted};

/// Parts of the day in which listening sessions start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Slot {
    /// The commute, or a slow weekend morning.
    Morning,
    Lunch,
    /// Working hours.
    Afternoon,
    /// The peak: after work, dinner, going out.
    Evening,
    /// After 22:30, up to half past two.
    LateNight,
}

impl Slot {
    pub const ALL: [Slot; 5] = [
        Slot::Morning,
        Slot::Lunch,
        Slot::Afternoon,
        Slot::Evening,
        Slot::LateNight,
    ];

    /// When sessions of this slot start, in minutes after local midnight (late night runs
    /// past the next midnight).
    fn start_window_minutes(self, weekend: bool) -> (i64, i64) {
        match (self, weekend) {
            (Slot::Morning, false) => (6 * 60 + 30, 9 * 60 + 30),
            (Slot::Morning, true) => (8 * 60, 11 * 60 + 30),
            (Slot::Lunch, _) => (11 * 60 + 30, 14 * 60),
            (Slot::Afternoon, _) => (14 * 60, 17 * 60 + 30),
            (Slot::Evening, _) => (17 * 60 + 30, 22 * 60 + 30),
            (Slot::LateNight, _) => (22 * 60 + 30, 26 * 60 + 30),
        }
    }

    /// A random start time in this slot, in seconds after local midnight.
    pub fn random_start_second(self, weekend: bool, rng: &mut impl Rng) -> i64 {
        let (from, to) = self.start_window_minutes(weekend);
        rng.random_range(from * 60..to * 60)
    }

    /// How much of the population's listening starts in this slot.
    pub fn base_weight(self, weekend: bool) -> f64 {
        match (self, weekend) {
            (Slot::Morning, false) => 0.22,
            (Slot::Morning, true) => 0.14,
            (Slot::Lunch, _) => 0.12,
            (Slot::Afternoon, false) => 0.15,
            (Slot::Afternoon, true) => 0.2,
            (Slot::Evening, _) => 0.36,
            (Slot::LateNight, false) => 0.12,
            (Slot::LateNight, true) => 0.18,
        }
    }
}

/// The energy people reach for at each local hour: calm mornings, energetic evenings, calm
/// late nights (the same rhythm as `resonance_shared::context::Daypart`, smoothed).
const HOURLY_TARGET_ENERGY: [f64; 24] = [
    0.34, 0.30, 0.28, 0.28, 0.28, 0.30, 0.33, 0.35, 0.36, 0.40, 0.46, 0.52, //
    0.55, 0.55, 0.56, 0.58, 0.60, 0.66, 0.70, 0.72, 0.72, 0.68, 0.52, 0.40,
];

/// The energy that fits a moment, before the listener's own preference is blended in.
pub(super) fn moment_energy(local_hour: u8, weekend: bool, device: Option<Device>) -> f64 {
    let mut energy = HOURLY_TARGET_ENERGY[usize::from(local_hour % 24)];
    // Weekend evenings and nights run hotter: parties, going out.
    if weekend && !(6..18).contains(&local_hour) {
        energy += 0.05;
    }
    energy += match device {
        Some(Device::Car) => 0.05,
        Some(Device::Speaker) => 0.03,
        Some(Device::Desktop) => -0.05,
        _ => 0.0,
    };
    energy.clamp(0.0, 1.0)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Commute {
    Car,
    Transit,
    FromHome,
}

/// The devices a listener owns and when they use them.
#[derive(Debug, Clone, Copy)]
pub(super) struct DeviceHabits {
    commute: Commute,
    desk_job: bool,
    /// Uses the web player rather than the desktop app.
    prefers_web: bool,
    has_speaker: bool,
    has_tv: bool,
}

impl DeviceHabits {
    /// A household: a third drive to work, a quarter work from home, about half own a speaker.
    pub fn random(rng: &mut impl Rng) -> DeviceHabits {
        let commute = match rng.random_range(0..100) {
            0..35 => Commute::Car,
            35..75 => Commute::Transit,
            _ => Commute::FromHome,
        };
        DeviceHabits {
            commute,
            desk_job: rng.random_bool(0.55),
            prefers_web: rng.random_bool(0.25),
            has_speaker: rng.random_bool(0.45),
            has_tv: rng.random_bool(0.25),
        }
    }

    /// The device for a session in `slot`; `None` (unknown) for about 1% of sessions.
    pub fn pick(self, slot: Slot, weekend: bool, rng: &mut impl Rng) -> Option<Device> {
        if rng.random_bool(0.01) {
            return None;
        }
        let owned = |yes: bool, weight: f64| if yes { weight } else { 0.0 };
        let (desktop, web) = if self.prefers_web {
            (0.0, 1.0)
        } else {
            (1.0, 0.0)
        };
        let at_work = self.desk_job && !weekend;
        // Weights in the order of `Device::ALL`: mobile, desktop, web, speaker, car, tv.
        let weights: [f64; 6] = match slot {
            Slot::Morning if !weekend => match self.commute {
                Commute::Car => [0.2, 0.0, 0.0, 0.0, 0.8, 0.0],
                Commute::Transit => [1.0, 0.0, 0.0, 0.0, 0.0, 0.0],
                Commute::FromHome => [
                    0.5,
                    0.2 * desktop,
                    0.2 * web,
                    owned(self.has_speaker, 0.5),
                    0.0,
                    0.0,
                ],
            },
            Slot::Morning => [
                0.6,
                0.0,
                0.0,
                owned(self.has_speaker, 0.6),
                0.0,
                owned(self.has_tv, 0.1),
            ],
            Slot::Lunch => [
                0.7,
                owned(at_work, 0.3) * desktop,
                owned(at_work, 0.3) * web,
                0.0,
                0.0,
                0.0,
            ],
            Slot::Afternoon if at_work => [0.2, 0.8 * desktop, 0.8 * web, 0.0, 0.0, 0.0],
            Slot::Afternoon => {
                let car = owned(self.commute == Commute::Car, 0.25);
                [
                    0.6,
                    0.1 * desktop,
                    0.1 * web,
                    owned(self.has_speaker, 0.3),
                    car,
                    0.0,
                ]
            }
            Slot::Evening => [
                0.35,
                0.12 * desktop,
                0.12 * web,
                owned(self.has_speaker, 0.4),
                owned(self.commute == Commute::Car && !weekend, 0.1),
                owned(self.has_tv, 0.25),
            ],
            Slot::LateNight => [
                0.8,
                0.2 * desktop,
                0.2 * web,
                owned(self.has_speaker, 0.1),
                0.0,
                0.0,
            ],
        };
        pick_weighted(rng, &weights).map(|i| Device::ALL[i])
    }
}

/// UTC offsets in minutes with the share of listeners living there.
const TIME_ZONES: [(i32, f64); 12] = [
    (-8 * 60, 0.12),
    (-6 * 60, 0.06),
    (-5 * 60, 0.14),
    (-3 * 60, 0.07),
    (0, 0.10),
    (60, 0.18),
    (2 * 60, 0.08),
    (3 * 60, 0.04),
    (5 * 60 + 30, 0.06),
    (8 * 60, 0.06),
    (9 * 60, 0.07),
    (10 * 60, 0.02),
];

/// A home time zone, in minutes east of UTC.
pub(super) fn random_utc_offset_minutes(rng: &mut impl Rng) -> i32 {
    let weights = TIME_ZONES.map(|(_, share)| share);
    TIME_ZONES[pick_weighted(rng, &weights).unwrap_or(0)].0
}

/// The hour on the listener's clock at `timestamp`.
pub(super) fn local_hour(timestamp: i64, utc_offset_minutes: i32) -> u8 {
    let local = timestamp + i64::from(utc_offset_minutes) * 60;
    (local.rem_euclid(SECONDS_PER_DAY) / 3600) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_hours_follow_the_offset() {
        // 2026-09-01T23:30:00Z
        let late = 1_788_220_800 + 23 * 3600 + 1800;
        assert_eq!(local_hour(late, 0), 23);
        assert_eq!(local_hour(late, 60), 0);
        assert_eq!(local_hour(late, 5 * 60 + 30), 5);
        assert_eq!(local_hour(late, -8 * 60), 15);
    }

    #[test]
    fn evenings_call_for_more_energy_than_mornings_and_nights() {
        let at = |hour| moment_energy(hour, false, Some(Device::Mobile));
        assert!(at(8) < 0.4 && at(20) > 0.65 && at(2) < 0.35);
        assert!(moment_energy(8, false, Some(Device::Car)) > at(8));
    }
}
