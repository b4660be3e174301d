//! Deletion requests: the purge erases exactly the subject's data everywhere the map
//! says, leaves everyone else's byte-identical, keeps retained records with only their
//! anonymized columns changed, survives being killed at any point, and only reports
//! `completed` after verification.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicI64, Ordering};

use diesel::QueryableByName;
use diesel::sql_types::{Array, BigInt, Nullable, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use lethe::domain::Role;
use lethe_jobs::datamap::{BoundMap, SubjectKey};
use lethe_jobs::purge::{Plan, Purger, Target, plan};
use lethe_jobs::storage::{ObjectRef, Storage};
use serde_json::{Value, json};

use crate::helpers::TextRow;
use crate::helpers::{Options, TestApp, spawn_app_with};

#[derive(QueryableByName)]
struct N {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
pub(crate) struct Subject {
    #[diesel(sql_type = BigInt)]
    pub(crate) id: i64,
    #[diesel(sql_type = Text)]
    pub(crate) email: String,
    #[diesel(sql_type = Text)]
    pub(crate) username: String,
}

/// Per table: a key expression and the rows a purge of `$1` may touch (deleted, rewritten,
/// or detached by a foreign key), written independently of the data map.
pub(crate) const TOUCHED: &[(&str, &str, &str)] = &[
    ("users", "t.id::text", "t.id = $1 OR t.referred_by = $1"),
    ("profiles", "t.user_id::text", "t.user_id = $1"),
    (
        "images",
        "t.id::text",
        "t.user_id = $1 OR t.model_id IN (SELECT id FROM models WHERE user_id = $1)",
    ),
    (
        "models",
        "t.id::text",
        "t.user_id = $1 OR t.preview_image_id IN (SELECT id FROM images WHERE user_id = $1)",
    ),
    (
        "model_versions",
        "t.id::text",
        "t.model_id IN (SELECT id FROM models WHERE user_id = $1)",
    ),
    (
        "model_files",
        "t.id::text",
        "t.model_version_id IN (SELECT v.id FROM model_versions v JOIN models m ON m.id = v.model_id WHERE m.user_id = $1)",
    ),
    (
        "comments",
        "t.id::text",
        "t.user_id = $1 OR t.image_id IN (SELECT id FROM images WHERE user_id = $1) \
         OR t.parent_id IN (SELECT id FROM comments WHERE user_id = $1 OR image_id IN (SELECT id FROM images WHERE user_id = $1))",
    ),
    (
        "reactions",
        "(t.user_id, t.image_id, t.kind)::text",
        "t.user_id = $1 OR t.image_id IN (SELECT id FROM images WHERE user_id = $1)",
    ),
    (
        "follows",
        "(t.follower_id, t.followee_id)::text",
        "t.follower_id = $1 OR t.followee_id = $1",
    ),
    ("sessions", "t.id::text", "t.user_id = $1"),
    ("api_tokens", "t.id::text", "t.user_id = $1"),
    (
        "notifications",
        "t.id::text",
        "t.user_id = $1 OR t.actor_id = $1",
    ),
    ("marketing_preferences", "t.user_id::text", "t.user_id = $1"),
    ("payments", "t.id::text", "t.user_id = $1"),
    (
        "moderation_reports",
        "t.id::text",
        "t.reporter_id = $1 OR t.target_user_id = $1 OR t.image_id IN (SELECT id FROM images WHERE user_id = $1)",
    ),
    (
        "tips",
        "t.id::text",
        "t.from_user_id = $1 OR t.to_user_id = $1",
    ),
];

pub(crate) async fn touched_keys(
    conn: &mut AsyncPgConnection,
    subject: i64,
) -> BTreeMap<&'static str, Vec<String>> {
    let mut out = BTreeMap::new();
    for (table, key, touched) in TOUCHED {
        let rows: Vec<TextRow> =
            diesel::sql_query(format!("SELECT {key} AS v FROM {table} t WHERE {touched}"))
                .bind::<BigInt, _>(subject)
                .load(conn)
                .await
                .unwrap();
        out.insert(*table, rows.into_iter().map(|r| r.v).collect());
    }
    out
}

/// A digest per table of every row outside `touched`.
pub(crate) async fn others_digest(
    conn: &mut AsyncPgConnection,
    touched: &BTreeMap<&'static str, Vec<String>>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (table, key, _) in TOUCHED {
        let row: TextRow = diesel::sql_query(format!(
            "SELECT coalesce(md5(string_agg(row_to_json(t)::text, '|' ORDER BY row_to_json(t)::text)), '') || ':' || count(*) AS v \
             FROM {table} t WHERE NOT ({key} = ANY($1))"
        ))
        .bind::<Array<Text>, _>(&touched[table])
        .get_result(conn)
        .await
        .unwrap();
        out.insert(table.to_string(), row.v);
    }
    out
}

/// Every table's full contents and every bucket's keys: the end state of the platform.
async fn fingerprint(
    conn: &mut AsyncPgConnection,
    storage: &Storage,
) -> (BTreeMap<String, String>, BTreeSet<String>) {
    let mut tables = BTreeMap::new();
    for (table, _, _) in TOUCHED {
        let row: TextRow = diesel::sql_query(format!(
            "SELECT coalesce(md5(string_agg(row_to_json(t)::text, '|' ORDER BY row_to_json(t)::text)), '') || ':' || count(*) AS v FROM {table} t"
        ))
        .get_result(conn)
        .await
        .unwrap();
        tables.insert(table.to_string(), row.v);
    }
    (tables, objects(storage).await)
}

async fn objects(storage: &Storage) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for bucket in lethe::demo::BUCKETS {
        for key in storage.list_prefix(bucket, "").await.unwrap() {
            keys.insert(format!("{bucket}/{key}"));
        }
    }
    keys
}

async fn subject_objects(conn: &mut AsyncPgConnection, subject: i64) -> BTreeSet<String> {
    let rows: Vec<TextRow> = diesel::sql_query(
        "SELECT 'platform-images/' || object_key AS v FROM images WHERE user_id = $1 \
         UNION SELECT 'platform-models/' || substr(f.file_url, length('s3://platform-models/') + 1) \
           FROM model_files f JOIN model_versions v ON v.id = f.model_version_id JOIN models m ON m.id = v.model_id WHERE m.user_id = $1 \
         UNION SELECT 'platform-avatars/avatars/' || $1 || '/' || n FROM unnest(ARRAY['avatar.png', 'avatar-128.png']) n",
    )
    .bind::<BigInt, _>(subject)
    .load(conn)
    .await
    .unwrap();
    rows.into_iter().map(|r| r.v).collect()
}

pub(crate) async fn heavy_subject(conn: &mut AsyncPgConnection) -> Subject {
    diesel::sql_query(
        "SELECT u.id, u.email, u.username FROM users u WHERE u.id % 10 = 3 \
         ORDER BY (SELECT count(*) FROM images i WHERE i.user_id = u.id) + 10 * (SELECT count(*) FROM models m WHERE m.user_id = u.id) DESC LIMIT 1",
    )
    .get_result(conn)
    .await
    .unwrap()
}

fn no_grace() -> Options {
    Options {
        tweak: Box::new(|s| {
            s.requests.deletion_grace_hours = 0;
            s.worker.purge_batch_size = 7;
        }),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purge_erases_the_subject_everywhere_and_leaves_everyone_else_byte_identical() {
    let app = spawn_app_with(no_grace()).await;
    let mut platform = app.platform_db().await;
    let subject = heavy_subject(&mut platform).await;
    // Another user's image points at the same object as one of the subject's: it must stay.
    let shared: TextRow = diesel::sql_query(
        "SELECT object_key AS v FROM images WHERE user_id = $1 ORDER BY id LIMIT 1",
    )
    .bind::<BigInt, _>(subject.id)
    .get_result(&mut platform)
    .await
    .unwrap();
    platform
        .batch_execute(&format!(
            "UPDATE images SET object_key = '{}' WHERE id = (SELECT min(id) FROM images WHERE user_id <> {} AND user_id > 0)",
            shared.v, subject.id
        ))
        .await
        .unwrap();

    let touched = touched_keys(&mut platform, subject.id).await;
    let before = others_digest(&mut platform, &touched).await;
    let objects_before = objects(&app.services.storage).await;
    let mut erased_objects = subject_objects(&mut platform, subject.id).await;
    erased_objects.remove(&format!("platform-images/{}", shared.v));
    let payments: Vec<TextRow> = diesel::sql_query(
        "SELECT row_to_json(t)::text AS v FROM payments t WHERE user_id = $1 ORDER BY id",
    )
    .bind::<BigInt, _>(subject.id)
    .load(&mut platform)
    .await
    .unwrap();
    assert!(!payments.is_empty(), "the subject has payments to retain");
    assert!(
        touched["images"].len() > 3 && touched["comments"].len() > 3,
        "a heavy subject"
    );

    // File, verify, dry run (a rehearsal by a worker), approve.
    let request = app.file_deletion(&subject.email).await;
    let reviewer = app.staff_token("reviewer@lethe.test", Role::Reviewer).await;
    let dry = app.dry_run(&request.id, &reviewer).await;
    assert_eq!(dry["status"], "done", "{dry}");
    assert_eq!(dry["approvable"], true, "{dry}");
    let report = &dry["report"];
    assert_eq!(report["subject_found"], true);
    assert_eq!(report["complete"], true);
    let own_images: N = diesel::sql_query("SELECT count(*) AS n FROM images WHERE user_id = $1")
        .bind::<BigInt, _>(subject.id)
        .get_result(&mut platform)
        .await
        .unwrap();
    assert_eq!(report["tables"]["images"]["deleted"], own_images.n);
    assert_eq!(report["tables"]["users"]["deleted"], 1);
    assert!(
        report["tables"]["images"]["actions"]
            .as_array()
            .unwrap()
            .contains(&json!("delete"))
    );
    assert!(
        report["tables"]["payments"]["actions"]
            .as_array()
            .unwrap()
            .contains(&json!("retain"))
    );
    assert_eq!(report["tables"]["payments"]["retained"], payments.len());
    assert_eq!(
        report["tables"]["payments"]["updated"],
        payments.len(),
        "reassigned to the placeholder"
    );
    assert_eq!(report["tables"]["payments"]["deleted"], 0);
    assert_eq!(report["objects"]["platform-avatars"], 2);
    assert!(
        report["map_hash"].is_null()
            && dry["map_hash"].is_string()
            && dry["schema_fingerprint"].is_string()
    );
    let approved = app
        .staff_post(
            &format!("/v1/staff/requests/{}/approve", request.id),
            &reviewer,
            json!({}),
        )
        .await;
    assert_eq!(approved.status(), 200);
    app.wait_for_status(&request.id, &request.token, "completed")
        .await;

    // The rehearsal's exact counts are what the purge did, table by table.
    let done = app.staff_view(&request.id, &reviewer).await;
    crate::helpers::assert_rehearsal_counted_the_purge(&dry, &done);

    // Nothing of the subject's erasable data is left.
    let mut platform = app.platform_db().await;
    for sql in [
        "SELECT count(*) AS n FROM users WHERE id = $1",
        "SELECT count(*) AS n FROM images WHERE user_id = $1",
        "SELECT count(*) AS n FROM models WHERE user_id = $1",
        "SELECT count(*) AS n FROM comments WHERE user_id = $1",
        "SELECT count(*) AS n FROM reactions WHERE user_id = $1",
        "SELECT count(*) AS n FROM follows WHERE follower_id = $1 OR followee_id = $1",
        "SELECT count(*) AS n FROM sessions WHERE user_id = $1",
        "SELECT count(*) AS n FROM notifications WHERE user_id = $1 OR actor_id = $1",
        "SELECT count(*) AS n FROM marketing_preferences WHERE user_id = $1",
        "SELECT count(*) AS n FROM payments WHERE user_id = $1",
    ] {
        let row: N = diesel::sql_query(sql)
            .bind::<BigInt, _>(subject.id)
            .get_result(&mut platform)
            .await
            .unwrap();
        assert_eq!(row.n, 0, "{sql}");
    }
    for (table, ids) in [
        ("model_versions", &touched["model_versions"]),
        ("model_files", &touched["model_files"]),
    ] {
        let row: N = diesel::sql_query(format!(
            "SELECT count(*) AS n FROM {table} WHERE id::text = ANY($1)"
        ))
        .bind::<Array<Text>, _>(ids)
        .get_result(&mut platform)
        .await
        .unwrap();
        assert_eq!(row.n, 0, "{table}");
    }
    let mentions: N = diesel::sql_query(
        "SELECT count(*) AS n FROM comments WHERE body ILIKE '%' || $1 || '%' \
         UNION ALL SELECT count(*) FROM notifications WHERE payload->>'actor_username' = $1 LIMIT 1",
    )
    .bind::<Text, _>(&subject.username)
    .get_result(&mut platform)
    .await
    .unwrap();
    assert_eq!(
        mentions.n, 0,
        "no reply or notification still names the subject"
    );

    // Everyone else's rows are byte-identical.
    assert_eq!(others_digest(&mut platform, &touched).await, before);

    // Retained payments: still there, reassigned to the placeholder, billing name gone, rest unchanged.
    for row in &payments {
        let old: Value = serde_json::from_str(&row.v).unwrap();
        let now: TextRow =
            diesel::sql_query("SELECT row_to_json(t)::text AS v FROM payments t WHERE id = $1")
                .bind::<BigInt, _>(old["id"].as_i64().unwrap())
                .get_result(&mut platform)
                .await
                .unwrap();
        let now: Value = serde_json::from_str(&now.v).unwrap();
        assert_eq!(now["user_id"], 0);
        assert_eq!(now["billing_name"], Value::Null);
        for field in [
            "amount_cents",
            "currency",
            "provider",
            "provider_ref",
            "billing_country",
            "created_at",
        ] {
            assert_eq!(now[field], old[field], "{field}");
        }
    }

    // Objects: the subject's are gone, everyone else's (and the shared one) are all still there.
    let objects_after = objects(&app.services.storage).await;
    let expected: BTreeSet<String> = objects_before
        .difference(&erased_objects)
        .cloned()
        .collect();
    assert_eq!(objects_after, expected);
    assert!(objects_after.contains(&format!("platform-images/{}", shared.v)));

    // A receipt only: no email, the audit log has the counts, the requester was told.
    let mut db = app.service_db().await;
    #[derive(QueryableByName)]
    struct Receipt {
        #[diesel(sql_type = Nullable<Text>)]
        email: Option<String>,
        #[diesel(sql_type = Nullable<Text>)]
        subject_key: Option<String>,
    }
    let receipt: Receipt = diesel::sql_query(format!(
        "SELECT email, subject_key FROM requests WHERE id = '{}'",
        request.id
    ))
    .get_result(&mut db)
    .await
    .unwrap();
    assert_eq!((receipt.email, receipt.subject_key), (None, None));
    let audit: TextRow = diesel::sql_query(format!(
        "SELECT details::text AS v FROM audit_log WHERE request_id = '{}' AND action = 'purge.completed'",
        request.id
    ))
    .get_result(&mut db)
    .await
    .unwrap();
    assert!(
        audit.v.contains("delete:images") && !audit.v.contains('@'),
        "{}",
        audit.v
    );
    assert!(
        audit.v.contains("\"tables\""),
        "per-table counts in the audit: {}",
        audit.v
    );
    let details: Value = serde_json::from_str(&audit.v).unwrap();
    assert_eq!(
        details["buckets"]["platform-avatars"], 2,
        "object counts per bucket: {details}"
    );
    assert!(
        app.mails_to(&subject.email)
            .await
            .iter()
            .any(|m| m.contains("have been deleted"))
    );
    assert!(!crate::helpers::captured_logs().contains(&subject.email));
    assert!(matches!(
        app.audit_check().await,
        lethe::audit::ChainCheck::Intact { .. }
    ));
    app.teardown().await;
}

/// A fresh copy of the seeded platform, bound and planned, with its objects restored.
struct Copy {
    url: String,
    pool: lethe_jobs::platform::PlatformPool,
    map: BoundMap,
    plan: Plan,
}

async fn copy_of(
    app: &TestApp,
    template: &str,
    name: &str,
    restore: &[(ObjectRef, Vec<u8>)],
) -> Copy {
    let mut admin = AsyncPgConnection::establish(&crate::helpers::admin_url())
        .await
        .unwrap();
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await
        .unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE {name} TEMPLATE {template}"))
        .await
        .unwrap();
    let url = app.platform_url.replace(
        &app.platform_url[app.platform_url.rfind('/').unwrap() + 1..],
        name,
    );
    let objects = restore
        .iter()
        .map(|(o, b)| (o.clone(), b.clone(), "application/octet-stream"))
        .collect();
    lethe::demo::put_all(&app.services.storage, objects)
        .await
        .unwrap();
    let pool = lethe_jobs::platform::pool(&url, 3).unwrap();
    let text = std::fs::read_to_string("config/datamap.toml").unwrap();
    let map = lethe::startup::bind_data_map(&text, &pool).await.unwrap();
    let plan = plan(&map);
    Copy {
        url,
        pool,
        map,
        plan,
    }
}

async fn drop_db(name: &str) {
    let mut admin = AsyncPgConnection::establish(&crate::helpers::admin_url())
        .await
        .unwrap();
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await
        .unwrap();
}

async fn run_all(purger: &Purger<'_>, plan: &Plan, target: &Target) -> anyhow::Result<()> {
    for step in &plan.steps {
        purger.run_step(step, target).await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purge_killed_at_every_boundary_then_rerun_ends_exactly_like_an_uninterrupted_one() {
    let app = spawn_app_with(Options {
        users: 20,
        workers: false,
        ..Default::default()
    })
    .await;
    // A template nobody is connected to, so that copies are cheap.
    let template = format!(
        "{}_tmpl",
        &app.platform_url[app.platform_url.rfind('/').unwrap() + 1..]
    );
    let mut admin = AsyncPgConnection::establish(&crate::helpers::admin_url())
        .await
        .unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE {template}"))
        .await
        .unwrap();
    let template_url = app.platform_url.replace(
        &app.platform_url[app.platform_url.rfind('/').unwrap() + 1..],
        &template,
    );
    let mut conn = AsyncPgConnection::establish(&template_url).await.unwrap();
    lethe::demo::install_and_seed(&mut conn, &app.services.storage, 20, 0.42)
        .await
        .unwrap();
    let subject = heavy_subject(&mut conn).await;
    // The subject's objects, to put back before each run (everyone else's are never touched).
    let mut restore = Vec::new();
    for path in subject_objects(&mut conn, subject.id).await {
        let (bucket, key) = path.split_once('/').unwrap();
        let object = ObjectRef {
            bucket: bucket.into(),
            key: key.into(),
        };
        let bytes = app
            .services
            .storage
            .get_bytes(&object)
            .await
            .unwrap()
            .expect("seeded object");
        restore.push((object, bytes));
    }
    drop(conn);
    let target = Target {
        subject: SubjectKey::new(subject.id.to_string()),
        identities: vec![subject.email.clone(), subject.username.clone()],
        hash_key: "test-anonymize-key".into(),
    };

    // The reference: one uninterrupted purge, counting its operation boundaries.
    let reference_db = format!("{template}_ref");
    let copy = copy_of(&app, &template, &reference_db, &restore).await;
    let counter = AtomicI64::new(i64::MAX);
    let purger = Purger {
        object_batch: 2,
        fault: Some(&counter),
        stop: None,
        ..Purger::new(&copy.pool, &copy.map, &app.services.storage, 5)
    };
    run_all(&purger, &copy.plan, &target).await.unwrap();
    let boundaries = i64::MAX - AtomicI64::load(&counter, Ordering::SeqCst);
    assert!(purger.verify(&copy.plan, &target).await.unwrap().is_empty());
    let reference = fingerprint(
        &mut AsyncPgConnection::establish(&copy.url).await.unwrap(),
        &app.services.storage,
    )
    .await;
    drop(copy);
    drop_db(&reference_db).await;
    assert!(
        boundaries > 20,
        "enough boundaries to be meaningful: {boundaries}"
    );
    eprintln!(
        "the purge of subject {} has {boundaries} operation boundaries",
        subject.id
    );

    // Kill it at every boundary, then run again from scratch: the same end state.
    for k in 1..=boundaries {
        let name = format!("{template}_{k}");
        let copy = copy_of(&app, &template, &name, &restore).await;
        let fault = AtomicI64::new(k);
        let killed = Purger {
            object_batch: 2,
            fault: Some(&fault),
            stop: None,
            ..Purger::new(&copy.pool, &copy.map, &app.services.storage, 5)
        };
        let error = run_all(&killed, &copy.plan, &target)
            .await
            .expect_err("the fault strikes");
        assert!(format!("{error:#}").contains("injected fault"), "{error:#}");
        let rerun = Purger {
            object_batch: 2,
            ..Purger::new(&copy.pool, &copy.map, &app.services.storage, 5)
        };
        run_all(&rerun, &copy.plan, &target).await.unwrap();
        assert!(
            rerun.verify(&copy.plan, &target).await.unwrap().is_empty(),
            "boundary {k}"
        );
        let state = fingerprint(
            &mut AsyncPgConnection::establish(&copy.url).await.unwrap(),
            &app.services.storage,
        )
        .await;
        assert_eq!(state, reference, "killed at boundary {k} of {boundaries}");
        drop(copy);
        drop_db(&name).await;
    }

    // Delivered twice at once: both succeed, same end state.
    let name = format!("{template}_twice");
    let copy = copy_of(&app, &template, &name, &restore).await;
    let a = Purger::new(&copy.pool, &copy.map, &app.services.storage, 5);
    let b = Purger::new(&copy.pool, &copy.map, &app.services.storage, 5);
    let (ra, rb) = tokio::join!(
        run_all(&a, &copy.plan, &target),
        run_all(&b, &copy.plan, &target)
    );
    ra.unwrap();
    rb.unwrap();
    let state = fingerprint(
        &mut AsyncPgConnection::establish(&copy.url).await.unwrap(),
        &app.services.storage,
    )
    .await;
    assert_eq!(state, reference);
    drop(copy);
    drop_db(&name).await;
    drop_db(&template).await;
    app.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_rules_roles_two_person_rule_and_cancellation_are_enforced() {
    let app = spawn_app_with(Options {
        tweak: Box::new(|s| {
            s.requests.deletion_two_person_rule = true;
            s.requests.deletion_grace_hours = 24;
        }),
        ..Default::default()
    })
    .await;
    let viewer = app.staff_token("viewer@lethe.test", Role::Viewer).await;
    let first = app.staff_token("first@lethe.test", Role::Reviewer).await;
    let second = app.staff_token("second@lethe.test", Role::Admin).await;
    let request = app.file_deletion("leaving@example.com").await;
    let path = |verb: &str| format!("/v1/staff/requests/{}/{verb}", request.id);

    let status = |r: reqwest::Response| r.status().as_u16();
    assert_eq!(
        status(
            app.staff_post(&path("approve"), "lst_not-a-token", json!({}))
                .await
        ),
        401
    );
    assert_eq!(
        status(app.staff_post(&path("approve"), &viewer, json!({})).await),
        403,
        "viewers cannot approve"
    );
    assert_eq!(
        status(app.staff_post(&path("dry-run"), &viewer, json!({})).await),
        403
    );
    assert_eq!(
        status(app.staff_post(&path("approve"), &first, json!({})).await),
        409,
        "dry run first"
    );
    let unknown = format!("/v1/staff/requests/{}/approve", uuid::Uuid::now_v7());
    assert_eq!(
        status(app.staff_post(&unknown, &first, json!({})).await),
        404
    );

    let dry = app.dry_run(&request.id, &first).await;
    assert_eq!(dry["approvable"], true, "{dry}");
    let one: Value = app
        .staff_post(&path("approve"), &first, json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            one["status"].as_str(),
            one["approvals"].as_i64(),
            one["approvals_needed"].as_i64()
        ),
        (Some("verified"), Some(1), Some(2))
    );
    assert_eq!(
        status(app.staff_post(&path("approve"), &first, json!({})).await),
        409,
        "the same person twice does not count"
    );
    let two: Value = app
        .staff_post(&path("approve"), &second, json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(two["status"], "approved");
    assert!(two["grace_until"].is_string());

    // Viewers see the request, its deadline and its trail.
    let shown: Value = app
        .client
        .get(format!("{}/v1/staff/requests/{}", app.address, request.id))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(shown["decisions"].as_array().unwrap().len(), 2);
    assert!(
        shown["audit"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "rehearsal.requested")
    );
    assert_eq!(
        shown["verified_email"], "leaving@example.com",
        "staff see the address the requester proved"
    );
    let listed: Value = app
        .client
        .get(format!("{}/v1/staff/requests?kind=deletion", app.address))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let bad = app
        .client
        .get(format!("{}/v1/staff/requests?status=nonsense", app.address))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let bad = app
        .client
        .get(format!("{}/v1/staff/requests?sort=x", app.address))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let body: Value = bad.json().await.unwrap();
    assert_eq!(
        body["error"]["code"], "malformed_body",
        "query errors use the JSON envelope"
    );

    // During the grace period the requester may cancel; the purge then never runs.
    let cancel = app.cancel(&request).await;
    assert_eq!(cancel.status(), 200);
    let view: Value = app
        .show(&request.id, &request.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(view["status"], "cancelled");

    // Once a purge has started, cancelling is refused.
    let started = app.file_deletion("started@example.com").await;
    app.service_db()
        .await
        .batch_execute(&format!(
            "UPDATE requests SET status = 'processing', started_at = now() WHERE id = '{}'",
            started.id
        ))
        .await
        .unwrap();
    let refused = app
        .client
        .post(format!("{}/v1/requests/{}/cancel", app.address, started.id))
        .bearer_auth(&started.token)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 409);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "conflict");
    app.service_db()
        .await
        .batch_execute(&format!(
            "UPDATE requests SET status = 'cancelled' WHERE id = '{}'",
            started.id
        ))
        .await
        .unwrap();
    app.teardown().await;
}
