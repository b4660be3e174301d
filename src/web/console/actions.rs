//! `POST /console/requests/{id}/{action}`: what staff do to a request from its page — the
//! same lifecycle calls as the staff API (dry run, approve under the two-person rule,
//! deny, extend the deadline, confirm or dismiss a child report, decide listed resources,
//! retry or abort a failed run), each answered by going back to the page with what was
//! done, or with the refusal beside the form.

use actix_web::{HttpResponse, web};
use maud::{Markup, html};
use serde_json::Value;
use uuid::Uuid;

use crate::domain::ResourceDecision;
use crate::error::ApiError;
use crate::lifecycle::likeness::{self, Decision};
use crate::lifecycle::{recovery, rehearsal, reports, review};
use crate::models::staff_session::LiveSession;
use crate::state::AppState;
use crate::web::csrf::CsrfToken;
use crate::web::error::PageError;
use crate::web::layout::{Errors, Input, csrf_field};

/// The forms of what can be done next, for a request's view `v`.
pub fn forms(v: &Value, csrf: &str, errors: &Errors) -> Markup {
    let id = v["id"].as_str().unwrap_or_default();
    let status = v["status"].as_str().unwrap_or_default();
    let kind = v["kind"].as_str().unwrap_or_default();
    let action = |name: &str| format!("/console/requests/{id}/{name}");
    let reviewable = status == "verified";
    let needs_dry_run = matches!(kind, "deletion" | "child_report");
    let open = matches!(
        status,
        "pending_verification" | "verified" | "approved" | "processing"
    );
    let reason =
        |name: &'static str, label: &'static str| Input::text(name, label).render("", errors);
    html! {
        @if reviewable || open || errors.of("action").is_some() {
            h2 id="action" tabindex="-1" { "Actions" }
        }
        @if let Some(error) = errors.of("action") {
            p class="error" id="action-error" { (error) }
        }
        @if reviewable && needs_dry_run {
            form method="post" action=(action("dry-run")) {
                (csrf_field(csrf))
                button type="submit" class="secondary" { "Dry run" }
            }
        }
        @if reviewable && matches!(kind, "access" | "deletion") {
            form method="post" action=(action("approve")) {
                (csrf_field(csrf))
                p class="hint" { "Deletions need two reviewers' approvals on the latest clean dry run." }
                button type="submit" { "Approve" }
            }
        }
        @if reviewable && kind == "child_report" {
            form method="post" action=(action("confirm")) {
                (csrf_field(csrf))
                (reason("confirm_reason", "Why the report is confirmed"))
                div class="field choice" {
                    input type="checkbox" id="standing" name="standing" value="confirmed";
                    label for="standing" { "The reporter's standing as parent or guardian is confirmed (their copy is made first)" }
                }
                button type="submit" { "Confirm the report" }
            }
            form method="post" action=(action("dismiss")) {
                (csrf_field(csrf))
                (reason("dismiss_reason", "Why no action is taken"))
                button type="submit" class="secondary" { "Dismiss the report" }
            }
        }
        @if reviewable && kind != "child_report" {
            form method="post" action=(action("deny")) {
                (csrf_field(csrf))
                (reason("deny_reason", "Why the request is denied"))
                button type="submit" class="danger" { "Deny" }
            }
        }
        @if open && v["extended_at"].is_null() && status != "pending_verification" {
            form method="post" action=(action("extend")) {
                (csrf_field(csrf))
                (Input::text("extend_reason", "Why more time is needed").hint("The requester is emailed the new date and this reason.").textarea("", errors))
                button type="submit" class="secondary" { "Extend the deadline" }
            }
        }
        @if status == "failed" {
            form method="post" action=(action("retry")) {
                (csrf_field(csrf))
                button type="submit" { "Run it again" }
            }
            form method="post" action=(action("abort")) {
                (csrf_field(csrf))
                (reason("abort_reason", "Why it is given up"))
                button type="submit" class="danger" { "Abort" }
            }
        }
    }
}

/// The fields any action form may send.
#[derive(Debug, Default, serde::Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    confirm_reason: String,
    #[serde(default)]
    standing: Option<String>,
    #[serde(default)]
    dismiss_reason: String,
    #[serde(default)]
    deny_reason: String,
    #[serde(default)]
    extend_reason: String,
    #[serde(default)]
    abort_reason: String,
    /// Resource decisions: `d{i}_resource`, `d{i}_decision`, `d{i}_reason`.
    #[serde(flatten)]
    rest: std::collections::BTreeMap<String, String>,
}

/// A reason field, checked as the API checks it; errors name the form's field.
fn reason<'a>(field: &'static str, text: &'a str, max: usize) -> Result<&'a str, ApiError> {
    crate::routes::text_field("reason", text, max).map_err(|e| match e {
        ApiError::InvalidField { message, .. } => ApiError::InvalidField {
            field,
            message: format!("Give a reason: {}", message.trim_start_matches("reason ")),
        },
        other => other,
    })
}

/// The resource decisions of the form (those with a decision chosen).
fn decisions(form: &ActionForm) -> Result<Vec<Decision>, ApiError> {
    let mut out = Vec::new();
    for (key, listing) in &form.rest {
        let Some(prefix) = key.strip_suffix("_resource") else {
            continue;
        };
        let Some(choice) = form.rest.get(&format!("{prefix}_decision")) else {
            continue;
        };
        let listing = Uuid::parse_str(listing)
            .map_err(|_| ApiError::field("decision", "unknown resource"))?;
        let decision = ResourceDecision::parse(choice)
            .ok_or_else(|| ApiError::field("decision", "decision must be remove or keep"))?;
        let given = form
            .rest
            .get(&format!("{prefix}_reason"))
            .map_or("", String::as_str);
        let reason = crate::routes::text_field("reason", given, 200).map_err(|_| {
            ApiError::field(
                "decision",
                "give a reason (1 to 200 characters) with each decision",
            )
        })?;
        out.push(Decision {
            listing,
            decision,
            reason: reason.to_owned(),
        });
    }
    if out.is_empty() {
        return Err(ApiError::field(
            "decision",
            "choose remove or keep for at least one resource",
        ));
    }
    Ok(out)
}

/// `POST /console/requests/{id}/{action}`.
pub async fn act(
    state: web::Data<AppState>,
    session: LiveSession,
    csrf: CsrfToken,
    path: web::Path<(String, String)>,
    form: web::Form<ActionForm>,
) -> Result<HttpResponse, PageError> {
    let (id, action) = path.into_inner();
    let id = Uuid::parse_str(&id).map_err(|_| PageError::NotFound)?;
    let staff = &session.staff;
    let form = form.into_inner();
    let outcome: Result<(), ApiError> = async {
        match action.as_str() {
            "dry-run" => rehearsal::request(&state, id, staff).await.map(drop),
            "approve" => review::approve(&state, id, staff).await.map(drop),
            "deny" => {
                let why = reason("deny_reason", &form.deny_reason, 200)?;
                review::deny(&state, id, staff, why).await.map(drop)
            }
            "extend" => {
                let why = reason("extend_reason", &form.extend_reason, 2000)?;
                crate::deadlines::extension::extend(&state, id, staff, why)
                    .await
                    .map(drop)
            }
            "confirm" => {
                let why = reason("confirm_reason", &form.confirm_reason, 200)?;
                let standing = form
                    .standing
                    .as_deref()
                    .map(|_| "confirmed by staff in the console");
                reports::confirm(&state, id, staff, why, standing)
                    .await
                    .map(drop)
            }
            "dismiss" => {
                let why = reason("dismiss_reason", &form.dismiss_reason, 200)?;
                reports::dismiss(&state, id, staff, why).await.map(drop)
            }
            "resources" => likeness::decide(&state, id, staff, &decisions(&form)?)
                .await
                .map(drop),
            "retry" => recovery::retry(&state, id, staff).await.map(drop),
            "abort" => {
                let why = reason("abort_reason", &form.abort_reason, 200)?;
                recovery::abort(&state, id, staff, why).await.map(drop)
            }
            _ => Err(ApiError::NotFound),
        }
    }
    .await;
    match outcome {
        Ok(()) => Ok(super::see_other(&format!(
            "/console/requests/{id}?done={action}"
        ))),
        Err(ApiError::NotFound) => Err(PageError::NotFound),
        Err(ApiError::Forbidden) => Err(PageError::Forbidden),
        Err(ApiError::InvalidField { field, message }) => {
            let mut errors = Errors::default();
            let field = if field == "decision" { "action" } else { field };
            errors.add(field, message);
            super::detail::render(&state, &session, &csrf, id, None, &errors).await
        }
        Err(ApiError::Conflict(message)) => {
            let mut errors = Errors::default();
            errors.add("action", crate::web::layout::sentence(message));
            super::detail::render(&state, &session, &csrf, id, None, &errors).await
        }
        Err(other) => Err(other.into()),
    }
}
