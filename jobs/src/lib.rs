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
pub mod likeness;
pub mod observe;
pub mod platform;
pub mod purge;
pub mod queue;
pub mod s3server;
pub mod storage;

/// An error as it may be logged: its chain of causes, with every database error reduced
/// to its kind, table and constraint. A database's message can quote the values of a row
/// (`invalid input syntax …: "ada@…"`, a trigger's `RAISE`), so it never reaches a log.
pub fn loggable(error: &anyhow::Error) -> String {
    error
        .chain()
        .map(
            |cause| match cause.downcast_ref::<diesel::result::Error>() {
                Some(diesel::result::Error::DatabaseError(kind, info)) => format!(
                    "database error {kind:?}{}{}",
                    info.table_name()
                        .map(|t| format!(" on table {t}"))
                        .unwrap_or_default(),
                    info.constraint_name()
                        .map(|c| format!(" (constraint {c})"))
                        .unwrap_or_default(),
                ),
                _ => cause.to_string(),
            },
        )
        .collect::<Vec<_>>()
        .join(": ")
}
