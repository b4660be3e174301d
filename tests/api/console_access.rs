//! Who reaches the console: every page needs a session (a request without one is sent to
//! sign in, whatever the path), roles are enforced by the one gate, sign-in locks after
//! repeated failures, sessions end when idle and everywhere on demand, admins can add a
//! TOTP second factor, the queue pages through many requests, child reports first, admins
//! manage staff and members their own API tokens.

use diesel_async::SimpleAsyncConnection;
use lethe::domain::Role;

use crate::agent::{Agent, location};
use crate::console::PASSWORD;
use crate::helpers::{Options, spawn_app, spawn_app_with};

/// Every console page the app serves, and some it does not.
const PAGES: [&str; 11] = [
    "/console",
    "/console/requests",
    "/console/requests/0193a2b4-0000-7000-8000-000000000000",
    "/console/tokens",
    "/console/staff",
    "/console/account/totp",
    "/console/sign-out",
    "/console/sign-out-everywhere",
    "/console/tokens/0193a2b4-0000-7000-8000-000000000000/revoke",
    "/console/requests/0193a2b4-0000-7000-8000-000000000000/approve",
    "/console/no-such-page",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_console_page_answers_without_a_session_and_roles_are_enforced_by_the_gate() {
    let app = spawn_app().await;
    let mut stranger = Agent::new(&app);
    for path in PAGES {
        for post in [false, true] {
            let response = if post {
                stranger.post(path, &[]).await
            } else {
                stranger.get(path).await
            };
            assert_eq!(response.status(), 303, "{path} (post: {post})");
            assert!(
                location(&response).starts_with("/console/sign-in"),
                "{path}"
            );
        }
    }
    // A staff API token is not a console session.
    let token = app.staff_token("token.only@lethe.test", Role::Admin).await;
    let with_token = app
        .client
        .get(format!("{}/console", app.address))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(with_token.status(), 303);

    app.staff_token("viewer@lethe.test", Role::Viewer).await;
    let mut viewer = Agent::new(&app);
    assert_eq!(
        viewer.sign_in("viewer@lethe.test", PASSWORD).await.status(),
        303
    );
    assert_eq!(viewer.get("/console").await.status(), 200);
    assert_eq!(viewer.get("/console/tokens").await.status(), 200);
    assert_eq!(
        viewer.get("/console/staff").await.status(),
        403,
        "admins only"
    );
    let approve = viewer
        .post(
            "/console/requests/0193a2b4-0000-7000-8000-000000000000/approve",
            &[],
        )
        .await;
    assert_eq!(approve.status(), 403, "viewers cannot act");
    assert_eq!(viewer.get("/console/no-such-page").await.status(), 404);

    app.staff_token("mailer@lethe.test", Role::Mailer).await;
    let mut mailer = Agent::new(&app);
    mailer.sign_in("mailer@lethe.test", PASSWORD).await;
    assert_eq!(
        mailer.get("/console").await.status(),
        403,
        "the mailer role has no console"
    );
    app.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_locks_after_repeated_failures_and_sessions_end_idle_or_everywhere() {
    let app = spawn_app_with(Options {
        tweak: Box::new(|s| {
            s.web.sign_in_max_failures = 3;
            s.web.console_idle_minutes = 1;
        }),
        ..Default::default()
    })
    .await;
    app.staff_token("locked@lethe.test", Role::Reviewer).await;
    let mut agent = Agent::new(&app);
    let unknown = agent
        .sign_in("nobody@lethe.test", "wrong password 123")
        .await;
    assert_eq!(unknown.status(), 401);
    let unknown = unknown.text().await.unwrap();
    for _ in 0..3 {
        let wrong = agent
            .sign_in("locked@lethe.test", "wrong password 123")
            .await;
        assert_eq!(wrong.status(), 401);
        assert_eq!(
            wrong.text().await.unwrap().len(),
            unknown.len(),
            "the same answer as an unknown email"
        );
    }
    let locked = agent.sign_in("locked@lethe.test", PASSWORD).await;
    assert_eq!(locked.status(), 401, "locked even with the right password");
    let mut db = app.service_db().await;
    db.batch_execute("UPDATE staff SET locked_until = now() - interval '1 second' WHERE email = 'locked@lethe.test'")
        .await
        .unwrap();
    assert_eq!(
        agent.sign_in("locked@lethe.test", PASSWORD).await.status(),
        303,
        "unlocked after the lock"
    );
    assert_eq!(agent.get("/console").await.status(), 200);

    // Idle: a session not used for longer than console_idle_minutes is over.
    db.batch_execute("UPDATE staff_sessions SET last_seen_at = now() - interval '2 minutes'")
        .await
        .unwrap();
    assert_eq!(agent.get("/console").await.status(), 303);

    // Everywhere: one browser signs out all of the member's sessions.
    let mut laptop = Agent::new(&app);
    let mut phone = Agent::new(&app);
    laptop.sign_in("locked@lethe.test", PASSWORD).await;
    phone.sign_in("locked@lethe.test", PASSWORD).await;
    assert_eq!(phone.get("/console").await.status(), 200);
    let out = laptop.post("/console/sign-out-everywhere", &[]).await;
    assert_eq!(out.status(), 303);
    assert_eq!(
        phone.get("/console").await.status(),
        303,
        "the other session ended too"
    );
    assert_eq!(laptop.get("/console").await.status(), 303);
    app.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_turns_on_totp_and_then_signs_in_with_a_code_used_once() {
    let app = spawn_app().await;
    app.staff_token("admin@lethe.test", Role::Admin).await;
    let mut agent = Agent::new(&app);
    agent.sign_in("admin@lethe.test", PASSWORD).await;
    let page = agent
        .get("/console/account/totp")
        .await
        .text()
        .await
        .unwrap();
    let url = page
        .split("id=\"totp-url\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .expect("the otpauth address")
        .replace("&amp;", "&");
    // The authenticator app: RFC 6238 from the address shown.
    let totp = totp_rs::Totp::from_url(&url).unwrap();
    let wrong = agent
        .post("/console/account/totp", &[("code", "000000")])
        .await;
    assert_eq!(wrong.status(), 400);
    let code = totp.generate_current().to_string();
    assert_eq!(
        agent
            .post("/console/account/totp", &[("code", &code)])
            .await
            .status(),
        303
    );

    let mut again = Agent::new(&app);
    let signed = again.sign_in("admin@lethe.test", PASSWORD).await;
    assert_eq!(location(&signed), "/console/sign-in/code");
    assert_eq!(
        location(&again.get("/console").await),
        "/console/sign-in/code",
        "no pages before the code"
    );
    let reused = again
        .post("/console/sign-in/code", &[("code", &code)])
        .await;
    assert_eq!(reused.status(), 401, "a code is accepted once");
    let step = totp.step();
    let next = totp.generate(totp_rs_now() + step).to_string();
    assert_eq!(
        location(
            &again
                .post("/console/sign-in/code", &[("code", &next)])
                .await
        ),
        "/console"
    );
    assert_eq!(again.get("/console/staff").await.status(), 200);
    app.teardown().await;
}

fn totp_rs_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_pages_through_requests_child_reports_first_with_filters() {
    let app = spawn_app().await;
    let mut db = app.service_db().await;
    // 130 requests: 5 child reports due late, 125 others due earlier.
    db.batch_execute(
        "INSERT INTO requests (id, kind, status, email_hash, regime, created_at, due_at) \
         SELECT gen_random_uuid(), CASE WHEN g <= 5 THEN 'child_report' ELSE 'access' END, 'verified', \
                decode(md5(g::text), 'hex'), 'gdpr', now(), \
                now() + (CASE WHEN g <= 5 THEN 40 ELSE g % 30 END) * interval '1 day' \
         FROM generate_series(1, 130) AS g",
    )
    .await
    .unwrap();
    app.staff_token("queue@lethe.test", Role::Viewer).await;
    let mut agent = Agent::new(&app);
    agent.sign_in("queue@lethe.test", PASSWORD).await;
    let mut seen = Vec::new();
    let mut path = "/console/requests".to_owned();
    loop {
        let page = agent.get(&path).await;
        assert_eq!(page.status(), 200);
        let html = page.text().await.unwrap();
        // Each row: the id's first 8 characters and the kind (the second cell).
        let body = html.split("<tbody>").nth(1).unwrap_or_default();
        let rows: Vec<String> = body
            .split("<tr>")
            .skip(1)
            .map(|row| {
                let id = row
                    .split("<code>")
                    .nth(1)
                    .unwrap()
                    .split('<')
                    .next()
                    .unwrap();
                let kind = row.split("<td>").nth(2).unwrap().split('<').next().unwrap();
                format!("{id}|{kind}")
            })
            .collect();
        assert!(rows.len() <= 50);
        seen.extend(rows);
        match html
            .split("rel=\"next\"")
            .next()
            .and_then(|h| h.rsplit("href=\"").next())
        {
            Some(next) if html.contains("rel=\"next\"") => {
                path = next.split('"').next().unwrap().replace("&amp;", "&")
            }
            _ => break,
        }
    }
    assert_eq!(seen.len(), 130, "every request once");
    let unique: std::collections::BTreeSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), 130);
    assert!(
        seen[..5].iter().all(|r| r.ends_with("|child report")),
        "{:?}",
        &seen[..6]
    );
    assert!(seen[5..].iter().all(|r| r.ends_with("|access")));

    let children = agent
        .get("/console/requests?kind=child_report")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(children.matches("child report</td>").count(), 5);
    let bad = agent.get("/console/requests?due=someday").await;
    assert_eq!(bad.status(), 400);
    assert!(bad.text().await.unwrap().contains("Enter a date like"));
    app.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_manage_staff_and_members_manage_their_own_api_tokens() {
    let app = spawn_app().await;
    app.staff_token("boss@lethe.test", Role::Admin).await;
    let mut admin = Agent::new(&app);
    admin.sign_in("boss@lethe.test", PASSWORD).await;
    let short = admin
        .post(
            "/console/staff",
            &[
                ("email", "new.hire@lethe.test"),
                ("role", "reviewer"),
                ("password", "short"),
            ],
        )
        .await;
    assert_eq!(short.status(), 400);
    assert!(
        short
            .text()
            .await
            .unwrap()
            .contains("at least 12 characters")
    );
    let added = admin
        .post(
            "/console/staff",
            &[
                ("email", "new.hire@lethe.test"),
                ("role", "reviewer"),
                ("password", "a first password 1"),
            ],
        )
        .await;
    assert_eq!(location(&added), "/console/staff");
    let mut hire = Agent::new(&app);
    assert_eq!(
        hire.sign_in("new.hire@lethe.test", "a first password 1")
            .await
            .status(),
        303
    );

    // A personal token: shown once, works on the API, revoked from the console.
    let page = hire
        .post("/console/tokens", &[("name", "reporting script")])
        .await
        .text()
        .await
        .unwrap();
    let token = page
        .split("id=\"new-token\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .expect("the token, once")
        .to_owned();
    let api = |token: String| {
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
    assert_eq!(api(token.clone()).await, 200);
    let listed = hire.get("/console/tokens").await.text().await.unwrap();
    assert!(
        listed.contains("reporting script") && !listed.contains(&token),
        "never shown again"
    );
    let revoke = listed
        .split("action=\"/console/tokens/")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    assert_eq!(
        hire.post(&format!("/console/tokens/{revoke}"), &[])
            .await
            .status(),
        303
    );
    assert_eq!(api(token).await, 401, "revoked");

    // The admin disables the account: its session ends at once.
    let staff_page = admin.get("/console/staff").await.text().await.unwrap();
    let row = staff_page.split("new.hire@lethe.test").nth(1).unwrap();
    let id = row
        .split("/console/staff/")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(
        admin
            .post(&format!("/console/staff/{id}/disable"), &[])
            .await
            .status(),
        303
    );
    assert_eq!(hire.get("/console").await.status(), 303);
    assert_eq!(
        hire.sign_in("new.hire@lethe.test", "a first password 1")
            .await
            .status(),
        401
    );
    // A reviewer cannot reach staff management.
    app.staff_token("plain.reviewer@lethe.test", Role::Reviewer)
        .await;
    let mut reviewer = Agent::new(&app);
    reviewer
        .sign_in("plain.reviewer@lethe.test", PASSWORD)
        .await;
    assert_eq!(
        reviewer
            .post(
                "/console/staff",
                &[
                    ("email", "x@lethe.test"),
                    ("role", "admin"),
                    ("password", "a first password 1")
                ]
            )
            .await
            .status(),
        403
    );
    app.teardown().await;
}
