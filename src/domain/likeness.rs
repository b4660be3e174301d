//! The states of a resource listed in a likeness-removal request, and staff's decisions.

use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::pg::{Pg, PgValue};
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::Text;
use serde::{Deserialize, Serialize};

/// A text-stored enum: its stable names, `as_str`, `parse`, and the diesel mapping.
macro_rules! text_enum {
    ($name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        impl $name {
            /// The stable name stored in the database.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }

            /// Parses a stored or submitted name.
            pub fn parse(value: &str) -> Option<Self> {
                match value { $($text => Some(Self::$variant),)+ _ => None }
            }
        }

        impl ToSql<Text, Pg> for $name {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
                <str as ToSql<Text, Pg>>::to_sql(self.as_str(), out)
            }
        }

        impl FromSql<Text, Pg> for $name {
            fn from_sql(bytes: PgValue<'_>) -> deserialize::Result<Self> {
                let text = <String as FromSql<Text, Pg>>::from_sql(bytes)?;
                Self::parse(&text).ok_or_else(|| "unknown value".into())
            }
        }
    };
}

/// What Lethe knows of a listed resource.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    AsExpression,
    FromSqlRow,
    utoipa::ToSchema,
)]
#[diesel(sql_type = Text)]
#[serde(rename_all = "snake_case")]
pub enum ListingState {
    /// Recognised as a resource of the map; not looked up yet.
    Listed,
    /// It exists on the platform: staff decide.
    Found,
    /// Not a resource of the platform (unrecognised, or no such row).
    NotFound,
    /// Already removed on an earlier request.
    AlreadyRemoved,
}

text_enum!(ListingState {
    Listed = "listed",
    Found = "found",
    NotFound = "not_found",
    AlreadyRemoved = "already_removed",
});

/// Staff's decision on one resource.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    AsExpression,
    FromSqlRow,
    utoipa::ToSchema,
)]
#[diesel(sql_type = Text)]
#[serde(rename_all = "snake_case")]
pub enum ResourceDecision {
    /// Unpublish it now and delete its files after the hold.
    Remove,
    /// Leave it as it is.
    Keep,
}

text_enum!(ResourceDecision {
    Remove = "remove",
    Keep = "keep",
});
