//! `events.csv`: one listening event per row (`docs/DESIGN.md`, "Inputs").
//!
//! Canonical columns: `user_id,track_id,timestamp,event,ms_played,device,hour`, timestamps
//! written as RFC 3339 (UTC). When reading, timestamps may be RFC 3339 or unix seconds, and
//! sources without an `event` column may give a `rating` instead (MovieLens): ratings at or
//! above `like_at_least` become likes, at or below `skip_at_most` skips, the rest plays.
//!
//! Events must be in time order per user: a recommender trained on shuffled histories learns
//! nonsense, so an out-of-order row is an error unless the caller asked to sort.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::Path;

use anyhow::Result;
use resonance_shared::FieldError;
use resonance_shared::events::{Device, EventKind, ListeningContext, ListeningEvent};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::read::{self, BadRowPolicy, DelimitedFile, Dialect, ReadReport, RowError, cell};

const HEADER: [&str; 7] = [
    "user_id",
    "track_id",
    "timestamp",
    "event",
    "ms_played",
    "device",
    "hour",
];

/// How ratings map to event kinds, for sources that have ratings instead of events.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RatingMap {
    /// A rating at or above this is a like.
    pub like_at_least: f32,
    /// A rating at or below this is a skip (checked after likes).
    pub skip_at_most: f32,
}

impl Default for RatingMap {
    fn default() -> Self {
        Self {
            like_at_least: 4.0,
            skip_at_most: 2.0,
        }
    }
}

impl RatingMap {
    fn kind(&self, rating: f32) -> EventKind {
        if rating >= self.like_at_least {
            EventKind::Like
        } else if rating <= self.skip_at_most {
            EventKind::Skip
        } else {
            EventKind::Play
        }
    }
}

/// How to read an events file.
#[derive(Debug, Clone, Copy, Default)]
pub struct EventReadOptions<'a> {
    /// Stop at the first bad row or skip and count them.
    pub policy: BadRowPolicy,
    /// Accept rows in any order and sort them by time (per user, stably).
    pub sort: bool,
    /// Used only when the file has a `rating` column and no `event` column.
    pub ratings: RatingMap,
    /// When given, events of tracks outside this set are bad rows.
    pub known_tracks: Option<&'a HashSet<String>>,
}

/// Reads events, validating each row; the result is sorted by (timestamp, user_id).
pub fn read(
    path: &Path,
    dialect: Dialect,
    options: EventReadOptions<'_>,
) -> Result<(Vec<ListeningEvent>, ReadReport)> {
    let mut events = Vec::new();
    let report = read_batches(path, dialect, options, DEFAULT_BATCH, |batch| {
        events.extend(batch);
        Ok(())
    })?;
    // Stable: a user's events with equal timestamps keep their file order.
    events.sort_by(|a, b| {
        a.timestamp
            .cmp(&b.timestamp)
            .then_with(|| a.user_id.cmp(&b.user_id))
    });
    Ok((events, report))
}

/// Events per batch of [`read`].
pub const DEFAULT_BATCH: usize = 8192;

/// Reads events in file order, validating each row, and hands them to `on_batch` at most
/// `batch_size` at a time, so a caller that aggregates as it goes holds one batch, not the
/// file (the room a Parquet reader or a bounded-memory job plugs into). Per-user time order
/// is checked as in [`read`]; `options.sort` only skips that check (sorting is the caller's).
pub fn read_batches(
    path: &Path,
    dialect: Dialect,
    options: EventReadOptions<'_>,
    batch_size: usize,
    mut on_batch: impl FnMut(Vec<ListeningEvent>) -> Result<()>,
) -> Result<ReadReport> {
    let batch_size = batch_size.max(1);
    let policy = options.policy;
    let mut file = DelimitedFile::open(path, dialect)?;
    let user = file.require("user_id", &["user_id", "user", "userid"])?;
    let track = file.require(
        "track_id",
        &[
            "track_id", "item_id", "movie_id", "trackid", "itemid", "movieid", "track",
        ],
    )?;
    let timestamp = file.require("timestamp", &["timestamp", "time", "ts", "played_at"])?;
    let event = file.column(&["event", "kind", "event_type", "action"]);
    let rating = if event.is_none() {
        file.column(&["rating"])
    } else {
        None
    };
    let ms_played = file.column(&["ms_played"]);
    let device = file.column(&["device"]);
    let hour = file.column(&["hour"]);

    let mut batch = Vec::with_capacity(batch_size);
    // Per user: the latest timestamp so far and its line, to catch out-of-order rows.
    let mut latest: HashMap<String, (i64, u64)> = HashMap::new();
    let mut report = ReadReport::default();
    let path_buf = file.path.clone();
    file.for_each_row(&mut report, policy, |line, row, report| {
        let parsed = (|| -> Result<ListeningEvent, FieldError> {
            let kind = match (event, rating) {
                (Some(c), _) => cell(row, Some(c)).parse::<EventKind>()?,
                (None, Some(c)) => options.ratings.kind(read::parse_required::<f32>("rating", cell(row, Some(c)))?),
                (None, None) => EventKind::Play,
            };
            let e = ListeningEvent {
                user_id: cell(row, Some(user)).to_string(),
                track_id: cell(row, Some(track)).to_string(),
                timestamp: parse_timestamp(cell(row, Some(timestamp)))?,
                kind,
                ms_played: read::parse_optional("ms_played", cell(row, ms_played))?,
                context: ListeningContext {
                    device: read::parse_optional::<Device>("device", cell(row, device))?,
                    hour: read::parse_optional("hour", cell(row, hour))?,
                },
            };
            e.validate()?;
            if let Some(known) = options.known_tracks
                && !known.contains(&e.track_id)
            {
                return Err(FieldError::new("track_id", format!("{:?} is not in the catalogue", e.track_id)));
            }
            if !options.sort
                && let Some(&(previous, previous_line)) = latest.get(&e.user_id)
                && e.timestamp < previous
            {
                return Err(FieldError::new(
                    "timestamp",
                    format!(
                        "{} is earlier than this user's event on line {previous_line} ({previous}); \
                         events must be in time order per user (pass --sort to sort them)",
                        e.timestamp
                    ),
                ));
            }
            Ok(e)
        })();
        match parsed {
            Ok(e) => {
                if !options.sort {
                    latest.insert(e.user_id.clone(), (e.timestamp, line));
                }
                batch.push(e);
                report.accepted += 1;
                if batch.len() == batch_size {
                    on_batch(std::mem::replace(&mut batch, Vec::with_capacity(batch_size)))?;
                }
                Ok(())
            }
            Err(error) => report.reject(policy, RowError { file: path_buf.clone(), line, error }),
        }
    })?;
    if !batch.is_empty() {
        on_batch(batch)?;
    }
    Ok(report)
}

/// RFC 3339, or unix seconds (an integer, or a float such as RecBole's `881250949.0`).
pub fn parse_timestamp(text: &str) -> Result<i64, FieldError> {
    if text.is_empty() {
        return Err(FieldError::new("timestamp", "is empty"));
    }
    if let Ok(seconds) = text.parse::<i64>() {
        return Ok(seconds);
    }
    if let Ok(seconds) = text.parse::<f64>()
        && seconds.is_finite()
        && seconds.abs() < 1e15
    {
        return Ok(seconds.floor() as i64);
    }
    OffsetDateTime::parse(text, &Rfc3339)
        .map(|t| t.unix_timestamp())
        .map_err(|e| {
            FieldError::new(
                "timestamp",
                format!("{text:?} is neither RFC 3339 nor unix seconds ({e})"),
            )
        })
}

/// Formats unix seconds as RFC 3339 in UTC.
pub fn format_timestamp(seconds: i64) -> String {
    OffsetDateTime::from_unix_timestamp(seconds)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| seconds.to_string())
}

/// Writes the canonical events file, in the order given.
pub fn write(out: impl Write, events: &[ListeningEvent]) -> Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(HEADER)?;
    for e in events {
        w.write_record([
            e.user_id.as_str(),
            &e.track_id,
            &format_timestamp(e.timestamp),
            e.kind.as_str(),
            &e.ms_played.map(|m| m.to_string()).unwrap_or_default(),
            e.context.device.map_or("", |d| d.as_str()),
            &e.context.hour.map(|h| h.to_string()).unwrap_or_default(),
        ])?;
    }
    w.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(rows: &str) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(
            file.path(),
            format!("user_id,track_id,timestamp,event\n{rows}"),
        )
        .unwrap();
        file
    }

    #[test]
    fn batches_hold_at_most_their_size_and_add_up_to_the_file() {
        let rows: String = (0..10)
            .map(|i| format!("u{},t{i},{},play\n", i % 3, 1_000 + i))
            .collect();
        let f = file(&rows);
        let mut sizes = Vec::new();
        let report = read_batches(
            f.path(),
            Dialect::CSV,
            EventReadOptions::default(),
            4,
            |b| {
                sizes.push(b.len());
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(sizes, vec![4, 4, 2]);
        assert_eq!(report.accepted, 10);
        let (all, _) = read(f.path(), Dialect::CSV, EventReadOptions::default()).unwrap();
        assert_eq!(all.len(), 10);
    }

    #[test]
    fn batches_still_refuse_a_user_out_of_time_order() {
        let f = file("u1,t1,2000,play\nu1,t2,1000,play\n");
        let error = read_batches(
            f.path(),
            Dialect::CSV,
            EventReadOptions::default(),
            1,
            |_| Ok(()),
        )
        .unwrap_err();
        assert!(format!("{error:#}").contains(":3: timestamp"), "{error:#}");
    }
}
