//! A delete step too large for one batch picks its rows once and works through them; rows
//! that stop being the subject's while it does are kept, because every batch is re-checked
//! against the subject before its objects and rows go.

use diesel::QueryableByName;
use diesel::sql_types::BigInt;
use diesel_async::{RunQueryDsl, SimpleAsyncConnection};
use lethe::domain::Role;

use super::{N, heavy_subject, no_grace};
use crate::helpers::spawn_app_with;

#[derive(QueryableByName)]
struct Moved {
    #[diesel(sql_type = BigInt)]
    image_id: i64,
    #[diesel(sql_type = BigInt)]
    comment_id: i64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_that_stop_being_the_subjects_while_a_large_step_runs_are_kept() {
    let mut app = spawn_app_with(no_grace()).await;
    let mut platform = app.platform_db().await;
    let subject = heavy_subject(&mut platform).await;
    let s = subject.id;
    let other: N = diesel::sql_query("SELECT min(id) AS n FROM users WHERE id > 0 AND id <> $1")
        .bind::<BigInt, _>(s)
        .get_result(&mut platform)
        .await
        .unwrap();
    let other = other.n;
    // More of the subject's comments (their own, and everyone's under their images) than
    // one batch of 7 holds, so the comments step works from a pick.
    let reached: N = diesel::sql_query(
        "SELECT count(*) AS n FROM comments c WHERE c.user_id = $1 \
         OR c.image_id IN (SELECT id FROM images WHERE user_id = $1)",
    )
    .bind::<BigInt, _>(s)
    .get_result(&mut platform)
    .await
    .unwrap();
    assert!(reached.n > 8, "{} comments", reached.n);

    // After the first batch of comments goes (in the rehearsal too, rolled back with it),
    // one of the subject's images that still has other people's comments under it passes
    // to another user (recorded in a schema the data map does not cover): those comments
    // are no longer the subject's.
    platform
        .batch_execute(&format!(
            "CREATE SCHEMA lethe_test;
             CREATE TABLE lethe_test.moved (image_id bigint NOT NULL, comment_id bigint NOT NULL);
             CREATE FUNCTION lethe_test.meanwhile() RETURNS trigger LANGUAGE plpgsql AS $$
             DECLARE img bigint;
             BEGIN
               IF EXISTS (SELECT 1 FROM lethe_test.moved) THEN RETURN NULL; END IF;
               SELECT i.id INTO img FROM images i WHERE i.user_id = {s}
                 AND EXISTS (SELECT 1 FROM comments c WHERE c.image_id = i.id AND c.user_id <> {s})
                 ORDER BY i.id LIMIT 1;
               IF img IS NULL THEN RETURN NULL; END IF;
               UPDATE images SET user_id = {other} WHERE id = img;
               INSERT INTO lethe_test.moved
                 SELECT img, c.id FROM comments c WHERE c.image_id = img AND c.user_id <> {s};
               RETURN NULL;
             END $$;
             CREATE TRIGGER lethe_test_meanwhile AFTER DELETE ON comments
               FOR EACH STATEMENT EXECUTE FUNCTION lethe_test.meanwhile();"
        ))
        .await
        .unwrap();
    // The trigger is part of the schema the workers bound: they start again on it.
    let map = app.services.settings.platform.data_map.clone();
    app.restart_workers_with_map(&map).await;
    let reviewer = app.staff_token("reviewer@lethe.test", Role::Reviewer).await;
    let request = app.approved_deletion(&subject.email, &reviewer).await;
    let done = app
        .wait_for_staff_status(&request.id, &reviewer, "completed")
        .await;

    let moved: Vec<Moved> =
        diesel::sql_query("SELECT image_id, comment_id FROM lethe_test.moved ORDER BY comment_id")
            .load(&mut platform)
            .await
            .unwrap();
    assert!(
        !moved.is_empty(),
        "the image changed hands during the purge"
    );
    let image = moved[0].image_id;
    let kept: N = diesel::sql_query(
        "SELECT count(*) AS n FROM comments WHERE id = ANY($1) AND image_id = $2",
    )
    .bind::<diesel::sql_types::Array<BigInt>, _>(
        moved.iter().map(|m| m.comment_id).collect::<Vec<_>>(),
    )
    .bind::<BigInt, _>(image)
    .get_result(&mut platform)
    .await
    .unwrap();
    assert_eq!(
        kept.n,
        moved.len() as i64,
        "other people's comments under the image stay: {done}"
    );
    let owner: N = diesel::sql_query("SELECT user_id AS n FROM images WHERE id = $1")
        .bind::<BigInt, _>(image)
        .get_result(&mut platform)
        .await
        .unwrap();
    assert_eq!(owner.n, other, "the image stays with its new owner");
    let left: N = diesel::sql_query("SELECT count(*) AS n FROM comments WHERE user_id = $1")
        .bind::<BigInt, _>(s)
        .get_result(&mut platform)
        .await
        .unwrap();
    assert_eq!(left.n, 0);
    app.teardown().await;
}
