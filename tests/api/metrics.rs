//! The Prometheus endpoint on `metrics.listen`: request counts by kind and status, the
//! deadline clocks, queue depth, job durations and purge volumes.

use serde_json::json;

use crate::helpers::{Options, spawn_app_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_jobs_and_deadlines_on_the_internal_address() {
    let app = spawn_app_with(Options {
        tweak: Box::new(|s| s.metrics.listen = "127.0.0.1:0".into()),
        ..Default::default()
    })
    .await;
    let port = app.metrics_port().expect("a metrics endpoint");
    let request = app.file_and_verify("counted.person@example.com").await;
    app.wait_for_status(&request.id, &request.token, "completed")
        .await;
    let pending = app
        .file(json!({ "kind": "deletion", "email": "waiting.person@example.com" }))
        .await;
    assert_eq!(pending.status(), 202);

    let response = app
        .client
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    let value = |series: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
            .unwrap_or_else(|| panic!("no {series} in\n{text}"))
            .rsplit(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert_eq!(
        value(r#"lethe_requests{kind="access",status="completed"}"#),
        1.0
    );
    assert_eq!(
        value(r#"lethe_requests{kind="deletion",status="pending_verification"}"#),
        1.0
    );
    assert_eq!(value(r#"lethe_requests_overdue{kind="deletion"}"#), 0.0);
    let next_due = value(r#"lethe_requests_next_due_seconds{kind="deletion"}"#);
    assert!(next_due > 20.0 * 86_400.0, "a month away: {next_due}");
    assert!(value(r#"lethe_job_duration_seconds_count{job="export"}"#) >= 1.0);
    assert!(
        text.contains(r#"lethe_queue_jobs{state="pending"}"#),
        "{text}"
    );
    assert!(text.contains("lethe_audit_unsealed"), "{text}");
    assert!(!text.contains("@example.com"), "no address in the metrics");
    // Not on the API's address.
    let api = app
        .client
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 404);
    app.teardown().await;
}
