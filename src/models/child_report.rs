//! What a report of a child's account says, beside its request, until it is closed.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::domain::{AccountKind, AccountRef, Relationship};
use crate::schema::child_reports;

/// A report as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = child_reports, check_for_backend(diesel::pg::Pg))]
pub struct ChildReport {
    /// The report's request.
    pub request_id: Uuid,
    /// The account as the reporter named it (`None` once the report is closed).
    pub account: Option<String>,
    /// How it is named.
    pub account_kind: String,
    /// The reporter's relationship to the child.
    pub relationship: String,
    /// The reporter's free text (`None` once the report is closed).
    pub details: Option<String>,
    /// Whether the reporter, as parent or guardian, asked for a copy of the child's data.
    pub copy_requested: bool,
    /// Staff's note confirming parental standing; a copy is made only with it.
    pub copy_standing: Option<String>,
    /// Who confirmed it.
    pub copy_confirmed_by: Option<Uuid>,
    /// When the account was frozen.
    pub frozen_at: Option<DateTime<Utc>>,
    /// Rows the freeze wrote or deleted.
    pub frozen_rows: Option<i64>,
}

/// What a reporter files.
#[derive(Debug, Clone)]
pub struct NewChildReport {
    /// The account.
    pub account: AccountRef,
    /// The reporter's relationship to the child.
    pub relationship: Relationship,
    /// Free text.
    pub details: Option<String>,
    /// A parent's copy asked for.
    pub copy_requested: bool,
}

impl ChildReport {
    /// The relationship.
    pub fn relationship(&self) -> Relationship {
        Relationship::parse(&self.relationship).expect("the database constrains relationships")
    }

    /// How the account is named.
    pub fn account_kind(&self) -> AccountKind {
        AccountKind::parse(&self.account_kind).expect("the database constrains account kinds")
    }

    /// Whether a parent's copy is to be made: asked for, and standing confirmed by staff.
    pub fn copy_confirmed(&self) -> bool {
        self.copy_requested && self.copy_standing.is_some()
    }

    /// Loads the report of a request.
    pub async fn find(conn: &mut AsyncPgConnection, request_id: Uuid) -> QueryResult<Option<Self>> {
        child_reports::table
            .find(request_id)
            .select(Self::as_select())
            .first(conn)
            .await
            .optional()
    }

    /// Forgets what the reporters said about the accounts (the reports are closed); ids
    /// of other kinds of request match nothing.
    pub async fn scrub(conn: &mut AsyncPgConnection, request_ids: &[Uuid]) -> QueryResult<()> {
        if request_ids.is_empty() {
            return Ok(());
        }
        diesel::update(child_reports::table.filter(child_reports::request_id.eq_any(request_ids)))
            .set((
                child_reports::account.eq(None::<String>),
                child_reports::details.eq(None::<String>),
            ))
            .execute(conn)
            .await?;
        Ok(())
    }
}

impl NewChildReport {
    /// Stores the report beside its request.
    pub async fn insert(&self, conn: &mut AsyncPgConnection, request_id: Uuid) -> QueryResult<()> {
        diesel::insert_into(child_reports::table)
            .values((
                child_reports::request_id.eq(request_id),
                child_reports::account.eq(&self.account.value),
                child_reports::account_kind.eq(self.account.kind.as_str()),
                child_reports::relationship.eq(self.relationship.as_str()),
                child_reports::details.eq(self.details.as_deref()),
                child_reports::copy_requested.eq(self.copy_requested),
            ))
            .execute(conn)
            .await?;
        Ok(())
    }
}
