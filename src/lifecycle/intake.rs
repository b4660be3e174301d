//! Filing a request. The answer is the same whether or not the email belongs to an
//! account, and whether or not the person already has a request open: every filing by
//! email is a new request with its own code, and nothing in the answer names another
//! request. Only proof of the mailbox joins a filing to the person's open request of the
//! same kind ([`super::verify`]). Lethe learns whether the platform knows the person only
//! when a worker locates them.

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
use crate::models::{Listing, NewChildReport, NewListing};
use crate::secrets::{self, label};
use crate::state::AppState;

/// Who is asking.
pub enum Identity {
    /// An email address, to be proved with a mailed code.
    Email(Email),
    /// A signed-in platform user, proved by the platform's assertion.
    Platform(Asserted),
}

/// What a filing carries beyond the person, by kind.
pub enum Details {
    /// Nothing (access, deletion, unsubscribe).
    Plain,
    /// A report of a child's account.
    Report(NewChildReport),
    /// The resources a likeness-removal request lists.
    Likeness(Vec<NewListing>),
}

impl Details {
    /// The keyed hash of what the request is about, beyond the person: the reported
    /// account, or the set of resources listed.
    fn matter_hash(&self, state: &AppState) -> Option<Vec<u8>> {
        match self {
            Self::Plain => None,
            Self::Report(report) => Some(state.keyed.hash(label::MATTER, &report.account.value)),
            Self::Likeness(listings) => {
                let mut names: Vec<String> = listings
                    .iter()
                    .map(|l| match &l.recognised {
                        Some(r) => format!("{}:{}", r.resource, r.key),
                        None => l.given.clone(),
                    })
                    .collect();
                names.sort();
                names.dedup();
                Some(state.keyed.hash(label::MATTER, &names.join("\n")))
            }
        }
    }

    /// What the audit log records of it.
    fn entries(&self, request_id: Uuid) -> Vec<AuditEntry> {
        match self {
            Self::Likeness(listings) => vec![AuditEntry::likeness_listed(
                request_id,
                listings.len(),
                listings.iter().filter(|l| l.recognised.is_some()).count(),
            )],
            _ => Vec::new(),
        }
    }

    /// Stores it beside its request.
    async fn insert(
        &self,
        c: &mut diesel_async::AsyncPgConnection,
        request_id: Uuid,
    ) -> diesel::QueryResult<()> {
        match self {
            Self::Plain => Ok(()),
            Self::Report(report) => report.insert(c, request_id).await,
            Self::Likeness(listings) => Listing::insert_all(c, request_id, listings).await,
        }
    }
}

/// The outcome of filing.
pub struct Filed {
    /// The new request, or (proved by assertion) the person's open one of this kind.
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

/// Files a request and starts verification. By email: always a new request and a new
/// code. By assertion (identity proved at once): the person's open request of this kind
/// if there is one (its token rotates), else a new one. A child report or a likeness
/// request (by email only) stores its `details` beside the request.
pub async fn file(
    state: &AppState,
    kind: RequestKind,
    identity: Identity,
    details: Details,
) -> Result<Filed, ApiError> {
    let identity_hash = identity.hash(state);
    let matter_hash = details.matter_hash(state);
    let now = Utc::now().trunc_subsecs(6);
    let regime = state.settings.requests.regime;
    let due = crate::deadlines::at_intake(&state.settings, kind, now);
    // The mail confirming receipt is queued with the filing: the code mail of a filing by
    // email; a receipt mail for a filing by assertion whose rule has an acknowledgement
    // clock, when the assertion names an address.
    let acknowledged = match &identity {
        Identity::Email(_) => true,
        Identity::Platform(a) => due.ack_due_at.is_some() && a.email.is_some(),
    };
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
        due_at: due.due_at,
        ack_due_at: due.ack_due_at,
        acknowledged_at: acknowledged.then_some(now),
        matter_hash,
    };
    let mut conn = state.db.get().await?;
    match identity {
        Identity::Email(email) => {
            let code = secrets::new_code();
            let security = &state.settings.security;
            let ttl = Duration::minutes(i64::from(security.code_ttl_minutes));
            let attempts = i32::try_from(security.code_max_attempts).unwrap_or(i32::MAX);
            let keyed = state.keyed.clone();
            let request = conn
                .transaction::<_, ApiError, _>(async |c| {
                    let request = new.insert(c).await?;
                    details.insert(c, request.id).await?;
                    let mut entries = vec![AuditEntry::request_filed(
                        request.id,
                        kind.as_str(),
                        &request.regime,
                        request.due_at,
                        request.ack_due_at,
                    )];
                    entries.extend(details.entries(request.id));
                    entries.push(AuditEntry::code_sent(request.id));
                    let mail = mail::verification_code(
                        &code,
                        security.code_ttl_minutes,
                        kind.as_str(),
                        request.id,
                        request.due_at,
                    );
                    // Three statements that need only the request row, sent together
                    // (pipelined) and answered in one round trip.
                    futures::try_join!(
                        VerificationCode::issue(c, &keyed, request.id, &code, ttl, attempts),
                        state
                            .outbox
                            .put(c, Some(request.id), "verification_code", &email, mail),
                        audit::append(c, &entries),
                    )?;
                    Ok(request)
                })
                .await?;
            drop(conn);
            state.outbox.wake();
            Ok(Filed {
                request,
                created: true,
                token: None,
            })
        }
        Identity::Platform(_) if !matches!(details, Details::Plain) => Err(ApiError::field(
            "assertion",
            "reports and likeness requests are filed with an email, not an assertion",
        )),
        Identity::Platform(asserted) => {
            let token = secrets::new_token();
            let token_hash = state.keyed.hash(label::TOKEN, &token);
            let auto_approve = super::verify::auto_approves(state, kind);
            let grace = super::verify::grace_period(state);
            let keyed = state.keyed.clone();
            let mut tries = 0;
            let (request, created, approved_now) = loop {
                tries += 1;
                let attempt = conn
                    .transaction::<_, ApiError, _>(async |c| {
                        // Single use: a replayed assertion is refused before it can touch
                        // (or take over) a request.
                        asserted.spend(c, &keyed).await?;
                        let mut entries = Vec::new();
                        if let Some(open) =
                            Request::find_proved_open(c, kind, &new.email_hash, None).await?
                        {
                            super::verify::rotate_token(
                                c,
                                &open,
                                &token_hash,
                                "platform_assertion",
                                &mut entries,
                            )
                            .await?;
                            audit::append(c, &entries).await?;
                            let open =
                                Request::find(c, open.id).await?.ok_or(ApiError::NotFound)?;
                            return Ok((open, false, false));
                        }
                        let request = new.insert(c).await?;
                        entries.push(AuditEntry::request_filed(
                            request.id,
                            kind.as_str(),
                            &request.regime,
                            request.due_at,
                            request.ack_due_at,
                        ));
                        if request.acknowledged_at.is_some() {
                            state
                                .outbox
                                .put_to_requester(
                                    c,
                                    request.id,
                                    request.email.as_deref(),
                                    "request_received",
                                    mail::request_received(
                                        request.id,
                                        kind.as_str(),
                                        request.due_at,
                                    ),
                                )
                                .await?;
                            entries.push(AuditEntry::acknowledged(request.id));
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
                        if kind == RequestKind::Unsubscribe {
                            crate::unsubscribe::on_verified(
                                c,
                                &keyed,
                                &request,
                                None,
                                "assertion",
                                &mut entries,
                            )
                            .await?;
                        }
                        audit::append(c, &entries).await?;
                        let request = Request::find(c, request.id)
                            .await?
                            .ok_or(ApiError::NotFound)?;
                        Ok((request, true, approved_now))
                    })
                    .await;
                match attempt {
                    Err(error) if tries < 3 && is_proved_open_conflict(&error) => continue,
                    other => break other?,
                }
            };
            drop(conn);
            if request.acknowledged_at.is_some() {
                state.outbox.wake();
            }
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

/// Whether filing or verifying lost a race with another proof for the same person and
/// kind (the loser tries again and finds the winner's request).
pub(crate) fn is_proved_open_conflict(error: &ApiError) -> bool {
    matches!(error, ApiError::Internal(e)
        if e.downcast_ref::<diesel::result::Error>()
            .is_some_and(crate::models::request::is_proved_open_conflict))
}
