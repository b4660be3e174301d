//! What every HTTP handler shares, assembled once by [`crate::startup`].

use lethe_jobs::queue::Queue;
use lethe_jobs::storage::Storage;

use crate::assertion::AssertionVerifier;
use crate::config::Settings;
use crate::db::DbPool;
use crate::outbox::Outbox;
use crate::ratelimit::Limits;
use crate::secrets::Keyed;

/// Shared application state.
pub struct AppState {
    /// Settings.
    pub settings: Settings,
    /// Service database.
    pub db: DbPool,
    /// Keyed hashing under the deployment secret.
    pub keyed: Keyed,
    /// Outgoing mail (queued in transactions).
    pub outbox: Outbox,
    /// The job queue.
    pub queue: Queue,
    /// Object storage.
    pub storage: Storage,
    /// Rate limits.
    pub limits: Limits,
    /// Platform assertion checks.
    pub assertions: AssertionVerifier,
    /// Seals and opens unsubscribe link tokens.
    pub links: std::sync::Arc<crate::unsubscribe::token::LinkKey>,
    /// The marketing categories of the data map (`[marketing.…]`).
    pub marketing: Vec<String>,
    /// The removable resources of the data map (`[[resources]]`), to recognise listings.
    pub resources: Vec<lethe_jobs::datamap::resources::ResourceSpec>,
}
