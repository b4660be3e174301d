//! The end of an unsubscribe run: `completed`, audited with the time it took effect, and
//! only a receipt kept.

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use lethe_jobs::lifecycle::{Run, UnsubscribeReport};

use crate::audit::{self, AuditEntry};
use crate::db::DbPool;
use crate::domain::RequestStatus;
use crate::models::request::Request;
use crate::schema::requests;

/// Records an applied unsubscribe; `false` (the lease released, nothing recorded) when the
/// request's categories grew while the run applied the old ones.
pub(crate) async fn done(
    db: &DbPool,
    run: Run,
    report: &UnsubscribeReport,
) -> anyhow::Result<bool> {
    let request_id = run.request_id;
    let mut conn = db.get().await?;
    let done = conn
        .transaction::<_, anyhow::Error, _>(async |c| {
            let Some(request) = Request::find_for_update(c, run.request_id).await? else {
                return Ok(None);
            };
            if request.status() != RequestStatus::Processing
                || request.lease_owner != Some(run.owner)
            {
                return Ok(None);
            }
            if request.categories != report.categories {
                diesel::update(requests::table.find(request_id))
                    .set(requests::lease_until.eq(None::<chrono::DateTime<Utc>>))
                    .execute(c)
                    .await?;
                return Ok(Some(false));
            }
            let now = Utc::now();
            diesel::update(requests::table.find(request_id))
                .set((
                    requests::status.eq(RequestStatus::Completed.as_str()),
                    requests::completed_at.eq(now),
                    requests::lease_until.eq(None::<chrono::DateTime<Utc>>),
                    requests::result.eq(serde_json::to_value(report)?),
                    requests::email.eq(None::<String>),
                    requests::subject_ref.eq(None::<String>),
                    requests::pii_scrubbed_at.eq(now),
                ))
                .execute(c)
                .await?;
            let took = (now - request.created_at).num_milliseconds();
            audit::append(
                c,
                &[
                    AuditEntry::unsubscribe_applied(request_id, report, took),
                    AuditEntry::requester_data_scrubbed(request_id),
                ],
            )
            .await?;
            Ok(Some(true))
        })
        .await?;
    Ok(done.unwrap_or(true))
}
