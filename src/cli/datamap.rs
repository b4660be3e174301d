//! `lethe datamap check`: whether the data map is safe to run on the live platform.
//! `lethe datamap discover`: a complete version 2 map for the platform schema, with every
//! open decision marked `TODO`. `lethe datamap convert`: a version 1 map as version 2.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use diesel_async::AsyncPgConnection;
use lethe_jobs::datamap::convert::convert;
use lethe_jobs::datamap::coverage::{Report, check as check_map};
use lethe_jobs::datamap::discover::{discover as discover_map, guess_subject};
use lethe_jobs::datamap::{BoundMap, Catalog, DataMap};
use lethe_jobs::platform::PlatformPool;
use secrecy::ExposeSecret;

use crate::config::Settings;

/// Data map subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Check the map against the live platform: every link decided, every kept row's free
    /// text covered, every bucket named. Non-zero exit on problems; warnings are printed.
    Check,
    /// Write a complete version 2 map for the platform schema; open decisions are `TODO`.
    Discover(DiscoverArgs),
    /// Convert a version 1 map into an equivalent version 2 map.
    Convert(ConvertArgs),
}

/// Options of `lethe datamap discover`.
#[derive(Debug, clap::Args)]
pub struct DiscoverArgs {
    /// The table with one row per person [default: the table with an email column that
    /// most foreign keys point at].
    #[arg(long)]
    pub subject_table: Option<String>,
    /// Its key column [default: its one-column primary key].
    #[arg(long)]
    pub key: Option<String>,
    /// Its email column [default: the column named `email` in any style].
    #[arg(long)]
    pub email_column: Option<String>,
    /// Its username column [default: `username`, `userName`, `handle` if present].
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

/// Options of `lethe datamap convert`.
#[derive(Debug, clap::Args)]
pub struct ConvertArgs {
    /// The version 1 map.
    #[arg(long = "in", value_name = "FILE")]
    pub input: PathBuf,
    /// Where to write the version 2 map.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Overwrite --out if it exists.
    #[arg(long)]
    pub force: bool,
}

/// Runs a data map subcommand.
pub async fn run(settings: &Settings, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Check => check(settings).await,
        Command::Discover(args) => discover(settings, args).await,
        Command::Convert(args) => convert_file(settings, args).await,
    }
}

fn platform(settings: &Settings) -> anyhow::Result<PlatformPool> {
    lethe_jobs::platform::pool(settings.platform.database_url.expose_secret(), 1)
}

async fn load_catalog(conn: &mut AsyncPgConnection, schema: &str) -> anyhow::Result<Catalog> {
    Catalog::load(conn, schema).await.with_context(|| {
        format!("reading the catalog of schema `{schema}` of the platform database")
    })
}

fn refuse_existing(path: &Path, force: bool) -> anyhow::Result<()> {
    if path.exists() && !force {
        anyhow::bail!(
            "{} already exists; pass --force to overwrite it",
            path.display()
        );
    }
    Ok(())
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

async fn check(settings: &Settings) -> anyhow::Result<()> {
    let path = &settings.platform.data_map;
    let text = crate::startup::read_data_map(settings)?;
    let map = DataMap::parse(&text).with_context(|| format!("data map {}", path.display()))?;
    let platform = platform(settings)?;
    let mut conn = platform
        .get()
        .await
        .context("connecting to the platform database (platform.database_url)")?;
    let report: Report = check_map(&mut conn, &map).await.with_context(|| {
        format!(
            "checking the data map {} against the platform database",
            path.display()
        )
    })?;
    // Warnings go to standard output; the problems are the error.
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for w in &report.warnings {
        writeln!(out, "warning: {w}")?;
    }
    for (table, why) in &report.unsampled {
        writeln!(out, "warning: table `{table}` could not be sampled: {why}")?;
    }
    if !report.is_safe() {
        out.flush()?;
        let lines: Vec<String> = report.problems.iter().map(ToString::to_string).collect();
        anyhow::bail!(
            "data map {} is not safe: {}:\n  {}",
            path.display(),
            plural(lines.len(), "problem", "problems"),
            lines.join("\n  ")
        );
    }
    let s = report.summary;
    let warnings = report.warnings.len() + report.unsampled.len();
    writeln!(
        out,
        "data map {} is safe: {} reached ({} deleted, {} with kept rows), {} decided, {}{}",
        path.display(),
        plural(s.reached, "table", "tables"),
        s.deleted,
        s.kept,
        plural(s.links, "link", "links"),
        plural(s.objects, "object entry", "object entries"),
        match warnings {
            0 => String::new(),
            n => format!("; {} above", plural(n, "warning", "warnings")),
        }
    )?;
    Ok(())
}

async fn discover(settings: &Settings, args: DiscoverArgs) -> anyhow::Result<()> {
    if let Some(out) = &args.out {
        refuse_existing(out, args.force)?;
    }
    let platform = platform(settings)?;
    let mut conn = platform
        .get()
        .await
        .context("connecting to the platform database (platform.database_url)")?;
    let catalog = load_catalog(&mut conn, &args.schema).await?;
    if catalog.table_names().is_empty() {
        anyhow::bail!(
            "schema `{}` of the platform database has no tables (--schema)",
            args.schema
        );
    }
    let subject = guess_subject(
        &catalog,
        args.subject_table.as_deref(),
        args.key.as_deref(),
        args.email_column.as_deref(),
        args.username_column.as_deref(),
    )
    .map_err(|e| {
        anyhow::anyhow!("{e} (--subject-table, --key, --email-column, --username-column)")
    })?;
    let found = discover_map(&mut conn, &catalog, &args.schema, &subject).await;
    // The map must read back; a failure here is a bug in discovery, not in the schema.
    DataMap::parse(&found.text)
        .context("the discovered map does not parse (a bug in `datamap discover`)")?;
    for (table, why) in &found.unsampled {
        eprintln!("warning: table `{table}` could not be sampled: {why}");
    }
    match &args.out {
        Some(path) => {
            std::fs::write(path, &found.text)
                .with_context(|| format!("writing {}", path.display()))?;
            println!(
                "wrote {}: subject `{}`, {} reached, {}, {}, {} to decide; then run `lethe datamap check`",
                path.display(),
                subject.table,
                plural(found.reached, "table", "tables"),
                plural(found.links, "link", "links"),
                plural(found.objects, "object entry", "object entries"),
                plural(found.undecided, "TODO", "TODOs"),
            );
        }
        None => {
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            out.write_all(found.text.as_bytes())?;
            out.flush()?;
        }
    }
    Ok(())
}

async fn convert_file(settings: &Settings, args: ConvertArgs) -> anyhow::Result<()> {
    refuse_existing(&args.out, args.force)?;
    let text = std::fs::read_to_string(&args.input)
        .with_context(|| format!("reading {}", args.input.display()))?;
    let plain =
        convert(&text, None).with_context(|| format!("converting {}", args.input.display()))?;
    let schema = DataMap::parse(&plain.text)?.schema;
    // With the live catalog, rules that repeat a foreign key's delete rule are dropped and
    // the result is checked; without it, every version 1 rule is kept explicitly.
    let catalog = match platform(settings) {
        Ok(pool) => match pool.get().await {
            Ok(mut conn) => load_catalog(&mut conn, &schema).await.ok(),
            Err(_) => None,
        },
        Err(_) => None,
    };
    let converted = match &catalog {
        Some(catalog) => convert(&text, Some(catalog))?,
        None => plain,
    };
    std::fs::write(&args.out, &converted.text)
        .with_context(|| format!("writing {}", args.out.display()))?;
    println!("wrote {} (version 2)", args.out.display());
    for note in &converted.notes {
        println!("note: {note}");
    }
    match &catalog {
        None => println!(
            "note: the platform database was not reachable; rules were kept as written. Run `lethe datamap check`."
        ),
        Some(catalog) => match BoundMap::bind(DataMap::parse(&converted.text)?, catalog) {
            Ok(_) => println!(
                "it binds to the live schema; run `lethe datamap check` for the full check"
            ),
            Err(problems) => {
                println!("it does not bind to the live schema yet:");
                for p in problems {
                    println!("  {p}");
                }
            }
        },
    }
    Ok(())
}
