//! The audit entries of child reports: confirmation (with or without parental standing),
//! dismissal, the freeze and the parent's copy. Ids and counts only.

use serde_json::json;
use uuid::Uuid;

use super::{Actor, AuditEntry};

impl AuditEntry {
    /// Staff confirmed a report: the account is to be frozen and purged, and, when
    /// `standing` is true, the reporter's parental standing was confirmed for a copy.
    pub fn report_confirmed(request_id: Uuid, staff: Uuid, standing: bool) -> Self {
        Self::new(
            request_id,
            Actor::Staff(staff),
            "report.confirmed",
            json!({ "parent_copy": standing }),
        )
    }

    /// Staff dismissed a report.
    pub fn report_dismissed(request_id: Uuid, staff: Uuid) -> Self {
        Self::new(
            request_id,
            Actor::Staff(staff),
            "report.dismissed",
            json!({}),
        )
    }

    /// The reported account was frozen (`rows` written or deleted by the map's `[freeze]`).
    pub fn account_frozen(request_id: Uuid, rows: u64) -> Self {
        Self::new(
            request_id,
            Actor::System,
            "report.frozen",
            json!({ "rows": rows }),
        )
    }

    /// The parent's copy was made and its link sent to the reporter's verified address.
    pub fn parent_copy_made(request_id: Uuid, report: &lethe_jobs::export::ExportReport) -> Self {
        Self::new(
            request_id,
            Actor::System,
            "report.parent_copy",
            json!({
                "rows_total": report.rows_total,
                "objects": report.objects,
                "archive_bytes": report.archive_bytes,
            }),
        )
    }
}
