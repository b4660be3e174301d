//! `lethe staff`: manage staff accounts and API tokens.

use std::io::{BufRead, IsTerminal};

use diesel_async::AsyncConnection;
use secrecy::ExposeSecret;
use uuid::Uuid;

use crate::config::Settings;
use crate::domain::{Email, Role};
use crate::models::staff::Staff;
use crate::secrets::Keyed;

/// Staff subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Create a staff account. The password (12+ characters) is read from a prompt, or
    /// from the first line of standard input when it is not a terminal.
    Add {
        /// Sign-in email.
        #[arg(long)]
        email: String,
        /// mailer, viewer, reviewer or admin.
        #[arg(long)]
        role: String,
    },
    /// Issue an API token for an account; it is printed once.
    Token {
        /// The account's email.
        #[arg(long)]
        email: String,
        /// A name for the token.
        #[arg(long, default_value = "cli")]
        name: String,
    },
    /// Revoke an API token by its id.
    Revoke {
        /// Token id, as printed when it was issued.
        #[arg(long)]
        token_id: Uuid,
    },
}

fn read_password() -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ")?;
        let again = rpassword::prompt_password("Again: ")?;
        anyhow::ensure!(first == again, "the passwords differ");
        Ok(first)
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        Ok(line.trim_end_matches(['\r', '\n']).to_owned())
    }
}

/// Runs a staff subcommand.
pub async fn run(settings: &Settings, command: Command) -> anyhow::Result<()> {
    let mut conn =
        diesel_async::AsyncPgConnection::establish(settings.database.url.expose_secret()).await?;
    match command {
        Command::Add { email, role } => {
            let email =
                Email::try_from(email.as_str()).map_err(|e| anyhow::anyhow!("--email: {e}"))?;
            let role = Role::parse(&role).ok_or_else(|| {
                anyhow::anyhow!("--role must be mailer, viewer, reviewer or admin")
            })?;
            let password = read_password()?;
            let staff = Staff::create(&mut conn, &email, role, &password)
                .await
                .map_err(|e| {
                    if e.to_string().contains("duplicate key") {
                        anyhow::anyhow!("a staff account with this email exists")
                    } else {
                        e
                    }
                })?;
            println!("created staff account {} ({})", staff.id, role.as_str());
        }
        Command::Token { email, name } => {
            settings.require_secret_key()?;
            let email =
                Email::try_from(email.as_str()).map_err(|e| anyhow::anyhow!("--email: {e}"))?;
            let staff = Staff::find_by_email(&mut conn, &email)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no active staff account with this email"))?;
            let (id, token) = staff
                .issue_token(
                    &mut conn,
                    &Keyed::new(settings.security.secret_key.clone()),
                    &name,
                    settings.security.staff_token_ttl(),
                )
                .await?;
            println!("token id {id}\n{token}");
        }
        Command::Revoke { token_id } => {
            if Staff::revoke_token(&mut conn, token_id).await? {
                println!("revoked {token_id}");
            } else {
                anyhow::bail!("no live token with id {token_id}");
            }
        }
    }
    Ok(())
}
