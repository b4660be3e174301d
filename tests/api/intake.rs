//! Bad input at intake and verification: clear 4xx JSON errors naming the field, no
//! secrets echoed, nothing half-written.

use diesel::QueryableByName;
use diesel::sql_types::BigInt;
use diesel_async::{RunQueryDsl, SimpleAsyncConnection};
use serde_json::{Value, json};

use crate::helpers::{Options, spawn_app, spawn_app_with};

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

async fn count(app: &crate::helpers::TestApp, sql: &str) -> i64 {
    let row: Count = diesel::sql_query(sql)
        .get_result(&mut app.service_db().await)
        .await
        .unwrap();
    row.n
}

async fn error_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.expect("errors are JSON");
    (status, body["error"].clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_or_invalid_intake_gets_a_clear_error_and_writes_nothing() {
    let app = spawn_app().await;
    let url = format!("{}/v1/requests", app.address);

    let raw = |body: &'static str| {
        app.client
            .post(&url)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let (status, error) = error_of(raw("{\"kind\": \"access\", ").await.unwrap()).await;
    assert_eq!(
        (status, error["code"].as_str()),
        (400, Some("malformed_body"))
    );

    let (status, error) = error_of(
        app.file(json!({ "kind": "erase-everything", "email": "a@example.com" }))
            .await,
    )
    .await;
    assert_eq!((status, error["field"].as_str()), (400, Some("kind")));
    assert!(
        !error["message"]
            .as_str()
            .unwrap()
            .contains("erase-everything"),
        "input is not echoed"
    );

    for bad in ["not-an-email", "a@b", "", "x@@example.com"] {
        let (status, error) =
            error_of(app.file(json!({ "kind": "access", "email": bad })).await).await;
        assert_eq!(
            (status, error["field"].as_str()),
            (400, Some("email")),
            "{bad:?}"
        );
    }
    let (status, error) = error_of(app.file(json!({ "kind": "access" })).await).await;
    assert_eq!((status, error["field"].as_str()), (400, Some("email")));

    let (status, error) = error_of(
        app.file(json!({ "kind": "access", "email": "a@example.com", "<script>admin": true }))
            .await,
    )
    .await;
    assert_eq!(
        (status, error["code"].as_str()),
        (400, Some("malformed_body"))
    );
    let message = error["message"].as_str().unwrap();
    assert!(
        !message.contains("admin") && !message.contains("<script>"),
        "the client's field name is not echoed: {message}"
    );
    assert!(
        message.contains("kind") && message.contains("email") && message.contains("assertion"),
        "the allowed fields are listed: {message}"
    );

    let huge = json!({ "kind": "access", "email": format!("{}@example.com", "a".repeat(600_000)) });
    let (status, error) = error_of(app.file(huge).await).await;
    assert_eq!(
        (status, error["code"].as_str()),
        (413, Some("payload_too_large"))
    );

    let response = app
        .client
        .post(&url)
        .header("content-type", "text/plain")
        .body("kind=access")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);

    assert_eq!(
        count(&app, "SELECT count(*) AS n FROM requests").await,
        0,
        "nothing was filed"
    );
    assert_eq!(
        count(&app, "SELECT count(*) AS n FROM audit_log").await,
        0,
        "nothing was audited"
    );
    assert!(
        app.mails_to("a@example.com").await.is_empty(),
        "nothing was mailed"
    );
    app.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_or_foreign_requests_answer_404_and_a_missing_token_401() {
    let app = spawn_app().await;
    let mine = app.file_and_verify("mine@example.com").await;
    let theirs = app.file_and_verify("theirs@example.com").await;

    assert_eq!(app.show(&mine.id, &mine.token).await.status(), 200);
    assert_eq!(
        app.show(&theirs.id, &mine.token).await.status(),
        404,
        "another requester's id with my token"
    );
    assert_eq!(
        app.show(&uuid::Uuid::now_v7().to_string(), &mine.token)
            .await
            .status(),
        404
    );
    assert_eq!(app.show("not-a-uuid", &mine.token).await.status(), 404);
    let response = app
        .client
        .get(format!("{}/v1/requests/{}", app.address, mine.id))
        .send()
        .await
        .unwrap();
    let (status, error) = error_of(response).await;
    assert_eq!(
        (status, error["code"].as_str()),
        (401, Some("unauthorized"))
    );
    let (status, _) = error_of(
        app.verify(&uuid::Uuid::now_v7().to_string(), "12345678")
            .await,
    )
    .await;
    assert_eq!(status, 404);
    let response = app
        .client
        .get(format!("{}/v1/nothing-here", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(response).await.0, 404);
    app.wait_for_status(&mine.id, &mine.token, "completed")
        .await;
    app.wait_for_status(&theirs.id, &theirs.token, "completed")
        .await;
    app.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_codes_count_down_then_lock_and_expired_codes_are_refused() {
    let app = spawn_app().await;
    let email = "guesser@example.com";
    let filed: Value = app
        .file(json!({ "kind": "access", "email": email }))
        .await
        .json()
        .await
        .unwrap();
    let id = filed["id"].as_str().unwrap();
    let code = app.latest_code(email).await;
    let wrong = if code == "00000000" {
        "11111111"
    } else {
        "00000000"
    };

    let (status, error) = error_of(app.verify(id, "12ab").await).await;
    assert_eq!(
        (status, error["field"].as_str()),
        (400, Some("code")),
        "malformed codes spend no attempt"
    );
    for left in (0..5).rev() {
        let (status, error) = error_of(app.verify(id, wrong).await).await;
        assert_eq!(
            (
                status,
                error["code"].as_str(),
                error["attempts_left"].as_i64()
            ),
            (400, Some("wrong_code"), Some(left))
        );
        assert!(
            !error.to_string().contains(&code),
            "the right code is never revealed"
        );
    }
    let (status, error) = error_of(app.verify(id, &code).await).await;
    assert_eq!(
        (status, error["code"].as_str()),
        (429, Some("too_many_attempts")),
        "even the right code, once locked"
    );

    // Filing again is a new filing with a new code; an expired code does not work.
    let again: Value = app
        .file(json!({ "kind": "access", "email": email }))
        .await
        .json()
        .await
        .unwrap();
    let again_id = again["id"].as_str().unwrap();
    assert_ne!(again_id, id);
    let code = app.latest_code(email).await;
    app.service_db()
        .await
        .batch_execute("UPDATE verification_codes SET expires_at = now() - interval '1 second'")
        .await
        .unwrap();
    let (status, error) = error_of(app.verify(again_id, &code).await).await;
    assert_eq!(
        (status, error["code"].as_str()),
        (400, Some("code_expired"))
    );
    let waiting = count(
        &app,
        "SELECT count(*) AS n FROM requests WHERE status = 'pending_verification'",
    )
    .await;
    assert_eq!(waiting, 2, "both filings still wait, nothing lost");
    app.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intake_is_rate_limited_per_email_with_retry_after() {
    let app = spawn_app_with(Options {
        tweak: Box::new(|s| {
            s.rate_limit.intake_per_client_email_per_hour = 2;
        }),
        ..Default::default()
    })
    .await;
    for _ in 0..2 {
        assert_eq!(
            app.file(json!({ "kind": "access", "email": "busy@example.com" }))
                .await
                .status(),
            202
        );
    }
    let response = app
        .file(json!({ "kind": "access", "email": "BUSY@example.com" }))
        .await;
    assert_eq!(response.status(), 429);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after > 0 && retry_after <= 3600);
    let (_, error) = error_of(response).await;
    assert_eq!(error["code"], "rate_limited");
    assert_eq!(
        app.file(json!({ "kind": "access", "email": "calm@example.com" }))
            .await
            .status(),
        202,
        "others unaffected"
    );
    app.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intake_is_rate_limited_per_client_address() {
    let app = spawn_app_with(Options {
        tweak: Box::new(|s| {
            s.rate_limit.intake_per_ip_per_minute = 3;
        }),
        ..Default::default()
    })
    .await;
    for i in 0..3 {
        assert_eq!(
            app.file(json!({ "kind": "access", "email": format!("p{i}@example.com") }))
                .await
                .status(),
            202
        );
    }
    let response = app
        .file(json!({ "kind": "access", "email": "p9@example.com" }))
        .await;
    assert_eq!(response.status(), 429);
    assert!(response.headers().contains_key("retry-after"));
    app.teardown().await;
}
