//! Who may approve a deletion: staff roles, the two-person rule, and the requester's
//! cancellation during the grace period.

use diesel_async::SimpleAsyncConnection;
use lethe::domain::Role;
use serde_json::{Value, json};

use crate::helpers::{Options, spawn_app_with};

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
