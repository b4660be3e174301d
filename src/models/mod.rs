//! Service-database models; queries live beside them as associated functions taking the
//! connection first.

pub mod child_report;
pub mod likeness;
pub mod rehearsal;
pub mod request;
pub mod staff;
pub mod staff_session;
pub mod verification;

pub use child_report::{ChildReport, NewChildReport};
pub use likeness::{Evidence, Listing, NewListing};
pub use rehearsal::Rehearsal;
pub use request::{NewRequest, Request};
