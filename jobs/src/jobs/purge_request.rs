//! Job `lethe.purge_request`: erase one deletion request's subject, then verify.
//!
//! Idempotent and crash-safe: every step re-selects the subject's rows and converges; the
//! checkpoint only lets a re-run skip finished steps. The request becomes `completed` only
//! after a verification pass finds nothing erasable left. If verification finds leftovers
//! (rows written during the purge), a second full pass runs; if that still leaves data,
//! the request is marked `failed` for staff rather than ever reported complete.

use std::sync::Arc;

use apalis::prelude::{BoxDynError, Data};
use diesel::QueryableByName;
use diesel::sql_types::{Nullable, Text};
use diesel_async::RunQueryDsl;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::datamap::SubjectKey;
use crate::datamap::catalog::ident;
use crate::platform::locate;
use crate::purge::{PurgeReport, Purger, Target};
use crate::queue::JobContext;

/// Verification passes before a purge is declared failed.
const MAX_PASSES: u32 = 2;

/// The payload: only the request id.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PurgeRequest {
    /// The deletion request to carry out.
    pub request_id: Uuid,
}

#[derive(QueryableByName)]
struct Identity {
    #[diesel(sql_type = Nullable<Text>)]
    email: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    username: Option<String>,
}

/// Runs one delivery of the job.
#[tracing::instrument(skip_all, fields(request_id = %job.request_id))]
pub async fn handle(job: PurgeRequest, ctx: Data<Arc<JobContext>>) -> Result<(), BoxDynError> {
    let Some(claim) = ctx.lifecycle.claim_purge(job.request_id, ctx.lease).await? else {
        tracing::info!(
            "nothing to do: request finished, cancelled, in its grace period or leased elsewhere"
        );
        return Ok(());
    };
    let outcome = super::with_lease(&ctx, job.request_id, purge(&ctx, job.request_id, claim)).await;
    match outcome {
        Ok(Some(report)) => {
            tracing::info!(
                rows = report.rows,
                objects = report.objects,
                "purge verified"
            );
            ctx.lifecycle.purge_done(job.request_id, &report).await?;
            Ok(())
        }
        Ok(None) => {
            ctx.lifecycle
                .fail(job.request_id, "verification_failed")
                .await?;
            Ok(())
        }
        Err(error) => {
            tracing::warn!(error = format!("{error:#}"), "purge run failed");
            ctx.lifecycle
                .run_failed(job.request_id, "purge_error")
                .await?;
            Err(error.into())
        }
    }
}

/// The purge proper; `None` when verification kept finding data.
async fn purge(
    ctx: &JobContext,
    request_id: Uuid,
    claim: crate::lifecycle::PurgeClaim,
) -> anyhow::Result<Option<PurgeReport>> {
    let subject = match &claim.subject_key {
        Some(key) => Some(SubjectKey::new(key.clone())),
        None => {
            let mut conn = ctx.platform.get().await?;
            let found = locate(&mut conn, &ctx.map, &claim.lookup).await?;
            ctx.lifecycle
                .record_subject(request_id, found.as_ref().map(SubjectKey::as_str))
                .await?;
            found
        }
    };
    let Some(subject) = subject else {
        return Ok(Some(PurgeReport::default()));
    };
    let target = Target {
        identities: identities(ctx, &subject, claim.requester_email).await?,
        subject,
        hash_key: ctx.anonymize_key.clone(),
    };
    let purger = Purger::new(&ctx.platform, &ctx.map, &ctx.storage, ctx.purge_batch_size);
    let mut checkpoint = claim.checkpoint.unwrap_or_default();
    while checkpoint.failed_verifications < MAX_PASSES {
        for step in &ctx.plan.steps {
            if checkpoint.is_done(step) {
                continue;
            }
            let report = purger.run_step(step, &target).await?;
            checkpoint.record(step, &report);
            ctx.lifecycle
                .purge_checkpoint(request_id, &checkpoint, &step.label())
                .await?;
        }
        let leftovers = purger.verify(&ctx.plan, &target).await?;
        if leftovers.is_empty() {
            return Ok(Some(PurgeReport::from_checkpoint(&checkpoint)));
        }
        tracing::warn!(
            ?leftovers,
            "verification found data left; running the steps again"
        );
        checkpoint.done.clear();
        checkpoint.failed_verifications += 1;
        ctx.lifecycle
            .purge_checkpoint(request_id, &checkpoint, "verification")
            .await?;
    }
    Ok(None)
}

/// The strings `redact` rules remove: the account's email and username while the row
/// exists, and the requester's email.
async fn identities(
    ctx: &JobContext,
    subject: &SubjectKey,
    requester_email: Option<String>,
) -> anyhow::Result<Vec<String>> {
    let s = &ctx.map.map.subject;
    let (table, cond) = ctx.map.subject_filter(subject);
    let username = s
        .username
        .as_deref()
        .map(|u| format!("t0.{}::text", ident(u)))
        .unwrap_or_else(|| "NULL::text".into());
    let sql = format!(
        "SELECT t0.{}::text AS email, {username} AS username FROM {table} t0 WHERE {cond}",
        ident(&s.email)
    );
    let rows: Vec<Identity> = diesel::sql_query(sql)
        .load(&mut *ctx.platform.get().await?)
        .await?;
    let mut out: Vec<String> = rows
        .into_iter()
        .flat_map(|r| [r.email, r.username])
        .flatten()
        .collect();
    out.extend(requester_email);
    out.sort();
    out.dedup();
    Ok(out)
}
