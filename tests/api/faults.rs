//! Faults outside Lethe: object storage unreachable in the middle of a purge, the
//! database terminating the workers' connections mid-job, the mail server down. Jobs
//! retry and finish after recovery, and never report `completed` while data remains.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::sql_types::Text;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use lethe::domain::Role;
use secrecy::SecretString;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::deletion::{others_digest, touched_keys};
use crate::helpers::{Options, TestApp, TextRow, spawn_app_with};

async fn heavy_subject(app: &TestApp) -> crate::deletion::Subject {
    crate::deletion::heavy_subject(&mut app.platform_db().await).await
}

async fn text(conn: &mut AsyncPgConnection, sql: &str, id: &str) -> String {
    diesel::sql_query(sql)
        .bind::<Text, _>(id)
        .get_result::<TextRow>(conn)
        .await
        .unwrap()
        .v
}

fn retrying() -> Options {
    Options {
        tweak: Box::new(|s| {
            s.requests.deletion_grace_hours = 0;
            s.worker.purge_batch_size = 3;
            s.worker.purge_max_attempts = 8;
            s.worker.max_runs = 20;
            s.worker.lease_seconds = 3;
            s.worker.maintenance_schedule = "*/2 * * * * *".into();
        }),
        ..Default::default()
    }
}

async fn approve_deletion(app: &TestApp, email: &str) -> crate::helpers::Verified {
    let reviewer = app
        .staff_token("faults.reviewer@lethe.test", Role::Reviewer)
        .await;
    app.approved_deletion(email, &reviewer).await
}

async fn assert_erased(app: &TestApp, subject: i64) {
    let mut platform = app.platform_db().await;
    let left = touched_keys(&mut platform, subject).await;
    for table in ["users", "images", "comments", "sessions", "reactions"] {
        assert!(left[table].is_empty(), "{table} left: {:?}", left[table]);
    }
    let avatars = app
        .services
        .storage
        .list_prefix("platform-avatars", &format!("avatars/{subject}/"))
        .await
        .unwrap();
    assert!(avatars.is_empty(), "objects left: {avatars:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_storage_down_mid_purge_holds_the_request_open_until_it_returns() {
    let mut app = spawn_app_with(retrying()).await;
    let subject = heavy_subject(&app).await;
    let images_before = app
        .services
        .storage
        .list_prefix("platform-avatars", &format!("avatars/{}/", subject.id))
        .await
        .unwrap();
    assert!(!images_before.is_empty(), "the subject has objects");
    let request = approve_deletion(&app, &subject.email).await;

    // The store goes away while the purge runs.
    let settings = app.services.settings.storage.clone();
    let address: std::net::SocketAddr = app
        .services
        .s3_endpoint
        .clone()
        .unwrap()
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    app.services.embedded_s3.take().unwrap().shutdown().await;
    let mut db = app.service_db().await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let failures = text(
            &mut db,
            "SELECT purge_failures::text AS v FROM requests WHERE id = $1::uuid",
            &request.id,
        )
        .await;
        if failures != "0" {
            break;
        }
        assert!(Instant::now() < deadline, "the purge never failed a run");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let status = text(
        &mut db,
        "SELECT status AS v FROM requests WHERE id = $1::uuid",
        &request.id,
    )
    .await;
    assert_ne!(status, "completed", "never completed while objects remain");
    assert_ne!(status, "failed", "still retrying");

    // It comes back on the same address: the retried run finishes the job.
    let secret = lethe_jobs::s3server::secret_for(
        &settings.embedded_dir,
        secrecy::ExposeSecret::expose_secret(&settings.secret_access_key),
    )
    .unwrap();
    app.services.embedded_s3 = Some(
        lethe_jobs::s3server::EmbeddedS3::start(
            &settings.embedded_dir,
            address,
            &settings.access_key_id,
            &secret,
        )
        .await
        .unwrap(),
    );
    app.wait_for_status(&request.id, &request.token, "completed")
        .await;
    assert_erased(&app, subject.id).await;
    app.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_terminated_by_the_database_mid_purge_are_survived() {
    let mut app = spawn_app_with(retrying()).await;
    let subject = heavy_subject(&app).await;
    let mut platform = app.platform_db().await;
    let touched = touched_keys(&mut platform, subject.id).await;
    let before = others_digest(&mut platform, &touched).await;
    drop(platform);
    let request = approve_deletion(&app, &subject.email).await;
    let mut db = AsyncPgConnection::establish(&app.service_url)
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while text(
        &mut db,
        "SELECT status AS v FROM requests WHERE id = $1::uuid",
        &request.id,
    )
    .await
        != "processing"
    {
        assert!(Instant::now() < deadline, "the purge never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(db);

    // Terminate every backend of both databases (but our own) every 150 ms while the
    // purge runs, over five rounds of it; then let it finish.
    let mut admin = AsyncPgConnection::establish(&crate::helpers::admin_url())
        .await
        .unwrap();
    let databases = vec![
        app.service_url.rsplit('/').next().unwrap().to_owned(),
        app.platform_url.rsplit('/').next().unwrap().to_owned(),
    ];
    let mut terminated = 0usize;
    let mut rounds_during_purge = 0;
    for _ in 0..200 {
        let killed: TextRow = diesel::sql_query(
            "SELECT count(pg_terminate_backend(pid))::text AS v FROM pg_stat_activity \
             WHERE datname = ANY($1) AND pid <> pg_backend_pid()",
        )
        .bind::<diesel::sql_types::Array<Text>, _>(&databases)
        .get_result(&mut admin)
        .await
        .unwrap();
        terminated += killed.v.parse::<usize>().unwrap();
        let mut db = AsyncPgConnection::establish(&app.service_url)
            .await
            .unwrap();
        let status = text(
            &mut db,
            "SELECT status AS v FROM requests WHERE id = $1::uuid",
            &request.id,
        )
        .await;
        assert_ne!(status, "failed");
        if status == "processing" {
            rounds_during_purge += 1;
        }
        if status == "completed" || rounds_during_purge == 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    println!("{terminated} connections terminated, {rounds_during_purge} rounds during the purge");
    assert!(
        rounds_during_purge >= 1,
        "the terminations reached the running purge"
    );
    // A failed run's retry normally comes from the queue within a minute; one lost with a
    // terminated connection is owed by the sweep after two.
    let deadline = Instant::now() + Duration::from_secs(200);
    let mut db = AsyncPgConnection::establish(&app.service_url)
        .await
        .unwrap();
    loop {
        let state = text(
            &mut db,
            "SELECT status || ' failure=' || coalesce(failure, '-') || ' runs=' || run_attempts \
               || ' purge_failures=' || purge_failures || ' lease=' || coalesce((lease_until - now())::text, '-') \
               || ' jobs=' || (SELECT coalesce(string_agg(status || '/' || attempts, ','), '') FROM apalis.jobs) AS v \
             FROM requests WHERE id = $1::uuid",
            &request.id,
        )
        .await;
        if state.starts_with("completed") {
            break;
        }
        assert!(Instant::now() < deadline, "never completed: {state}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_erased(&app, subject.id).await;
    let mut platform = app.platform_db().await;
    assert_eq!(before, others_digest(&mut platform, &touched).await);
    drop(platform);
    assert!(matches!(
        app.audit_check().await,
        lethe::audit::ChainCheck::Intact { .. }
    ));
    // A job row whose acknowledgement was lost with a terminated connection stays
    // `Running` while its worker lives; restarted (a new process), the workers put it back
    // on the queue after three missed heartbeats and find its request done.
    let map = app.services.settings.platform.data_map.clone();
    app.restart_workers_with_map(&map).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while app.services.queue.backlog().await.unwrap() != (0, 0) {
        assert!(Instant::now() < deadline, "jobs left behind");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    app.teardown().await;
}

/// An SMTP server that accepts everything and keeps each message's text.
async fn accepting_smtp_server(
    listener: tokio::net::TcpListener,
    messages: Arc<Mutex<Vec<String>>>,
) {
    while let Ok((socket, _)) = listener.accept().await {
        let messages = messages.clone();
        tokio::spawn(async move {
            let (read, mut write) = socket.into_split();
            let mut lines = BufReader::new(read).lines();
            write.write_all(b"220 mx.test ESMTP\r\n").await.ok();
            let mut data: Option<String> = None;
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(text) = data.as_mut() {
                    if line == "." {
                        messages.lock().unwrap().push(data.take().unwrap());
                        write.write_all(b"250 queued\r\n").await.ok();
                    } else {
                        text.push_str(&line);
                        text.push('\n');
                    }
                    continue;
                }
                let upper = line.to_ascii_uppercase();
                let reply = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                    "250-mx.test\r\n250 8BITMIME\r\n"
                } else if upper.starts_with("DATA") {
                    data = Some(String::new());
                    "354 go on\r\n"
                } else if upper.starts_with("QUIT") {
                    write.write_all(b"221 bye\r\n").await.ok();
                    return;
                } else {
                    "250 OK\r\n"
                };
                if write.write_all(reply.as_bytes()).await.is_err() {
                    return;
                }
            }
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mail_server_that_is_down_delays_the_code_and_the_filing_still_stands() {
    // A port nothing listens on, yet.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = spawn_app_with(Options {
        tweak: Box::new(move |s| {
            s.mail.transport = lethe::config::MailTransportKind::Smtp;
            s.mail.smtp_url = SecretString::from(format!("smtp://127.0.0.1:{port}"));
        }),
        ..Default::default()
    })
    .await;
    let email = "patient.person@example.com";
    let response = app.file(json!({ "kind": "access", "email": email })).await;
    assert_eq!(response.status(), 202, "filed although mail is down");
    let filed: serde_json::Value = response.json().await.unwrap();
    let id = filed["id"].as_str().unwrap().to_owned();
    let mut db = app.service_db().await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while text(
        &mut db,
        "SELECT coalesce(max(attempts), 0)::text AS v FROM outbox WHERE request_id = $1::uuid",
        &id,
    )
    .await
        == "0"
    {
        assert!(Instant::now() < deadline, "the sender never tried");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The server comes up; the next retry delivers the code, which works.
    let messages = Arc::new(Mutex::new(Vec::new()));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    tokio::spawn(accepting_smtp_server(listener, messages.clone()));
    let deadline = Instant::now() + Duration::from_secs(30);
    let message = loop {
        let first = messages.lock().unwrap().iter().next().cloned();
        if let Some(m) = first {
            break m;
        }
        assert!(Instant::now() < deadline, "the code was never delivered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(message.contains(email), "addressed to the requester");
    let code: String = message
        .lines()
        .find(|l| l.contains("verification code is"))
        .expect("the code")
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    app.saw(&code);
    let verified = app.verify(&id, &code).await;
    assert_eq!(verified.status(), 200);
    let verified: serde_json::Value = verified.json().await.unwrap();
    app.saw(verified["token"].as_str().unwrap());
    app.wait_for_status(&id, verified["token"].as_str().unwrap(), "completed")
        .await;
    let left = text(
        &mut db,
        "SELECT count(*)::text AS v FROM outbox WHERE request_id = $1::uuid",
        &id,
    )
    .await;
    // The export-ready mail went out too.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut left = left;
    while left != "0" {
        assert!(Instant::now() < deadline, "{left} messages left");
        tokio::time::sleep(Duration::from_millis(100)).await;
        left = text(
            &mut db,
            "SELECT count(*)::text AS v FROM outbox WHERE request_id = $1::uuid",
            &id,
        )
        .await;
    }
    app.teardown().await;
}

/// Moves a bucket of the embedded server out of the way (it then answers `NoSuchBucket`)
/// or back.
fn hide_bucket(app: &TestApp, bucket: &str, hidden: bool) {
    let root = &app.services.settings.storage.embedded_dir;
    let (from, to) = (root.join(bucket), root.join(format!("{bucket}.hidden")));
    let (from, to) = if hidden { (from, to) } else { (to, from) };
    std::fs::rename(&from, &to).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_bucket_is_named_to_staff_in_the_dry_run_and_the_purge() {
    let app = spawn_app_with(retrying()).await;
    let subject = heavy_subject(&app).await;
    let reviewer = app
        .staff_token("faults.buckets@lethe.test", Role::Reviewer)
        .await;
    let request = app.file_deletion(&subject.email).await;

    // A dry run against a bucket that is not there says which one, and touches nothing.
    let before = touched_keys(&mut app.platform_db().await, subject.id).await;
    hide_bucket(&app, "platform-avatars", true);
    let dry = app.dry_run(&request.id, &reviewer).await;
    let failure = &dry["report"]["failure"];
    assert_eq!(failure["kind"], "bucket_missing", "{dry}");
    assert_eq!(failure["bucket"], "platform-avatars", "{dry}");
    assert_eq!(dry["approvable"], false, "{dry}");
    hide_bucket(&app, "platform-avatars", false);
    assert_eq!(
        touched_keys(&mut app.platform_db().await, subject.id).await,
        before,
        "the dry run changed nothing"
    );

    // Put back, the dry run passes and approval goes ahead; the bucket goes away again
    // before the purge reaches it: the run's failure names it and the request waits.
    let dry = app.dry_run(&request.id, &reviewer).await;
    assert_eq!(dry["status"], "done", "{dry}");
    assert_eq!(dry["approvable"], true, "{dry}");
    hide_bucket(&app, "platform-avatars", true);
    let approved = app
        .staff_post(
            &format!("/v1/staff/requests/{}/approve", request.id),
            &reviewer,
            json!({}),
        )
        .await;
    assert_eq!(approved.status(), 200);
    let deadline = Instant::now() + Duration::from_secs(60);
    let view = loop {
        let view = app.staff_view(&request.id, &reviewer).await;
        if view["failure"] == "purge_error" {
            break view;
        }
        assert!(Instant::now() < deadline, "no failed run: {view}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(view["failure_detail"]["kind"], "bucket_missing", "{view}");
    assert_eq!(
        view["failure_detail"]["bucket"], "platform-avatars",
        "{view}"
    );
    assert_ne!(view["status"], "completed");

    // Back again, the retried run finishes the erasure.
    hide_bucket(&app, "platform-avatars", false);
    app.wait_for_status(&request.id, &request.token, "completed")
        .await;
    assert_erased(&app, subject.id).await;
    app.teardown().await;
}
