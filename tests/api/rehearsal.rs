//! Deletions that must not go wrong: retained rows under a CASCADE key survive, a
//! constraint failure shows in the dry run, a purge that fails at a constraint ends
//! `failed` (never looping) and can be aborted or retried after a map fix, and a purge
//! whose map changed since its dry run touches nothing and goes back to review.

use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Nullable, Text};
use diesel_async::{RunQueryDsl, SimpleAsyncConnection};
use lethe::domain::Role;
use serde_json::{Value, json};

use crate::helpers::{Options, TestApp, spawn_app_with};

#[derive(QueryableByName)]
struct Person {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    email: String,
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    user: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    note: Option<String>,
}

/// Users with at least one image, busiest first.
async fn people(app: &TestApp, n: i64) -> Vec<Person> {
    let mut platform = app.platform_db().await;
    diesel::sql_query(
        "SELECT u.id, u.email FROM users u WHERE u.id > 0 AND EXISTS (SELECT 1 FROM images i WHERE i.user_id = u.id) \
         ORDER BY u.id LIMIT $1",
    )
    .bind::<BigInt, _>(n)
    .load(&mut platform)
    .await
    .unwrap()
}

fn map_with(extra_links: &str) -> String {
    let shipped = std::fs::read_to_string("config/datamap.toml").unwrap();
    shipped.replace("[links]\n", &format!("[links]\n{extra_links}\n"))
}

fn write_map(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

async fn approve(app: &TestApp, id: &str, staff: &str) -> reqwest::Response {
    app.staff_post(
        &format!("/v1/staff/requests/{id}/approve"),
        staff,
        json!({}),
    )
    .await
}

const INVOICES: &str = "CREATE TABLE invoices (
    id bigserial PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    amount_cents integer NOT NULL,
    note text);
INSERT INTO invoices (user_id, amount_cents, note)
    SELECT id, 100 + id::int, 'invoice for ' || username FROM users WHERE id > 0;";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retained_rows_under_a_cascading_key_survive_the_purge_and_a_map_that_would_lose_them_is_refused()
 {
    let dir = tempfile::tempdir().unwrap();
    let unsafe_map = write_map(
        &dir,
        "unsafe.toml",
        &map_with(
            r#""invoices.user_id" = { action = "retain", basis = "tax law", period = "10 years" }"#,
        ),
    );
    let safe_map = write_map(
        &dir,
        "safe.toml",
        &map_with(
            r#""invoices.user_id" = { action = "retain", basis = "tax law", period = "10 years", unlink = "placeholder", anonymize = { note = "redact" } }"#,
        ),
    );
    let map = safe_map.clone();
    let app = spawn_app_with(Options {
        platform_sql: Some(INVOICES.into()),
        tweak: Box::new(move |s| {
            s.requests.deletion_grace_hours = 0;
            s.platform.data_map = map;
        }),
        ..Default::default()
    })
    .await;

    // Start-up refuses the map that would let the cascade take retained invoices.
    let text = std::fs::read_to_string(&unsafe_map).unwrap();
    let refused = lethe::startup::bind_data_map(&text, &app.ctx.platform)
        .await
        .unwrap_err();
    let message = format!("{refused:#}");
    assert!(
        message.contains("invoices.user_id") && message.contains("unlink"),
        "{message}"
    );

    let subject = &people(&app, 1).await[0];
    let mut platform = app.platform_db().await;
    let before: Vec<Row> = diesel::sql_query(
        "SELECT id, user_id AS user, note FROM invoices WHERE user_id = $1 ORDER BY id",
    )
    .bind::<BigInt, _>(subject.id)
    .load(&mut platform)
    .await
    .unwrap();
    assert!(!before.is_empty());

    let request = app.file_deletion(&subject.email).await;
    let staff = app.staff_token("reviewer@lethe.test", Role::Reviewer).await;
    let dry = app.dry_run(&request.id, &staff).await;
    assert_eq!(
        dry["report"]["tables"]["invoices"]["retained"],
        before.len(),
        "{dry}"
    );
    assert_eq!(dry["report"]["tables"]["invoices"]["deleted"], 0, "{dry}");
    assert_eq!(approve(&app, &request.id, &staff).await.status(), 200);
    app.wait_for_status(&request.id, &request.token, "completed")
        .await;

    let ids: Vec<i64> = before.iter().map(|r| r.id).collect();
    let after: Vec<Row> = diesel::sql_query(
        "SELECT id, user_id AS user, note FROM invoices WHERE id = ANY($1) ORDER BY id",
    )
    .bind::<diesel::sql_types::Array<BigInt>, _>(&ids)
    .load(&mut platform)
    .await
    .unwrap();
    assert_eq!(
        after.len(),
        before.len(),
        "every retained invoice is still there"
    );
    for row in &after {
        assert_eq!(row.user, Some(0), "reassigned to the placeholder");
        assert_eq!(row.note.as_deref(), Some("invoice for [redacted]"));
    }
    app.teardown().await;
}

const REVIEWS: &str = "CREATE TABLE image_reviews (
    id bigserial PRIMARY KEY,
    image_id bigint NOT NULL REFERENCES images (id) ON DELETE CASCADE,
    reviewer_id bigint REFERENCES users (id) ON DELETE SET NULL,
    status text NOT NULL DEFAULT 'pending',
    CONSTRAINT image_reviews_reviewed_by_someone CHECK (status <> 'reviewed' OR reviewer_id IS NOT NULL));";

/// Makes `reviewer` the reviewer of three images of other people.
async fn reviews_by(app: &TestApp, reviewer: i64, others: &[i64]) {
    app.platform_db()
        .await
        .batch_execute(&format!(
            "INSERT INTO image_reviews (image_id, reviewer_id)
             SELECT i.id, {reviewer} FROM images i WHERE i.user_id <> ALL (ARRAY[{}]::bigint[]) ORDER BY i.id LIMIT 3",
            others.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
        ))
        .await
        .unwrap();
}

async fn mark_reviewed(app: &TestApp, reviewer: i64) {
    app.platform_db()
        .await
        .batch_execute(&format!(
            "UPDATE image_reviews SET status = 'reviewed' WHERE reviewer_id = {reviewer}"
        ))
        .await
        .unwrap();
}

async fn user_exists(app: &TestApp, id: i64) -> bool {
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let n: N = diesel::sql_query("SELECT count(*) AS n FROM users WHERE id = $1")
        .bind::<BigInt, _>(id)
        .get_result(&mut app.platform_db().await)
        .await
        .unwrap();
    n.n == 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purge_failing_at_a_constraint_ends_failed_and_is_aborted_or_retried_after_a_map_fix() {
    let dir = tempfile::tempdir().unwrap();
    let detach = write_map(
        &dir,
        "detach.toml",
        &map_with(r#""image_reviews.reviewer_id" = "detach""#),
    );
    let reassign = write_map(
        &dir,
        "reassign.toml",
        &map_with(r#""image_reviews.reviewer_id" = "reassign""#),
    );
    let map = detach.clone();
    let mut app = spawn_app_with(Options {
        platform_sql: Some(REVIEWS.into()),
        tweak: Box::new(move |s| {
            s.requests.deletion_grace_hours = 0;
            s.worker.purge_max_attempts = 2;
            s.platform.data_map = map;
        }),
        ..Default::default()
    })
    .await;
    let people = people(&app, 3).await;
    let ids: Vec<i64> = people.iter().map(|p| p.id).collect();
    let (a, b, c) = (&people[0], &people[1], &people[2]);
    for p in &people {
        reviews_by(&app, p.id, &ids).await;
    }
    let staff = app.staff_token("reviewer@lethe.test", Role::Reviewer).await;

    // A: a clean dry run, then the data changes; the purge fails at the CHECK constraint,
    // is retried once, and ends `failed` with the step, table and constraint named.
    let request_a = app.file_deletion(&a.email).await;
    assert_eq!(app.dry_run(&request_a.id, &staff).await["approvable"], true);
    mark_reviewed(&app, a.id).await;
    assert_eq!(approve(&app, &request_a.id, &staff).await.status(), 200);
    let failed = app
        .wait_for_staff_status(&request_a.id, &staff, "failed")
        .await;
    assert_eq!(failed["failure"], "purge_failed", "{failed}");
    let detail = &failed["failure_detail"];
    assert_eq!(
        detail["step"], "rewrite:image_reviews.reviewer_id",
        "{failed}"
    );
    assert_eq!(detail["kind"], "check_violation");
    assert_eq!(detail["table"], "image_reviews");
    assert_eq!(detail["constraint"], "image_reviews_reviewed_by_someone");
    let attempts = failed["audit"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "request.run_failed")
        .count();
    assert_eq!(attempts, 1, "one retry before giving up: {failed}");
    assert_eq!(failed["verified_email"], a.email.as_str(), "{failed}");
    assert!(
        !failed["failure_detail"].to_string().contains(&a.email)
            && !failed["audit"].to_string().contains(&a.email),
        "no requester data in the failure or the audit trail"
    );
    assert!(
        user_exists(&app, a.id).await,
        "nothing was deleted: rewrites come first and this one failed"
    );
    assert!(
        app.mails_to(&a.email)
            .await
            .iter()
            .any(|m| m.contains("is delayed")),
        "the requester is told"
    );
    // Nothing else moves a failed request; it does not loop.
    assert_eq!(approve(&app, &request_a.id, &staff).await.status(), 409);
    let deny = app
        .staff_post(
            &format!("/v1/staff/requests/{}/deny", request_a.id),
            &staff,
            json!({ "reason": "x" }),
        )
        .await;
    assert_eq!(deny.status(), 409);
    app.sweep().await;
    assert_eq!(
        app.staff_view(&request_a.id, &staff).await["status"],
        "failed",
        "the reconciler leaves it alone"
    );
    // Aborted with a reason: terminal, with what had been applied in the audit trail.
    let aborted = app
        .staff_post(
            &format!("/v1/staff/requests/{}/abort", request_a.id),
            &staff,
            json!({ "reason": "legal_hold" }),
        )
        .await;
    assert_eq!(aborted.status(), 200);
    let view = app.staff_view(&request_a.id, &staff).await;
    assert_eq!(view["status"], "aborted");
    let entry = view["audit"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "request.aborted")
        .cloned()
        .unwrap();
    assert!(entry["details"]["applied"]["rows"].is_u64(), "{entry}");
    assert!(
        app.mails_to(&a.email)
            .await
            .iter()
            .any(|m| m.contains("could not be completed"))
    );
    let bad = app
        .staff_post(
            &format!("/v1/staff/requests/{}/abort", request_a.id),
            &staff,
            json!({ "reason": " " }),
        )
        .await;
    assert_eq!(bad.status(), 400);

    // B: the dry run itself shows the failure, names it, and cannot be approved.
    let request_b = app.file_deletion(&b.email).await;
    mark_reviewed(&app, b.id).await;
    let dry = app.dry_run(&request_b.id, &staff).await;
    assert_eq!(dry["approvable"], false, "{dry}");
    assert_eq!(
        dry["report"]["failure"]["constraint"], "image_reviews_reviewed_by_someone",
        "{dry}"
    );
    assert_eq!(
        dry["report"]["failure"]["step"],
        "rewrite:image_reviews.reviewer_id"
    );
    assert_eq!(approve(&app, &request_b.id, &staff).await.status(), 409);
    assert!(user_exists(&app, b.id).await, "a dry run touches nothing");

    // C: fails like A; the map is fixed (reassign to the placeholder), staff retry, a new
    // dry run is required, and the purge completes.
    let request_c = app.file_deletion(&c.email).await;
    assert_eq!(app.dry_run(&request_c.id, &staff).await["approvable"], true);
    mark_reviewed(&app, c.id).await;
    assert_eq!(approve(&app, &request_c.id, &staff).await.status(), 200);
    app.wait_for_staff_status(&request_c.id, &staff, "failed")
        .await;
    app.restart_workers_with_map(&reassign).await;
    let retried = app
        .staff_post(
            &format!("/v1/staff/requests/{}/retry", request_c.id),
            &staff,
            json!({}),
        )
        .await;
    assert_eq!(retried.status(), 200);
    let retried: Value = retried.json().await.unwrap();
    assert_eq!(retried["status"], "verified");
    assert_eq!(
        approve(&app, &request_c.id, &staff).await.status(),
        409,
        "a new dry run first"
    );
    assert_eq!(app.dry_run(&request_c.id, &staff).await["approvable"], true);
    assert_eq!(approve(&app, &request_c.id, &staff).await.status(), 200);
    app.wait_for_status(&request_c.id, &request_c.token, "completed")
        .await;
    assert!(!user_exists(&app, c.id).await);

    // B after the fix: a new dry run is clean and the purge completes.
    assert_eq!(app.dry_run(&request_b.id, &staff).await["approvable"], true);
    assert_eq!(approve(&app, &request_b.id, &staff).await.status(), 200);
    app.wait_for_status(&request_b.id, &request_b.token, "completed")
        .await;
    #[derive(QueryableByName)]
    struct Reviewer {
        #[diesel(sql_type = Nullable<BigInt>)]
        reviewer_id: Option<i64>,
    }
    let reviewers: Vec<Reviewer> = diesel::sql_query(
        "SELECT reviewer_id FROM image_reviews WHERE status = 'reviewed' ORDER BY id",
    )
    .load(&mut app.platform_db().await)
    .await
    .unwrap();
    let reviewers: Vec<Option<i64>> = reviewers.into_iter().map(|r| r.reviewer_id).collect();
    assert_eq!(
        reviewers,
        vec![Some(a.id); 3]
            .into_iter()
            .chain(vec![Some(0); 6])
            .collect::<Vec<_>>(),
        "A's stay (aborted), B's and C's point at the placeholder"
    );
    assert!(matches!(
        app.audit_check().await,
        lethe::audit::ChainCheck::Intact { .. }
    ));
    app.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purge_whose_map_changed_since_its_dry_run_touches_nothing_and_goes_back_to_review() {
    let mut app = spawn_app_with(Options {
        tweak: Box::new(|s| s.requests.deletion_grace_hours = 1),
        ..Default::default()
    })
    .await;
    let subject = &people(&app, 1).await[0];
    let staff = app.staff_token("reviewer@lethe.test", Role::Reviewer).await;
    let request = app.file_deletion(&subject.email).await;
    let dry = app.dry_run(&request.id, &staff).await;
    assert_eq!(approve(&app, &request.id, &staff).await.status(), 200);

    // The operator changes the map during the grace period.
    let dir = tempfile::tempdir().unwrap();
    let changed = std::fs::read_to_string("config/datamap.toml")
        .unwrap()
        .replace(
            "activity = [\"reactions\", \"follows\", \"notifications\"]",
            "activity = [\"reactions\", \"follows\"]",
        );
    let changed = write_map(&dir, "changed.toml", &changed);
    app.restart_workers_with_map(&changed).await;
    assert_ne!(app.ctx.map.map_hash, dry["map_hash"].as_str().unwrap());
    app.service_db()
        .await
        .batch_execute(&format!(
            "UPDATE requests SET grace_until = now() - interval '1 second', enqueued_at = NULL WHERE id = '{}'",
            request.id
        ))
        .await
        .unwrap();
    app.sweep().await;
    let view = app
        .wait_for_staff_status(&request.id, &staff, "verified")
        .await;
    assert_eq!(view["failure"], "rehearsal_stale", "{view}");
    assert_eq!(view["failure_detail"]["changed"], "data map");
    assert!(
        view["audit"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "purge.stale")
    );
    assert!(user_exists(&app, subject.id).await, "nothing was touched");
    assert_eq!(
        approve(&app, &request.id, &staff).await.status(),
        409,
        "a new dry run first"
    );
    // Cancelling is possible again: the purge never started on this round.
    let cancel = app.cancel(&request).await;
    assert_eq!(cancel.status(), 200);
    app.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retained_row_written_after_its_rewrite_step_is_still_unlinked_before_the_subject_goes() {
    let dir = tempfile::tempdir().unwrap();
    let safe_map = write_map(
        &dir,
        "safe.toml",
        &map_with(
            r#""invoices.user_id" = { action = "retain", basis = "tax law", period = "10 years", unlink = "placeholder" }"#,
        ),
    );
    let map = safe_map.clone();
    let app = spawn_app_with(Options {
        platform_sql: Some(INVOICES.into()),
        workers: false,
        tweak: Box::new(move |s| s.platform.data_map = map),
        ..Default::default()
    })
    .await;
    let subject = &people(&app, 1).await[0];
    let target = lethe_jobs::purge::Target {
        subject: lethe_jobs::datamap::SubjectKey::new(subject.id.to_string()),
        identities: vec![subject.email.clone()],
        hash_key: "test-anonymize-key".into(),
    };
    let purger =
        lethe_jobs::purge::Purger::new(&app.ctx.platform, &app.ctx.map, &app.services.storage, 100);
    let (last, steps) = app.ctx.plan.steps.split_last().unwrap();
    assert_eq!(*last, lethe_jobs::purge::Step::Subject);
    for step in steps {
        purger.run_step(step, &target).await.unwrap();
    }
    // The platform writes an invoice for the subject while the purge runs.
    let mut platform = app.platform_db().await;
    let late: Row = diesel::sql_query(
        "INSERT INTO invoices (user_id, amount_cents, note) VALUES ($1, 999, 'late') RETURNING id, user_id AS user, note",
    )
    .bind::<BigInt, _>(subject.id)
    .get_result(&mut platform)
    .await
    .unwrap();
    purger.run_step(last, &target).await.unwrap();
    let kept: Vec<Row> =
        diesel::sql_query("SELECT id, user_id AS user, note FROM invoices WHERE id = $1")
            .bind::<BigInt, _>(late.id)
            .load(&mut platform)
            .await
            .unwrap();
    assert_eq!(kept.len(), 1, "the cascade did not take the late invoice");
    assert_eq!(kept[0].user, Some(0), "it points at the placeholder");
    assert!(
        purger
            .verify(&app.ctx.plan, &target)
            .await
            .unwrap()
            .is_empty()
    );
    app.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_redaction_rewrites_strings_and_keys_only_and_always_gives_valid_json() {
    let app = spawn_app_with(Options {
        workers: false,
        ..Default::default()
    })
    .await;
    #[derive(QueryableByName)]
    struct Json {
        #[diesel(sql_type = Text)]
        v: String,
    }
    // A username that is also a JSON number, and an email: only strings and keys change.
    let pattern =
        lethe_jobs::purge::identity_pattern(&["12345".into(), "ada@x.example".into()], false)
            .unwrap();
    let mut conn = app.ctx.platform.get().await.unwrap();
    let out: Json = diesel::sql_query(
        "SELECT pg_temp.lethe_redact('{\"n\": 12345, \"s\": \"hi @12345 and ADA@x.example\", \"12345\": [true, null, \"12345\"], \"k\": {\"deep\": [\"x 12345\"]}}'::jsonb, $1)::text AS v",
    )
    .bind::<Text, _>(&pattern)
    .get_result(&mut *conn)
    .await
    .unwrap();
    let value: Value = serde_json::from_str(&out.v).unwrap();
    assert_eq!(
        value,
        json!({"n": 12345, "s": "hi @[redacted] and [redacted]", "[redacted]": [true, null, "[redacted]"], "k": {"deep": ["x [redacted]"]}})
    );
    drop(conn);
    app.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redaction_of_non_ascii_names_stops_at_unicode_word_boundaries() {
    let app = spawn_app_with(Options {
        workers: false,
        ..Default::default()
    })
    .await;
    let pattern = lethe_jobs::purge::identity_pattern(
        &["renée_ñuñez".into(), "renée@café.example".into()],
        false,
    )
    .unwrap();
    let mut conn = app.ctx.platform.get().await.unwrap();
    let cases = [
        // The name itself, in any case, at any boundary, is redacted.
        ("thanks @renée_ñuñez!", "thanks @[redacted]!"),
        ("RENÉE_ÑUÑEZ wrote", "[redacted] wrote"),
        ("mail RENÉE@CAFÉ.example", "mail [redacted]"),
        // Near-identical names of other people are not.
        ("thanks @renée_ñuñez2", "thanks @renée_ñuñez2"),
        ("@renée_ñuñezé", "@renée_ñuñezé"),
        ("@xrenée_ñuñez", "@xrenée_ñuñez"),
        ("@ñrenée_ñuñez", "@ñrenée_ñuñez"),
        ("@renee_nunez", "@renee_nunez"),
        ("renée@café.examples", "renée@café.examples"),
    ];
    for (text, expected) in cases {
        let out: crate::helpers::TextRow =
            diesel::sql_query("SELECT pg_temp.lethe_redact(to_jsonb($1::text), $2) #>> '{}' AS v")
                .bind::<Text, _>(text)
                .bind::<Text, _>(&pattern)
                .get_result(&mut *conn)
                .await
                .unwrap();
        assert_eq!(out.v, expected, "{text}");
    }
    drop(conn);
    app.teardown().await;
}
