//! Liveness, readiness and the OpenAPI document.

use serde_json::Value;

use crate::helpers::spawn_app;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_readiness_and_the_openapi_document_are_served() {
    let app = spawn_app().await;
    let get = |path: &'static str| app.client.get(format!("{}{path}", app.address)).send();
    assert_eq!(get("/healthz").await.unwrap().status(), 200);
    let ready: Value = get("/readyz").await.unwrap().json().await.unwrap();
    assert_eq!(
        ready,
        serde_json::json!({ "database": true, "object_storage": true })
    );
    let doc: Value = get("/v1/openapi.json").await.unwrap().json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/v1/requests",
        "/v1/requests/{id}/verify",
        "/v1/requests/{id}",
        "/healthz",
        "/readyz",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} documented");
    }
    assert!(doc["components"]["schemas"].get("ErrorBody").is_some());
    app.teardown().await;
}
