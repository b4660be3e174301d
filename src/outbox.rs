//! The mail outbox. A message is a row written by [`Outbox::put`] inside the transaction of
//! the state change it reports, so a request that was filed always gets its mail and a
//! rolled-back change never sends one. [`Outbox::run`] (in every `serve` and `work`
//! process) delivers due messages, deletes each once sent, and retries failures with
//! backoff; the error kept and logged is the transport's kind and code, never a server's
//! reply text. Recipient, subject and body are sealed with ChaCha20-Poly1305 under a
//! purpose key, so the table holds no readable address or code.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, watch};
use uuid::Uuid;

use crate::db::DbPool;
use crate::domain::Email;
use crate::mail::{Mail, Mailer};
use crate::schema::outbox;
use crate::secrets::{Keyed, SealKey, label};

/// Messages claimed per pass.
const BATCH: i64 = 64;
/// Time a pass may spend sending before it commits what it did.
const PASS_BUDGET: std::time::Duration = std::time::Duration::from_secs(10);
/// Longest wait between attempts at one message.
const MAX_BACKOFF_SECONDS: i64 = 600;

#[derive(Serialize, Deserialize)]
struct Sealed {
    to: String,
    subject: String,
    body: String,
}

/// Writes messages and delivers them.
#[derive(Clone)]
pub struct Outbox {
    key: Arc<SealKey>,
    wake: Arc<Notify>,
    db: DbPool,
    mailer: Mailer,
    poll: Duration,
    max_age: chrono::Duration,
}

/// A message due for delivery: id, request, kind, sealed body, created, attempts.
type DueRow = (i64, Option<Uuid>, String, Vec<u8>, DateTime<Utc>, i32);

impl Outbox {
    /// An outbox over the service database, delivering through `mailer`.
    pub fn new(db: DbPool, mailer: Mailer, keyed: &Keyed, max_age_hours: u32) -> Self {
        Self {
            key: Arc::new(SealKey::new(keyed, label::OUTBOX)),
            wake: Arc::new(Notify::new()),
            db,
            mailer,
            poll: Duration::from_secs(1),
            max_age: chrono::Duration::hours(i64::from(max_age_hours)),
        }
    }

    /// Queues `mail` to `to` in the caller's transaction; call [`Outbox::wake`] after it
    /// commits to send at once (otherwise the next poll, within a second, sends it). Takes
    /// the connection shared, so it can be pipelined with other statements.
    pub async fn put(
        &self,
        mut conn: &AsyncPgConnection,
        request_id: Option<Uuid>,
        what: &'static str,
        to: &Email,
        mail: Mail,
    ) -> QueryResult<()> {
        let sealed = self.key.seal(
            &serde_json::to_vec(&Sealed {
                to: to.as_str().to_owned(),
                subject: mail.subject,
                body: mail.body,
            })
            .expect("strings serialize"),
        );
        let now = Utc::now();
        diesel::insert_into(outbox::table)
            .values((
                outbox::request_id.eq(request_id),
                outbox::what.eq(what),
                outbox::sealed.eq(sealed),
                outbox::created_at.eq(now),
                outbox::next_attempt_at.eq(now),
            ))
            .execute(&mut conn)
            .await?;
        Ok(())
    }

    /// Queues `mail` to the requester's address, if Lethe still holds it (`email`).
    pub async fn put_to_requester(
        &self,
        conn: &mut AsyncPgConnection,
        request_id: Uuid,
        email: Option<&str>,
        what: &'static str,
        mail: Mail,
    ) -> QueryResult<()> {
        match email.and_then(|e| Email::try_from(e).ok()) {
            Some(to) => self.put(conn, Some(request_id), what, &to, mail).await,
            None => Ok(()),
        }
    }

    /// Tells this process's sender that committed messages wait.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    fn open(&self, sealed: &[u8]) -> Option<Sealed> {
        serde_json::from_slice(&self.key.open(sealed)?).ok()
    }

    /// Delivers until `stopped` turns true, then makes one last pass.
    pub async fn run(self, mut stopped: watch::Receiver<bool>) {
        let mut failing = false;
        loop {
            let last = *stopped.borrow();
            match self.deliver_due().await {
                Ok(sent) => {
                    failing = false;
                    if sent == BATCH as usize && !last {
                        continue;
                    }
                }
                Err(error) if !failing => {
                    tracing::warn!(
                        error = crate::telemetry::loggable(&error),
                        "outbox pass failed; retrying"
                    );
                    failing = true;
                }
                Err(_) => {}
            }
            if last {
                return;
            }
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(self.poll) => {}
                _ = stopped.changed() => {}
            }
        }
    }

    /// One pass: claims due messages (skipping those another sender holds), sends each,
    /// deletes the sent and reschedules the failed. Returns how many it claimed.
    pub async fn deliver_due(&self) -> anyhow::Result<usize> {
        let mut conn = self.db.get().await?;
        conn.transaction::<_, anyhow::Error, _>(async |c| {
            let due: Vec<DueRow> =
                outbox::table
                    .select((
                        outbox::id,
                        outbox::request_id,
                        outbox::what,
                        outbox::sealed,
                        outbox::created_at,
                        outbox::attempts,
                    ))
                    .filter(outbox::next_attempt_at.le(Utc::now()))
                    .order(outbox::id.asc())
                    .limit(BATCH)
                    .for_update()
                    .skip_locked()
                    .load(c)
                    .await?;
            let claimed = due.len();
            let mut sent = Vec::new();
            // The claimed rows stay locked until this transaction ends: past the pass's
            // budget (a slow or silent mail server), the rest wait for the next pass.
            let started = std::time::Instant::now();
            for (id, request_id, what, sealed, created_at, attempts) in due {
                if started.elapsed() > PASS_BUDGET {
                    break;
                }
                // Sealed under another secret key, or to no address: no retry can send it.
                let Some((to, m)) = self
                    .open(&sealed)
                    .and_then(|m| Some((Email::try_from(m.to.as_str()).ok()?, m)))
                else {
                    tracing::error!(id, ?request_id, mail = %what, "mail dropped: it cannot be opened with this security.secret_key");
                    sent.push(id);
                    continue;
                };
                let outcome = self
                    .mailer
                    .send(
                        &to,
                        Mail {
                            subject: m.subject,
                            body: m.body,
                        },
                    )
                    .await
                    .map_err(|e| crate::telemetry::loggable(&e));
                match outcome {
                    Ok(()) => sent.push(id),
                    Err(error) if Utc::now() - created_at > self.max_age => {
                        tracing::error!(id, ?request_id, mail = %what, attempts, %error, "mail given up after mail.outbox_max_age_hours");
                        sent.push(id);
                    }
                    Err(error) => {
                        let backoff = (1i64 << attempts.clamp(0, 10)).min(MAX_BACKOFF_SECONDS);
                        tracing::warn!(id, ?request_id, mail = %what, attempts = attempts + 1, retry_in_s = backoff, %error, "mail failed; will retry");
                        diesel::update(outbox::table.find(id))
                            .set((
                                outbox::attempts.eq(attempts + 1),
                                outbox::next_attempt_at
                                    .eq(Utc::now() + chrono::Duration::seconds(backoff)),
                                outbox::last_error.eq(&error),
                            ))
                            .execute(c)
                            .await?;
                    }
                }
            }
            diesel::delete(outbox::table.filter(outbox::id.eq_any(&sent)))
                .execute(c)
                .await?;
            Ok(claimed)
        })
        .await
    }
}
