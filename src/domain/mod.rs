//! Domain types, parsed once at the edge: everything inward takes these, never raw strings.

mod email;
mod kind;
mod likeness;
mod regime;
mod rehearsal_status;
mod report;
mod role;
mod status;

pub use email::{Email, EmailError};
pub use kind::{KindError, RequestKind};
pub use likeness::{ListingState, ResourceDecision};
pub use regime::Regime;
pub use rehearsal_status::RehearsalStatus;
pub use report::{AccountError, AccountKind, AccountRef, Relationship};
pub use role::Role;
pub use status::RequestStatus;
