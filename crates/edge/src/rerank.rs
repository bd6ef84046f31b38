//! One rerank, from a validated request to the answer.
//!
//! 1. Read, in one round trip, the listener's value, their encoder state stored for the
//!    live model, and the candidates' and recent tracks' values with their embeddings.
//! 2. When the stored state encoded exactly the session's history (the stored history, and
//!    no recent track it lacks), score with one dot product per candidate: no model runs and
//!    no history track is read. Otherwise read the history tracks not yet at hand (a second
//!    round trip, usually answered by the isolate's cache) and build the model inputs: the
//!    last L history embeddings, left-padded, and the candidates' embeddings.
//! 3. Score them with the model, or, when the same history was encoded a moment ago, with
//!    the encoder state cached then. A model that is still loading (the Worker's, whose
//!    graph and plan are built after answering) scores nothing: the answer is the
//!    heuristic's, flagged `model_warming`.
//! 4. Mix with the heuristic (`resonance_shared::ranking`), best first, cut to `limit`.

use std::cell::RefCell;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

// foldhash, not SipHash: the maps of ids a rerank still builds (the recent tracks, the model
// path's history) are per request, where SipHash was a tenth of the Worker's CPU
// (bench/profile.sh). A stored-state rerank builds none: it works by candidate position.
use foldhash::{HashMap, HashMapExt, HashSet};
use futures_util::future::join3;
use resonance_shared::api::{RerankRequest, RerankResponse, StateSource};
use resonance_shared::features::{TrackFeatures, UserFeatures};
use resonance_shared::mixer::MixWeights;
use resonance_shared::ranking::{self, CandidateInput, RankSettings};
use resonance_shared::state::{self, UserState};

use crate::cache::TtlCache;
use crate::error::EdgeError;
use crate::model::{ModelError, ModelOutput, SequenceScorer, dot_scores, history_inputs};
use crate::source::{FeatureSource, SourceError, TrackLookup};

/// The backend named in answers that had no transformer scores.
pub const HEURISTIC_ONLY: &str = "heuristic-only";

/// A loaded model and the version it was published as.
pub struct ModelRef<'a, M> {
    /// The published version, named in answers.
    pub version: &'a str,
    /// The engine that runs it.
    pub scorer: &'a M,
    /// Its mix, for requests without `weights` (the published model's, tuned by `trainer
    /// eval`; 0.7 / 0.3 for a model published without one).
    pub mix: MixWeights,
}

/// What a rerank returns besides the answer, for logs and benchmarks.
#[derive(Debug, Clone, PartialEq)]
pub struct RerankOutcome {
    /// The answer, as `POST /v1/rerank` returns it.
    pub response: RerankResponse,
    /// Where the encoder state came from (also in the answer).
    pub state: StateSource,
    /// How many history tracks the model read.
    pub history_used: usize,
}

/// The rerank core, holding the cache of encoder states (one per recent history).
pub struct Reranker {
    states: RefCell<TtlCache<u64, Arc<Vec<f32>>>>,
}

impl Reranker {
    /// Keeps up to `state_capacity` encoder states, each for `state_ttl_ms`.
    pub fn new(state_capacity: usize, state_ttl_ms: f64) -> Self {
        Self {
            states: RefCell::new(TtlCache::new(state_capacity, state_ttl_ms)),
        }
    }

    /// Reranks `request`. `clock` gives milliseconds (for `timing_ms` and the cache TTL).
    pub async fn rerank<S: FeatureSource, M: SequenceScorer>(
        &self,
        source: &S,
        model: Option<ModelRef<'_, M>>,
        request: &RerankRequest,
        clock: impl Fn() -> f64,
    ) -> Result<RerankOutcome, EdgeError> {
        let started = clock();
        let candidate_ids: Vec<&str> = request.candidates.iter().map(String::as_str).collect();
        let max_len = model.as_ref().map_or(0, |m| m.scorer.max_len());
        let wanted = Wanted {
            user_id: &request.user_id,
            candidates: &candidate_ids,
            recent: &request.recent_tracks,
            max_len,
            state_of: model.as_ref().map(|m| (m.version, m.scorer.d_model())),
        };
        let gathered = gather(source, &wanted).await?;
        let scored = match &model {
            Some(model) => {
                let inputs = ScoreInputs {
                    candidate_ids: &candidate_ids,
                    gathered: &gathered,
                };
                self.transformer_scores(model, &inputs, &clock).await
            }
            None => Scored::default(),
        };
        // Everything below is indexed by the candidate's position: no map per request.
        let inputs: Vec<CandidateInput<'_>> = candidate_ids
            .iter()
            .zip(&gathered.candidates)
            .enumerate()
            .map(|(i, (id, track))| CandidateInput {
                track_id: id,
                features: track.as_deref(),
                transformer: scored.scores.get(i).copied().flatten(),
            })
            .collect();
        // The request's mix, else the model's own, else the default (heuristic-only answers
        // mix nothing, but still say what a model would have been mixed with).
        let weights = request
            .weights
            .or(model.as_ref().map(|m| m.mix))
            .unwrap_or_default();
        let settings = RankSettings {
            mix: weights,
            explain: request.explain,
            ..Default::default()
        };
        let (mut ranked, mut degraded) = ranking::rank(
            gathered.user.as_deref(),
            &inputs,
            &request.context,
            &settings,
        )
        .map_err(EdgeError::Invalid)?;
        degraded.features_partial = gathered.failures > 0;
        degraded.model_warming = scored.warming;
        if let Some(limit) = request.limit {
            ranked.truncate(limit);
        }
        let backend = match &model {
            Some(m) if !degraded.model_unavailable => m.scorer.backend(),
            _ => HEURISTIC_ONLY,
        };
        let features_version = source.version().await.ok().flatten().map(|v| v.0);
        let response = RerankResponse {
            user_id: request.user_id.clone(),
            model_version: model.as_ref().map(|m| m.version.to_string()),
            features_version,
            backend: backend.to_string(),
            ranked,
            degraded,
            user_state: scored.source,
            weights,
            timing_ms: clock() - started,
        };
        Ok(RerankOutcome {
            response,
            state: scored.source,
            history_used: scored.history_used,
        })
    }

    /// The model's logit for every candidate that has an embedding, by position; none when
    /// the user has no usable history or the model fails (the answer then degrades to the
    /// heuristic).
    async fn transformer_scores<M: SequenceScorer>(
        &self,
        model: &ModelRef<'_, M>,
        inputs: &ScoreInputs<'_>,
        clock: &impl Fn() -> f64,
    ) -> Scored {
        let d = model.scorer.d_model();
        fn of_width(track: &TrackFeatures, d: usize) -> Option<&[f32]> {
            Some(track.audio.embedding.as_slice()).filter(|e| e.len() == d)
        }
        let candidates = &inputs.gathered.candidates;
        let scorable: Vec<(usize, &[f32])> = candidates
            .iter()
            .enumerate()
            .filter_map(|(i, track)| Some((i, of_width(track.as_deref()?, d)?)))
            .collect();
        if scorable.is_empty() {
            return Scored::default();
        }
        let mut rows: Vec<f32> = Vec::with_capacity(scorable.len() * d);
        for (_, embedding) in &scorable {
            rows.extend_from_slice(embedding);
        }
        let scored = |scores: Vec<f32>, source, history_used| {
            let mut by_position = vec![None; candidates.len()];
            for ((i, _), score) in scorable.iter().zip(scores) {
                by_position[*i] = Some(score);
            }
            Scored {
                scores: by_position,
                source,
                history_used,
                warming: false,
            }
        };
        if let Some(stored) = inputs
            .gathered
            .state
            .as_deref()
            .filter(|s| s.state.len() == d)
        {
            let scores = dot_scores(&stored.state, &rows);
            return scored(scores, StateSource::Stored, stored.tracks);
        }
        // The model path: the history's embeddings by id, wherever they were read. Tracks
        // without an embedding (newer than the model) are left out of the history.
        let by_id = inputs.tracks_by_id();
        let history: Vec<(&str, &[f32])> = inputs
            .gathered
            .history
            .iter()
            .filter_map(|id| {
                let track = by_id.get(id.as_str())?;
                of_width(track, d).map(|e| (id.as_str(), e))
            })
            .collect();
        if history.is_empty() {
            return Scored::default();
        }
        let mut hasher = DefaultHasher::new();
        model.version.hash(&mut hasher);
        for (id, _) in &history {
            id.hash(&mut hasher);
        }
        let key = hasher.finish();
        let cached = self.states.borrow_mut().get(&key, clock());
        if let Some(state) = cached {
            return scored(
                dot_scores(&state, &rows),
                StateSource::Cached,
                history.len(),
            );
        }
        let history_rows: Vec<&[f32]> = history.iter().map(|(_, e)| *e).collect();
        let (input, mask) = history_inputs(model.scorer.max_len(), d, &history_rows);
        match model.scorer.score(&input, &mask, &rows).await {
            Ok(ModelOutput { scores, user_state }) => {
                self.states
                    .borrow_mut()
                    .insert(key, Arc::new(user_state), clock());
                scored(scores, StateSource::Computed, history.len())
            }
            Err(e) => Scored {
                warming: e == ModelError::Warming,
                ..Scored::default()
            },
        }
    }

    /// Forgets every cached encoder state (a new model was loaded).
    pub fn clear_states(&self) {
        self.states.borrow_mut().clear();
    }
}

/// What the transformer scores: the candidates (ids in request order) and what was
/// gathered for them.
struct ScoreInputs<'r> {
    candidate_ids: &'r [&'r str],
    gathered: &'r Gathered,
}

impl<'r> ScoreInputs<'r> {
    /// Every track read, by id: what the model path looks the history up in.
    fn tracks_by_id(&self) -> HashMap<&'r str, &'r TrackFeatures> {
        self.gathered
            .tracks(self.candidate_ids)
            .map(|(id, track)| (id, track.as_ref()))
            .collect()
    }
}

#[derive(Default)]
struct Scored {
    /// The model's logit by candidate position (empty: the model scored none).
    scores: Vec<Option<f32>>,
    source: StateSource,
    history_used: usize,
    /// The model was needed but is still loading ([`ModelError::Warming`]).
    warming: bool,
}

/// The features one rerank reads: the user, the candidates and the history tracks.
#[derive(Debug, Clone, Default)]
pub struct Gathered {
    /// The user's stored value (`None`: unknown or unreadable).
    pub user: Option<Arc<UserFeatures>>,
    /// The candidates' values in request order (`None`: not stored, or the read failed).
    pub candidates: Vec<Option<Arc<TrackFeatures>>>,
    /// The recent and history tracks read that are not candidates, by id.
    pub others: HashMap<String, Arc<TrackFeatures>>,
    /// The ids of the session's history the model reads (the last `max_len` of the stored
    /// history followed by the recent tracks it lacks), oldest first.
    pub history: Vec<String>,
    /// Reads that failed (the answer is then flagged `features_partial`).
    pub failures: usize,
    /// The listener's stored encoder state, only when it encoded exactly `history`: the
    /// history tracks were then not read.
    pub state: Option<Arc<UserState>>,
}

impl Gathered {
    /// Every track read, with its id: the candidates the store holds (`candidate_ids`: the
    /// request's, in order), then the others.
    pub fn tracks<'a>(
        &'a self,
        candidate_ids: &'a [&'a str],
    ) -> impl Iterator<Item = (&'a str, &'a Arc<TrackFeatures>)> {
        let candidates = candidate_ids
            .iter()
            .zip(&self.candidates)
            .filter_map(|(id, track)| Some((*id, track.as_ref()?)));
        let others = self.others.iter().map(|(id, track)| (id.as_str(), track));
        candidates.chain(others)
    }
}

/// What a rerank asks the store for.
pub struct Wanted<'r> {
    /// The listener.
    pub user_id: &'r str,
    /// The candidates, in request order.
    pub candidates: &'r [&'r str],
    /// The request's `recent_tracks`, oldest first.
    pub recent: &'r [String],
    /// L, how many history tracks the model reads (0: no model, no history).
    pub max_len: usize,
    /// The model `(version, d)` whose stored state to read; `None` reads none (the browser's
    /// snapshot, which runs the model itself, needs the history tracks).
    pub state_of: Option<(&'r str, usize)>,
}

/// Reads what a rerank needs: the user, their stored state and the candidates' and recent
/// tracks' values concurrently; then, unless the state encoded exactly the session's
/// history, the history tracks not at hand, each once (a history repeats tracks). A store
/// that answers no read at all is a 503.
pub async fn gather<S: FeatureSource>(
    source: &S,
    wanted: &Wanted<'_>,
) -> Result<Gathered, EdgeError> {
    // The candidates (distinct: the request is validated), then the recent tracks that are
    // not among them.
    let candidate_count = wanted.candidates.len();
    let mut first: Vec<&str> = wanted.candidates.to_vec();
    let recent_read = &wanted.recent[wanted.recent.len().saturating_sub(wanted.max_len)..];
    if !recent_read.is_empty() {
        let mut asked: HashSet<&str> = first.iter().copied().collect();
        for id in recent_read {
            if asked.insert(id) {
                first.push(id);
            }
        }
    }
    let state_read = async {
        match wanted.state_of {
            Some(model) if wanted.max_len > 0 => source.user_state(model, wanted.user_id).await,
            _ => Ok(None),
        }
    };
    let (user, lookups, stored_state) = join3(
        source.user(wanted.user_id),
        source.tracks(&first),
        state_read,
    )
    .await;
    let mut failures = 0usize;
    let user = match user {
        Ok(user) => user,
        Err(SourceError::Unavailable(_)) => {
            failures += 1;
            None
        }
        Err(e) => return Err(store_error(e)),
    };
    let stored: &[String] = user.as_deref().map_or(&[], |u| {
        state::history_tail(&u.history.tracks, wanted.max_len)
    });
    let recent = if wanted.max_len > 0 {
        wanted.recent
    } else {
        &[]
    };
    let (session, added) = state::session_history(stored, recent);
    let history: Vec<String> = session[session.len().saturating_sub(wanted.max_len)..]
        .iter()
        .map(|id| id.to_string())
        .collect();
    // A state unreadable or of another history is not used: the model runs instead, so the
    // answer is the same, only slower.
    let state = stored_state.ok().flatten().filter(|s| {
        added == 0 && !stored.is_empty() && s.history == state::history_fingerprint(stored)
    });
    let mut lookups = lookups.into_iter();
    let mut candidate_lookups: Vec<TrackLookup> = lookups.by_ref().take(candidate_count).collect();
    // A source owes one lookup per id; one short of that leaves a candidate unknown, never
    // missing from the answer.
    candidate_lookups.resize_with(candidate_count, || Ok(None));
    let mut other_lookups: Vec<(&str, TrackLookup)> = first[candidate_count..]
        .iter()
        .copied()
        .zip(lookups)
        .collect();
    if state.is_none() && !history.is_empty() {
        // The model runs: the history tracks not read yet, each once.
        let at_hand: HashSet<&str> = first.iter().copied().collect();
        let mut missing: Vec<&str> = history
            .iter()
            .map(String::as_str)
            .filter(|id| !at_hand.contains(id))
            .collect();
        missing.sort_unstable();
        missing.dedup();
        if !missing.is_empty() {
            let read = source.tracks(&missing).await;
            other_lookups.extend(missing.iter().copied().zip(read));
        }
    }
    let looked_up = candidate_count + other_lookups.len();
    let mut embeddings_missing = 0usize;
    let mut found = |lookup: TrackLookup| -> Result<Option<Arc<TrackFeatures>>, EdgeError> {
        match lookup {
            Ok(Some(track)) => {
                // Its model has an embedding the read did not bring (a key not yet visible,
                // or gone): the heuristic scores it alone, and the answer says so.
                if wanted.max_len > 0 && track.audio.embedded && track.audio.embedding.is_empty() {
                    embeddings_missing += 1;
                }
                Ok(Some(track))
            }
            Ok(None) => Ok(None),
            Err(SourceError::Unavailable(_)) => {
                failures += 1;
                Ok(None)
            }
            Err(e) => Err(store_error(e)),
        }
    };
    let candidates = candidate_lookups
        .into_iter()
        .map(&mut found)
        .collect::<Result<Vec<_>, _>>()?;
    let mut others = HashMap::with_capacity(other_lookups.len());
    for (id, lookup) in other_lookups {
        if let Some(track) = found(lookup)? {
            others.insert(id.to_string(), track);
        }
    }
    if failures > 0 && failures == looked_up + 1 {
        return Err(EdgeError::FeaturesUnavailable(
            "the feature store did not answer any read; try again shortly".into(),
        ));
    }
    Ok(Gathered {
        user,
        candidates,
        others,
        history,
        failures: failures + embeddings_missing,
        state,
    })
}

fn store_error(e: SourceError) -> EdgeError {
    match e {
        SourceError::Unavailable(message) => EdgeError::FeaturesUnavailable(message),
        incompatible => EdgeError::FeaturesIncompatible(incompatible.to_string()),
    }
}
