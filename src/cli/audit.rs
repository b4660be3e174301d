//! `lethe audit verify`: recompute the audit log's hash chain.

use diesel_async::AsyncConnection;
use secrecy::ExposeSecret;

use crate::audit::{ChainCheck, verify_chain};
use crate::config::Settings;

/// Audit subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Check that every entry links to its predecessor and matches its hash.
    Verify,
}

/// Runs an audit subcommand; a broken chain exits non-zero.
pub async fn run(settings: &Settings, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Verify => {
            let mut conn =
                diesel_async::AsyncPgConnection::establish(settings.database.url.expose_secret())
                    .await?;
            match verify_chain(&mut conn).await? {
                ChainCheck::Intact { entries } => {
                    println!("audit log intact: {entries} entries");
                    Ok(())
                }
                ChainCheck::Broken { seq, reason } => {
                    anyhow::bail!("audit log broken at entry {seq}: {reason}")
                }
            }
        }
    }
}
