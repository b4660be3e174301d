//! Deadlines, end to end: both clocks set at intake from the configured table and
//! calendar, one extension with a reason the requester is mailed, the overdue flags, and
//! the daily digest to staff sent once a day however many processes trigger it.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc, Weekday};
use diesel::sql_types::Text;
use diesel_async::RunQueryDsl;
use jsonwebtoken::{EncodingKey, Header, encode};
use lethe::deadlines::settings::{Holiday, TimeOfDay};
use lethe::deadlines::{Rule, Span, Watch};
use lethe::domain::{Regime, Role};
use serde_json::{Value, json};

use crate::helpers::{Options, TestApp, TextRow, mail_body, spawn_app_with};

const SECRET: &str = "platform-shared-secret-platform-shared-secret";

fn at(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value.as_str().expect("a date"))
        .unwrap()
        .with_timezone(&Utc)
}

fn shown(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

async fn sql(app: &TestApp, statement: &str, id: &str) {
    diesel::sql_query(statement)
        .bind::<Text, _>(id)
        .execute(&mut app.service_db().await)
        .await
        .unwrap();
}

async fn actions(app: &TestApp, id: &str) -> Vec<String> {
    diesel::sql_query("SELECT action AS v FROM audit_log WHERE request_id = $1::uuid ORDER BY seq")
        .bind::<Text, _>(id)
        .load::<TextRow>(&mut app.service_db().await)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.v)
        .collect()
}

async fn extend(app: &TestApp, id: &str, token: &str, body: Value) -> (u16, Value) {
    let response = app
        .staff_post(&format!("/v1/staff/requests/{id}/extend"), token, body)
        .await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_extension_mails_the_requester_the_new_date_and_the_reason_and_happens_once() {
    let app = spawn_app_with(Options {
        tweak: Box::new(|s| {
            // Access requests wait for staff, and their rule allows no extension.
            s.requests.access_require_approval = true;
            s.deadlines.gdpr.access = Some(Rule {
                acknowledge: None,
                respond: Span::Months(1),
                extend: None,
            });
        }),
        ..Default::default()
    })
    .await;
    let reviewer = app.staff_token("reviewer@lethe.test", Role::Reviewer).await;
    let viewer = app.staff_token("viewer@lethe.test", Role::Viewer).await;
    let email = "needs.more.time@example.com";
    let deletion = app.file_deletion(email).await;
    let before = app.staff_view(&deletion.id, &reviewer).await;
    assert_eq!(before["extended_at"], Value::Null);
    let due = at(&before["due_at"]);
    let reason =
        "Your account holds many uploads across several buckets; <b>checking</b> them takes time.";

    // A viewer may look but not extend; a reason is required and bounded.
    let (status, _) = extend(&app, &deletion.id, &viewer, json!({ "reason": reason })).await;
    assert_eq!(status, 403);
    for body in [
        json!({}),
        json!({ "reason": "   " }),
        json!({ "reason": "x".repeat(2001) }),
        json!({ "reason": "line\u{0}break" }),
    ] {
        let (status, error) = extend(&app, &deletion.id, &reviewer, body).await;
        assert_eq!(status, 400, "{error}");
        assert_eq!(error["error"]["field"], "reason", "{error}");
    }
    assert_eq!(
        app.staff_view(&deletion.id, &reviewer).await["due_at"],
        before["due_at"]
    );

    let (status, extended) =
        extend(&app, &deletion.id, &reviewer, json!({ "reason": reason })).await;
    assert_eq!(status, 200, "{extended}");
    // GDPR: one month, extended by two more (three months from receipt).
    let new_due = due.checked_add_months(chrono::Months::new(2)).unwrap();
    assert_eq!(at(&extended["due_at"]), new_due);
    assert_eq!(at(&extended["previous_due_at"]), due);
    assert_eq!(extended["requester_notified"], true);
    let view = app.staff_view(&deletion.id, &reviewer).await;
    assert_eq!(at(&view["due_at"]), new_due);
    assert_eq!(view["extension_reason"], reason);
    assert!(view["extended_at"].is_string());
    assert_eq!(view["overdue"], false);
    let mail = app.mail_containing(email, "will take longer").await;
    assert!(mail.contains(&shown(new_due)), "{mail}");
    assert!(mail.contains(reason), "{mail}");
    assert_eq!(
        actions(&app, &deletion.id)
            .await
            .iter()
            .filter(|a| *a == "deadline.extended")
            .count(),
        1
    );

    // Only once.
    let (status, error) = extend(&app, &deletion.id, &reviewer, json!({ "reason": "again" })).await;
    assert_eq!(status, 409);
    assert_eq!(error["error"]["code"], "conflict");
    assert!(error["error"]["message"].as_str().unwrap().contains("once"));
    assert_eq!(
        at(&app.staff_view(&deletion.id, &reviewer).await["due_at"]),
        new_due
    );

    // Not past the deadline: the notice belongs in the first period.
    let late = app.file_deletion("too.late@example.com").await;
    sql(
        &app,
        "UPDATE requests SET due_at = now() - interval '1 hour' WHERE id = $1::uuid",
        &late.id,
    )
    .await;
    let (status, error) = extend(&app, &late.id, &reviewer, json!({ "reason": reason })).await;
    assert_eq!(status, 409);
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("passed")
    );

    // Not where the rule allows none.
    let (access, status) = app
        .file_and_verify_kind("access", "no.extension@example.com")
        .await;
    assert_eq!(status, "verified");
    let (status, error) = extend(&app, &access.id, &reviewer, json!({ "reason": reason })).await;
    assert_eq!(status, 409);
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("allows no extension")
    );

    // Not once the request is closed.
    assert_eq!(app.cancel(&late).await.status(), 200);
    let (status, error) = extend(&app, &late.id, &reviewer, json!({ "reason": reason })).await;
    assert_eq!(status, 409);
    assert!(error["error"]["message"].as_str().unwrap().contains("open"));

    // No such request.
    let (status, _) = extend(
        &app,
        "0191d5a0-0000-7000-8000-000000000000",
        &reviewer,
        json!({ "reason": reason }),
    )
    .await;
    assert_eq!(status, 404);
    app.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_digest_lists_due_soon_and_overdue_requests_to_staff_once_a_day() {
    let app = spawn_app_with(Options {
        tweak: Box::new(|s| {
            s.deadlines.digest_at_utc = TimeOfDay(chrono::NaiveTime::MIN);
            s.deadlines.watch_interval_seconds = 10;
        }),
        ..Default::default()
    })
    .await;
    let reviewer = app
        .staff_token("digest.reviewer@lethe.test", Role::Reviewer)
        .await;
    app.staff_token("digest.viewer@lethe.test", Role::Viewer)
        .await;
    app.staff_token("digest.mailer@lethe.test", Role::Mailer)
        .await;
    let soon = app.file_deletion("due.soon@example.com").await;
    let late = app.file_deletion("overdue@example.com").await;
    let unacknowledged = app.file_deletion("unacknowledged@example.com").await;
    let later = app.file_deletion("due.later@example.com").await;
    sql(
        &app,
        "UPDATE requests SET due_at = now() + interval '2 days' WHERE id = $1::uuid",
        &soon.id,
    )
    .await;
    sql(
        &app,
        "UPDATE requests SET due_at = now() - interval '1 day' WHERE id = $1::uuid",
        &late.id,
    )
    .await;
    sql(
        &app,
        "UPDATE requests SET ack_due_at = now() - interval '1 hour', acknowledged_at = NULL WHERE id = $1::uuid",
        &unacknowledged.id,
    )
    .await;

    // The app's own watch ran once at start, before anyone was on staff: today's digest
    // went to no one. Forget it; from here the app's watch and this one race for the day.
    app.mail_settled().await;
    let earlier = app.mails_to("digest.reviewer@lethe.test").await.len();
    let earlier_viewer = app.mails_to("digest.viewer@lethe.test").await.len();
    sql(&app, "DELETE FROM deadline_digests WHERE $1 <> ''", "x").await;
    // The watch loop, as every `serve` and `work` process runs it, sends today's digest.
    let watch = Watch::new(
        &app.services.settings,
        app.services.db.clone(),
        app.services.outbox.clone(),
    );
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(watch.clone().run(stopped));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let today = Utc::now().date_naive();
    loop {
        let sent = diesel::sql_query("SELECT day::text AS v FROM deadline_digests")
            .load::<TextRow>(&mut app.service_db().await)
            .await
            .unwrap();
        if !sent.is_empty() {
            assert_eq!(sent.len(), 1);
            assert_eq!(sent[0].v, today.to_string());
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no digest was sent");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Two more processes trigger it the same day: nothing more goes out.
    let (a, b) = tokio::join!(watch.pass(Utc::now()), watch.pass(Utc::now()));
    assert_eq!(a.unwrap().digest, None);
    assert_eq!(b.unwrap().digest, None);
    let _ = stop.send(true);
    running.await.unwrap();

    app.mail_settled().await;
    let mails = app.mails_to("digest.reviewer@lethe.test").await;
    assert_eq!(mails.len(), earlier + 1, "one digest a day");
    assert_eq!(
        app.mails_to("digest.viewer@lethe.test").await.len(),
        earlier_viewer + 1
    );
    assert!(app.mails_to("digest.mailer@lethe.test").await.is_empty());
    let body = mail_body(mails.last().expect("the digest"));
    let (overdue, due_soon) = body.split_once("Due within 7 days").expect(&body);
    assert!(overdue.contains("OVERDUE (2)"), "{body}");
    assert!(
        overdue.contains(&late.id) && overdue.contains(&unacknowledged.id),
        "{body}"
    );
    let ack_line = overdue
        .lines()
        .find(|l| l.contains(&unacknowledged.id))
        .unwrap();
    assert!(ack_line.contains("acknowledgement"), "{body}");
    assert!(due_soon.starts_with(" (1)"), "{body}");
    assert!(due_soon.contains(&soon.id), "{body}");
    assert!(!body.contains(&later.id), "{body}");
    assert!(!body.contains('@'), "no requester address in {body}");

    // Each clock that ran out is flagged once, with one audit entry.
    assert_eq!(
        actions(&app, &late.id)
            .await
            .iter()
            .filter(|a| *a == "deadline.overdue")
            .count(),
        1
    );
    assert_eq!(
        actions(&app, &unacknowledged.id)
            .await
            .iter()
            .filter(|a| *a == "deadline.overdue")
            .count(),
        1
    );
    assert!(
        actions(&app, &soon.id)
            .await
            .iter()
            .all(|a| a != "deadline.overdue")
    );
    let view = app.staff_view(&late.id, &reviewer).await;
    assert_eq!(
        (view["overdue"].as_bool(), view["ack_overdue"].as_bool()),
        (Some(true), Some(false))
    );
    let view = app.staff_view(&unacknowledged.id, &reviewer).await;
    assert_eq!(
        (view["overdue"].as_bool(), view["ack_overdue"].as_bool()),
        (Some(false), Some(true))
    );
    let list: Vec<Value> = app
        .client
        .get(format!("{}/v1/staff/requests?overdue=true", app.address))
        .bearer_auth(&reviewer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["id"], late.id.as_str());
    assert_eq!(list[0]["overdue"], true);

    // The next day, two processes at once: exactly one of them sends.
    let tomorrow = Utc::now() + Duration::days(1);
    let (a, b) = tokio::join!(watch.pass(tomorrow), watch.pass(tomorrow));
    let sent: Vec<_> = [a.unwrap(), b.unwrap()]
        .into_iter()
        .filter_map(|p| p.digest)
        .collect();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].recipients, 2);
    assert_eq!(app.mails_to("digest.reviewer@lethe.test").await.len(), 2);
    assert_eq!(
        actions(&app, &late.id)
            .await
            .iter()
            .filter(|a| *a == "deadline.overdue")
            .count(),
        1,
        "flagged once, not once per pass"
    );
    app.teardown().await;
}

/// The date `n` business days after `from`, counted independently of Lethe's calendar.
fn business_days_after(from: DateTime<Utc>, n: u32, holidays: &[NaiveDate]) -> DateTime<Utc> {
    let mut at = from;
    let mut left = n;
    while left > 0 {
        at += Duration::days(1);
        let day = at.date_naive();
        if !matches!(day.weekday(), Weekday::Sat | Weekday::Sun) && !holidays.contains(&day) {
            left -= 1;
        }
    }
    at
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ccpa_deployment_sets_acknowledgement_and_response_deadlines_from_its_calendar() {
    // The next three weekdays are holidays, so they push the business-day clocks.
    let today = Utc::now().date_naive();
    let holidays: Vec<NaiveDate> = (1..10)
        .map(|d| today + Duration::days(d))
        .filter(|d| !matches!(d.weekday(), Weekday::Sat | Weekday::Sun))
        .take(3)
        .collect();
    let configured: Vec<Holiday> = holidays.iter().copied().map(Holiday).collect();
    let app = spawn_app_with(Options {
        tweak: Box::new(move |s| {
            s.requests.regime = Regime::Ccpa;
            s.deadlines.holidays = configured;
            s.security.platform_assertion_secret = secrecy::SecretString::from(SECRET);
        }),
        ..Default::default()
    })
    .await;
    let reviewer = app
        .staff_token("ccpa.reviewer@lethe.test", Role::Reviewer)
        .await;

    // Filed by email: acknowledged by the code mail, which names the response deadline.
    let email = "california.person@example.com";
    let deletion = app.file_deletion(email).await;
    let view = app.staff_view(&deletion.id, &reviewer).await;
    let created = at(&view["created_at"]);
    assert_eq!(view["regime"], "ccpa");
    assert_eq!(
        at(&view["ack_due_at"]),
        business_days_after(created, 10, &holidays)
    );
    assert_eq!(at(&view["due_at"]), created + Duration::days(45));
    assert_eq!(at(&view["acknowledged_at"]), created);
    assert_eq!(
        (view["overdue"].as_bool(), view["ack_overdue"].as_bool()),
        (Some(false), Some(false))
    );
    let code_mail = app.mail_containing(email, "verification code is").await;
    assert!(
        code_mail.contains(&shown(created + Duration::days(45))),
        "{code_mail}"
    );

    // Filed through the platform: a receipt mail acknowledges it.
    let claims = json!({
        "sub": "7", "aud": "lethe", "email": "platform.person@example.com",
        "iat": Utc::now().timestamp(), "exp": Utc::now().timestamp() + 120,
    });
    let assertion = encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    let response = app
        .file(json!({ "kind": "deletion", "assertion": assertion }))
        .await;
    assert_eq!(response.status(), 202);
    let filed: Value = response.json().await.unwrap();
    let id = filed["id"].as_str().unwrap();
    app.saw(filed["token"].as_str().unwrap());
    let view = app.staff_view(id, &reviewer).await;
    let created = at(&view["created_at"]);
    assert_eq!(
        at(&view["ack_due_at"]),
        business_days_after(created, 10, &holidays)
    );
    assert_eq!(at(&view["acknowledged_at"]), created);
    let receipt = app
        .mail_containing(
            "platform.person@example.com",
            "We have received your privacy request",
        )
        .await;
    assert!(
        receipt.contains(id) && receipt.contains(&shown(at(&view["due_at"]))),
        "{receipt}"
    );
    assert!(
        actions(&app, id)
            .await
            .contains(&"request.acknowledged".to_owned())
    );

    // An unsubscribe: two business days, no acknowledgement clock.
    let (unsubscribe, _) = app
        .file_and_verify_kind("unsubscribe", "no.more.mail@example.com")
        .await;
    let view = app.staff_view(&unsubscribe.id, &reviewer).await;
    let created = at(&view["created_at"]);
    assert_eq!(view["ack_due_at"], Value::Null);
    assert_eq!(
        at(&view["due_at"]),
        business_days_after(created, 2, &holidays)
    );

    // The list shows both clocks.
    let list: Vec<Value> = app
        .client
        .get(format!("{}/v1/staff/requests?kind=deletion", app.address))
        .bearer_auth(&reviewer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let line = list
        .iter()
        .find(|r| r["id"] == deletion.id.as_str())
        .unwrap();
    for field in [
        "ack_due_at",
        "acknowledged_at",
        "due_at",
        "extended_at",
        "extension_reason",
        "overdue",
        "ack_overdue",
    ] {
        assert!(line.get(field).is_some(), "{field} in {line}");
    }

    // CCPA extends by 45 days.
    let due = at(&app.staff_view(&deletion.id, &reviewer).await["due_at"]);
    let (status, extended) = extend(
        &app,
        &deletion.id,
        &reviewer,
        json!({ "reason": "The records span several systems." }),
    )
    .await;
    assert_eq!(status, 200, "{extended}");
    assert_eq!(at(&extended["due_at"]), due + Duration::days(45));
    let mail = app.mail_containing(email, "will take longer").await;
    assert!(mail.contains(&shown(due + Duration::days(45))), "{mail}");
    app.teardown().await;
}
