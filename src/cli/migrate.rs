//! `lethe migrate`: service migrations and the job-queue tables.

use lethe_jobs::queue::Queue;
use secrecy::ExposeSecret;

use crate::config::Settings;

/// Applies pending migrations; idempotent.
pub async fn run(settings: &Settings) -> anyhow::Result<()> {
    let url = settings.database.url.expose_secret();
    let applied = crate::db::migrate(url).await?;
    Queue::connect(url, 2).await?.setup().await?;
    if applied.is_empty() {
        println!("service database is up to date");
    } else {
        for name in applied {
            println!("applied {name}");
        }
    }
    Ok(())
}
