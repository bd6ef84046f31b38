//! Listening events: one row of `events.csv` per play, like or skip.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::validate::{self, FieldError};

/// What the listener did with a track.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    /// Listened (most or all of the track).
    Play,
    /// Listened and marked it as liked.
    Like,
    /// Moved on after a few seconds.
    Skip,
}

impl EventKind {
    /// Every kind, in declaration order.
    pub const ALL: [EventKind; 3] = [EventKind::Play, EventKind::Like, EventKind::Skip];

    /// The lowercase name used in `events.csv` and JSON.
    pub fn as_str(&self) -> &'static str {
        match self {
            EventKind::Play => "play",
            EventKind::Like => "like",
            EventKind::Skip => "skip",
        }
    }

    /// A positive signal: the listener wanted this track.
    pub fn is_positive(&self) -> bool {
        !matches!(self, EventKind::Skip)
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventKind {
    type Err = FieldError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "play" => Ok(EventKind::Play),
            "like" => Ok(EventKind::Like),
            "skip" => Ok(EventKind::Skip),
            other => Err(FieldError::new(
                "event",
                format!("{other:?} is not one of play, like, skip"),
            )),
        }
    }
}

/// The device a track was played on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "lowercase")]
pub enum Device {
    /// A phone or tablet app.
    Mobile,
    /// A desktop app.
    Desktop,
    /// A web browser.
    Web,
    /// A smart or party speaker.
    Speaker,
    /// A car's audio system.
    Car,
    /// A television or set-top box.
    Tv,
}

impl Device {
    /// Every device, in declaration order.
    pub const ALL: [Device; 6] = [
        Device::Mobile,
        Device::Desktop,
        Device::Web,
        Device::Speaker,
        Device::Car,
        Device::Tv,
    ];

    /// The lowercase name used in `events.csv` and JSON.
    pub fn as_str(&self) -> &'static str {
        match self {
            Device::Mobile => "mobile",
            Device::Desktop => "desktop",
            Device::Web => "web",
            Device::Speaker => "speaker",
            Device::Car => "car",
            Device::Tv => "tv",
        }
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Device {
    type Err = FieldError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        Device::ALL
            .into_iter()
            .find(|d| d.as_str() == lower)
            .ok_or_else(|| {
                FieldError::new(
                    "device",
                    format!("{s:?} is not one of mobile, desktop, web, speaker, car, tv"),
                )
            })
    }
}

/// Where and when a track was played.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ListeningContext {
    /// The device, when the source says.
    pub device: Option<Device>,
    /// The listener's local hour, 0–23.
    pub hour: Option<u8>,
}

/// One listening event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListeningEvent {
    /// The listener.
    pub user_id: String,
    /// The track, a `track_id` of the catalogue.
    pub track_id: String,
    /// Unix seconds, UTC.
    pub timestamp: i64,
    /// Play, like or skip.
    pub kind: EventKind,
    /// Milliseconds of the track that were heard; `None` when the source does not say.
    pub ms_played: Option<u32>,
    /// Where and when it was played.
    pub context: ListeningContext,
}

impl ListeningEvent {
    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), FieldError> {
        validate::id("user_id", &self.user_id)?;
        validate::id("track_id", &self.track_id)?;
        // 1970 to 2100: anything else is a unit mistake (milliseconds) or garbage.
        if !(0..=4_102_444_800).contains(&self.timestamp) {
            return Err(FieldError::new(
                "timestamp",
                format!(
                    "{} is not between 1970 and 2100 in unix seconds (milliseconds by mistake?)",
                    self.timestamp
                ),
            ));
        }
        if let Some(hour) = self.context.hour
            && hour > 23
        {
            return Err(FieldError::new(
                "hour",
                format!("{hour} is not an hour 0–23"),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_devices_parse_and_name_the_field_on_error() {
        assert_eq!("Like".parse::<EventKind>(), Ok(EventKind::Like));
        assert_eq!("play".parse::<EventKind>().unwrap().to_string(), "play");
        assert_eq!("stream".parse::<EventKind>().unwrap_err().field, "event");
        assert_eq!(" car ".parse::<Device>(), Ok(Device::Car));
        assert_eq!("fridge".parse::<Device>().unwrap_err().field, "device");
    }

    #[test]
    fn events_reject_millisecond_timestamps_and_bad_hours() {
        let mut e = ListeningEvent {
            user_id: "u".into(),
            track_id: "t".into(),
            timestamp: 1_700_000_000,
            kind: EventKind::Play,
            ms_played: Some(1000),
            context: ListeningContext::default(),
        };
        assert_eq!(e.validate(), Ok(()));
        e.timestamp = 1_700_000_000_000;
        assert_eq!(e.validate().unwrap_err().field, "timestamp");
        e.timestamp = 1_700_000_000;
        e.context.hour = Some(24);
        assert_eq!(e.validate().unwrap_err().field, "hour");
    }
}
