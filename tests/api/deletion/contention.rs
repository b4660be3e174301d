//! Purges and dry runs that share the platform database with others: a purge holds one
//! pooled connection at a time, and a dry run that PostgreSQL aborts to break a deadlock
//! runs again.

use std::time::{Duration, Instant};

use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Integer};
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use lethe::domain::Role;
use serde_json::json;

use super::heavy_subject;
use crate::helpers::{Options, spawn_app_with};

#[derive(QueryableByName)]
struct N {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Pid {
    #[diesel(sql_type = Integer)]
    pid: i32,
}

/// Deadlocks PostgreSQL has broken in the current database.
async fn deadlocks(conn: &mut AsyncPgConnection) -> i64 {
    diesel::sql_query(
        "SELECT deadlocks AS n FROM pg_stat_database WHERE datname = current_database()",
    )
    .get_result::<N>(conn)
    .await
    .unwrap()
    .n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purge_finishes_with_a_single_platform_connection_in_the_pool() {
    // Every step, the verification and the completion must each make do with the one
    // connection: holding it while waiting for another would wait forever (as concurrent
    // purges did once they held the whole pool).
    let app = spawn_app_with(Options {
        tweak: Box::new(|s| {
            s.requests.deletion_grace_hours = 0;
            s.worker.purge_batch_size = 7;
            s.platform.pool_size = 1;
        }),
        ..Default::default()
    })
    .await;
    let subject = heavy_subject(&mut app.platform_db().await).await;
    let reviewer = app.staff_token("reviewer@lethe.test", Role::Reviewer).await;
    let request = app.approved_deletion(&subject.email, &reviewer).await;
    let done = app
        .wait_for_staff_status(&request.id, &reviewer, "completed")
        .await;
    assert!(done["result"]["rows"].as_u64().unwrap() > 0, "{done}");
    app.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_aborted_to_break_a_deadlock_runs_again_and_finishes_cleanly() {
    let app = spawn_app_with(Options {
        tweak: Box::new(|s| s.requests.deletion_grace_hours = 0),
        ..Default::default()
    })
    .await;
    let mut other = app.platform_db().await;
    let subject = heavy_subject(&mut other).await;
    let comment: N =
        diesel::sql_query("SELECT id AS n FROM comments WHERE user_id = $1 ORDER BY id LIMIT 1")
            .bind::<BigInt, _>(subject.id)
            .get_result(&mut other)
            .await
            .unwrap();
    let before = deadlocks(&mut other).await;
    let request = app.file_deletion(&subject.email).await;
    let reviewer = app.staff_token("reviewer@lethe.test", Role::Reviewer).await;

    // Another transaction holds the subject's account row; the dry run deletes the
    // subject's comments, then waits for that row at its last step.
    other.batch_execute("BEGIN").await.unwrap();
    diesel::sql_query("SELECT id AS n FROM users WHERE id = $1 FOR UPDATE")
        .bind::<BigInt, _>(subject.id)
        .load::<N>(&mut other)
        .await
        .unwrap();
    let me: Pid = diesel::sql_query("SELECT pg_backend_pid() AS pid")
        .get_result(&mut other)
        .await
        .unwrap();
    let response = app
        .staff_post(
            &format!("/v1/staff/requests/{}/dry-run", request.id),
            &reviewer,
            json!({}),
        )
        .await;
    assert_eq!(response.status(), 202);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut probe = app.platform_db().await;
    loop {
        let waiting: N = diesel::sql_query(
            "SELECT count(*) AS n FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))",
        )
        .bind::<Integer, _>(me.pid)
        .get_result(&mut probe)
        .await
        .unwrap();
        if waiting.n > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the dry run never waited for the account row"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Now this transaction wants a comment the dry run has deleted: a deadlock, which
    // PostgreSQL breaks by aborting the dry run (it has waited longer). This statement
    // then goes through.
    diesel::sql_query("UPDATE comments SET body = body WHERE id = $1")
        .bind::<BigInt, _>(comment.n)
        .execute(&mut other)
        .await
        .expect("the dry run, not this transaction, was aborted");
    other.batch_execute("ROLLBACK").await.unwrap();

    let deadline = Instant::now() + Duration::from_secs(120);
    let rehearsal = loop {
        let view = app.staff_view(&request.id, &reviewer).await;
        let rehearsal = view["rehearsal"].clone();
        if rehearsal["status"] == "done" || rehearsal["status"] == "error" {
            break rehearsal;
        }
        assert!(
            Instant::now() < deadline,
            "the dry run never finished: {view}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(rehearsal["status"], "done", "{rehearsal}");
    assert_eq!(rehearsal["report"]["complete"], true, "{rehearsal}");
    assert!(rehearsal["report"]["failure"].is_null(), "{rehearsal}");
    // PostgreSQL did break a deadlock (its statistics arrive within a second or so).
    let deadline = Instant::now() + Duration::from_secs(15);
    while deadlocks(&mut probe).await <= before {
        assert!(Instant::now() < deadline, "no deadlock was counted");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let approved = app
        .staff_post(
            &format!("/v1/staff/requests/{}/approve", request.id),
            &reviewer,
            json!({}),
        )
        .await;
    assert_eq!(approved.status(), 200, "the clean dry run can be approved");
    app.teardown().await;
}
