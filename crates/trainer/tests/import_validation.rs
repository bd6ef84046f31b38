//! The importer and loader against malformed input: each problem is reported as
//! `file:line: field: what is wrong`, stops the run by default (non-zero exit), is skipped and
//! counted with `--skip-bad`, and never damages a dataset already in place.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use tempfile::TempDir;

const CATALOGUE: &str =
    "track_id,title,artist,genre,energy,valence,danceability,tempo,acousticness,release_year
t1,One,Ann,pop,0.8,0.7,0.6,120,0.1,2020
t2,Two,Ann,pop,0.5,0.4,0.5,100,0.3,2021
t3,Three,Bob,jazz,0.2,0.6,0.3,90,0.9,1999
";

const EVENTS: &str = "user_id,track_id,timestamp,event,ms_played,device,hour
u1,t1,2026-09-01T08:00:00Z,play,180000,mobile,8
u1,t2,1788249900,skip,9000,mobile,8
u2,t3,2026-09-01T20:00:00Z,like,200000,speaker,20
";

fn trainer(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trainer"))
        .args(args)
        .output()
        .expect("the trainer runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

/// Imports `events` (and `catalogue`) as CSV into a fresh folder; returns the run's output.
fn import(dir: &TempDir, catalogue: &str, events: &str, extra: &[&str]) -> Output {
    let c = write(dir.path(), "in-catalogue.csv", catalogue);
    let e = write(dir.path(), "in-events.csv", events);
    let out = dir.path().join("out").to_string_lossy().into_owned();
    let mut args = vec![
        "data",
        "import",
        "--events",
        &e,
        "--catalogue",
        &c,
        "--out",
        &out,
    ];
    args.extend_from_slice(extra);
    trainer(&args)
}

#[test]
fn valid_input_imports_and_round_trips_through_stats() {
    let dir = TempDir::new().unwrap();
    let out = import(&dir, CATALOGUE, EVENTS, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let stats = trainer(&[
        "data",
        "stats",
        "--json",
        "--data",
        dir.path().join("out").to_str().unwrap(),
    ]);
    assert!(stats.status.success(), "{}", stderr(&stats));
    let stats: serde_json::Value = serde_json::from_slice(&stats.stdout).unwrap();
    assert_eq!(stats["users"], 2);
    assert_eq!(stats["events"], 3);
    assert_eq!(stats["tracks"], 3);
    let events = fs::read_to_string(dir.path().join("out/events.csv")).unwrap();
    assert!(
        events.contains("u1,t2,2026-09-01T08:05:00Z,skip,9000,mobile,8"),
        "{events}"
    );
}

#[test]
fn empty_files_are_rejected() {
    let dir = TempDir::new().unwrap();
    let out = import(&dir, CATALOGUE, "", &[]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("in-events.csv: the file is empty"),
        "{}",
        stderr(&out)
    );
    let out = import(&dir, CATALOGUE, "user_id,track_id,timestamp\n", &[]);
    assert!(
        stderr(&out).contains("has a header but no rows"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn missing_columns_are_named() {
    let dir = TempDir::new().unwrap();
    let out = import(&dir, CATALOGUE, "user_id,track_id\nu1,t1\n", &[]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("in-events.csv:1: missing column `timestamp`"),
        "{err}"
    );
    assert!(err.contains("the header has user_id, track_id"), "{err}");
}

#[test]
fn duplicate_track_ids_name_both_lines() {
    let dir = TempDir::new().unwrap();
    let catalogue = format!("{CATALOGUE}t2,Again,Cy,rock,0.5,0.5,0.5,100,0.5,2000\n");
    let out = import(&dir, &catalogue, EVENTS, &[]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("in-catalogue.csv:5: track_id: \"t2\" repeats the track on line 3"),
        "{err}"
    );
}

#[test]
fn out_of_order_timestamps_are_rejected_unless_sorting() {
    let dir = TempDir::new().unwrap();
    let events = "user_id,track_id,timestamp,event\nu1,t1,1788249900,play\nu2,t2,1788200000,play\nu1,t2,1788249000,play\n";
    let out = import(&dir, CATALOGUE, events, &[]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(
            "in-events.csv:4: timestamp: 1788249000 is earlier than this user's event on line 2"
        ),
        "{err}"
    );
    let out = import(&dir, CATALOGUE, events, &["--sort"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let written = fs::read_to_string(dir.path().join("out/events.csv")).unwrap();
    let u1: Vec<_> = written.lines().filter(|l| l.starts_with("u1,")).collect();
    assert!(
        u1[0].starts_with("u1,t2,") && u1[1].starts_with("u1,t1,"),
        "{written}"
    );
}

#[test]
fn audio_features_out_of_range_are_named() {
    let dir = TempDir::new().unwrap();
    let catalogue = CATALOGUE.replace("t3,Three,Bob,jazz,0.2,", "t3,Three,Bob,jazz,1.2,");
    let out = import(&dir, &catalogue, EVENTS, &[]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("in-catalogue.csv:4: energy: 1.2 is outside [0, 1]"),
        "{}",
        stderr(&out)
    );
    let catalogue = CATALOGUE.replace(",90,0.9,1999", ",900,0.9,1999");
    let out = import(&dir, &catalogue, EVENTS, &[]);
    assert!(
        stderr(&out).contains("in-catalogue.csv:4: tempo: 900 is outside [20, 300]"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn skip_bad_skips_counts_and_reports() {
    let dir = TempDir::new().unwrap();
    let events = format!(
        "{EVENTS}u3,t1,not-a-time,play,1,mobile,1\nu3,t9,1788249900,play,1,mobile,1\nu3,t1,1788249900,stream,1,mobile,1\nu3,t1\n"
    );
    let out = import(&dir, CATALOGUE, &events, &[]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("in-events.csv:5: timestamp: \"not-a-time\""),
        "{}",
        stderr(&out)
    );
    let out = import(&dir, CATALOGUE, &events, &["--skip-bad"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("7 rows, 3 accepted, 4 skipped (event: 1, row: 1, timestamp: 1, track_id: 1)"),
        "{err}"
    );
    assert!(
        err.contains("in-events.csv:6: track_id: \"t9\" is not in the catalogue"),
        "{err}"
    );
    assert!(
        err.contains("in-events.csv:8: row: has 2 fields, the header has 7"),
        "{err}"
    );
}

#[test]
fn a_failed_import_leaves_the_previous_dataset_in_place() {
    let dir = TempDir::new().unwrap();
    assert!(import(&dir, CATALOGUE, EVENTS, &[]).status.success());
    let before = fs::read_to_string(dir.path().join("out/events.csv")).unwrap();
    // Without --force an existing dataset is never replaced…
    let out = import(&dir, CATALOGUE, EVENTS, &[]);
    assert!(
        stderr(&out).contains("already exists and is not empty; pass --force"),
        "{}",
        stderr(&out)
    );
    // …and with --force a bad input fails before anything is replaced.
    let out = import(
        &dir,
        CATALOGUE,
        "user_id,track_id,timestamp\nu1,t1,yesterday\n",
        &["--force"],
    );
    assert!(!out.status.success());
    assert_eq!(
        fs::read_to_string(dir.path().join("out/events.csv")).unwrap(),
        before
    );
    let leftovers: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".partial-"))
        .collect();
    assert!(leftovers.is_empty(), "a staging folder was left behind");
}

#[test]
fn recbole_atomic_files_with_ratings_import_sorted() {
    let dir = TempDir::new().unwrap();
    let inter = write(
        dir.path(),
        "x.inter",
        "user_id:token\titem_id:token\trating:float\ttimestamp:float\n1\t10\t5\t881250949\n1\t20\t1\t881250000\n2\t10\t3\t881250100\n",
    );
    let item = write(
        dir.path(),
        "x.item",
        "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n10\tToy Story\t1995\tAnimation Children's Comedy\n20\tHeat\t\tAction Crime\n",
    );
    let out = dir.path().join("out").to_string_lossy().into_owned();
    let run = trainer(&[
        "data",
        "import",
        "--format",
        "recbole",
        "--events",
        &inter,
        "--catalogue",
        &item,
        "--out",
        &out,
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    let events = fs::read_to_string(dir.path().join("out/events.csv")).unwrap();
    let rows: Vec<_> = events.lines().skip(1).collect();
    assert_eq!(rows[0], "1,20,1997-12-04T15:40:00Z,skip,,,");
    assert_eq!(rows[1], "2,10,1997-12-04T15:41:40Z,play,,,");
    assert_eq!(rows[2], "1,10,1997-12-04T15:55:49Z,like,,,");
    let catalogue = fs::read_to_string(dir.path().join("out/catalogue.csv")).unwrap();
    assert!(
        catalogue.contains("10,Toy Story,(unknown),,0,Animation,,,,,,1995,0"),
        "{catalogue}"
    );
}

#[test]
fn gzipped_events_without_a_catalogue_import() {
    use std::io::Write;
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("events.csv.gz");
    let mut gz = flate2::write::GzEncoder::new(
        fs::File::create(&path).unwrap(),
        flate2::Compression::fast(),
    );
    gz.write_all(EVENTS.as_bytes()).unwrap();
    gz.finish().unwrap();
    let out = dir.path().join("out").to_string_lossy().into_owned();
    let run = trainer(&[
        "data",
        "import",
        "--events",
        path.to_str().unwrap(),
        "--out",
        &out,
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    let catalogue = fs::read_to_string(dir.path().join("out/catalogue.csv")).unwrap();
    assert_eq!(catalogue.lines().count(), 4, "{catalogue}");
}

#[test]
fn placeholder_years_mean_unknown_but_garbled_years_are_errors() {
    let dir = TempDir::new().unwrap();
    let catalogue = CATALOGUE.replace(",0.9,1999", ",0.9,unknown");
    let out = import(&dir, &catalogue, EVENTS, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let written = fs::read_to_string(dir.path().join("out/catalogue.csv")).unwrap();
    assert!(written.contains(",0.9000,0,"), "{written}");
    let catalogue = CATALOGUE.replace(",0.9,1999", ",0.9,19x9");
    let out = import(&dir, &catalogue, EVENTS, &["--force"]);
    assert!(
        stderr(&out).contains("in-catalogue.csv:4: release_year: \"19x9\" is not valid"),
        "{}",
        stderr(&out)
    );
}
