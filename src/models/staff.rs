//! Staff accounts and their API tokens. Passwords are Argon2id PHC strings; tokens are
//! shown once and stored only as keyed hashes, and can be revoked.

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::domain::{Email, Role};
use crate::schema::{staff, staff_tokens};
use crate::secrets::{Keyed, label};

/// A staff account.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = staff, check_for_backend(diesel::pg::Pg))]
pub struct Staff {
    /// Id.
    pub id: Uuid,
    /// Sign-in email.
    pub email: String,
    /// Role, as stored.
    pub role: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Disabled (can no longer sign in or use tokens).
    pub disabled_at: Option<DateTime<Utc>>,
    /// Failed console sign-ins in a row.
    pub failed_sign_ins: i32,
    /// Locked out of the console until then.
    pub locked_until: Option<DateTime<Utc>>,
    /// The TOTP secret, sealed (see [`crate::secrets::label::TOTP`]).
    pub totp_secret: Option<Vec<u8>>,
    /// When the TOTP second factor was turned on.
    pub totp_enabled_at: Option<DateTime<Utc>>,
    /// The last TOTP time step a code was accepted for.
    pub totp_last_step: Option<i64>,
}

/// Hashes a password with Argon2id (the crate's OWASP defaults).
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    Ok(Argon2::default()
        .hash_password(password.as_bytes())
        .map_err(|e| anyhow::anyhow!("hashing: {e}"))?
        .to_string())
}

/// A hash of no one's password with the same parameters as real ones: signing in with an
/// unknown email verifies against it, so both cases cost the same work on the same pool.
static DUMMY_HASH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    hash_password(&crate::secrets::new_token()).expect("hashing a random password")
});

/// Prefix of staff tokens, so that a leaked one is recognisable.
pub const TOKEN_PREFIX: &str = "lst_";

impl Staff {
    /// The role.
    pub fn role(&self) -> Role {
        Role::parse(&self.role).expect("the database constrains roles")
    }

    /// Creates a staff account.
    pub async fn create(
        conn: &mut AsyncPgConnection,
        email: &Email,
        role: Role,
        password: &str,
    ) -> anyhow::Result<Self> {
        anyhow::ensure!(
            password.chars().count() >= 12,
            "the password must be at least 12 characters"
        );
        let hash = hash_password(password)?;
        Ok(diesel::insert_into(staff::table)
            .values((
                staff::id.eq(Uuid::now_v7()),
                staff::email.eq(email.normalized()),
                staff::role.eq(role.as_str()),
                staff::password_hash.eq(hash),
                staff::created_at.eq(Utc::now()),
            ))
            .returning(Self::as_returning())
            .get_result(conn)
            .await?)
    }

    /// Finds an active account by email.
    pub async fn find_by_email(
        conn: &mut AsyncPgConnection,
        email: &Email,
    ) -> QueryResult<Option<Self>> {
        staff::table
            .filter(staff::email.eq(email.normalized()))
            .filter(staff::disabled_at.is_null())
            .select(Self::as_select())
            .first(conn)
            .await
            .optional()
    }

    /// Signs in: the account if it exists, is active and the password matches. An unknown
    /// email costs the same Argon2id verification (against a dummy hash, on the same
    /// blocking pool) as a known one, so timing does not tell which emails are staff.
    pub async fn sign_in(found: Option<Self>, password: String) -> Option<Self> {
        let hash = found
            .as_ref()
            .map_or_else(|| DUMMY_HASH.clone(), |s| s.password_hash.clone());
        let matches = tokio::task::spawn_blocking(move || {
            argon2::PasswordHash::new(&hash).is_ok_and(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
        })
        .await
        .unwrap_or(false);
        found.filter(|_| matches)
    }

    /// Warms the dummy hash (at start-up, so the first unknown sign-in is not slower).
    pub fn prepare_sign_in() {
        std::sync::LazyLock::force(&DUMMY_HASH);
    }

    /// Issues a new API token for this account, valid for `ttl`; returns (token id,
    /// token). The token is shown once and stored only as a keyed hash.
    pub async fn issue_token(
        &self,
        conn: &mut AsyncPgConnection,
        keyed: &Keyed,
        name: &str,
        ttl: chrono::Duration,
    ) -> QueryResult<(Uuid, String)> {
        let token = format!("{TOKEN_PREFIX}{}", crate::secrets::new_token());
        let id = Uuid::now_v7();
        diesel::insert_into(staff_tokens::table)
            .values((
                staff_tokens::id.eq(id),
                staff_tokens::staff_id.eq(self.id),
                staff_tokens::name.eq(name),
                staff_tokens::token_hash.eq(keyed.hash(label::STAFF_TOKEN, &token)),
                staff_tokens::created_at.eq(Utc::now()),
                staff_tokens::expires_at.eq(Utc::now() + ttl),
            ))
            .execute(conn)
            .await?;
        Ok((id, token))
    }

    /// The active account behind a token, if the token is live.
    pub async fn by_token(
        conn: &mut AsyncPgConnection,
        keyed: &Keyed,
        token: &str,
    ) -> QueryResult<Option<Self>> {
        if !token.starts_with(TOKEN_PREFIX) {
            return Ok(None);
        }
        let hash = keyed.hash(label::STAFF_TOKEN, token);
        let found: Option<(Uuid, Self)> = staff_tokens::table
            .inner_join(staff::table)
            .filter(staff_tokens::token_hash.eq(&hash))
            .filter(staff_tokens::revoked_at.is_null())
            .filter(staff_tokens::expires_at.gt(Utc::now()))
            .filter(staff::disabled_at.is_null())
            .select((staff_tokens::id, Self::as_select()))
            .first(conn)
            .await
            .optional()?;
        let Some((token_id, account)) = found else {
            return Ok(None);
        };
        diesel::update(staff_tokens::table.find(token_id))
            .set(staff_tokens::last_used_at.eq(Utc::now()))
            .execute(conn)
            .await?;
        Ok(Some(account))
    }

    /// Revokes a token by id; returns whether one was live.
    pub async fn revoke_token(conn: &mut AsyncPgConnection, token_id: Uuid) -> QueryResult<bool> {
        let n = diesel::update(
            staff_tokens::table
                .find(token_id)
                .filter(staff_tokens::revoked_at.is_null()),
        )
        .set(staff_tokens::revoked_at.eq(Utc::now()))
        .execute(conn)
        .await?;
        Ok(n > 0)
    }

    /// Revokes one of `staff_id`'s own tokens; returns whether one was live.
    pub async fn revoke_own_token(
        conn: &mut AsyncPgConnection,
        staff_id: Uuid,
        token_id: Uuid,
    ) -> QueryResult<bool> {
        let n = diesel::update(
            staff_tokens::table
                .find(token_id)
                .filter(staff_tokens::staff_id.eq(staff_id))
                .filter(staff_tokens::revoked_at.is_null()),
        )
        .set(staff_tokens::revoked_at.eq(Utc::now()))
        .execute(conn)
        .await?;
        Ok(n > 0)
    }

    /// This account's tokens, newest first: (id, name, created, last used, expires, revoked).
    pub async fn tokens(&self, conn: &mut AsyncPgConnection) -> QueryResult<Vec<TokenRow>> {
        staff_tokens::table
            .filter(staff_tokens::staff_id.eq(self.id))
            .select(TokenRow::as_select())
            .order(staff_tokens::created_at.desc())
            .load(conn)
            .await
    }

    /// Every account, by email.
    pub async fn all(conn: &mut AsyncPgConnection) -> QueryResult<Vec<Self>> {
        staff::table
            .select(Self::as_select())
            .order(staff::email.asc())
            .load(conn)
            .await
    }

    /// Sets an account's password (at least 12 characters).
    pub async fn set_password(
        conn: &mut AsyncPgConnection,
        id: Uuid,
        password: &str,
    ) -> anyhow::Result<()> {
        anyhow::ensure!(
            password.chars().count() >= 12,
            "the password must be at least 12 characters"
        );
        let hash = hash_password(password)?;
        diesel::update(staff::table.find(id))
            .set(staff::password_hash.eq(hash))
            .execute(conn)
            .await?;
        Ok(())
    }

    /// Sets an account's role.
    pub async fn set_role(conn: &mut AsyncPgConnection, id: Uuid, role: Role) -> QueryResult<bool> {
        let n = diesel::update(staff::table.find(id))
            .set(staff::role.eq(role.as_str()))
            .execute(conn)
            .await?;
        Ok(n == 1)
    }

    /// Disables an account (its sessions end and its tokens stop working) or enables it again.
    pub async fn set_disabled(
        conn: &mut AsyncPgConnection,
        id: Uuid,
        disabled: bool,
    ) -> QueryResult<bool> {
        let n = diesel::update(staff::table.find(id))
            .set(staff::disabled_at.eq(disabled.then(Utc::now)))
            .execute(conn)
            .await?;
        if disabled {
            crate::models::staff_session::end_all(conn, id).await?;
        }
        Ok(n == 1)
    }
}

/// A staff token as its owner sees it (never the token itself).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = staff_tokens, check_for_backend(diesel::pg::Pg))]
pub struct TokenRow {
    /// Id.
    pub id: Uuid,
    /// Name given.
    pub name: String,
    /// Issued.
    pub created_at: DateTime<Utc>,
    /// Last used.
    pub last_used_at: Option<DateTime<Utc>>,
    /// Expires.
    pub expires_at: DateTime<Utc>,
    /// Revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}
