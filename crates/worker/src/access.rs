//! The Worker's side of `resonance-access`: the configuration read once per isolate from
//! the secrets and vars, and the rate limits through Cloudflare's rate-limiting bindings.

use std::rc::Rc;

use resonance_access::{Access, Caller};
use resonance_shared::api::ApiError;
use worker::{Env, console_log};

use crate::request::Incoming;

/// Counts requests per client address (`CF-Connecting-IP`).
pub const CLIENT_LIMITER: &str = "CLIENT_LIMITER";
/// Counts requests per listener (the verified token's `sub`).
pub const LISTENER_LIMITER: &str = "LISTENER_LIMITER";
/// `Retry-After` of a 429: the bindings' period (wrangler.toml's `[[ratelimits]]`, 60 s, the
/// longest Cloudflare allows), so waiting it always reaches a fresh window.
pub const RETRY_AFTER_S: u32 = 60;

thread_local! {
    // Secrets and vars are fixed for an isolate's life (a new value deploys a new isolate).
    static ACCESS: std::cell::OnceCell<Rc<Access>> = const { std::cell::OnceCell::new() };
}

/// This isolate's access configuration.
pub fn access(env: &Env) -> Rc<Access> {
    ACCESS.with(|cell| {
        cell.get_or_init(|| {
            Rc::new(Access::from_env(|name| {
                env.secret(name)
                    .map(|s| s.to_string())
                    .or_else(|_| env.var(name).map(|v| v.to_string()))
                    .ok()
            }))
        })
        .clone()
    })
}

/// Everything `/health` reports about access: the configuration's problems and missing
/// rate-limiting bindings.
pub fn problems(env: &Env) -> Vec<String> {
    let mut problems = access(env).problems();
    for name in [CLIENT_LIMITER, LISTENER_LIMITER] {
        if let Err(e) = env.rate_limiter(name) {
            problems.push(format!(
                "no {name} rate-limiting binding ({e}): requests are not rate-limited"
            ));
        }
    }
    problems
}

/// The request's `Authorization` header.
pub fn authorization(req: &Incoming) -> Option<String> {
    req.header("Authorization")
}

/// Who is asking about a listener (the token checked at the current time).
pub fn caller(req: &Incoming, env: &Env) -> Result<Caller, ApiError> {
    let now_s = (js_sys::Date::now() / 1000.0).floor() as i64;
    access(env).caller(authorization(req).as_deref(), now_s)
}

/// Applies the rate limits a request from `caller` counts against: the client address and the
/// listener for listener tokens (and anonymous reads of the model); none for the service,
/// whose backend sits behind few addresses and is trusted. 429 `rate_limited` when over.
/// A limiter that is missing or fails lets the request through (logged; `/health` says so).
pub async fn limit(req: &Incoming, env: &Env, caller: Option<&Caller>) -> Result<(), ApiError> {
    if caller == Some(&Caller::Service) {
        return Ok(());
    }
    let address = req
        .header("CF-Connecting-IP")
        .unwrap_or_else(|| "unknown".into());
    let mut checks = vec![(CLIENT_LIMITER, format!("address:{address}"))];
    if let Some(Caller::Listener(sub)) = caller {
        checks.push((LISTENER_LIMITER, format!("listener:{sub}")));
    }
    let outcomes = futures_util::future::join_all(checks.iter().map(|(binding, key)| async move {
        match env.rate_limiter(binding) {
            Ok(limiter) => limiter.limit(key.clone()).await.map(|o| o.success),
            Err(e) => Err(e),
        }
    }))
    .await;
    for ((binding, _), outcome) in checks.iter().zip(outcomes) {
        match outcome {
            Ok(true) => {}
            Ok(false) => {
                let whom = if *binding == CLIENT_LIMITER {
                    "this address"
                } else {
                    "this listener"
                };
                return Err(ApiError::new(
                    429,
                    "rate_limited",
                    format!("too many requests from {whom}; retry after {RETRY_AFTER_S} s"),
                ));
            }
            Err(e) => console_log!("rate limiter {binding} unavailable, request let through: {e}"),
        }
    }
    Ok(())
}
