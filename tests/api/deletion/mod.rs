//! Deletion requests: the purge erases exactly the subject's data everywhere the map
//! says, leaves everyone else's byte-identical, keeps retained records with only their
//! anonymized columns changed, survives being killed at any point, and only reports
//! `completed` after verification.

mod contention;
mod interrupted;
mod meanwhile;
mod staff_rules;

pub(crate) use crate::fixtures::{Subject, TOUCHED, heavy_subject, others_digest, touched_keys};

use std::collections::BTreeSet;

use diesel::QueryableByName;
use diesel::sql_types::{Array, BigInt, Nullable, Text};
use diesel_async::{RunQueryDsl, SimpleAsyncConnection};
use lethe::domain::Role;
use serde_json::{Value, json};

use crate::fixtures::{objects, subject_objects};
use crate::helpers::TextRow;
use crate::helpers::{Options, spawn_app_with};

#[derive(QueryableByName)]
struct N {
    #[diesel(sql_type = BigInt)]
    n: i64,
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
