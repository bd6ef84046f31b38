//! # resonance-trainer
//!
//! The native half of Resonance, as a library behind the `trainer` command:
//!
//! - [`synth`]: a seeded, realistic synthetic music world (catalogue and listening events);
//! - [`data`]: reading, validating and writing datasets (`catalogue.csv`, `events.csv`),
//!   including foreign CSV and RecBole atomic files (MovieLens);
//! - [`commands`]: the subcommands' flags and thin `run` functions.
//!
//! Later parts (training SASRec, export, the feature store, interest graphs) join as modules
//! of their own.

pub mod commands;
pub mod data;
pub mod publish;
pub mod sasrec;
pub mod synth;
