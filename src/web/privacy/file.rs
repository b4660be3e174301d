//! `GET` and `POST /privacy/new/{kind}`: the form of one kind of request. A valid form
//! files the request exactly as `POST /v1/requests` does (the same checks, limits and
//! answer whether or not an account exists) and goes on to the code step; an invalid one
//! comes back with each problem beside its field and what was typed kept.

use actix_web::{HttpRequest, HttpResponse, http::header, web};
use maud::{Markup, html};
use serde::Deserialize;

use super::kinds;
use crate::domain::{Email, RequestKind};
use crate::error::ApiError;
use crate::lifecycle::intake::{self, Details, Identity};
use crate::routes::client_ip;
use crate::routes::requests::create::{ReportInput, listings};
use crate::state::AppState;
use crate::web::csrf::CsrfToken;
use crate::web::error::PageError;
use crate::web::layout::{Errors, Input, Site, csrf_field, page, sentence};

/// What the forms send (each kind uses some of it).
#[derive(Debug, Default, Deserialize)]
pub struct FileForm {
    /// The requester's email.
    #[serde(default)]
    pub email: String,
    /// Child report: the account concerned.
    #[serde(default)]
    pub account: String,
    /// Child report: `parent_guardian` or `other`.
    #[serde(default)]
    pub relationship: String,
    /// Child report: what the reporter knows.
    #[serde(default)]
    pub details: String,
    /// Child report: a parent asks for a copy first.
    #[serde(default)]
    pub parent_copy: Option<String>,
    /// Likeness: one resource per line.
    #[serde(default)]
    pub resources: String,
}

fn kind_of(slug: &str) -> Result<RequestKind, PageError> {
    kinds::from_slug(slug).ok_or(PageError::NotFound)
}

/// The empty form.
pub async fn form(slug: web::Path<String>, csrf: CsrfToken) -> Result<HttpResponse, PageError> {
    let kind = kind_of(&slug)?;
    Ok(render(
        kind,
        &FileForm::default(),
        &Errors::default(),
        &csrf,
    ))
}

/// Files the request, or shows the form again with its problems.
pub async fn submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    slug: web::Path<String>,
    csrf: CsrfToken,
    form: web::Form<FileForm>,
) -> Result<HttpResponse, PageError> {
    let kind = kind_of(&slug)?;
    let form = form.into_inner();
    let mut errors = Errors::default();
    let email = match Email::try_from(form.email.trim()) {
        Ok(email) => Some(email),
        Err(_) if form.email.trim().is_empty() => {
            errors.add("email", "Enter your email address");
            None
        }
        Err(_) => {
            errors.add("email", "Enter an email address like name@example.com");
            None
        }
    };
    let details = match details(&state, kind, &form) {
        Ok(details) => Some(details),
        Err(problems) => {
            errors.0.extend(problems.0);
            None
        }
    };
    let (Some(email), Some(details), true) = (email, details, errors.is_empty()) else {
        return Ok(render(kind, &form, &errors, &csrf));
    };
    let identity = Identity::Email(email);
    let ip = client_ip(&req, &state);
    state.limits.intake_ip(ip)?;
    state.limits.intake_identity(ip, &identity.hash(&state))?;
    let filed = intake::file(&state, kind, identity, details).await?;
    tracing::info!(request_id = %filed.request.id, "request filed on the web");
    Ok(HttpResponse::SeeOther()
        .insert_header((
            header::LOCATION,
            format!("/privacy/requests/{}/code", filed.request.id),
        ))
        .finish())
}

/// The request's details from the form, checked as the API checks them; problems are
/// named by the form's field.
fn details(state: &AppState, kind: RequestKind, form: &FileForm) -> Result<Details, Errors> {
    let problem = |error: ApiError| {
        let mut errors = Errors::default();
        match error {
            ApiError::InvalidField { field, message } => {
                let field = field.trim_start_matches("report.");
                errors.add(field, sentence(&message));
            }
            other => errors.add("email", sentence(&other.to_string())),
        }
        errors
    };
    match kind {
        RequestKind::ChildReport => {
            let mut errors = Errors::default();
            if form.account.trim().is_empty() {
                errors.add(
                    "account",
                    "Enter the account's username, profile address or email",
                );
            }
            if form.relationship.is_empty() {
                errors.add("relationship", "Choose how you know the child");
            }
            if !errors.is_empty() {
                return Err(errors);
            }
            let input = ReportInput {
                account: form.account.clone(),
                relationship: form.relationship.clone(),
                details: Some(form.details.clone()),
                parent_copy: form.parent_copy.is_some(),
            };
            input.parse().map(Details::Report).map_err(problem)
        }
        RequestKind::Likeness => {
            let given: Vec<String> = form
                .resources
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect();
            listings(state, given)
                .map(Details::Likeness)
                .map_err(problem)
        }
        _ => Ok(Details::Plain),
    }
}

fn render(kind: RequestKind, form: &FileForm, errors: &Errors, csrf: &CsrfToken) -> HttpResponse {
    let status = if errors.is_empty() {
        actix_web::http::StatusCode::OK
    } else {
        actix_web::http::StatusCode::BAD_REQUEST
    };
    let body = html! {
        (errors.summary())
        p { (kinds::summary(kind)) }
        form method="post" action={ "/privacy/new/" (kinds::slug(kind)) } novalidate {
            (csrf_field(&csrf.0))
            @if kind == RequestKind::ChildReport { (child_fields(form, errors)) }
            @if kind == RequestKind::Likeness { (likeness_fields(form, errors)) }
            (Input::text("email", "Your email address")
                .kind("email")
                .autocomplete("email")
                .hint("We email you a code to check that this address is yours.")
                .render(&form.email, errors))
            button type="submit" { "Continue" }
        }
        p { a href="/privacy" { "Back to all choices" } }
    };
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(page(Site::Privacy, kinds::title(kind), !errors.is_empty(), body).into_string())
}

fn child_fields(form: &FileForm, errors: &Errors) -> Markup {
    let relationship_error = errors.of("relationship");
    html! {
        (Input::text("account", "The account")
            .hint("Its username, the address of its profile, or its email address.")
            .render(&form.account, errors))
        fieldset id="relationship" class={ @if relationship_error.is_some() { "invalid" } }
            aria-describedby=[relationship_error.map(|_| "relationship-error")] {
            legend { "How do you know the child?" }
            @if let Some(error) = relationship_error {
                p class="error" id="relationship-error" { span class="skip" { "Error: " } (error) }
            }
            div class="choice" {
                input type="radio" id="relationship-parent" name="relationship" value="parent_guardian"
                    checked[form.relationship == "parent_guardian"];
                label for="relationship-parent" { "I am their parent or guardian" }
            }
            div class="choice" {
                input type="radio" id="relationship-other" name="relationship" value="other"
                    checked[form.relationship == "other"];
                label for="relationship-other" { "Another way" }
            }
        }
        (Input::text("details", "What you know (optional)")
            .hint("For example the child's age and how you know it. At most 2,000 characters.")
            .textarea(&form.details, errors))
        div class="field choice" {
            input type="checkbox" id="parent_copy" name="parent_copy" value="yes"
                checked[form.parent_copy.is_some()];
            label for="parent_copy" { "As their parent or guardian, I want a copy of the child's data before it is deleted" }
        }
    }
}

fn likeness_fields(form: &FileForm, errors: &Errors) -> Markup {
    html! {
        (Input::text("resources", "The resources to remove")
            .hint("One per line: the address of each model, image or post. After the code step you can upload a photo or document showing it is you.")
            .textarea(&form.resources, errors))
    }
}
