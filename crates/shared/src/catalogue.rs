//! The track catalogue: one row of `catalogue.csv` per track.
//!
//! Audio features follow the usual streaming-service definitions: energy, valence,
//! danceability and acousticness in `[0, 1]`, tempo in beats per minute. Imported catalogues
//! (e.g. MovieLens) have no audio features, so they are optional as a group.

use serde::{Deserialize, Serialize};

use crate::validate::{self, FieldError};

/// Slowest and fastest tempo accepted, in BPM.
pub const TEMPO_RANGE_BPM: (f32, f32) = (20.0, 300.0);

/// The audio features of one track.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AudioFeatures {
    /// Perceived intensity and activity, in [0, 1].
    pub energy: f32,
    /// Musical positiveness (happy, cheerful), in [0, 1].
    pub valence: f32,
    /// How suitable for dancing, in [0, 1].
    pub danceability: f32,
    /// Beats per minute.
    pub tempo: f32,
    /// Confidence that the track is acoustic, in [0, 1].
    pub acousticness: f32,
}

impl AudioFeatures {
    /// Checks the ranges: unit-interval features in [0, 1], tempo within [`TEMPO_RANGE_BPM`].
    pub fn validate(&self) -> Result<(), FieldError> {
        validate::unit_interval("energy", self.energy)?;
        validate::unit_interval("valence", self.valence)?;
        validate::unit_interval("danceability", self.danceability)?;
        validate::in_range("tempo", self.tempo, TEMPO_RANGE_BPM.0, TEMPO_RANGE_BPM.1)?;
        validate::unit_interval("acousticness", self.acousticness)?;
        Ok(())
    }

    /// The mood a listener would name, from the energy/valence plane (Russell's circumplex).
    pub fn mood(&self) -> Mood {
        Mood::from_energy_valence(self.energy, self.valence)
    }
}

/// A coarse mood, from the quadrant of the energy/valence plane a track falls in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "lowercase")]
pub enum Mood {
    /// High energy, high valence.
    Upbeat,
    /// High energy, low valence.
    Intense,
    /// Low energy, high valence.
    Chill,
    /// Low energy, low valence.
    Melancholic,
}

impl Mood {
    /// Every mood, in declaration order.
    pub const ALL: [Mood; 4] = [Mood::Upbeat, Mood::Intense, Mood::Chill, Mood::Melancholic];

    /// The quadrant of `(energy, valence)`, each split at 0.5.
    pub fn from_energy_valence(energy: f32, valence: f32) -> Mood {
        match (energy >= 0.5, valence >= 0.5) {
            (true, true) => Mood::Upbeat,
            (true, false) => Mood::Intense,
            (false, true) => Mood::Chill,
            (false, false) => Mood::Melancholic,
        }
    }

    /// The lowercase name, as serialised.
    pub fn as_str(&self) -> &'static str {
        match self {
            Mood::Upbeat => "upbeat",
            Mood::Intense => "intense",
            Mood::Chill => "chill",
            Mood::Melancholic => "melancholic",
        }
    }
}

/// One track of the catalogue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Track {
    /// Unique within the catalogue; a valid id (see [`crate::validate::id`]).
    pub track_id: String,
    /// The track's title; may be empty.
    pub title: String,
    /// The artist's name; never empty (importers write `(unknown)` for a missing one).
    pub artist: String,
    /// Album title; empty when unknown.
    #[serde(default)]
    pub album: String,
    /// 1-based position on the album; 0 when unknown.
    #[serde(default)]
    pub album_position: u16,
    /// The genre's name; never empty.
    pub genre: String,
    /// `None` for catalogues without audio analysis (e.g. imported movie data).
    pub audio: Option<AudioFeatures>,
    /// 0 when unknown.
    #[serde(default)]
    pub release_year: u16,
    /// 0 when unknown.
    #[serde(default)]
    pub duration_ms: u32,
}

impl Track {
    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), FieldError> {
        validate::id("track_id", &self.track_id)?;
        if self.artist.trim().is_empty() {
            return Err(FieldError::new("artist", "must not be empty"));
        }
        if self.genre.trim().is_empty() {
            return Err(FieldError::new("genre", "must not be empty"));
        }
        if let Some(audio) = &self.audio {
            audio.validate()?;
        }
        if self.release_year != 0 && !(1800..=2100).contains(&self.release_year) {
            return Err(FieldError::new(
                "release_year",
                format!(
                    "{} is not a plausible year (1800–2100, or 0 for unknown)",
                    self.release_year
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn track() -> Track {
        Track {
            track_id: "t1".into(),
            title: "Song".into(),
            artist: "Band".into(),
            album: "Album".into(),
            album_position: 1,
            genre: "rock".into(),
            audio: Some(AudioFeatures {
                energy: 0.8,
                valence: 0.3,
                danceability: 0.5,
                tempo: 128.0,
                acousticness: 0.1,
            }),
            release_year: 2001,
            duration_ms: 200_000,
        }
    }

    #[test]
    fn a_valid_track_passes_and_has_a_mood() {
        let t = track();
        assert_eq!(t.validate(), Ok(()));
        assert_eq!(t.audio.unwrap().mood(), Mood::Intense);
    }

    #[test]
    fn out_of_range_audio_features_name_the_field() {
        let mut t = track();
        t.audio.as_mut().unwrap().valence = 1.5;
        assert_eq!(t.validate().unwrap_err().field, "valence");
        let mut t = track();
        t.audio.as_mut().unwrap().tempo = 900.0;
        assert_eq!(t.validate().unwrap_err().field, "tempo");
        let mut t = track();
        t.release_year = 3000;
        assert_eq!(t.validate().unwrap_err().field, "release_year");
    }
}
