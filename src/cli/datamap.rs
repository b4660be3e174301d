//! `lethe datamap check`: validate the data map against the live platform schema.

use secrecy::ExposeSecret;

use crate::config::Settings;

/// Data map subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Validate the map against the live platform schema; non-zero exit on problems.
    Check,
}

/// Runs a data map subcommand.
pub async fn run(settings: &Settings, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Check => {
            let platform = lethe_jobs::platform::pool(settings.platform.database_url.expose_secret(), 1)?;
            let map = crate::startup::load_data_map(settings, &platform).await?;
            println!(
                "data map {} is valid: subject table `{}`, {} table entries, {} object entries",
                settings.platform.data_map.display(),
                map.map.subject.table,
                map.tables.len(),
                map.map.objects.len()
            );
            Ok(())
        }
    }
}
