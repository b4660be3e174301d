//! Loops every `serve` and `work` process runs beside its main work: the audit sealer
//! (one process seals at a time; the others' passes find the lock taken) and the mail
//! outbox's sender; and the metrics endpoint. Stopping runs one last pass of the sealer
//! and the sender. [`crate::startup::Services::background`] adds the deadline watch
//! ([`Background::with_deadlines`]).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::audit::AuditKeys;
use crate::audit::chain::{self, CheckpointPolicy};
use crate::db::DbPool;
use crate::metrics::MetricsServer;
use crate::outbox::Outbox;

/// The running loops, and the metrics endpoint when one is configured.
pub struct Background {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    metrics: Option<MetricsServer>,
}

impl Background {
    /// Starts the sealer and the outbox sender.
    pub fn spawn(
        db: DbPool,
        keys: Arc<AuditKeys>,
        policy: CheckpointPolicy,
        seal_every: Duration,
        outbox: Outbox,
        metrics: Option<MetricsServer>,
    ) -> Self {
        let (stop, stopped) = watch::channel(false);
        let sealer = tokio::spawn(run_sealer(db, keys, policy, seal_every, stopped.clone()));
        let sender = tokio::spawn(outbox.run(stopped));
        Self {
            stop,
            tasks: vec![sealer, sender],
            metrics,
        }
    }

    /// Also runs the deadline watch (overdue flags and the daily digest, see
    /// [`crate::deadlines::watch`]) until the loops stop.
    pub fn with_deadlines(mut self, watch: crate::deadlines::Watch) -> Self {
        self.tasks
            .push(tokio::spawn(watch.run(self.stop.subscribe())));
        self
    }

    /// The metrics endpoint's port, when one is served.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(MetricsServer::port)
    }

    /// Stops the loops after their last pass.
    pub async fn stop(self) {
        if let Some(metrics) = self.metrics {
            metrics.stop().await;
        }
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

async fn run_sealer(
    db: DbPool,
    keys: Arc<AuditKeys>,
    policy: CheckpointPolicy,
    every: Duration,
    mut stopped: watch::Receiver<bool>,
) {
    let mut failing = false;
    loop {
        let last = *stopped.borrow();
        let pass = async {
            let mut conn = db.get().await?;
            anyhow::Ok(chain::seal(&mut conn, &keys, policy).await?)
        }
        .await;
        match pass {
            Ok(sealed) => {
                if failing {
                    tracing::info!("audit sealer recovered");
                    failing = false;
                }
                // A full batch: more may be waiting.
                if sealed.entries >= 5000 && !last {
                    continue;
                }
            }
            Err(error) if !failing => {
                tracing::warn!(
                    error = crate::telemetry::loggable(&error),
                    "audit sealer pass failed; retrying"
                );
                failing = true;
            }
            Err(_) => {}
        }
        if last {
            return;
        }
        let _ = tokio::time::timeout(every, stopped.changed()).await;
    }
}
