//! Global Privacy Control: a signed-in platform user's browser sends `Sec-GPC: 1`, the
//! platform forwards it with its assertion, and Lethe records an opt-out of the sale or
//! sharing of that user's personal data, once. It is applied like an unsubscribe of the
//! pseudo-category [`SALE_SHARING`] (the data map's `[sale_sharing]`), by the same job.

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use lethe_jobs::datamap::marketing::SALE_SHARING;

use crate::assertion::Asserted;
use crate::audit::{self, AuditEntry};
use crate::domain::RequestKind;
use crate::error::ApiError;
use crate::models::request::Request;
use crate::schema::privacy_signals;
use crate::secrets::label;
use crate::state::AppState;

/// Records the signal for the asserted user; `true` when it is new (a second signal of
/// the same user changes nothing and writes nothing).
pub async fn record(state: &AppState, asserted: &Asserted) -> Result<bool, ApiError> {
    let now = Utc::now();
    let identity = state.keyed.hash(label::SUBJECT, &asserted.subject);
    let regime = state.settings.requests.regime.as_str();
    let due = crate::deadlines::at_intake(&state.settings, RequestKind::Unsubscribe, now);
    let wanted = Some(vec![SALE_SHARING.to_owned()]);
    let keyed = state.keyed.clone();
    let mut tries = 0;
    loop {
        tries += 1;
        let mut conn = state.db.get().await?;
        let attempt = conn
            .transaction::<_, ApiError, _>(async |c| {
                asserted.spend(c, &keyed).await?;
                let recorded: Option<Vec<u8>> = privacy_signals::table
                    .find((&identity, "gpc"))
                    .select(privacy_signals::subject_hash)
                    .first(c)
                    .await
                    .optional()?;
                if recorded.is_some() {
                    return Ok(None);
                }
                let mut entries = Vec::new();
                let (request_id, created) = super::open_or_file(
                    c,
                    &super::Proved {
                        identity: &identity,
                        email: None,
                        subject_ref: Some(asserted.subject.as_str()),
                        via: "platform_assertion",
                        regime,
                        now,
                        due,
                    },
                    &wanted,
                    &mut entries,
                )
                .await?;
                diesel::insert_into(privacy_signals::table)
                    .values((
                        privacy_signals::subject_hash.eq(&identity),
                        privacy_signals::signal.eq("gpc"),
                        privacy_signals::request_id.eq(request_id),
                        privacy_signals::created_at.eq(now),
                    ))
                    .execute(c)
                    .await?;
                entries.push(AuditEntry::privacy_signal(request_id, "gpc"));
                audit::append(c, &entries).await?;
                Ok(Some((request_id, created)))
            })
            .await;
        match attempt {
            Err(error)
                if tries < 3 && crate::lifecycle::intake::is_proved_open_conflict(&error) =>
            {
                continue;
            }
            Err(error) => return Err(error),
            Ok(None) => return Ok(false),
            Ok(Some((request_id, created))) => {
                if created && let Some(request) = Request::find(&mut conn, request_id).await? {
                    drop(conn);
                    crate::lifecycle::enqueue_after_commit(state, &request).await;
                }
                return Ok(true);
            }
        }
    }
}
