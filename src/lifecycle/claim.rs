//! Starting a run: the claim of a request for a job (lease, fresh owner token, run
//! counted and audited), and marking a request `failed`.

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use lethe_jobs::lifecycle::Run;
use lethe_jobs::platform::SubjectLookup;
use uuid::Uuid;

use crate::audit::{self, AuditEntry};
use crate::domain::{RequestKind, RequestStatus};
use crate::models::request::Request;
use crate::schema::requests;

/// Locks the request and starts a run on it if it is of one of `kinds`, approved or processing,
/// out of any grace period and not leased: the request and how to find its subject.
pub(super) async fn claim_run(
    c: &mut diesel_async::AsyncPgConnection,
    request_id: Uuid,
    kinds: &[RequestKind],
    lease: chrono::Duration,
    max_runs: i32,
) -> anyhow::Result<Option<(Request, SubjectLookup, Run)>> {
    let Some(request) = Request::find_for_update(c, request_id).await? else {
        return Ok(None);
    };
    let now = Utc::now();
    let runnable = kinds.contains(&request.kind())
        && matches!(
            request.status(),
            RequestStatus::Approved | RequestStatus::Processing
        )
        && request.grace_until.is_none_or(|until| until <= now)
        && request.lease_until.is_none_or(|until| until < now);
    if !runnable {
        return Ok(None);
    }
    Ok(start_run(c, &request, now + lease, max_runs)
        .await?
        .map(|(lookup, run)| (request, lookup, run)))
}

/// Starts a run on a locked, runnable request: how to find its subject, the lease until
/// `lease_until` under a fresh owner token (fencing off any earlier run), one more run
/// counted and audited. `None` (and the request `failed`) when the identity is gone or
/// `max_runs` runs were started already (`worker.max_runs`).
async fn start_run(
    c: &mut diesel_async::AsyncPgConnection,
    request: &Request,
    lease_until: chrono::DateTime<Utc>,
    max_runs: i32,
) -> anyhow::Result<Option<(SubjectLookup, Run)>> {
    let Some(lookup) = super::subject::lookup(c, request).await? else {
        fail(
            c,
            request.id,
            "requester_identity_missing",
            &serde_json::json!({}),
        )
        .await?;
        return Ok(None);
    };
    if request.run_attempts >= max_runs {
        fail(
            c,
            request.id,
            "too_many_runs",
            &serde_json::json!({ "runs": request.run_attempts }),
        )
        .await?;
        return Ok(None);
    }
    let attempt = request.run_attempts + 1;
    let run = Run {
        request_id: request.id,
        owner: Uuid::now_v7(),
    };
    diesel::update(requests::table.find(request.id))
        .set((
            requests::status.eq(RequestStatus::Processing.as_str()),
            requests::lease_until.eq(lease_until),
            requests::lease_owner.eq(run.owner),
            requests::started_at.eq(request.started_at.unwrap_or_else(Utc::now)),
            requests::run_attempts.eq(attempt),
        ))
        .execute(c)
        .await?;
    audit::append(c, &[AuditEntry::processing_started(request.id, attempt)]).await?;
    Ok(Some((lookup, run)))
}

/// Marks a request `failed` with a code and a sanitised detail (one transaction with its
/// audit entry; the caller holds the row lock or runs inside the claim).
pub(crate) async fn fail(
    c: &mut diesel_async::AsyncPgConnection,
    request_id: Uuid,
    code: &str,
    detail: &serde_json::Value,
) -> anyhow::Result<()> {
    diesel::update(requests::table.find(request_id))
        .set((
            requests::status.eq(RequestStatus::Failed.as_str()),
            requests::failure.eq(code),
            requests::failure_detail.eq(detail),
            requests::lease_until.eq(None::<chrono::DateTime<Utc>>),
        ))
        .execute(c)
        .await?;
    audit::append(c, &[AuditEntry::failed(request_id, code, detail)]).await?;
    Ok(())
}
