//! The data map: where a data subject's data lives in the platform database and object
//! storage, and what erasure does to it. Parsed from TOML ([`spec`]), checked against the
//! live schema ([`catalog`], [`bind`]) and compiled to SQL that selects a subject's rows.

pub mod bind;
pub mod catalog;
pub mod coverage;
pub mod discover;
pub mod spec;

pub use bind::{BindProblem, BoundMap, BoundTable, SubjectKey, object_key};
pub use catalog::Catalog;
pub use coverage::{Coverage, coverage};
pub use discover::discover;
pub use spec::{Category, DataMap, Erase, KeyFormat, MapError, ObjectSpec, TableSpec};
