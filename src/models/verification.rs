//! One-time verification codes: stored as a keyed hash bound to their request, with an
//! expiry and a budget of attempts.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::schema::verification_codes;
use crate::secrets::{Keyed, label};

/// A code row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = verification_codes, check_for_backend(diesel::pg::Pg))]
pub struct VerificationCode {
    /// The request it proves.
    pub request_id: Uuid,
    /// Keyed hash of `request_id:code`.
    pub code_hash: Vec<u8>,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
    /// Guesses left.
    pub attempts_left: i32,
    /// Issued.
    pub created_at: DateTime<Utc>,
}

/// What checking a code found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeCheck {
    /// The code is right; it has been consumed.
    Valid,
    /// Wrong; this many guesses remain.
    Wrong {
        /// Guesses left.
        attempts_left: i32,
    },
    /// No guesses remain; a new code must be requested.
    Exhausted,
    /// The code expired (or none was issued).
    Expired,
}

fn hashed(keyed: &Keyed, request_id: Uuid, code: &str) -> Vec<u8> {
    keyed.hash(label::CODE, &format!("{request_id}:{code}"))
}

impl VerificationCode {
    /// Issues (or replaces) the code of a request. Takes the connection shared, so it can
    /// be pipelined with other statements of the same transaction.
    pub async fn issue(
        mut conn: &AsyncPgConnection,
        keyed: &Keyed,
        request_id: Uuid,
        code: &str,
        ttl: Duration,
        attempts: i32,
    ) -> QueryResult<()> {
        let now = Utc::now();
        diesel::insert_into(verification_codes::table)
            .values((
                verification_codes::request_id.eq(request_id),
                verification_codes::code_hash.eq(hashed(keyed, request_id, code)),
                verification_codes::expires_at.eq(now + ttl),
                verification_codes::attempts_left.eq(attempts),
                verification_codes::created_at.eq(now),
            ))
            .on_conflict(verification_codes::request_id)
            .do_update()
            .set((
                verification_codes::code_hash.eq(excluded(verification_codes::code_hash)),
                verification_codes::expires_at.eq(excluded(verification_codes::expires_at)),
                verification_codes::attempts_left.eq(excluded(verification_codes::attempts_left)),
                verification_codes::created_at.eq(excluded(verification_codes::created_at)),
            ))
            .execute(&mut conn)
            .await?;
        Ok(())
    }

    /// Checks a code against the stored hash (constant-time), spending one attempt on a
    /// wrong guess and consuming the code on a right one. Call inside a transaction.
    pub async fn check(
        conn: &mut AsyncPgConnection,
        keyed: &Keyed,
        request_id: Uuid,
        code: &str,
    ) -> QueryResult<CodeCheck> {
        let Some(row) = verification_codes::table
            .find(request_id)
            .select(Self::as_select())
            .for_update()
            .first(conn)
            .await
            .optional()?
        else {
            return Ok(CodeCheck::Expired);
        };
        if row.expires_at <= Utc::now() {
            diesel::delete(verification_codes::table.find(request_id))
                .execute(conn)
                .await?;
            return Ok(CodeCheck::Expired);
        }
        if row.attempts_left <= 0 {
            return Ok(CodeCheck::Exhausted);
        }
        if keyed.verify(label::CODE, &format!("{request_id}:{code}"), &row.code_hash) {
            diesel::delete(verification_codes::table.find(request_id))
                .execute(conn)
                .await?;
            return Ok(CodeCheck::Valid);
        }
        let attempts_left = row.attempts_left - 1;
        diesel::update(verification_codes::table.find(request_id))
            .set(verification_codes::attempts_left.eq(attempts_left))
            .execute(conn)
            .await?;
        Ok(CodeCheck::Wrong { attempts_left })
    }
}
