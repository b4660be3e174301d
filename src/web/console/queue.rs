//! `GET /console/requests`: the queue. Filters by kind, status and due date, search by
//! request id, open child reports first and then by due date. Pages are keyset pages over
//! the index `requests_queue` (`(kind <> 'child_report'), due_at, id`), so the hundredth
//! page costs what the first does.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Timestamptz};
use diesel_async::RunQueryDsl;
use maud::html;
use serde::Deserialize;
use uuid::Uuid;

use crate::domain::{RequestKind, RequestStatus};
use crate::models::Request;
use crate::models::staff_session::LiveSession;
use crate::routes::staff::list::OPEN;
use crate::schema::requests;
use crate::state::AppState;
use crate::web::csrf::CsrfToken;
use crate::web::error::PageError;
use crate::web::layout::{Errors, day};

/// Rows per page.
pub const PAGE: i64 = 50;

/// The queue's filters and position.
#[derive(Debug, Default, Deserialize)]
pub struct Filter {
    /// A kind (`child_report`…).
    #[serde(default)]
    pub kind: Option<String>,
    /// A status, or `open` (the default) or `all`.
    #[serde(default)]
    pub status: Option<String>,
    /// `overdue`, `week`, or a date (`YYYY-MM-DD`) due on or before.
    #[serde(default)]
    pub due: Option<String>,
    /// A request id.
    #[serde(default)]
    pub q: Option<String>,
    /// Where the page starts: the last row of the previous page.
    #[serde(default)]
    pub after: Option<String>,
}

/// A position in the queue's order.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Cursor {
    later: bool,
    due: DateTime<Utc>,
    id: Uuid,
}

impl Cursor {
    fn of(r: &Request) -> Self {
        Self {
            later: r.kind() != RequestKind::ChildReport,
            due: r.due_at,
            id: r.id,
        }
    }

    fn encode(self) -> String {
        format!(
            "{}.{}.{}",
            u8::from(self.later),
            self.due.timestamp_micros(),
            self.id
        )
    }

    fn decode(text: &str) -> Option<Self> {
        let mut parts = text.splitn(3, '.');
        let later = match parts.next()? {
            "0" => false,
            "1" => true,
            _ => return None,
        };
        let due = DateTime::from_timestamp_micros(parts.next()?.parse().ok()?)?;
        let id = Uuid::parse_str(parts.next()?).ok()?;
        Some(Self { later, due, id })
    }
}

/// The queue page.
pub async fn show(
    state: web::Data<AppState>,
    session: LiveSession,
    csrf: CsrfToken,
    filter: web::Query<Filter>,
) -> Result<HttpResponse, PageError> {
    let filter = filter.into_inner();
    let mut errors = Errors::default();
    // An id typed into search goes straight to its page when it exists.
    if let Some(q) = filter.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        match Uuid::parse_str(q) {
            Ok(id) => return Ok(super::see_other(&format!("/console/requests/{id}"))),
            Err(_) => errors.add("q", "Enter a request id like 0193a2b4-…"),
        }
    }
    let mut query = requests::table.select(Request::as_select()).into_boxed();
    if let Some(kind) = filter.kind.as_deref().filter(|k| !k.is_empty()) {
        match RequestKind::parse(kind) {
            Ok(kind) => query = query.filter(requests::kind.eq(kind.as_str())),
            Err(_) => errors.add("kind", "Choose a kind from the list"),
        }
    }
    match filter.status.as_deref().unwrap_or("open") {
        "open" | "" => query = query.filter(requests::status.eq_any(OPEN)),
        "all" => {}
        status => match RequestStatus::parse(status) {
            Some(status) => query = query.filter(requests::status.eq(status.as_str())),
            None => errors.add("status", "Choose a status from the list"),
        },
    }
    let now = Utc::now();
    match filter.due.as_deref().unwrap_or("") {
        "" => {}
        "overdue" => {
            query = query
                .filter(requests::due_at.lt(now))
                .filter(requests::status.eq_any(crate::deadlines::RUNNING))
        }
        "week" => query = query.filter(requests::due_at.lt(now + Duration::days(7))),
        date => match NaiveDate::parse_from_str(date, "%Y-%m-%d") {
            Ok(date) => {
                let end = date
                    .succ_opt()
                    .unwrap_or(date)
                    .and_hms_opt(0, 0, 0)
                    .expect("midnight")
                    .and_utc();
                query = query.filter(requests::due_at.lt(end));
            }
            Err(_) => errors.add("due", "Enter a date like 2026-12-31"),
        },
    }
    if let Some(after) = filter.after.as_deref() {
        let Some(cursor) = Cursor::decode(after) else {
            return Err(PageError::NotFound);
        };
        query = query.filter(
            sql::<Bool>("((kind <> 'child_report'), due_at, id) > (")
                .bind::<Bool, _>(cursor.later)
                .sql(", ")
                .bind::<Timestamptz, _>(cursor.due)
                .sql(", ")
                .bind::<diesel::sql_types::Uuid, _>(cursor.id)
                .sql(")"),
        );
    }
    let rows: Vec<Request> = if errors.is_empty() {
        let mut conn = state.db.get().await?;
        query
            .order((
                sql::<Bool>("(kind <> 'child_report')").asc(),
                requests::due_at.asc(),
                requests::id.asc(),
            ))
            .limit(PAGE + 1)
            .load(&mut conn)
            .await?
    } else {
        Vec::new()
    };
    let more = rows.len() as i64 > PAGE;
    let rows = &rows[..rows.len().min(PAGE as usize)];
    let next = more
        .then(|| rows.last().map(|r| Cursor::of(r).encode()))
        .flatten();
    let keep = |after: Option<&str>| {
        let mut pairs = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("kind", &filter.kind),
            ("status", &filter.status),
            ("due", &filter.due),
        ] {
            if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
                pairs.append_pair(k, v);
            }
        }
        if let Some(after) = after {
            pairs.append_pair("after", after);
        }
        format!("/console/requests?{}", pairs.finish())
    };
    let selected = |value: &Option<String>, option: &str| value.as_deref() == Some(option);
    let body = html! {
        (errors.summary())
        form method="get" action="/console/requests" class="filters" role="search" {
            div class="field" {
                label for="q" { "Request id" }
                input type="search" id="q" name="q" value=[filter.q.as_deref()]
                    aria-invalid=[errors.of("q").map(|_| "true")];
            }
            div class="field" {
                label for="kind" { "Kind" }
                select id="kind" name="kind" {
                    option value="" { "any" }
                    @for kind in crate::web::privacy::kinds::ALL {
                        option value=(kind.as_str()) selected[selected(&filter.kind, kind.as_str())] { (kind.label()) }
                    }
                }
            }
            div class="field" {
                label for="status" { "Status" }
                select id="status" name="status" {
                    option value="open" { "open" }
                    option value="all" selected[selected(&filter.status, "all")] { "any" }
                    @for status in RequestStatus::ALL {
                        option value=(status.as_str()) selected[selected(&filter.status, status.as_str())] { (status.label()) }
                    }
                }
            }
            div class="field" {
                label for="due" { "Due" }
                select id="due" name="due" {
                    option value="" { "any time" }
                    option value="overdue" selected[selected(&filter.due, "overdue")] { "overdue" }
                    option value="week" selected[selected(&filter.due, "week")] { "within 7 days" }
                }
            }
            button type="submit" { "Show" }
        }
        @if rows.is_empty() {
            p { "No requests match." }
        } @else {
            table {
                caption class="skip" { "Requests, child reports first, then by due date" }
                thead { tr {
                    th scope="col" { "Request" } th scope="col" { "Kind" } th scope="col" { "Status" }
                    th scope="col" { "Received" } th scope="col" { "Due" }
                } }
                tbody {
                    @for r in rows {
                        @let overdue = crate::deadlines::running(r.status()) && r.due_at < now;
                        tr {
                            td { a href={ "/console/requests/" (r.id) } { code { (r.id.to_string()[..8]) } } }
                            td { (r.kind().label()) }
                            td { (r.status().label()) }
                            td { (day(r.created_at)) }
                            td class=[overdue.then_some("overdue")] { (day(r.due_at)) @if overdue { " (overdue)" } }
                        }
                    }
                }
            }
        }
        nav class="pages" aria-label="Pages" {
            @if filter.after.is_some() { a href=(keep(None)) { "First page" } }
            @if let Some(next) = &next { a href=(keep(Some(next))) rel="next" { "Next page" } }
        }
    };
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    Ok(super::page(
        &session,
        &csrf.0,
        status,
        "Requests",
        !errors.is_empty(),
        body,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        let cursor = Cursor {
            later: true,
            due: DateTime::from_timestamp_micros(1_780_000_000_123_456).unwrap(),
            id: Uuid::now_v7(),
        };
        assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
        for bad in ["", "2.1.x", "1.x.0193", "1.5"] {
            assert_eq!(Cursor::decode(bad), None, "{bad}");
        }
    }
}
