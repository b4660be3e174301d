//! Lethe's control plane: the HTTP API, the request lifecycle, the audit log, mail, and
//! the CLI's subcommands. The data plane (data map, locate/export, jobs) is the
//! `lethe-jobs` crate in `jobs/`, which this crate depends on.
//!
//! A map of the code is in `AGENTS.md`.

pub mod assertion;
pub mod audit;
pub mod background;
pub mod cli;
pub mod config;
pub mod db;
pub mod deadlines;
pub mod demo;
pub mod domain;
pub mod error;
pub mod lifecycle;
pub mod mail;
pub mod metrics;
pub mod models;
pub mod outbox;
pub mod private_pg;
pub mod ratelimit;
pub mod routes;
pub mod schema;
pub mod secrets;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod unsubscribe;
pub mod web;
