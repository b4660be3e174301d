//! Identities that cannot be confused: a mailbox that only looks like an account's
//! address (KELVIN SIGN, dotted or dotless I, full-width letters) is another mailbox — it
//! gets no data of the account and cannot delete it.

use std::io::Read;

use diesel::QueryableByName;
use diesel::sql_types::BigInt;
use diesel_async::{RunQueryDsl, SimpleAsyncConnection};
use lethe::domain::Role;
use serde_json::{Value, json};

use crate::helpers::{Options, spawn_app_with};

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// The manifest of the export the link in the latest mail to `to` points at.
async fn manifest(app: &crate::helpers::TestApp, to: &str) -> Value {
    let link = app.export_link_from_mail(to).await;
    let bytes = app
        .client
        .get(&link)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut text = String::new();
    zip.by_name("manifest.json")
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    serde_json::from_str(&text).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_look_alike_mailbox_gets_no_data_of_the_account_and_cannot_delete_it() {
    let app = spawn_app_with(Options {
        tweak: Box::new(|s| s.requests.deletion_grace_hours = 0),
        ..Default::default()
    })
    .await;
    app.platform_db()
        .await
        .batch_execute(
            "INSERT INTO users (email, username) VALUES ('kemi.q@example.com', 'kemi_q'), ('ines.q@example.com', 'ines_q');
             INSERT INTO images (user_id, object_key, width, height) SELECT id, 'images/look-alike.png', 1, 1 FROM users WHERE email = 'kemi.q@example.com';",
        )
        .await
        .unwrap();
    // The account's own address (any ASCII case) finds it.
    let own = app.file_and_verify("KEMI.Q@example.com").await;
    app.wait_for_status(&own.id, &own.token, "completed").await;
    assert_eq!(
        manifest(&app, "KEMI.Q@example.com").await["subject_found"],
        true
    );

    for look_alike in [
        "\u{212A}emi.q@example.com", // KELVIN SIGN
        "\u{FF4B}emi.q@example.com", // full-width k
        "\u{0130}nes.q@example.com", // capital I with dot above
        "\u{0131}nes.q@example.com", // dotless i
    ] {
        let request = app.file_and_verify(look_alike).await;
        app.wait_for_status(&request.id, &request.token, "completed")
            .await;
        let manifest = manifest(&app, look_alike).await;
        assert_eq!(manifest["subject_found"], false, "{look_alike}: {manifest}");
        assert_eq!(manifest["rows_total"], 0, "{look_alike}");
    }

    // A deletion filed from a look-alike mailbox finds no account and deletes nothing.
    let staff = app.staff_token("reviewer@lethe.test", Role::Reviewer).await;
    let request = app.file_deletion("\u{0130}nes.q@example.com").await;
    let view = app.staff_view(&request.id, &staff).await;
    assert_eq!(
        view["verified_email"], "\u{0130}nes.q@example.com",
        "staff see the proved address"
    );
    let dry = app.dry_run(&request.id, &staff).await;
    assert_eq!(dry["report"]["subject_found"], false, "{dry}");
    let approved = app
        .staff_post(
            &format!("/v1/staff/requests/{}/approve", request.id),
            &staff,
            json!({}),
        )
        .await;
    assert_eq!(approved.status(), 200);
    app.wait_for_status(&request.id, &request.token, "completed")
        .await;
    let left: Count = diesel::sql_query("SELECT count(*) AS n FROM users WHERE email IN ('kemi.q@example.com', 'ines.q@example.com')")
        .get_result(&mut app.platform_db().await)
        .await
        .unwrap();
    assert_eq!(left.n, 2, "both accounts are still there");
    app.teardown().await;
}
