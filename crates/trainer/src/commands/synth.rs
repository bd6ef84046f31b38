//! `trainer data synth`: generate the bundled synthetic music world.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use time::macros::format_description;

use resonance_data::{self as data, Dataset};
use resonance_synth::{self as synth, SynthConfig};

/// Generate a realistic synthetic music world: a catalogue of tracks (artists, albums,
/// genres, audio features) and the listening events of simulated users (plays, likes and
/// skips, with daily rhythms, sessions, artist runs, album order and slowly drifting tastes).
///
/// The same flags give the same bytes, so the world is a reproducible fixture. The defaults
/// train in a few minutes on 2 cores; `--users 8000` gives over a million events for
/// benchmarks.
#[derive(Args)]
pub struct SynthArgs {
    /// Number of listeners. More users: more sequences to learn from, longer training.
    #[arg(long, default_value_t = SynthConfig::default().users)]
    pub users: usize,
    /// Number of tracks in the catalogue (about ten per artist, in albums).
    #[arg(long, default_value_t = SynthConfig::default().tracks)]
    pub tracks: usize,
    /// Days of listening history to simulate; tastes drift slowly across them.
    #[arg(long, default_value_t = SynthConfig::default().days)]
    pub days: u32,
    /// Random seed: the same seed (and flags) gives byte-identical files.
    #[arg(long, default_value_t = SynthConfig::default().seed)]
    pub seed: u64,
    /// First day of the simulated history (UTC), as YYYY-MM-DD.
    #[arg(long, value_name = "DATE", default_value = "2026-09-01")]
    pub start: String,
    /// The dataset folder to write (catalogue.csv, events.csv).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Replace `--out` if it already holds files.
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: SynthArgs) -> Result<()> {
    let start = time::Date::parse(&args.start, format_description!("[year]-[month]-[day]"))
        .with_context(|| format!("--start: {:?} is not a date like 2026-09-01", args.start))?
        .midnight()
        .assume_utc()
        .unix_timestamp();
    let config = SynthConfig {
        users: args.users,
        tracks: args.tracks,
        days: args.days,
        seed: args.seed,
        start,
    };
    let began = Instant::now();
    let bar = ProgressBar::new(config.users as u64).with_style(
        ProgressStyle::with_template(
            "simulating {bar:30} {pos}/{len} listeners  {per_sec}  ETA {eta}",
        )
        .expect("the template is valid"),
    );
    let world = synth::generate(&config, &mut |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    })?;
    bar.finish_and_clear();
    let dataset = Dataset {
        catalogue: world.catalogue,
        events: world.events,
    };
    data::write_atomically(&args.out, &dataset, args.force)?;
    println!(
        "wrote {}: {} tracks, {} events of {} listeners, in {:.1} s (see `trainer data stats --data {}`)",
        args.out.display(),
        dataset.catalogue.len(),
        dataset.events.len(),
        config.users,
        began.elapsed().as_secs_f64(),
        args.out.display()
    );
    Ok(())
}
