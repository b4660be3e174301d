//! `lethe datamap check`, `discover` and `convert` against a live demo platform: check
//! exits 0 only on a safe, decided map and names what is wrong; discover writes a
//! complete map whose undecided values check refuses until a person decides them;
//! convert turns a version 1 map into one that passes.

use std::path::Path;
use std::process::Command;

use diesel_async::SimpleAsyncConnection;

use crate::helpers::{TestApp, lethe_command, run_command as run, spawn_app};

fn lethe(app: &TestApp) -> Command {
    let mut command = lethe_command();
    command.env("LETHE__PLATFORM__DATABASE_URL", &app.platform_url);
    command
}

fn check(app: &TestApp, map: Option<&Path>) -> (bool, String) {
    let mut command = lethe(app);
    command.args(["datamap", "check"]);
    if let Some(map) = map {
        command.env("LETHE__PLATFORM__DATA_MAP", map);
    }
    run(&mut command)
}

fn shipped_with(extra_links: &str) -> String {
    std::fs::read_to_string("config/datamap.toml")
        .unwrap()
        .replace("[links]\n", &format!("[links]\n{extra_links}\n"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datamap_check_passes_a_safe_map_and_names_every_unsafe_or_undecided_value() {
    let app = spawn_app().await;
    let (ok, out) = check(&app, None);
    assert!(ok, "{out}");
    assert!(out.contains("is safe"), "{out}");

    // A new table whose key restricts deleting users: undecided until someone decides.
    app.platform_db()
        .await
        .batch_execute(
            "CREATE TABLE sms_contacts (id bigserial PRIMARY KEY, user_id bigint NOT NULL REFERENCES users (id), phone text);
             CREATE TABLE audit_trail (id bigserial PRIMARY KEY, user_id bigint REFERENCES users (id) ON DELETE CASCADE, note text);",
        )
        .await
        .unwrap();
    let (ok, out) = check(&app, None);
    assert!(!ok, "{out}");
    assert!(
        out.contains("sms_contacts.user_id") && out.contains("RESTRICT"),
        "{out}"
    );

    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: String| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let cases: &[(&str, &str, &[&str])] = &[
        // Decided: passes.
        (r#""sms_contacts.user_id" = "delete""#, "", &[]),
        // A retained row the cascade would take.
        (
            r#""sms_contacts.user_id" = "delete"
"audit_trail.user_id" = { action = "retain", basis = "security", period = "1 year" }"#,
            "",
            &["audit_trail.user_id", "unlink"],
        ),
        // Undecided values.
        (
            r#""sms_contacts.user_id" = "TODO: decide""#,
            "",
            &["undecided", "sms_contacts.user_id"],
        ),
        (
            r#""sms_contacts.user_id" = { action = "retain", basis = "TODO", period = "1 year", unlink = "placeholder" }"#,
            "",
            &["legal basis is undecided"],
        ),
        // NOT NULL column detached.
        (r#""sms_contacts.user_id" = "detach""#, "", &["NOT NULL"]),
        // `leave` on a cascading key.
        (
            r#""sms_contacts.user_id" = "delete"
"audit_trail.user_id" = "leave""#,
            "",
            &["leave", "audit_trail.user_id"],
        ),
        // Names that do not exist.
        (
            r#""sms_contacts.user_id" = "delete"
"sms_contacts.owner" = { soft = true, action = "delete" }"#,
            "",
            &["sms_contacts.owner"],
        ),
        // A legal basis without an action would fall back to the cascade's delete.
        (
            r#""sms_contacts.user_id" = "delete"
"audit_trail.user_id" = { basis = "security", period = "1 year", unlink = "null" }"#,
            "",
            &["audit_trail.user_id", "no action"],
        ),
        // A placeholder that does not exist, and one left undecided.
        (
            r#""sms_contacts.user_id" = "delete""#,
            "placeholder = \"999999\"",
            &["999999", "does not exist"],
        ),
        (
            r#""sms_contacts.user_id" = "delete""#,
            "placeholder = \"TODO\"",
            &["placeholder", "undecided"],
        ),
    ];
    for (i, (links, placeholder, expected)) in cases.iter().enumerate() {
        let mut text = shipped_with(links);
        if !placeholder.is_empty() {
            text = text.replace("placeholder = \"0\"", placeholder);
        }
        let path = write(&format!("case{i}.toml"), text);
        let (ok, out) = check(&app, Some(&path));
        if expected.is_empty() {
            assert!(ok, "case {i}: {out}");
        } else {
            assert!(!ok, "case {i} must be refused: {out}");
            for needle in *expected {
                assert!(out.contains(needle), "case {i}: `{needle}` not in {out}");
            }
        }
    }

    // A marketing category naming what does not exist, or writing a value of no column
    // type, is refused by name.
    for (section, expected) in [
        (
            "[marketing.sms]\ntable = \"sms_prefs\"\nlink = \"user_id\"\nset = { sms = false }\n",
            &["marketing.sms", "sms_prefs", "does not exist"][..],
        ),
        (
            "[marketing.digest]\ntable = \"marketing_preferences\"\nlink = \"user_id\"\nset = { digest = false, newsletter = [1] }\n",
            &["marketing.digest", "digest", "must be a boolean"][..],
        ),
    ] {
        let text = format!(
            "{}\n{section}",
            shipped_with(r#""sms_contacts.user_id" = "delete""#)
        );
        let path = write("marketing.toml", text);
        let (ok, out) = check(&app, Some(&path));
        assert!(!ok, "{out}");
        for needle in expected {
            assert!(out.contains(needle), "`{needle}` not in {out}");
        }
    }

    // A freeze that would delete rows the map keeps or writes a column that does not
    // exist, and a profile URL template without a placeholder, are refused by name.
    for (from, to, expected) in [
        (
            r#"delete = ["sessions.user_id", "api_tokens.user_id"]"#,
            r#"delete = ["payments.user_id"]"#,
            &["freeze.delete", "payments", "keeps"][..],
        ),
        (
            "set = { restricted = true }",
            "set = { frozen = true }",
            &["freeze.set", "users.frozen", "does not exist"][..],
        ),
        (
            r#"profile_urls = ["https://demo.lethe.test/user/{username}"]"#,
            r#"profile_urls = ["https://demo.lethe.test/user/"]"#,
            &["profile_urls", "placeholder"][..],
        ),
    ] {
        let shipped = shipped_with(r#""sms_contacts.user_id" = "delete""#);
        assert!(shipped.contains(from), "the shipped map has {from}");
        let path = write("freeze.toml", shipped.replace(from, to));
        let (ok, out) = check(&app, Some(&path));
        assert!(!ok, "{out}");
        for needle in expected {
            assert!(out.contains(needle), "`{needle}` not in {out}");
        }
    }

    // A partitioned table the walk reaches is refused (rows of different partitions share
    // row ids), even though its key simply cascades.
    app.platform_db()
        .await
        .batch_execute(
            "CREATE TABLE events (id bigint, user_id bigint REFERENCES users (id) ON DELETE CASCADE, at date NOT NULL) PARTITION BY RANGE (at);
             CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');",
        )
        .await
        .unwrap();
    let decided = write(
        "decided.toml",
        shipped_with(r#""sms_contacts.user_id" = "delete""#),
    );
    let (ok, out) = check(&app, Some(&decided));
    assert!(
        !ok && out.contains("tables.events") && out.contains("partitioned"),
        "{out}"
    );
    assert!(
        !out.contains("events_2026"),
        "partitions are not tables of their own: {out}"
    );
    app.platform_db()
        .await
        .batch_execute("DROP TABLE events")
        .await
        .unwrap();

    // Start-up refuses the same unsafe map, naming the problem.
    let undecided = write(
        "undecided.toml",
        shipped_with(r#""sms_contacts.user_id" = "TODO""#),
    );
    let (ok, out) = run(lethe(&app)
        .args(["work"])
        .env(
            "LETHE__SECURITY__SECRET_KEY",
            "test-secret-key-test-secret-key-0123456789",
        )
        .env("LETHE__DATABASE__URL", &app.service_url)
        .env("LETHE__STORAGE__EMBEDDED_LISTEN", "127.0.0.1:0")
        .env("LETHE__PLATFORM__DATA_MAP", &undecided));
    assert!(!ok, "{out}");
    assert!(
        out.contains("sms_contacts.user_id") && out.contains("undecided"),
        "{out}"
    );
    app.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datamap_discover_writes_a_complete_map_that_check_refuses_until_a_person_decides() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("discovered.toml");
    let (ok, out) = run(lethe(&app).args(["datamap", "discover", "--out", path.to_str().unwrap()]));
    assert!(ok, "{out}");
    assert!(out.contains("subject `users`"), "{out}");
    let text = std::fs::read_to_string(&path).unwrap();
    // One entry per link into the subject table, decided by its delete rule …
    for link in [
        "\"images.user_id\" = \"delete\"",
        "\"notifications.actor_id\" = \"leave\"",
    ] {
        assert!(text.contains(link), "{link} in\n{text}");
    }
    // … the RESTRICT key and the soft links (found by value overlap) left to a person …
    for needle in [
        "\"payments.user_id\"",
        "\"tips.from_user_id\"",
        "\"tips.to_user_id\"",
        "soft = true",
    ] {
        assert!(text.contains(needle), "{needle} in\n{text}");
    }
    assert!(text.contains("TODO"), "{text}");
    // … categories beyond "content", and object-key columns with their format.
    assert!(
        text.contains(r#"payments = ["payments", "tips"]"#),
        "{text}"
    );
    assert!(
        text.contains(r#"activity = ["follows", "notifications", "reactions"]"#),
        "{text}"
    );
    assert!(
        text.contains("object_key") && text.contains("file_url"),
        "{text}"
    );
    let (ok, out) = check(&app, Some(&path));
    assert!(!ok, "{out}");
    assert!(out.contains("TODO") || out.contains("undecided"), "{out}");
    // A second run refuses to overwrite without --force.
    let (ok, out) = run(lethe(&app).args(["datamap", "discover", "--out", path.to_str().unwrap()]));
    assert!(!ok && out.contains("--force"), "{out}");
    app.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_1_map_is_refused_with_a_pointer_and_converts_to_a_map_check_passes() {
    let app = spawn_app().await;
    let v1 = Path::new("tests/fixtures/datamap-v1.toml");
    let (ok, out) = check(&app, Some(v1));
    assert!(!ok, "{out}");
    assert!(out.contains("lethe datamap convert"), "{out}");
    let dir = tempfile::tempdir().unwrap();
    let converted = dir.path().join("v2.toml");
    let (ok, out) = run(lethe(&app).args([
        "datamap",
        "convert",
        "--in",
        v1.to_str().unwrap(),
        "--out",
        converted.to_str().unwrap(),
    ]));
    assert!(ok, "{out}");
    let text = std::fs::read_to_string(&converted).unwrap();
    assert!(text.contains("version = 2"), "{text}");
    assert!(text.contains("template = \"avatars/{id}/\""), "{text}");
    let (ok, out) = check(&app, Some(&converted));
    assert!(ok, "{out}\n{text}");
    app.teardown().await;
}
