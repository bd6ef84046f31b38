//! The thin adapter: the Worker's KV binding as the core's [`Kv`].

use std::collections::HashMap;

use resonance_edge::kv::{Kv, KvError};
use worker::kv::KvStore;

/// The KV binding holding features and models.
pub const KV_BINDING: &str = "FEATURES";

/// The binding, as the core reads and writes it.
pub struct WorkerKv(pub KvStore);

fn failed(e: impl std::fmt::Display) -> KvError {
    KvError(e.to_string())
}

impl Kv for WorkerKv {
    async fn get_text(&self, key: &str, cache_ttl: Option<u64>) -> Result<Option<String>, KvError> {
        let get = self.0.get(key);
        let get = match cache_ttl {
            Some(ttl) => get.cache_ttl(ttl),
            None => get,
        };
        get.text().await.map_err(failed)
    }

    async fn get_bytes(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.0.get(key).bytes().await.map_err(failed)
    }

    async fn get_text_bulk(
        &self,
        keys: &[&str],
        cache_ttl: Option<u64>,
    ) -> Result<HashMap<String, Option<String>>, KvError> {
        let get = self.0.get_bulk(keys);
        let get = match cache_ttl {
            Some(ttl) => get.cache_ttl(ttl),
            None => get,
        };
        get.text().await.map_err(failed)
    }

    async fn put(&self, key: &str, value: &[u8], ttl: Option<u64>) -> Result<(), KvError> {
        let put = self.0.put_bytes(key, value).map_err(failed)?;
        let put = match ttl {
            Some(ttl) => put.expiration_ttl(ttl),
            None => put,
        };
        put.execute().await.map_err(failed)
    }

    async fn delete(&self, key: &str) -> Result<(), KvError> {
        self.0.delete(key).await.map_err(failed)
    }
}
