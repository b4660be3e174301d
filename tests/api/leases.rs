//! Fenced leases through the real job path: a purge run whose lease another claim took
//! over stops at its next boundary and writes nothing more (no platform statement, no
//! checkpoint, no audit entry, no completion), and a request whose run died is re-enqueued by the next sweep
//! at once and finished by a new run.

use std::time::{Duration, Instant};

use diesel::sql_types::{BigInt, Text};
use diesel_async::RunQueryDsl;
use lethe::domain::Role;
use serde_json::json;

use crate::helpers::{Options, TestApp, TextRow, spawn_app_with};

async fn service_text(app: &TestApp, sql: &str, id: &str) -> String {
    diesel::sql_query(sql)
        .bind::<Text, _>(id)
        .get_result::<TextRow>(&mut app.service_db().await)
        .await
        .unwrap()
        .v
}

/// Rows of the subject still on the platform (its comments, notifications and sessions).
async fn subject_rows(app: &TestApp, subject: i64) -> String {
    diesel::sql_query(
        "SELECT ((SELECT count(*) FROM comments WHERE user_id = $1) \
               + (SELECT count(*) FROM notifications WHERE user_id = $1) \
               + (SELECT count(*) FROM sessions WHERE user_id = $1))::text AS v",
    )
    .bind::<BigInt, _>(subject)
    .get_result::<TextRow>(&mut app.platform_db().await)
    .await
    .unwrap()
    .v
}

/// What Lethe wrote about the request: its checkpoint, status and audit entries.
async fn written(app: &TestApp, id: &str) -> String {
    service_text(
        app,
        "SELECT coalesce(purge_checkpoint::text, '') || '|' || status || '|' || \
         (SELECT count(*) FROM audit_log WHERE request_id = $1::uuid)::text AS v \
         FROM requests WHERE id = $1::uuid",
        id,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_lost_its_lease_stops_writing_and_a_dead_run_is_taken_over_at_once() {
    let app = spawn_app_with(Options {
        tweak: Box::new(|s| {
            s.worker.lease_seconds = 3;
            s.worker.purge_batch_size = 50;
            s.requests.deletion_grace_hours = 0;
        }),
        ..Options::default()
    })
    .await;
    let staff = app.staff_token("leases@lethe.test", Role::Reviewer).await;
    let email = {
        let mut platform = app.platform_db().await;
        lethe::demo::add_heavy_subject(&mut platform, &app.services.storage, 20_000, 5)
            .await
            .unwrap()
    };
    let subject: i64 = diesel::sql_query("SELECT id::text AS v FROM users WHERE email = $1")
        .bind::<Text, _>(&email)
        .get_result::<TextRow>(&mut app.platform_db().await)
        .await
        .unwrap()
        .v
        .parse()
        .unwrap();
    let request = app.file_deletion(&email).await;
    let id = request.id.clone();
    let dry = app.dry_run(&id, &staff).await;
    assert_eq!(dry["approvable"], true, "{dry}");
    let response = app
        .staff_post(
            &format!("/v1/staff/requests/{id}/approve"),
            &staff,
            json!({}),
        )
        .await;
    assert_eq!(response.status(), 200);

    // Once the run is deleting the subject's rows, another claim takes the lease over.
    let before = subject_rows(&app, subject).await;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let status = service_text(
            &app,
            "SELECT status AS v FROM requests WHERE id = $1::uuid",
            &id,
        )
        .await;
        assert_ne!(
            status, "completed",
            "the purge finished before the take-over"
        );
        if status == "processing" && subject_rows(&app, subject).await != before {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the purge never started: {status}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let thief = "0191d5a0-0000-7000-8000-00000000beef";
    diesel::sql_query(
        "UPDATE requests SET lease_owner = $2::uuid, lease_until = now() + interval '1 hour' WHERE id = $1::uuid",
    )
    .bind::<Text, _>(&id)
    .bind::<Text, _>(thief)
    .execute(&mut app.service_db().await)
    .await
    .unwrap();
    // Renewals run every second: within two the run knows, and stops at its next boundary.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (lethe_then, platform_then) = (written(&app, &id).await, subject_rows(&app, subject).await);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        written(&app, &id).await,
        lethe_then,
        "no checkpoint, audit entry or completion"
    );
    assert_eq!(
        subject_rows(&app, subject).await,
        platform_then,
        "no platform statement"
    );
    assert_ne!(platform_then, "0", "the run was stopped midway");
    assert!(lethe_then.contains("|processing|"), "{lethe_then}");
    let owner = service_text(
        &app,
        "SELECT lease_owner::text AS v FROM requests WHERE id = $1::uuid",
        &id,
    )
    .await;
    assert_eq!(owner, thief);

    // The taker-over dies: its lease lapses, and the next sweep re-enqueues the request
    // at once (not after worker.reenqueue_after_minutes); a new run finishes it.
    diesel::sql_query(
        "UPDATE requests SET lease_until = now() - interval '1 second' WHERE id = $1::uuid",
    )
    .bind::<Text, _>(&id)
    .execute(&mut app.service_db().await)
    .await
    .unwrap();
    app.sweep().await;
    let deadline = Instant::now() + Duration::from_secs(180);
    let done = loop {
        let view = app.staff_view(&id, &staff).await;
        if view["status"] == "completed" {
            break view;
        }
        assert!(
            Instant::now() < deadline,
            "never completed: {}",
            view["status"]
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let runs = done["audit"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "request.processing")
        .count();
    assert_eq!(runs, 2, "the first run and the one after the take-over");
    assert_eq!(subject_rows(&app, subject).await, "0");
    app.teardown().await;
}
