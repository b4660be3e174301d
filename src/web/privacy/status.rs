//! A request's own pages, open to the browser holding its session cookie: the status
//! (what happens next, the due date, cancelling while that is still possible), the
//! download page of an export, and the evidence upload of a likeness request.

use actix_web::{HttpResponse, http::StatusCode, http::header, web};
use chrono::Utc;
use futures::StreamExt;
use lethe_jobs::storage::ObjectRef;
use maud::{Markup, html};
use serde::Deserialize;

use super::kinds;
use crate::domain::{RequestKind, RequestStatus};
use crate::error::ApiError;
use crate::lifecycle::{evidence, review};
use crate::models::Request;
use crate::state::AppState;
use crate::web::csrf::CsrfToken;
use crate::web::error::PageError;
use crate::web::layout::{Errors, Site, csrf_field, day, page, when};
use crate::web::requester::{self, RequesterSession};

/// What a status page may say above its facts.
#[derive(Debug, Default, Deserialize)]
pub struct Notice {
    /// `cancelled`, `uploaded`.
    #[serde(default)]
    pub done: Option<String>,
}

/// Where the request stands, in words, and what happens next.
fn progress(request: &Request) -> (&'static str, &'static str) {
    let kind = request.kind();
    match request.status() {
        RequestStatus::PendingVerification => (
            "Waiting for your code",
            "Enter the code we emailed you to confirm the request.",
        ),
        RequestStatus::Verified => match kind {
            RequestKind::ChildReport => (
                "With our team",
                "Our staff are looking into your report. We email you when they have decided.",
            ),
            RequestKind::Likeness => (
                "With our team",
                "Our staff review each resource you listed. We email you the outcome of each one.",
            ),
            _ => (
                "Confirmed, waiting for review",
                "Our staff check the request before it is carried out. We email you at each step.",
            ),
        },
        RequestStatus::Approved if request.grace_until.is_some_and(|g| g > Utc::now()) => (
            "Approved: waiting period",
            "Your data will be deleted when the waiting period ends. Until then you can still cancel.",
        ),
        RequestStatus::Approved | RequestStatus::Processing => (
            "In progress",
            "We are carrying out your request. We email you when it is done.",
        ),
        RequestStatus::Completed => match kind {
            RequestKind::Access => (
                "Your data is ready",
                "Download your data before the link expires.",
            ),
            _ => ("Done", "Your request has been carried out."),
        },
        RequestStatus::Denied => (
            "Not carried out",
            "Our staff could not carry out this request. We emailed you the reason.",
        ),
        RequestStatus::Cancelled => (
            "Cancelled",
            "You cancelled this request. Nothing was changed.",
        ),
        RequestStatus::Failed => (
            "Delayed",
            "Something went wrong while carrying out your request. Our staff are on it and will email you.",
        ),
        RequestStatus::Expired => (
            "Expired",
            "The code was never entered. Make the request again if you still want it.",
        ),
        RequestStatus::Aborted => (
            "Stopped",
            "Our staff stopped this request. We emailed you what was done.",
        ),
        RequestStatus::Merged => (
            "Joined your earlier request",
            "You already had a request of this kind open; this one was added to it.",
        ),
        RequestStatus::Dismissed => ("Closed", "Our staff looked into your report and closed it."),
    }
}

fn html_page(status: StatusCode, title: &str, errors: bool, body: Markup) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(page(Site::Privacy, title, errors, body).into_string())
}

/// `GET /privacy/requests/{id}`.
pub async fn show(
    state: web::Data<AppState>,
    session: RequesterSession,
    csrf: CsrfToken,
    notice: web::Query<Notice>,
) -> Result<HttpResponse, PageError> {
    let may_cancel = may_cancel(&state, &session.request).await?;
    Ok(render(
        &session.request,
        may_cancel,
        &csrf,
        notice.done.as_deref(),
        &Errors::default(),
    ))
}

/// Whether the page offers cancelling, by the lifecycle's own rule.
async fn may_cancel(state: &AppState, request: &Request) -> Result<bool, PageError> {
    let decided = if request.kind() == RequestKind::Likeness {
        let mut conn = state.db.get().await?;
        crate::models::Listing::of_request(&mut conn, request.id)
            .await?
            .iter()
            .any(|l| l.decision.is_some())
    } else {
        false
    };
    Ok(review::cancellable(request, decided))
}

fn render(
    request: &Request,
    may_cancel: bool,
    csrf: &CsrfToken,
    done: Option<&str>,
    errors: &Errors,
) -> HttpResponse {
    let (headline, next) = progress(request);
    let id = request.id;
    let export_ready = request.export_key.is_some()
        && request.export_deleted_at.is_none()
        && request.export_expires_at.is_some_and(|e| e > Utc::now());
    let body = html! {
        (errors.summary())
        @match done {
            Some("cancelled") => div class="notice" role="status" { p { "Your request is cancelled." } },
            Some("uploaded") => div class="notice" role="status" { p { "Thank you: your file was received." } },
            _ => {}
        }
        h2 { (headline) }
        p { (next) }
        dl class="facts" {
            dt { "Request" } dd { (kinds::title(request.kind())) }
            dt { "Reference" } dd { code { (id) } }
            dt { "Received" } dd { (when(request.created_at)) }
            @if request.completed_at.is_none() {
                dt { "We answer by" } dd { (day(request.due_at)) }
            }
            @if let Some(grace) = request.grace_until.filter(|_| request.status() == RequestStatus::Approved) {
                dt { "Deletion starts" } dd { (when(grace)) }
            }
            @if let Some(completed) = request.completed_at {
                dt { "Closed" } dd { (when(completed)) }
            }
        }
        @if export_ready {
            p { a class="button" href={ (requester::path(id)) "/download" } { "Download your data" } }
        }
        @if request.kind() == RequestKind::Likeness && request.status() == RequestStatus::Verified {
            h2 { "Show us it is you" }
            p { "Upload a photo of yourself or a document (PNG, JPEG, WebP, GIF or PDF). Only our reviewers see it, and it is deleted when your request is settled." }
            form method="post" enctype="multipart/form-data"
                action={ (requester::path(id)) "/evidence?csrf=" (csrf.0) } {
                div class={ "field" @if errors.of("evidence").is_some() { " invalid" } } {
                    label for="evidence" { "Your file" }
                    @if let Some(error) = errors.of("evidence") {
                        p class="error" id="evidence-error" { span class="skip" { "Error: " } (error) }
                    }
                    input type="file" id="evidence" name="evidence" accept="image/png,image/jpeg,image/webp,image/gif,application/pdf"
                        aria-describedby=[errors.of("evidence").map(|_| "evidence-error")];
                }
                button type="submit" class="secondary" { "Upload" }
            }
        }
        @if may_cancel {
            h2 { "Changed your mind?" }
            form method="post" action={ (requester::path(id)) "/cancel" } {
                (csrf_field(&csrf.0))
                button type="submit" class="danger" { "Cancel this request" }
            }
        }
    };
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    html_page(status, "Your request", !errors.is_empty(), body)
}

/// `POST /privacy/requests/{id}/cancel`.
pub async fn cancel(
    state: web::Data<AppState>,
    session: RequesterSession,
    csrf: CsrfToken,
) -> Result<HttpResponse, PageError> {
    match review::cancel(&state, session.request.id, &session.token).await {
        Ok(request) => Ok(HttpResponse::SeeOther()
            .insert_header((
                header::LOCATION,
                format!("{}?done=cancelled", requester::path(request.id)),
            ))
            .finish()),
        Err(ApiError::Conflict(_)) => {
            let mut errors = Errors::default();
            errors.add(
                "main",
                "This request has already started or ended, so it can no longer be cancelled.",
            );
            Ok(render(&session.request, false, &csrf, None, &errors))
        }
        Err(other) => Err(other.into()),
    }
}

/// `GET /privacy/requests/{id}/download`: the export's download page.
pub async fn download(
    state: web::Data<AppState>,
    session: RequesterSession,
) -> Result<HttpResponse, PageError> {
    let request = &session.request;
    let (Some(key), Some(expires)) = (&request.export_key, request.export_expires_at) else {
        return Err(PageError::NotFound);
    };
    if request.export_deleted_at.is_some() || expires <= Utc::now() {
        let body = html! {
            p { "The download of your data expired on " (when(expires)) " and the file has been deleted." }
            p { "You can " a href={ "/privacy/new/" (kinds::slug(RequestKind::Access)) } { "ask for a new copy" } "." }
        };
        return Ok(html_page(
            StatusCode::GONE,
            "This download has expired",
            false,
            body,
        ));
    }
    let object = ObjectRef {
        bucket: state.settings.storage.exports_bucket.clone(),
        key: key.clone(),
    };
    let ttl = (expires - Utc::now()).to_std().unwrap_or_default();
    let link = state
        .storage
        .presign_get(&object, ttl)
        .await
        .map_err(|e| PageError::Internal(crate::telemetry::loggable(&e)))?;
    let size = request.export_bytes.map(human_bytes);
    let body = html! {
        p { "Your data is in one ZIP file: a JSON and a CSV copy of each kind of record, and the files you uploaded." }
        dl class="facts" {
            @if let Some(size) = size { dt { "Size" } dd { (size) } }
            dt { "Available until" } dd { (when(expires)) }
        }
        p { a class="button" href=(link) download { "Download the ZIP file" } }
        p { a href=(requester::path(request.id)) { "Back to your request" } }
    };
    Ok(html_page(StatusCode::OK, "Download your data", false, body))
}

fn human_bytes(bytes: i64) -> String {
    const UNITS: [&str; 4] = ["bytes", "KB", "MB", "GB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// `POST /privacy/requests/{id}/evidence` (multipart, one file field `evidence`).
pub async fn evidence(
    state: web::Data<AppState>,
    session: RequesterSession,
    csrf: CsrfToken,
    req: actix_web::HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, PageError> {
    let limit = usize::try_from(state.settings.requests.evidence_max_bytes).unwrap_or(usize::MAX);
    let may_cancel = may_cancel(&state, &session.request).await?;
    let problem = |message: &str| {
        let mut errors = Errors::default();
        errors.add("evidence", message);
        Ok(render(&session.request, may_cancel, &csrf, None, &errors))
    };
    let boundary = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| multer::parse_boundary(v).ok());
    let Some(boundary) = boundary else {
        return problem("Choose a file to upload");
    };
    // The whole form is read first (bounded), then parsed.
    let mut payload = payload;
    let mut raw = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let Ok(chunk) = chunk else {
            return problem("The upload was interrupted; please try again");
        };
        if raw.len() + chunk.len() > limit + 64 * 1024 {
            return problem(&format!(
                "The file is too large: at most {} MB",
                limit / 1_000_000
            ));
        }
        raw.extend_from_slice(&chunk);
    }
    let raw = raw.freeze();
    let mut multipart = multer::Multipart::new(
        futures::stream::once(async move { Ok::<_, std::io::Error>(raw) }),
        boundary,
    );
    let mut file = None;
    while let Ok(Some(mut field)) = multipart.next_field().await {
        if field.name() != Some("evidence") {
            continue;
        }
        let mut body = web::BytesMut::new();
        loop {
            match field.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > limit {
                        return problem(&format!(
                            "The file is too large: at most {} MB",
                            limit / 1_000_000
                        ));
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(_) => return problem("The upload was interrupted; please try again"),
            }
        }
        file = Some(body);
        break;
    }
    let Some(body) = file.filter(|b| !b.is_empty()) else {
        return problem("Choose a file to upload");
    };
    let Some(content_type) = evidence::evidence_type(&body) else {
        return problem("The file must be a picture (PNG, JPEG, WebP, GIF) or a PDF");
    };
    match evidence::store_evidence(&state, session.request.id, content_type, body.freeze()).await {
        Ok(_) => Ok(HttpResponse::SeeOther()
            .insert_header((
                header::LOCATION,
                format!("{}?done=uploaded", requester::path(session.request.id)),
            ))
            .finish()),
        Err(ApiError::Conflict(_)) => {
            problem("Our staff have already decided on this request; no file is needed now")
        }
        Err(other) => Err(other.into()),
    }
}
