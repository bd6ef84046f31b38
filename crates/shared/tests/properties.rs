//! Property tests of the scoring core: finite scores, order independence, the mixer's
//! extreme weights reproducing each part alone, and parsers that reject bad input without
//! panicking.

use std::collections::HashMap;

use proptest::prelude::*;
use resonance_shared::api::parse_rerank_request;
use resonance_shared::context::RequestContext;
use resonance_shared::features::{
    self, MeanSpread, TrackAudioFeatures, TrackFeatures, TrackPopularity, UserAudioPreferences,
    UserFeatures, UserRecentHistory,
};
use resonance_shared::heuristic::{self, HeuristicCandidate, HeuristicWeights};
use resonance_shared::interest::InterestGraph;
use resonance_shared::mixer::MixWeights;
use resonance_shared::ranking::{CandidateInput, RankSettings, rank};

const GENRES: [&str; 4] = ["jazz", "techno", "folk", "pop"];

fn track_features() -> impl Strategy<Value = TrackFeatures> {
    (
        0..GENRES.len(),
        0u8..6,
        prop::array::uniform4(0.0f32..=1.0),
        40.0f32..220.0,
        prop::option::of((0u32..5000, 0u32..500, -1.0f32..3.0)),
    )
        .prop_map(
            |(g, artist, [energy, valence, danceability, acousticness], tempo, pop)| {
                TrackFeatures {
                    audio: TrackAudioFeatures {
                        artist: format!("artist{artist}"),
                        genre: GENRES[g].to_string(),
                        energy,
                        valence,
                        danceability,
                        tempo,
                        acousticness,
                        embedding: vec![],
                        embedded: false,
                    },
                    popularity: pop.map(|(plays, likes, trend)| TrackPopularity {
                        plays_7d: plays / 4,
                        likes_7d: likes / 4,
                        plays_30d: plays,
                        likes_30d: likes,
                        trend,
                    }),
                }
            },
        )
}

fn user_features() -> impl Strategy<Value = UserFeatures> {
    let spread =
        || (0.0f32..=1.0, 0.0f32..0.5).prop_map(|(mean, spread)| MeanSpread { mean, spread });
    (
        prop::option::of((spread(), spread(), spread())),
        prop::option::of(prop::collection::btree_map(
            "artist[0-5]",
            0.0f32..=1.0,
            0..4,
        )),
        prop::collection::vec("t[0-9]{1,2}", 0..5),
    )
        .prop_map(|(prefs, artists, skipped)| UserFeatures {
            audio_preferences: prefs.map(|(energy, valence, danceability)| UserAudioPreferences {
                energy,
                valence,
                danceability,
            }),
            interest_graph: artists.map(|top_artists| InterestGraph {
                top_artists,
                top_genres: [("jazz".to_string(), 0.8)].into(),
                moods: vec!["chill".into()],
                ..Default::default()
            }),
            history: UserRecentHistory {
                tracks: vec![],
                skipped,
            },
            ..Default::default()
        })
}

/// Candidates with distinct ids `t0, t1, …`, each with optional features and model score.
fn candidates() -> impl Strategy<Value = Vec<(String, Option<TrackFeatures>, Option<f32>)>> {
    prop::collection::vec(
        (
            prop::option::weighted(0.9, track_features()),
            prop::option::weighted(0.9, -20.0f32..20.0),
        ),
        1..40,
    )
    .prop_map(|v| {
        v.into_iter()
            .enumerate()
            .map(|(i, (f, t))| (format!("t{i}"), f, t))
            .collect()
    })
}

fn context() -> impl Strategy<Value = RequestContext> {
    (prop::option::of(0u8..24), prop::option::of(0u8..7)).prop_map(|(hour, weekday)| {
        RequestContext {
            hour,
            weekday,
            ..Default::default()
        }
    })
}

fn inputs(cands: &[(String, Option<TrackFeatures>, Option<f32>)]) -> Vec<CandidateInput<'_>> {
    cands
        .iter()
        .map(|(id, f, t)| CandidateInput {
            track_id: id,
            features: f.as_ref(),
            transformer: *t,
        })
        .collect()
}

/// The ranking follows `part` best first: no later track beats an earlier one by more than
/// rounding (standardising in f32 may merge values closer than that into a tie).
fn follows(
    ranked: &[resonance_shared::api::RankedTrack],
    part: &HashMap<&str, f32>,
) -> Result<(), TestCaseError> {
    for pair in ranked.windows(2) {
        let (a, b) = (
            part[pair[0].track_id.as_str()],
            part[pair[1].track_id.as_str()],
        );
        prop_assert!(
            a >= b - 1e-5 * (1.0 + a.abs()),
            "{} ({a}) ranked above {} ({b})",
            pair[0].track_id,
            pair[1].track_id
        );
    }
    Ok(())
}

proptest! {
    #[test]
    fn scores_are_finite(user in user_features(), cands in candidates(), ctx in context()) {
        let (ranked, _) = rank(Some(&user), &inputs(&cands), &ctx, &RankSettings::default()).unwrap();
        prop_assert_eq!(ranked.len(), cands.len());
        for r in &ranked {
            prop_assert!(r.score.is_finite() && r.heuristic.is_finite());
            prop_assert!(r.transformer.is_none_or(f32::is_finite));
        }
    }

    #[test]
    fn ranking_does_not_depend_on_candidate_order(
        user in user_features(),
        cands in candidates(),
        ctx in context(),
        seed in any::<u64>(),
    ) {
        let mut shuffled = cands.clone();
        // A deterministic Fisher–Yates shuffle driven by the generated seed.
        let mut state = seed | 1;
        for i in (1..shuffled.len()).rev() {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17;
            shuffled.swap(i, (state % (i as u64 + 1)) as usize);
        }
        let settings = RankSettings::default();
        let (a, _) = rank(Some(&user), &inputs(&cands), &ctx, &settings).unwrap();
        let (b, _) = rank(Some(&user), &inputs(&shuffled), &ctx, &settings).unwrap();
        prop_assert_eq!(a, b);
    }

    #[test]
    fn weights_one_zero_reproduce_the_transformer_alone(cands in candidates()) {
        let cands: Vec<_> = cands.into_iter().map(|(id, f, t)| (id, f, Some(t.unwrap_or(0.5)))).collect();
        let settings = RankSettings { mix: MixWeights { transformer: 1.0, heuristic: 0.0 }, ..Default::default() };
        let (ranked, _) = rank(None, &inputs(&cands), &RequestContext::default(), &settings).unwrap();
        let logits: HashMap<_, _> = cands.iter().map(|(id, _, t)| (id.as_str(), t.unwrap())).collect();
        follows(&ranked, &logits)?;
        for r in &ranked {
            prop_assert_eq!(r.score, r.transformer.unwrap());
        }
    }

    #[test]
    fn weights_zero_one_reproduce_the_heuristic_alone(user in user_features(), cands in candidates(), ctx in context()) {
        let settings = RankSettings { mix: MixWeights { transformer: 0.0, heuristic: 1.0 }, ..Default::default() };
        let (ranked, _) = rank(Some(&user), &inputs(&cands), &ctx, &settings).unwrap();
        let hc: Vec<_> = cands.iter().map(|(id, f, _)| HeuristicCandidate { track_id: id, features: f.as_ref() }).collect();
        let totals = heuristic::score(&user, &hc, ctx.features().as_ref(), &HeuristicWeights::default());
        let by_id: HashMap<_, _> = cands.iter().zip(&totals).map(|((id, _, _), s)| (id.as_str(), s.total)).collect();
        follows(&ranked, &by_id)?;
        for r in &ranked {
            prop_assert_eq!(r.score, r.heuristic);
        }
    }

    #[test]
    fn unknown_tracks_and_users_are_flagged(cands in candidates()) {
        let (_, degraded) = rank(None, &inputs(&cands), &RequestContext::default(), &RankSettings::default()).unwrap();
        prop_assert!(degraded.unknown_user);
        let unknown: Vec<_> = cands.iter().filter(|c| c.1.is_none()).map(|c| c.0.clone()).collect();
        prop_assert_eq!(degraded.unknown_tracks, unknown);
    }

    #[test]
    fn non_finite_model_scores_are_rejected(cands in candidates(), at in any::<prop::sample::Index>()) {
        let mut cands = cands;
        let i = at.index(cands.len());
        cands[i].2 = Some(f32::NAN);
        let err = rank(None, &inputs(&cands), &RequestContext::default(), &RankSettings::default()).unwrap_err();
        prop_assert!(err.field.starts_with("transformer["));
    }

    #[test]
    fn the_request_parser_never_panics_on_bytes(body in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = parse_rerank_request(&body);
    }

    #[test]
    fn the_request_parser_rejects_bad_ids_with_their_index(
        good in prop::collection::vec("[a-z0-9]{1,10}", 0..5),
        bad in prop_oneof![Just(String::new()), "[a-z]{0,3} [a-z]{1,3}", "x{129,140}"],
    ) {
        let mut cands: Vec<String> = good.iter().enumerate().map(|(i, g)| format!("{g}{i}")).collect();
        let at = cands.len();
        cands.push(bad);
        let body = serde_json::json!({ "user_id": "u1", "candidates": cands }).to_string();
        let err = parse_rerank_request(body.as_bytes()).unwrap_err();
        prop_assert_eq!(err.status, 422);
        prop_assert_eq!(err.field, Some(format!("candidates[{at}]")));
    }

    #[test]
    fn stored_value_decoding_never_panics(text in ".{0,200}") {
        let _ = features::decode::<UserFeatures>(&text);
        let _ = features::decode::<TrackFeatures>(&text);
    }
}
