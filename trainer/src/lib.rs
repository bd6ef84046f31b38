//! # resonance-trainer
//!
//! The native half of Resonance, as a library behind the `trainer` command:
//!
//! - [`synth`]: a seeded, realistic synthetic music world (catalogue and listening events);
//! - [`data`]: reading, validating and writing datasets (`catalogue.csv`, `events.csv`),
//!   including foreign CSV and RecBole atomic files (MovieLens);
//! - [`sasrec`]: training, evaluating and exporting SASRec; [`artifact`] reads an export back;
//! - [`features`]: the feature views, computed as of an instant;
//! - [`interest`]: listeners' interest graphs, from an LLM or the offline builder;
//! - [`candidates`]: sample listeners and candidate lists (the demo, `trainer rerank`);
//! - [`store`]: the feature store in Redis (versioned, switched atomically);
//! - [`kv_rest`]: the Cloudflare KV REST API as a mirror sink;
//! - [`edge_sink`]: writing to a Worker's KV through its admin API;
//! - [`commands`]: the subcommands' flags and thin `run` functions.

pub mod artifact;
pub mod candidates;
pub mod commands;
pub mod data;
pub mod edge_sink;
pub mod failpoint;
pub mod features;
pub mod interest;
pub mod kv_rest;
pub mod publish;
pub mod sasrec;
pub mod store;
pub mod synth;
