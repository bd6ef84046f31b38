//! `trainer data import`: turn foreign data into a canonical dataset folder.

use std::collections::BTreeSet;
use std::collections::HashSet;
use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::{Args, ValueEnum};
use resonance_shared::catalogue::Track;

use resonance_data::catalogue_csv::{self, UNKNOWN};
use resonance_data::events_csv::{self, EventReadOptions, RatingMap};
use resonance_data::read::{BadRowPolicy, Dialect};
use resonance_data::{self as data, Dataset, stats::DatasetStats};

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SourceFormat {
    /// Comma-separated with a header (RFC 3339 or unix-second timestamps; optionally .gz).
    Csv,
    /// RecBole atomic files: tab-separated, `name:type` headers (`.inter`, `.item`).
    Recbole,
}

/// Import events (and optionally a catalogue) into a dataset folder in the canonical format.
///
/// Columns are found by name, with common alternatives accepted: `user_id`/`user`,
/// `track_id`/`item_id`/`movie_id`, `timestamp`/`time`, `event` (play|like|skip) or else
/// `rating`; in catalogues `title`/`movie_title`, `artist`, `genre`/`class`, the five audio
/// features, `release_year`/`year`. Without a catalogue, one is made from the events' track
/// ids. Every row is validated; a bad row is reported as `file:line: field: problem`.
///
/// Example (MovieLens-100K, fetched by scripts/fetch-movielens.sh):
///   trainer data import --format recbole --events data/ml-100k/ml-100k.inter
///       --catalogue data/ml-100k/ml-100k.item --out data/ml-100k-canonical
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct ImportArgs {
    /// The layout of the input files.
    #[arg(long, value_enum, default_value = "csv")]
    pub format: SourceFormat,
    /// The events file (`.csv`, `.csv.gz`, `.inter`).
    #[arg(long, value_name = "FILE")]
    pub events: PathBuf,
    /// The catalogue file (`.csv`, `.item`). Events of tracks missing from it are bad rows.
    #[arg(long, value_name = "FILE")]
    pub catalogue: Option<PathBuf>,
    /// The dataset folder to write (catalogue.csv, events.csv).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Replace `--out` if it already holds files.
    #[arg(long)]
    pub force: bool,
    /// Skip and count malformed rows instead of stopping at the first one.
    #[arg(long)]
    pub skip_bad: bool,
    /// Accept events in any order and sort them by time (always on for RecBole files).
    #[arg(long)]
    pub sort: bool,
    /// Without an `event` column: ratings at or above this become likes.
    #[arg(long, default_value_t = 4.0, value_name = "RATING")]
    pub like_at_least: f32,
    /// Without an `event` column: ratings at or below this become skips (the rest are plays).
    #[arg(long, default_value_t = 2.0, value_name = "RATING")]
    pub skip_at_most: f32,
}

pub fn run(args: ImportArgs) -> Result<()> {
    let ordered = args.skip_at_most < args.like_at_least;
    if !ordered || !args.skip_at_most.is_finite() || !args.like_at_least.is_finite() {
        bail!(
            "--skip-at-most ({}) must be below --like-at-least ({})",
            args.skip_at_most,
            args.like_at_least
        );
    }
    let policy = if args.skip_bad {
        BadRowPolicy::Skip
    } else {
        BadRowPolicy::Stop
    };
    let dialect = match args.format {
        SourceFormat::Csv => Dialect::CSV,
        SourceFormat::Recbole => Dialect::RECBOLE,
    };

    let catalogue = match &args.catalogue {
        Some(path) => {
            let (tracks, report) = catalogue_csv::read(path, dialect, policy)?;
            eprintln!(
                "{}",
                report.summary(&format!("catalogue {}", path.display()))
            );
            Some(tracks)
        }
        None => None,
    };
    let known: Option<HashSet<String>> = catalogue
        .as_ref()
        .map(|c| c.iter().map(|t| t.track_id.clone()).collect());
    let (events, report) = events_csv::read(
        &args.events,
        dialect,
        EventReadOptions {
            policy,
            // Atomic files promise no order; MovieLens is not sorted by time.
            sort: args.sort || args.format == SourceFormat::Recbole,
            ratings: RatingMap {
                like_at_least: args.like_at_least,
                skip_at_most: args.skip_at_most,
            },
            known_tracks: known.as_ref(),
        },
    )?;
    eprintln!(
        "{}",
        report.summary(&format!("events {}", args.events.display()))
    );
    if events.is_empty() {
        bail!("{}: no valid events to import", args.events.display());
    }

    let catalogue = catalogue.unwrap_or_else(|| {
        let ids: BTreeSet<&str> = events.iter().map(|e| e.track_id.as_str()).collect();
        ids.into_iter().map(placeholder_track).collect()
    });
    let dataset = Dataset { catalogue, events };
    data::write_atomically(&args.out, &dataset, args.force)?;
    println!(
        "imported into {}\n{}",
        args.out.display(),
        DatasetStats::of(&dataset)
    );
    Ok(())
}

/// A catalogue entry for a track known only by its id.
fn placeholder_track(id: &str) -> Track {
    Track {
        track_id: id.to_string(),
        title: id.to_string(),
        artist: UNKNOWN.to_string(),
        album: String::new(),
        album_position: 0,
        genre: UNKNOWN.to_string(),
        audio: None,
        release_year: 0,
        duration_ms: 0,
    }
}
