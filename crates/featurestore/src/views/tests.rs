use resonance_shared::catalogue::{AudioFeatures, Track};
use resonance_shared::events::{EventKind, ListeningContext, ListeningEvent};

use super::*;

fn track(id: &str, energy: f32) -> Track {
    Track {
        track_id: id.into(),
        title: id.into(),
        artist: format!("artist of {id}"),
        album: String::new(),
        album_position: 0,
        genre: "pop".into(),
        audio: Some(AudioFeatures {
            energy,
            valence: 0.5,
            danceability: 0.5,
            tempo: 120.0,
            acousticness: 0.1,
        }),
        release_year: 2020,
        duration_ms: 180_000,
    }
}

fn event(user: &str, track: &str, day: i64, kind: EventKind) -> ListeningEvent {
    ListeningEvent {
        user_id: user.into(),
        track_id: track.into(),
        timestamp: day * DAY,
        kind,
        ms_played: Some(60_000),
        context: ListeningContext::default(),
    }
}

fn dataset() -> Dataset {
    Dataset {
        catalogue: vec![track("a", 0.2), track("b", 0.8), track("c", 0.5)],
        events: vec![
            event("u", "a", 1, EventKind::Play),
            event("u", "b", 25, EventKind::Like),
            event("u", "c", 27, EventKind::Skip),
            event("u", "b", 29, EventKind::Play),
            event("u", "a", 40, EventKind::Play), // after as_of: must not count
        ],
    }
}

#[test]
fn windows_end_at_as_of_and_nothing_later_counts() {
    let set = compute(&dataset(), 30 * DAY, None);
    let (id, user) = &set.users[0];
    assert_eq!(id, "u");
    let stats = user.listening_stats.as_ref().unwrap();
    assert_eq!((stats.plays_7d, stats.likes_7d, stats.skips_7d), (1, 1, 1));
    assert!((stats.skip_rate_7d - 1.0 / 3.0).abs() < 1e-6);
    assert!((stats.minutes_7d - 3.0).abs() < 1e-6);
    assert_eq!(
        user.history.tracks,
        ["a", "b", "b"],
        "skips stay out of the history"
    );
    assert_eq!(user.history.skipped, ["c"]);
    let energy = user.audio_preferences.as_ref().unwrap().energy;
    assert!((energy.mean - 0.6).abs() < 1e-6, "{energy:?}");

    let b = &set.tracks.iter().find(|(id, _)| id == "b").unwrap().1;
    let pop = b.popularity.as_ref().unwrap();
    assert_eq!(
        (pop.plays_7d, pop.likes_7d, pop.plays_30d, pop.likes_30d),
        (2, 1, 2, 1)
    );
    // 2 plays this week against a 30-day pace of 2 · 7/30 per week.
    assert!((pop.trend - (2.0 / (2.0 * 7.0 / 30.0) - 1.0)).abs() < 1e-5);
    assert!(b.audio.embedding.is_empty(), "no model, no embedding");
}

#[test]
fn a_backfill_is_reproducible_and_the_model_shapes_the_history() {
    let data = dataset();
    let table: Vec<f32> = (0..8).map(|i| i as f32).collect(); // rows 0..4 of dim 2
    let model = ModelEmbeddings {
        rows: [("a", 1), ("b", 2), ("c", 3)].into_iter().collect(),
        table: &table,
        dim: 2,
        max_len: 2,
        include_skips: true,
    };
    let first = compute(&data, 28 * DAY, Some(&model));
    let again = compute(&data, 28 * DAY, Some(&model));
    assert_eq!(first.users, again.users);
    let user = &first.users[0].1;
    assert_eq!(
        user.history.tracks,
        ["b", "c"],
        "the last L, skips included"
    );
    let c = &first.tracks.iter().find(|(id, _)| id == "c").unwrap().1;
    assert_eq!(c.audio.embedding, [6.0, 7.0]);
}
