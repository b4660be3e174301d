//! The platform database, reached only through the data map: a connection pool, a
//! server-side cursor for streaming, and locating a subject.

use diesel::QueryableByName;
use diesel::sql_types::Text;
use diesel_async::pooled_connection::AsyncDieselConnectionManager;
use diesel_async::pooled_connection::deadpool::Pool;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::datamap::{BoundMap, SubjectKey};

/// A pool of connections to the platform database.
pub type PlatformPool = Pool<AsyncPgConnection>;

/// Builds a pool for `url` (connections are opened lazily).
pub fn pool(url: &str, max_size: usize) -> anyhow::Result<PlatformPool> {
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new(url);
    Ok(Pool::builder(manager).max_size(max_size).build()?)
}

#[derive(QueryableByName)]
struct TextRow {
    #[diesel(sql_type = Text)]
    v: String,
}

#[derive(QueryableByName)]
struct KeyRow {
    #[diesel(sql_type = Text)]
    key: String,
}

/// A server-side cursor over a query yielding one text column named `v`. Must be used
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

    /// The next batch of at most `n` values; empty at the end.
    pub async fn fetch(
        &mut self,
        c: &mut AsyncPgConnection,
        n: usize,
    ) -> diesel::QueryResult<Vec<String>> {
        let rows: Vec<TextRow> = diesel::sql_query(format!("FETCH {n} FROM {}", self.name))
            .load(c)
            .await?;
        Ok(rows.into_iter().map(|r| r.v).collect())
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
}

/// Finds the subject's key, or `None` when no account matches.
pub async fn locate(
    conn: &mut AsyncPgConnection,
    map: &BoundMap,
    lookup: &SubjectLookup,
) -> anyhow::Result<Option<SubjectKey>> {
    let rows: Vec<KeyRow> = match lookup {
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
