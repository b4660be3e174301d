//! `/v1/staff/…`: the staff JSON API. Every call but sign-in needs a staff API token
//! (`Authorization: Bearer lst_…`) whose account has at least the route's role. One
//! middleware, [`gate`], enforces both for every path under `/v1/staff/` (and the
//! mailer's routes, see [`requirement`]) before routing, body or query parsing: reading
//! needs `viewer`, anything else `reviewer`. The same gate guards every staff console
//! page under `/console/` with a console session instead of a token (see
//! [`crate::web::console::requirement`]). Handlers take the signed-in member as a
//! [`StaffMember`] argument.

pub mod approve;
pub mod deny;
pub mod dry_run;
pub mod extend;
pub mod list;
pub mod recover;
pub mod reports;
pub mod resources;
pub mod show;
pub mod suppressions;
pub mod tokens;

use std::future::{Ready, ready};

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, ResponseError, web};

use crate::domain::Role;
use crate::error::ApiError;
use crate::models::staff::Staff;
use crate::routes::bearer;
use crate::state::AppState;

/// The staff member a request was authenticated as by [`gate`].
#[derive(Debug, Clone)]
pub struct StaffMember(pub Staff);

impl std::ops::Deref for StaffMember {
    type Target = Staff;
    fn deref(&self) -> &Staff {
        &self.0
    }
}

impl FromRequest for StaffMember {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    /// Only what [`gate`] put there: a handler outside the gate gets 401, never a member.
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            req.extensions()
                .get::<StaffMember>()
                .cloned()
                .ok_or(ApiError::Unauthorized),
        )
    }
}

/// Who may call a route behind the gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// A staff member of at least this role.
    AtLeast(Role),
    /// The platform's mailer (or an admin): unsubscribe links and suppression checks.
    Mailer,
}

impl Need {
    /// Whether a member of `role` may pass.
    pub fn allows(self, role: Role) -> bool {
        match self {
            Self::AtLeast(min) => role >= min,
            Self::Mailer => matches!(role, Role::Mailer | Role::Admin),
        }
    }
}

/// What a (decoded) path and method needs, if it is gated: everything under
/// `/v1/staff/` except signing in (reading needs `viewer`, changing `reviewer`), and the
/// mailer's routes (`POST /v1/unsubscribe/links`, `/v1/suppressions/…`). A documented
/// path asked with a method it does not have is not gated (it gets 405 whoever asks).
pub fn requirement(method: &Method, path: &str) -> Option<Need> {
    if crate::web::console::is_console(path) {
        return crate::web::console::requirement(method, path);
    }
    if crate::routes::openapi::documented_methods(path)
        .is_some_and(|methods| !methods.contains(method))
    {
        return None;
    }
    if path == "/v1/unsubscribe/links" || path.starts_with("/v1/suppressions/") {
        return Some(Need::Mailer);
    }
    let staff = path == "/v1/staff" || path.starts_with("/v1/staff/");
    if !staff || (method == Method::POST && path == "/v1/staff/tokens") {
        return None;
    }
    Some(Need::AtLeast(match *method {
        Method::GET | Method::HEAD => Role::Viewer,
        _ => Role::Reviewer,
    }))
}

/// Middleware: authenticates and authorizes every staff route before anything else runs
/// (401 without a live staff token, 403 with too small a role), then hands the member to
/// the handler through the request's extensions.
pub async fn gate(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let Some(need) = requirement(req.method(), req.match_info().as_str()) else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    let state = req
        .app_data::<web::Data<AppState>>()
        .cloned()
        .expect("the app has its state");
    if crate::web::console::is_console(req.match_info().as_str()) {
        return match crate::web::console::guard::authenticate(req.request(), &state, need).await {
            Ok(session) => {
                req.extensions_mut()
                    .insert(StaffMember(session.staff.clone()));
                req.extensions_mut().insert(session);
                Ok(next.call(req).await?.map_into_left_body())
            }
            Err(refusal) => Ok(req.into_response(refusal).map_into_right_body()),
        };
    }
    match authenticate(req.request(), &state, need).await {
        Ok(staff) => {
            req.extensions_mut().insert(StaffMember(staff));
            Ok(next.call(req).await?.map_into_left_body())
        }
        Err(error) => Ok(req
            .into_response(error.error_response())
            .map_into_right_body()),
    }
}

/// The staff member behind the request's token, if their role meets `need`: 401 without
/// a live token, 403 with a role that does not.
async fn authenticate(req: &HttpRequest, state: &AppState, need: Need) -> Result<Staff, ApiError> {
    let token = bearer(req).ok_or(ApiError::Unauthorized)?;
    let mut conn = state.db.get().await?;
    let staff = Staff::by_token(&mut conn, &state.keyed, token)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    if !need.allows(staff.role()) {
        return Err(ApiError::Forbidden);
    }
    Ok(staff)
}

/// A staff reason (deny, abort): see [`crate::routes::text_field`] (1 to 200 characters).
/// Reasons are short codes or notes, never personal data.
pub fn reason(text: &str) -> Result<&str, ApiError> {
    crate::routes::text_field("reason", text, 200)
}
