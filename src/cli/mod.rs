//! The `lethe` command line: one module per subcommand.

pub mod audit;
pub mod bench;
mod bench_app;
mod bench_console;
mod bench_export;
mod bench_intake;
mod bench_large;
mod bench_prepare;
mod bench_purge;
mod bench_queue;
mod bench_queue_run;
mod bench_request;
mod bench_scale;
mod bench_unsubscribe;
pub mod datamap;
pub mod demo;
pub mod migrate;
pub mod serve;
pub mod staff;
mod unsubscribe;
pub mod work;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::Settings;

/// Lethe: data-subject requests (access, deletion, unsubscribe, child-data reports,
/// likeness removal) for a community platform, done provably.
#[derive(Debug, Parser)]
#[command(name = "lethe", version, about)]
pub struct Cli {
    /// Configuration file layered over the defaults (then LETHE__SECTION__KEY variables).
    #[arg(long, env = "LETHE_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API.
    Serve(serve::Args),
    /// Run job workers (any number of these may share one database).
    Work(work::Args),
    /// Apply the service database migrations and create the job-queue tables.
    Migrate,
    /// Everything in one process on the embedded defaults, with a seeded demo platform.
    Demo(demo::Args),
    /// Data map tools.
    #[command(subcommand)]
    Datamap(datamap::Command),
    /// Audit log tools.
    #[command(subcommand)]
    Audit(audit::Command),
    /// Staff accounts and API tokens.
    #[command(subcommand)]
    Staff(staff::Command),
    /// Unsubscribe links.
    #[command(subcommand)]
    Unsubscribe(unsubscribe::Command),
    /// Benchmarks.
    Bench(bench::Args),
}

impl Cli {
    /// Runs the chosen subcommand.
    pub async fn run(self) -> anyhow::Result<()> {
        let settings = Settings::load(self.config.as_deref())?;
        crate::telemetry::init(&settings.log);
        match self.command {
            Command::Serve(args) => serve::run(settings, args).await,
            Command::Work(args) => work::run(settings, args).await,
            Command::Migrate => migrate::run(&settings).await,
            Command::Demo(args) => demo::run(settings, args).await,
            Command::Datamap(command) => datamap::run(&settings, command).await,
            Command::Audit(command) => audit::run(&settings, command).await,
            Command::Staff(command) => staff::run(&settings, command).await,
            Command::Unsubscribe(command) => unsubscribe::run(&settings, command),
            Command::Bench(args) => bench::run(settings, args, self.config).await,
        }
    }
}

/// Resolves when the process is asked to stop (Ctrl-C or SIGTERM).
pub async fn shutdown_signal() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result,
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await
    }
}
