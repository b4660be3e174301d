//! The audit log: every transition recorded, hash-chained, append-only, free of PII.

use diesel::QueryableByName;
use diesel::sql_types::Text;
use diesel_async::{RunQueryDsl, SimpleAsyncConnection};
use lethe::audit::{ChainCheck, verify_chain};

use crate::helpers::spawn_app;

#[derive(QueryableByName)]
struct Entry {
    #[diesel(sql_type = Text)]
    action: String,
    #[diesel(sql_type = Text)]
    details: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_transition_is_chained_in_an_append_only_log_without_personal_data() {
    let app = spawn_app().await;
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
    let completed = entries.last().unwrap();
    assert!(
        completed.details.contains("\"rows_total\""),
        "counts are recorded: {}",
        completed.details
    );
    for entry in &entries {
        assert!(
            !entry.details.contains('@'),
            "no email in {}",
            entry.details
        );
    }
    assert_eq!(
        verify_chain(&mut db).await.unwrap(),
        ChainCheck::Intact { entries: 6 }
    );

    // The database refuses changes to the log.
    for statement in [
        "UPDATE audit_log SET actor = 'x'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
    ] {
        let error = db.batch_execute(statement).await.expect_err(statement);
        assert!(
            error.to_string().contains("append-only"),
            "{statement}: {error}"
        );
    }
    // And a change made behind its back (a superuser disabling the guard) is detected.
    db.batch_execute(
        "ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update; \
         UPDATE audit_log SET details = '{\"rows_total\": 0}' WHERE seq = 6; \
         ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update;",
    )
    .await
    .unwrap();
    assert_eq!(
        verify_chain(&mut db).await.unwrap(),
        ChainCheck::Broken {
            seq: 6,
            reason: "content does not match its hash"
        }
    );
    app.teardown().await;
}
