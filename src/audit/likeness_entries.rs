//! The audit entries of likeness removal: listings recognised, looked up, decided,
//! unpublished, their files deleted; the evidence file stored and deleted; the request
//! closed. Ids and counts only, never what was listed.

use serde_json::json;
use uuid::Uuid;

use super::{Actor, AuditEntry};

impl AuditEntry {
    /// A likeness request listed `listed` resources, `recognised` of them through the map.
    pub fn likeness_listed(request_id: Uuid, listed: usize, recognised: usize) -> Self {
        Self::new(
            request_id,
            Actor::Requester,
            "likeness.listed",
            json!({ "listed": listed, "recognised": recognised }),
        )
    }

    /// A listing was looked up on the platform.
    pub fn likeness_checked(request_id: Uuid, listing: Uuid, state: &str) -> Self {
        Self::new(
            request_id,
            Actor::System,
            "likeness.checked",
            json!({ "listing": listing, "state": state }),
        )
    }

    /// Staff decided on a listing; `followed` listings of other open requests naming the
    /// same resource took the same decision.
    pub fn likeness_decided(
        request_id: Uuid,
        staff: Uuid,
        listing: Uuid,
        decision: &str,
        followed: usize,
    ) -> Self {
        Self::new(
            request_id,
            Actor::Staff(staff),
            "likeness.decided",
            json!({ "listing": listing, "decision": decision, "followed": followed }),
        )
    }

    /// A listing took the decision another request made on the same resource.
    pub fn likeness_followed(request_id: Uuid, listing: Uuid, with: Uuid, decision: &str) -> Self {
        Self::new(
            request_id,
            Actor::System,
            "likeness.followed",
            json!({ "listing": listing, "with": with, "decision": decision }),
        )
    }

    /// A removed resource was unpublished (`rows` written).
    pub fn likeness_unpublished(request_id: Uuid, listing: Uuid, rows: u64) -> Self {
        Self::new(
            request_id,
            Actor::System,
            "likeness.unpublished",
            json!({ "listing": listing, "rows": rows }),
        )
    }

    /// A removed resource's files were deleted after the hold.
    pub fn likeness_files_deleted(request_id: Uuid, listing: Uuid, objects: u64) -> Self {
        Self::new(
            request_id,
            Actor::System,
            "likeness.files_deleted",
            json!({ "listing": listing, "objects": objects }),
        )
    }

    /// The requester stored an evidence file.
    pub fn evidence_stored(request_id: Uuid, content_type: &str, bytes: u64) -> Self {
        Self::new(
            request_id,
            Actor::Requester,
            "evidence.stored",
            json!({ "content_type": content_type, "bytes": bytes }),
        )
    }

    /// The evidence file was deleted from the evidence bucket.
    pub fn evidence_deleted(request_id: Uuid) -> Self {
        Self::new(request_id, Actor::System, "evidence.deleted", json!({}))
    }

    /// Every listing of a likeness request is settled: the request is closed.
    pub fn likeness_completed(request_id: Uuid, counts: &serde_json::Value) -> Self {
        Self::new(
            request_id,
            Actor::System,
            "likeness.completed",
            counts.clone(),
        )
    }
}
