//! Access requests end to end: file, verify by the mailed code, export, download through
//! the mailed link, and check the archive holds every row and object of the subject and
//! nothing of anyone else.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;

use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Text};
use diesel_async::RunQueryDsl;
use lethe_jobs::storage::ObjectRef;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::helpers::TextRow;
use crate::helpers::spawn_app;

#[derive(QueryableByName)]
struct Subject {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    email: String,
}

/// What the archive must hold, written independently of the data map engine: the file
/// name, and SQL selecting exactly the subject's rows of that entry (`$1` = subject id).
const EXPECTED_TABLES: &[(&str, &str)] = &[
    (
        "data/account/users.json",
        "SELECT row_to_json(t)::text AS v FROM users t WHERE t.id = $1",
    ),
    (
        "data/account/profiles.json",
        "SELECT row_to_json(t)::text AS v FROM profiles t WHERE t.user_id = $1",
    ),
    (
        "data/content/images.json",
        "SELECT row_to_json(t)::text AS v FROM images t WHERE t.user_id = $1",
    ),
    (
        "data/content/models.json",
        "SELECT row_to_json(t)::text AS v FROM models t WHERE t.user_id = $1",
    ),
    (
        "data/content/model_versions.json",
        "SELECT row_to_json(v)::text AS v FROM model_versions v JOIN models m ON m.id = v.model_id WHERE m.user_id = $1",
    ),
    (
        "data/content/model_files.json",
        "SELECT row_to_json(f)::text AS v FROM model_files f JOIN model_versions v ON v.id = f.model_version_id \
         JOIN models m ON m.id = v.model_id WHERE m.user_id = $1",
    ),
    (
        "data/content/comments.json",
        "SELECT row_to_json(t)::text AS v FROM comments t WHERE t.user_id = $1",
    ),
    (
        "data/activity/reactions.json",
        "SELECT row_to_json(t)::text AS v FROM reactions t WHERE t.user_id = $1",
    ),
    (
        "data/activity/follows.json",
        "SELECT row_to_json(t)::text AS v FROM follows t WHERE t.follower_id = $1 OR t.followee_id = $1",
    ),
    (
        "data/device_location/sessions.json",
        "SELECT row_to_json(t)::text AS v FROM sessions t WHERE t.user_id = $1",
    ),
    (
        "data/device_location/api_tokens.json",
        "SELECT row_to_json(t)::text AS v FROM api_tokens t WHERE t.user_id = $1",
    ),
    (
        "data/activity/notifications.json",
        "SELECT row_to_json(t)::text AS v FROM notifications t WHERE t.user_id = $1",
    ),
    (
        "data/preferences/marketing_preferences.json",
        "SELECT row_to_json(t)::text AS v FROM marketing_preferences t WHERE t.user_id = $1",
    ),
    (
        "data/payments/payments.json",
        "SELECT row_to_json(t)::text AS v FROM payments t WHERE t.user_id = $1",
    ),
    (
        "data/moderation/moderation_reports.json",
        "SELECT row_to_json(t)::text AS v FROM moderation_reports t WHERE t.reporter_id = $1",
    ),
    (
        "data/payments/tips.json",
        "SELECT row_to_json(t)::text AS v FROM tips t WHERE t.from_user_id = $1 OR t.to_user_id = $1",
    ),
];

/// Object keys of the subject, independently: image keys, model-file URLs, avatars.
const EXPECTED_OBJECTS: &str = "
    SELECT 'objects/platform-images/' || object_key AS v FROM images WHERE user_id = $1
    UNION ALL
    SELECT 'objects/platform-models/' || substr(f.file_url, length('s3://platform-models/') + 1)
      FROM model_files f JOIN model_versions v ON v.id = f.model_version_id JOIN models m ON m.id = v.model_id
     WHERE m.user_id = $1
    UNION ALL
    SELECT 'objects/platform-avatars/avatars/' || $1 || '/' || name FROM unnest(ARRAY['avatar.png', 'avatar-128.png']) name";

fn unzip(bytes: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a valid ZIP");
    let mut files = BTreeMap::new();
    for i in 0..archive.len() {
        let mut file = archive.by_index(i).unwrap();
        let mut content = Vec::new();
        file.read_to_end(&mut content).unwrap();
        files.insert(file.name().unwrap().to_string(), content);
    }
    files
}

fn as_set(rows: impl IntoIterator<Item = Value>) -> BTreeSet<String> {
    // serde_json sorts object keys, so equal rows serialize equally.
    rows.into_iter().map(|v| v.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_access_export_holds_every_row_and_object_of_the_subject_and_nothing_of_anyone_else() {
    let app = spawn_app().await;
    let mut platform = app.platform_db().await;
    // A subject with payments and as much content as possible, so that no table is empty by luck.
    let subject: Subject = diesel::sql_query(
        "SELECT u.id, u.email FROM users u WHERE u.id % 10 = 3 \
         ORDER BY (SELECT count(*) FROM images i WHERE i.user_id = u.id) + (SELECT count(*) FROM models m WHERE m.user_id = u.id) DESC \
         LIMIT 1",
    )
    .get_result(&mut platform)
    .await
    .unwrap();

    let request = app.file_and_verify(&subject.email).await;
    let view = app
        .wait_for_status(&request.id, &request.token, "completed")
        .await;
    assert!(view["export"]["download_url"].is_string(), "{view}");

    // Download through the link in the mail, as the person would.
    let link = app.export_link_from_mail(&subject.email).await;
    let response = app.client.get(&link).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let files = unzip(&response.bytes().await.unwrap());

    // Every table: exactly the subject's rows, as JSON and as CSV.
    let mut nonempty = 0;
    for (path, sql) in EXPECTED_TABLES {
        let expected: Vec<TextRow> = diesel::sql_query(*sql)
            .bind::<BigInt, _>(subject.id)
            .load(&mut platform)
            .await
            .unwrap();
        let expected = as_set(
            expected
                .iter()
                .map(|r| serde_json::from_str::<Value>(&r.v).unwrap()),
        );
        let exported: Vec<Value> =
            serde_json::from_slice(files.get(*path).unwrap_or_else(|| panic!("{path} missing")))
                .unwrap();
        assert_eq!(as_set(exported.clone()), expected, "{path}");
        assert_eq!(exported.len(), expected.len(), "{path} has duplicates");
        let csv_path = path.replace(".json", ".csv");
        let mut csv = csv::Reader::from_reader(files[&csv_path].as_slice());
        assert_eq!(csv.records().count(), expected.len(), "{csv_path}");
        nonempty += usize::from(!expected.is_empty());
    }
    assert!(
        nonempty >= 10,
        "the subject should have data in most tables, had {nonempty}"
    );
    let data_files: BTreeSet<&str> = files
        .keys()
        .filter(|k| k.starts_with("data/") && k.ends_with(".json"))
        .map(String::as_str)
        .collect();
    let expected_files: BTreeSet<&str> = EXPECTED_TABLES.iter().map(|(p, _)| *p).collect();
    assert_eq!(
        data_files, expected_files,
        "no table beyond the subject's own"
    );

    // Every object, byte for byte, and nothing else.
    let expected_objects: Vec<TextRow> = diesel::sql_query(EXPECTED_OBJECTS)
        .bind::<BigInt, _>(subject.id)
        .load(&mut platform)
        .await
        .unwrap();
    let expected_objects: BTreeSet<String> = expected_objects.into_iter().map(|r| r.v).collect();
    let exported_objects: BTreeSet<String> = files
        .keys()
        .filter(|k| k.starts_with("objects/"))
        .cloned()
        .collect();
    assert!(expected_objects.len() > 5, "the subject should own objects");
    assert_eq!(exported_objects, expected_objects);
    for path in &exported_objects {
        let rest = path.strip_prefix("objects/").unwrap();
        let (bucket, key) = rest.split_once('/').unwrap();
        let original = app
            .services
            .storage
            .get_bytes(&ObjectRef {
                bucket: bucket.into(),
                key: key.into(),
            })
            .await
            .unwrap();
        assert_eq!(original.as_deref(), Some(files[path].as_slice()), "{path}");
    }

    // The manifest counts rows and lists a correct SHA-256 for every other file.
    let manifest: Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    assert_eq!(manifest["subject_found"], true);
    assert_eq!(manifest["objects"]["count"], expected_objects.len());
    let listed: BTreeMap<String, String> = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_owned(),
                f["sha256"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for (path, content) in files.iter().filter(|(p, _)| *p != "manifest.json") {
        assert_eq!(
            listed.get(path),
            Some(&hex::encode(Sha256::digest(content))),
            "{path}"
        );
    }
    assert_eq!(listed.len(), files.len() - 1);
    let index = String::from_utf8(files["index.html"].clone()).unwrap();
    assert!(
        index.contains("Payments")
            && index.contains("Content")
            && index.contains("Devices and locations")
    );

    // Nothing personal reached the logs.
    let logs = crate::helpers::captured_logs();
    assert!(!logs.contains(&subject.email), "the email reached a log");
    app.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_email_without_an_account_gets_the_same_answer_and_an_archive_saying_so() {
    let app = spawn_app().await;
    let known: Subject =
        diesel::sql_query("SELECT id, email FROM users WHERE id > 0 ORDER BY id LIMIT 1")
            .get_result(&mut app.platform_db().await)
            .await
            .unwrap();
    let unknown = "nobody.here@example.org";
    let a = app
        .file(serde_json::json!({ "kind": "access", "email": known.email }))
        .await;
    let b = app
        .file(serde_json::json!({ "kind": "access", "email": unknown }))
        .await;
    assert_eq!(a.status(), b.status());
    let (a, b): (Value, Value) = (a.json().await.unwrap(), b.json().await.unwrap());
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&a), keys(&b));
    assert_eq!(a["status"], b["status"]);
    assert_eq!(
        app.mails_to(unknown).await.len(),
        1,
        "a code goes out either way"
    );

    let code = app.latest_code(unknown).await;
    let verified: Value = app
        .verify(b["id"].as_str().unwrap(), &code)
        .await
        .json()
        .await
        .unwrap();
    let token = verified["token"].as_str().unwrap();
    let view = app
        .wait_for_status(b["id"].as_str().unwrap(), token, "completed")
        .await;
    let url = view["export"]["download_url"].as_str().unwrap();
    let files = unzip(
        &app.client
            .get(url)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
    );
    let manifest: Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    assert_eq!(manifest["subject_found"], false);
    assert!(
        !files
            .keys()
            .any(|k| k.starts_with("data/") || k.starts_with("objects/"))
    );
    app.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filing_again_is_a_new_filing_with_its_own_code_and_proof_joins_the_open_request() {
    let app = crate::helpers::spawn_app_with(crate::helpers::Options {
        tweak: Box::new(|s| s.requests.access_require_approval = true),
        ..Default::default()
    })
    .await;
    let email = "twice@example.com";
    let first: Value = app
        .file(serde_json::json!({ "kind": "access", "email": email }))
        .await
        .json()
        .await
        .unwrap();
    let first_code = app.latest_code(email).await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let second: Value = app
        .file(serde_json::json!({ "kind": "access", "email": "Twice@Example.com" }))
        .await
        .json()
        .await
        .unwrap();
    assert_ne!(first["id"], second["id"], "each filing is its own request");
    assert_eq!(second["status"], "pending_verification");
    let second_code = app.latest_code(email).await;
    let (first_id, second_id) = (
        first["id"].as_str().unwrap(),
        second["id"].as_str().unwrap(),
    );
    // Each code belongs to its own filing.
    assert_ne!(
        app.verify(second_id, &first_code).await.status(),
        200,
        "a code proves only its own filing"
    );
    let verified: Value = app
        .verify(first_id, &first_code)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(verified["request"]["id"], first["id"]);
    assert_eq!(verified["request"]["status"], "verified");
    let first_token = verified["token"].as_str().unwrap().to_owned();
    app.saw(&first_token);
    // Proving the second filing joins the open request: same id, a new token, the old
    // one retired; the filing itself ends `merged`.
    let joined: Value = app
        .verify(second_id, &second_code)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(joined["request"]["id"], first["id"], "{joined}");
    let second_token = joined["token"].as_str().unwrap().to_owned();
    app.saw(&second_token);
    assert_eq!(app.show(first_id, &second_token).await.status(), 200);
    assert_eq!(app.show(first_id, &first_token).await.status(), 404);
    let mut conn = app.service_db().await;
    let merged: Vec<crate::helpers::TextRow> = diesel::sql_query(
        "SELECT status || ':' || coalesce(merged_into::text, '') || ':' || (email IS NULL)::text AS v \
         FROM requests WHERE id = $1::uuid",
    )
    .bind::<diesel::sql_types::Text, _>(second_id)
    .load(&mut conn)
    .await
    .unwrap();
    assert_eq!(merged[0].v, format!("merged:{first_id}:true"));
    let actions: Vec<crate::helpers::TextRow> = diesel::sql_query(
        "SELECT action AS v FROM audit_log WHERE request_id IN ($1::uuid, $2::uuid) ORDER BY seq",
    )
    .bind::<diesel::sql_types::Text, _>(first_id)
    .bind::<diesel::sql_types::Text, _>(second_id)
    .load(&mut conn)
    .await
    .unwrap();
    let actions: Vec<&str> = actions.iter().map(|r| r.v.as_str()).collect();
    assert!(actions.contains(&"request.merged"), "{actions:?}");
    assert!(actions.contains(&"request.token_rotated"), "{actions:?}");
    app.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_control_leaves_out_omitted_columns_and_pseudonymises_masked_ones() {
    let dir = tempfile::tempdir().unwrap();
    let map = dir.path().join("datamap.toml");
    let text = std::fs::read_to_string("config/datamap.toml").unwrap();
    std::fs::write(
        &map,
        format!("{text}\n[tables.moderation_reports]\nomit = [\"status\"]\nmask = [\"target_user_id\"]\n"),
    )
    .unwrap();
    let path = map.clone();
    let app = crate::helpers::spawn_app_with(crate::helpers::Options {
        tweak: Box::new(move |s| s.platform.data_map = path),
        ..Default::default()
    })
    .await;
    let mut platform = app.platform_db().await;
    // A reporter with at least two reports about the same person.
    let subject: Subject =
        diesel::sql_query("SELECT u.id, u.email FROM users u WHERE u.id > 0 ORDER BY u.id LIMIT 1")
            .get_result(&mut platform)
            .await
            .unwrap();
    diesel::sql_query(
        "INSERT INTO moderation_reports (reporter_id, target_user_id, reason, details, status) \
         SELECT $1, t, 'spam', 'details', 'open' FROM (VALUES ($1 + 1), ($1 + 1), ($1 + 2)) v(t)",
    )
    .bind::<BigInt, _>(subject.id)
    .execute(&mut platform)
    .await
    .unwrap();
    let request = app.file_and_verify(&subject.email).await;
    app.wait_for_status(&request.id, &request.token, "completed")
        .await;
    let link = app.export_link_from_mail(&subject.email).await;
    let files = unzip(
        &app.client
            .get(&link)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
    );
    let rows: Vec<Value> =
        serde_json::from_slice(&files["data/moderation/moderation_reports.json"]).unwrap();
    assert!(rows.len() >= 3, "{rows:?}");
    let masked: Vec<&str> = rows
        .iter()
        .map(|r| r["target_user_id"].as_str().unwrap())
        .collect();
    assert!(
        masked.iter().all(|m| m.starts_with("masked:")),
        "{masked:?}"
    );
    let (first, second, third) = (
        rows.iter()
            .filter(|r| r["target_user_id"] == masked[0])
            .count(),
        masked.iter().collect::<BTreeSet<_>>().len(),
        rows.iter().filter(|r| r.get("status").is_some()).count(),
    );
    assert!(
        first >= 1 && second >= 2,
        "the same id gives the same pseudonym, different ids differ: {masked:?}"
    );
    assert_eq!(third, 0, "omitted columns are not exported");
    let mut csv =
        csv::Reader::from_reader(files["data/moderation/moderation_reports.csv"].as_slice());
    let header = csv.headers().unwrap().clone();
    assert!(!header.iter().any(|h| h == "status"), "{header:?}");
    let column = header.iter().position(|h| h == "target_user_id").unwrap();
    for record in csv.records() {
        assert!(
            record.unwrap()[column].starts_with("masked:"),
            "the CSV is masked too"
        );
    }
    app.teardown().await;
}
