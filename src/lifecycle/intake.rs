//! Filing a request. The answer is the same whether or not the email belongs to an
//! account: Lethe files the request and mails a code either way, and learns whether the
//! platform knows the person only when a worker locates them.

use chrono::{Duration, SubsecRound, Utc};
use diesel_async::AsyncConnection;
use uuid::Uuid;

use crate::assertion::Asserted;
use crate::audit::{self, AuditEntry};
use crate::domain::{Email, RequestKind, RequestStatus};
use crate::error::ApiError;
use crate::mail;
use crate::models::request::{NewRequest, Request};
use crate::models::verification::VerificationCode;
use crate::secrets::{self, label};
use crate::state::AppState;

/// Who is asking.
pub enum Identity {
    /// An email address, to be proved with a mailed code.
    Email(Email),
    /// A signed-in platform user, proved by the platform's assertion.
    Platform(Asserted),
}

/// The outcome of filing.
pub struct Filed {
    /// The new, or already open, request.
    pub request: Request,
    /// Whether it is new.
    pub created: bool,
    /// A requester token, when identity was proved at once (assertion).
    pub token: Option<String>,
}

impl Identity {
    /// The keyed hash identifying the requester across requests.
    pub fn hash(&self, state: &AppState) -> Vec<u8> {
        match self {
            Self::Email(email) => state.keyed.hash(label::EMAIL, &email.normalized()),
            Self::Platform(asserted) => state.keyed.hash(label::SUBJECT, &asserted.subject),
        }
    }
}

/// Files a request (or returns the open one of the same kind) and starts verification.
pub async fn file(
    state: &AppState,
    kind: RequestKind,
    identity: Identity,
) -> Result<Filed, ApiError> {
    let identity_hash = identity.hash(state);
    let now = Utc::now().trunc_subsecs(6);
    let regime = state.settings.requests.regime;
    let new = NewRequest {
        id: Uuid::now_v7(),
        kind,
        email: match &identity {
            Identity::Email(e) => Some(e.as_str().to_owned()),
            Identity::Platform(a) => a.email.as_ref().map(|e| e.as_str().to_owned()),
        },
        email_hash: identity_hash,
        subject_ref: match &identity {
            Identity::Platform(a) => Some(a.subject.clone()),
            Identity::Email(_) => None,
        },
        regime: regime.as_str().to_owned(),
        created_at: now,
        due_at: regime.due(now),
    };
    let mut conn = state.db.get().await?;
    match identity {
        Identity::Email(email) => {
            let code = secrets::new_code();
            let security = &state.settings.security;
            let ttl = Duration::minutes(i64::from(security.code_ttl_minutes));
            let attempts = i32::try_from(security.code_max_attempts).unwrap_or(i32::MAX);
            let keyed = state.keyed.clone();
            let (request, created) = conn
                .transaction::<_, ApiError, _>(async |c| {
                    let (request, created) = insert_or_open_retrying(c, &new).await?;
                    let mut entries = Vec::new();
                    if created {
                        entries.push(AuditEntry::request_filed(
                            request.id,
                            kind.as_str(),
                            &request.regime,
                            request.due_at,
                        ));
                    }
                    VerificationCode::issue(c, &keyed, request.id, &code, ttl, attempts).await?;
                    entries.push(AuditEntry::code_sent(request.id));
                    audit::append(c, &entries).await?;
                    Ok((request, created))
                })
                .await?;
            drop(conn);
            state
                .mailer
                .send(
                    &email,
                    mail::verification_code(&code, security.code_ttl_minutes, kind.as_str()),
                )
                .await
                .map_err(ApiError::Internal)?;
            Ok(Filed {
                request,
                created,
                token: None,
            })
        }
        Identity::Platform(asserted) => {
            let token = secrets::new_token();
            let token_hash = state.keyed.hash(label::TOKEN, &token);
            let auto_approve = super::verify::auto_approves(state, kind);
            let grace = super::verify::grace_period(state);
            let keyed = state.keyed.clone();
            let (request, created, approved_now) = conn
                .transaction::<_, ApiError, _>(async |c| {
                    // Single use: a replayed assertion is refused before it can touch
                    // (or take over) a request.
                    asserted.spend(c, &keyed).await?;
                    let (request, created) = insert_or_open_retrying(c, &new).await?;
                    let mut entries = Vec::new();
                    if created {
                        entries.push(AuditEntry::request_filed(
                            request.id,
                            kind.as_str(),
                            &request.regime,
                            request.due_at,
                        ));
                    }
                    let approved_now = super::verify::mark_verified(
                        c,
                        &request,
                        &token_hash,
                        "platform_assertion",
                        auto_approve,
                        grace,
                        &mut entries,
                    )
                    .await?;
                    audit::append(c, &entries).await?;
                    let request = Request::find(c, request.id)
                        .await?
                        .ok_or(ApiError::NotFound)?;
                    Ok((request, created, approved_now))
                })
                .await?;
            drop(conn);
            if approved_now && request.status() == RequestStatus::Approved {
                super::enqueue_after_commit(state, &request).await;
            }
            Ok(Filed {
                request,
                created,
                token: Some(token),
            })
        }
    }
}

/// The open request may close between the insert's conflict and the select; try again.
async fn insert_or_open_retrying(
    c: &mut diesel_async::AsyncPgConnection,
    new: &NewRequest,
) -> Result<(Request, bool), ApiError> {
    for _ in 0..3 {
        match new.insert_or_open(c).await {
            Err(diesel::result::Error::RollbackTransaction) => continue,
            other => return Ok(other?),
        }
    }
    Err(ApiError::Conflict(
        "the request changed while filing; try again",
    ))
}
