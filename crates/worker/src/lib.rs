//! The Resonance Worker: the HTTP API of DESIGN.md over the rerank core of `resonance-edge`.
//!
//! ```text
//! POST /v1/rerank                 rerank a user's candidates (JSON in, JSON out)
//! GET  /health                    model and feature versions, loaded or not, and why not
//! POST /admin/kv/bulk             bulk KV write, Cloudflare's REST wire format (bearer token)
//! PUT  /admin/model/current       verify a published model, then make it live (bearer token)
//! PUT  /admin/features/current    make a complete feature version live (bearer token)
//! ```
//!
//! Handlers are thin: parsing, validation and ranking live in `resonance-edge` and
//! `resonance-shared`, tested natively. What is here is I/O: KV reads (bulk, concurrent,
//! cached per isolate), the model's lazy load and swap, and HTTP plumbing.

#[cfg(target_arch = "wasm32")]
mod handlers;
#[cfg(target_arch = "wasm32")]
mod http;
#[cfg(target_arch = "wasm32")]
mod isolate;
#[cfg(target_arch = "wasm32")]
mod kv_source;

#[cfg(target_arch = "wasm32")]
#[worker::event(fetch)]
async fn fetch(
    req: worker::Request,
    env: worker::Env,
    _ctx: worker::Context,
) -> worker::Result<worker::Response> {
    handlers::route(req, env).await
}
