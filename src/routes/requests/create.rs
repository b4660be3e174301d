//! `POST /v1/requests`: file a data-subject request.

use actix_web::{HttpRequest, HttpResponse, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::{AccountRef, Email, Relationship, RequestKind, RequestStatus};
use crate::error::ApiError;
use crate::lifecycle::intake::{self, Details, Identity};
use crate::routes::client_ip;
use crate::state::AppState;

/// A new request: the kind, and either the requester's email (a code is mailed to it) or
/// the platform's signed assertion for a signed-in user.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRequest {
    /// What is asked for.
    #[schema(value_type = FiledKind)]
    pub kind: String,
    /// The requester's email address.
    #[serde(default)]
    pub email: Option<String>,
    /// An HS256 JWT from the platform naming the signed-in user (`sub`), instead of `email`.
    #[serde(default)]
    pub assertion: Option<String>,
    /// What a child report says (kind `child_report` only).
    #[serde(default)]
    pub report: Option<ReportInput>,
    /// The resources to remove (kind `likeness` only): platform URLs or `kind:id`.
    #[serde(default)]
    pub resources: Option<Vec<String>>,
}

/// Longest resource listing accepted, in characters.
pub const RESOURCE_MAX_CHARS: usize = 500;

/// Checks and recognises a likeness request's listings (duplicates dropped); errors name
/// the field and never echo it.
pub(crate) fn listings(
    state: &AppState,
    given: Vec<String>,
) -> Result<Vec<crate::models::NewListing>, ApiError> {
    let max = state.settings.requests.likeness_max_resources as usize;
    if given.is_empty() {
        return Err(ApiError::field("resources", "list at least one resource"));
    }
    if given.len() > max {
        return Err(ApiError::field(
            "resources",
            format!("at most {max} resources per request"),
        ));
    }
    let mut out: Vec<crate::models::NewListing> = Vec::with_capacity(given.len());
    for text in &given {
        let text = crate::routes::text_field("resources", text, RESOURCE_MAX_CHARS)?;
        let recognised = lethe_jobs::datamap::resources::recognise(&state.resources, text);
        let duplicate = out.iter().any(|l| match (&l.recognised, &recognised) {
            (Some(a), Some(b)) => a == b,
            (None, None) => l.given == text,
            _ => false,
        });
        if !duplicate {
            out.push(crate::models::NewListing {
                given: text.to_owned(),
                recognised,
            });
        }
    }
    Ok(out)
}

/// Longest `report.details` accepted, in characters.
pub const DETAILS_MAX_CHARS: usize = 2000;

/// A report of a child under 13 on the platform.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportInput {
    /// The account concerned: its username, the URL of its profile, or its email address
    /// (1 to 300 characters, not only spaces, no control characters).
    #[schema(
        min_length = 1,
        max_length = 300,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    pub account: String,
    /// The reporter's relationship to the child.
    #[schema(value_type = Relationship)]
    pub relationship: String,
    /// What the reporter knows (at most 2000 characters; line breaks and tabs allowed,
    /// no other control characters).
    #[serde(default)]
    #[schema(
        max_length = 2000,
        pattern = "^[^\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f]*$"
    )]
    pub details: Option<String>,
    /// A parent or guardian asks for a copy of the child's data before it is deleted (made
    /// only when staff confirm the reporter's standing as parent or guardian).
    #[serde(default)]
    pub parent_copy: bool,
}

impl ReportInput {
    /// Checks the report; errors name the field, never echo it.
    pub fn parse(self) -> Result<crate::models::NewChildReport, ApiError> {
        let account = AccountRef::parse(&self.account)
            .map_err(|e| ApiError::field("report.account", e.to_string()))?;
        let relationship = Relationship::parse(&self.relationship).ok_or_else(|| {
            ApiError::field(
                "report.relationship",
                "relationship must be parent_guardian or other",
            )
        })?;
        let details = match self.details.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(text) => {
                if text.chars().count() > DETAILS_MAX_CHARS {
                    return Err(ApiError::field(
                        "report.details",
                        "details must be at most 2000 characters",
                    ));
                }
                if text
                    .chars()
                    .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
                {
                    return Err(ApiError::field(
                        "report.details",
                        "details must not contain control characters",
                    ));
                }
                Some(text.to_owned())
            }
        };
        Ok(crate::models::NewChildReport {
            account,
            relationship,
            details,
            copy_requested: self.parent_copy,
        })
    }
}

/// How the body of `POST /v1/requests` is documented: exactly one of `email` and
/// `assertion` (the handler reads it as [`CreateRequest`] and answers 400 otherwise).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum Filing {
    /// Identity proved later, by the code mailed to `email`.
    ByEmail(ByEmail),
    /// A report of a child's account, by a reporter whose `email` is proved by a code.
    Report(ByReporter),
    /// A likeness-removal request, by a requester whose `email` is proved by a code.
    Likeness(ByLikeness),
    /// Identity proved at once by the platform's assertion.
    ByAssertion(ByAssertion),
}

/// A filing by email.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct ByEmail {
    /// What is asked for.
    kind: FiledKind,
    /// The requester's email address.
    #[schema(format = Email, min_length = 3, max_length = 254)]
    email: String,
}

/// A report of a child's account.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct ByReporter {
    /// Always `child_report`.
    kind: ReportKind,
    /// The reporter's contact address (a code is mailed to it).
    #[schema(format = Email, min_length = 3, max_length = 254)]
    email: String,
    /// The report.
    report: ReportInput,
}

/// The kind of a report.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum ReportKind {
    /// A child under 13 on the platform.
    ChildReport,
}

/// A likeness-removal request.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct ByLikeness {
    /// Always `likeness`.
    kind: LikenessKind,
    /// The requester's address (a code is mailed to it).
    #[schema(format = Email, min_length = 3, max_length = 254)]
    email: String,
    /// The resources made to reproduce the requester's likeness: platform URLs (e.g.
    /// `https://demo.lethe.test/models/12`) or `kind:id` (e.g. `model:12`); at most
    /// `requests.likeness_max_resources`, each at most 500 characters.
    #[schema(min_items = 1, max_items = 50)]
    resources: Vec<ResourceListing>,
}

/// One listed resource: 1 to 500 characters, not only spaces, no control characters.
#[derive(Deserialize, utoipa::ToSchema)]
#[schema(
    value_type = String,
    pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]{0,250}[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]{0,249}$"
)]
#[allow(dead_code)]
pub struct ResourceListing(String);

/// The kind of a likeness-removal request.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum LikenessKind {
    /// Remove resources made to reproduce my likeness.
    Likeness,
}

/// A filing by platform assertion.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct ByAssertion {
    /// What is asked for.
    kind: FiledKind,
    /// An HS256 JWT from the platform naming the signed-in user (`sub`).
    #[schema(min_length = 1)]
    assertion: String,
}

/// The kinds of request intake accepts today.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum FiledKind {
    /// A copy of my data.
    Access,
    /// Delete my account and data.
    Deletion,
    /// Stop all marketing mail.
    Unsubscribe,
}

/// The filed request.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Created {
    /// Request id.
    pub id: Uuid,
    /// Kind.
    pub kind: RequestKind,
    /// Status.
    pub status: RequestStatus,
    /// Legal due date.
    pub due_at: DateTime<Utc>,
    /// How identity is proved next: `email_code` (check your mail) or `done`.
    pub verification: &'static str,
    /// Requester token, when identity was proved by assertion.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// Files a request. The answer is the same whether or not the email has an account, and
/// whether or not the person already has a request open: each filing by email is a new
/// request with its own mailed code (verifying it joins the person's open request of the
/// same kind, if any). With an assertion, the person's open request of the kind is
/// answered, with a new token.
#[utoipa::path(
    post, path = "/v1/requests", request_body = Filing,
    responses(
        (status = 202, description = "filed (by assertion: or the open request of this kind)", body = Created),
        (status = 400, description = "invalid input", body = crate::error::ErrorBody),
        (status = 401, description = "invalid assertion", body = crate::error::ErrorBody),
        (status = 413, description = "body too large", body = crate::error::ErrorBody),
        (status = 429, description = "rate limited; see Retry-After", body = crate::error::ErrorBody),
    )
)]
#[post("/v1/requests")]
pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<CreateRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let kind =
        RequestKind::parse(&body.kind).map_err(|e| ApiError::field("kind", e.to_string()))?;
    let details = match (kind, body.report, body.resources) {
        (_, Some(_), Some(_)) => {
            return Err(ApiError::field(
                "resources",
                "give a report or resources, not both",
            ));
        }
        (RequestKind::ChildReport, Some(report), None) => Details::Report(report.parse()?),
        (RequestKind::ChildReport, None, _) => {
            return Err(ApiError::field("report", "a child report needs its report"));
        }
        (RequestKind::Likeness, None, Some(given)) => Details::Likeness(listings(&state, given)?),
        (RequestKind::Likeness, _, None) => {
            return Err(ApiError::field(
                "resources",
                "a likeness request lists the resources to remove",
            ));
        }
        (_, Some(_), None) => {
            return Err(ApiError::field(
                "report",
                "only a child_report carries a report",
            ));
        }
        (_, None, Some(_)) => {
            return Err(ApiError::field(
                "resources",
                "only a likeness request lists resources",
            ));
        }
        (_, None, None) => Details::Plain,
    };
    let identity = match (body.email.as_deref(), body.assertion.as_deref()) {
        (Some(email), None) => Identity::Email(
            Email::try_from(email).map_err(|e| ApiError::field("email", e.to_string()))?,
        ),
        (None, Some(assertion)) => Identity::Platform(state.assertions.verify(assertion)?),
        (Some(_), Some(_)) => {
            return Err(ApiError::field(
                "assertion",
                "give either email or assertion, not both",
            ));
        }
        (None, None) => return Err(ApiError::field("email", "email is required")),
    };
    let ip = client_ip(&req, &state);
    state.limits.intake_ip(ip)?;
    state.limits.intake_identity(ip, &identity.hash(&state))?;
    let filed = intake::file(&state, kind, identity, details).await?;
    tracing::info!(request_id = %filed.request.id, created = filed.created, "request filed");
    let verification = if filed.token.is_some() {
        "done"
    } else {
        "email_code"
    };
    Ok(HttpResponse::Accepted().json(Created {
        id: filed.request.id,
        kind: filed.request.kind(),
        status: filed.request.status(),
        due_at: filed.request.due_at,
        verification,
        token: filed.token,
    }))
}
