//! `lethe datamap check`: validate the data map against the live platform schema and
//! report what it does not cover. `lethe datamap discover`: write a starting map from the
//! platform's foreign keys.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use lethe_jobs::datamap::coverage::{Coverage, confirm_soft_links};
use lethe_jobs::datamap::discover::discover_in_schema;
use lethe_jobs::datamap::{BoundMap, Catalog, DataMap, coverage};
use secrecy::ExposeSecret;

use crate::config::Settings;

/// Data map subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Validate the map against the live platform schema and list what it does not cover
    /// (personal-looking columns, foreign keys to the subject, soft links); non-zero exit
    /// on problems.
    Check,
    /// Write a starting map from the foreign keys reachable from the subject table.
    Discover(DiscoverArgs),
}

/// Options of `lethe datamap discover`.
#[derive(Debug, clap::Args)]
pub struct DiscoverArgs {
    /// The table with one row per person.
    #[arg(long, default_value = "users")]
    pub subject_table: String,
    /// Its primary-key column.
    #[arg(long, default_value = "id")]
    pub key: String,
    /// Its email column.
    #[arg(long, default_value = "email")]
    pub email_column: String,
    /// Its username column [default: `username` when the table has one].
    #[arg(long)]
    pub username_column: Option<String>,
    /// PostgreSQL schema of the platform tables.
    #[arg(long, default_value = "public")]
    pub schema: String,
    /// Write the map to this file instead of standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Overwrite the file given with --out if it exists.
    #[arg(long, requires = "out")]
    pub force: bool,
}

/// Runs a data map subcommand.
pub async fn run(settings: &Settings, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Check => check(settings).await,
        Command::Discover(args) => discover(settings, args).await,
    }
}

async fn catalog(settings: &Settings, schema: &str) -> anyhow::Result<Catalog> {
    let platform = lethe_jobs::platform::pool(settings.platform.database_url.expose_secret(), 1)?;
    let mut conn = platform
        .get()
        .await
        .context("connecting to the platform database (platform.database_url)")?;
    Catalog::load(&mut conn, schema).await.with_context(|| {
        format!("reading the catalog of schema `{schema}` of the platform database")
    })
}

async fn check(settings: &Settings) -> anyhow::Result<()> {
    let path = &settings.platform.data_map;
    let text = crate::startup::read_data_map(settings)?;
    let map = DataMap::parse(&text).with_context(|| format!("data map {}", path.display()))?;
    let platform = lethe_jobs::platform::pool(settings.platform.database_url.expose_secret(), 1)?;
    let mut conn = platform
        .get()
        .await
        .context("connecting to the platform database (platform.database_url)")?;
    let catalog = Catalog::load(&mut conn, &map.schema)
        .await
        .with_context(|| {
            format!(
                "reading the catalog of schema `{}` of the platform database",
                map.schema
            )
        })?;
    let mut report = coverage(&map, &catalog);
    confirm_soft_links(&mut conn, &map, &mut report).await;
    let bound = BoundMap::bind(map, &catalog);

    let mut problems: Vec<String> = match &bound {
        // A bound map must also yield a deletion order: no foreign-key cycle left undecided.
        Ok(bound) => match lethe_jobs::purge::plan(bound) {
            Ok(_) => vec![],
            Err(error) => vec![format!("deletion order: {error:#}")],
        },
        Err(problems) => problems.iter().map(ToString::to_string).collect(),
    };
    problems.extend(
        report
            .personal_columns
            .iter()
            .map(|p| format!("uncovered personal column: {p}")),
    );
    problems.extend(
        report
            .foreign_keys
            .iter()
            .map(|l| format!("uncovered subject-linked {l}")),
    );
    // Warnings and suggestions go to standard output; the problems are the error.
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    print_warnings(&mut out, &report)?;
    match bound {
        Ok(bound) if problems.is_empty() => {
            let warnings = report.unfollowed.len() + report.soft_links.len();
            writeln!(
                out,
                "data map {} is valid: subject table `{}`, {} table entries, {} object entries{}",
                path.display(),
                bound.map.subject.table,
                bound.tables.len(),
                bound.map.objects.len(),
                match warnings {
                    0 => String::new(),
                    1 => "; 1 warning above".to_owned(),
                    n => format!("; {n} warnings above"),
                }
            )?;
            Ok(())
        }
        _ => {
            out.flush()?;
            anyhow::bail!(
                "data map {} failed the check with {} problem{}:\n  {}",
                path.display(),
                problems.len(),
                if problems.len() == 1 { "" } else { "s" },
                problems.join("\n  ")
            )
        }
    }
}

fn print_warnings(out: &mut impl Write, report: &Coverage) -> std::io::Result<()> {
    for link in &report.unfollowed {
        writeln!(out, "warning: {link}")?;
    }
    for link in &report.soft_links {
        writeln!(out, "suggestion: {link}")?;
    }
    Ok(())
}

async fn discover(settings: &Settings, args: DiscoverArgs) -> anyhow::Result<()> {
    if let Some(out) = &args.out
        && out.exists()
        && !args.force
    {
        anyhow::bail!(
            "{} already exists; pass --force to overwrite it",
            out.display()
        );
    }
    let catalog = catalog(settings, &args.schema).await?;
    let table = &args.subject_table;
    if catalog.table_names().next().is_none() {
        anyhow::bail!(
            "schema `{}` of the platform database has no tables (--schema)",
            args.schema
        );
    }
    if catalog.columns(table).is_none() {
        anyhow::bail!(
            "table `{table}` does not exist in schema `{}` of the platform database (--subject-table)",
            args.schema
        );
    }
    for (column, flag) in [(&args.key, "--key"), (&args.email_column, "--email-column")] {
        if catalog.column(table, column).is_none() {
            anyhow::bail!("column `{table}.{column}` does not exist ({flag})");
        }
    }
    let username = match &args.username_column {
        Some(column) if catalog.column(table, column).is_none() => {
            anyhow::bail!("column `{table}.{column}` does not exist (--username-column)")
        }
        Some(column) => Some(column.as_str()),
        None => catalog.column(table, "username").map(|_| "username"),
    };
    let text = discover_in_schema(
        &catalog,
        &args.schema,
        table,
        &args.key,
        &args.email_column,
        username,
    );
    // The map must read back; a failure here is a bug in discovery, not in the schema.
    let map = DataMap::parse(&text)
        .context("the discovered map does not parse (a bug in `datamap discover`)")?;
    match &args.out {
        Some(path) => {
            std::fs::write(path, &text).with_context(|| format!("writing {}", path.display()))?;
            let todos = text
                .lines()
                .filter(|l| !l.trim_start().starts_with('#') && l.contains("TODO"))
                .count();
            println!(
                "wrote a data map with {} table entries to {}; {} line{} with a TODO to fill in, then run `lethe datamap check`",
                map.tables.len(),
                path.display(),
                todos,
                if todos == 1 { "" } else { "s" }
            );
        }
        None => {
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            out.write_all(text.as_bytes())?;
            out.flush()?;
        }
    }
    Ok(())
}
