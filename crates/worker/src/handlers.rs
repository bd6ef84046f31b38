//! The route table and the handlers: each parses, calls the core (`resonance_edge::isolate`),
//! and answers JSON; a core error is mapped to its HTTP status here, never a bare 500.

use std::rc::Rc;
use std::time::Duration;

use resonance_access::Access;
use resonance_edge::EdgeError;
use resonance_edge::admin::{self, SwitchFeatures, SwitchModel};
use resonance_edge::isolate::FEATURE_CACHE_MS;
use resonance_edge::isolate::{Isolate, Settings};
use resonance_shared::api::{self, ApiError};
use resonance_shared::mixer::MixWeights;
use serde::Serialize;
use worker::{Env, Method, Response, console_log};

use crate::access::{self, authorization};
use crate::http::{self, now_ms};
use crate::kv::{KV_BINDING, WorkerKv};
use crate::request::Incoming;

thread_local! {
    static ISOLATE: Rc<Isolate> = Rc::new(Isolate::new(FEATURE_CACHE_MS, |line| console_log!("{line}")));
}

/// This isolate's state.
fn isolate() -> Rc<Isolate> {
    ISOLATE.with(Rc::clone)
}

/// The routes: path, method, handler. A path is listed once; another method on it is a 405.
const ROUTES: &[(&str, Method, Handler)] = &[
    ("/v1/rerank", Method::Post, Handler::Rerank),
    ("/v1/features", Method::Post, Handler::Features),
    ("/v1/model", Method::Get, Handler::Model),
    ("/health", Method::Get, Handler::Health),
    ("/admin/kv/bulk", Method::Post, Handler::BulkWrite),
    ("/admin/kv/bulk/delete", Method::Post, Handler::BulkDelete),
    ("/admin/model/staged", Method::Put, Handler::StageModel),
    // The older mirror's name for it, kept while a deployment upgrades (it switched the model
    // apart from the features; now the model goes live with the version that names it).
    ("/admin/model/current", Method::Put, Handler::StageModel),
    (
        "/admin/features/current",
        Method::Put,
        Handler::SwitchFeatures,
    ),
];

#[derive(Clone, Copy)]
enum Handler {
    Rerank,
    Features,
    Model,
    Health,
    BulkWrite,
    BulkDelete,
    StageModel,
    SwitchFeatures,
}

/// Answers one request.
pub async fn route(req: Incoming, env: Env) -> worker::Result<Response> {
    let origin_header = req.header("Origin");
    let access = access::access(&env);
    let origin = access.allow_origin(origin_header.as_deref());
    if req.method() == Method::Options {
        return http::preflight(origin);
    }
    let path = req.path();
    let outcome = match ROUTES.iter().find(|(p, _, _)| *p == path) {
        Some((_, method, handler)) if *method == req.method() => run(*handler, &req, &env).await,
        Some(_) => Err(ApiError::new(
            405,
            "method_not_allowed",
            format!("{} is not allowed on {path}", req.method()),
        )),
        None => Err(ApiError::new(
            404,
            "not_found",
            format!("no route for {path}"),
        )),
    };
    match outcome {
        Ok(Answer::Json(status, body)) => Ok(Response::ok(body)?
            .with_status(status)
            .with_headers(http::headers(origin))),
        Ok(Answer::Model {
            onnx,
            version,
            mix,
            sha256,
        }) => Ok(Response::from_bytes(onnx)?
            .with_headers(http::model_headers(origin, &version, &mix, &sha256))),
        Err(e) => http::error(&e, origin),
    }
}

enum Answer {
    Json(u16, String),
    Model {
        onnx: Vec<u8>,
        version: String,
        mix: MixWeights,
        sha256: String,
    },
}

fn ok<T: Serialize>(value: &T) -> Result<Answer, ApiError> {
    serde_json::to_string(value)
        .map(|body| Answer::Json(200, body))
        .map_err(|e| ApiError::new(500, "internal", e.to_string()))
}

async fn run(handler: Handler, req: &Incoming, env: &Env) -> Result<Answer, ApiError> {
    // The binding is asked for after the request is authorised and parsed, so a bad or
    // unauthorised request is told so whatever the KV's state.
    let kv = || {
        env.kv(KV_BINDING).map(WorkerKv).map_err(|e| {
            ApiError::new(
                503,
                "kv_unavailable",
                format!("the KV binding {KV_BINDING} is not available: {e}"),
            )
        })
    };
    let settings = settings(env);
    let isolate = isolate();
    match handler {
        Handler::Rerank => {
            let request = listener_request(req, env).await?;
            ok(&isolate
                .rerank(&kv()?, &settings, &request, now_ms)
                .await
                .map_err(to_http)?)
        }
        Handler::Features => {
            let request = listener_request(req, env).await?;
            let snapshot = isolate
                .features(&kv()?, &settings, &request, now_ms())
                .await;
            ok(&snapshot.map_err(to_http)?)
        }
        Handler::Model => {
            access::limit(req, env, None).await?;
            let (model, graph) = isolate
                .model(&kv()?, &settings, now_ms())
                .await
                .map_err(to_http)?;
            Ok(Answer::Model {
                onnx: graph.onnx.clone(),
                version: model.version.clone(),
                mix: model.mix,
                sha256: model.sha256.clone(),
            })
        }
        Handler::Health => {
            let mut health = isolate.health(&kv()?, &settings, now_ms()).await;
            health.access_problems = access::problems(env);
            if !health.access_problems.is_empty() {
                health.status = "degraded".into();
            }
            ok(&health)
        }
        Handler::BulkWrite => {
            admin(req, env)?;
            let body = http::body(req, admin::MAX_ADMIN_BODY_BYTES).await?;
            let writes = admin::parse_bulk_write(&body)?;
            let written = isolate.bulk_write(&kv()?, &writes).await.map_err(to_http)?;
            ok(&serde_json::json!({ "written": written }))
        }
        Handler::BulkDelete => {
            admin(req, env)?;
            let keys =
                admin::parse_bulk_delete(&http::body(req, admin::MAX_ADMIN_BODY_BYTES).await?)?;
            let deleted = isolate
                .bulk_delete(&kv()?, &settings, &keys, now_ms())
                .await
                .map_err(to_http)?;
            ok(&serde_json::json!({ "deleted": deleted }))
        }
        Handler::StageModel => {
            admin(req, env)?;
            let SwitchModel { version } = admin::parse_json(&http::body(req, 4096).await?)?;
            isolate
                .stage_model(&kv()?, &version)
                .await
                .map_err(to_http)?;
            ok(&serde_json::json!({ "modelVersion": version, "staged": true }))
        }
        Handler::SwitchFeatures => {
            admin(req, env)?;
            let SwitchFeatures { version } = admin::parse_json(&http::body(req, 4096).await?)?;
            let model = isolate
                .switch_features(&kv()?, version, now_ms())
                .await
                .map_err(to_http)?;
            ok(&serde_json::json!({ "featuresVersion": version, "modelVersion": model }))
        }
    }
}

/// The body of a route about a listener, once its caller may ask: the token (401), the rate
/// limits (429), the body (400/413/422), then the token's listener against `user_id` (403).
async fn listener_request(req: &Incoming, env: &Env) -> Result<api::RerankRequest, ApiError> {
    let caller = access::caller(req, env)?;
    access::limit(req, env, Some(&caller)).await?;
    let request = api::parse_rerank_request(&http::body(req, api::MAX_BODY_BYTES).await?)?;
    Access::admit(&caller, &request.user_id)?;
    Ok(request)
}

/// The HTTP status of each core error.
fn to_http(e: EdgeError) -> ApiError {
    let status = match &e {
        EdgeError::Invalid(field) => return ApiError::invalid(field.clone()),
        EdgeError::FeaturesUnavailable(_)
        | EdgeError::FeaturesIncompatible(_)
        | EdgeError::KvUnavailable(_) => 503,
        EdgeError::FeaturesNotPublished
        | EdgeError::FeaturesIncomplete { .. }
        | EdgeError::ModelNotLoaded
        | EdgeError::ModelNotFound(_) => 404,
        EdgeError::ModelInvalid(_) => {
            let mut error = ApiError::new(422, e.code(), e.to_string());
            error.field = Some("version".into());
            return error;
        }
    };
    ApiError::new(status, e.code(), e.to_string())
}

/// Tunables from `[vars]` in wrangler.toml, read once per isolate (its vars do not change
/// while it lives; reading them was two calls into JavaScript and two parses per request). A
/// rerank never loads the model's graph or builds its plan: the isolate does both after
/// answering (`route`'s caller, through `waitUntil`).
fn settings(env: &Env) -> Settings {
    thread_local! {
        static SETTINGS: std::cell::OnceCell<Settings> = const { std::cell::OnceCell::new() };
    }
    SETTINGS.with(|cell| *cell.get_or_init(|| read_settings(env)))
}

fn read_settings(env: &Env) -> Settings {
    let seconds = |name: &str| {
        env.var(name)
            .ok()
            .and_then(|v| v.to_string().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
    };
    let defaults = Settings::default();
    Settings {
        pointer_check_ms: seconds("POINTER_CHECK_SECONDS")
            .map_or(defaults.pointer_check_ms, |s| s * 1000.0),
        load_model_in_request: false,
        settle_ms: seconds("SETTLE_SECONDS").map_or(defaults.settle_ms, |s| s * 1000.0),
    }
}

/// After an answer: reads the graph of a model a fresh isolate went live on, then builds its
/// plan, so the next request that needs the model finds it ready. One isolate has one thread:
/// each step delays the requests queued behind it, once per model, instead of the one that
/// went live; between the two the isolate yields (a zero timer), so queued requests run first.
pub async fn prepare_model(env: Env) {
    let isolate = isolate();
    if let Ok(kv) = env.kv(KV_BINDING) {
        let read = isolate.load_graph(&WorkerKv(kv), now_ms).await.is_some();
        if read {
            worker::Delay::from(Duration::ZERO).await;
        }
    }
    let _ = isolate.build_plan(now_ms);
}

/// Whether [`prepare_model`] has anything to do (most answers: no, and they schedule nothing).
pub fn model_pending() -> bool {
    isolate().model_pending()
}

/// Checks the admin token, before the body is read.
fn admin(req: &Incoming, env: &Env) -> Result<(), ApiError> {
    access::access(env).admin(authorization(req).as_deref())
}
