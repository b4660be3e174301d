//! Proving identity: a mailed one-time code, or a platform assertion at intake.

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::audit::{self, AuditEntry};
use crate::domain::{RequestKind, RequestStatus};
use crate::error::ApiError;
use crate::models::request::Request;
use crate::models::verification::{CodeCheck, VerificationCode};
use crate::schema::requests;
use crate::secrets::{self, label};
use crate::state::AppState;

/// Checks a code; on success returns the request and a fresh requester token. When the
/// person already has an open, proved request of this kind, the verified filing joins it
/// (`merged`) and the answer is that request, with its token rotated: proof of the
/// mailbox is what lets someone see a request.
pub async fn with_code(
    state: &AppState,
    request_id: Uuid,
    code: &str,
) -> Result<(Request, String), ApiError> {
    let mut tries = 0;
    loop {
        tries += 1;
        match with_code_once(state, request_id, code).await {
            Err(error) if tries < 3 && super::intake::is_proved_open_conflict(&error) => continue,
            other => return other,
        }
    }
}

async fn with_code_once(
    state: &AppState,
    request_id: Uuid,
    code: &str,
) -> Result<(Request, String), ApiError> {
    let token = secrets::new_token();
    let token_hash = state.keyed.hash(label::TOKEN, &token);
    let keyed = state.keyed.clone();
    let grace = grace_period(state);
    let mut conn = state.db.get().await?;
    let (check, approved_now, request) = conn
        .transaction::<_, ApiError, _>(async |c| {
            let request = Request::find_for_update(c, request_id)
                .await?
                .ok_or(ApiError::NotFound)?;
            if request.status() != RequestStatus::PendingVerification {
                return Err(ApiError::CodeExpired);
            }
            let check = VerificationCode::check(c, &keyed, request_id, code).await?;
            let mut entries = Vec::new();
            let mut approved_now = false;
            let mut answer = request_id;
            match check {
                CodeCheck::Valid => {
                    let open = Request::find_proved_open(
                        c,
                        request.kind(),
                        &request.email_hash,
                        request.matter_hash.as_deref(),
                    )
                    .await?;
                    if request.kind() == RequestKind::Unsubscribe {
                        crate::unsubscribe::on_verified(
                            c,
                            &keyed,
                            &request,
                            open.as_ref(),
                            "request",
                            &mut entries,
                        )
                        .await?;
                    }
                    if let Some(open) = open {
                        merge(c, &request, &open, &mut entries).await?;
                        rotate_token(c, &open, &token_hash, "email_code", &mut entries).await?;
                        answer = open.id;
                    } else {
                        approved_now = mark_verified(
                            c,
                            &request,
                            &token_hash,
                            "email_code",
                            auto_approves(state, request.kind()),
                            grace,
                            &mut entries,
                        )
                        .await?;
                    }
                }
                CodeCheck::Wrong { attempts_left } => {
                    entries.push(AuditEntry::code_rejected(request_id, attempts_left))
                }
                CodeCheck::Exhausted | CodeCheck::Expired => {}
            }
            audit::append(c, &entries).await?;
            let request = Request::find(c, answer).await?.ok_or(ApiError::NotFound)?;
            Ok((check, approved_now, request))
        })
        .await?;
    drop(conn);
    match check {
        CodeCheck::Valid => {}
        CodeCheck::Wrong { attempts_left } => return Err(ApiError::WrongCode { attempts_left }),
        CodeCheck::Exhausted => return Err(ApiError::TooManyAttempts),
        CodeCheck::Expired => return Err(ApiError::CodeExpired),
    }
    // Approved now: its job. A likeness request's listings are looked up at once (it
    // then waits for staff as `verified`).
    if approved_now
        || (request.kind() == RequestKind::Likeness && request.status() == RequestStatus::Verified)
    {
        super::enqueue_after_commit(state, &request).await;
    }
    Ok((request, token))
}

/// Closes a verified filing into the person's open request of the same kind: it keeps no
/// contact data of its own (the open request has the same identity).
async fn merge(
    c: &mut AsyncPgConnection,
    filing: &Request,
    into: &Request,
    entries: &mut Vec<AuditEntry>,
) -> Result<(), ApiError> {
    let now = Utc::now();
    diesel::update(requests::table.find(filing.id))
        .set((
            requests::status.eq(RequestStatus::Merged.as_str()),
            requests::merged_into.eq(into.id),
            requests::verified_at.eq(now),
            requests::verified_via.eq("email_code"),
            requests::completed_at.eq(now),
            requests::email.eq(None::<String>),
            requests::pii_scrubbed_at.eq(now),
        ))
        .execute(c)
        .await?;
    entries.push(AuditEntry::verified(filing.id, "email_code"));
    entries.push(AuditEntry::merged(filing.id, into.id));
    Ok(())
}

/// Gives a locked, proved request a new requester token (the old one stops working), with
/// an audit entry: a lost link, a new device, or a second filing by the same person.
pub async fn rotate_token(
    c: &mut AsyncPgConnection,
    request: &Request,
    token_hash: &[u8],
    via: &'static str,
    entries: &mut Vec<AuditEntry>,
) -> Result<(), ApiError> {
    diesel::update(requests::table.find(request.id))
        .set(requests::token_hash.eq(token_hash))
        .execute(c)
        .await?;
    entries.push(AuditEntry::token_rotated(request.id, via));
    Ok(())
}

/// The deletion grace period.
pub fn grace_period(state: &AppState) -> chrono::Duration {
    chrono::Duration::hours(i64::from(state.settings.requests.deletion_grace_hours))
}

/// Whether a verified request of this kind is approved without staff.
pub fn auto_approves(state: &AppState, kind: crate::domain::RequestKind) -> bool {
    match kind {
        crate::domain::RequestKind::Access => !state.settings.requests.access_require_approval,
        crate::domain::RequestKind::Deletion => !state.settings.requests.deletion_require_approval,
        // Proof of the mailbox is all an unsubscribe needs.
        crate::domain::RequestKind::Unsubscribe => true,
        _ => false,
    }
}

/// Records proved identity on a locked request waiting for verification: sets the token,
/// moves it to `verified`, and approves at once when policy allows.
/// Returns whether the request was approved now (the caller enqueues after commit).
pub async fn mark_verified(
    c: &mut AsyncPgConnection,
    request: &Request,
    token_hash: &[u8],
    via: &'static str,
    auto_approve: bool,
    grace: chrono::Duration,
    entries: &mut Vec<AuditEntry>,
) -> Result<bool, ApiError> {
    let now = Utc::now();
    let next = if auto_approve {
        RequestStatus::Approved
    } else {
        RequestStatus::Verified
    };
    let grace = (auto_approve && request.kind() == crate::domain::RequestKind::Deletion)
        .then(|| now + grace);
    diesel::update(requests::table.find(request.id))
        .set((
            requests::status.eq(next.as_str()),
            requests::token_hash.eq(token_hash),
            requests::verified_at.eq(now),
            requests::verified_via.eq(via),
            requests::approved_at.eq(auto_approve.then_some(now)),
            requests::grace_until.eq(grace),
        ))
        .execute(c)
        .await?;
    entries.push(AuditEntry::verified(request.id, via));
    if auto_approve {
        entries.push(AuditEntry::auto_approved(request.id));
    }
    Ok(auto_approve)
}

/// Loads a request for its requester: the token must match (constant-time). A wrong
/// token answers exactly like an unknown id.
pub async fn authorize(
    state: &AppState,
    request_id: Uuid,
    token: &str,
) -> Result<Request, ApiError> {
    let mut conn = state.db.get().await?;
    let request = Request::find(&mut conn, request_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    match &request.token_hash {
        Some(hash) if state.keyed.verify(label::TOKEN, token, hash) => Ok(request),
        _ => Err(ApiError::NotFound),
    }
}
