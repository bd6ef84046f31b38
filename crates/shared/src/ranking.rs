//! The whole ranking step, once: heuristic signals, then the hybrid mix, then the answer's
//! shape. The Worker, the browser module and the trainer's offline evaluation all call
//! [`rank`], so they cannot drift apart.

use std::collections::HashMap;

use crate::api::{Degraded, RankedTrack};
use crate::context::RequestContext;
use crate::features::{TrackFeatures, UserFeatures};
use crate::heuristic::{self, HeuristicCandidate, HeuristicWeights};
use crate::mixer::{self, MixWeights, PartScores};
use crate::validate::FieldError;

/// One candidate with everything known about it.
#[derive(Debug, Clone, Copy)]
pub struct CandidateInput<'a> {
    /// The candidate's track id.
    pub track_id: &'a str,
    /// The track's stored features; `None` when the store has none.
    pub features: Option<&'a TrackFeatures>,
    /// The model's logit; `None` when there is no model or it could not score the track.
    pub transformer: Option<f32>,
}

/// The scoring settings of one ranking.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RankSettings {
    /// How the transformer and heuristic parts are mixed.
    pub mix: MixWeights,
    /// How the heuristic weighs its signals.
    pub heuristic: HeuristicWeights,
    /// Attach each candidate's heuristic signals.
    pub explain: bool,
}

/// Ranks the candidates for a user (`None`: unknown user), best first, and says what was
/// missing. Fails only on non-finite model scores or invalid weights.
pub fn rank(
    user: Option<&UserFeatures>,
    candidates: &[CandidateInput<'_>],
    context: &RequestContext,
    settings: &RankSettings,
) -> Result<(Vec<RankedTrack>, Degraded), FieldError> {
    settings.heuristic.validate()?;
    let unknown = UserFeatures::default();
    let heuristic_input: Vec<_> = candidates
        .iter()
        .map(|c| HeuristicCandidate {
            track_id: c.track_id,
            features: c.features,
        })
        .collect();
    let context = context.features();
    let signals = heuristic::score(
        user.unwrap_or(&unknown),
        &heuristic_input,
        context.as_ref(),
        &settings.heuristic,
    );
    let parts: Vec<_> = candidates
        .iter()
        .zip(&signals)
        .map(|(c, s)| PartScores {
            track_id: c.track_id,
            transformer: c.transformer,
            heuristic: s.total,
        })
        .collect();
    let mixed = mixer::mix(&parts, &settings.mix)?;
    let index: HashMap<&str, usize> = if settings.explain {
        candidates
            .iter()
            .enumerate()
            .map(|(i, c)| (c.track_id, i))
            .collect()
    } else {
        HashMap::new()
    };
    let explanation_of = |id: &str| index.get(id).map(|&i| signals[i]);
    let ranked = mixed
        .into_iter()
        .map(|m| RankedTrack {
            explanation: explanation_of(&m.track_id),
            track_id: m.track_id,
            score: m.score,
            transformer: m.transformer,
            heuristic: m.heuristic,
        })
        .collect();
    let degraded = Degraded {
        unknown_user: user.is_none(),
        unknown_tracks: candidates
            .iter()
            .filter(|c| c.features.is_none())
            .map(|c| c.track_id.to_string())
            .collect(),
        model_unavailable: candidates.iter().all(|c| c.transformer.is_none()),
        ..Degraded::default()
    };
    Ok((ranked, degraded))
}
