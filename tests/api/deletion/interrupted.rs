//! A purge killed at every operation boundary, then run again, ends exactly like an
//! uninterrupted one; delivered twice at once, it ends the same too.

use std::sync::atomic::{AtomicI64, Ordering};

use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use lethe_jobs::datamap::{BoundMap, SubjectKey};
use lethe_jobs::purge::{Plan, Purger, Target, plan};
use lethe_jobs::storage::ObjectRef;

use crate::fixtures::{fingerprint, heavy_subject, subject_objects};
use crate::helpers::{Options, TestApp, spawn_app_with};

/// A fresh copy of the seeded platform, bound and planned, with its objects restored.
struct Copy {
    url: String,
    pool: lethe_jobs::platform::PlatformPool,
    map: BoundMap,
    plan: Plan,
}

async fn copy_of(
    app: &TestApp,
    template: &str,
    name: &str,
    restore: &[(ObjectRef, Vec<u8>)],
) -> Copy {
    let mut admin = AsyncPgConnection::establish(&crate::helpers::admin_url())
        .await
        .unwrap();
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await
        .unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE {name} TEMPLATE {template}"))
        .await
        .unwrap();
    let url = app.platform_url.replace(
        &app.platform_url[app.platform_url.rfind('/').unwrap() + 1..],
        name,
    );
    let objects = restore
        .iter()
        .map(|(o, b)| (o.clone(), b.clone(), "application/octet-stream"))
        .collect();
    lethe::demo::put_all(&app.services.storage, objects)
        .await
        .unwrap();
    let pool = lethe_jobs::platform::pool(&url, 3).unwrap();
    let text = std::fs::read_to_string("config/datamap.toml").unwrap();
    let map = lethe::startup::bind_data_map(&text, &pool).await.unwrap();
    let plan = plan(&map);
    Copy {
        url,
        pool,
        map,
        plan,
    }
}

async fn drop_db(name: &str) {
    let mut admin = AsyncPgConnection::establish(&crate::helpers::admin_url())
        .await
        .unwrap();
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await
        .unwrap();
}

async fn run_all(purger: &Purger<'_>, plan: &Plan, target: &Target) -> anyhow::Result<()> {
    for step in &plan.steps {
        purger.run_step(step, target).await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purge_killed_at_every_boundary_then_rerun_ends_exactly_like_an_uninterrupted_one() {
    let app = spawn_app_with(Options {
        users: 20,
        workers: false,
        ..Default::default()
    })
    .await;
    // A template nobody is connected to, so that copies are cheap.
    let template = format!(
        "{}_tmpl",
        &app.platform_url[app.platform_url.rfind('/').unwrap() + 1..]
    );
    let mut admin = AsyncPgConnection::establish(&crate::helpers::admin_url())
        .await
        .unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE {template}"))
        .await
        .unwrap();
    let template_url = app.platform_url.replace(
        &app.platform_url[app.platform_url.rfind('/').unwrap() + 1..],
        &template,
    );
    let mut conn = AsyncPgConnection::establish(&template_url).await.unwrap();
    lethe::demo::install_and_seed(&mut conn, &app.services.storage, 20, 0.42)
        .await
        .unwrap();
    let subject = heavy_subject(&mut conn).await;
    // The subject's objects, to put back before each run (everyone else's are never touched).
    let mut restore = Vec::new();
    for path in subject_objects(&mut conn, subject.id).await {
        let (bucket, key) = path.split_once('/').unwrap();
        let object = ObjectRef {
            bucket: bucket.into(),
            key: key.into(),
        };
        let bytes = app
            .services
            .storage
            .get_bytes(&object)
            .await
            .unwrap()
            .expect("seeded object");
        restore.push((object, bytes));
    }
    drop(conn);
    let target = Target {
        subject: SubjectKey::new(subject.id.to_string()),
        identities: vec![subject.email.clone(), subject.username.clone()],
        hash_key: "test-anonymize-key".into(),
    };

    // The reference: one uninterrupted purge, counting its operation boundaries.
    let reference_db = format!("{template}_ref");
    let copy = copy_of(&app, &template, &reference_db, &restore).await;
    let counter = AtomicI64::new(i64::MAX);
    let purger = Purger {
        object_batch: 2,
        fault: Some(&counter),
        stop: None,
        ..Purger::new(&copy.pool, &copy.map, &app.services.storage, 5)
    };
    run_all(&purger, &copy.plan, &target).await.unwrap();
    let boundaries = i64::MAX - AtomicI64::load(&counter, Ordering::SeqCst);
    assert!(purger.verify(&copy.plan, &target).await.unwrap().is_empty());
    let reference = fingerprint(
        &mut AsyncPgConnection::establish(&copy.url).await.unwrap(),
        &app.services.storage,
    )
    .await;
    drop(copy);
    drop_db(&reference_db).await;
    assert!(
        boundaries > 20,
        "enough boundaries to be meaningful: {boundaries}"
    );
    eprintln!(
        "the purge of subject {} has {boundaries} operation boundaries",
        subject.id
    );

    // Kill it at every boundary, then run again from scratch: the same end state.
    for k in 1..=boundaries {
        let name = format!("{template}_{k}");
        let copy = copy_of(&app, &template, &name, &restore).await;
        let fault = AtomicI64::new(k);
        let killed = Purger {
            object_batch: 2,
            fault: Some(&fault),
            stop: None,
            ..Purger::new(&copy.pool, &copy.map, &app.services.storage, 5)
        };
        let error = run_all(&killed, &copy.plan, &target)
            .await
            .expect_err("the fault strikes");
        assert!(format!("{error:#}").contains("injected fault"), "{error:#}");
        let rerun = Purger {
            object_batch: 2,
            ..Purger::new(&copy.pool, &copy.map, &app.services.storage, 5)
        };
        run_all(&rerun, &copy.plan, &target).await.unwrap();
        assert!(
            rerun.verify(&copy.plan, &target).await.unwrap().is_empty(),
            "boundary {k}"
        );
        let state = fingerprint(
            &mut AsyncPgConnection::establish(&copy.url).await.unwrap(),
            &app.services.storage,
        )
        .await;
        assert_eq!(state, reference, "killed at boundary {k} of {boundaries}");
        drop(copy);
        drop_db(&name).await;
    }

    // Delivered twice at once: both succeed, same end state.
    let name = format!("{template}_twice");
    let copy = copy_of(&app, &template, &name, &restore).await;
    let a = Purger::new(&copy.pool, &copy.map, &app.services.storage, 5);
    let b = Purger::new(&copy.pool, &copy.map, &app.services.storage, 5);
    let (ra, rb) = tokio::join!(
        run_all(&a, &copy.plan, &target),
        run_all(&b, &copy.plan, &target)
    );
    ra.unwrap();
    rb.unwrap();
    let state = fingerprint(
        &mut AsyncPgConnection::establish(&copy.url).await.unwrap(),
        &app.services.storage,
    )
    .await;
    assert_eq!(state, reference);
    drop(copy);
    drop_db(&name).await;
    drop_db(&template).await;
    app.teardown().await;
}
