//! The platform database, reached only through the data map: a connection pool, a
//! server-side cursor for streaming, and locating a subject.

use diesel::QueryableByName;
use diesel::sql_types::Text;
use diesel_async::pooled_connection::deadpool::Pool;
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};

use crate::datamap::{BoundMap, SubjectKey};

/// A pool of connections to the platform database.
pub type PlatformPool = Pool<AsyncPgConnection>;

/// `pg_temp.lethe_redact(value jsonb, pattern text)`: the value with the pattern replaced
/// by `[redacted]` in every string and every object key, at any depth; numbers, booleans
/// and nulls are left as they are, so the result is always valid JSON. A session
/// function (schema `pg_temp`): Lethe creates nothing in the platform's own schemas.
pub const REDACT_FUNCTION: &str = "CREATE OR REPLACE FUNCTION pg_temp.lethe_redact(j jsonb, pat text) \
RETURNS jsonb LANGUAGE plpgsql IMMUTABLE AS $lethe$ \
DECLARE kind text := jsonb_typeof(j); out jsonb; k text; v jsonb; \
BEGIN \
  IF kind = 'string' THEN RETURN to_jsonb(regexp_replace(j #>> '{}', pat, '[redacted]', 'gi')); END IF; \
  IF kind = 'array' THEN \
    out := '[]'::jsonb; \
    FOR v IN SELECT e FROM jsonb_array_elements(j) e LOOP \
      out := out || jsonb_build_array(pg_temp.lethe_redact(v, pat)); \
    END LOOP; \
    RETURN out; \
  END IF; \
  IF kind = 'object' THEN \
    out := '{}'::jsonb; \
    FOR k, v IN SELECT * FROM jsonb_each(j) LOOP \
      out := out || jsonb_build_object(regexp_replace(k, pat, '[redacted]', 'gi'), pg_temp.lethe_redact(v, pat)); \
    END LOOP; \
    RETURN out; \
  END IF; \
  RETURN j; \
END $lethe$";

/// What every platform connection runs first, before [`REDACT_FUNCTION`]: string
/// literals as the SQL standard says (the quoting in [`crate::datamap::catalog::literal`]
/// relies on it) and asynchronous commits (see [`pool`]).
const SESSION_SETTINGS: &str =
    "SET standard_conforming_strings = on; SET synchronous_commit = off; ";

/// Builds a pool for `url` (connections are opened lazily).
///
/// Lethe's platform connections commit asynchronously (`synchronous_commit = off`): a
/// purge batch is visible and consistent at once but costs no disk flush of its own; a
/// database crash can lose only the last few batches, a prefix of the plan survives, and
/// [`crate::purge::Purger::make_durable`] flushes before anything is verified or reported.
/// Exports only read; rehearsals roll back.
pub fn pool(url: &str, max_size: usize) -> anyhow::Result<PlatformPool> {
    let mut config = ManagerConfig::default();
    config.custom_setup = Box::new(|url| {
        Box::pin(async move {
            let mut conn = AsyncPgConnection::establish(url).await?;
            conn.batch_execute(&format!("{SESSION_SETTINGS}{REDACT_FUNCTION}"))
                .await
                .map_err(|e| diesel::ConnectionError::BadConnection(e.to_string()))?;
            Ok(conn)
        })
    });
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(url, config);
    Ok(Pool::builder(manager).max_size(max_size).build()?)
}

#[derive(QueryableByName)]
struct TextPair {
    #[diesel(sql_type = Text)]
    v: String,
    #[diesel(sql_type = Text)]
    w: String,
}

#[derive(QueryableByName)]
struct KeyRow {
    #[diesel(sql_type = Text)]
    key: String,
}

/// A server-side cursor over a query yielding two text columns named `v` and `w`. Must be used
/// inside a transaction; fetching in batches keeps memory flat for any number of rows.
pub struct Cursor {
    name: String,
}

impl Cursor {
    /// Declares the cursor. `sql` takes no parameters (values are quoted literals).
    pub async fn open(c: &mut AsyncPgConnection, sql: &str) -> diesel::QueryResult<Self> {
        let name = format!("lethe_cursor_{}", uuid::Uuid::now_v7().simple());
        diesel::sql_query(format!("DECLARE {name} NO SCROLL CURSOR FOR {sql}"))
            .execute(c)
            .await?;
        Ok(Self { name })
    }

    /// The next batch of at most `n` pairs of values (a cursor over columns `v` and `w`);
    /// empty at the end.
    pub async fn fetch_pairs(
        &mut self,
        c: &mut AsyncPgConnection,
        n: usize,
    ) -> diesel::QueryResult<Vec<(String, String)>> {
        let rows: Vec<TextPair> = diesel::sql_query(format!("FETCH {n} FROM {}", self.name))
            .load(c)
            .await?;
        Ok(rows.into_iter().map(|r| (r.v, r.w)).collect())
    }

    /// Closes the cursor.
    pub async fn close(self, c: &mut AsyncPgConnection) -> diesel::QueryResult<()> {
        diesel::sql_query(format!("CLOSE {}", self.name))
            .execute(c)
            .await?;
        Ok(())
    }
}

/// How a requester identified the subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubjectLookup {
    /// By the account's email address (proved by a one-time code).
    Email(String),
    /// By the platform's own id (named in a signed assertion).
    Key(String),
    /// By the public username (named in a report).
    Username(String),
    /// By the URL of the public profile (named in a report; see `subject.profile_urls`).
    ProfileUrl(String),
}

/// Finds the subject's key, or `None` when no account matches.
pub async fn locate(
    conn: &mut AsyncPgConnection,
    map: &BoundMap,
    lookup: &SubjectLookup,
) -> anyhow::Result<Option<SubjectKey>> {
    // A profile URL names a username or a key (or nothing) through the map's templates.
    let lookup = match lookup {
        SubjectLookup::ProfileUrl(url) => match map.profile_url_lookup(url) {
            Some(found) => found,
            None => return Ok(None),
        },
        other => other.clone(),
    };
    let rows: Vec<KeyRow> = match &lookup {
        // Templates resolve to a username or a key, never to another URL.
        SubjectLookup::ProfileUrl(_) => vec![],
        SubjectLookup::Username(username) => match map.locate_by_username_sql() {
            Some(sql) => {
                diesel::sql_query(sql)
                    .bind::<Text, _>(username)
                    .load(conn)
                    .await?
            }
            None => vec![],
        },
        SubjectLookup::Email(email) => {
            diesel::sql_query(map.locate_by_email_sql())
                .bind::<Text, _>(email)
                .load(conn)
                .await?
        }
        SubjectLookup::Key(key) => {
            match diesel::sql_query(map.locate_by_key_sql())
                .bind::<Text, _>(key)
                .load(conn)
                .await
            {
                Ok(rows) => rows,
                // A key that does not even parse as the key type names nobody.
                Err(diesel::result::Error::DatabaseError(_, info))
                    if info.message().contains("invalid input syntax") =>
                {
                    vec![]
                }
                Err(error) => return Err(error.into()),
            }
        }
    };
    Ok(rows.into_iter().next().map(|r| SubjectKey::new(r.key)))
}
