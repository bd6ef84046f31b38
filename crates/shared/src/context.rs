//! `context_aware_features`: computed on demand from the request's context, never stored.
//!
//! Listeners want calmer music in the morning and late at night and more energy in the
//! evening; a car or a party speaker shifts that further. The targets here encode those
//! rhythms; the heuristic scores how well a track's energy and danceability fit them.

use serde::{Deserialize, Serialize};

use crate::events::Device;
use crate::validate::FieldError;

/// The context a client sends with a rerank request. Every field is optional: a missing hour
/// is derived from `timestamp` (plus `utc_offset_minutes`) when given, else context is neutral.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "ts", ts(optional_fields = nullable))]
#[serde(deny_unknown_fields)]
pub struct RequestContext {
    /// The listener's local hour, 0–23.
    pub hour: Option<u8>,
    /// The listener's local weekday, 0 = Monday … 6 = Sunday.
    pub weekday: Option<u8>,
    /// The device the listener plays on, when known.
    pub device: Option<Device>,
    /// Unix seconds; used when `hour` or `weekday` is missing.
    pub timestamp: Option<i64>,
    /// The listener's offset from UTC, in minutes (−840 to 840).
    pub utc_offset_minutes: Option<i16>,
}

/// A part of the day with its own listening habits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Daypart {
    /// 05:00–10:59.
    Morning,
    /// 11:00–16:59.
    Afternoon,
    /// 17:00–21:59.
    Evening,
    /// 22:00–04:59.
    Night,
}

impl Daypart {
    /// The part of the day a local hour (0–23) falls in.
    pub fn of_hour(hour: u8) -> Daypart {
        match hour {
            5..=10 => Daypart::Morning,
            11..=16 => Daypart::Afternoon,
            17..=21 => Daypart::Evening,
            _ => Daypart::Night,
        }
    }

    /// The energy listeners tend to want in this part of the day.
    pub fn target_energy(&self) -> f32 {
        match self {
            Daypart::Morning => 0.35,
            Daypart::Afternoon => 0.55,
            Daypart::Evening => 0.72,
            Daypart::Night => 0.3,
        }
    }
}

/// The context-aware features of one request.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ContextAwareFeatures {
    /// The listener's local hour, 0–23.
    pub hour: u8,
    /// The listener's local weekday, 0 = Monday … 6 = Sunday; Monday when only the hour is
    /// known.
    pub weekday: u8,
    /// Saturday or Sunday.
    pub is_weekend: bool,
    /// The part of the day `hour` falls in.
    pub daypart: Daypart,
    /// The device, when the request named one.
    pub device: Option<Device>,
    /// The energy that fits this moment, in `[0, 1]`.
    pub target_energy: f32,
    /// The danceability that fits this moment, in `[0, 1]`.
    pub target_danceability: f32,
}

impl RequestContext {
    /// Checks the ranges of every given field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), FieldError> {
        if let Some(hour) = self.hour
            && hour > 23
        {
            return Err(FieldError::new(
                "context.hour",
                format!("{hour} is not an hour 0–23"),
            ));
        }
        if let Some(day) = self.weekday
            && day > 6
        {
            return Err(FieldError::new(
                "context.weekday",
                format!("{day} is not a weekday 0 (Monday) – 6 (Sunday)"),
            ));
        }
        if let Some(ts) = self.timestamp
            && !(0..=4_102_444_800).contains(&ts)
        {
            return Err(FieldError::new(
                "context.timestamp",
                format!("{ts} is not between 1970 and 2100 in unix seconds"),
            ));
        }
        if let Some(offset) = self.utc_offset_minutes
            && !(-840..=840).contains(&offset)
        {
            return Err(FieldError::new(
                "context.utc_offset_minutes",
                format!("{offset} is outside −840 … 840"),
            ));
        }
        Ok(())
    }

    /// The local hour and weekday, from the explicit fields or else the timestamp.
    fn local_time(&self) -> Option<(u8, u8)> {
        let from_clock = self.timestamp.map(|ts| {
            let local = ts + i64::from(self.utc_offset_minutes.unwrap_or(0)) * 60;
            let days = local.div_euclid(86_400);
            let hour = (local.rem_euclid(86_400) / 3600) as u8;
            // 1970-01-01 was a Thursday (weekday 3 with Monday = 0).
            let weekday = ((days + 3).rem_euclid(7)) as u8;
            (hour, weekday)
        });
        let hour = self.hour.or(from_clock.map(|c| c.0))?;
        let weekday = self.weekday.or(from_clock.map(|c| c.1)).unwrap_or(0);
        Some((hour, weekday))
    }

    /// The context-aware features, or `None` when the request says nothing about the time.
    pub fn features(&self) -> Option<ContextAwareFeatures> {
        let (hour, weekday) = self.local_time()?;
        let daypart = Daypart::of_hour(hour);
        let is_weekend = weekday >= 5;
        let mut target_energy: f32 = daypart.target_energy();
        let mut target_danceability: f32 = 0.5;
        if is_weekend && matches!(daypart, Daypart::Evening | Daypart::Night) {
            target_danceability += 0.15;
            target_energy += 0.05;
        }
        match self.device {
            Some(Device::Car) => target_energy += 0.05,
            Some(Device::Speaker) => target_danceability += 0.1,
            Some(Device::Desktop) => target_energy -= 0.05,
            _ => {}
        }
        Some(ContextAwareFeatures {
            hour,
            weekday,
            is_weekend,
            daypart,
            device: self.device,
            target_energy: target_energy.clamp(0.0, 1.0),
            target_danceability: target_danceability.clamp(0.0, 1.0),
        })
    }
}

impl ContextAwareFeatures {
    /// How well a track fits this moment, in `[0, 1]`.
    pub fn fit(&self, energy: f32, danceability: f32) -> f32 {
        let miss = (energy - self.target_energy).abs()
            + 0.5 * (danceability - self.target_danceability).abs();
        (1.0 - miss / 1.5).clamp(0.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hour_and_weekday_come_from_the_timestamp_when_missing() {
        // 2026-11-26 19:30 UTC is a Thursday.
        let ctx = RequestContext {
            timestamp: Some(1_795_721_400),
            ..Default::default()
        };
        let f = ctx.features().unwrap();
        assert_eq!((f.hour, f.weekday, f.daypart), (19, 3, Daypart::Evening));
        let shifted = RequestContext {
            utc_offset_minutes: Some(-600),
            ..ctx
        };
        assert_eq!(shifted.features().unwrap().hour, 9);
    }

    #[test]
    fn evenings_want_more_energy_than_mornings() {
        let at = |hour| RequestContext {
            hour: Some(hour),
            ..Default::default()
        };
        let morning = at(8).features().unwrap();
        let evening = at(20).features().unwrap();
        assert!(evening.target_energy > morning.target_energy);
        assert!(morning.fit(0.3, 0.5) > morning.fit(0.9, 0.5));
        assert!(evening.fit(0.9, 0.5) > evening.fit(0.1, 0.5));
        assert_eq!(RequestContext::default().features(), None);
    }

    #[test]
    fn out_of_range_fields_are_named() {
        let bad = RequestContext {
            weekday: Some(7),
            ..Default::default()
        };
        assert_eq!(bad.validate().unwrap_err().field, "context.weekday");
        let bad = RequestContext {
            utc_offset_minutes: Some(900),
            ..Default::default()
        };
        assert_eq!(
            bad.validate().unwrap_err().field,
            "context.utc_offset_minutes"
        );
    }
}
