//! The routes. Each handler parses, calls the core, and answers JSON; errors are `ApiError`s
//! with their status, never a bare 500.

use std::rc::Rc;

use futures_util::future::join_all;
use resonance_edge::FeatureSnapshot;
use resonance_edge::SequenceScorer;
use resonance_edge::admin::{self, KvValue, SwitchFeatures, SwitchModel, ValidatedWrite};
use resonance_edge::publication::PublicationError;
use resonance_edge::rerank::ModelRef;
use resonance_shared::api::{self, ApiError, HealthResponse, RerankRequest};
use resonance_shared::keys::{self, FeatureVersion};
use serde::Serialize;
use worker::kv::KvStore;
use worker::{Env, Method, Request, Response};

use crate::http::{self, now_ms};
use crate::isolate::{self, Isolate, KV_BINDING, LoadedModel, Settings, load_model};
use crate::kv_source::KvSource;

/// KV writes in flight at once during a bulk write.
const WRITE_CONCURRENCY: usize = 50;

pub async fn route(mut req: Request, env: Env) -> worker::Result<Response> {
    let origin = http::cors_origin(&env);
    if req.method() == Method::Options {
        return http::preflight(&origin);
    }
    let path = req.path();
    if (req.method(), path.as_str()) == (Method::Get, "/v1/model") {
        return match live_model(&env).await {
            Ok(model) => Ok(Response::from_bytes(model.onnx.clone())?
                .with_headers(http::model_headers(&origin, &model.version, &model.sha256))),
            Err(e) => http::error(&e, &origin),
        };
    }
    let outcome = match (req.method(), path.as_str()) {
        (Method::Post, "/v1/rerank") => rerank(&mut req, &env).await,
        (Method::Post, "/v1/features") => features(&mut req, &env).await,
        (Method::Get, "/health") => health(&env).await,
        (Method::Post, "/admin/kv/bulk") => bulk_write(&mut req, &env).await,
        (Method::Put, "/admin/model/current") => switch_model(&mut req, &env).await,
        (Method::Put, "/admin/features/current") => switch_features(&mut req, &env).await,
        (
            _,
            "/v1/rerank"
            | "/v1/features"
            | "/v1/model"
            | "/health"
            | "/admin/kv/bulk"
            | "/admin/model/current"
            | "/admin/features/current",
        ) => Err(ApiError::new(
            405,
            "method_not_allowed",
            format!("{} is not allowed on {path}", req.method()),
        )),
        _ => Err(ApiError::new(
            404,
            "not_found",
            format!("no route for {path}"),
        )),
    };
    match outcome {
        Ok((status, body)) => Ok(Response::ok(body)?
            .with_status(status)
            .with_headers(http::headers(&origin))),
        Err(e) => http::error(&e, &origin),
    }
}

type Answer = Result<(u16, String), ApiError>;

fn ok<T: Serialize>(value: &T) -> Answer {
    serde_json::to_string(value)
        .map(|body| (200, body))
        .map_err(|e| ApiError::new(500, "internal", e.to_string()))
}

fn kv(env: &Env) -> Result<KvStore, ApiError> {
    env.kv(KV_BINDING).map_err(|e| {
        ApiError::new(
            503,
            "kv_unavailable",
            format!("the KV binding {KV_BINDING} is not available: {e}"),
        )
    })
}

/// What both read routes start from: the validated request, and the live feature version
/// and model of this isolate.
struct LiveRead {
    request: RerankRequest,
    kv: KvStore,
    isolate: Rc<Isolate>,
    now: f64,
    version: Option<FeatureVersion>,
    model: Option<Rc<LoadedModel>>,
}

impl LiveRead {
    async fn open(req: &mut Request, env: &Env) -> Result<LiveRead, ApiError> {
        let body = http::body(req, api::MAX_BODY_BYTES).await?;
        let request = api::parse_rerank_request(&body)?;
        let kv = kv(env)?;
        let settings = Settings::from_env(env);
        let isolate = isolate::get();
        let now = now_ms();
        let (version, model) = futures_util::future::join(
            isolate.feature_version(&kv, &settings, now),
            isolate.current_model(&kv, &settings, now),
        )
        .await;
        let version = version.map_err(|e| ApiError::new(503, "features_unavailable", e))?;
        Ok(LiveRead {
            request,
            kv,
            isolate,
            now,
            version,
            model,
        })
    }

    /// The KV, read at the live feature version.
    fn source(&self) -> KvSource<'_> {
        KvSource {
            kv: &self.kv,
            isolate: &self.isolate,
            version: self.version,
            now: self.now,
        }
    }
}

async fn rerank(req: &mut Request, env: &Env) -> Answer {
    let live = LiveRead::open(req, env).await?;
    let model_ref = live.model.as_deref().map(|m| ModelRef {
        version: &m.version,
        scorer: &m.model,
    });
    let outcome = live
        .isolate
        .reranker
        .rerank(&live.source(), model_ref, &live.request, now_ms)
        .await?;
    ok(&outcome.response)
}

/// What a rerank of this request would read, as a snapshot the browser module reranks from.
async fn features(req: &mut Request, env: &Env) -> Answer {
    let live = LiveRead::open(req, env).await?;
    let version = live.version.ok_or_else(|| {
        ApiError::new(
            404,
            "features_not_published",
            "no feature version is live; publish one first",
        )
    })?;
    let request = &live.request;
    let candidates: Vec<&str> = request.candidates.iter().map(String::as_str).collect();
    let max_len = live
        .model
        .as_ref()
        .map_or(usize::MAX, |m| m.model.max_len());
    let gathered =
        resonance_edge::gather(&live.source(), &request.user_id, &candidates, max_len).await?;
    ok(&FeatureSnapshot::from_gathered(
        version,
        &request.user_id,
        &gathered,
    ))
}

/// The live model, whose ONNX graph `GET /v1/model` serves to engines that run it elsewhere
/// (the browser).
async fn live_model(env: &Env) -> Result<Rc<LoadedModel>, ApiError> {
    let kv = kv(env)?;
    let settings = Settings::from_env(env);
    isolate::get()
        .current_model(&kv, &settings, now_ms())
        .await
        .ok_or_else(|| {
            ApiError::new(
                404,
                "model_not_loaded",
                "no model is published, or the published one does not load (see /health)",
            )
        })
}

async fn health(env: &Env) -> Answer {
    let kv = kv(env)?;
    let settings = Settings::from_env(env);
    let isolate = isolate::get();
    let now = now_ms();
    let model = isolate.current_model(&kv, &settings, now).await;
    let features = isolate.feature_version(&kv, &settings, now).await;
    let model_error = isolate.model.borrow().error.clone();
    let status = if features.is_err() { "degraded" } else { "ok" };
    ok(&HealthResponse {
        status: status.into(),
        gpu_available: false,
        model_loaded: model.is_some(),
        model_version: model.map(|m| m.version.clone()),
        features_version: features.ok().flatten().map(|v| v.0),
        model_error,
    })
}

fn authorize(req: &Request, env: &Env) -> Result<(), ApiError> {
    let header = req.headers().get("Authorization").ok().flatten();
    let token = env.secret("ADMIN_TOKEN").ok().map(|s| s.to_string());
    admin::authorize(header.as_deref(), token.as_deref())
}

#[derive(Serialize)]
struct Written {
    written: usize,
}

async fn bulk_write(req: &mut Request, env: &Env) -> Answer {
    authorize(req, env)?;
    let body = http::body(req, admin::MAX_ADMIN_BODY_BYTES).await?;
    let writes = admin::parse_bulk_write(&body)?;
    let kv = kv(env)?;
    for batch in writes.chunks(WRITE_CONCURRENCY) {
        let results = join_all(batch.iter().map(|w| put(&kv, w))).await;
        if let Some((w, Err(e))) = batch.iter().zip(results).find(|(_, r)| r.is_err()) {
            return Err(ApiError::new(
                503,
                "kv_unavailable",
                format!(
                    "writing {} failed: {e}; the batch may be partly written, retry it",
                    w.key
                ),
            ));
        }
    }
    isolate::get().invalidate();
    ok(&Written {
        written: writes.len(),
    })
}

async fn put(kv: &KvStore, write: &ValidatedWrite) -> worker::Result<()> {
    let builder = match &write.value {
        KvValue::Text(text) => kv.put(&write.key, text.as_str())?,
        KvValue::Bytes(bytes) => kv.put_bytes(&write.key, bytes)?,
    };
    let builder = match write.expiration_ttl {
        Some(ttl) => builder.expiration_ttl(ttl),
        None => builder,
    };
    Ok(builder.execute().await?)
}

async fn switch_model(req: &mut Request, env: &Env) -> Answer {
    authorize(req, env)?;
    let body = http::body(req, 4096).await?;
    let SwitchModel { version } = admin::parse_json(&body)?;
    keys::validate_model_version(&version).map_err(ApiError::invalid)?;
    let kv = kv(env)?;
    // Verify before switching: the pointer only ever names a model that loads.
    let model = load_model(&kv, &version).await.map_err(|e| match e {
        PublicationError::NotPublished { .. } => {
            ApiError::new(404, "model_not_found", e.to_string())
        }
        other => ApiError {
            status: 422,
            code: "model_invalid",
            message: other.to_string(),
            field: Some("version".into()),
        },
    })?;
    write_pointer(&kv, keys::CURRENT_MODEL, &version).await?;
    let isolate = isolate::get();
    isolate.install(model);
    isolate.model.borrow_mut().checked_at = Some(now_ms());
    ok(&serde_json::json!({ "modelVersion": version }))
}

async fn switch_features(req: &mut Request, env: &Env) -> Answer {
    authorize(req, env)?;
    let body = http::body(req, 4096).await?;
    let SwitchFeatures { version } = admin::parse_json(&body)?;
    if version == 0 {
        return Err(ApiError::invalid(
            resonance_shared::validate::FieldError::new("version", "must be positive"),
        ));
    }
    let version = FeatureVersion(version);
    let kv = kv(env)?;
    let meta_key = version.meta_key();
    let meta = kv
        .get(&meta_key)
        .text()
        .await
        .map_err(|e| ApiError::new(503, "kv_unavailable", e.to_string()))?;
    if meta.is_none() {
        return Err(ApiError::new(
            404,
            "features_not_found",
            format!("feature version {version} is incomplete or absent: {meta_key} is missing"),
        ));
    }
    write_pointer(&kv, keys::CURRENT_FEATURES, &version.to_string()).await?;
    isolate::get().invalidate();
    ok(&serde_json::json!({ "featuresVersion": version.0 }))
}

async fn write_pointer(kv: &KvStore, key: &str, value: &str) -> Result<(), ApiError> {
    let failed = |e: worker::kv::KvError| ApiError::new(503, "kv_unavailable", e.to_string());
    kv.put(key, value)
        .map_err(failed)?
        .execute()
        .await
        .map_err(failed)
}
