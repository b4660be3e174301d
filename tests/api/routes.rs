//! Every route as an attacker meets it: staff routes refuse (401 before anything else,
//! 403 for too small a role) whatever the body or path, free text cannot carry a NUL into
//! the database, answers with tokens or links are never cached, staff tokens expire, and a
//! client that stalls mid-body is cut off.

use std::time::Duration;

use lethe::domain::Role;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{Options, TestApp, spawn_app, spawn_app_with};

/// Every documented (method, path) of the API, path parameters filled with `id`.
async fn documented(app: &TestApp, id: &str) -> Vec<(reqwest::Method, String)> {
    let doc: Value = app
        .client
        .get(format!("{}/v1/openapi.json", app.address))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut routes = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            routes.push((method, path.replace("{id}", id)));
        }
    }
    routes
}

async fn call(
    app: &TestApp,
    method: &reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> reqwest::Response {
    let mut request = app
        .client
        .request(
            method.clone(),
            format!("{}{path}?status=%00&bogus=1", app.address),
        )
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_staff_route_refuses_without_credentials_with_a_requester_token_and_with_too_low_a_role()
 {
    let app = spawn_app().await;
    let requester = app.file_and_verify("walker@example.com").await;
    let viewer = app.staff_token("viewer@lethe.test", Role::Viewer).await;
    let reviewer = app.staff_token("reviewer@lethe.test", Role::Reviewer).await;
    let routes = documented(&app, &requester.id).await;
    let staff_routes: Vec<_> = routes
        .iter()
        .filter(|(method, path)| {
            path.starts_with("/v1/staff/")
                && !(method == reqwest::Method::POST && path == "/v1/staff/tokens")
        })
        .collect();
    assert!(staff_routes.len() >= 7, "{staff_routes:?}");
    let mut walked = 0;
    for (method, path) in &staff_routes {
        // Bodies that would fail validation: authentication must answer first.
        for body in ["", "{not json", "{\"reason\": \"\\u0000\", \"extra\": 1}"] {
            for token in [None, Some(requester.token.as_str()), Some("lst_forged")] {
                let response = call(&app, method, path, token, body).await;
                assert_eq!(
                    response.status(),
                    401,
                    "{method} {path} with {token:?} and body {body:?}"
                );
                let error: Value = response.json().await.unwrap();
                assert_eq!(error["error"]["code"], "unauthorized");
            }
            if *method != reqwest::Method::GET {
                let response = call(&app, method, path, Some(&viewer), body).await;
                assert_eq!(response.status(), 403, "{method} {path} as a viewer");
            }
        }
        // With the right role the gate lets the call through to the handler.
        let token = if *method == reqwest::Method::GET {
            &viewer
        } else {
            &reviewer
        };
        let through = call(&app, method, path, Some(token), "{}").await.status();
        assert!(
            ![401, 403].contains(&through.as_u16()),
            "{method} {path} refused a member with the right role: {through}"
        );
        walked += 1;
    }
    assert_eq!(walked, staff_routes.len());
    // Paths no route serves, or spelled to slip past a prefix check, are gated too.
    for path in [
        "/v1/staff/not-a-route",
        "/v1/%73taff/requests",
        "/v1/staff/requests/",
        "/v1/staff/tokens/x",
    ] {
        let response = app
            .client
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert!(
            [401, 404].contains(&response.status().as_u16()),
            "{path}: {}",
            response.status()
        );
        assert_ne!(response.status(), 200);
    }
    let sneaky = app
        .client
        .get(format!("{}/v1/%73taff/requests", app.address))
        .bearer_auth(&requester.token)
        .send()
        .await
        .unwrap();
    assert!(
        [401, 404].contains(&sneaky.status().as_u16()),
        "an encoded path is no way around the gate"
    );
    app.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_text_refuses_control_characters_and_answers_are_never_cached() {
    let app = spawn_app().await;
    let reviewer = app.staff_token("reviewer@lethe.test", Role::Reviewer).await;
    let requester = app.file_deletion("nul@example.com").await;
    for reason in ["legal\u{0}hold", "a\u{7}b", "  "] {
        let response = app
            .staff_post(
                &format!("/v1/staff/requests/{}/deny", requester.id),
                &reviewer,
                json!({ "reason": reason }),
            )
            .await;
        assert_eq!(response.status(), 400, "{reason:?}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["field"], "reason");
    }
    app.staff_token("signer@lethe.test", Role::Viewer).await;
    let response = app
        .client
        .post(format!("{}/v1/staff/tokens", app.address))
        .json(&json!({ "email": "signer@lethe.test", "password": "correct horse battery staple", "name": "laptop\u{0}" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["field"], "name");

    // Tokens and links: no-store on filing, verifying, viewing and signing in.
    let filed = app
        .file(json!({ "kind": "access", "email": "cache@example.com" }))
        .await;
    let no_store = |r: &reqwest::Response| {
        r.headers()
            .get("cache-control")
            .is_some_and(|v| v.to_str().unwrap().contains("no-store"))
    };
    assert!(no_store(&filed));
    let filed: Value = filed.json().await.unwrap();
    let verified = app
        .verify(
            filed["id"].as_str().unwrap(),
            &app.latest_code("cache@example.com").await,
        )
        .await;
    assert!(no_store(&verified));
    let verified: Value = verified.json().await.unwrap();
    let token = verified["token"].as_str().unwrap();
    app.saw(token);
    let view = app
        .wait_for_status(filed["id"].as_str().unwrap(), token, "completed")
        .await;
    assert!(view["export"]["download_url"].is_string());
    assert!(no_store(
        &app.show(filed["id"].as_str().unwrap(), token).await
    ));
    let signed_in = app
        .client
        .post(format!("{}/v1/staff/tokens", app.address))
        .json(&json!({ "email": "signer@lethe.test", "password": "correct horse battery staple" }))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 201);
    assert!(no_store(&signed_in));
    let issued: Value = signed_in.json().await.unwrap();
    app.saw(issued["token"].as_str().unwrap());
    app.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_tokens_expire() {
    let app = spawn_app_with(Options {
        tweak: Box::new(|s| s.security.staff_token_ttl_hours = 1),
        ..Default::default()
    })
    .await;
    let token = app.staff_token("brief@lethe.test", Role::Viewer).await;
    let list = |token: String| {
        let app = &app;
        async move {
            app.client
                .get(format!("{}/v1/staff/requests", app.address))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(list(token.clone()).await, 200);
    let issued: Value = app
        .client
        .post(format!("{}/v1/staff/tokens", app.address))
        .json(&json!({ "email": "brief@lethe.test", "password": "correct horse battery staple" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    app.saw(issued["token"].as_str().unwrap());
    let expires: chrono::DateTime<chrono::Utc> =
        issued["expires_at"].as_str().unwrap().parse().unwrap();
    let left = expires - chrono::Utc::now();
    assert!(
        left > chrono::Duration::minutes(59) && left <= chrono::Duration::hours(1),
        "{left}"
    );
    // An hour later (moved in the database) neither works.
    diesel_async::SimpleAsyncConnection::batch_execute(
        &mut app.service_db().await,
        "UPDATE staff_tokens SET expires_at = now() - interval '1 second'",
    )
    .await
    .unwrap();
    assert_eq!(list(token).await, 401);
    assert_eq!(
        list(issued["token"].as_str().unwrap().to_owned()).await,
        401
    );
    app.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stalls_mid_body_gets_408_and_is_disconnected() {
    let app = spawn_app_with(Options {
        tweak: Box::new(|s| s.server.request_timeout_seconds = 2),
        ..Default::default()
    })
    .await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let mut socket = tokio::net::TcpStream::connect(&address).await.unwrap();
    let body = r#"{"kind": "access", "email": "slow@example.com"}"#;
    let head = format!(
        "POST /v1/requests HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    socket.write_all(&body.as_bytes()[..10]).await.unwrap();
    // Then nothing: the server must answer and close within its deadline.
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(15), socket.read_to_end(&mut answer))
        .await
        .expect("the server closed the stalled connection");
    read.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
    assert!(
        app.mails_to("slow@example.com").await.is_empty(),
        "nothing was filed"
    );
    app.teardown().await;
}
