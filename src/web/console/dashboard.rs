//! `GET /console`: counts by status, what is due this week, what is overdue, and a chart of
//! requests received per day over the last 30 days (server-rendered SVG, with the same
//! figures as a table for screen readers).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use chrono::{Duration, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Date};
use diesel_async::RunQueryDsl;
use maud::{Markup, html};

use crate::domain::RequestStatus;
use crate::models::staff_session::LiveSession;
use crate::schema::requests;
use crate::state::AppState;
use crate::web::csrf::CsrfToken;
use crate::web::error::PageError;

#[derive(QueryableByName)]
struct Day {
    #[diesel(sql_type = Date)]
    day: NaiveDate,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// The dashboard.
pub async fn show(
    state: web::Data<AppState>,
    session: LiveSession,
    csrf: CsrfToken,
) -> Result<HttpResponse, PageError> {
    let mut conn = state.db.get().await?;
    let now = Utc::now();
    let by_status: Vec<(String, i64)> = requests::table
        .group_by(requests::status)
        .select((requests::status, diesel::dsl::count_star()))
        .order(requests::status)
        .load(&mut conn)
        .await?;
    // On the clock: open, or failed and still to be finished (as the staff API counts it).
    let open = || requests::table.filter(requests::status.eq_any(crate::deadlines::RUNNING));
    let due_this_week: i64 = open()
        .filter(requests::due_at.ge(now))
        .filter(requests::due_at.lt(now + Duration::days(7)))
        .count()
        .get_result(&mut conn)
        .await?;
    let overdue: i64 = open()
        .filter(requests::due_at.lt(now))
        .count()
        .get_result(&mut conn)
        .await?;
    let children: i64 = open()
        .filter(requests::kind.eq("child_report"))
        .count()
        .get_result(&mut conn)
        .await?;
    let days: Vec<Day> = diesel::sql_query(
        "SELECT d::date AS day, coalesce(c.n, 0) AS n \
         FROM generate_series(current_date - 29, current_date, interval '1 day') AS d \
         LEFT JOIN (SELECT created_at::date AS day, count(*) AS n FROM requests \
                    WHERE created_at >= current_date - 29 GROUP BY 1) AS c ON c.day = d::date \
         ORDER BY d",
    )
    .load(&mut conn)
    .await?;
    let body = html! {
        ul class="counts" aria-label="Open work" {
            li { strong { (overdue) } a class=[(overdue > 0).then_some("overdue")] href="/console/requests?due=overdue" { "overdue" } }
            li { strong { (due_this_week) } a href="/console/requests?due=week" { "due within 7 days" } }
            li { strong { (children) } a href="/console/requests?kind=child_report" { "open child reports" } }
        }
        h2 { "Requests by status" }
        ul class="counts" {
            @for (status, n) in &by_status {
                li {
                    strong { (n) }
                    a href={ "/console/requests?status=" (status) } {
                        (RequestStatus::parse(status).map_or("unknown", RequestStatus::label))
                    }
                }
            }
        }
        h2 id="per-day" { "Requests received per day, last 30 days" }
        (chart(&days))
    };
    Ok(super::page(
        &session,
        &csrf.0,
        StatusCode::OK,
        "Dashboard",
        false,
        body,
    ))
}

/// Bars of requests per day: an SVG for the eye and a table for screen readers.
fn chart(days: &[Day]) -> Markup {
    let max = days.iter().map(|d| d.n).max().unwrap_or(0).max(1);
    let (width, height, bar) = (600.0_f64, 160.0_f64, 600.0 / days.len().max(1) as f64);
    html! {
        svg class="chart" viewBox={ "0 0 " (width) " " (height + 20.0) } width="100%" role="img"
            aria-labelledby="per-day" xmlns="http://www.w3.org/2000/svg" {
            @for (i, d) in days.iter().enumerate() {
                @let h = height * d.n as f64 / max as f64;
                rect x=(format!("{:.1}", i as f64 * bar + 1.0)) y=(format!("{:.1}", height - h))
                    width=(format!("{:.1}", (bar - 2.0).max(1.0))) height=(format!("{:.1}", h)) fill="#0b4f9c" {
                    title { (d.day) ": " (d.n) }
                }
            }
            line x1="0" y1=(height) x2=(width) y2=(height) stroke="#555" {}
            text x="0" y=(height + 16.0) font-size="12" fill="#1a1a1a" { (days.first().map(|d| d.day.to_string()).unwrap_or_default()) }
            text x=(width) y=(height + 16.0) font-size="12" fill="#1a1a1a" text-anchor="end" { (days.last().map(|d| d.day.to_string()).unwrap_or_default()) }
        }
        details {
            summary { "The figures" }
            table {
                thead { tr { th scope="col" { "Day" } th scope="col" { "Requests" } } }
                tbody { @for d in days { tr { td { (d.day) } td { (d.n) } } } }
            }
        }
    }
}
