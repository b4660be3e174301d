//! The daily deadline digest: one mail a day (UTC date) to each recipient
//! (`deadlines.digest_to`, or every active staff member who reviews) listing the clocks of
//! open requests that ran out, and those that run out within `deadlines.digest_days_ahead`
//! days. Ids, kinds, statuses and dates only: no requester data.
//!
//! Whichever process first inserts the day's row into `deadline_digests` sends it, in the
//! same transaction as the mail it queues and its audit entry: another process (or a
//! second pass) finds the row and sends nothing; a pass that fails leaves no row, and the
//! next one sends. A day with nothing to list records its row and sends no mail.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::{DeadlineSettings, RUNNING};
use crate::audit::{self, AuditEntry};
use crate::domain::{Email, Role};
use crate::mail;
use crate::outbox::Outbox;
use crate::schema::{deadline_digests, requests, staff};

/// Lines listed per section; the rest are counted.
const LISTED: usize = 100;

/// What a digest held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    /// Mails queued.
    pub recipients: usize,
    /// Clocks running out within the horizon.
    pub due_soon: usize,
    /// Clocks that ran out.
    pub overdue: usize,
}

/// One clock of one request.
struct Clock {
    id: Uuid,
    kind: String,
    status: String,
    which: &'static str,
    due: DateTime<Utc>,
}

impl Clock {
    fn line(&self) -> String {
        format!(
            "{} UTC  {:<15}  {:<12}  {:<20}  {}",
            self.due.format("%Y-%m-%d %H:%M"),
            self.which,
            self.kind,
            self.status,
            self.id
        )
    }
}

type Row = (
    Uuid,
    String,
    String,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
);

/// Sends the digest of `now`'s day unless it was sent already; `None` if it was, or if
/// nothing is due within `deadlines.digest_days_ahead` days, or no one is to be told.
pub async fn send(
    conn: &mut AsyncPgConnection,
    outbox: &Outbox,
    settings: &DeadlineSettings,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<Sent>> {
    let day = now.date_naive();
    let horizon = now + Duration::days(i64::from(settings.digest_days_ahead));
    conn.transaction::<_, anyhow::Error, _>(async |c| {
        let rows: Vec<Row> = requests::table
            .filter(requests::status.eq_any(RUNNING))
            .filter(
                requests::due_at.lt(horizon).or(requests::acknowledged_at
                    .is_null()
                    .and(requests::ack_due_at.lt(horizon))),
            )
            .select((
                requests::id,
                requests::kind,
                requests::status,
                requests::due_at,
                requests::ack_due_at,
                requests::acknowledged_at,
            ))
            .load(c)
            .await?;
        let (overdue, due_soon) = clocks(rows, now, horizon);
        // Nothing due and no one to tell: no digest, and the day stays unclaimed (a later
        // pass sends one if something falls due today).
        if overdue.is_empty() && due_soon.is_empty() {
            return Ok(None);
        }
        let recipients = recipients(c, settings).await?;
        if recipients.is_empty() {
            return Ok(None);
        }
        let claimed = diesel::insert_into(deadline_digests::table)
            .values((
                deadline_digests::day.eq(day),
                deadline_digests::sent_at.eq(now),
                deadline_digests::recipients.eq(0),
                deadline_digests::due_soon.eq(0),
                deadline_digests::overdue.eq(0),
            ))
            .on_conflict_do_nothing()
            .execute(c)
            .await?;
        if claimed == 0 {
            return Ok(None);
        }
        let lines =
            |list: &[Clock]| -> Vec<String> { list.iter().take(LISTED).map(Clock::line).collect() };
        for to in &recipients {
            let message = mail::deadline_digest(
                day,
                settings.digest_days_ahead,
                (&lines(&overdue), overdue.len()),
                (&lines(&due_soon), due_soon.len()),
            );
            outbox.put(c, None, "deadline_digest", to, message).await?;
        }
        let sent = Sent {
            recipients: recipients.len(),
            due_soon: due_soon.len(),
            overdue: overdue.len(),
        };
        let count = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
        diesel::update(deadline_digests::table.find(day))
            .set((
                deadline_digests::recipients.eq(count(sent.recipients)),
                deadline_digests::due_soon.eq(count(sent.due_soon)),
                deadline_digests::overdue.eq(count(sent.overdue)),
            ))
            .execute(c)
            .await?;
        audit::append(
            c,
            &[AuditEntry::deadline_digest(
                day,
                sent.recipients,
                sent.due_soon,
                sent.overdue,
            )],
        )
        .await?;
        Ok(Some(sent))
    })
    .await
}

/// The clocks of `rows` that ran out by `now`, and those that run out before `horizon`,
/// each soonest first.
fn clocks(rows: Vec<Row>, now: DateTime<Utc>, horizon: DateTime<Utc>) -> (Vec<Clock>, Vec<Clock>) {
    let (mut overdue, mut due_soon) = (Vec::new(), Vec::new());
    for (id, kind, status, due_at, ack_due_at, acknowledged_at) in rows {
        let ack = ack_due_at.filter(|_| acknowledged_at.is_none());
        for (which, due) in [("response", Some(due_at)), ("acknowledgement", ack)] {
            let Some(due) = due else { continue };
            let clock = Clock {
                id,
                kind: kind.clone(),
                status: status.clone(),
                which,
                due,
            };
            if due < now {
                overdue.push(clock);
            } else if due < horizon {
                due_soon.push(clock);
            }
        }
    }
    overdue.sort_by_key(|c| c.due);
    due_soon.sort_by_key(|c| c.due);
    (overdue, due_soon)
}

/// `deadlines.digest_to`, or every active staff member who reviews.
async fn recipients(
    c: &mut AsyncPgConnection,
    settings: &DeadlineSettings,
) -> QueryResult<Vec<Email>> {
    if !settings.digest_to.is_empty() {
        return Ok(settings.digest_to.iter().map(|a| a.0.clone()).collect());
    }
    let roles = [Role::Viewer, Role::Reviewer, Role::Admin].map(Role::as_str);
    let addresses: Vec<String> = staff::table
        .filter(staff::disabled_at.is_null())
        .filter(staff::role.eq_any(roles))
        .select(staff::email)
        .order(staff::email.asc())
        .load(c)
        .await?;
    Ok(addresses
        .iter()
        .filter_map(|a| Email::try_from(a.as_str()).ok())
        .collect())
}
