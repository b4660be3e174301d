//! `lethe audit`: verify the chain in the database or an export file, export a selection,
//! print the public key that verifies checkpoints and exports.

use std::path::PathBuf;

use anyhow::Context;
use chrono::{DateTime, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use secrecy::ExposeSecret;
use uuid::Uuid;

use crate::audit::export::{Selection, export, parse_public_key, verify_file};
use crate::audit::{AuditKeys, ChainCheck, chain, verify_chain};
use crate::config::Settings;

/// Audit subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Seal pending entries, then check every link, MAC and signed checkpoint of the chain
    /// in the database; or, with --file and --public-key, check an export alone.
    Verify {
        /// An export written by `lethe audit export`.
        #[arg(long, requires = "public_key")]
        file: Option<PathBuf>,
        /// The public key (64 hex digits, as `lethe audit public-key` prints it).
        #[arg(long, requires = "file")]
        public_key: Option<String>,
    },
    /// Write entries with their proofs as JSON Lines (to --out, or standard output).
    Export {
        /// The entries of one request.
        #[arg(long, conflicts_with = "since", required_unless_present = "since")]
        request: Option<Uuid>,
        /// The chain from the first entry at or after this RFC 3339 instant.
        #[arg(long)]
        since: Option<DateTime<Utc>>,
        /// The file to write.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Print the Ed25519 public key that verifies checkpoints and exports.
    PublicKey,
}

/// Runs an audit subcommand; a broken chain or export exits non-zero.
pub async fn run(settings: &Settings, command: Command) -> anyhow::Result<()> {
    let keys = AuditKeys::from_settings(settings);
    let needs_key = !matches!(command, Command::Verify { file: Some(_), .. });
    if needs_key && settings.audit.key.expose_secret().is_empty() {
        settings
            .require_secret_key()
            .context("the audit key is audit.key, or derived from security.secret_key")?;
    }
    match command {
        Command::Verify {
            file: Some(file),
            public_key: Some(key),
        } => {
            let key = parse_public_key(&key).context("--public-key")?;
            let text = std::fs::read(&file)
                .with_context(|| format!("reading the export {}", file.display()))?;
            let summary = verify_file(&text, &key)
                .with_context(|| format!("the export {} does not verify", file.display()))?;
            println!(
                "export intact: {} entries, {} signed checkpoints",
                summary.entries, summary.checkpoints
            );
            Ok(())
        }
        Command::Verify { .. } => {
            let mut conn = connect(settings).await?;
            chain::seal_all(&mut conn, &keys).await?;
            match verify_chain(&mut conn, &keys).await? {
                ChainCheck::Intact {
                    entries,
                    checkpoints,
                    unsealed,
                } => {
                    println!(
                        "audit log intact: {entries} entries, {checkpoints} signed checkpoints, {unsealed} awaiting the sealer"
                    );
                    Ok(())
                }
                ChainCheck::Broken { pos, reason } => {
                    anyhow::bail!("audit log broken at entry {pos}: {reason}")
                }
            }
        }
        Command::Export {
            request,
            since,
            out,
        } => {
            let selection = match (request, since) {
                (Some(id), _) => Selection::Request(id),
                (None, Some(t)) => Selection::Since(t),
                (None, None) => anyhow::bail!("give --request ID or --since TIME"),
            };
            let mut conn = connect(settings).await?;
            chain::seal_all(&mut conn, &keys).await?;
            let summary = match &out {
                Some(path) => {
                    let file = std::fs::File::create(path)
                        .with_context(|| format!("creating {}", path.display()))?;
                    let mut writer = std::io::BufWriter::new(file);
                    let summary = export(&mut conn, &keys, selection, &mut writer).await?;
                    std::io::Write::flush(&mut writer)?;
                    summary
                }
                None => export(&mut conn, &keys, selection, &mut std::io::stdout().lock()).await?,
            };
            eprintln!(
                "exported {} entries, {} signed checkpoints",
                summary.entries, summary.checkpoints
            );
            Ok(())
        }
        Command::PublicKey => {
            println!("{}", keys.public_key_hex());
            Ok(())
        }
    }
}

async fn connect(settings: &Settings) -> anyhow::Result<AsyncPgConnection> {
    AsyncPgConnection::establish(settings.database.url.expose_secret())
        .await
        .context("connecting to the service database")
}
