//! `lethe work`: job workers, with the audit sealer and the mail sender in the background.
//! Run as many as needed against one service database.

use crate::config::Settings;
use crate::startup::{Services, worker_settings};

/// Options of `work`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Jobs run at once (overrides worker.concurrency).
    #[arg(long)]
    pub concurrency: Option<usize>,
}

/// Runs workers until SIGINT/SIGTERM, then lets running jobs finish.
pub async fn run(mut settings: Settings, args: Args) -> anyhow::Result<()> {
    settings.require_secret_key()?;
    if let Some(n) = args.concurrency {
        settings.worker.concurrency = n;
    }
    let services = Services::start(settings).await?;
    let ctx = services.job_context().await?;
    tracing::info!(
        concurrency = services.settings.worker.concurrency,
        "workers running"
    );
    let background = services.background()?;
    let outcome = lethe_jobs::jobs::run(
        ctx,
        worker_settings(&services.settings),
        crate::cli::shutdown_signal(),
    )
    .await;
    background.stop().await;
    outcome
}
