//! Unsubscribing from marketing mail end to end: the mailer's links, RFC 8058 one-click
//! (POST takes effect, GET does not), tokens that cannot be forged or altered, the
//! suppression check, unsubscribe requests by code, and staff removing a suppression.

use std::time::{Duration, Instant};

use diesel::sql_types::{BigInt, Text};
use diesel_async::RunQueryDsl;
use lethe::domain::Role;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TextRow, spawn_app};

/// A user's id, email and marketing preferences (`newsletter,product_updates,partner_offers`).
async fn someone(app: &TestApp, offset: i64) -> (i64, String) {
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = BigInt)]
        id: i64,
        #[diesel(sql_type = Text)]
        email: String,
    }
    let mut platform = app.platform_db().await;
    diesel::sql_query(
        "UPDATE marketing_preferences SET newsletter = true, product_updates = true, partner_offers = true \
         WHERE user_id = (SELECT id FROM users WHERE id > 0 ORDER BY id OFFSET $1 LIMIT 1)",
    )
    .bind::<BigInt, _>(offset)
    .execute(&mut platform)
    .await
    .unwrap();
    let row: Row =
        diesel::sql_query("SELECT id, email FROM users WHERE id > 0 ORDER BY id OFFSET $1 LIMIT 1")
            .bind::<BigInt, _>(offset)
            .get_result(&mut platform)
            .await
            .unwrap();
    (row.id, row.email)
}

async fn preferences(app: &TestApp, user: i64) -> String {
    let row: TextRow = diesel::sql_query(
        "SELECT concat_ws(',', newsletter, product_updates, partner_offers) AS v \
         FROM marketing_preferences WHERE user_id = $1",
    )
    .bind::<BigInt, _>(user)
    .get_result(&mut app.platform_db().await)
    .await
    .unwrap();
    row.v
}

/// Everyone else's preferences, as one text.
async fn others(app: &TestApp, user: i64) -> String {
    let row: TextRow = diesel::sql_query(
        "SELECT coalesce(string_agg(concat_ws(',', user_id, newsletter, product_updates, partner_offers), ';' \
         ORDER BY user_id), '') AS v FROM marketing_preferences WHERE user_id <> $1",
    )
    .bind::<BigInt, _>(user)
    .get_result(&mut app.platform_db().await)
    .await
    .unwrap();
    row.v
}

async fn link(app: &TestApp, token: Option<&str>, body: Value) -> reqwest::Response {
    let mut request = app
        .client
        .post(format!("{}/v1/unsubscribe/links", app.address))
        .json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

async fn check(app: &TestApp, mailer: &str, body: Value) -> reqwest::Response {
    app.client
        .post(format!("{}/v1/suppressions/check", app.address))
        .bearer_auth(mailer)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn one_click(app: &TestApp, url: &str, body: &str) -> reqwest::Response {
    app.client
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

/// Polls until the user's preferences read `want`; returns how long it took.
async fn wait_for(app: &TestApp, user: i64, want: &str) -> Duration {
    let started = Instant::now();
    loop {
        if preferences(app, user).await == want {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the preference never changed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn count(app: &TestApp, table: &str) -> i64 {
    let row: TextRow = diesel::sql_query(format!("SELECT count(*)::text AS v FROM {table}"))
        .get_result(&mut app.service_db().await)
        .await
        .unwrap();
    row.v.parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_click_post_unsubscribes_at_once_and_a_get_changes_nothing() {
    let app = spawn_app().await;
    let (user, email) = someone(&app, 3).await;
    let before_others = others(&app, user).await;
    let mailer = app.staff_token("mailer@lethe.test", Role::Mailer).await;
    let viewer = app.staff_token("viewer@lethe.test", Role::Viewer).await;

    // Only the mailer (or an admin) gets links; a viewer reads requests, not this.
    let body = json!({ "email": email, "category": "newsletter" });
    assert_eq!(link(&app, None, body.clone()).await.status(), 401);
    assert_eq!(link(&app, Some(&viewer), body.clone()).await.status(), 403);
    let unknown = link(
        &app,
        Some(&mailer),
        json!({ "email": email, "category": "sms" }),
    )
    .await;
    assert_eq!(unknown.status(), 400);
    let issued = link(&app, Some(&mailer), body).await;
    assert_eq!(issued.status(), 201);
    let issued: Value = issued.json().await.unwrap();
    let url = issued["url"].as_str().unwrap().to_owned();
    assert_eq!(issued["List-Unsubscribe"], format!("<{url}>"));
    assert_eq!(
        issued["List-Unsubscribe-Post"],
        "List-Unsubscribe=One-Click"
    );
    assert!(!url.contains(&email), "the address is not in the link");
    let url = url.replace(&app.services.settings.server.public_url, &app.address);
    app.saw(url.rsplit('/').next().unwrap());

    // A GET (a scanner, a preview) shows a page and changes nothing.
    let page = app.client.get(&url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = page.text().await.unwrap();
    assert!(
        html.contains("method=\"post\"") && html.contains("One-Click"),
        "{html}"
    );
    assert!(!html.contains("<script"), "no JavaScript");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(preferences(&app, user).await, "t,t,t");
    assert_eq!(count(&app, "suppressions").await, 0);
    assert_eq!(count(&app, "requests").await, 0);

    // The POST unsubscribes: no cookie, no redirect, a tiny body.
    let done = one_click(&app, &url, "List-Unsubscribe=One-Click").await;
    assert_eq!(done.status(), 200);
    assert!(done.headers().get("set-cookie").is_none());
    assert!(done.headers().get("location").is_none());
    assert!(done.text().await.unwrap().len() < 100);
    // Suppressed at once, for that category only.
    let answer: Value = check(
        &app,
        &mailer,
        json!({ "emails": [email, "someone.else@example.com"], "category": "newsletter" }),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(answer["suppressed"], json!([email]));
    let answer: Value = check(
        &app,
        &mailer,
        json!({ "emails": [email], "category": "product_updates" }),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(answer["suppressed"], json!([]));
    // And the platform's preference goes off; the other categories and everyone else
    // stay as they were.
    let took = wait_for(&app, user, "f,t,t").await;
    println!("preference off {took:?} after the POST");
    assert_eq!(others(&app, user).await, before_others);
    // A second click is harmless; this one as multipart/form-data, as RFC 8058 asks of
    // mail clients.
    let multipart = app
        .client
        .post(&url)
        .header("content-type", "multipart/form-data; boundary=XyZ")
        .body("--XyZ\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\nOne-Click\r\n--XyZ--\r\n")
        .send()
        .await
        .unwrap();
    assert_eq!(multipart.status(), 200);
    assert_eq!(count(&app, "suppressions").await, 1);

    let started = Instant::now();
    let emails = loop {
        let open: TextRow = diesel::sql_query(
            "SELECT (count(*) FILTER (WHERE status <> 'completed'))::text || ':' || \
                    (count(*) FILTER (WHERE email IS NOT NULL))::text AS v FROM requests",
        )
        .get_result(&mut app.service_db().await)
        .await
        .unwrap();
        if open.v.starts_with("0:") || started.elapsed() > Duration::from_secs(20) {
            break open.v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(emails, "0:0", "completed, and no address kept");
    // The trail: filed, verified by the link, applied with the time it took; the request
    // keeps no address.
    let audit: Vec<TextRow> = diesel::sql_query(
        "SELECT action || coalesce(':' || (details->>'took_ms'), '') AS v FROM audit_log ORDER BY seq",
    )
    .load(&mut app.service_db().await)
    .await
    .unwrap();
    let audit: Vec<&str> = audit.iter().map(|r| r.v.as_str()).collect();
    assert!(audit.contains(&"suppression.added"), "{audit:?}");
    assert!(
        audit.iter().any(|a| a.starts_with("unsubscribe.applied:")),
        "{audit:?}"
    );
    app.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_altered_truncated_or_expired_links_are_refused_and_write_nothing() {
    let app = spawn_app().await;
    let (user, email) = someone(&app, 4).await;
    let mailer = app.staff_token("mailer@lethe.test", Role::Mailer).await;
    let issued: Value = link(&app, Some(&mailer), json!({ "email": email }))
        .await
        .json()
        .await
        .unwrap();
    let url = issued["url"]
        .as_str()
        .unwrap()
        .replace(&app.services.settings.server.public_url, &app.address);
    let (base, token) = url.rsplit_once('/').unwrap();
    app.saw(token);
    let flipped: String = token
        .char_indices()
        .map(|(i, c)| {
            if i == token.len() / 2 {
                if c == 'A' { 'B' } else { 'A' }
            } else {
                c
            }
        })
        .collect();
    for bad in [
        flipped.as_str(),
        &token[..token.len() - 3],
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "not-a-token",
    ] {
        let response =
            one_click(&app, &format!("{base}/{bad}"), "List-Unsubscribe=One-Click").await;
        assert_eq!(response.status(), 404, "{bad}");
        let page = app
            .client
            .get(format!("{base}/{bad}"))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 404);
    }
    // The right link with the wrong body.
    for body in ["", "List-Unsubscribe=Yes", "unsubscribe=1"] {
        let response = one_click(&app, &url, body).await;
        assert_eq!(response.status(), 400, "{body:?}");
        let error: Value = response.json().await.unwrap();
        assert!(!error["error"]["code"].as_str().unwrap().is_empty());
    }
    // An expired link: made long ago (the clock moved by the link lifetime setting).
    let old = {
        let keyed = lethe::secrets::Keyed::new(app.services.settings.security.secret_key.clone());
        lethe::unsubscribe::token::LinkKey::new(&keyed).seal(&lethe::unsubscribe::token::Link {
            email: lethe::domain::Email::try_from(email.as_str()).unwrap(),
            category: None,
            issued: chrono::Utc::now().date_naive() - chrono::Days::new(800),
        })
    };
    app.saw(&old);
    let response = one_click(&app, &format!("{base}/{old}"), "List-Unsubscribe=One-Click").await;
    assert_eq!(response.status(), 410);
    assert_eq!(count(&app, "suppressions").await, 0);
    assert_eq!(count(&app, "requests").await, 0);
    assert_eq!(preferences(&app, user).await, "t,t,t");
    app.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsubscribe_request_by_code_and_the_suppression_check_of_ten_thousand_addresses() {
    let app = spawn_app().await;
    let (user, email) = someone(&app, 5).await;
    let mailer = app.staff_token("mailer@lethe.test", Role::Mailer).await;
    let reviewer = app.staff_token("reviewer@lethe.test", Role::Reviewer).await;

    // Filed like any other kind; done right after the code is verified.
    let (request, status) = app.file_and_verify_kind("unsubscribe", &email).await;
    assert_eq!(status, "approved");
    let view = app
        .wait_for_status(&request.id, &request.token, "completed")
        .await;
    assert_eq!(view["kind"], "unsubscribe");
    assert_eq!(preferences(&app, user).await, "f,f,f");

    // 10,000 addresses, three of them suppressed (two spellings of the same address):
    // exactly those come back, as given.
    let mut emails: Vec<String> = (0..9_998)
        .map(|i| format!("reader{i}@example.org"))
        .collect();
    emails.insert(1234, email.clone());
    emails.insert(8765, email.to_uppercase());
    assert_eq!(emails.len(), 10_000);
    let started = Instant::now();
    let answer = check(
        &app,
        &mailer,
        json!({ "emails": emails, "category": "partner_offers" }),
    )
    .await;
    println!("checked 10,000 addresses in {:?}", started.elapsed());
    assert_eq!(answer.status(), 200);
    let answer: Value = answer.json().await.unwrap();
    assert_eq!(answer["suppressed"], json!([email, email.to_uppercase()]));
    emails.push("one.too.many@example.org".into());
    assert_eq!(
        check(&app, &mailer, json!({ "emails": emails }))
            .await
            .status(),
        400
    );
    let bad = check(
        &app,
        &mailer,
        json!({ "emails": ["fine@example.org", "not an address"] }),
    )
    .await;
    // An entry that is no address is never on the list.
    assert_eq!(bad.status(), 200);
    let answer: Value = bad.json().await.unwrap();
    assert_eq!(answer["suppressed"], json!([]));
    // A reviewer cannot use the mailer's check.
    assert_eq!(
        check(&app, &reviewer, json!({ "emails": [email] }))
            .await
            .status(),
        403
    );

    // Staff take the address off the list (re-subscribing is the platform's business).
    let removed: Value = app
        .staff_post(
            "/v1/staff/suppressions/delete",
            &reviewer,
            json!({ "email": email, "category": "*" }),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(removed["removed"], true);
    let answer: Value = check(&app, &mailer, json!({ "emails": [email] }))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["suppressed"], json!([]));
    let removals: TextRow = diesel::sql_query(
        "SELECT count(*)::text AS v FROM audit_log WHERE action = 'suppression.removed'",
    )
    .get_result(&mut app.service_db().await)
    .await
    .unwrap();
    assert_eq!(removals.v, "1");
    app.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_global_privacy_control_signal_is_recorded_once_and_turns_sharing_off() {
    const SECRET: &str = "platform-shared-secret-platform-shared-secret";
    let app = crate::helpers::spawn_app_with(crate::helpers::Options {
        tweak: Box::new(|s| {
            s.security.platform_assertion_secret = secrecy::SecretString::from(SECRET)
        }),
        ..Default::default()
    })
    .await;
    let (user, _) = someone(&app, 6).await;
    let before_others = others(&app, user).await;
    let assertion = || {
        let now = chrono::Utc::now().timestamp();
        jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &json!({ "sub": user.to_string(), "aud": "lethe", "iat": now, "exp": now + 60, "jti": uuid::Uuid::now_v7().to_string() }),
            &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap()
    };
    let signal = |token: String, gpc: Option<&'static str>| {
        let app = &app;
        async move {
            let mut request = app
                .client
                .post(format!("{}/v1/signals/gpc", app.address))
                .json(&json!({ "assertion": token }));
            if let Some(value) = gpc {
                request = request.header("Sec-GPC", value);
            }
            request.send().await.unwrap()
        }
    };
    let sharing = || async {
        let row: TextRow = diesel::sql_query(
            "SELECT share_data::text AS v FROM marketing_preferences WHERE user_id = $1",
        )
        .bind::<BigInt, _>(user)
        .get_result(&mut app.platform_db().await)
        .await
        .unwrap();
        row.v
    };
    // Without the header (or with another value) nothing is recorded.
    for gpc in [None, Some("0")] {
        let refused = signal(assertion(), gpc).await;
        assert_eq!(refused.status(), 400);
        let error: Value = refused.json().await.unwrap();
        assert_eq!(error["error"]["field"], "Sec-GPC");
    }
    assert_eq!(count(&app, "requests").await, 0);
    // The first signal records the opt-out; the worker turns sharing off.
    let first = signal(assertion(), Some("1")).await;
    assert_eq!(first.status(), 200);
    assert_eq!(first.json::<Value>().await.unwrap()["recorded"], true);
    let started = Instant::now();
    while sharing().await != "false" {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "sharing stayed on"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Marketing mail preferences and everyone else are untouched.
    assert_eq!(preferences(&app, user).await, "t,t,t");
    assert_eq!(others(&app, user).await, before_others);
    // A second signal changes nothing and writes nothing.
    let second = signal(assertion(), Some("1")).await;
    assert_eq!(second.json::<Value>().await.unwrap()["recorded"], false);
    assert_eq!(count(&app, "privacy_signals").await, 1);
    assert_eq!(count(&app, "requests").await, 1);
    let recorded: TextRow = diesel::sql_query(
        "SELECT count(*)::text AS v FROM audit_log WHERE action = 'privacy_signal.recorded'",
    )
    .get_result(&mut app.service_db().await)
    .await
    .unwrap();
    assert_eq!(recorded.v, "1");
    app.teardown().await;
}
