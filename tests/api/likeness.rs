//! Likeness removal end to end: a requester lists platform resources (URLs or `kind:id`)
//! and may attach one evidence file checked by its content; a worker looks the listings
//! up; staff decide per resource; removed resources are unpublished at once and their
//! files deleted after the hold, nothing else changes; the evidence file is gone after the
//! last decision; the requester is told which were removed; the same resource listed
//! again is recognised.

use std::time::{Duration, Instant};

use diesel::sql_types::{BigInt, Text};
use diesel_async::RunQueryDsl;
use lethe::domain::Role;
use lethe_jobs::storage::ObjectRef;
use serde_json::{Value, json};

use crate::helpers::{Options, TestApp, TextRow, spawn_app_with};

pub(crate) const SITE: &str = "https://demo.lethe.test";

pub(crate) async fn model(app: &TestApp, name: &str) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct Id {
        #[diesel(sql_type = BigInt)]
        id: i64,
    }
    diesel::sql_query("SELECT id FROM models WHERE name = $1")
        .bind::<Text, _>(name)
        .get_result::<Id>(&mut app.platform_db().await)
        .await
        .unwrap()
        .id
}

async fn text(app: &TestApp, sql: &str) -> String {
    diesel::sql_query(sql)
        .get_result::<TextRow>(&mut app.platform_db().await)
        .await
        .unwrap()
        .v
}

/// Every row of every table, digested, except the rows `except` names (`table`, id).
async fn digest(app: &TestApp, except: &[(&str, i64)]) -> String {
    let mut out = String::new();
    for table in [
        "users",
        "profiles",
        "images",
        "models",
        "model_versions",
        "model_files",
        "comments",
        "sessions",
        "api_tokens",
        "payments",
        "tips",
    ] {
        let skip: Vec<String> = except
            .iter()
            .filter(|(t, _)| *t == table)
            .map(|(_, id)| id.to_string())
            .collect();
        let key = if table == "profiles" { "user_id" } else { "id" };
        let filter = if skip.is_empty() {
            String::new()
        } else {
            format!(" WHERE t.{key} NOT IN ({})", skip.join(","))
        };
        out += &text(
            app,
            &format!("SELECT coalesce(md5(string_agg(row_to_json(t)::text, '|' ORDER BY row_to_json(t)::text)), '') AS v FROM {table} t{filter}"),
        )
        .await;
        out.push(';');
    }
    out
}

/// The object keys of a model's files.
async fn model_files(app: &TestApp, model: i64) -> Vec<String> {
    let rows: Vec<TextRow> = diesel::sql_query(
        "SELECT substr(f.file_url, length('s3://platform-models/') + 1) AS v FROM model_files f \
         JOIN model_versions v ON v.id = f.model_version_id WHERE v.model_id = $1 ORDER BY 1",
    )
    .bind::<BigInt, _>(model)
    .load(&mut app.platform_db().await)
    .await
    .unwrap();
    rows.into_iter().map(|r| r.v).collect()
}

async fn stored(app: &TestApp, bucket: &str, key: &str) -> bool {
    app.services
        .storage
        .get_bytes(&ObjectRef {
            bucket: bucket.into(),
            key: key.into(),
        })
        .await
        .unwrap()
        .is_some()
}

/// Files a likeness request and verifies it; returns its id and token.
pub(crate) async fn file(app: &TestApp, email: &str, resources: Value) -> (String, String) {
    let response = app
        .file(json!({ "kind": "likeness", "email": email, "resources": resources }))
        .await;
    let status = response.status();
    let filed: Value = response.json().await.unwrap();
    assert_eq!(status, 202, "{filed}");
    let id = filed["id"].as_str().unwrap().to_owned();
    let response = app.verify(&id, &app.latest_code(email).await).await;
    assert_eq!(response.status(), 200);
    let verified: Value = response.json().await.unwrap();
    assert_eq!(verified["request"]["status"], "verified");
    let token = verified["token"].as_str().unwrap().to_owned();
    app.saw(&token);
    (id, token)
}

/// Waits until no listing of the request waits for a look-up; returns its listings.
pub(crate) async fn looked_up(app: &TestApp, id: &str, staff: &str) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let view = app.staff_view(id, staff).await;
        let listings = view["resources"].as_array().cloned().unwrap_or_default();
        if !listings.is_empty() && listings.iter().all(|l| l["state"] != "listed") {
            return listings;
        }
        assert!(
            Instant::now() < deadline,
            "listings never looked up: {view}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn decide(app: &TestApp, id: &str, staff: &str, decisions: Value) -> reqwest::Response {
    app.staff_post(
        &format!("/v1/staff/requests/{id}/resources"),
        staff,
        json!({ "decisions": decisions }),
    )
    .await
}

async fn upload(app: &TestApp, id: &str, token: Option<&str>, body: Vec<u8>) -> reqwest::Response {
    let mut request = app
        .client
        .put(format!("{}/v1/requests/{id}/evidence", app.address))
        .header("content-type", "application/pdf")
        .body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

pub(crate) async fn published(app: &TestApp, table: &str, id: i64) -> String {
    text(
        app,
        &format!("SELECT published::text AS v FROM {table} WHERE id = {id}"),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_likeness_request_removes_exactly_the_approved_resources_and_their_files() {
    let app = spawn_app_with(Options {
        tweak: Box::new(|s| {
            s.requests.likeness_file_hold_days = 0;
            s.requests.evidence_max_bytes = 100_000;
        }),
        ..Options::default()
    })
    .await;
    let staff = app.staff_token("likeness@lethe.test", Role::Reviewer).await;
    let portrait = model(&app, "Dana Vale portrait LoRA").await;
    let voice = model(&app, "Dana Vale voice-style LoRA").await;
    let body = model(&app, "Dana Vale full-body LoRA").await;
    let image: i64 = text(
        &app,
        "SELECT id::text AS v FROM images WHERE title = 'Dana at the beach'",
    )
    .await
    .parse()
    .unwrap();
    let image_key = text(
        &app,
        &format!("SELECT object_key AS v FROM images WHERE id = {image}"),
    )
    .await;
    let (portrait_files, voice_files, body_files) = (
        model_files(&app, portrait).await,
        model_files(&app, voice).await,
        model_files(&app, body).await,
    );
    assert!(!portrait_files.is_empty());
    for key in portrait_files.iter().chain(&voice_files).chain(&body_files) {
        assert!(stored(&app, "platform-models", key).await, "seeded {key}");
    }
    assert!(stored(&app, "platform-images", &image_key).await);
    let models_before = app
        .services
        .storage
        .list_prefix("platform-models", "")
        .await
        .unwrap()
        .len();
    let images_before = app
        .services
        .storage
        .list_prefix("platform-images", "")
        .await
        .unwrap()
        .len();
    let untouched = digest(&app, &[("models", portrait), ("images", image)]).await;

    // Too many resources: refused, nothing written.
    let many: Vec<String> = (0..51).map(|i| format!("model:{i}")).collect();
    let response = app
        .file(json!({ "kind": "likeness", "email": "dana@example.net", "resources": many }))
        .await;
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["field"], "resources");

    let dana = "dana.vale@example.net";
    let (id, token) = file(
        &app,
        dana,
        json!([
            format!("{SITE}/models/{portrait}/dana-vale-portrait"),
            format!("model:{voice}"),
            format!("{SITE}/images/{image}"),
            format!("{SITE}/models/987654321"),
            "the one with my face in it",
            format!("model:{portrait}"),
        ]),
    )
    .await;
    let listings = looked_up(&app, &id, &staff).await;
    let states: Vec<(&str, &str)> = listings
        .iter()
        .map(|l| (l["given"].as_str().unwrap(), l["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        listings.len(),
        5,
        "the repeated listing is dropped: {states:?}"
    );
    assert_eq!(
        states.iter().map(|(_, s)| *s).collect::<Vec<_>>(),
        ["found", "found", "found", "not_found", "not_found"]
    );
    let listing = |n: usize| listings[n]["id"].as_str().unwrap().to_owned();

    // Evidence: by content, size-checked, only with the requester's token.
    assert_eq!(
        upload(&app, &id, None, b"%PDF-1.4".to_vec()).await.status(),
        401
    );
    for (bytes, status) in [
        (Vec::new(), 400),
        (b"just some text, not an image".to_vec(), 400),
        (
            b"GIF89a"
                .iter()
                .copied()
                .chain(std::iter::repeat_n(0u8, 100_000))
                .collect(),
            413,
        ),
    ] {
        let response = upload(&app, &id, Some(&token), bytes).await;
        assert_eq!(response.status(), status);
        if status == 400 {
            let error: Value = response.json().await.unwrap();
            assert_eq!(error["error"]["field"], "evidence");
        }
    }
    let pdf = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n".to_vec();
    let response = upload(&app, &id, Some(&token), pdf.clone()).await;
    assert_eq!(response.status(), 200);
    let view = app.staff_view(&id, &staff).await;
    assert_eq!(view["evidence"]["content_type"], "application/pdf");
    let link = view["evidence"]["download_url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        app.client
            .get(&link)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
            .to_vec(),
        pdf
    );

    // Decided one at a time: the portrait is unpublished at once.
    let bad = decide(
        &app,
        &id,
        &staff,
        json!([{ "resource": listing(3), "decision": "remove", "reason": "gone" }]),
    )
    .await;
    assert_eq!(bad.status(), 409, "not-found listings are not decided");
    let response = decide(&app, &id, &staff, json!([{ "resource": listing(0), "decision": "remove", "reason": "made to reproduce her likeness" }])).await;
    assert_eq!(response.status(), 200);
    let deadline = Instant::now() + Duration::from_secs(20);
    while published(&app, "models", portrait).await != "false" {
        assert!(
            Instant::now() < deadline,
            "the portrait model was never unpublished"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(app.staff_view(&id, &staff).await["status"], "verified");
    assert!(
        app.client
            .get(&link)
            .send()
            .await
            .unwrap()
            .status()
            .is_success(),
        "evidence stays until the last decision"
    );
    let again = decide(
        &app,
        &id,
        &staff,
        json!([{ "resource": listing(0), "decision": "keep", "reason": "changed my mind" }]),
    )
    .await;
    assert_eq!(again.status(), 409);
    let withdraw = app
        .cancel(&crate::helpers::Verified {
            id: id.clone(),
            token: token.clone(),
        })
        .await;
    assert_eq!(
        withdraw.status(),
        409,
        "a decided resource is no longer the requester's to withdraw"
    );

    let response = decide(
        &app,
        &id,
        &staff,
        json!([
            { "resource": listing(1), "decision": "keep", "reason": "a voice style, not her likeness" },
            { "resource": listing(2), "decision": "remove", "reason": "generated with the portrait model" },
        ]),
    )
    .await;
    assert_eq!(response.status(), 200);
    let done = app.wait_for_staff_status(&id, &staff, "completed").await;
    assert_eq!(
        done["result"],
        json!({ "removed": 2, "kept": 1, "already_removed": 0, "not_found": 2 })
    );
    assert!(
        done["evidence"]["deleted_at"].is_string() && done["evidence"]["download_url"].is_null()
    );
    assert!(
        !app.client
            .get(&link)
            .send()
            .await
            .unwrap()
            .status()
            .is_success(),
        "the evidence file is gone"
    );
    assert!(
        done["resources"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["given"].is_null())
    );

    assert_eq!(published(&app, "models", portrait).await, "false");
    assert_eq!(published(&app, "images", image).await, "false");
    assert_eq!(published(&app, "models", voice).await, "true");
    assert_eq!(published(&app, "models", body).await, "true");
    assert_eq!(
        digest(&app, &[("models", portrait), ("images", image)]).await,
        untouched,
        "nothing else changed"
    );

    let mail = app
        .mail_containing(dana, "We reviewed every resource")
        .await;
    assert!(
        mail.contains(&format!(
            "- removed: {SITE}/models/{portrait}/dana-vale-portrait"
        )),
        "{mail}"
    );
    assert!(
        mail.contains(&format!("- not removed: model:{voice}")),
        "{mail}"
    );
    assert!(
        mail.contains(&format!("- removed: {SITE}/images/{image}")),
        "{mail}"
    );
    assert!(
        mail.contains("- not removed: the one with my face in it"),
        "{mail}"
    );

    // After the hold (0 days here) the next sweep deletes exactly the removed files.
    app.sweep().await;
    for key in &portrait_files {
        assert!(!stored(&app, "platform-models", key).await, "{key} deleted");
    }
    assert!(!stored(&app, "platform-images", &image_key).await);
    for key in voice_files.iter().chain(&body_files) {
        assert!(stored(&app, "platform-models", key).await, "{key} kept");
    }
    assert_eq!(
        app.services
            .storage
            .list_prefix("platform-models", "")
            .await
            .unwrap()
            .len(),
        models_before - portrait_files.len()
    );
    assert_eq!(
        app.services
            .storage
            .list_prefix("platform-images", "")
            .await
            .unwrap()
            .len(),
        images_before - 1
    );
    let view = app.staff_view(&id, &staff).await;
    assert_eq!(
        view["resources"][0]["files_deleted"],
        portrait_files.len() as u64
    );
    assert_eq!(view["resources"][2]["files_deleted"], 1);
    // The embedded server has no versioning and is not asked (no error logged per probe).
    assert!(!crate::helpers::captured_logs().contains("GetBucketVersioning"));

    // Listed again by others: the removed one is recognised; a resource two open requests
    // list is decided once for both.
    let (second, _) = file(
        &app,
        "fan@example.net",
        json!([format!("model:{portrait}"), format!("model:{body}")]),
    )
    .await;
    let (third, _) = file(
        &app,
        "agent@example.net",
        json!([format!("{SITE}/models/{body}")]),
    )
    .await;
    let listings = looked_up(&app, &second, &staff).await;
    assert_eq!(listings[0]["state"], "already_removed");
    assert_eq!(listings[1]["state"], "found");
    let third_listings = looked_up(&app, &third, &staff).await;
    let response = decide(&app, &third, &staff, json!([{ "resource": third_listings[0]["id"], "decision": "remove", "reason": "her likeness" }])).await;
    assert_eq!(response.status(), 200);
    app.wait_for_staff_status(&third, &staff, "completed").await;
    let second_view = app
        .wait_for_staff_status(&second, &staff, "completed")
        .await;
    assert_eq!(second_view["resources"][1]["decided_with"], third.as_str());
    assert_eq!(
        second_view["result"],
        json!({ "removed": 1, "kept": 0, "already_removed": 1, "not_found": 0 })
    );
    assert_eq!(published(&app, "models", body).await, "false");
    let fan = app
        .mail_containing("fan@example.net", "We reviewed every resource")
        .await;
    assert!(
        fan.contains(&format!("- already removed: model:{portrait}")),
        "{fan}"
    );
    app.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_evidence_of_a_withdrawn_request_is_deleted_by_the_sweep() {
    let app = spawn_app_with(Options::default()).await;
    let staff = app.staff_token("likeness@lethe.test", Role::Viewer).await;
    let portrait = model(&app, "Dana Vale portrait LoRA").await;
    let (id, token) = file(
        &app,
        "dana@example.net",
        json!([format!("model:{portrait}")]),
    )
    .await;
    looked_up(&app, &id, &staff).await;
    let png = lethe::demo::png::gradient(8, 1);
    assert_eq!(upload(&app, &id, Some(&token), png).await.status(), 200);
    let link = app.staff_view(&id, &staff).await["evidence"]["download_url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        app.client
            .get(&link)
            .send()
            .await
            .unwrap()
            .status()
            .is_success()
    );
    let withdraw = app
        .cancel(&crate::helpers::Verified {
            id: id.clone(),
            token: token.clone(),
        })
        .await;
    assert_eq!(withdraw.status(), 200);
    app.sweep().await;
    let view = app.staff_view(&id, &staff).await;
    assert!(view["evidence"]["deleted_at"].is_string(), "{view}");
    assert!(
        !app.client
            .get(&link)
            .send()
            .await
            .unwrap()
            .status()
            .is_success()
    );
    assert_eq!(published(&app, "models", portrait).await, "true");
    app.teardown().await;
}
