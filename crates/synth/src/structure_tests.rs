//! Tests of the structure the models must learn: artist runs, predictable next tracks, the
//! daily energy rhythm, album order and a long tail; and the statistics of the default world.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::RangeInclusive;
use std::time::Instant;

use super::tests::{histories, shares, small_config, world};
use super::*;

/// The share of consecutive listens (per user) by the same artist, and what chance would give.
fn same_artist_share(world: &SyntheticWorld) -> (f64, f64) {
    let mut plays_by_artist: BTreeMap<&str, f64> = BTreeMap::new();
    let (mut pairs, mut same_artist) = (0.0, 0.0);
    for history in histories(world).values() {
        for &track in history {
            *plays_by_artist
                .entry(&world.catalogue[track].artist)
                .or_default() += 1.0;
        }
        for pair in history.windows(2) {
            pairs += 1.0;
            if world.catalogue[pair[0]].artist == world.catalogue[pair[1]].artist {
                same_artist += 1.0;
            }
        }
    }
    let total: f64 = plays_by_artist.values().sum();
    let chance = plays_by_artist.values().map(|n| (n / total).powi(2)).sum();
    (same_artist / pairs, chance)
}

/// Hit rates on each user's held-out last listen of (a) the track that most often followed
/// the previous one in training and (b) the most played track.
fn bigram_and_popularity_hit_rates(world: &SyntheticWorld) -> (f64, f64) {
    let histories = histories(world);
    let mut followers: BTreeMap<usize, BTreeMap<usize, u32>> = BTreeMap::new();
    let mut plays: BTreeMap<usize, u32> = BTreeMap::new();
    for history in histories.values() {
        let train = &history[..history.len() - 1];
        for &track in train {
            *plays.entry(track).or_default() += 1;
        }
        for pair in train.windows(2) {
            *followers
                .entry(pair[0])
                .or_default()
                .entry(pair[1])
                .or_default() += 1;
        }
    }
    let most_frequent = |counts: &BTreeMap<usize, u32>| {
        counts
            .iter()
            .max_by_key(|&(track, n)| (*n, Reverse(*track)))
            .map(|(t, _)| *t)
    };
    let top_track = most_frequent(&plays).expect("some plays");
    let (mut tested, mut bigram_hits, mut popular_hits) = (0, 0, 0);
    for history in histories.values().filter(|h| h.len() >= 2) {
        let (previous, next) = (history[history.len() - 2], history[history.len() - 1]);
        let guess = followers
            .get(&previous)
            .and_then(most_frequent)
            .unwrap_or(top_track);
        tested += 1;
        bigram_hits += usize::from(guess == next);
        popular_hits += usize::from(top_track == next);
    }
    (
        bigram_hits as f64 / tested as f64,
        popular_hits as f64 / tested as f64,
    )
}

/// Mean energy of the tracks heard at these local hours, and how many there were.
fn mean_energy_at(world: &SyntheticWorld, hours: RangeInclusive<u8>) -> (f64, usize) {
    let energy: BTreeMap<&str, f32> = world
        .catalogue
        .iter()
        .map(|t| {
            (
                t.track_id.as_str(),
                t.audio.expect("synthetic tracks have audio").energy,
            )
        })
        .collect();
    let picked: Vec<f64> = world
        .events
        .iter()
        .filter(|e| e.context.hour.is_some_and(|h| hours.contains(&h)))
        .map(|e| f64::from(energy[e.track_id.as_str()]))
        .collect();
    (
        picked.iter().sum::<f64>() / picked.len() as f64,
        picked.len(),
    )
}

#[test]
fn consecutive_tracks_share_an_artist_far_more_often_than_chance() {
    let (observed, chance) = same_artist_share(&world(&small_config(3)));
    assert!(observed > 0.3, "same-artist share {observed}");
    assert!(
        observed > 10.0 * chance,
        "same-artist {observed} vs chance {chance}"
    );
}

#[test]
fn a_bigram_model_predicts_held_out_next_tracks_far_better_than_popularity() {
    let (bigram, popular) = bigram_and_popularity_hit_rates(&world(&small_config(4)));
    assert!(bigram > 0.12, "bigram hit rate {bigram}");
    assert!(
        bigram > 5.0 * popular.max(0.01),
        "bigram {bigram} vs popularity {popular}"
    );
}

#[test]
fn mornings_are_calmer_than_evenings() {
    let world = world(&small_config(5));
    let (morning, morning_count) = mean_energy_at(&world, 6..=9);
    let (evening, evening_count) = mean_energy_at(&world, 18..=22);
    assert!(morning_count > 500 && evening_count > 500);
    assert!(
        evening - morning > 0.05,
        "morning {morning} vs evening {evening}"
    );
}

#[test]
fn albums_are_numbered_in_order_and_popularity_is_long_tailed() {
    let world = world(&small_config(6));
    let mut albums: BTreeMap<(&str, &str), Vec<u16>> = BTreeMap::new();
    for track in &world.catalogue {
        albums
            .entry((&track.artist, &track.album))
            .or_default()
            .push(track.album_position);
    }
    for positions in albums.values_mut() {
        positions.sort_unstable();
        let expected: Vec<u16> = (1..=positions.len() as u16).collect();
        assert_eq!(*positions, expected);
    }
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for event in &world.events {
        *counts.entry(&event.track_id).or_default() += 1;
    }
    let mut sorted: Vec<usize> = counts.into_values().collect();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    let top_tenth: usize = sorted.iter().take(world.catalogue.len() / 10).sum();
    let share = top_tenth as f64 / world.events.len() as f64;
    assert!(share > 0.35, "the top 10% of tracks get {share} of listens");
}

/// The default world has the figures the crate's documentation states (it is seeded, so
/// they are exact for a given build; the bands allow for deliberate retuning). Prints them
/// with `--nocapture`.
#[test]
fn default_world_has_the_documented_statistics() {
    let config = SynthConfig::default();
    let started = Instant::now();
    let world = world(&config);
    let elapsed = started.elapsed();
    let users: BTreeSet<&str> = world.events.iter().map(|e| e.user_id.as_str()).collect();
    let mut per_user: Vec<usize> = histories(&world).values().map(Vec::len).collect();
    per_user.sort_unstable();
    let played: BTreeSet<&str> = world.events.iter().map(|e| e.track_id.as_str()).collect();
    let [play, like, skip] = shares(&world);
    let (same_artist, chance) = same_artist_share(&world);
    let (bigram, popular) = bigram_and_popularity_hit_rates(&world);
    let (morning, _) = mean_energy_at(&world, 6..=9);
    let (evening, _) = mean_energy_at(&world, 18..=22);
    let (night, _) = mean_energy_at(&world, 0..=3);
    println!(
        "users {} (active {}), tracks {} (played {}), events {}, per user: mean {:.1}, \
         median {}, p90 {}, max {}\nplay {:.3} like {:.3} skip {:.3}\n\
         same artist {same_artist:.3} (chance {chance:.4}); next-track hit rate: bigram \
         {bigram:.3}, most popular {popular:.4}\nmean energy: 06-09 {morning:.3}, 18-22 \
         {evening:.3}, 00-03 {night:.3}\ngenerated in {:.2?}",
        config.users,
        users.len(),
        world.catalogue.len(),
        played.len(),
        world.events.len(),
        world.events.len() as f64 / config.users as f64,
        per_user[per_user.len() / 2],
        per_user[per_user.len() * 9 / 10],
        per_user[per_user.len() - 1],
        play,
        like,
        skip,
        elapsed
    );
    let percent = |n: usize| format!("{:.1}", 100.0 * n as f64 / world.events.len() as f64);
    let mut by_hour = [0; 24];
    for hour in world.events.iter().filter_map(|e| e.context.hour) {
        by_hour[usize::from(hour)] += 1;
    }
    let by_hour: Vec<String> = by_hour.into_iter().map(percent).collect();
    println!("% of listens by local hour: {}", by_hour.join(" "));
    let mut by_device: BTreeMap<String, usize> = BTreeMap::new();
    for event in &world.events {
        let device = event.context.device.map_or("unknown", |d| d.as_str());
        *by_device.entry(device.to_string()).or_default() += 1;
    }
    let by_device: Vec<String> = by_device
        .into_iter()
        .map(|(d, n)| format!("{d} {}", percent(n)))
        .collect();
    println!("% of listens by device: {}", by_device.join(", "));
    let mut per_track: BTreeMap<&str, usize> = BTreeMap::new();
    for event in &world.events {
        *per_track.entry(&event.track_id).or_default() += 1;
    }
    let mut per_track: Vec<usize> = per_track.into_values().collect();
    per_track.sort_unstable_by(|a, b| b.cmp(a));
    let top = |fraction: usize| percent(per_track.iter().take(config.tracks / fraction).sum());
    println!(
        "% of listens to the top 1% of tracks: {}, top 10%: {}",
        top(100),
        top(10)
    );
    let within = |name: &str, value: f64, range: std::ops::RangeInclusive<f64>| {
        assert!(
            range.contains(&value),
            "{name} is {value}, documented as {range:?}"
        );
    };
    within("events", world.events.len() as f64, 380_000.0..=460_000.0);
    within(
        "mean per listener",
        world.events.len() as f64 / config.users as f64,
        125.0..=160.0,
    );
    within(
        "median per listener",
        per_user[per_user.len() / 2] as f64,
        60.0..=95.0,
    );
    within("play share", play, 0.65..=0.75);
    within("like share", like, 0.06..=0.12);
    within("skip share", skip, 0.17..=0.25);
    within("same-artist share", same_artist, 0.33..=0.43);
    within("same-artist chance", chance, 0.0..=0.01);
    within("bigram hit rate", bigram, 0.17..=0.25);
    within("most-popular hit rate", popular, 0.0..=0.01);
    within("morning energy", morning, 0.50..=0.60);
    within("evening energy", evening, 0.60..=0.70);
    let top_percent: usize = per_track.iter().take(config.tracks / 100).sum();
    within(
        "top 1% share",
        top_percent as f64 / world.events.len() as f64,
        0.11..=0.17,
    );
}
