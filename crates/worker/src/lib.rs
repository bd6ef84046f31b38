//! The Resonance Worker: the HTTP API of `docs/DESIGN.md` over the rerank core of `resonance-edge`.
//!
//! ```text
//! POST /v1/rerank                 rerank a user's candidates (service or listener token)
//! POST /v1/features               what one rerank reads, for the browser module (same tokens)
//! GET  /v1/model                  the live ONNX graph (X-Model-Version, X-Model-Mix, ETag)
//! GET  /health                    model and feature versions, loaded or not, and why not
//! POST /admin/kv/bulk             bulk KV write, Cloudflare's REST wire format (bearer token)
//! POST /admin/kv/bulk/delete      bulk delete (`trainer forget`, the mirror's clean-up)
//! PUT  /admin/model/staged        verify a published model and keep it loaded (bearer token)
//! PUT  /admin/features/current    make a complete feature version live with the model its
//!                                 meta names, both verified first (bearer token)
//! ```
//!
//! The workers-rs template's shape: the fetch event, one route table (`handlers`), the HTTP
//! mapping of the core's errors (`http`, `handlers::to_http`), the access configuration and
//! rate-limiting bindings (`access`, over `resonance-access`), a thin KV adapter (`kv`) and the
//! incoming request (`request`).
//! Everything else (parsing, validation, the isolate's pointers and caches, model loads and
//! switches, ranking) lives in `resonance-edge` and `resonance-shared`, tested natively.

#[cfg(target_arch = "wasm32")]
mod access;
#[cfg(target_arch = "wasm32")]
mod handlers;
#[cfg(target_arch = "wasm32")]
mod http;
#[cfg(target_arch = "wasm32")]
mod kv;
#[cfg(target_arch = "wasm32")]
mod request;

/// At instantiation: the static constructors, once (see the function for why not per call).
#[cfg(target_arch = "wasm32")]
#[worker::event(start)]
fn start() {
    resonance_edge::run_static_constructors();
}

#[cfg(target_arch = "wasm32")]
#[worker::event(fetch)]
async fn fetch(
    req: web_sys::Request,
    env: worker::Env,
    ctx: worker::Context,
) -> worker::Result<worker::Response> {
    let response = handlers::route(request::Incoming::new(req), env.clone()).await;
    if handlers::model_pending() {
        ctx.wait_until(handlers::prepare_model(env));
    }
    response
}
