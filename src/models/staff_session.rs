//! Staff console sessions: server-side rows in PostgreSQL, found by the keyed hash of the
//! cookie's random token, ended after `web.console_idle_minutes` without activity or
//! `web.console_absolute_hours` after sign-in whatever the activity; and the sign-in
//! lockout that goes with them.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::staff::Staff;
use crate::schema::{staff, staff_sessions};
use crate::secrets::{Keyed, label};

/// A live session and its member.
#[derive(Debug, Clone)]
pub struct LiveSession {
    /// The session's id.
    pub id: Uuid,
    /// Who signed in.
    pub staff: Staff,
    /// Whether the second factor was given.
    pub second_factor: bool,
    /// When it ends at the latest.
    pub expires_at: DateTime<Utc>,
}

/// How long sessions last.
#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    /// Without activity.
    pub idle: Duration,
    /// In all.
    pub absolute: Duration,
}

/// Starts a session for `staff_id`; returns the cookie's token (shown to the browser only).
pub async fn start(
    conn: &mut AsyncPgConnection,
    keyed: &Keyed,
    staff_id: Uuid,
    lifetimes: Lifetimes,
    second_factor: bool,
) -> QueryResult<String> {
    let token = crate::secrets::new_token();
    let now = Utc::now();
    diesel::insert_into(staff_sessions::table)
        .values((
            staff_sessions::id.eq(Uuid::now_v7()),
            staff_sessions::staff_id.eq(staff_id),
            staff_sessions::token_hash.eq(keyed.hash(label::STAFF_SESSION, &token)),
            staff_sessions::created_at.eq(now),
            staff_sessions::last_seen_at.eq(now),
            staff_sessions::expires_at.eq(now + lifetimes.absolute),
            staff_sessions::second_factor.eq(second_factor),
        ))
        .execute(conn)
        .await?;
    Ok(token)
}

/// A session as read: id, second factor given, last seen, absolute end, member.
type SessionRow = (Uuid, bool, DateTime<Utc>, DateTime<Utc>, Staff);

/// The live session behind `token` (its member active), marking it seen.
pub async fn find(
    conn: &mut AsyncPgConnection,
    keyed: &Keyed,
    token: &str,
    lifetimes: Lifetimes,
) -> QueryResult<Option<LiveSession>> {
    let now = Utc::now();
    let hash = keyed.hash(label::STAFF_SESSION, token);
    let found: Option<SessionRow> = staff_sessions::table
        .inner_join(staff::table)
        .filter(staff_sessions::token_hash.eq(&hash))
        .filter(staff_sessions::expires_at.gt(now))
        .filter(staff_sessions::last_seen_at.gt(now - lifetimes.idle))
        .filter(staff::disabled_at.is_null())
        .select((
            staff_sessions::id,
            staff_sessions::second_factor,
            staff_sessions::last_seen_at,
            staff_sessions::expires_at,
            Staff::as_select(),
        ))
        .first(conn)
        .await
        .optional()?;
    let Some((id, second_factor, last_seen, expires_at, staff)) = found else {
        return Ok(None);
    };
    // Activity is recorded at most every 15 s: enough for the idle clock.
    if now - last_seen > Duration::seconds(15) {
        diesel::update(staff_sessions::table.find(id))
            .set(staff_sessions::last_seen_at.eq(now))
            .execute(conn)
            .await?;
    }
    Ok(Some(LiveSession {
        id,
        staff,
        second_factor,
        expires_at,
    }))
}

/// Marks a session's second factor as given.
pub async fn second_factor_given(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<()> {
    diesel::update(staff_sessions::table.find(id))
        .set(staff_sessions::second_factor.eq(true))
        .execute(conn)
        .await
        .map(drop)
}

/// Ends one session.
pub async fn end(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<()> {
    diesel::delete(staff_sessions::table.find(id))
        .execute(conn)
        .await
        .map(drop)
}

/// Ends every session of `staff_id` (sign-out everywhere); returns how many.
pub async fn end_all(conn: &mut AsyncPgConnection, staff_id: Uuid) -> QueryResult<usize> {
    diesel::delete(staff_sessions::table.filter(staff_sessions::staff_id.eq(staff_id)))
        .execute(conn)
        .await
}

/// Drops sessions that can no longer be used.
pub async fn sweep(conn: &mut AsyncPgConnection, idle: Duration) -> QueryResult<usize> {
    let now = Utc::now();
    diesel::delete(
        staff_sessions::table.filter(
            staff_sessions::expires_at
                .le(now)
                .or(staff_sessions::last_seen_at.le(now - idle)),
        ),
    )
    .execute(conn)
    .await
}

/// The lockout state of an account: (failed sign-ins in a row, locked until).
pub async fn lockout(
    conn: &mut AsyncPgConnection,
    staff_id: Uuid,
) -> QueryResult<(i32, Option<DateTime<Utc>>)> {
    staff::table
        .find(staff_id)
        .select((staff::failed_sign_ins, staff::locked_until))
        .first(conn)
        .await
}

/// Records a failed sign-in; at `max` failures in a row the account is locked for `lock`.
/// Returns whether it is now locked.
pub async fn failed(
    conn: &mut AsyncPgConnection,
    staff_id: Uuid,
    max: u32,
    lock: Duration,
) -> QueryResult<bool> {
    let failures: i32 = diesel::update(staff::table.find(staff_id))
        .set(staff::failed_sign_ins.eq(staff::failed_sign_ins + 1))
        .returning(staff::failed_sign_ins)
        .get_result(conn)
        .await?;
    if failures >= i32::try_from(max).unwrap_or(i32::MAX) {
        diesel::update(staff::table.find(staff_id))
            .set((
                staff::locked_until.eq(Utc::now() + lock),
                staff::failed_sign_ins.eq(0),
            ))
            .execute(conn)
            .await?;
        return Ok(true);
    }
    Ok(false)
}

/// Clears the failure count after a good sign-in.
pub async fn succeeded(conn: &mut AsyncPgConnection, staff_id: Uuid) -> QueryResult<()> {
    diesel::update(staff::table.find(staff_id))
        .set((
            staff::failed_sign_ins.eq(0),
            staff::locked_until.eq(None::<DateTime<Utc>>),
        ))
        .execute(conn)
        .await
        .map(drop)
}
