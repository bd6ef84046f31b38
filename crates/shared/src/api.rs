//! The Worker's HTTP API (`docs/DESIGN.md`, "The HTTP API of the Worker"): request and response
//! types, and the parser that turns a raw body into a validated [`RerankRequest`] or an
//! [`ApiError`] with the right status and the name of the offending field.

use serde::{Deserialize, Serialize};

use crate::context::RequestContext;
use crate::heuristic::HeuristicScore;
use crate::mixer::MixWeights;
pub use crate::state::MAX_RECENT_TRACKS;
use crate::validate::{self, FieldError};

/// Largest request body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 128 * 1024;
/// Most candidates one request may rerank.
pub const MAX_CANDIDATES: usize = 500;

/// `POST /v1/rerank`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct RerankRequest {
    /// The listener to rank for; unknown listeners are ranked on track signals alone.
    pub user_id: String,
    /// Track ids to rerank: 1 to [`MAX_CANDIDATES`], no repeats.
    pub candidates: Vec<String>,
    /// When and where the listener is; every part optional.
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(as = "Option<RequestContext>", optional))]
    pub context: RequestContext,
    /// Return only the best `limit` tracks (all by default).
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional = nullable))]
    pub limit: Option<usize>,
    /// Add each candidate's heuristic signals to the response.
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(as = "Option<bool>", optional))]
    pub explain: bool,
    /// Override the model's mix for this request (its own, tuned by `trainer eval`, or 0.7 /
    /// 0.3 for a model without one).
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional = nullable))]
    pub weights: Option<MixWeights>,
    /// The tracks the listener just played, oldest first, at most
    /// [`MAX_RECENT_TRACKS`]: the model reads them after the stored history (those it already
    /// ends with are not repeated; `state::session_history`), so the answer is session-fresh.
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(as = "Option<Vec<String>>", optional))]
    pub recent_tracks: Vec<String>,
}

/// Where a rerank's encoder state came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "lowercase")]
pub enum StateSource {
    /// Stored offline for the listener's history (`rsn:model:{m}:state:{id}`): no model ran.
    Stored,
    /// Computed for the same history moments ago in this isolate: no model ran.
    Cached,
    /// The model ran on the session's history (new listener, recent tracks, or no state).
    Computed,
    /// No transformer score (no model, no usable history, or the model failed).
    #[default]
    None,
}

/// One track of the answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct RankedTrack {
    /// The candidate's track id.
    pub track_id: String,
    /// The mixed score the ranking is ordered by: the weighted sum of the standardised parts.
    pub score: f32,
    /// The standardised transformer part; `null` when the model had no score for this track.
    pub transformer: Option<f32>,
    /// The standardised heuristic part.
    pub heuristic: f32,
    /// The heuristic's signals, when the request asked to `explain`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explanation: Option<HeuristicScore>,
}

/// What the answer had to do without.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Degraded {
    /// The user has no stored features: the ranking uses only track-level signals.
    pub unknown_user: bool,
    /// Candidates without stored features, in request order.
    pub unknown_tracks: Vec<String>,
    /// No model was available: the ranking is the heuristic alone.
    pub model_unavailable: bool,
    /// Some feature reads failed (the store answered only in part): the tracks concerned
    /// are in `unknown_tracks`, an unreadable user counts as unknown.
    #[serde(default)]
    pub features_partial: bool,
    /// The model had to run but was still being prepared (the Worker builds a freshly
    /// loaded model's plan after answering, not inside a request): the ranking is the
    /// heuristic alone, as with `model_unavailable`; the isolate's next answers use the model.
    #[serde(default)]
    pub model_warming: bool,
    /// The live version (layout 3) had its values written at the edge moments ago and this
    /// isolate had no earlier state to keep serving: KV may still show an overwritten value
    /// of an earlier version, so an answer may use the day before's values.
    #[serde(default)]
    pub values_settling: bool,
}

/// The answer to `POST /v1/rerank`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct RerankResponse {
    /// The listener of the request.
    pub user_id: String,
    /// The model version that scored the candidates; `None` when none was available.
    pub model_version: Option<String>,
    /// The feature version the features were read from (whose meta names `model_version`'s
    /// model as the one its embeddings belong to); `None` when none is live.
    #[serde(default)]
    pub features_version: Option<u64>,
    /// Where the transformer ran: `tract-cpu`, `webgpu`, or `heuristic-only`.
    pub backend: String,
    /// The candidates, best first (at most `limit` of them).
    pub ranked: Vec<RankedTrack>,
    /// What the ranking had to do without.
    pub degraded: Degraded,
    /// Where the encoder state came from: `stored`, `cached`, `computed` or `none`.
    #[serde(default)]
    pub user_state: StateSource,
    /// The mix applied: the request's `weights`, else the model's own (tuned on its
    /// validation split by `trainer eval`), else 0.7 / 0.3.
    #[serde(default)]
    pub weights: MixWeights,
    /// Time spent on the request inside the Worker, in milliseconds.
    pub timing_ms: f64,
}

/// One pair of a bulk KV write: the body of the Worker's `POST /admin/kv/bulk` is an array of
/// these, in the wire format of Cloudflare's KV REST bulk write, so one writer serves both.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KvWrite {
    /// The feature-store key (see [`crate::keys`]).
    pub key: String,
    /// Text, or base64 when `base64` is true (binary values such as model chunks).
    pub value: String,
    /// Whether `value` is base64-encoded bytes rather than text.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub base64: bool,
    /// Seconds until the pair expires (at least 60).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration_ttl: Option<u64>,
}

/// The answer to `GET /health`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct HealthResponse {
    /// `ok`, or `degraded` when the feature store cannot be read, the live state the pointer
    /// names cannot be served (`modelError` says why), or access is misconfigured.
    pub status: String,
    /// Whether a GPU backend can run the transformer here (never on the Worker).
    pub gpu_available: bool,
    /// Whether a model is serving (its manifest verified: answers from stored encoder states
    /// use it; `modelGraph` says whether the model itself can run yet).
    pub model_loaded: bool,
    /// Where the serving model's graph stands: `loading` (a fresh isolate reads it after
    /// answering; meanwhile an answer that needs the model is the heuristic's, flagged
    /// `model_warming`), `planning` (read; its plan is built after the next answer), `ready`,
    /// or `failed` (`modelError` says why; such answers are flagged `model_unavailable`).
    /// Absent without a model, and from Workers older than it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_graph: Option<String>,
    /// The serving model's version; `None` without one.
    pub model_version: Option<String>,
    /// The feature version serving (its meta names `modelVersion`); `None` when none is
    /// published or readable.
    pub features_version: Option<u64>,
    /// Why the live state `rsn:current` names is not the one serving (its meta is missing,
    /// it names no model, or its model has a missing chunk or a bad checksum): the previous
    /// state keeps serving meanwhile, or, in an isolate that has none, the named features
    /// without a model (heuristic-only, flagged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_error: Option<String>,
    /// What this Worker's access configuration refuses to serve, and why (a missing
    /// `LISTENER_TOKEN_KEYS`, a token shared between roles); empty when all is configured.
    #[serde(default)]
    pub access_problems: Vec<String>,
    /// The layouts of stored values this Worker reads (`features::OLDEST_SCHEMA` to
    /// `features::SCHEMA_VERSION`). Absent from Workers older than layouts, which read only 1:
    /// the mirror moves an edge to a layout only when its Worker lists it.
    #[serde(default = "layout_one_only")]
    pub layouts: Vec<u32>,
}

fn layout_one_only() -> Vec<u32> {
    vec![crate::features::OLDEST_SCHEMA]
}

/// An error answer: the HTTP status and the JSON body `{ "error": { code, message, field? } }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status: 400, 413, 422, …
    pub status: u16,
    /// A stable machine-readable code such as `invalid_field` or `body_too_large`.
    pub code: &'static str,
    /// What is wrong, for a person.
    pub message: String,
    /// The offending field's path (`candidates[3]`, `context.hour`), when one is to blame.
    pub field: Option<String>,
}

/// The JSON body of every error answer (see [`ApiError::body`]).
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// The `error` of an [`ErrorBody`].
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ErrorDetail {
    /// A stable machine-readable code such as `invalid_field` or `body_too_large`.
    pub code: String,
    /// What is wrong, for a person.
    pub message: String,
    /// The offending field's path, when one is to blame; absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub field: Option<String>,
}

impl ApiError {
    /// An error not tied to one field.
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
        }
    }

    /// A 422 for a field that parsed but is not acceptable.
    pub fn invalid(e: FieldError) -> Self {
        Self {
            status: 422,
            code: "invalid_field",
            message: e.message,
            field: Some(e.field),
        }
    }

    /// The JSON body of the error.
    pub fn body(&self) -> String {
        serde_json::to_string(&ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message.clone(),
                field: self.field.clone(),
            },
        })
        .expect("error bodies always serialise")
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.field {
            Some(field) => write!(
                f,
                "{} {}: {field}: {}",
                self.status, self.code, self.message
            ),
            None => write!(f, "{} {}: {}", self.status, self.code, self.message),
        }
    }
}

/// Parses and validates a rerank body. Never panics, whatever the bytes.
pub fn parse_rerank_request(body: &[u8]) -> Result<RerankRequest, ApiError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(ApiError::new(
            413,
            "body_too_large",
            format!(
                "the body is {} bytes; the limit is {MAX_BODY_BYTES}",
                body.len()
            ),
        ));
    }
    // Parsed without path tracking first: it costs a little on every element, and only a
    // body that fails needs the path. That one is parsed again to name its field.
    let request: RerankRequest = match serde_json::from_slice(body) {
        Ok(request) => request,
        Err(_) => {
            let mut de = serde_json::Deserializer::from_slice(body);
            let request: RerankRequest =
                serde_path_to_error::deserialize(&mut de).map_err(json_error)?;
            de.end().map_err(|e| {
                ApiError::new(
                    400,
                    "malformed_json",
                    format!("the body is not valid JSON: {e}"),
                )
            })?;
            request
        }
    };
    request.validate()?;
    Ok(request)
}

fn json_error(e: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    use serde_json::error::Category;
    let inner = e.inner();
    match inner.classify() {
        Category::Syntax | Category::Eof | Category::Io => ApiError::new(
            400,
            "malformed_json",
            format!("the body is not valid JSON: {inner}"),
        ),
        Category::Data => {
            let message = inner.to_string();
            let path = e.path().to_string();
            // serde reports a missing field at its parent; name the field itself.
            let field = match message.split('`').nth(1) {
                Some(name) if message.starts_with("missing field") => {
                    if path == "." {
                        name.to_string()
                    } else {
                        format!("{path}.{name}")
                    }
                }
                _ => path,
            };
            ApiError {
                status: 422,
                code: "invalid_field",
                message,
                field: Some(field),
            }
        }
    }
}

impl RerankRequest {
    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), ApiError> {
        validate::id("user_id", &self.user_id).map_err(ApiError::invalid)?;
        if self.candidates.is_empty() {
            return Err(ApiError::invalid(FieldError::new(
                "candidates",
                "must not be empty",
            )));
        }
        if self.candidates.len() > MAX_CANDIDATES {
            return Err(ApiError {
                status: 413,
                code: "too_many_candidates",
                message: format!(
                    "{} candidates; the limit is {MAX_CANDIDATES}",
                    self.candidates.len()
                ),
                field: Some("candidates".into()),
            });
        }
        let mut seen: foldhash::HashMap<&str, usize> =
            foldhash::HashMap::with_capacity_and_hasher(self.candidates.len(), Default::default());
        for (i, id) in self.candidates.iter().enumerate() {
            let field = || format!("candidates[{i}]");
            validate::id_in(field, id).map_err(ApiError::invalid)?;
            if let Some(first) = seen.insert(id.as_str(), i) {
                return Err(ApiError::invalid(FieldError::new(
                    field(),
                    format!("{id:?} repeats candidates[{first}]"),
                )));
            }
        }
        if self.recent_tracks.len() > MAX_RECENT_TRACKS {
            return Err(ApiError::invalid(FieldError::new(
                "recent_tracks",
                format!(
                    "holds {} tracks; the limit is {MAX_RECENT_TRACKS} (the model reads no more)",
                    self.recent_tracks.len()
                ),
            )));
        }
        for (i, id) in self.recent_tracks.iter().enumerate() {
            validate::id_in(|| format!("recent_tracks[{i}]"), id).map_err(ApiError::invalid)?;
        }
        if self.limit == Some(0) {
            return Err(ApiError::invalid(FieldError::new(
                "limit",
                "must be at least 1",
            )));
        }
        self.context.validate().map_err(ApiError::invalid)?;
        if let Some(weights) = &self.weights {
            weights.validate().map_err(ApiError::invalid)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(body: &str) -> ApiError {
        parse_rerank_request(body.as_bytes()).unwrap_err()
    }

    #[test]
    fn a_health_answer_without_layouts_is_a_worker_that_reads_layout_one_only() {
        // The /health of a Worker deployed before layouts existed, field for field.
        let old: HealthResponse = serde_json::from_str(
            r#"{"status":"ok","gpuAvailable":false,"modelLoaded":true,"modelVersion":"m1",
                "featuresVersion":7,"accessProblems":[]}"#,
        )
        .unwrap();
        assert_eq!(old.layouts, [1]);
    }

    #[test]
    fn a_full_request_parses() {
        let r = parse_rerank_request(
            br#"{"user_id":"u1","candidates":["a","b"],"context":{"hour":8,"device":"car"},
                "limit":1,"explain":true,"weights":{"transformer":1,"heuristic":0}}"#,
        )
        .unwrap();
        assert_eq!(r.candidates, ["a", "b"]);
        assert_eq!(r.context.hour, Some(8));
        assert_eq!(r.limit, Some(1));
        assert!(r.recent_tracks.is_empty());
        let r = parse_rerank_request(
            br#"{"user_id":"u1","candidates":["a"],"recent_tracks":["b","c"]}"#,
        )
        .unwrap();
        assert_eq!(r.recent_tracks, ["b", "c"]);
    }

    #[test]
    fn each_bad_input_gets_its_status_and_field() {
        let e = err("{not json");
        assert_eq!((e.status, e.code), (400, "malformed_json"));
        let e = err(r#"{"candidates":["a"]}"#);
        assert_eq!((e.status, e.field.as_deref()), (422, Some("user_id")));
        let e = err(r#"{"user_id":"u","candidates":"a"}"#);
        assert_eq!(e.field.as_deref(), Some("candidates"));
        let e = err(r#"{"user_id":"u","candidates":["a"],"context":{"hour":"8"}}"#);
        assert_eq!(e.field.as_deref(), Some("context.hour"));
        let e = err(r#"{"user_id":"u","candidates":["a"],"explian":true}"#);
        assert!(e.message.contains("explian"), "{e}");
        let e = err(r#"{"user_id":"u","candidates":[]}"#);
        assert_eq!(e.field.as_deref(), Some("candidates"));
        let e = err(r#"{"user_id":"u","candidates":["a","b","a"]}"#);
        assert_eq!(e.field.as_deref(), Some("candidates[2]"));
        let e = err(r#"{"user_id":"u","candidates":["a"],"context":{"hour":24}}"#);
        assert_eq!(e.field.as_deref(), Some("context.hour"));
        let e = err(r#"{"user_id":"u","candidates":["a"],"limit":0}"#);
        assert_eq!(e.field.as_deref(), Some("limit"));
        let e = err(r#"{"user_id":"u","candidates":["a"],"recent_tracks":["b",""]}"#);
        assert_eq!(e.field.as_deref(), Some("recent_tracks[1]"));
        let recent: Vec<String> = (0..=MAX_RECENT_TRACKS)
            .map(|i| format!("\"t{i}\""))
            .collect();
        let e = err(&format!(
            r#"{{"user_id":"u","candidates":["a"],"recent_tracks":[{}]}}"#,
            recent.join(",")
        ));
        assert_eq!((e.status, e.field.as_deref()), (422, Some("recent_tracks")));
        let e = err(r#"{"user_id":"u","candidates":["a"]} trailing"#);
        assert_eq!(e.status, 400);
    }

    #[test]
    fn limits_give_413() {
        let many: Vec<String> = (0..=MAX_CANDIDATES).map(|i| format!("\"t{i}\"")).collect();
        let e = err(&format!(
            r#"{{"user_id":"u","candidates":[{}]}}"#,
            many.join(",")
        ));
        assert_eq!((e.status, e.code), (413, "too_many_candidates"));
        let huge = format!(r#"{{"user_id":"{}"}}"#, "u".repeat(MAX_BODY_BYTES));
        assert_eq!(err(&huge).status, 413);
    }

    #[test]
    fn error_bodies_have_the_documented_shape() {
        let body: serde_json::Value =
            serde_json::from_str(&err(r#"{"user_id":""}"#).body()).unwrap();
        assert_eq!(body["error"]["code"], "invalid_field");
        assert!(body["error"]["message"].is_string());
    }
}
