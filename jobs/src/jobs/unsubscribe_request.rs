//! Job `lethe.unsubscribe_request`: turn the platform's marketing preferences off for one
//! unsubscribe, through the data map's `[marketing]` section.
//!
//! Idempotent: the opt-out statements write fixed values, so a re-run writes the same. If
//! the request's categories grew while a run applied the old ones, the run goes again.

use std::sync::Arc;

use apalis::prelude::{BoxDynError, Data};
use diesel_async::{AsyncConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::datamap::marketing::{opt_outs, run_writes};
use crate::lifecycle::UnsubscribeReport;
use crate::platform::locate;
use crate::queue::JobContext;

/// The payload: only the request id.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UnsubscribeRequest {
    /// The unsubscribe request.
    pub request_id: Uuid,
}

/// Runs one delivery of the job.
#[tracing::instrument(skip_all, fields(request_id = %job.request_id))]
pub async fn handle(
    job: UnsubscribeRequest,
    ctx: Data<Arc<JobContext>>,
) -> Result<(), BoxDynError> {
    crate::observe::job("unsubscribe", ctx.run_limit(), Box::pin(run(job, ctx))).await
}

async fn run(job: UnsubscribeRequest, ctx: Data<Arc<JobContext>>) -> Result<(), BoxDynError> {
    for _ in 0..3 {
        let Some(claim) = ctx
            .lifecycle
            .claim_unsubscribe(job.request_id, ctx.lease)
            .await?
        else {
            tracing::info!("nothing to do: request finished or leased elsewhere");
            return Ok(());
        };
        let categories = claim.categories.clone();
        let run = async {
            let mut conn = ctx.platform.get().await?;
            let subject = locate(&mut conn, &ctx.map, &claim.lookup).await?;
            let mut report = UnsubscribeReport {
                categories: categories.clone(),
                subject_found: subject.is_some(),
                rows: 0,
            };
            if let Some(subject) = subject {
                let map = &ctx.map.map;
                let wanted: Vec<Option<&str>> = match &categories {
                    None => vec![None],
                    Some(list) => list.iter().map(|c| Some(c.as_str())).collect(),
                };
                let statements: Vec<_> = wanted
                    .into_iter()
                    .flat_map(|category| opt_outs(map, &ctx.map.catalog, category))
                    .collect();
                // One transaction, committed synchronously (the pool commits
                // asynchronously): once the request is recorded as applied, the platform
                // cannot lose the opt-out in a crash.
                report.rows = conn
                    .transaction::<_, anyhow::Error, _>(async |c| {
                        diesel::sql_query("SET LOCAL synchronous_commit = on")
                            .execute(c)
                            .await?;
                        Ok(run_writes(c, &statements, subject.as_str()).await?)
                    })
                    .await?;
            }
            anyhow::Ok(report)
        };
        let lost = std::sync::atomic::AtomicBool::new(false);
        match super::with_lease(&ctx, claim.run, &lost, run).await {
            Ok(report) => {
                if ctx.lifecycle.unsubscribe_done(claim.run, &report).await? {
                    tracing::info!(rows = report.rows, "unsubscribe applied");
                    return Ok(());
                }
            }
            Err(error) => {
                tracing::warn!(error = crate::loggable(&error), "unsubscribe failed");
                ctx.lifecycle
                    .run_failed(claim.run, "unsubscribe_error")
                    .await?;
                return Err(error.into());
            }
        }
    }
    Ok(())
}
