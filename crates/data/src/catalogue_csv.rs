//! `catalogue.csv`: one track per row (`docs/DESIGN.md`, "Inputs").
//!
//! Canonical columns, in the order we write them:
//! `track_id,title,artist,album,album_position,genre,energy,valence,danceability,tempo,acousticness,release_year,duration_ms`.
//! When reading, common alternative names are accepted (`item_id`, `movie_title`, `class`,
//! `year`, …) so foreign catalogues import without a mapping file; only `track_id` is required.
//! The five audio features are all present or all empty.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use anyhow::Result;
use resonance_shared::FieldError;
use resonance_shared::catalogue::{AudioFeatures, Track};

use super::read::{self, BadRowPolicy, DelimitedFile, Dialect, ReadReport, RowError, cell};

/// Written for unknown artists and genres, so every track still validates.
pub const UNKNOWN: &str = "(unknown)";

const HEADER: [&str; 13] = [
    "track_id",
    "title",
    "artist",
    "album",
    "album_position",
    "genre",
    "energy",
    "valence",
    "danceability",
    "tempo",
    "acousticness",
    "release_year",
    "duration_ms",
];

const AUDIO: [&str; 5] = ["energy", "valence", "danceability", "tempo", "acousticness"];

/// Reads a catalogue; rows are checked with [`Track::validate`] and for duplicate ids.
pub fn read(
    path: &Path,
    dialect: Dialect,
    policy: BadRowPolicy,
) -> Result<(Vec<Track>, ReadReport)> {
    let mut file = DelimitedFile::open(path, dialect)?;
    let id = file.require(
        "track_id",
        &[
            "track_id", "item_id", "movie_id", "trackid", "itemid", "movieid", "id",
        ],
    )?;
    let title = file.column(&["title", "movie_title", "track_name", "name"]);
    let artist = file.column(&["artist", "artist_name", "artists"]);
    let album = file.column(&["album", "album_name"]);
    let position = file.column(&["album_position", "track_number"]);
    let genre = file.column(&["genre", "genres", "class", "track_genre"]);
    let audio = AUDIO.map(|name| file.column(&[name]));
    let year = file.column(&["release_year", "year"]);
    let duration = file.column(&["duration_ms"]);

    let mut tracks = Vec::new();
    let mut first_line: HashMap<String, u64> = HashMap::new();
    let mut report = ReadReport::default();
    let path_buf = file.path.clone();
    file.for_each_row(&mut report, policy, |line, row, report| {
        let parsed = (|| -> Result<Track, FieldError> {
            let track_id = cell(row, Some(id)).to_string();
            let cells = audio.map(|c| cell(row, c));
            let audio = if cells.iter().all(|c| c.is_empty()) {
                None
            } else {
                let value = |i: usize| read::parse_required::<f32>(AUDIO[i], cells[i]);
                Some(AudioFeatures {
                    energy: value(0)?,
                    valence: value(1)?,
                    danceability: value(2)?,
                    tempo: value(3)?,
                    acousticness: value(4)?,
                })
            };
            let track = Track {
                title: non_empty_or(cell(row, title), &track_id),
                artist: non_empty_or(cell(row, artist), UNKNOWN),
                album: cell(row, album).to_string(),
                album_position: read::parse_optional("album_position", cell(row, position))?
                    .unwrap_or(0),
                // Multi-genre cells ("Animation Children's Comedy", "rock|indie") keep the first.
                genre: non_empty_or(first_token(cell(row, genre)), UNKNOWN),
                audio,
                release_year: read::parse_optional(
                    "release_year",
                    without_placeholder(cell(row, year)),
                )?
                .unwrap_or(0),
                duration_ms: read::parse_optional("duration_ms", cell(row, duration))?.unwrap_or(0),
                track_id,
            };
            track.validate()?;
            if let Some(first) = first_line.get(&track.track_id) {
                return Err(FieldError::new(
                    "track_id",
                    format!("{:?} repeats the track on line {first}", track.track_id),
                ));
            }
            Ok(track)
        })();
        match parsed {
            Ok(track) => {
                first_line.insert(track.track_id.clone(), line);
                tracks.push(track);
                report.accepted += 1;
                Ok(())
            }
            Err(error) => report.reject(
                policy,
                RowError {
                    file: path_buf.clone(),
                    line,
                    error,
                },
            ),
        }
    })?;
    Ok((tracks, report))
}

fn non_empty_or(text: &str, fallback: &str) -> String {
    if text.is_empty() {
        fallback.to_string()
    } else {
        text.to_string()
    }
}

/// Metadata cells without a single digit ("unknown", "n/a", MovieLens's "unkonwn") mean the
/// value is unknown; a cell with digits that does not parse is still an error.
fn without_placeholder(text: &str) -> &str {
    if text.bytes().any(|b| b.is_ascii_digit()) {
        text
    } else {
        ""
    }
}

fn first_token(text: &str) -> &str {
    text.split(['|', ';', ' '])
        .find(|t| !t.is_empty())
        .unwrap_or("")
}

/// Writes the canonical catalogue, in the order given.
pub fn write(out: impl Write, tracks: &[Track]) -> Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(HEADER)?;
    for t in tracks {
        let audio = t.audio.map(|a| {
            [
                format!("{:.4}", a.energy),
                format!("{:.4}", a.valence),
                format!("{:.4}", a.danceability),
                format!("{:.1}", a.tempo),
                format!("{:.4}", a.acousticness),
            ]
        });
        let [energy, valence, danceability, tempo, acousticness] = audio.unwrap_or_default();
        w.write_record([
            t.track_id.as_str(),
            &t.title,
            &t.artist,
            &t.album,
            &t.album_position.to_string(),
            &t.genre,
            &energy,
            &valence,
            &danceability,
            &tempo,
            &acousticness,
            &t.release_year.to_string(),
            &t.duration_ms.to_string(),
        ])?;
    }
    w.flush()?;
    Ok(())
}
