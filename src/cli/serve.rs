//! `lethe serve`: the HTTP API (optionally with job workers in the same process), with the
//! audit sealer and the mail sender in the background.

use std::net::TcpListener;

use anyhow::Context;

use crate::config::Settings;
use crate::startup::{Application, Services, spawn_workers, worker_settings};

/// Options of `serve`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Also run job workers in this process.
    #[arg(long)]
    pub with_workers: bool,
}

/// Serves until SIGINT/SIGTERM; stops workers first, then HTTP.
pub async fn run(settings: Settings, args: Args) -> anyhow::Result<()> {
    settings.require_secret_key()?;
    let services = Services::start(settings).await?;
    let listen = services.settings.server.listen;
    let listener = TcpListener::bind(listen)
        .with_context(|| format!("binding the HTTP server to {listen}"))?;
    // The data map is bound (and refused if unsafe) at start-up even when this process
    // runs no workers, so a bad map never reaches staff.
    let data = services.job_context().await?;
    let app = Application::build(services.app_state()?, listener)?;
    let handle = app.handle();
    let server = tokio::spawn(app.run());
    let background = services.background()?;
    tracing::info!(%listen, "HTTP API listening");
    let workers = if args.with_workers {
        Some(spawn_workers(data, worker_settings(&services.settings)))
    } else {
        None
    };
    crate::cli::shutdown_signal().await?;
    tracing::info!("stopping");
    if let Some((join, stop)) = workers {
        let _ = stop.send(());
        join.await??;
    }
    handle.stop(true).await;
    server.await??;
    background.stop().await;
    Ok(())
}
