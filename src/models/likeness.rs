//! Resources listed by likeness-removal requests, and their evidence files.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::domain::{ListingState, ResourceDecision};
use crate::schema::{evidence, likeness_resources};

/// One listed resource.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = likeness_resources, check_for_backend(diesel::pg::Pg))]
pub struct Listing {
    /// Id.
    pub id: Uuid,
    /// The request listing it.
    pub request_id: Uuid,
    /// Its place in the request's list (from 1).
    pub position: i32,
    /// As the requester wrote it (`None` once the request is closed).
    pub given: Option<String>,
    /// The map's resource kind (`None`: not recognised).
    pub resource: Option<String>,
    /// Its key (as listed, then as the platform has it).
    pub resource_key: Option<String>,
    /// What Lethe knows of it.
    pub state: ListingState,
    /// Staff's decision.
    pub decision: Option<ResourceDecision>,
    /// Staff's reason.
    pub reason: Option<String>,
    /// Who decided.
    pub decided_by: Option<Uuid>,
    /// When.
    pub decided_at: Option<DateTime<Utc>>,
    /// The request whose decision on the same resource this one follows.
    pub decided_with: Option<Uuid>,
    /// When it was unpublished.
    pub unpublished_at: Option<DateTime<Utc>>,
    /// When its files are due for deletion.
    pub files_due_at: Option<DateTime<Utc>>,
    /// When its files were deleted.
    pub files_deleted_at: Option<DateTime<Utc>>,
    /// How many objects were deleted.
    pub files_deleted: Option<i64>,
}

/// What a requester listed, recognised (or not) through the map.
#[derive(Debug, Clone)]
pub struct NewListing {
    /// As written.
    pub given: String,
    /// The resource kind and key, when recognised.
    pub recognised: Option<lethe_jobs::datamap::resources::Listed>,
}

impl Listing {
    /// Whether nothing is left to do for it: not found, already removed, kept, or removed
    /// and unpublished.
    pub fn settled(&self) -> bool {
        match self.state {
            ListingState::NotFound | ListingState::AlreadyRemoved => true,
            ListingState::Listed => false,
            ListingState::Found => match self.decision {
                Some(ResourceDecision::Keep) => true,
                Some(ResourceDecision::Remove) => self.unpublished_at.is_some(),
                None => false,
            },
        }
    }

    /// The request's listings, in the order given.
    pub async fn of_request(
        conn: &mut AsyncPgConnection,
        request_id: Uuid,
    ) -> QueryResult<Vec<Self>> {
        likeness_resources::table
            .filter(likeness_resources::request_id.eq(request_id))
            .order(likeness_resources::position.asc())
            .select(Self::as_select())
            .load(conn)
            .await
    }

    /// Loads one listing and locks it.
    pub async fn find_for_update(
        conn: &mut AsyncPgConnection,
        id: Uuid,
    ) -> QueryResult<Option<Self>> {
        likeness_resources::table
            .find(id)
            .select(Self::as_select())
            .for_update()
            .first(conn)
            .await
            .optional()
    }

    /// Stores a request's listings: recognised ones wait for a look-up, the others are
    /// not found on the platform.
    pub async fn insert_all(
        conn: &mut AsyncPgConnection,
        request_id: Uuid,
        listings: &[NewListing],
    ) -> QueryResult<()> {
        let rows: Vec<_> = listings
            .iter()
            .enumerate()
            .map(|(i, l)| {
                (
                    likeness_resources::id.eq(Uuid::now_v7()),
                    likeness_resources::request_id.eq(request_id),
                    likeness_resources::position.eq(i32::try_from(i + 1).unwrap_or(i32::MAX)),
                    likeness_resources::given.eq(l.given.clone()),
                    likeness_resources::resource
                        .eq(l.recognised.as_ref().map(|r| r.resource.clone())),
                    likeness_resources::resource_key
                        .eq(l.recognised.as_ref().map(|r| r.key.clone())),
                    likeness_resources::state.eq(if l.recognised.is_some() {
                        ListingState::Listed
                    } else {
                        ListingState::NotFound
                    }),
                )
            })
            .collect();
        diesel::insert_into(likeness_resources::table)
            .values(rows)
            .execute(conn)
            .await?;
        Ok(())
    }
}

/// An evidence file.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = evidence, check_for_backend(diesel::pg::Pg))]
pub struct Evidence {
    /// The likeness request.
    pub request_id: Uuid,
    /// Its random key in the evidence bucket.
    pub object_key: String,
    /// Its type, as read from its content.
    pub content_type: String,
    /// Its size.
    pub bytes: i64,
    /// When it was uploaded.
    pub uploaded_at: DateTime<Utc>,
    /// When it was deleted from the bucket.
    pub deleted_at: Option<DateTime<Utc>>,
}

impl Evidence {
    /// The request's evidence, if any was uploaded.
    pub async fn find(conn: &mut AsyncPgConnection, request_id: Uuid) -> QueryResult<Option<Self>> {
        evidence::table
            .find(request_id)
            .select(Self::as_select())
            .first(conn)
            .await
            .optional()
    }
}
