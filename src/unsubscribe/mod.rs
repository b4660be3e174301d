//! Unsubscribing from marketing mail. A one-click link (RFC 8058) or a verified
//! unsubscribe request puts the address on the suppression list at once (the keyed hash
//! of the normalised address per category, `*` for every category) and files an
//! unsubscribe that a worker applies to the platform through the data map's `[marketing]`
//! section ([`lethe_jobs::jobs::unsubscribe_request`]). The platform's mailer checks
//! addresses against the list; re-subscribing is the platform's business.

pub mod gpc;
pub mod token;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::audit::{self, AuditEntry};
use crate::domain::{Email, RequestKind, RequestStatus};
use crate::error::ApiError;
use crate::models::request::Request;
use crate::schema::{requests, suppressions};
use crate::secrets::{Keyed, label};
use crate::state::AppState;

/// The suppression category meaning every marketing category.
pub const EVERY: &str = "*";

/// The keyed hash an address is suppressed under.
pub fn suppression_hash(keyed: &Keyed, email: &Email) -> Vec<u8> {
    keyed.hash(label::SUPPRESSION, &email.normalized())
}

/// Puts `email` on the list for `category` (idempotent), with an audit entry when new.
async fn suppress(
    c: &mut AsyncPgConnection,
    hash: Vec<u8>,
    category: &str,
    source: &str,
    request_id: Option<Uuid>,
    entries: &mut Vec<AuditEntry>,
) -> Result<(), ApiError> {
    let added = diesel::insert_into(suppressions::table)
        .values((
            suppressions::hash.eq(hash),
            suppressions::category.eq(category),
            suppressions::source.eq(source),
            suppressions::request_id.eq(request_id),
            suppressions::created_at.eq(Utc::now()),
        ))
        .on_conflict_do_nothing()
        .execute(c)
        .await?;
    if added > 0 {
        entries.push(AuditEntry::suppressed(request_id, category, source));
    }
    Ok(())
}

/// Inside verification of an unsubscribe request (`filing`, joined to `into` when the
/// person had one open; `source` `request` for a code, `assertion` for the platform's
/// assertion): the address goes on the list for the filing's categories at once, and an
/// open request is widened to them. A filing without an address (an assertion with no
/// `email` claim) suppresses nothing; the platform's preference is still turned off.
pub async fn on_verified(
    c: &mut AsyncPgConnection,
    keyed: &Keyed,
    filing: &Request,
    into: Option<&Request>,
    source: &str,
    entries: &mut Vec<AuditEntry>,
) -> Result<(), ApiError> {
    let Some(email) = filing
        .email
        .as_deref()
        .and_then(|e| Email::try_from(e).ok())
    else {
        return Ok(());
    };
    let target = into.unwrap_or(filing);
    if let Some(open) = into {
        let widened = widen(open.categories.clone(), filing.categories.clone());
        if widened != open.categories {
            diesel::update(requests::table.find(open.id))
                .set(requests::categories.eq(&widened))
                .execute(c)
                .await?;
        }
    }
    let hash = suppression_hash(keyed, &email);
    for category in categories_of(filing.categories.as_deref()) {
        suppress(c, hash.clone(), category, source, Some(target.id), entries).await?;
    }
    Ok(())
}

/// The suppression categories of a request's categories (`None`: every category).
fn categories_of(categories: Option<&[String]>) -> Vec<&str> {
    match categories {
        None => vec![EVERY],
        Some(list) => list.iter().map(String::as_str).collect(),
    }
}

/// One-click unsubscribe by a link: the address goes on the list at once and an
/// unsubscribe is filed (approved: the link proves the mailbox) or, when one is open for
/// the person, widened to this category. Returns the request's id.
pub async fn by_link(state: &AppState, link: &token::Link) -> Result<Uuid, ApiError> {
    let now = Utc::now();
    let identity = state.keyed.hash(label::EMAIL, &link.email.normalized());
    let hash = suppression_hash(&state.keyed, &link.email);
    let category = link.category.as_deref().unwrap_or(EVERY).to_owned();
    let wanted: Option<Vec<String>> = link.category.clone().map(|c| vec![c]);
    let due = crate::deadlines::at_intake(&state.settings, RequestKind::Unsubscribe, now);
    let regime = state.settings.requests.regime.as_str();
    let mut tries = 0;
    loop {
        tries += 1;
        let mut conn = state.db.get().await?;
        let attempt = conn
            .transaction::<_, ApiError, _>(async |c| {
                let mut entries = Vec::new();
                let (request_id, created) = open_or_file(
                    c,
                    &Proved {
                        identity: &identity,
                        email: Some(link.email.as_str()),
                        subject_ref: None,
                        via: "unsubscribe_link",
                        regime,
                        now,
                        due,
                    },
                    &wanted,
                    &mut entries,
                )
                .await?;
                suppress(
                    c,
                    hash.clone(),
                    &category,
                    "link",
                    Some(request_id),
                    &mut entries,
                )
                .await?;
                audit::append(c, &entries).await?;
                Ok((request_id, created))
            })
            .await;
        match attempt {
            Err(error)
                if tries < 3 && crate::lifecycle::intake::is_proved_open_conflict(&error) =>
            {
                continue;
            }
            Err(error) => return Err(error),
            Ok((request_id, created)) => {
                if created && let Some(request) = Request::find(&mut conn, request_id).await? {
                    drop(conn);
                    crate::lifecycle::enqueue_after_commit(state, &request).await;
                }
                return Ok(request_id);
            }
        }
    }
}

/// Who an unsubscribe proved at once is for, and how it was proved.
pub(crate) struct Proved<'a> {
    /// The keyed identity hash.
    pub identity: &'a [u8],
    /// The address, when known (kept until the request completes).
    pub email: Option<&'a str>,
    /// The platform subject named by an assertion.
    pub subject_ref: Option<&'a str>,
    /// `unsubscribe_link` or `platform_assertion`.
    pub via: &'static str,
    /// The legal regime's name.
    pub regime: &'a str,
    /// Received.
    pub now: DateTime<Utc>,
    /// Its deadlines.
    pub due: crate::deadlines::Due,
}

/// Inside a transaction: the person's open unsubscribe widened by `wanted`, or a new one
/// approved at once, with its audit entries. Returns its id and whether it is new (the
/// caller enqueues it after commit). A race with another proof for the same person fails
/// on the unique index; the caller tries again.
pub(crate) async fn open_or_file(
    c: &mut AsyncPgConnection,
    who: &Proved<'_>,
    wanted: &Option<Vec<String>>,
    entries: &mut Vec<AuditEntry>,
) -> Result<(Uuid, bool), ApiError> {
    if let Some(open) =
        Request::find_proved_open(c, RequestKind::Unsubscribe, who.identity, None).await?
    {
        let widened = widen(open.categories.clone(), wanted.clone());
        if widened != open.categories {
            diesel::update(requests::table.find(open.id))
                .set(requests::categories.eq(&widened))
                .execute(c)
                .await?;
        }
        return Ok((open.id, false));
    }
    let id = Uuid::now_v7();
    diesel::insert_into(requests::table)
        .values((
            requests::id.eq(id),
            requests::kind.eq(RequestKind::Unsubscribe.as_str()),
            requests::status.eq(RequestStatus::Approved.as_str()),
            requests::email.eq(who.email),
            requests::email_hash.eq(who.identity),
            requests::subject_ref.eq(who.subject_ref),
            requests::verified_via.eq(who.via),
            requests::regime.eq(who.regime),
            requests::created_at.eq(who.now),
            requests::due_at.eq(who.due.due_at),
            requests::ack_due_at.eq(who.due.ack_due_at),
            requests::verified_at.eq(who.now),
            requests::approved_at.eq(who.now),
            requests::categories.eq(wanted),
        ))
        .execute(c)
        .await?;
    entries.push(AuditEntry::request_filed(
        id,
        RequestKind::Unsubscribe.as_str(),
        who.regime,
        who.due.due_at,
        who.due.ack_due_at,
    ));
    entries.push(AuditEntry::verified(id, who.via));
    entries.push(AuditEntry::auto_approved(id));
    Ok((id, true))
}

/// The categories of an open unsubscribe widened by another's (`None`: every category).
fn widen(open: Option<Vec<String>>, more: Option<Vec<String>>) -> Option<Vec<String>> {
    let (mut open, more) = (open?, more?);
    open.extend(more);
    open.sort();
    open.dedup();
    Some(open)
}

/// Which of `emails` are suppressed for `category` (or for every category): compares
/// keyed hashes, answers with the addresses as given.
pub async fn check(
    state: &AppState,
    emails: &[Email],
    category: Option<&str>,
) -> Result<Vec<usize>, ApiError> {
    let hashes: Vec<Vec<u8>> = emails
        .iter()
        .map(|e| suppression_hash(&state.keyed, e))
        .collect();
    let categories: Vec<&str> = match category {
        Some(c) => vec![c, EVERY],
        None => vec![EVERY],
    };
    let mut conn = state.db.get().await?;
    let found: Vec<Vec<u8>> = suppressions::table
        .filter(suppressions::hash.eq_any(&hashes))
        .filter(suppressions::category.eq_any(&categories))
        .select(suppressions::hash)
        .distinct()
        .load(&mut conn)
        .await?;
    let found: std::collections::HashSet<Vec<u8>> = found.into_iter().collect();
    Ok(hashes
        .iter()
        .enumerate()
        .filter(|(_, h)| found.contains(*h))
        .map(|(i, _)| i)
        .collect())
}

/// Staff take an address off the list for a category (`*`: the every-category entry);
/// audited. Returns whether there was one.
pub async fn remove(
    state: &AppState,
    staff: Uuid,
    email: &Email,
    category: &str,
) -> Result<bool, ApiError> {
    let hash = suppression_hash(&state.keyed, email);
    let mut conn = state.db.get().await?;
    conn.transaction::<_, ApiError, _>(async |c| {
        let removed = diesel::delete(
            suppressions::table
                .filter(suppressions::hash.eq(&hash))
                .filter(suppressions::category.eq(category)),
        )
        .execute(c)
        .await?;
        if removed > 0 {
            audit::append(c, &[AuditEntry::suppression_removed(staff, category)]).await?;
        }
        Ok(removed > 0)
    })
    .await
}
