//! The audit log: every transition recorded, free of PII, append-only, sealed into a keyed
//! chain with signed checkpoints; tampering in the database or in an export is detected.

use diesel::QueryableByName;
use diesel::sql_types::Text;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use lethe::audit::ChainCheck;
use lethe::audit::chain::{LinkContent, link_hash};

use crate::helpers::{TestApp, lethe_command, run_command, spawn_app_with};

const KEY: &str = "test-secret-key-test-secret-key-0123456789";

#[derive(QueryableByName)]
struct Entry {
    #[diesel(sql_type = Text)]
    action: String,
    #[diesel(sql_type = Text)]
    details: String,
}

/// Runs `tamper` in a transaction that is rolled back, and verifies the chain inside it.
async fn check_tampered(app: &TestApp, tamper: &str) -> ChainCheck {
    let mut db = app.service_db().await;
    let keys = app.services.audit_keys.clone();
    let tamper = tamper.to_owned();
    let mut seen = None;
    let _ = db
        .transaction::<(), diesel::result::Error, _>(async |c| {
            c.batch_execute(&tamper).await?;
            seen = Some(lethe::audit::verify_chain(c, &keys).await?);
            Err(diesel::result::Error::RollbackTransaction)
        })
        .await;
    seen.expect("the tampered chain was verified")
}

/// Rewrites entry `pos`'s details and recomputes its link hash and every later one, as
/// someone who can write to the database but lacks the MAC key would.
async fn rewrite_and_rechain(db: &mut AsyncPgConnection, pos: i64) {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        pos: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        seq: i64,
        #[diesel(sql_type = diesel::sql_types::Timestamptz)]
        at: chrono::DateTime<chrono::Utc>,
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Uuid>)]
        request_id: Option<uuid::Uuid>,
        #[diesel(sql_type = Text)]
        actor: String,
        #[diesel(sql_type = Text)]
        action: String,
        #[diesel(sql_type = diesel::sql_types::Jsonb)]
        details: serde_json::Value,
        #[diesel(sql_type = diesel::sql_types::Bytea)]
        prev_hash: Vec<u8>,
    }
    db.batch_execute(&format!(
        "ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update; \
         ALTER TABLE audit_chain DISABLE TRIGGER audit_chain_no_update; \
         UPDATE audit_log SET details = '{{\"rows_total\": 0}}' \
           WHERE seq = (SELECT seq FROM audit_chain WHERE pos = {pos});"
    ))
    .await
    .unwrap();
    let rows: Vec<Row> = diesel::sql_query(format!(
        "SELECT c.pos, l.seq, l.at, l.request_id, l.actor, l.action, l.details, c.prev_hash \
         FROM audit_chain c JOIN audit_log l USING (seq) WHERE c.pos >= {pos} ORDER BY c.pos"
    ))
    .load(db)
    .await
    .unwrap();
    let mut prev = rows[0].prev_hash.clone();
    for r in rows {
        let hash = link_hash(
            &prev,
            r.pos,
            LinkContent {
                seq: r.seq,
                at: r.at,
                request_id: r.request_id,
                actor: &r.actor,
                action: &r.action,
                details: &r.details,
            },
        );
        db.batch_execute(&format!(
            "UPDATE audit_chain SET prev_hash = '\\x{}', hash = '\\x{}' WHERE pos = {}",
            hex::encode(&prev),
            hex::encode(&hash),
            r.pos
        ))
        .await
        .unwrap();
        prev = hash;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_transition_is_chained_and_tampering_in_the_database_is_detected() {
    // A checkpoint every two entries, so that cutting the tail crosses one.
    let app = spawn_app_with(crate::helpers::Options {
        tweak: Box::new(|s| s.audit.checkpoint_every_entries = 2),
        ..Default::default()
    })
    .await;
    let email = "audited.person@example.com";
    let request = app.file_and_verify(email).await;
    app.wait_for_status(&request.id, &request.token, "completed")
        .await;

    let mut db = app.service_db().await;
    let entries: Vec<Entry> =
        diesel::sql_query("SELECT action, details::text AS details FROM audit_log ORDER BY seq")
            .load(&mut db)
            .await
            .unwrap();
    let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "request.filed",
            "verification.code_sent",
            "request.verified",
            "request.approved",
            "request.processing",
            "export.completed"
        ]
    );
    assert!(entries.last().unwrap().details.contains("\"rows_total\""));
    for entry in &entries {
        assert!(
            !entry.details.contains('@'),
            "no email in {}",
            entry.details
        );
    }
    let ChainCheck::Intact {
        entries: 6,
        checkpoints,
        unsealed: 0,
    } = app.audit_check().await
    else {
        panic!(
            "an intact chain of 6 entries: {:?}",
            app.audit_check().await
        )
    };
    assert!(checkpoints >= 1, "signed checkpoints: {checkpoints}");

    // The database refuses changes to the log, the chain and the checkpoints.
    for statement in [
        "UPDATE audit_log SET actor = 'x'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
        "UPDATE audit_chain SET mac = '\\x00'",
        "DELETE FROM audit_chain",
        "DELETE FROM audit_checkpoints",
    ] {
        let error = db
            .batch_execute(statement)
            .await
            .expect_err(statement)
            .to_string();
        // TRUNCATE audit_log is refused first because the chain references it.
        assert!(
            error.contains("append-only") || error.contains("referenced in a foreign key"),
            "{statement}: {error}"
        );
    }

    // Behind the guards' back (a superuser disabling them), each kind of change is found.
    let guards_off = "ALTER TABLE audit_log DISABLE TRIGGER ALL; \
                      ALTER TABLE audit_chain DISABLE TRIGGER ALL; \
                      ALTER TABLE audit_checkpoints DISABLE TRIGGER ALL; ";
    let edited = check_tampered(
        &app,
        &format!(
            "{guards_off} UPDATE audit_log SET details = '{{\"rows_total\": 0}}' \
             WHERE seq = (SELECT seq FROM audit_chain WHERE pos = 6)"
        ),
    )
    .await;
    assert_eq!(
        edited,
        ChainCheck::Broken {
            pos: 6,
            reason: "content does not match its hash"
        }
    );
    let reordered = check_tampered(
        &app,
        &format!(
            "{guards_off} UPDATE audit_log SET action = CASE action \
               WHEN 'request.approved' THEN 'request.processing' ELSE 'request.approved' END \
             WHERE action IN ('request.approved', 'request.processing')"
        ),
    )
    .await;
    assert_eq!(
        reordered,
        ChainCheck::Broken {
            pos: 4,
            reason: "content does not match its hash"
        }
    );
    let deleted_link = check_tampered(
        &app,
        &format!("{guards_off} DELETE FROM audit_chain WHERE pos = 3"),
    )
    .await;
    assert_eq!(
        deleted_link,
        ChainCheck::Broken {
            pos: 3,
            reason: "a link is missing"
        }
    );
    let deleted_entry = check_tampered(
        &app,
        &format!(
            "{guards_off} DELETE FROM audit_log WHERE seq = (SELECT seq FROM audit_chain WHERE pos = 2)"
        ),
    )
    .await;
    assert_eq!(
        deleted_entry,
        ChainCheck::Broken {
            pos: 2,
            reason: "the entry of a link is missing"
        }
    );
    let truncated = check_tampered(
        &app,
        &format!(
            "{guards_off} DELETE FROM audit_chain WHERE pos >= 5; \
             DELETE FROM audit_log WHERE seq NOT IN (SELECT seq FROM audit_chain)"
        ),
    )
    .await;
    assert!(
        matches!(
            truncated,
            ChainCheck::Broken {
                reason: "the chain ends before a signed checkpoint (truncated)",
                ..
            }
        ),
        "{truncated:?}"
    );
    // Rewritten with every later hash recomputed: only the MAC key could make it whole.
    let mut db = app.service_db().await;
    let rechained = {
        let keys = app.services.audit_keys.clone();
        let mut seen = None;
        let _ = db
            .transaction::<(), diesel::result::Error, _>(async |c| {
                rewrite_and_rechain(c, 6).await;
                seen = Some(lethe::audit::verify_chain(c, &keys).await?);
                Err(diesel::result::Error::RollbackTransaction)
            })
            .await;
        seen.unwrap()
    };
    assert_eq!(
        rechained,
        ChainCheck::Broken {
            pos: 6,
            reason: "the link's MAC does not verify (rewritten without the key)"
        }
    );
    // Untouched, the chain still verifies, also through the CLI.
    let (ok, out) = run_command(
        lethe_command()
            .args(["audit", "verify"])
            .env("LETHE__DATABASE__URL", &app.service_url)
            .env("LETHE__SECURITY__SECRET_KEY", KEY),
    );
    assert!(ok, "{out}");
    assert!(out.contains("audit log intact: 6 entries"), "{out}");
    app.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_verifies_with_the_public_key_alone_and_any_change_to_it_is_detected() {
    let app = spawn_app_with(crate::helpers::Options {
        tweak: Box::new(|s| s.audit.checkpoint_every_entries = 3),
        ..Default::default()
    })
    .await;
    let first = app.file_and_verify("exported.one@example.com").await;
    let second = app.file_and_verify("exported.two@example.com").await;
    for r in [&first, &second] {
        app.wait_for_status(&r.id, &r.token, "completed").await;
    }
    let dir = tempfile::tempdir().unwrap();
    let env = |c: &mut std::process::Command| {
        c.env("LETHE__DATABASE__URL", &app.service_url)
            .env("LETHE__SECURITY__SECRET_KEY", KEY);
    };
    let mut command = lethe_command();
    command.args(["audit", "public-key"]);
    env(&mut command);
    let (ok, key) = run_command(&mut command);
    assert!(ok, "{key}");
    let key = key.trim().to_owned();
    assert_eq!(key.len(), 64, "{key}");

    let export = |args: &[&str], name: &str| {
        let path = dir.path().join(name);
        let mut c = lethe_command();
        c.args(["audit", "export"])
            .args(args)
            .arg("--out")
            .arg(&path);
        env(&mut c);
        let (ok, out) = run_command(&mut c);
        assert!(ok, "{out}");
        path
    };
    let verify = |path: &std::path::Path, key: &str| {
        // No database and no secret: the file and the public key alone.
        run_command(
            lethe_command()
                .args(["audit", "verify", "--public-key", key, "--file"])
                .arg(path),
        )
    };
    let all = export(&["--since", "2000-01-01T00:00:00Z"], "all.jsonl");
    let (ok, out) = verify(&all, &key);
    assert!(ok, "{out}");
    assert!(out.contains("export intact: 12 entries"), "{out}");
    let one = export(&["--request", &first.id], "one.jsonl");
    let (ok, out) = verify(&one, &key);
    assert!(ok, "{out}");
    assert!(out.contains("export intact: 6 entries"), "{out}");
    let text = std::fs::read_to_string(&one).unwrap();
    assert!(!text.contains(&second.id), "only the selected request");
    assert!(!text.contains("exported.one"), "no address in the export");

    // A wrong key, and every kind of change to the file, fail with a reason.
    let other = lethe::audit::AuditKeys::from_master(&"x".repeat(40)).public_key_hex();
    let (ok, out) = verify(&all, &other);
    assert!(
        !ok && out.contains("does not verify with this public key"),
        "{out}"
    );
    let text = std::fs::read_to_string(&all).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let tampered = |name: &str, lines: Vec<String>| {
        let path = dir.path().join(name);
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        path
    };
    let owned = |v: &[&str]| v.iter().map(|l| (*l).to_owned()).collect::<Vec<_>>();
    let mut edited = owned(&lines);
    let completed = lines
        .iter()
        .position(|l| l.contains("export.completed"))
        .unwrap();
    edited[completed] = edited[completed].replace("export.completed", "export.cancelled");
    let mut removed = owned(&lines);
    removed.remove(3);
    let mut reordered = owned(&lines);
    reordered.swap(2, 3);
    let cut = owned(&lines[..lines.len() - 1]);
    let cut_entries = {
        // The tail of entries dropped and the seal kept: its digest no longer matches.
        let mut v = owned(&lines[..5]);
        v.push(lines[lines.len() - 1].to_owned());
        v
    };
    for (name, lines, reason) in [
        ("edited", edited, "do not match its seal"),
        ("removed", removed, "do not match its seal"),
        ("reordered", reordered, "do not match its seal"),
        ("cut", cut, "seal"),
        ("cut-entries", cut_entries, "do not match its seal"),
    ] {
        let path = tampered(name, lines);
        let (ok, out) = verify(&path, &key);
        assert!(!ok, "{name} was accepted: {out}");
        assert!(out.contains(reason), "{name}: {out}");
    }
    app.teardown().await;
}
