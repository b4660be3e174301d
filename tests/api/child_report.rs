//! Reports of a child under 13 on the platform, end to end: anyone files one with a
//! contact address proved by a code, the answer never says whether the account exists,
//! staff triage reports first, dismiss (nothing changes) or confirm on a clean dry run (the
//! account is frozen, a parent's copy goes to the parent only, then the account is purged
//! with every other user's rows unchanged), and the reporter learns only the outcome.

use diesel::sql_types::{BigInt, Text};
use diesel_async::RunQueryDsl;
use lethe::domain::Role;
use serde_json::{Value, json};

use crate::deletion::{others_digest, touched_keys};
use crate::helpers::{TestApp, TextRow, spawn_app};

pub(crate) const KID: &str = "pixel_kid_2015";
const KID_EMAIL: &str = "pixel.kid@example.org";

pub(crate) async fn kid_id(app: &TestApp) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct Id {
        #[diesel(sql_type = BigInt)]
        id: i64,
    }
    diesel::sql_query("SELECT id FROM users WHERE username = $1")
        .bind::<Text, _>(KID)
        .get_result::<Id>(&mut app.platform_db().await)
        .await
        .unwrap()
        .id
}

/// Files a report and verifies the reporter's code; returns the id and token.
pub(crate) async fn report(app: &TestApp, reporter: &str, report: Value) -> (String, String) {
    let response = app
        .file(json!({ "kind": "child_report", "email": reporter, "report": report }))
        .await;
    let status = response.status();
    let filed: Value = response.json().await.unwrap();
    assert_eq!(status, 202, "{filed}");
    assert_eq!(filed["verification"], "email_code");
    let id = filed["id"].as_str().unwrap().to_owned();
    let response = app.verify(&id, &app.latest_code(reporter).await).await;
    assert_eq!(response.status(), 200);
    let verified: Value = response.json().await.unwrap();
    let token = verified["token"].as_str().unwrap().to_owned();
    app.saw(&token);
    (
        verified["request"]["id"].as_str().unwrap().to_owned(),
        token,
    )
}

/// Every row of the platform, digested per table.
async fn whole_platform(app: &TestApp) -> std::collections::BTreeMap<String, String> {
    let none = crate::deletion::TOUCHED
        .iter()
        .map(|(table, _, _)| (*table, Vec::new()))
        .collect();
    others_digest(&mut app.platform_db().await, &none).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confirmed_report_freezes_copies_for_the_parent_then_purges_and_tells_only_the_outcome() {
    let app = spawn_app().await;
    let staff = app.staff_token("triage@lethe.test", Role::Reviewer).await;
    let kid = kid_id(&app).await;
    let touched = touched_keys(&mut app.platform_db().await, kid).await;
    assert!(!touched["sessions"].is_empty() && !touched["api_tokens"].is_empty());
    let others_before = others_digest(&mut app.platform_db().await, &touched).await;

    // An overdue deletion is filed first: the report still heads the staff queue.
    let deletion = app.file_deletion("someone.else@example.net").await;
    let mut service = app.service_db().await;
    diesel::sql_query("UPDATE requests SET due_at = now() - interval '3 days' WHERE id = $1::uuid")
        .bind::<Text, _>(&deletion.id)
        .execute(&mut service)
        .await
        .unwrap();

    let parent = "worried.parent@example.net";
    let (id, token) = report(
        &app,
        parent,
        json!({
            "account": format!("https://demo.lethe.test/user/{KID}"),
            "relationship": "parent_guardian",
            "details": "My son is 11.\nHe made this account without asking.",
            "parent_copy": true,
        }),
    )
    .await;
    let queue: Value = app
        .client
        .get(format!("{}/v1/staff/requests?status=verified", app.address))
        .bearer_auth(&staff)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        queue[0]["id"],
        id.as_str(),
        "child reports come first: {queue}"
    );
    assert_eq!(queue[0]["kind"], "child_report");

    let view = app.staff_view(&id, &staff).await;
    assert_eq!(view["report"]["relationship"], "parent_guardian");
    assert_eq!(view["report"]["parent_copy_requested"], true);
    // A report is confirmed, never approved; and only on a clean dry run.
    let approve = app
        .staff_post(
            &format!("/v1/staff/requests/{id}/approve"),
            &staff,
            json!({}),
        )
        .await;
    assert_eq!(approve.status(), 409);
    let confirm_body = json!({ "reason": "profile shows a birth year of 2015", "parent_copy_standing": "birth certificate seen on a video call" });
    let early = app
        .staff_post(
            &format!("/v1/staff/requests/{id}/confirm"),
            &staff,
            confirm_body.clone(),
        )
        .await;
    assert_eq!(early.status(), 409);

    let dry = app.dry_run(&id, &staff).await;
    assert_eq!(dry["status"], "done", "{dry}");
    assert_eq!(dry["approvable"], true, "{dry}");
    assert!(
        dry["report"]["steps"]["freeze"].as_u64().unwrap() >= 4,
        "{dry}"
    );
    assert_eq!(dry["report"]["subject_found"], true);
    // The dry run changed nothing.
    let restricted: TextRow =
        diesel::sql_query("SELECT restricted::text AS v FROM users WHERE id = $1")
            .bind::<BigInt, _>(kid)
            .get_result(&mut app.platform_db().await)
            .await
            .unwrap();
    assert_eq!(restricted.v, "false");

    let response = app
        .staff_post(
            &format!("/v1/staff/requests/{id}/confirm"),
            &staff,
            confirm_body,
        )
        .await;
    assert_eq!(response.status(), 200);
    let done = app.wait_for_staff_status(&id, &staff, "completed").await;
    assert!(done["grace_until"].is_null(), "no grace period: {done}");

    // Frozen first, then the parent's copy, then the purge.
    let actions: Vec<&str> = done["audit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    let at = |action: &str| {
        actions
            .iter()
            .position(|a| *a == action)
            .unwrap_or_else(|| panic!("{action} in {actions:?}"))
    };
    assert!(at("report.confirmed") < at("report.frozen"));
    assert!(at("report.frozen") < at("report.parent_copy"));
    let first_purge_step = actions.iter().position(|a| *a == "purge.step").unwrap();
    assert!(at("report.parent_copy") < first_purge_step, "{actions:?}");

    // The account is gone; every other user's rows are as they were.
    let after = touched_keys(&mut app.platform_db().await, kid).await;
    for table in [
        "profiles",
        "images",
        "sessions",
        "api_tokens",
        "marketing_preferences",
    ] {
        assert!(
            after[table].is_empty(),
            "{table} still holds the child's rows"
        );
    }
    let kid_rows: TextRow =
        diesel::sql_query("SELECT count(*)::text AS v FROM users WHERE username = $1")
            .bind::<Text, _>(KID)
            .get_result(&mut app.platform_db().await)
            .await
            .unwrap();
    assert_eq!(kid_rows.v, "0");
    let others_after = others_digest(&mut app.platform_db().await, &touched).await;
    assert_eq!(others_before, others_after);

    // The parent's copy went to the parent, made after the freeze and before the purge.
    let copy = app.mail_containing(parent, "copy of the data our").await;
    let link = copy
        .lines()
        .find(|l| l.starts_with("http"))
        .unwrap()
        .trim()
        .to_owned();
    let bytes = app
        .client
        .get(&link)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let users: Value =
        serde_json::from_reader(zip.by_name("data/account/users.json").unwrap()).unwrap();
    assert_eq!(users[0]["username"], KID);
    assert_eq!(
        users[0]["restricted"], true,
        "the copy was made after the freeze"
    );
    // Only the parent was written to; the outcome names nothing about the account.
    assert!(app.mails_to(KID_EMAIL).await.is_empty());
    let outcome = app.mail_containing(parent, "We confirmed the report").await;
    assert!(
        !outcome.contains(KID) && !outcome.contains(KID_EMAIL),
        "{outcome}"
    );
    // The reporter's view is the outcome; Lethe keeps no report text any more.
    let shown: Value = app.show(&id, &token).await.json().await.unwrap();
    assert_eq!(shown["status"], "completed");
    let view = app.staff_view(&id, &staff).await;
    assert!(
        view["report"]["account"].is_null() && view["report"]["details"].is_null(),
        "{view}"
    );
    assert!(view["report"]["frozen_rows"].as_i64().unwrap() >= 4);
    app.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dismissed_report_changes_nothing_and_reports_stay_private() {
    let app = spawn_app().await;
    let staff = app.staff_token("triage@lethe.test", Role::Reviewer).await;
    let before = whole_platform(&app).await;
    let reporter = "teacher@example.net";

    // A report about an account that does not exist is answered exactly like one that does.
    let shape = |v: &Value| {
        let mut keys: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        (keys, v["status"].clone(), v["verification"].clone())
    };
    let mut answers = Vec::new();
    for account in [KID, "nobody_by_this_name"] {
        let response = app
            .file(json!({ "kind": "child_report", "email": reporter,
                          "report": { "account": account, "relationship": "other" } }))
            .await;
        assert_eq!(response.status(), 202);
        answers.push(shape(&response.json().await.unwrap()));
    }
    assert_eq!(answers[0], answers[1]);

    let (id, _) = report(
        &app,
        reporter,
        json!({ "account": KID, "relationship": "other", "details": "Says she is 10." }),
    )
    .await;
    // The same reporter about the same account again: joins the open report.
    let (again, _) = report(
        &app,
        reporter,
        json!({ "account": format!("@{KID}"), "relationship": "other" }),
    )
    .await;
    assert_eq!(again, id, "a repeated report joins the open one");
    // About another account: a report of its own.
    let (other, _) = report(&app, reporter, json!({ "account": KID_EMAIL.to_uppercase(), "relationship": "other", "parent_copy": true })).await;
    assert_ne!(other, id);
    // A copy goes only to a parent or guardian who asked for one.
    for (report_id, why) in [(&id, "did not ask"), (&other, "only a parent or guardian")] {
        let response = app
            .staff_post(
                &format!("/v1/staff/requests/{report_id}/confirm"),
                &staff,
                json!({ "reason": "checked", "parent_copy_standing": "a phone call" }),
            )
            .await;
        assert_eq!(response.status(), 400);
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["field"], "parent_copy_standing");
        assert!(
            error["error"]["message"].as_str().unwrap().contains(why),
            "{error}"
        );
    }

    let response = app
        .staff_post(
            &format!("/v1/staff/requests/{id}/dismiss"),
            &staff,
            json!({ "reason": "no sign of age on the profile" }),
        )
        .await;
    assert_eq!(response.status(), 200);
    let view = app.staff_view(&id, &staff).await;
    assert_eq!(view["status"], "dismissed");
    assert!(view["report"]["account"].is_null() && view["report"]["details"].is_null());
    let mail = app.mail_containing(reporter, "did not take action").await;
    assert!(!mail.contains(KID));
    // Dismissing twice, or confirming a dismissed report, is a conflict.
    for path in ["dismiss", "confirm"] {
        let response = app
            .staff_post(
                &format!("/v1/staff/requests/{id}/{path}"),
                &staff,
                json!({ "reason": "again" }),
            )
            .await;
        assert_eq!(response.status(), 409, "{path}");
    }
    // Nothing on the platform changed.
    assert_eq!(whole_platform(&app).await, before);
    app.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_reports_are_refused_by_field_and_write_nothing() {
    let app = spawn_app().await;
    let count = async || -> String {
        let row: TextRow = diesel::sql_query("SELECT count(*)::text AS v FROM requests")
            .get_result(&mut app.service_db().await)
            .await
            .unwrap();
        row.v
    };
    let before = count().await;
    let long = "x".repeat(2001);
    let cases = [
        (
            json!({ "kind": "child_report", "email": "a@example.net" }),
            "report",
        ),
        (
            json!({ "kind": "access", "email": "a@example.net", "report": { "account": KID, "relationship": "other" } }),
            "report",
        ),
        (
            json!({ "kind": "child_report", "email": "a@example.net", "report": { "account": KID, "relationship": "aunt" } }),
            "report.relationship",
        ),
        (
            json!({ "kind": "child_report", "email": "a@example.net", "report": { "account": "two\twords", "relationship": "other" } }),
            "report.account",
        ),
        (
            json!({ "kind": "child_report", "email": "a@example.net", "report": { "account": "  ", "relationship": "other" } }),
            "report.account",
        ),
        (
            json!({ "kind": "child_report", "email": "a@example.net", "report": { "account": KID, "relationship": "other", "details": long } }),
            "report.details",
        ),
        (
            json!({ "kind": "child_report", "email": "a@example.net", "report": { "account": KID, "relationship": "other", "details": "bell\u{7}" } }),
            "report.details",
        ),
    ];
    for (body, field) in cases {
        let response = app.file(body.clone()).await;
        assert_eq!(response.status(), 400, "{body}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["field"], field, "{body}: {error}");
        assert!(!error.to_string().contains("words") && !error.to_string().contains("xxxx"));
    }
    assert_eq!(count().await, before, "nothing was written");
    app.teardown().await;
}
