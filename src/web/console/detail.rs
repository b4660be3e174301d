//! `GET /console/requests/{id}`: one request as staff see it — the same view as
//! `GET /v1/staff/requests/{id}` ([`crate::routes::staff::show::view`]) rendered as a
//! page: the identity check, both deadline clocks, the report or the listed resources,
//! the dry run per table and bucket, the decisions, the audit timeline, and the forms of
//! what can be done next. Every value is escaped by the template engine.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use maud::{Markup, html};
use serde_json::Value;
use uuid::Uuid;

use crate::models::staff_session::LiveSession;
use crate::state::AppState;
use crate::web::csrf::CsrfToken;
use crate::web::error::PageError;
use crate::web::layout::{Errors, csrf_field};

/// What a request page may say above its facts (fixed codes only, never free text).
#[derive(Debug, Default, serde::Deserialize)]
pub struct Done {
    /// What was just done.
    #[serde(default)]
    pub done: Option<String>,
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => "—".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A timestamp of the view as a page shows it.
fn at(v: &Value) -> String {
    v.as_str()
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .map_or_else(
            || text(v),
            |t| crate::web::layout::when(t.with_timezone(&chrono::Utc)),
        )
}

/// `GET /console/requests/{id}`.
pub async fn show(
    state: web::Data<AppState>,
    session: LiveSession,
    csrf: CsrfToken,
    id: web::Path<String>,
    done: web::Query<Done>,
) -> Result<HttpResponse, PageError> {
    let id = Uuid::parse_str(&id).map_err(|_| PageError::NotFound)?;
    render(
        &state,
        &session,
        &csrf,
        id,
        done.done.as_deref(),
        &Errors::default(),
    )
    .await
}

/// The page, with `errors` of a form that was just sent.
pub async fn render(
    state: &AppState,
    session: &LiveSession,
    csrf: &CsrfToken,
    id: Uuid,
    done: Option<&str>,
    errors: &Errors,
) -> Result<HttpResponse, PageError> {
    let view = crate::routes::staff::show::view(state, id).await?;
    let title = format!("Request {}", &id.to_string()[..8]);
    let body = html! {
        (errors.summary())
        @if let Some(done) = done.and_then(done_message) {
            div class="notice" role="status" { p { (done) } }
        }
        (facts(&view))
        (report(&view))
        (resources(&view, &csrf.0))
        (rehearsal(&view))
        (super::actions::forms(&view, &csrf.0, errors))
        (timeline(&view))
    };
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::CONFLICT
    };
    Ok(super::page(
        session,
        &csrf.0,
        status,
        &title,
        !errors.is_empty(),
        body,
    ))
}

fn done_message(code: &str) -> Option<&'static str> {
    Some(match code {
        "dry-run" => "Dry run queued: its counts appear below when it finishes.",
        "approve" => "Approval recorded.",
        "deny" => "The request is denied and the requester told.",
        "extend" => "The deadline is extended and the requester told.",
        "confirm" => "The report is confirmed.",
        "dismiss" => "The report is dismissed.",
        "resources" => "Decisions recorded.",
        "retry" => "The request will run again.",
        "abort" => "The request is aborted.",
        _ => return None,
    })
}

fn facts(v: &Value) -> Markup {
    html! {
        dl class="facts" {
            dt { "Id" } dd { code { (text(&v["id"])) } }
            dt { "Kind" } dd { (text(&v["kind"])) }
            dt { "Status" } dd { (text(&v["status"])) }
            dt { "Regime" } dd { (text(&v["regime"])) }
            dt { "Received" } dd { (at(&v["created_at"])) }
            @if !v["ack_due_at"].is_null() {
                dt { "Acknowledge by" }
                dd class=[(v["ack_overdue"] == true).then_some("overdue")] {
                    (at(&v["ack_due_at"]))
                    @if v["ack_overdue"] == true { " (overdue)" }
                    @if !v["acknowledged_at"].is_null() { " — acknowledged " (at(&v["acknowledged_at"])) }
                }
            }
            dt { "Answer by" }
            dd class=[(v["overdue"] == true).then_some("overdue")] {
                (at(&v["due_at"]))
                @if v["overdue"] == true { " (overdue)" }
            }
            @if !v["extended_at"].is_null() {
                dt { "Extended" } dd { (at(&v["extended_at"])) ": " (text(&v["extension_reason"])) }
            }
            dt { "Identity" }
            dd {
                @match v["verified_via"].as_str() {
                    Some(via) => { "proved by " (via) @if let Some(email) = v["verified_email"].as_str() { " (" (email) ")" } }
                    None => "not proved yet",
                }
                @if v["subject_located"] == true { "; account located" }
            }
            @if !v["completed_at"].is_null() { dt { "Closed" } dd { (at(&v["completed_at"])) } }
            @if v["export"].is_object() {
                dt { "Export" }
                dd {
                    @if let Some(link) = v["export"]["download_url"].as_str() {
                        a href=(link) { "Download (link valid 5 minutes)" } ", "
                    } @else { "expired and deleted, " }
                    (text(&v["export"]["bytes"])) " bytes, until " (at(&v["export"]["expires_at"]))
                }
            }
            @if !v["failure"].is_null() {
                dt { "Failure" } dd class="overdue" { (text(&v["failure"])) " " code { (text(&v["failure_detail"])) } }
            }
            @if !v["decision_reason"].is_null() { dt { "Reason given" } dd { (text(&v["decision_reason"])) } }
            @if let Some(decisions) = v["decisions"].as_array().filter(|d| !d.is_empty()) {
                dt { "Decisions" }
                dd { ul { @for d in decisions { li { (text(&d["decision"])) " by " code { (text(&d["staff_id"])) } ", " (at(&d["at"])) } } } }
            }
        }
    }
}

fn report(v: &Value) -> Markup {
    let r = &v["report"];
    html! {
        @if r.is_object() {
            h2 { "The report" }
            dl class="facts" {
                dt { "Account" } dd { (text(&r["account"])) " (" (text(&r["account_kind"])) ")" }
                dt { "Reporter is" } dd { (text(&r["relationship"])) }
                dt { "Details" } dd { pre { (text(&r["details"])) } }
                dt { "Parent asks for a copy" } dd { @if r["parent_copy_requested"] == true { "yes" } @else { "no" } }
                dt { "Other open reports on this account" } dd { (text(&r["other_open_reports"])) }
            }
        }
    }
}

fn resources(v: &Value, csrf: &str) -> Markup {
    let Some(listings) = v["resources"].as_array() else {
        return html! {};
    };
    let open = v["status"] == "verified";
    html! {
        h2 { "Listed resources" }
        @if let Some(link) = v["evidence"]["download_url"].as_str() {
            p { a href=(link) { "See the requester's evidence" } " (link valid 5 minutes)" }
        }
        form method="post" action={ "/console/requests/" (text(&v["id"])) "/resources" } {
            (csrf_field(csrf))
            table {
                thead { tr { th scope="col" { "As listed" } th scope="col" { "Found" } th scope="col" { "Decision" } } }
                tbody {
                    @for (i, l) in listings.iter().enumerate() {
                        tr {
                            td { (text(&l["given"])) }
                            td { (text(&l["state"])) @if let Some(key) = l["key"].as_str() { " (" (text(&l["resource"])) " " (key) ")" } }
                            td {
                                @if !l["decision"].is_null() {
                                    (text(&l["decision"])) ": " (text(&l["reason"]))
                                } @else if open && l["state"] == "found" {
                                    @let name = format!("d{i}");
                                    input type="hidden" name={ (name) "_resource" } value=(text(&l["id"]));
                                    fieldset {
                                        legend class="skip" { "Decision on " (text(&l["given"])) }
                                        div class="choice" {
                                            input type="radio" id={ (name) "-remove" } name={ (name) "_decision" } value="remove";
                                            label for={ (name) "-remove" } { "remove" }
                                        }
                                        div class="choice" {
                                            input type="radio" id={ (name) "-keep" } name={ (name) "_decision" } value="keep";
                                            label for={ (name) "-keep" } { "keep" }
                                        }
                                    }
                                    label for={ (name) "-reason" } { "Reason" }
                                    input type="text" id={ (name) "-reason" } name={ (name) "_reason" };
                                } @else { "—" }
                            }
                        }
                    }
                }
            }
            @if open { button type="submit" { "Record decisions" } }
        }
    }
}

fn rehearsal(v: &Value) -> Markup {
    let r = &v["rehearsal"];
    if !r.is_object() {
        return html! {};
    }
    let report = &r["report"];
    html! {
        h2 { "Dry run" }
        p {
            (text(&r["status"])) ", asked " (at(&r["requested_at"]))
            @if r["approvable"] == true { " — approvable" } @else if r["status"] == "done" || r["status"] == "error" { " — not approvable" }
        }
        @if let Some(error) = r["error"].as_str() { p class="overdue" { "Could not run: " (error) } }
        @if report["failure"].is_object() {
            p class="overdue" {
                "Step " (text(&report["failure"]["step"])) " failed: " (text(&report["failure"]["kind"]))
                @for key in ["table", "constraint", "column", "bucket"] {
                    @if let Some(name) = report["failure"][key].as_str() { " (" (key) " " (name) ")" }
                }
            }
        }
        @if let Some(tables) = report["tables"].as_object() {
            table {
                caption { "Rows per table" }
                thead { tr { th scope="col" { "Table" } th scope="col" { "Action" } th scope="col" { "Deleted" } th scope="col" { "Updated" } th scope="col" { "Kept" } } }
                tbody {
                    @for (name, t) in tables {
                        tr {
                            td { (name) }
                            td { (t["actions"].as_array().map(|a| a.iter().map(text).collect::<Vec<_>>().join(", ")).unwrap_or_default()) }
                            td { (text(&t["deleted"])) } td { (text(&t["updated"])) } td { (text(&t["retained"])) }
                        }
                    }
                }
            }
        }
        @if let Some(objects) = report["objects"].as_object().filter(|o| !o.is_empty()) {
            table {
                caption { "Objects per bucket" }
                thead { tr { th scope="col" { "Bucket" } th scope="col" { "Objects" } } }
                tbody { @for (bucket, n) in objects { tr { td { (bucket) } td { (text(n)) } } } }
            }
        }
    }
}

fn timeline(v: &Value) -> Markup {
    html! {
        h2 { "Timeline" }
        ol {
            @for e in v["audit"].as_array().into_iter().flatten() {
                li { (at(&e["at"])) " — " strong { (text(&e["action"])) } " by " (text(&e["actor"])) }
            }
        }
    }
}
