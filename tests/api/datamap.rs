//! `lethe datamap check` and `lethe datamap discover` against a live demo platform: what
//! the map does not cover stops the check with names; soft links are suggested; a
//! discovered map binds, plans a purge and covers every subject-linked foreign key.

use std::path::Path;
use std::process::Command;

use diesel_async::SimpleAsyncConnection;
use lethe_jobs::datamap::coverage::coverage;
use lethe_jobs::datamap::{Catalog, DataMap, Erase, TableSpec};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datamap_check_reports_an_uncovered_personal_column_and_a_broken_link() {
    let app = spawn_app().await;
    let mut platform = app.platform_db().await;
    platform
        .batch_execute(
            "CREATE TABLE sms_contacts (
                 id      bigserial PRIMARY KEY,
                 user_id bigint REFERENCES users (id),
                 phone   text,
                 label   text
             )",
        )
        .await
        .unwrap();
    let (ok, out) = check(&app, None);
    assert!(!ok, "{out}");
    assert!(
        out.contains("`sms_contacts.phone`") && out.contains("(phone)"),
        "the personal column is named: {out}"
    );
    assert!(
        out.contains("`sms_contacts.user_id` -> `users.id`"),
        "the foreign key is named: {out}"
    );
    assert!(
        !out.contains("sms_contacts.label"),
        "a label is not personal: {out}"
    );
    assert!(!out.contains("is valid"), "{out}");

    // Covering the table through its foreign key passes the check again.
    let dir = tempfile::tempdir().unwrap();
    let covered = dir.path().join("covered.toml");
    let shipped = std::fs::read_to_string("config/datamap.toml").unwrap();
    std::fs::write(
        &covered,
        format!(
            "{shipped}\n[[table]]\nname = \"sms_contacts\"\nlink = {{ column = \"user_id\" }}\ncategory = \"profile\"\n\
             erase = {{ action = \"delete\" }}\n"
        ),
    )
    .unwrap();
    let (ok, out) = check(&app, Some(&covered));
    assert!(ok, "{out}");
    assert!(out.contains("is valid"), "{out}");

    // A multi-hop link naming a column its parent does not have.
    platform
        .batch_execute("DROP TABLE sms_contacts")
        .await
        .unwrap();
    let broken = dir.path().join("broken.toml");
    let map = shipped.replace(
        "link = { column = \"image_id\", parent = \"images\" }",
        "link = { column = \"image_id\", parent = \"images\", parent_column = \"image_uuid\" }",
    );
    assert_ne!(map, shipped);
    std::fs::write(&broken, map).unwrap();
    let (ok, out) = check(&app, Some(&broken));
    assert!(!ok, "{out}");
    assert!(
        out.contains("comments_on_subject_images") && out.contains("images.image_uuid"),
        "{out}"
    );
    assert!(
        out.contains("`comments.image_id` -> `images.id`"),
        "the foreign key it no longer follows is named too: {out}"
    );

    // A link through a column that is not the foreign key: the real key is uncovered.
    let misdirected = dir.path().join("misdirected.toml");
    let map = shipped.replace(
        "name = \"sessions\"\nlink = { column = \"user_id\" }",
        "name = \"sessions\"\nlink = { column = \"ip\" }",
    );
    assert_ne!(map, shipped);
    std::fs::write(&misdirected, map).unwrap();
    let (ok, out) = check(&app, Some(&misdirected));
    assert!(!ok, "{out}");
    assert!(
        out.contains("`sessions.user_id` -> `users.id`") && out.contains("links to the subject"),
        "{out}"
    );
    app.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datamap_check_suggests_soft_links() {
    let app = spawn_app().await;
    let (ok, out) = check(&app, None);
    assert!(ok, "{out}");
    assert!(
        !out.contains("suggestion:"),
        "tips' soft links are declared in the demo map: {out}"
    );

    let mut platform = app.platform_db().await;
    platform
        .batch_execute(
            "CREATE TABLE collections (id bigserial PRIMARY KEY, owner_id bigint NOT NULL, title text NOT NULL);
             INSERT INTO collections (owner_id, title) SELECT id, 'favourites' FROM users WHERE id > 0 ORDER BY id LIMIT 5;
             CREATE TABLE audit_notes (id bigserial PRIMARY KEY, created_by bigint, note text);
             INSERT INTO audit_notes (created_by, note) VALUES (987654321, 'imported');",
        )
        .await
        .unwrap();
    let (ok, out) = check(&app, None);
    assert!(ok, "soft links are suggestions, not errors: {out}");
    assert!(out.contains("is valid"), "{out}");
    let line = |needle: &str| out.lines().find(|l| l.contains(needle)).map(str::to_owned);
    let owner = line("`collections.owner_id`")
        .unwrap_or_else(|| panic!("collections.owner_id is suggested: {out}"));
    assert!(
        owner.starts_with("suggestion:") && owner.contains("some of its values are subject keys"),
        "{owner}"
    );
    assert!(owner.contains("soft = true"), "{owner}");
    let created_by = line("`audit_notes.created_by`")
        .unwrap_or_else(|| panic!("audit_notes.created_by is suggested: {out}"));
    assert!(
        created_by.contains("none of its sampled values is a subject key"),
        "{created_by}"
    );
    assert!(!out.contains("tips.from_user_id"), "{out}");
    app.teardown().await;
}

fn entries<'a>(map: &'a DataMap, table: &str, column: &str) -> Vec<&'a TableSpec> {
    map.tables
        .iter()
        .filter(|t| t.table_name() == table && t.link.column == column)
        .collect()
}

fn parent_table<'a>(map: &'a DataMap, entry: &TableSpec) -> Option<&'a str> {
    let parent = entry.link.parent.as_ref()?;
    map.tables
        .iter()
        .find(|t| &t.name == parent)
        .map(TableSpec::table_name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discover_reproduces_a_working_map_for_the_demo_platform() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("discovered.toml");
    let (ok, out) = run(lethe(&app)
        .args(["datamap", "discover", "--out"])
        .arg(&file));
    assert!(ok, "{out}");
    assert!(out.contains("table entries"), "{out}");
    let written = std::fs::read_to_string(&file).unwrap();
    let (ok, printed) = run(lethe(&app).args(["datamap", "discover"]));
    assert!(ok, "{printed}");
    assert_eq!(
        printed, written,
        "without --out the map goes to standard output"
    );
    let (ok, out) = run(lethe(&app)
        .args(["datamap", "discover", "--out"])
        .arg(&file));
    assert!(
        !ok && out.contains("--force"),
        "an existing file is not overwritten: {out}"
    );

    assert!(
        written.contains("placeholder = \"TODO\""),
        "payments' RESTRICT key needs a placeholder:\n{written}"
    );
    let text = written.replace("placeholder = \"TODO\"", "placeholder = \"0\"");
    let map = DataMap::parse(&text).unwrap();
    let bound = lethe::startup::bind_data_map(&text, &app.ctx.platform)
        .await
        .unwrap();
    lethe_jobs::purge::plan(&bound).unwrap();
    let mut conn = app.platform_db().await;
    let catalog = Catalog::load(&mut conn, "public").await.unwrap();
    let report = coverage(&map, &catalog);
    assert!(report.foreign_keys.is_empty(), "{:?}", report.foreign_keys);
    assert!(
        report.personal_columns.is_empty(),
        "{:?}",
        report.personal_columns
    );

    let images = entries(&map, "images", "user_id");
    assert_eq!(images.len(), 1);
    assert!(
        images[0].link.parent.is_none()
            && images[0].export
            && matches!(images[0].erase, Erase::Delete)
    );
    let own = entries(&map, "comments", "user_id");
    assert!(
        own.len() == 1 && own[0].link.parent.is_none() && own[0].export,
        "{text}"
    );
    // Comments on the subject's own images (other paths exist too: images made with the
    // subject's models, through the images <-> models cycle).
    let on_images: Vec<_> = entries(&map, "comments", "image_id")
        .into_iter()
        .filter(|t| t.link.parent.as_deref() == Some(images[0].name.as_str()))
        .collect();
    assert_eq!(on_images.len(), 1, "{text}");
    assert_eq!(parent_table(&map, on_images[0]), Some("images"));
    assert!(
        !on_images[0].export,
        "other people's comments on the subject's images are not exported"
    );
    // Versions of the subject's own models (the cycle also reaches models through images).
    let models = entries(&map, "models", "user_id");
    let versions: Vec<_> = entries(&map, "model_versions", "model_id")
        .into_iter()
        .filter(|t| t.link.parent.as_deref() == Some(models[0].name.as_str()))
        .collect();
    assert_eq!(versions.len(), 1, "{text}");
    assert!(versions[0].export);
    let files: Vec<_> = entries(&map, "model_files", "model_version_id")
        .into_iter()
        .filter(|t| t.link.parent.as_deref() == Some(versions[0].name.as_str()))
        .collect();
    assert_eq!(files.len(), 1, "{text}");
    let payments = entries(&map, "payments", "user_id");
    assert!(
        matches!(payments[0].erase, Erase::Retain { reassign: true, .. }),
        "{text}"
    );
    let actor = entries(&map, "notifications", "actor_id");
    assert!(
        matches!(&actor[0].erase, Erase::Detach { columns } if columns == &["actor_id"]),
        "SET NULL detaches"
    );

    // Every foreign-key entry of the hand-written demo map has its discovered twin, except
    // the self-reference (replies under the subject's comments), which discovery only names.
    let shipped = DataMap::parse(&std::fs::read_to_string("config/datamap.toml").unwrap()).unwrap();
    for entry in shipped.tables.iter().filter(|t| !t.link.soft) {
        let parent = parent_table(&shipped, entry);
        if parent == Some(entry.table_name()) {
            assert!(
                written.contains("comments.parent_id -> comments.id"),
                "{written}"
            );
            continue;
        }
        let twins = entries(&map, entry.table_name(), &entry.link.column);
        assert!(
            twins.iter().any(|t| parent_table(&map, t) == parent),
            "no twin for `{}`:\n{written}",
            entry.name
        );
    }
    // The soft links and object keys a human still has to add are suggested.
    assert!(
        written.contains("# link = { column = \"from_user_id\", soft = true }"),
        "{written}"
    );
    assert!(
        written.contains("# column = \"object_key\"")
            && written.contains("# column = \"file_url\""),
        "{written}"
    );

    // The finished file passes the check as a whole.
    std::fs::write(&file, &text).unwrap();
    let (ok, out) = check(&app, Some(&file));
    assert!(ok, "{out}");
    assert!(out.contains("is valid"), "{out}");
    app.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discover_names_a_missing_subject_column() {
    let app = spawn_app_for_cli().await;
    let (ok, out) = run(lethe(&app).args(["datamap", "discover", "--email-column", "mail"]));
    assert!(!ok);
    assert!(
        out.contains("users.mail") && out.contains("--email-column"),
        "{out}"
    );
    let (ok, out) = run(lethe(&app).args(["datamap", "discover", "--subject-table", "people"]));
    assert!(!ok);
    assert!(out.contains("`people`"), "{out}");
    app.teardown().await;
}

async fn spawn_app_for_cli() -> TestApp {
    crate::helpers::spawn_app_with(crate::helpers::Options {
        users: 3,
        workers: false,
        ..Default::default()
    })
    .await
}
