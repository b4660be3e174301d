//! Erasure of Lethe's own copies: a completed deletion also deletes the person's earlier
//! export (its link stops working), scrubs their other requests and expires their
//! unverified filings, with audit entries; the embedded object store keeps no file naming
//! an erased key; it runs on a secret made for its data directory; and a deletion for an
//! address with no account says so.

use std::collections::BTreeSet;
use std::path::Path;

use base64::Engine;
use diesel::sql_types::Text;
use diesel_async::RunQueryDsl;
use lethe::domain::Role;
use lethe_jobs::storage::{ObjectRef, S3Settings, Storage};
use serde_json::{Value, json};

use crate::helpers::{Options, TestApp, TextRow, spawn_app_with};

fn no_grace() -> Options {
    Options {
        tweak: Box::new(|s| s.requests.deletion_grace_hours = 0),
        ..Default::default()
    }
}

/// Files, verifies, rehearses and approves a deletion, and waits for it to complete.
async fn delete_account(app: &TestApp, email: &str) -> Value {
    let reviewer = app.staff_token(&format!("r.{email}"), Role::Reviewer).await;
    let request = app.approved_deletion(email, &reviewer).await;
    app.wait_for_staff_status(&request.id, &reviewer, "completed")
        .await
}

/// Every bookkeeping file of the embedded store (`.bucket-….object-….json`) whose key
/// has no object, and every empty directory inside a bucket.
fn orphans(root: &Path) -> Vec<String> {
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut found = Vec::new();
    for entry in std::fs::read_dir(root).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(".bucket-") else {
            if entry.path().is_dir() {
                empty_dirs(&entry.path(), &mut found);
            }
            continue;
        };
        let (bucket, rest) = rest.split_once(".object-").unwrap();
        let key = rest.split('.').next().unwrap();
        let bucket = String::from_utf8(engine.decode(bucket).unwrap()).unwrap();
        let key = String::from_utf8(engine.decode(key).unwrap()).unwrap();
        if !root.join(&bucket).join(&key).exists() {
            found.push(format!("{bucket}/{key}"));
        }
    }
    found
}

fn empty_dirs(dir: &Path, found: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            if std::fs::read_dir(&path).unwrap().next().is_none() {
                found.push(path.display().to_string());
            } else {
                empty_dirs(&path, found);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_completed_deletion_erases_lethes_own_copies_of_the_person() {
    let app = spawn_app_with(no_grace()).await;
    let mut platform = app.platform_db().await;
    let email: TextRow = diesel::sql_query(
        "SELECT u.email AS v FROM users u WHERE u.id > 0 \
         AND EXISTS (SELECT 1 FROM images i WHERE i.user_id = u.id) ORDER BY u.id LIMIT 1",
    )
    .get_result(&mut platform)
    .await
    .unwrap();
    let email = email.v;

    // An earlier access request, completed, with a live archive and a working link.
    let access = app.file_and_verify(&email).await;
    let view = app
        .wait_for_status(&access.id, &access.token, "completed")
        .await;
    let link = view["export"]["download_url"].as_str().unwrap().to_owned();
    assert_eq!(app.client.get(&link).send().await.unwrap().status(), 200);
    let mut service = app.service_db().await;
    let key: TextRow =
        diesel::sql_query("SELECT export_key AS v FROM requests WHERE id = $1::uuid")
            .bind::<Text, _>(&access.id)
            .get_result(&mut service)
            .await
            .unwrap();
    let archive = ObjectRef {
        bucket: app.services.settings.storage.exports_bucket.clone(),
        key: key.v,
    };
    assert!(
        app.services
            .storage
            .get_bytes(&archive)
            .await
            .unwrap()
            .is_some()
    );
    // And a filing never verified.
    let pending: Value = app
        .file(json!({ "kind": "access", "email": email }))
        .await
        .json()
        .await
        .unwrap();
    let pending_id = pending["id"].as_str().unwrap().to_owned();
    // Someone else's archive, which must stay.
    let other = app.file_and_verify("bystander@example.com").await;
    app.wait_for_status(&other.id, &other.token, "completed")
        .await;
    let s3_root = app.services.settings.storage.embedded_dir.clone();
    let files_before: BTreeSet<String> = std::fs::read_dir(&s3_root)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();

    let done = delete_account(&app, &email).await;
    assert_eq!(done["status"], "completed");

    // The archive is gone and its link no longer works.
    assert!(
        app.services
            .storage
            .get_bytes(&archive)
            .await
            .unwrap()
            .is_none()
    );
    assert_ne!(app.client.get(&link).send().await.unwrap().status(), 200);
    // The access request keeps a receipt only; the filing expired.
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = Text)]
        status: String,
        #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
        email: Option<String>,
        #[diesel(sql_type = diesel::sql_types::Bool)]
        scrubbed: bool,
        #[diesel(sql_type = diesel::sql_types::Bool)]
        archive_gone: bool,
    }
    let rows: Vec<Row> = diesel::sql_query(
        "SELECT status, email, pii_scrubbed_at IS NOT NULL AS scrubbed, \
                (export_key IS NULL OR export_deleted_at IS NOT NULL) AS archive_gone \
         FROM requests WHERE id IN ($1::uuid, $2::uuid) ORDER BY id",
    )
    .bind::<Text, _>(&access.id)
    .bind::<Text, _>(&pending_id)
    .load(&mut service)
    .await
    .unwrap();
    assert_eq!(rows.len(), 2);
    for row in &rows {
        assert!(row.email.is_none() && row.scrubbed && row.archive_gone);
    }
    let statuses: BTreeSet<&str> = rows.iter().map(|r| r.status.as_str()).collect();
    assert_eq!(statuses, BTreeSet::from(["completed", "expired"]));
    // Each with an audit entry naming the deletion.
    let audit: Vec<TextRow> = diesel::sql_query(
        "SELECT action || ':' || coalesce(details->>'by_deletion', '') AS v FROM audit_log \
         WHERE request_id = $1::uuid ORDER BY seq",
    )
    .bind::<Text, _>(&access.id)
    .load(&mut service)
    .await
    .unwrap();
    let audit: Vec<&str> = audit.iter().map(|r| r.v.as_str()).collect();
    let deletion_id = done["id"].as_str().unwrap();
    assert!(
        audit.contains(&format!("export.erased:{deletion_id}").as_str()),
        "{audit:?}"
    );
    assert!(
        audit.contains(&format!("request.pii_scrubbed:{deletion_id}").as_str()),
        "{audit:?}"
    );
    // The bystander's archive and link still work.
    let view: Value = app
        .show(&other.id, &other.token)
        .await
        .json()
        .await
        .unwrap();
    let link = view["export"]["download_url"].as_str().unwrap();
    assert_eq!(app.client.get(link).send().await.unwrap().status(), 200);

    // The embedded store keeps nothing naming an erased key: no bookkeeping file without
    // its object, no emptied directory; and files did go.
    assert_eq!(orphans(&s3_root), Vec::<String>::new());
    let files_after: BTreeSet<String> = std::fs::read_dir(&s3_root)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        files_before.difference(&files_after).count() >= 2,
        "the archive's and the person's objects' files are gone"
    );
    app.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deletion_for_an_address_without_an_account_says_so_and_the_store_key_is_per_directory() {
    let app = spawn_app_with(no_grace()).await;
    let done = delete_account(&app, "ghost.of.nobody@example.com").await;
    assert_eq!(done["status"], "completed");
    let mails = app.mails_to("ghost.of.nobody@example.com").await;
    let last = crate::helpers::mail_body(mails.last().unwrap());
    assert!(last.contains("found no account"), "{last}");
    assert!(!last.contains("We have deleted your account"), "{last}");

    // The embedded store runs on a key made for its data directory, not a documented one.
    let root = &app.services.settings.storage.embedded_dir;
    let secret = std::fs::read_to_string(root.join(".lethe-s3-secret")).unwrap();
    assert!(secret.trim().len() >= 40);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(root.join(".lethe-s3-secret"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "only the owner can read it");
    }
    let other_dir = tempfile::tempdir().unwrap();
    let other = lethe_jobs::s3server::secret_for(other_dir.path(), "").unwrap();
    assert_ne!(other.trim(), secret.trim(), "each directory its own key");
    assert_eq!(
        lethe_jobs::s3server::secret_for(other_dir.path(), "").unwrap(),
        other,
        "and the same key on the next start"
    );
    let endpoint = app
        .services
        .s3_endpoint
        .clone()
        .expect("the embedded endpoint");
    let guess = Storage::new(&S3Settings {
        endpoint: Some(endpoint),
        region: "us-east-1".into(),
        path_style: true,
        access_key_id: "lethe".into(),
        secret_access_key: "lethe-embedded-secret".into(),
        versioning: false,
    });
    assert!(
        guess
            .list_prefix(&app.services.settings.storage.exports_bucket, "")
            .await
            .is_err(),
        "the old documented key is refused"
    );
    app.teardown().await;
}
