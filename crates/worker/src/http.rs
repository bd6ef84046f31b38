//! JSON answers, JSON errors and CORS headers (for allowed origins) on every response.

use resonance_shared::api::ApiError;
use resonance_shared::mixer::MixWeights;
use worker::{Headers, Response};

use crate::request::Incoming;

/// The headers of every answer: JSON, and CORS when the request's origin is allowed
/// (`origin`: the allowed origin, echoed; none for any other, so the browser withholds it).
pub fn headers(origin: Option<&str>) -> Headers {
    let headers = Headers::new();
    // Setting fixed, valid header names and values cannot fail.
    let _ = headers.set("Content-Type", "application/json; charset=utf-8");
    if let Some(origin) = origin {
        let _ = headers.set("Access-Control-Allow-Origin", origin);
    }
    let _ = headers.set("Vary", "Origin");
    headers
}

/// The headers of `GET /v1/model`: the graph's bytes, its version, its mix (`MixWeights` as
/// JSON, so the browser mixes as the Worker does), and its checksum as the ETag (exposed to
/// scripts on other origins).
pub fn model_headers(
    origin: Option<&str>,
    version: &str,
    mix: &MixWeights,
    sha256: &str,
) -> Headers {
    let headers = headers(origin);
    let _ = headers.set("Content-Type", "application/octet-stream");
    let _ = headers.set("X-Model-Version", version);
    if let Ok(mix) = serde_json::to_string(mix) {
        let _ = headers.set("X-Model-Mix", &mix);
    }
    let _ = headers.set("ETag", &format!("\"{sha256}\""));
    let _ = headers.set("Cache-Control", "no-cache");
    let _ = headers.set(
        "Access-Control-Expose-Headers",
        "X-Model-Version, X-Model-Mix, ETag",
    );
    headers
}

/// An error answer: the shared envelope; a 429 says when to retry.
pub fn error(e: &ApiError, origin: Option<&str>) -> worker::Result<Response> {
    let headers = headers(origin);
    if e.status == 429 {
        let _ = headers.set("Retry-After", &crate::access::RETRY_AFTER_S.to_string());
    }
    Ok(Response::ok(e.body())?
        .with_status(e.status)
        .with_headers(headers))
}

/// The answer to a CORS preflight.
pub fn preflight(origin: Option<&str>) -> worker::Result<Response> {
    let headers = headers(origin);
    let _ = headers.set("Access-Control-Allow-Methods", "GET, POST, PUT, OPTIONS");
    let _ = headers.set(
        "Access-Control-Allow-Headers",
        "Content-Type, Authorization",
    );
    let _ = headers.set("Access-Control-Max-Age", "86400");
    Ok(Response::empty()?.with_status(204).with_headers(headers))
}

/// Reads a body of at most `limit` bytes (checking Content-Length first, so an oversized
/// body is refused before it is read).
pub async fn body(req: &Incoming, limit: usize) -> Result<Vec<u8>, ApiError> {
    let too_large = |n: usize| {
        ApiError::new(
            413,
            "body_too_large",
            format!("the body is {n} bytes; the limit is {limit}"),
        )
    };
    if let Some(length) = req.header("Content-Length")
        && let Ok(n) = length.parse::<usize>()
        && n > limit
    {
        return Err(too_large(n));
    }
    let bytes = req
        .bytes()
        .await
        .map_err(|e| ApiError::new(400, "unreadable_body", e))?;
    if bytes.len() > limit {
        return Err(too_large(bytes.len()));
    }
    Ok(bytes)
}

/// Milliseconds, for timings and cache ages. (In a deployed Worker the clock advances only
/// across I/O, so in-isolate compute shows as 0 there; `wrangler dev` shows real time.)
pub fn now_ms() -> f64 {
    js_sys::Date::now()
}
