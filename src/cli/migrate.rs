//! `lethe migrate`: the service database (created if missing), its migrations and the
//! job-queue tables.

use lethe_jobs::queue::Queue;
use secrecy::ExposeSecret;

use crate::config::Settings;

/// Creates the service database when it is missing (and the server lets this user),
/// then applies pending migrations; idempotent.
pub async fn run(settings: &Settings) -> anyhow::Result<()> {
    let url = settings.database.url.expose_secret();
    let (admin, name) = crate::db::admin_url_and_name(url)?;
    if crate::db::create_database_if_missing(&admin, &name).await? {
        println!("created database {name}");
    }
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
