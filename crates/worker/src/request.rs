//! The incoming request, read through `web_sys` directly. workers-rs's `Request` reads the
//! request's `cf` object when it is built, which the runtime parses for every request (4 % of
//! the Worker's CPU under load, `bench/profile.sh`) and which nothing here needs.

use wasm_bindgen_futures::JsFuture;
use worker::Method;

/// A request's method, path, headers and body.
pub struct Incoming {
    raw: web_sys::Request,
    method: Method,
    path: String,
}

impl Incoming {
    pub fn new(raw: web_sys::Request) -> Self {
        let method = Method::from(raw.method());
        let path = path_of(&raw.url());
        Self { raw, method, path }
    }

    pub fn method(&self) -> Method {
        self.method.clone()
    }

    /// The URL's path, without its query.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// A header's value; `None` when absent (or not valid as a header value).
    pub fn header(&self, name: &str) -> Option<String> {
        self.raw.headers().get(name).ok().flatten()
    }

    /// The whole body (read once).
    pub async fn bytes(&self) -> Result<Vec<u8>, String> {
        let unreadable = |e: wasm_bindgen::JsValue| {
            e.as_string()
                .unwrap_or_else(|| "the request's body could not be read".into())
        };
        let buffer = JsFuture::from(self.raw.array_buffer().map_err(unreadable)?)
            .await
            .map_err(unreadable)?;
        Ok(js_sys::Uint8Array::new(&buffer).to_vec())
    }
}

/// The path of a URL as the runtime serialises it (WHATWG): after the scheme and host, up to
/// the query or fragment (which a serialised path never holds unescaped).
fn path_of(url: &str) -> String {
    let after_host = url.find("://").map_or(0, |i| i + 3);
    match url[after_host..].find('/') {
        Some(i) => {
            let path = &url[after_host + i..];
            path[..path.find(['?', '#']).unwrap_or(path.len())].to_string()
        }
        None => "/".to_string(),
    }
}
