//! The staff console in a real browser: two reviewers approve a deletion under the
//! two-person rule after a dry run, a child report is confirmed, a likeness request is
//! decided per resource, and a `<script>` typed by a requester is shown as text.

use std::time::Duration;

use lethe::domain::Role;
use serde_json::json;

use crate::browser::Browser;
use crate::helpers::{Options, TestApp, spawn_app, spawn_app_with};

/// The password `TestApp::staff_token` gives the accounts it makes.
pub(crate) const PASSWORD: &str = "correct horse battery staple";

/// Signs `email` in through the sign-in page.
pub(crate) async fn sign_in(app: &TestApp, browser: &mut Browser, email: &str) {
    browser
        .open(&format!("{}/console/sign-in", app.address), "sign-in")
        .await;
    browser.fill("#email", email).await;
    browser.fill("#password", PASSWORD).await;
    browser.click("button[type=submit]", "signed-in").await;
    assert_eq!(
        browser.path().await,
        "/console",
        "{}",
        browser.main_text().await
    );
}

async fn sign_out(browser: &mut Browser) {
    browser
        .click("form[action='/console/sign-out'] button", "signed-out")
        .await;
    assert!(browser.path().await.starts_with("/console/sign-in"));
}

/// Opens a request's page from the queue's search box.
async fn open_request(app: &TestApp, browser: &mut Browser, id: &str) {
    browser
        .open(&format!("{}/console/requests", app.address), "queue")
        .await;
    browser.fill("#q", id).await;
    browser.click("form[role=search] button", "request").await;
    assert_eq!(browser.path().await, format!("/console/requests/{id}"));
}

/// Clicks the button of the form posting to `action` on the request page.
async fn act(browser: &mut Browser, action: &str) {
    browser
        .click(&format!("form[action$='/{action}'] button"), action)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_reviewers_approve_a_deletion_after_a_dry_run_in_the_console() {
    let app = spawn_app_with(Options {
        tweak: Box::new(|s| s.requests.deletion_two_person_rule = true),
        ..Default::default()
    })
    .await;
    let subject = crate::deletion::heavy_subject(&mut app.platform_db().await).await;
    let request = app.file_deletion(&subject.email).await;
    let first = app
        .staff_token("first.reviewer@lethe.test", Role::Reviewer)
        .await;
    app.staff_token("second.reviewer@lethe.test", Role::Reviewer)
        .await;
    let mut browser = Browser::start("two-person").await;

    sign_in(&app, &mut browser, "first.reviewer@lethe.test").await;
    let dashboard = browser.main_text().await;
    assert!(dashboard.contains("Requests by status"), "{dashboard}");
    open_request(&app, &mut browser, &request.id).await;
    assert!(
        browser.main_text().await.contains(&subject.email),
        "the proved address is shown"
    );
    act(&mut browser, "dry-run").await;
    assert!(browser.main_text().await.contains("Dry run queued"));
    let text = browser.reload_until("approvable", "dry-run-done").await;
    assert!(text.contains("Rows per table"), "{text}");
    assert!(text.contains("Objects per bucket"), "{text}");
    // More time, with a reason the requester is mailed.
    let due_before = app.staff_view(&request.id, &first).await["due_at"].clone();
    browser
        .fill("#extend_reason", "the account spans <three> systems")
        .await;
    act(&mut browser, "extend").await;
    let text = browser.main_text().await;
    assert!(text.contains("The deadline is extended"), "{text}");
    assert!(text.contains("the account spans <three> systems"), "{text}");
    assert_ne!(
        app.staff_view(&request.id, &first).await["due_at"],
        due_before
    );
    app.mail_settled().await;
    assert!(
        app.mails_to(&subject.email)
            .await
            .iter()
            .any(|m| m.contains("the account spans <three> systems")),
        "the requester is mailed the reason"
    );
    act(&mut browser, "approve").await;
    assert!(browser.main_text().await.contains("Approval recorded"));
    assert_eq!(
        app.staff_view(&request.id, &first).await["status"],
        "verified",
        "one approval is not enough"
    );
    // The same reviewer cannot be the second person.
    act(&mut browser, "approve").await;
    let refused = browser.main_text().await;
    assert!(
        browser
            .find("#action-error")
            .await
            .text()
            .await
            .unwrap()
            .len()
            > 10,
        "{refused}"
    );
    assert_eq!(
        app.staff_view(&request.id, &first).await["status"],
        "verified"
    );
    sign_out(&mut browser).await;

    sign_in(&app, &mut browser, "second.reviewer@lethe.test").await;
    open_request(&app, &mut browser, &request.id).await;
    act(&mut browser, "approve").await;
    let view = app.staff_view(&request.id, &first).await;
    assert_eq!(view["status"], "approved", "{view}");
    assert_eq!(view["decisions"].as_array().unwrap().len(), 2);
    let text = browser.main_text().await;
    assert!(text.contains("approved"), "{text}");
    browser.close().await;
    app.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_report_is_confirmed_from_the_console_and_script_shows_as_text() {
    let app = spawn_app().await;
    let (id, _) = crate::child_report::report(
        &app,
        "worried.parent@example.net",
        json!({ "account": crate::child_report::KID, "relationship": "parent_guardian",
                "details": "<script>document.title='owned'</script> she is nine" }),
    )
    .await;
    let staff = app
        .staff_token("child.reviewer@lethe.test", Role::Reviewer)
        .await;
    let mut browser = Browser::start("child-report").await;
    sign_in(&app, &mut browser, "child.reviewer@lethe.test").await;
    // Child reports come first in the queue.
    browser
        .open(&format!("{}/console/requests", app.address), "queue")
        .await;
    let first_row = browser
        .find("tbody tr td:nth-child(2)")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(first_row, "child report");
    open_request(&app, &mut browser, &id).await;
    let details = browser.find("pre").await.text().await.unwrap();
    assert!(
        details.contains("<script>document.title='owned'</script>"),
        "shown as text: {details}"
    );
    let title = browser.client.title().await.unwrap();
    assert_ne!(title, "owned", "the script never ran");
    act(&mut browser, "dry-run").await;
    browser.reload_until("approvable", "dry-run-done").await;
    // Without a reason the confirmation is refused beside its field.
    act(&mut browser, "confirm").await;
    let error = browser
        .find("#confirm_reason-error")
        .await
        .text()
        .await
        .unwrap();
    assert!(error.contains("reason"), "{error}");
    browser
        .fill("#confirm_reason", "profile says 9, confirmed by photo")
        .await;
    act(&mut browser, "confirm").await;
    assert!(
        browser
            .main_text()
            .await
            .contains("The report is confirmed")
    );
    let view = app.wait_for_staff_status(&id, &staff, "completed").await;
    assert_eq!(view["kind"], "child_report");
    browser.close().await;
    app.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_likeness_request_is_decided_per_resource_in_the_console() {
    let app = spawn_app().await;
    let portrait = crate::likeness::model(&app, "Dana Vale portrait LoRA").await;
    let voice = crate::likeness::model(&app, "Dana Vale voice-style LoRA").await;
    let site = crate::likeness::SITE;
    let (id, _) = crate::likeness::file(
        &app,
        "dana@example.net",
        json!([
            format!("{site}/models/{portrait}"),
            format!("{site}/models/{voice}")
        ]),
    )
    .await;
    let staff = app
        .staff_token("likeness.reviewer@lethe.test", Role::Reviewer)
        .await;
    let listings = crate::likeness::looked_up(&app, &id, &staff).await;
    assert!(
        listings.iter().all(|l| l["state"] == "found"),
        "{listings:?}"
    );
    let mut browser = Browser::start("likeness").await;
    sign_in(&app, &mut browser, "likeness.reviewer@lethe.test").await;
    open_request(&app, &mut browser, &id).await;
    browser.click("#d0-remove", "remove-chosen").await;
    browser
        .fill("#d0-reason", "portrait of the requester")
        .await;
    browser.click("#d1-keep", "keep-chosen").await;
    browser
        .fill("#d1-reason", "style only, not a likeness")
        .await;
    act(&mut browser, "resources").await;
    assert!(browser.main_text().await.contains("Decisions recorded"));
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        if crate::likeness::published(&app, "models", portrait).await == "false" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the portrait was never unpublished"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        crate::likeness::published(&app, "models", voice).await,
        "true",
        "kept"
    );
    let view = app.staff_view(&id, &staff).await;
    let decided: Vec<_> = view["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["decision"].clone())
        .collect();
    assert_eq!(decided, [json!("remove"), json!("keep")]);
    browser.close().await;
    app.teardown().await;
}
