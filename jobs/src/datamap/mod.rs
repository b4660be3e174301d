//! The data map: how a data subject's data in the platform database and object storage is
//! treated on erasure and export. Parsed from TOML ([`spec`], [`rule`]), walked over the
//! live schema ([`catalog`], [`graph`]), bound ([`bind`]) and compiled to SQL that selects
//! a subject's rows ([`reach`]).

pub mod bind;
pub mod catalog;
pub mod convert;
pub mod coverage;
pub mod discover;
pub mod freeze;
pub mod graph;
pub mod marketing;
mod names;
mod propose;
pub mod reach;
mod render;
pub mod resources;
pub mod rule;
mod sample;
pub mod spec;
pub mod url_template;

pub use bind::{BoundMap, SubjectKey, object_key};
pub use catalog::Catalog;
pub use graph::{Edge, Problem, Treatment};
pub use rule::{Action, ColumnRule, Unlink};
pub use spec::{Category, DataMap, KeyFormat, MapError, ObjectSpec};
