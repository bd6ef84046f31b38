//! `trainer data stats`: load a dataset, validating every row, and print what it holds.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use resonance_data::{self as data, read::BadRowPolicy, stats::DatasetStats};

/// Print the statistics of a dataset folder (users, tracks, events, sequence lengths, the
/// share of plays, likes and skips, popularity skew, time span, top genres).
#[derive(Args)]
pub struct StatsArgs {
    /// The dataset folder, holding catalogue.csv and events.csv (or .csv.gz).
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Skip and count malformed rows instead of stopping at the first one.
    #[arg(long)]
    pub skip_bad: bool,
}

pub fn run(args: StatsArgs) -> Result<()> {
    let policy = if args.skip_bad {
        BadRowPolicy::Skip
    } else {
        BadRowPolicy::Stop
    };
    let (dataset, report) = data::load(&args.data, policy)?;
    let stats = DatasetStats::of(&dataset);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&stats)?);
    } else {
        if report.catalogue.skipped() + report.events.skipped() > 0 {
            eprintln!("{}", report.catalogue.summary("catalogue"));
            eprintln!("{}", report.events.summary("events"));
        }
        println!("{}\n{stats}", args.data.display());
    }
    Ok(())
}
