//! Job `lethe.likeness_request`: the pending platform work of one likeness-removal
//! request — look up the resources it lists, unpublish the ones staff decided to remove —
//! then close it if every listing is settled. Idempotent: each run asks the control plane
//! what is still to do, and the writes are the same however often they run.

use std::sync::Arc;

use apalis::prelude::{BoxDynError, Data};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::likeness;
use crate::queue::JobContext;

/// The payload: only the request id.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LikenessRequest {
    /// The likeness request.
    pub request_id: Uuid,
}

/// Runs one delivery of the job.
#[tracing::instrument(skip_all, fields(request_id = %job.request_id))]
pub async fn handle(job: LikenessRequest, ctx: Data<Arc<JobContext>>) -> Result<(), BoxDynError> {
    crate::observe::job("likeness", ctx.run_limit(), Box::pin(deliver(job, ctx))).await
}

async fn deliver(job: LikenessRequest, ctx: Data<Arc<JobContext>>) -> Result<(), BoxDynError> {
    run(&ctx, job.request_id).await.map_err(|error| {
        tracing::warn!(error = crate::loggable(&error), "likeness work failed");
        error.into()
    })
}

async fn run(ctx: &JobContext, request_id: Uuid) -> anyhow::Result<()> {
    let work = ctx.lifecycle.likeness_work(request_id).await?;
    for item in &work.check {
        let found = likeness::check(ctx, item).await?;
        ctx.lifecycle
            .resource_checked(item.id, found.as_deref())
            .await?;
    }
    for item in &work.unpublish {
        let rows = likeness::unpublish(ctx, item).await?;
        ctx.lifecycle.resource_unpublished(item.id, rows).await?;
        tracing::info!(resource_id = %item.id, rows, "resource unpublished");
    }
    ctx.lifecycle.likeness_settle(request_id).await
}
