//! The deadline watch every `serve` and `work` process runs in the background
//! ([`crate::background`]): every `deadlines.watch_interval_seconds` it flags requests
//! whose clock ran out ([`super::overdue`]) and, from `deadlines.digest_at_utc` on, sends
//! the day's digest unless some process already did ([`super::digest`]).

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

use super::DeadlineSettings;
use super::digest::{self, Sent};
use super::overdue::{self, Flagged};
use crate::config::Settings;
use crate::db::DbPool;
use crate::outbox::Outbox;

/// What one pass did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    /// Requests flagged overdue by this pass.
    pub flagged: Flagged,
    /// The digest this pass sent, if it sent the day's.
    pub digest: Option<Sent>,
}

/// The watch of one process.
#[derive(Clone)]
pub struct Watch {
    db: DbPool,
    outbox: Outbox,
    settings: DeadlineSettings,
}

impl Watch {
    /// A watch over the service database, mailing through `outbox`.
    pub fn new(settings: &Settings, db: DbPool, outbox: Outbox) -> Self {
        Self {
            db,
            outbox,
            settings: settings.deadlines.clone(),
        }
    }

    /// One pass as of `now`: flags, then the day's digest once its time has come.
    pub async fn pass(&self, now: DateTime<Utc>) -> anyhow::Result<Pass> {
        let mut conn = self.db.get().await?;
        let flagged = overdue::flag(&mut conn, now).await?;
        let digest = if now.time() >= self.settings.digest_at_utc.0 {
            digest::send(&mut conn, &self.outbox, &self.settings, now).await?
        } else {
            None
        };
        if digest.is_some_and(|d| d.recipients > 0) {
            self.outbox.wake();
        }
        Ok(Pass { flagged, digest })
    }

    /// Passes until `stopped` turns true. A failing pass is logged once until one succeeds.
    pub async fn run(self, mut stopped: watch::Receiver<bool>) {
        let every = Duration::from_secs(u64::from(self.settings.watch_interval_seconds));
        let mut failing = false;
        loop {
            if *stopped.borrow() {
                return;
            }
            match self.pass(Utc::now()).await {
                Ok(pass) => {
                    if failing {
                        tracing::info!("deadline watch recovered");
                        failing = false;
                    }
                    if let Some(sent) = pass.digest {
                        tracing::info!(
                            recipients = sent.recipients,
                            due_soon = sent.due_soon,
                            overdue = sent.overdue,
                            "deadline digest sent"
                        );
                    }
                }
                Err(error) if !failing => {
                    tracing::warn!(
                        error = crate::telemetry::loggable(&error),
                        "deadline watch pass failed; retrying"
                    );
                    failing = true;
                }
                Err(_) => {}
            }
            let _ = tokio::time::timeout(every, stopped.changed()).await;
        }
    }
}
