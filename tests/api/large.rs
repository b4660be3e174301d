//! The large messy platform (`lethe::demo::large`: ~270 tables, composite and soft links,
//! CHECK constraints on link columns, unique link columns, counter triggers, deep trees,
//! personal data in JSON and free text, objects under derived keys): `lethe datamap
//! discover` plus a few written decisions give a map `lethe datamap check` passes, and two
//! heavy subjects are rehearsed and purged through the API with the rehearsal's counts
//! equal to the purge's, checked against the generator's own answer key (zero residual,
//! retained rows present and anonymized, everyone else's rows byte-identical, objects).

use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Text};
use diesel_async::RunQueryDsl;
use lethe::demo::large::{self, LargeOptions, check::Snapshot};
use lethe::domain::Role;
use serde_json::{Value, json};

use crate::helpers::{Options, Platform, TestApp, lethe_command, run_command, spawn_app_with};

fn datamap(app: &TestApp, args: &[&str], map: Option<&std::path::Path>) -> (bool, String) {
    let mut command = lethe_command();
    command
        .env("LETHE__PLATFORM__DATABASE_URL", &app.platform_url)
        .arg("datamap")
        .args(args);
    if let Some(map) = map {
        command.env("LETHE__PLATFORM__DATA_MAP", map);
    }
    run_command(&mut command)
}

#[derive(QueryableByName)]
struct Email {
    #[diesel(sql_type = Text)]
    email: String,
}

async fn purge_through_the_api(app: &TestApp, subject: i64, staff: &str) -> (Value, Value) {
    let email: Email = diesel::sql_query("SELECT email FROM \"User\" WHERE id = $1")
        .bind::<BigInt, _>(subject)
        .get_result(&mut app.platform_db().await)
        .await
        .unwrap();
    let request = app.file_deletion(&email.email).await;
    let dry = app.dry_run(&request.id, staff).await;
    assert_eq!(dry["approvable"], true, "{dry}");
    let approved = app
        .staff_post(
            &format!("/v1/staff/requests/{}/approve", request.id),
            staff,
            json!({}),
        )
        .await;
    assert_eq!(approved.status(), 200);
    app.wait_for_status(&request.id, &request.token, "completed")
        .await;
    (dry, app.staff_view(&request.id, staff).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_large_messy_schema_discover_and_a_few_decisions_purge_two_heavy_subjects_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let intended = dir.path().join("intended.toml");
    std::fs::write(&intended, large::data_map()).unwrap();
    let start_map = intended.clone();
    let mut app = spawn_app_with(Options {
        platform: Platform::Large(LargeOptions::default()),
        tweak: Box::new(move |s| {
            s.requests.deletion_grace_hours = 0;
            s.worker.purge_batch_size = 50;
            s.platform.data_map = start_map;
        }),
        ..Default::default()
    })
    .await;
    let seed = app.large.clone().unwrap();
    assert!(seed.tables >= 250, "{} tables", seed.tables);
    assert_eq!(seed.heavy.len(), 2);

    // Discover a complete map of the whole schema; alone it is refused (undecided values).
    let discovered = dir.path().join("discovered.toml");
    let (ok, out) = datamap(
        &app,
        &[
            "discover",
            "--subject-table",
            "User",
            "--out",
            discovered.to_str().unwrap(),
        ],
        None,
    );
    assert!(ok, "{out}");
    let (ok, out) = datamap(&app, &["check"], Some(&discovered));
    assert!(
        !ok,
        "a discovered map still holds decisions for a person: {out}"
    );
    assert!(out.contains("TODO") || out.contains("undecided"), "{out}");

    // A few written decisions (well under one per table) make it pass.
    let (merged, written) =
        large::decided_map(&std::fs::read_to_string(&discovered).unwrap()).unwrap();
    assert!(
        written * 4 < seed.tables,
        "{written} decisions for {} tables",
        seed.tables
    );
    let decided = dir.path().join("decided.toml");
    std::fs::write(&decided, merged).unwrap();
    let (ok, out) = datamap(&app, &["check"], Some(&decided));
    assert!(ok, "{out}");
    app.restart_workers_with_map(&decided).await;

    // Two heavy subjects, one after the other, through the API.
    let staff = app.staff_token("reviewer@lethe.test", Role::Reviewer).await;
    let key = large::answer_key();
    for subject in &seed.heavy {
        let mut platform = app.platform_db().await;
        let snapshot = Snapshot::take(&mut platform, &app.services.storage, &key, *subject)
            .await
            .unwrap();
        assert!(
            snapshot.gone_counts(&key).values().sum::<usize>() > 1000,
            "a heavy subject"
        );
        let (dry, done) = purge_through_the_api(&app, *subject, &staff).await;
        let violations = snapshot
            .verify(&mut platform, &app.services.storage, &key)
            .await
            .unwrap();
        assert!(violations.is_empty(), "subject {subject}: {violations:#?}");

        // The rehearsal's exact counts are what the purge did, table by table.
        let purged = done["result"]["tables"].as_object().unwrap();
        let deleted_tables = purged
            .values()
            .filter(|c| c["deleted"].as_u64().unwrap_or(0) > 0)
            .count();
        assert!(
            deleted_tables >= 50,
            "rows deleted in {deleted_tables} tables"
        );
        crate::helpers::assert_rehearsal_counted_the_purge(&dry, &done);
        assert!(
            dry["report"]["objects"]
                .as_object()
                .unwrap()
                .values()
                .map(|n| n.as_u64().unwrap())
                .sum::<u64>()
                > 0
        );
    }
    app.teardown().await;
}
