//! Service-database models; queries live beside them as associated functions taking the
//! connection first.

pub mod rehearsal;
pub mod request;
pub mod staff;
pub mod verification;

pub use rehearsal::Rehearsal;
pub use request::{NewRequest, Request};
