//! `lethe unsubscribe link`: the one-click unsubscribe link of one recipient, for a
//! mailer that runs beside Lethe (the same as `POST /v1/unsubscribe/links`).

use clap::Subcommand;

use crate::config::Settings;
use crate::routes::unsubscribe::links::{issue, link_for};
use crate::secrets::Keyed;
use crate::unsubscribe::token::LinkKey;

/// Unsubscribe tools.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the unsubscribe URL and the List-Unsubscribe headers of one recipient.
    Link {
        /// The recipient.
        #[arg(long)]
        email: String,
        /// A marketing category of the data map (default: every category).
        #[arg(long)]
        category: Option<String>,
    },
}

/// Runs the command.
pub fn run(settings: &Settings, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Link { email, category } => {
            settings.require_secret_key()?;
            let map =
                lethe_jobs::datamap::DataMap::parse(&crate::startup::read_data_map(settings)?)?;
            let marketing: Vec<String> = map.marketing.keys().cloned().collect();
            let link = link_for(&marketing, &email, category.as_deref())
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let keyed = Keyed::new(settings.security.secret_key.clone());
            let issued = issue(&LinkKey::new(&keyed), &settings.server.public_url, &link);
            println!("{}", issued.url);
            println!("List-Unsubscribe: {}", issued.list_unsubscribe);
            println!("List-Unsubscribe-Post: {}", issued.list_unsubscribe_post);
            Ok(())
        }
    }
}
