//! The service database: pool and embedded migrations.

use anyhow::Context;
use diesel::Connection;
use diesel_async::AsyncPgConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::pooled_connection::deadpool::Pool;
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

/// A pool of service-database connections.
pub type DbPool = Pool<AsyncPgConnection>;

/// The service migrations, embedded in the binary.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// Builds a pool (connections open lazily). A connection is handed out again without a
/// test query (`RecyclingMethod::Fast`: one round trip less per checkout); one the
/// server closed is known as broken and replaced.
pub fn pool(url: &str, max_size: usize) -> anyhow::Result<DbPool> {
    let mut config = ManagerConfig::default();
    config.recycling_method = RecyclingMethod::Fast;
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(url, config);
    Ok(Pool::builder(manager).max_size(max_size).build()?)
}

/// Applies pending migrations on a thread of its own (diesel's migration harness is
/// synchronous); returns the names of those applied.
pub async fn migrate(url: &str) -> anyhow::Result<Vec<String>> {
    let url = url.to_owned();
    let applied = std::thread::spawn(move || -> anyhow::Result<Vec<String>> {
        let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::establish(&url)
            .context("connecting to the service database")?;
        let applied = conn
            .run_pending_migrations(MIGRATIONS)
            .map_err(|e| anyhow::anyhow!("migrating: {e}"))?;
        Ok(applied.iter().map(ToString::to_string).collect())
    })
    .join()
    .map_err(|_| anyhow::anyhow!("the migration thread panicked"))??;
    Ok(applied)
}

/// Creates database `name` on the server at `admin_url` unless it exists.
pub async fn create_database_if_missing(admin_url: &str, name: &str) -> anyhow::Result<bool> {
    use diesel::sql_types::{Bool, Text};
    use diesel_async::{RunQueryDsl, SimpleAsyncConnection};
    #[derive(diesel::QueryableByName)]
    struct Exists {
        #[diesel(sql_type = Bool)]
        exists: bool,
    }
    let mut conn = <AsyncPgConnection as diesel_async::AsyncConnection>::establish(admin_url)
        .await
        .context("connecting to the PostgreSQL server")?;
    let found: Exists =
        diesel::sql_query("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS exists")
            .bind::<Text, _>(name)
            .get_result(&mut conn)
            .await?;
    if found.exists {
        return Ok(false);
    }
    conn.batch_execute(&format!(
        "CREATE DATABASE {}",
        lethe_jobs::datamap::catalog::ident(name)
    ))
    .await
    .with_context(|| format!("creating database {name}"))?;
    Ok(true)
}

/// Splits a PostgreSQL URL into (URL of the `postgres` maintenance database, database name).
pub fn admin_url_and_name(url: &str) -> anyhow::Result<(String, String)> {
    let mut parsed = url::Url::parse(url).context("database URL does not parse")?;
    let name = parsed.path().trim_start_matches('/').to_owned();
    anyhow::ensure!(!name.is_empty(), "database URL names no database");
    parsed.set_path("/postgres");
    Ok((parsed.to_string(), name))
}
