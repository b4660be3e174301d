//! Domain types, parsed once at the edge: everything inward takes these, never raw strings.

mod email;
mod kind;
mod regime;
mod rehearsal_status;
mod role;
mod status;

pub use email::{Email, EmailError};
pub use kind::{KindError, RequestKind};
pub use regime::{Regime, business_days_after};
pub use rehearsal_status::RehearsalStatus;
pub use role::Role;
pub use status::RequestStatus;
