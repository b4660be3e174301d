//! Logging: `tracing` with an env-filter, pretty or JSON. Spans carry request ids, never
//! emails, names, addresses or codes.

use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, LogSettings};

/// Crates whose debug logs carry data: tokio-postgres logs every statement's parameters
/// (a subject's email, bound for redaction), lettre the SMTP dialogue (recipients), the
/// S3 client and server object keys and paths. They log at `info` at most, whatever the
/// filter asks.
const QUIET: [&str; 7] = [
    "tokio_postgres",
    "lettre",
    "aws_smithy_runtime",
    "aws_sdk_s3",
    "s3s",
    "s3s_fs",
    "hyper_util",
];

/// A filter from `directives`, with [`QUIET`]'s crates held at `info`.
pub fn filter(directives: &str) -> EnvFilter {
    QUIET
        .iter()
        .fold(EnvFilter::new(directives), |filter, target| {
            filter.add_directive(format!("{target}=info").parse().expect("a valid directive"))
        })
}

/// Installs the global subscriber (`RUST_LOG` overrides `log.filter`; see [`filter`]).
/// Safe to call twice.
pub fn init(settings: &LogSettings) {
    let directives = std::env::var("RUST_LOG").unwrap_or_else(|_| settings.filter.clone());
    let filter = filter(&directives);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match settings.format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
}

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
