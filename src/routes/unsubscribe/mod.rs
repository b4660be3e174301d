//! `/v1/unsubscribe/…`: links the platform's mailer embeds, and the one-click endpoint
//! (RFC 8058) they lead to.

pub mod links;
pub mod one_click;
