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

/// A filter from `directives`, with [`QUIET`]'s crates held at `info`: directives naming
/// them (or their modules) are dropped, so none can turn their debug logs on.
pub fn filter(directives: &str) -> EnvFilter {
    let kept: Vec<&str> = directives
        .split(',')
        .filter(|d| {
            let target = d.trim().split(['=', '[']).next().unwrap_or("");
            !QUIET
                .iter()
                .any(|q| target == *q || target.starts_with(&format!("{q}::")))
        })
        .collect();
    QUIET
        .iter()
        .fold(EnvFilter::new(kept.join(",")), |filter, target| {
            filter.add_directive(format!("{target}=info").parse().expect("a valid directive"))
        })
}

/// Installs the global subscriber (`RUST_LOG` overrides `log.filter`; see [`filter`]).
/// Safe to call twice.
pub fn init(settings: &LogSettings) {
    let directives = std::env::var("RUST_LOG").unwrap_or_else(|_| settings.filter.clone());
    let filter = filter(&directives);
    // Colours only on a terminal: logs written to files or pipes stay plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let _ = match settings.format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
}

pub use lethe_jobs::loggable;

#[cfg(test)]
mod tests {
    #[test]
    fn no_directive_turns_the_quiet_crates_debug_logs_on() {
        let filter = super::filter("debug,tokio_postgres::query=debug,lettre=trace,myapp=debug");
        let text = filter.to_string();
        assert!(!text.contains("tokio_postgres::query"), "{text}");
        assert!(!text.contains("lettre=trace"), "{text}");
        assert!(text.contains("tokio_postgres=info"), "{text}");
        assert!(text.contains("myapp=debug"), "{text}");
    }
}
