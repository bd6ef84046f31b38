//! One rerank, from a validated request to the answer.
//!
//! 1. Read the user and the candidates concurrently, then the history tracks not among the
//!    candidates (two round trips at most; none when the isolate's cache is warm).
//! 2. Build the model inputs: the last L history embeddings, left-padded, and the embeddings
//!    of the candidates that have one.
//! 3. Score them with the model, or, when the same history was encoded a moment ago, with one
//!    dot product per candidate against the cached encoder state.
//! 4. Mix with the heuristic (`resonance_shared::ranking`), best first, cut to `limit`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use futures_util::future::join;
use resonance_shared::api::{RerankRequest, RerankResponse};
use resonance_shared::features::{TrackFeatures, UserFeatures};
use resonance_shared::ranking::{self, CandidateInput, RankSettings};

use crate::cache::TtlCache;
use crate::error::EdgeError;
use crate::model::{ModelOutput, SequenceScorer, dot_scores};
use crate::source::{FeatureSource, SourceError, TrackLookup};

/// The backend named in answers that had no transformer scores.
pub const HEURISTIC_ONLY: &str = "heuristic-only";

/// A loaded model and the version it was published as.
pub struct ModelRef<'a, M> {
    /// The published version, named in answers.
    pub version: &'a str,
    /// The engine that runs it.
    pub scorer: &'a M,
}

/// What a rerank returns besides the answer, for logs and benchmarks.
#[derive(Debug, Clone, PartialEq)]
pub struct RerankOutcome {
    /// The answer, as `POST /v1/rerank` returns it.
    pub response: RerankResponse,
    /// The encoder state came from the cache (the model did not run).
    pub state_cache_hit: bool,
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
        let gathered = gather(source, &request.user_id, &candidate_ids, max_len).await?;
        let Gathered {
            user,
            tracks,
            history,
            failures,
        } = &gathered;
        let history_ids: Vec<&str> = history.iter().map(String::as_str).collect();
        let tracks: HashMap<&str, Arc<TrackFeatures>> = tracks
            .iter()
            .map(|(id, track)| (id.as_str(), track.clone()))
            .collect();

        let scored = match &model {
            Some(model) => {
                self.transformer_scores(model, &history_ids, &candidate_ids, &tracks, &clock)
                    .await
            }
            None => Scored::default(),
        };
        let inputs: Vec<CandidateInput<'_>> = candidate_ids
            .iter()
            .map(|id| CandidateInput {
                track_id: id,
                features: tracks.get(id).map(|t| t.as_ref()),
                transformer: scored.scores.get(id).copied(),
            })
            .collect();
        let settings = RankSettings {
            mix: request.weights.unwrap_or_default(),
            explain: request.explain,
            ..Default::default()
        };
        let (mut ranked, mut degraded) =
            ranking::rank(user.as_deref(), &inputs, &request.context, &settings)
                .map_err(EdgeError::Invalid)?;
        degraded.features_partial = *failures > 0;
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
            timing_ms: clock() - started,
        };
        Ok(RerankOutcome {
            response,
            state_cache_hit: scored.cache_hit,
            history_used: scored.history_used,
        })
    }

    /// The model's logit for every candidate that has an embedding; none when the user has
    /// no usable history or the model fails (the answer then degrades to the heuristic).
    async fn transformer_scores<'a, M: SequenceScorer>(
        &self,
        model: &ModelRef<'_, M>,
        history_ids: &[&str],
        candidate_ids: &[&'a str],
        tracks: &HashMap<&str, Arc<TrackFeatures>>,
        clock: &impl Fn() -> f64,
    ) -> Scored<'a> {
        let (len, d) = (model.scorer.max_len(), model.scorer.d_model());
        let embedding = |id: &str| {
            tracks
                .get(id)
                .map(|t| t.audio.embedding.as_slice())
                .filter(|e| e.len() == d)
        };
        // Tracks without an embedding (newer than the model) are left out of the history.
        let history: Vec<(&str, &[f32])> = history_ids
            .iter()
            .filter_map(|id| embedding(id).map(|e| (*id, e)))
            .collect();
        let scorable: Vec<(&'a str, &[f32])> = candidate_ids
            .iter()
            .filter_map(|id| embedding(id).map(|e| (*id, e)))
            .collect();
        if history.is_empty() || scorable.is_empty() {
            return Scored::default();
        }
        let candidates: Vec<f32> = scorable
            .iter()
            .flat_map(|(_, e)| e.iter().copied())
            .collect();

        let mut hasher = DefaultHasher::new();
        model.version.hash(&mut hasher);
        for (id, _) in &history {
            id.hash(&mut hasher);
        }
        let key = hasher.finish();
        let cached = self.states.borrow_mut().get(&key, clock());
        let (scores, cache_hit) = match cached {
            Some(state) => (dot_scores(&state, &candidates), true),
            None => {
                let pad = len - history.len();
                let mut input = vec![0.0f32; len * d];
                let mut mask = vec![0.0f32; len];
                for (i, (_, e)) in history.iter().enumerate() {
                    input[(pad + i) * d..(pad + i + 1) * d].copy_from_slice(e);
                    mask[pad + i] = 1.0;
                }
                match model.scorer.score(&input, &mask, &candidates).await {
                    Ok(ModelOutput { scores, user_state }) => {
                        self.states
                            .borrow_mut()
                            .insert(key, Arc::new(user_state), clock());
                        (scores, false)
                    }
                    Err(_) => return Scored::default(),
                }
            }
        };
        Scored {
            scores: scorable.iter().map(|(id, _)| *id).zip(scores).collect(),
            cache_hit,
            history_used: history.len(),
        }
    }

    /// Forgets every cached encoder state (a new model was loaded).
    pub fn clear_states(&self) {
        self.states.borrow_mut().clear();
    }
}

#[derive(Default)]
struct Scored<'a> {
    scores: HashMap<&'a str, f32>,
    cache_hit: bool,
    history_used: usize,
}

/// The features one rerank reads: the user, the candidates and the history tracks.
#[derive(Debug, Clone, Default)]
pub struct Gathered {
    /// The user's stored value (`None`: unknown or unreadable).
    pub user: Option<Arc<UserFeatures>>,
    /// Every candidate and history track the store holds, by id.
    pub tracks: HashMap<String, Arc<TrackFeatures>>,
    /// The ids of the history the model reads (the last `max_len` stored tracks), oldest first.
    pub history: Vec<String>,
    /// Reads that failed (the answer is then flagged `features_partial`).
    pub failures: usize,
}

/// Reads what a rerank of `candidate_ids` for `user_id` needs: the user and the candidates
/// concurrently, then the last `max_len` history tracks not among the candidates, each once
/// (a history repeats tracks). A store that answers no read at all is a 503.
pub async fn gather<S: FeatureSource>(
    source: &S,
    user_id: &str,
    candidate_ids: &[&str],
    max_len: usize,
) -> Result<Gathered, EdgeError> {
    let (user, candidate_lookups) = join(source.user(user_id), source.tracks(candidate_ids)).await;
    let mut failures = 0usize;
    let user = match user {
        Ok(user) => user,
        Err(SourceError::Unavailable(_)) => {
            failures += 1;
            None
        }
        Err(e) => return Err(store_error(e)),
    };
    let history: Vec<String> = user.as_deref().map_or(Vec::new(), |u| {
        let tracks = &u.history.tracks;
        tracks[tracks.len().saturating_sub(max_len)..].to_vec()
    });
    let mut known: HashMap<&str, TrackLookup> = HashMap::new();
    for (id, lookup) in candidate_ids.iter().zip(candidate_lookups) {
        known.insert(id, lookup);
    }
    let mut missing: Vec<&str> = history
        .iter()
        .map(String::as_str)
        .filter(|id| !known.contains_key(id))
        .collect();
    missing.sort_unstable();
    missing.dedup();
    if !missing.is_empty() {
        for (id, lookup) in missing.iter().zip(source.tracks(&missing).await) {
            known.insert(id, lookup);
        }
    }
    let mut tracks = HashMap::new();
    let mut embeddings_missing = 0usize;
    for (id, lookup) in &known {
        match lookup {
            Ok(Some(track)) => {
                // Its model has an embedding the read did not bring (a key not yet visible,
                // or gone): the heuristic scores it alone, and the answer says so.
                if max_len > 0 && track.audio.embedded && track.audio.embedding.is_empty() {
                    embeddings_missing += 1;
                }
                tracks.insert(id.to_string(), track.clone());
            }
            Ok(None) => {}
            Err(SourceError::Unavailable(_)) => failures += 1,
            Err(e) => return Err(store_error(e.clone())),
        }
    }
    if failures > 0 && failures == known.len() + 1 {
        return Err(EdgeError::FeaturesUnavailable(
            "the feature store did not answer any read; try again shortly".into(),
        ));
    }
    Ok(Gathered {
        user,
        tracks,
        history,
        failures: failures + embeddings_missing,
    })
}

fn store_error(e: SourceError) -> EdgeError {
    match e {
        SourceError::Unavailable(message) => EdgeError::FeaturesUnavailable(message),
        incompatible => EdgeError::FeaturesIncompatible(incompatible.to_string()),
    }
}
