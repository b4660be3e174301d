//! The privacy center in a real browser (headless Chromium over WebDriver) against the
//! real app: filing, the code step, the status page, download, cancel during the grace
//! period, keyboard-only use, errors beside their field, and cross-site posts refused.

use std::time::Duration;

use diesel::QueryableByName;
use diesel::sql_types::BigInt;
use diesel_async::RunQueryDsl;
use fantoccini::key::Key;
use lethe::domain::Role;
use serde_json::json;

use crate::browser::Browser;
use crate::helpers::{TestApp, spawn_app};

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

async fn requests_filed(app: &TestApp) -> i64 {
    diesel::sql_query("SELECT count(*) AS n FROM requests")
        .get_result::<Count>(&mut app.service_db().await)
        .await
        .unwrap()
        .n
}

/// Files `kind` for `email` through the pages and enters the mailed code; returns the
/// request id (from the status page's address).
async fn file_on_the_web(app: &TestApp, browser: &mut Browser, kind: &str, email: &str) -> String {
    browser
        .open(&format!("{}/privacy", app.address), "start")
        .await;
    browser
        .click(&format!("a[href='/privacy/new/{kind}']"), "form")
        .await;
    browser.fill("#email", email).await;
    browser.click("button[type=submit]", "code-step").await;
    assert!(
        browser.path().await.ends_with("/code"),
        "{}",
        browser.path().await
    );
    app.mail_settled().await;
    let code = app.latest_code(email).await;
    browser.fill("#code", &code).await;
    browser.click("button[type=submit]", "status").await;
    let path = browser.path().await;
    let id = path
        .strip_prefix("/privacy/requests/")
        .unwrap_or_else(|| panic!("not on a status page: {path}"))
        .to_owned();
    assert!(!path.contains('?'), "no token in the address: {path}");
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_requester_files_an_access_request_types_the_code_and_downloads_the_export() {
    let app = spawn_app().await;
    let mut browser = Browser::start("access").await;
    let email = "web.access@example.com";
    let id = file_on_the_web(&app, &mut browser, "access", email).await;
    let text = browser.main_text().await;
    assert!(text.contains("Get a copy of my data"), "{text}");
    assert!(
        text.contains("We answer by"),
        "the due date is shown: {text}"
    );

    browser.reload_until("Your data is ready", "ready").await;
    browser.click("a.button", "download-page").await;
    assert_eq!(
        browser.path().await,
        format!("/privacy/requests/{id}/download")
    );
    let link = browser
        .find("a[download]")
        .await
        .attr("href")
        .await
        .unwrap()
        .expect("a download link");
    let archive = reqwest::get(&link).await.unwrap();
    assert_eq!(archive.status(), 200);
    let bytes = archive.bytes().await.unwrap();
    assert!(bytes.starts_with(b"PK"), "a ZIP file");
    let zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    assert!(zip.len() > 1, "the archive holds the person's data");

    // Staff see the export too, through a short link.
    let viewer = app
        .staff_token("export.viewer@lethe.test", Role::Viewer)
        .await;
    let view = app.staff_view(&id, &viewer).await;
    assert_eq!(view["export"]["expired"], false, "{view}");
    let staff_link = view["export"]["download_url"].as_str().expect("a link");
    let staff_copy = reqwest::get(staff_link).await.unwrap();
    assert_eq!(staff_copy.status(), 200);
    assert!(staff_copy.bytes().await.unwrap().starts_with(b"PK"));

    // The session is this browser's only: another client sees nothing of the request.
    let stranger = app
        .client
        .get(format!("{}/privacy/requests/{id}", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(stranger.status(), 401);
    let page = stranger.text().await.unwrap();
    assert!(page.contains("Your session has ended"), "{page}");
    assert!(!page.contains(email));
    browser.close().await;
    app.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deletion_is_cancelled_from_its_page_during_the_grace_period() {
    let app = spawn_app().await;
    let mut browser = Browser::start("deletion-cancel").await;
    let email = crate::deletion::heavy_subject(&mut app.platform_db().await)
        .await
        .email;
    let id = file_on_the_web(&app, &mut browser, "deletion", &email).await;
    assert!(browser.main_text().await.contains("waiting for review"));

    let reviewer = app
        .staff_token("web.reviewer@lethe.test", Role::Reviewer)
        .await;
    let dry = app.dry_run(&id, &reviewer).await;
    assert_eq!(dry["status"], "done", "{dry}");
    let approved = app
        .staff_post(
            &format!("/v1/staff/requests/{id}/approve"),
            &reviewer,
            json!({}),
        )
        .await;
    assert_eq!(approved.status(), 200);

    browser.client.refresh().await.unwrap();
    let text = browser.reload_until("waiting period", "grace").await;
    assert!(text.contains("Deletion starts"), "{text}");
    browser
        .click("form[action$='/cancel'] button", "cancelled")
        .await;
    assert_eq!(
        browser.path().await,
        format!("/privacy/requests/{id}?done=cancelled")
    );
    let text = browser.main_text().await;
    assert!(text.contains("Your request is cancelled"), "{text}");
    let view = app.staff_view(&id, &reviewer).await;
    assert_eq!(view["status"], "cancelled");
    // Nothing was deleted.
    let subject = crate::deletion::heavy_subject(&mut app.platform_db().await).await;
    assert_eq!(subject.email, email);
    browser.close().await;
    app.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_access_form_can_be_completed_with_the_keyboard_alone() {
    let app = spawn_app().await;
    let mut browser = Browser::start("keyboard").await;
    browser
        .open(&format!("{}/privacy/new/access", app.address), "form")
        .await;
    let tab = || char::from(Key::Tab).to_string();
    let body = browser.find("body").await;
    let mut order = Vec::new();
    for _ in 0..4 {
        body.send_keys(&tab()).await.unwrap();
        let focused = browser.client.active_element().await.unwrap();
        let tag = focused.tag_name().await.unwrap();
        let id = focused.attr("id").await.unwrap().unwrap_or_default();
        let class = focused.attr("class").await.unwrap().unwrap_or_default();
        order.push(format!("{tag}#{id}.{class}"));
        if id == "email" {
            focused.send_keys("keys.only@example.com").await.unwrap();
        }
    }
    assert_eq!(
        order,
        ["a#.skip", "a#.", "input#email.", "button#."],
        "focus moves from the skip link through the header to the field and its button"
    );
    let focused = browser.client.active_element().await.unwrap();
    focused
        .send_keys(&char::from(Key::Enter).to_string())
        .await
        .unwrap();
    browser.find("#code").await;
    browser.shot("code-step").await;
    assert!(browser.path().await.ends_with("/code"));
    app.mail_settled().await;
    let code = app.latest_code("keys.only@example.com").await;
    let input = browser.find("#code").await;
    input.click().await.unwrap();
    input
        .send_keys(&format!("{code}{}", char::from(Key::Enter)))
        .await
        .unwrap();
    browser
        .reload_until("Get a copy of my data", "status")
        .await;
    assert!(browser.path().await.starts_with("/privacy/requests/"));
    browser.close().await;
    app.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_appear_beside_their_field_and_keep_what_was_typed() {
    let app = spawn_app().await;
    let mut browser = Browser::start("errors").await;
    browser
        .open(&format!("{}/privacy/new/child-report", app.address), "form")
        .await;
    browser.fill("#email", "not an address").await;
    browser.fill("#details", "She is <b>nine</b>").await;
    browser.click("button[type=submit]", "errors").await;
    let title = browser.client.title().await.unwrap();
    assert!(title.starts_with("Error: "), "{title}");
    let summary = browser
        .find(".summary[role=alert]")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        summary.contains("Enter an email address like name@example.com"),
        "{summary}"
    );
    assert!(summary.contains("Enter the account"), "{summary}");
    assert!(
        summary.contains("Choose how you know the child"),
        "{summary}"
    );
    let email = browser.find("#email").await;
    assert_eq!(
        email.attr("aria-invalid").await.unwrap().as_deref(),
        Some("true")
    );
    assert_eq!(
        email.attr("aria-describedby").await.unwrap().as_deref(),
        Some("email-hint email-error")
    );
    assert_eq!(
        email.prop("value").await.unwrap().as_deref(),
        Some("not an address")
    );
    let error = browser.find("#email-error").await.text().await.unwrap();
    assert!(error.contains("Enter an email address"), "{error}");
    let details = browser.find("#details").await;
    assert_eq!(
        details.prop("value").await.unwrap().as_deref(),
        Some("She is <b>nine</b>"),
        "kept as typed, as text"
    );
    assert_eq!(requests_filed(&app).await, 0, "nothing was filed");
    browser.close().await;
    app.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cross_site_form_post_is_refused_and_files_nothing() {
    let app = spawn_app().await;
    let mut browser = Browser::start("cross-site").await;
    // The visitor has been on the privacy center (and holds its cookie)...
    browser
        .open(&format!("{}/privacy/new/access", app.address), "form")
        .await;
    // ...then a page on another site posts a form to it.
    let attack = format!(
        "data:text/html,<form method=post action='{}/privacy/new/access'><input name=email value='victim@example.com'></form><script>document.forms[0].submit()</script>",
        app.address
    );
    browser.client.goto(&attack).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let text = loop {
        let text = browser.main_text().await;
        if text.contains("could not be sent") || std::time::Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    browser.shot("refused").await;
    assert!(text.contains("This form could not be sent"), "{text}");
    assert_eq!(requests_filed(&app).await, 0);

    // Without a browser: the token is checked, and so is the origin.
    let form_page = app
        .client
        .get(format!("{}/privacy/new/access", app.address))
        .send()
        .await
        .unwrap();
    let cookie = form_page
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("lethe-csrf="))
        .expect("a token cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let token = cookie["lethe-csrf=".len()..]
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let post = |origin: &str, given: &str| {
        app.client
            .post(format!("{}/privacy/new/access", app.address))
            .header("cookie", format!("lethe-csrf={token}"))
            .header("origin", origin)
            .form(&[("email", "direct@example.com"), ("csrf", given)])
            .send()
    };
    assert_eq!(
        post("https://evil.example", &token).await.unwrap().status(),
        403
    );
    assert_eq!(
        post(&app.address, "wrong-token-wrong-token-wrong")
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(requests_filed(&app).await, 0);
    let accepted = post(&app.address, &token).await.unwrap();
    assert_eq!(
        accepted.status(),
        303,
        "the same post from this site with its token is filed"
    );
    assert_eq!(requests_filed(&app).await, 1);
    browser.close().await;
    app.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_and_the_api_carry_the_security_headers() {
    let app = spawn_app().await;
    for path in [
        "/privacy",
        "/privacy/new/likeness",
        "/healthz",
        "/v1/requests/x",
    ] {
        let response = app
            .client
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        let headers = response.headers();
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("default-src 'none'"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(!csp.contains("script-src"), "no scripts anywhere: {csp}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["referrer-policy"], "same-origin", "{path}");
    }
    let page = app
        .client
        .get(format!("{}/privacy", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("<html lang=\"en\">"), "{page}");
    for kind in [
        "access",
        "deletion",
        "unsubscribe",
        "child-report",
        "likeness",
    ] {
        assert!(
            page.contains(&format!("href=\"/privacy/new/{kind}\"")),
            "{kind}"
        );
    }
    app.teardown().await;
}
