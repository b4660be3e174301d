//! The maintenance sweep: expired exports deleted, stranded requests re-enqueued, requester
//! data dropped when no longer needed.

use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Nullable, Text};
use diesel_async::{RunQueryDsl, SimpleAsyncConnection};
use lethe_jobs::jobs::maintenance::sweep;
use lethe_jobs::storage::ObjectRef;
use serde_json::{Value, json};

use crate::helpers::{Options, spawn_app, spawn_app_with};

#[derive(QueryableByName)]
struct Key {
    #[diesel(sql_type = Nullable<Text>)]
    export_key: Option<String>,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_exports_are_deleted_from_the_bucket_and_the_link_disappears() {
    let app = spawn_app().await;
    let request = app.file_and_verify("expiring@example.com").await;
    app.wait_for_status(&request.id, &request.token, "completed")
        .await;
    let mut db = app.service_db().await;
    let key: Key = diesel::sql_query(format!(
        "SELECT export_key FROM requests WHERE id = '{}'",
        request.id
    ))
    .get_result(&mut db)
    .await
    .unwrap();
    let archive = ObjectRef {
        bucket: "lethe-exports".into(),
        key: key.export_key.unwrap(),
    };
    assert!(
        app.services
            .storage
            .get_bytes(&archive)
            .await
            .unwrap()
            .is_some()
    );

    sweep(&app.ctx).await.unwrap();
    assert!(
        app.services
            .storage
            .get_bytes(&archive)
            .await
            .unwrap()
            .is_some(),
        "not yet expired: kept"
    );

    db.batch_execute("UPDATE requests SET export_expires_at = now() - interval '1 minute'")
        .await
        .unwrap();
    sweep(&app.ctx).await.unwrap();
    assert!(
        app.services
            .storage
            .get_bytes(&archive)
            .await
            .unwrap()
            .is_none(),
        "expired: deleted"
    );
    let view: Value = app
        .show(&request.id, &request.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(view["export"]["expired"], true);
    assert!(view["export"].get("download_url").is_none());
    sweep(&app.ctx).await.unwrap(); // idempotent
    app.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approved_requests_lost_by_a_crash_are_re_enqueued_and_completed() {
    let app = spawn_app().await;
    // Two requests: one whose job was lost between commit and enqueue, one whose worker
    // died mid-run (status processing, lease lapsed).
    let lost = app.file_and_verify("lost@example.com").await;
    let crashed = app.file_and_verify("crashed@example.com").await;
    app.wait_for_status(&lost.id, &lost.token, "completed")
        .await;
    app.wait_for_status(&crashed.id, &crashed.token, "completed")
        .await;
    let mut db = app.service_db().await;
    db.batch_execute(&format!(
        "UPDATE requests SET status = 'approved', completed_at = NULL, export_key = NULL, enqueued_at = NULL WHERE id = '{}'; \
         UPDATE requests SET status = 'processing', completed_at = NULL, export_key = NULL, \
                lease_until = now() - interval '1 second', enqueued_at = now() - interval '1 hour' WHERE id = '{}';",
        lost.id, crashed.id
    ))
    .await
    .unwrap();
    sweep(&app.ctx).await.unwrap();
    app.wait_for_status(&lost.id, &lost.token, "completed")
        .await;
    app.wait_for_status(&crashed.id, &crashed.token, "completed")
        .await;
    // A live lease is respected: nothing is enqueued for a request another run holds.
    db.batch_execute(&format!(
        "UPDATE requests SET status = 'processing', lease_until = now() + interval '1 hour', enqueued_at = NULL WHERE id = '{}'",
        lost.id
    ))
    .await
    .unwrap();
    let before: Count = diesel::sql_query("SELECT count(*) AS n FROM apalis.jobs")
        .get_result(&mut db)
        .await
        .unwrap();
    sweep(&app.ctx).await.unwrap();
    let after: Count = diesel::sql_query("SELECT count(*) AS n FROM apalis.jobs")
        .get_result(&mut db)
        .await
        .unwrap();
    assert_eq!(before.n, after.n);
    app.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_delivery_of_an_export_job_is_a_no_op() {
    let app = spawn_app().await;
    let request = app.file_and_verify("dup@example.com").await;
    app.wait_for_status(&request.id, &request.token, "completed")
        .await;
    let audit = "SELECT count(*) AS n FROM audit_log";
    let before: Count = diesel::sql_query(audit)
        .get_result(&mut app.service_db().await)
        .await
        .unwrap();
    app.services
        .queue
        .enqueue_export(request.id.parse().unwrap())
        .await
        .unwrap();
    app.services
        .queue
        .enqueue_export(request.id.parse().unwrap())
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while app.services.queue.backlog().await.unwrap() != (0, 0) {
        assert!(
            std::time::Instant::now() < deadline,
            "the duplicates were never delivered"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let after: Count = diesel::sql_query(audit)
        .get_result(&mut app.service_db().await)
        .await
        .unwrap();
    assert_eq!(before.n, after.n, "a completed request is not run again");
    app.wait_for_status(&request.id, &request.token, "completed")
        .await;
    app.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unverified_requests_expire_and_closed_ones_lose_the_requester_email() {
    let app = spawn_app_with(Options {
        workers: false,
        ..Default::default()
    })
    .await;
    let filed: Value = app
        .file(json!({ "kind": "access", "email": "forgetful@example.com" }))
        .await
        .json()
        .await
        .unwrap();
    let id = filed["id"].as_str().unwrap();
    let mut db = app.service_db().await;
    db.batch_execute(&format!(
        "UPDATE requests SET created_at = now() - interval '49 hours' WHERE id = '{id}'"
    ))
    .await
    .unwrap();
    sweep(&app.ctx).await.unwrap();
    #[derive(QueryableByName)]
    struct State {
        #[diesel(sql_type = Text)]
        status: String,
        #[diesel(sql_type = Nullable<Text>)]
        email: Option<String>,
    }
    let state: State = diesel::sql_query(format!(
        "SELECT status, email FROM requests WHERE id = '{id}'"
    ))
    .get_result(&mut db)
    .await
    .unwrap();
    assert_eq!(state.status, "expired");
    assert_eq!(state.email, None);
    let codes: Count = diesel::sql_query("SELECT count(*) AS n FROM verification_codes")
        .get_result(&mut db)
        .await
        .unwrap();
    assert_eq!(codes.n, 0);
    app.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_row_whose_acknowledgement_was_lost_goes_back_to_the_queue_and_changes_nothing() {
    let app = spawn_app().await;
    let request = app.file_and_verify("lost.ack@example.com").await;
    app.wait_for_status(&request.id, &request.token, "completed")
        .await;
    app.mail_settled().await;
    let mails_before = app.mails_to("lost.ack@example.com").await.len();
    let mut db = app.service_db().await;
    // The worker ran the export and its "done" never reached the database: the row still
    // says `Running`, locked long ago.
    let stuck = |age: &str| {
        format!(
            "UPDATE apalis.jobs SET status = 'Running', done_at = NULL, lock_at = now() - interval '{age}' \
             WHERE job_type LIKE '%export%'"
        )
    };
    // Younger than the longest a delivery can take: it may still be running, left alone.
    db.batch_execute(&stuck("30 minutes")).await.unwrap();
    app.sweep().await;
    let running: Count = diesel::sql_query(
        "SELECT count(*) AS n FROM apalis.jobs WHERE job_type LIKE '%export%' AND status = 'Running'",
    )
    .get_result(&mut db)
    .await
    .unwrap();
    assert_eq!(
        running.n, 1,
        "a delivery that may be alive is not taken away"
    );

    db.batch_execute(&stuck("3 hours")).await.unwrap();
    app.sweep().await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let done: Count = diesel::sql_query(
            "SELECT count(*) AS n FROM apalis.jobs WHERE job_type LIKE '%export%' AND status = 'Done'",
        )
        .get_result(&mut db)
        .await
        .unwrap();
        if done.n == 1 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the released row was never delivered again"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // The second delivery found the request completed: nothing ran twice.
    let view: Value = app
        .show(&request.id, &request.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(view["status"], "completed");
    app.mail_settled().await;
    assert_eq!(
        app.mails_to("lost.ack@example.com").await.len(),
        mails_before,
        "no second export mail"
    );
    app.teardown().await;
}

/// Unfinished jobs in `queue` whose payload names `id`.
async fn jobs_for(db: &mut diesel_async::AsyncPgConnection, queue: &str, id: &str) -> i64 {
    let count: Count = diesel::sql_query(format!(
        "SELECT count(*) AS n FROM apalis.jobs WHERE job_type = '{queue}' \
           AND status IN ('Pending', 'Queued', 'Running') AND convert_from(job, 'UTF8') LIKE '%{id}%'"
    ))
    .get_result(db)
    .await
    .unwrap();
    count.n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_still_waiting_in_the_queue_is_not_enqueued_again_and_lost_work_is() {
    // No worker runs: every job waits in the queue, as behind a long backlog.
    let app = spawn_app_with(Options {
        workers: false,
        ..Default::default()
    })
    .await;
    let access = app.file_and_verify("waiting@example.com").await;
    let (deletion, _) = app
        .file_and_verify_kind("deletion", "dry@example.com")
        .await;
    let reviewer = app
        .staff_token("reviewer@example.com", lethe::domain::Role::Reviewer)
        .await;
    let asked = app
        .staff_post(
            &format!("/v1/staff/requests/{}/dry-run", deletion.id),
            &reviewer,
            json!({}),
        )
        .await;
    assert_eq!(asked.status(), 202);
    let rehearsal = asked.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut db = app.service_db().await;
    // Both were enqueued long ago by the clock the sweep reads.
    let age = format!(
        "UPDATE requests SET enqueued_at = now() - interval '1 hour' WHERE id = '{}'; \
         UPDATE rehearsals SET enqueued_at = now() - interval '1 hour' WHERE id = '{rehearsal}';",
        access.id
    );
    for _ in 0..3 {
        db.batch_execute(&age).await.unwrap();
        sweep(&app.ctx).await.unwrap();
        assert_eq!(
            jobs_for(&mut db, "lethe.export_request", &access.id).await,
            1
        );
        assert_eq!(
            jobs_for(&mut db, "lethe.rehearse_request", &rehearsal).await,
            1
        );
    }
    // Jobs lost from the queue: the sweep enqueues the work again, once.
    db.batch_execute("DELETE FROM apalis.jobs").await.unwrap();
    for _ in 0..2 {
        db.batch_execute(&age).await.unwrap();
        sweep(&app.ctx).await.unwrap();
        assert_eq!(
            jobs_for(&mut db, "lethe.export_request", &access.id).await,
            1
        );
        assert_eq!(
            jobs_for(&mut db, "lethe.rehearse_request", &rehearsal).await,
            1
        );
    }
    // No worker will take them: the teardown would count them as left behind.
    db.batch_execute("DELETE FROM apalis.jobs").await.unwrap();
    app.teardown().await;
}
