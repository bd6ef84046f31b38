//! The edge KV as the core sees it: a small async trait the Worker implements over its KV
//! binding and [`MemoryKv`] implements in memory for native tests.
//!
//! [`MemoryKv`] can also misbehave on purpose, to test what real KV does but local workerd
//! never does: fail every read, fail some keys, or hide keys that were written (a reader in
//! another location sees a pointer before the keys it names: KV is eventually consistent).

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

/// A KV operation that failed (network, outage, limits).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct KvError(pub String);

/// KV's bulk get takes at most 100 keys.
pub const BULK_GET_KEYS: usize = 100;

/// The operations of the edge KV the core uses.
#[allow(async_fn_in_trait)] // single-threaded runtimes (Worker, browser) and tests only
pub trait Kv {
    /// The value of `key` as text; `cache_ttl` (seconds) lets the KV cache it at the edge.
    async fn get_text(&self, key: &str, cache_ttl: Option<u64>) -> Result<Option<String>, KvError>;
    /// The value of `key` as bytes.
    async fn get_bytes(&self, key: &str) -> Result<Option<Vec<u8>>, KvError>;
    /// Up to [`BULK_GET_KEYS`] values at once, keyed by key (absent keys map to `None`).
    async fn get_text_bulk(
        &self,
        keys: &[&str],
        cache_ttl: Option<u64>,
    ) -> Result<HashMap<String, Option<String>>, KvError>;
    /// Stores `value` under `key`, expiring after `ttl` seconds when given.
    async fn put(&self, key: &str, value: &[u8], ttl: Option<u64>) -> Result<(), KvError>;
    /// Deletes `key` (deleting an absent key succeeds).
    async fn delete(&self, key: &str) -> Result<(), KvError>;
}

/// An edge KV in memory, with injectable faults.
#[derive(Debug, Default)]
pub struct MemoryKv {
    values: RefCell<HashMap<String, Vec<u8>>>,
    /// Every read fails.
    pub fail_all: RefCell<bool>,
    /// Reads of keys starting with one of these fail.
    pub fail_prefixes: RefCell<Vec<String>>,
    /// Keys that are written but not yet visible to this reader.
    pub hidden: RefCell<HashSet<String>>,
    /// Reads made, for tests that count round trips.
    pub reads: RefCell<usize>,
    /// Every key read, in order, for tests that check what a request reads.
    pub asked: RefCell<Vec<String>>,
}

impl MemoryKv {
    /// A KV holding `pairs`.
    pub fn with<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let kv = MemoryKv::default();
        for (k, v) in pairs {
            kv.set(k, v.as_bytes());
        }
        kv
    }

    /// Writes a value directly (as a writer elsewhere would, the Cloudflare REST API).
    pub fn set(&self, key: &str, value: &[u8]) {
        self.values
            .borrow_mut()
            .insert(key.to_string(), value.to_vec());
    }

    /// Deletes a value directly.
    pub fn remove(&self, key: &str) {
        self.values.borrow_mut().remove(key);
    }

    /// The stored text of `key`, ignoring faults.
    pub fn peek(&self, key: &str) -> Option<String> {
        self.values
            .borrow()
            .get(key)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }

    fn read(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.asked.borrow_mut().push(key.to_string());
        if *self.fail_all.borrow()
            || self
                .fail_prefixes
                .borrow()
                .iter()
                .any(|p| key.starts_with(p.as_str()))
        {
            return Err(KvError(format!("KV read of {key} failed (injected)")));
        }
        if self.hidden.borrow().contains(key) {
            return Ok(None);
        }
        Ok(self.values.borrow().get(key).cloned())
    }
}

impl Kv for MemoryKv {
    async fn get_text(&self, key: &str, _: Option<u64>) -> Result<Option<String>, KvError> {
        *self.reads.borrow_mut() += 1;
        Ok(self
            .read(key)?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    async fn get_bytes(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        *self.reads.borrow_mut() += 1;
        self.read(key)
    }

    async fn get_text_bulk(
        &self,
        keys: &[&str],
        _: Option<u64>,
    ) -> Result<HashMap<String, Option<String>>, KvError> {
        *self.reads.borrow_mut() += 1;
        if keys.len() > BULK_GET_KEYS {
            return Err(KvError(format!("{} keys in one bulk get", keys.len())));
        }
        keys.iter()
            .map(|k| {
                let value = self
                    .read(k)?
                    .map(|v| String::from_utf8_lossy(&v).into_owned());
                Ok((k.to_string(), value))
            })
            .collect()
    }

    async fn put(&self, key: &str, value: &[u8], _: Option<u64>) -> Result<(), KvError> {
        self.set(key, value);
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), KvError> {
        self.remove(key);
        Ok(())
    }
}
