//! Lethe's data plane: the data map, locating and exporting (and, later, purging) a data
//! subject's data across the platform database and object storage, and the apalis jobs
//! that run that work durably.
//!
//! The control plane (the `lethe` crate: HTTP API, request lifecycle, audit, mail)
//! depends on this crate and never the other way round; jobs report back through the
//! [`lifecycle::Lifecycle`] trait the control plane implements.

pub mod datamap;
pub mod export;
mod export_index;
pub mod jobs;
pub mod lifecycle;
pub mod platform;
pub mod purge;
pub mod queue;
pub mod s3server;
pub mod storage;
