//! Job `lethe.export_request`: build and deliver the export of one access request.
//!
//! Idempotent and crash-safe: the archive key is fixed per request, so a re-run
//! overwrites it from a fresh snapshot; the request moves to `completed` only after the
//! upload completed, and only while this run holds the lease.

use std::sync::Arc;

use apalis::prelude::{BoxDynError, Data};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::export::{ExportJobSpec, export_subject};
use crate::lifecycle::LeaseLost;
use crate::platform::locate;
use crate::queue::JobContext;

/// The payload: only the request id; everything else is read fresh from the database.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExportRequest {
    /// The access request to export.
    pub request_id: Uuid,
}

/// Runs one delivery of the job.
#[tracing::instrument(skip_all, fields(request_id = %job.request_id))]
pub async fn handle(job: ExportRequest, ctx: Data<Arc<JobContext>>) -> Result<(), BoxDynError> {
    crate::observe::job("export", ctx.run_limit(), Box::pin(run(job, ctx))).await
}

async fn run(job: ExportRequest, ctx: Data<Arc<JobContext>>) -> Result<(), BoxDynError> {
    let lease = ctx.lease;
    let Some(claim) = ctx.lifecycle.claim_export(job.request_id, lease).await? else {
        tracing::info!("nothing to do: request finished, cancelled or leased elsewhere");
        return Ok(());
    };
    let run = async {
        let mut conn = ctx.platform.get().await?;
        let subject = locate(&mut conn, &ctx.map, &claim.lookup).await?;
        drop(conn);
        let spec = ExportJobSpec {
            request_id: job.request_id,
            subject,
            destination: claim.destination.clone(),
            mask_key: ctx.anonymize_key.clone(),
        };
        export_subject(&ctx.platform, &ctx.map, &ctx.storage, &spec).await
    };
    let lost = std::sync::atomic::AtomicBool::new(false);
    let outcome = super::with_lease(&ctx, claim.run, &lost, run).await;
    match outcome {
        Ok(report) => {
            tracing::info!(
                rows = report.rows_total,
                objects = report.objects,
                bytes = report.archive_bytes,
                "export uploaded"
            );
            match ctx
                .lifecycle
                .export_done(claim.run, &report, &claim.destination)
                .await
            {
                Err(error) if error.is::<LeaseLost>() => {
                    tracing::warn!("another run holds the request now; this one stops");
                    Ok(())
                }
                other => Ok(other?),
            }
        }
        Err(error) => {
            tracing::warn!(error = crate::loggable(&error), "export failed");
            ctx.lifecycle.run_failed(claim.run, "export_error").await?;
            Err(error.into())
        }
    }
}
