//! Tests of the synthetic world: determinism, validity, outcome shares and config checks
//! (the structure models must learn is tested in `structure_tests.rs`).

use std::collections::{BTreeMap, BTreeSet};

use resonance_shared::events::EventKind;

use super::*;

pub(super) fn small_config(seed: u64) -> SynthConfig {
    SynthConfig {
        users: 300,
        tracks: 1500,
        days: 28,
        seed,
        ..SynthConfig::default()
    }
}

pub(super) fn world(config: &SynthConfig) -> SyntheticWorld {
    generate(config, &mut |_, _| {}).expect("a valid config")
}

/// Each user's events in time order, as track indices into the sorted catalogue.
pub(super) fn histories(world: &SyntheticWorld) -> BTreeMap<&str, Vec<usize>> {
    let index: BTreeMap<&str, usize> = world
        .catalogue
        .iter()
        .enumerate()
        .map(|(i, t)| (t.track_id.as_str(), i))
        .collect();
    let mut by_user: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for event in &world.events {
        by_user
            .entry(&event.user_id)
            .or_default()
            .push(index[event.track_id.as_str()]);
    }
    by_user
}

pub(super) fn shares(world: &SyntheticWorld) -> [f64; 3] {
    let count = |kind| world.events.iter().filter(|e| e.kind == kind).count() as f64;
    let total = world.events.len() as f64;
    EventKind::ALL.map(|kind| count(kind) / total)
}

#[test]
fn the_same_seed_gives_the_same_world_and_another_seed_another() {
    let config = small_config(7);
    let first = world(&config);
    assert_eq!(first, world(&config));
    let other = world(&SynthConfig { seed: 8, ..config });
    assert_ne!(first.events, other.events);
    assert_ne!(first.catalogue, other.catalogue);
}

#[test]
fn everything_validates_is_sorted_and_refers_to_known_tracks() {
    let config = small_config(1);
    let world = world(&config);
    assert_eq!(world.catalogue.len(), config.tracks);
    for track in &world.catalogue {
        track
            .validate()
            .unwrap_or_else(|e| panic!("{track:?}: {e}"));
        assert!((120_000..=360_000).contains(&track.duration_ms));
        assert!(track.album_position >= 1);
    }
    assert!(
        world
            .catalogue
            .windows(2)
            .all(|w| w[0].track_id < w[1].track_id)
    );
    assert_eq!(world.catalogue[0].track_id, "t000001");

    let durations: BTreeMap<&str, u32> = world
        .catalogue
        .iter()
        .map(|t| (t.track_id.as_str(), t.duration_ms))
        .collect();
    let end = config.start + i64::from(config.days) * 86_400;
    let mut last_seen: BTreeMap<&str, i64> = BTreeMap::new();
    for event in &world.events {
        event
            .validate()
            .unwrap_or_else(|e| panic!("{event:?}: {e}"));
        assert!((config.start..end).contains(&event.timestamp));
        let duration = durations[event.track_id.as_str()];
        assert!(event.ms_played.is_some_and(|ms| ms <= duration));
        assert!(event.context.hour.is_some());
        if let Some(previous) = last_seen.insert(&event.user_id, event.timestamp) {
            assert!(
                previous < event.timestamp,
                "{} goes back in time",
                event.user_id
            );
        }
    }
    assert!(
        world
            .events
            .windows(2)
            .all(|w| { (w[0].timestamp, &w[0].user_id) <= (w[1].timestamp, &w[1].user_id) })
    );
    assert!(world.events.iter().any(|e| e.user_id == "u00001"));
    assert_eq!(
        last_seen.len(),
        config.users,
        "everyone listens at least once"
    );
}

#[test]
fn the_smallest_worlds_work_too() {
    for (users, days, start) in [
        (1, 1, 0),
        (7, 1, SynthConfig::default().start),
        (3, 2, 86_400),
    ] {
        let config = SynthConfig {
            users,
            tracks: 100,
            days,
            seed: 11,
            start,
        };
        let world = world(&config);
        assert_eq!(world.catalogue.len(), 100);
        assert!(world.catalogue.iter().all(|t| t.validate().is_ok()));
        let listeners: BTreeSet<&str> = world.events.iter().map(|e| e.user_id.as_str()).collect();
        assert_eq!(listeners.len(), users, "{config:?}");
        let end = start + i64::from(days) * 86_400;
        assert!(world.events.iter().all(|e| e.validate().is_ok()));
        assert!(
            world
                .events
                .iter()
                .all(|e| (start..end).contains(&e.timestamp))
        );
    }
}

#[test]
fn play_like_and_skip_shares_are_plausible() {
    let [play, like, skip] = shares(&world(&small_config(2)));
    assert!((0.6..0.8).contains(&play), "play share {play}");
    assert!((0.04..0.14).contains(&like), "like share {like}");
    assert!((0.15..0.32).contains(&skip), "skip share {skip}");
}

#[test]
fn some_names_need_csv_quoting() {
    let world = world(&SynthConfig {
        users: 1,
        ..small_config(9)
    });
    let needs_quotes = |s: &str| s.contains(',') || s.contains('"');
    assert!(world.catalogue.iter().any(|t| needs_quotes(&t.artist)));
    assert!(world.catalogue.iter().any(|t| needs_quotes(&t.title)));
}

#[test]
fn progress_is_reported_up_to_the_total() {
    let mut calls = Vec::new();
    generate(
        &SynthConfig {
            users: 20,
            ..small_config(1)
        },
        &mut |done, total| calls.push((done, total)),
    )
    .unwrap();
    assert_eq!(calls.first(), Some(&(0, 20)));
    assert_eq!(calls.last(), Some(&(20, 20)));
    assert!(calls.windows(2).all(|w| w[0].0 <= w[1].0));
}

#[test]
fn absurd_configs_are_rejected_with_the_flag_named() {
    let cases = [
        (
            SynthConfig {
                users: 0,
                ..SynthConfig::default()
            },
            "--users",
        ),
        (
            SynthConfig {
                users: 100_001,
                ..SynthConfig::default()
            },
            "--users",
        ),
        (
            SynthConfig {
                tracks: 99,
                ..SynthConfig::default()
            },
            "--tracks",
        ),
        (
            SynthConfig {
                tracks: 2_000_000,
                ..SynthConfig::default()
            },
            "--tracks",
        ),
        (
            SynthConfig {
                days: 0,
                ..SynthConfig::default()
            },
            "--days",
        ),
        (
            SynthConfig {
                days: 10_000,
                ..SynthConfig::default()
            },
            "--days",
        ),
        (
            SynthConfig {
                users: 100_000,
                days: 3000,
                ..SynthConfig::default()
            },
            "--days",
        ),
        (
            SynthConfig {
                start: -5,
                ..SynthConfig::default()
            },
            "--start",
        ),
        (
            SynthConfig {
                start: 4_100_000_000,
                ..SynthConfig::default()
            },
            "--start",
        ),
    ];
    for (config, flag) in cases {
        let error = generate(&config, &mut |_, _| {}).unwrap_err().to_string();
        assert!(error.contains(flag), "{config:?} gave {error:?}");
    }
    assert!(SynthConfig::default().validate().is_ok());
}
