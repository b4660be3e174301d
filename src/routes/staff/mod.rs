//! `/v1/staff/…`: the staff JSON API. Every call needs a staff API token
//! (`Authorization: Bearer lst_…`) whose account has at least the route's role.

pub mod approve;
pub mod deny;
pub mod dry_run;
pub mod list;
pub mod recover;
pub mod show;
pub mod tokens;

use actix_web::HttpRequest;

use crate::domain::Role;
use crate::error::ApiError;
use crate::models::staff::Staff;
use crate::routes::bearer;
use crate::state::AppState;

/// The staff member behind the request's token, if their role is at least `min`:
/// 401 without a live token, 403 with too small a role.
pub async fn authenticate(
    req: &HttpRequest,
    state: &AppState,
    min: Role,
) -> Result<Staff, ApiError> {
    let token = bearer(req).ok_or(ApiError::Unauthorized)?;
    let mut conn = state.db.get().await?;
    let staff = Staff::by_token(&mut conn, &state.keyed, token)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    if staff.role() < min {
        return Err(ApiError::Forbidden);
    }
    Ok(staff)
}

/// A staff reason (deny, abort): 1 to 200 characters once trimmed, else 400 naming
/// `reason`. Reasons are short codes or notes, never personal data.
pub fn reason(text: &str) -> Result<&str, ApiError> {
    let reason = text.trim();
    if reason.is_empty() || reason.len() > 200 {
        return Err(ApiError::field(
            "reason",
            "reason must be 1 to 200 characters",
        ));
    }
    Ok(reason)
}
