//! Signed-in platform users skip the emailed code with a signed assertion.

use jsonwebtoken::{EncodingKey, Header, encode};
use serde_json::{Value, json};

use crate::helpers::{Options, spawn_app_with};

const SECRET: &str = "platform-shared-secret-platform-shared-secret";

fn assertion(claims: Value, secret: &str) -> String {
    encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

async fn app() -> crate::helpers::TestApp {
    spawn_app_with(Options {
        tweak: Box::new(|s| {
            s.security.platform_assertion_secret = secrecy::SecretString::from(SECRET)
        }),
        ..Default::default()
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_valid_platform_assertion_skips_the_code_and_exports_that_user() {
    let app = app().await;
    let token = assertion(
        json!({ "sub": "7", "aud": "lethe", "iat": now(), "exp": now() + 120 }),
        SECRET,
    );
    let response = app
        .file(json!({ "kind": "access", "assertion": token }))
        .await;
    assert_eq!(response.status(), 202);
    let filed: Value = response.json().await.unwrap();
    assert_eq!(filed["verification"], "done");
    assert_eq!(filed["status"], "approved");
    let id = filed["id"].as_str().unwrap();
    let requester_token = filed["token"].as_str().unwrap();
    let view = app.wait_for_status(id, requester_token, "completed").await;
    let bytes = app
        .client
        .get(view["export"]["download_url"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let users: Vec<Value> =
        serde_json::from_reader(zip.by_name("data/account/users.json").unwrap()).unwrap();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0]["id"], 7);
    assert!(
        app.mails_to(users[0]["email"].as_str().unwrap())
            .await
            .is_empty(),
        "no code was mailed"
    );
    app.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_foreign_or_forged_assertions_are_refused() {
    let app = app().await;
    let cases = [
        (
            "expired",
            assertion(
                json!({ "sub": "7", "aud": "lethe", "iat": now() - 600, "exp": now() - 300 }),
                SECRET,
            ),
        ),
        (
            "wrong audience",
            assertion(
                json!({ "sub": "7", "aud": "someone-else", "iat": now(), "exp": now() + 60 }),
                SECRET,
            ),
        ),
        (
            "forged",
            assertion(
                json!({ "sub": "7", "aud": "lethe", "iat": now(), "exp": now() + 60 }),
                "not-the-secret-not-the-secret",
            ),
        ),
        (
            "too long-lived",
            assertion(
                json!({ "sub": "7", "aud": "lethe", "iat": now(), "exp": now() + 86_400 }),
                SECRET,
            ),
        ),
        (
            "no subject",
            assertion(
                json!({ "aud": "lethe", "iat": now(), "exp": now() + 60 }),
                SECRET,
            ),
        ),
        (
            "issued a year ahead",
            assertion(
                json!({ "sub": "7", "aud": "lethe", "iat": now() + 31_536_000, "exp": now() + 31_536_060 }),
                SECRET,
            ),
        ),
        (
            "expires before it was issued",
            assertion(
                json!({ "sub": "7", "aud": "lethe", "iat": now() + 20, "exp": now() + 10 }),
                SECRET,
            ),
        ),
        (
            "not valid yet",
            assertion(
                json!({ "sub": "7", "aud": "lethe", "iat": now(), "nbf": now() + 120, "exp": now() + 240 }),
                SECRET,
            ),
        ),
        ("garbage", "not.a.jwt".to_owned()),
    ];
    for (what, token) in cases {
        let response = app
            .file(json!({ "kind": "access", "assertion": token }))
            .await;
        assert_eq!(response.status(), 401, "{what}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_assertion", "{what}");
        assert_eq!(body["error"]["field"], "assertion", "{what}");
    }
    app.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_assertion_works_once_and_a_replay_cannot_take_over_the_request() {
    let app = app().await;
    let token = assertion(
        json!({ "sub": "8", "aud": "lethe", "iat": now(), "exp": now() + 120 }),
        SECRET,
    );
    let first = app
        .file(json!({ "kind": "deletion", "assertion": token }))
        .await;
    assert_eq!(first.status(), 202);
    let first: Value = first.json().await.unwrap();
    let replay = app
        .file(json!({ "kind": "deletion", "assertion": token }))
        .await;
    assert_eq!(replay.status(), 401);
    let body: Value = replay.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_assertion");
    assert!(body.get("token").is_none() && body["error"].get("token").is_none());
    // The first requester's token still works: the replay did not rotate it.
    let view = app
        .show(
            first["id"].as_str().unwrap(),
            first["token"].as_str().unwrap(),
        )
        .await;
    assert_eq!(view.status(), 200);
    app.teardown().await;
}
