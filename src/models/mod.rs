//! Service-database models; queries live beside them as associated functions taking the
//! connection first.

pub mod request;
pub mod staff;
pub mod verification;

pub use request::{NewRequest, Request};
