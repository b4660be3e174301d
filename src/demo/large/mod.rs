//! The large demo platform: a generated, deliberately messy production schema of a
//! community AI-art site (Prisma-style quoted PascalCase tables with camelCase columns,
//! mixed with legacy snake_case tables), a deterministic seeder that puts real bytes
//! behind every object key, and an independent answer key that says what a correct purge
//! of one person must do.
//!
//! Hazards on purpose: ~230 foreign keys into `"User"` (CASCADE, SET NULL, RESTRICT,
//! NO ACTION; several tables with two or three), composite keys (into `"User"` and
//! between other tables), ~20 soft links, CHECK constraints on reviewer columns, UNIQUE
//! link columns on retained tables, retained tables whose keys CASCADE, counter
//! triggers, trees and revision chains, a SET NULL cycle (`Image.modelId` ↔
//! `Model.previewImageId`), personal data in JSON and in other people's text, and
//! objects named by bare keys, URLs, key templates and the user row itself.
//!
//! Use: [`install_and_seed`] on an empty database, [`data_map`] as the data map (or
//! [`DECISIONS`] on top of a discovered one), [`answer_key`] (or [`check::Snapshot`])
//! to check a purge.

mod answer;
pub mod check;
mod core;
#[cfg(test)]
mod db_tests;
mod decisions;
mod model;
mod modules;
mod money;
mod objects;
#[cfg(test)]
mod reference;
mod rng;
mod schema;
mod seed;
mod seed_accounts;
mod seed_comments;
mod seed_content;
mod seed_messaging;
mod seed_moderation;
mod seed_module_records;
mod seed_modules;
mod seed_money;
mod seed_publishing;
mod social;
#[cfg(test)]
mod tests;

pub use answer::{
    AnswerKey, BucketObjects, KeptRows, SUBJECT, SubjectNames, TableKey, identity_match,
};
pub use decisions::{DECISIONS, decided_map};

use anyhow::Context;
use diesel::QueryableByName;
use diesel::sql_types::Bool;
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use lethe_jobs::storage::Storage;

/// Bucket of images (bare keys in `"Image"."storageKey"`).
pub const IMAGES: &str = "large-images";
/// Bucket of model files (`{modelVersionId}/{userId}/{name}`).
pub const MODELS: &str = "large-models";
/// Bucket of avatars (`avatars/{id}/…`) and profile banners (URLs).
pub const AVATARS: &str = "large-avatars";
/// Bucket of other files: article covers, chat attachments, module assets, invoices.
pub const FILES: &str = "large-files";
/// Every bucket of the large platform.
pub const BUCKETS: &[&str] = &[IMAGES, MODELS, AVATARS, FILES];
/// Key of the "deleted user" placeholder row.
pub const PLACEHOLDER_ID: i64 = 0;
/// `LIKE` pattern matching the tombstone emails of [`DECISIONS`].
pub const TOMBSTONE_EMAIL_LIKE: &str = "deleted-%@tombstone.invalid";

/// How much to seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LargeOptions {
    /// Ordinary users (skewed activity).
    pub users: u32,
    /// Heavy subjects (very active users, for purge tests and benchmarks).
    pub heavy_subjects: u32,
    /// Approximate rows each heavy subject owns, spread over 50+ tables.
    pub heavy_rows: u64,
    /// Approximate objects each heavy subject owns.
    pub heavy_objects: u32,
    /// Seed of the pseudo-random generator; the same options give the same data.
    pub seed: u64,
}

impl Default for LargeOptions {
    /// The test size: seeds in a few seconds.
    fn default() -> Self {
        Self {
            users: 60,
            heavy_subjects: 2,
            heavy_rows: 3000,
            heavy_objects: 40,
            seed: 42,
        }
    }
}

/// What seeding made.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LargeSeed {
    /// The heavy subjects' ids.
    pub heavy: Vec<i64>,
    /// Tables in the schema.
    pub tables: usize,
    /// Rows across all tables.
    pub rows: i64,
    /// Objects put into the buckets.
    pub objects: usize,
}

/// The schema as SQL (tables, indexes, foreign keys, trigger functions, triggers).
pub fn schema_sql() -> String {
    schema::render(&schema::tables())
}

/// The answer key for the intended decisions ([`DECISIONS`]).
pub fn answer_key() -> AnswerKey {
    answer::derive(&schema::tables())
}

/// A complete data map: `version = 2`, `schema = "public"` and [`DECISIONS`].
pub fn data_map() -> String {
    format!("version = 2\nschema = \"public\"\n\n{DECISIONS}")
}

#[derive(QueryableByName)]
struct Flag {
    #[diesel(sql_type = Bool)]
    flag: bool,
}

/// Whether the large platform's schema is installed.
pub async fn has_schema(conn: &mut AsyncPgConnection) -> anyhow::Result<bool> {
    let f: Flag =
        diesel::sql_query("SELECT to_regclass('public.\"ModelVersion\"') IS NOT NULL AS flag")
            .get_result(conn)
            .await?;
    Ok(f.flag)
}

/// Runs the seed statements in one transaction (rolled back on error), then analyzes.
async fn insert_rows(
    conn: &mut AsyncPgConnection,
    statements: &[String],
    tables: &[model::Table],
) -> anyhow::Result<()> {
    conn.batch_execute("BEGIN; SET LOCAL synchronous_commit = off;")
        .await?;
    for statement in statements {
        if let Err(error) = conn.batch_execute(statement).await {
            let _ = conn.batch_execute("ROLLBACK").await;
            let head: String = statement.chars().take(120).collect();
            return Err(error).with_context(|| format!("seeding the large platform: {head}"));
        }
    }
    conn.batch_execute(&seed::reset_sequences(tables)).await?;
    conn.batch_execute("COMMIT").await?;
    conn.batch_execute("ANALYZE").await?;
    Ok(())
}

/// Installs the schema on an empty database, seeds it (deterministic for
/// `options.seed`) and puts real bytes behind every object key.
pub async fn install_and_seed(
    conn: &mut AsyncPgConnection,
    storage: &Storage,
    options: &LargeOptions,
) -> anyhow::Result<LargeSeed> {
    anyhow::ensure!(
        options.users >= 10,
        "the large platform needs at least 10 users"
    );
    let tables = schema::tables();
    if let Err(error) = conn
        .batch_execute(&format!("BEGIN;\n{}\nCOMMIT;", schema::render(&tables)))
        .await
    {
        let _ = conn.batch_execute("ROLLBACK").await;
        return Err(error).context("installing the large platform schema");
    }
    let plan = seed::generate(options);
    // Objects do not depend on rows: upload them while the rows go in.
    let (inserted, objects) = tokio::join!(
        insert_rows(conn, &plan.statements, &tables),
        objects::put(storage, &plan.objects)
    );
    inserted?;
    let objects = objects.context("uploading the large platform's objects")?;
    let rows = plan.stats.values().map(|(rows, _)| rows).sum();
    Ok(LargeSeed {
        heavy: plan.heavy,
        tables: tables.len(),
        rows,
        objects,
    })
}
