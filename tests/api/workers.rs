//! Real `lethe work` processes on one queue: killed with SIGKILL at random instants during
//! exports, dry runs and purges and restarted, everything converges exactly once; three
//! of them share 500 requests, none run twice and none lost.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Text};
use diesel_async::RunQueryDsl;
use lethe::domain::Role;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use crate::deletion::{others_digest, touched_keys};
use crate::helpers::{Options, TestApp, TextRow, contains_token, lethe_command, spawn_app_with};

const KEY: &str = "test-secret-key-test-secret-key-0123456789";

/// `lethe work` processes configured like the test app (same databases, object store,
/// mailbox and key), started and killed by the test.
struct Workers {
    env: Vec<(String, String)>,
    logs: std::path::PathBuf,
    children: Vec<Child>,
    started: usize,
}

impl Workers {
    fn new(app: &TestApp, extra: &[(&str, &str)]) -> Self {
        let s = &app.services.settings;
        let endpoint = app
            .services
            .s3_endpoint
            .clone()
            .expect("the embedded store");
        let mut env: Vec<(String, String)> = [
            ("LETHE__DATABASE__URL", app.service_url.clone()),
            ("LETHE__DATABASE__POOL_SIZE", "4".into()),
            ("LETHE__PLATFORM__DATABASE_URL", app.platform_url.clone()),
            (
                "LETHE__PLATFORM__DATA_MAP",
                s.platform.data_map.display().to_string(),
            ),
            ("LETHE__SECURITY__SECRET_KEY", KEY.into()),
            (
                "LETHE__STORAGE__EMBEDDED_DIR",
                s.storage.embedded_dir.display().to_string(),
            ),
            (
                "LETHE__STORAGE__EMBEDDED_LISTEN",
                endpoint.trim_start_matches("http://").into(),
            ),
            (
                "LETHE__MAIL__MAILBOX_DIR",
                s.mail.mailbox_dir.display().to_string(),
            ),
            ("LETHE__WORKER__CONCURRENCY", "2".into()),
            ("LETHE__WORKER__SHUTDOWN_GRACE_SECONDS", "1".into()),
            ("LETHE__LOG__FILTER", "warn".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        env.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        let logs = s.mail.mailbox_dir.with_file_name("worker-logs");
        std::fs::create_dir_all(&logs).unwrap();
        Self {
            env,
            logs,
            children: Vec::new(),
            started: 0,
        }
    }

    fn spawn(&mut self) -> Child {
        self.started += 1;
        let log = std::fs::File::create(self.logs.join(format!("{}.log", self.started))).unwrap();
        lethe_command()
            .arg("work")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("lethe work starts")
    }

    fn start(&mut self, n: usize) {
        for _ in 0..n {
            let child = self.spawn();
            self.children.push(child);
        }
    }

    /// SIGKILL worker `i` and start a new one in its place.
    fn kill_and_restart(&mut self, i: usize) {
        let child = &mut self.children[i];
        child.kill().expect("SIGKILL");
        child.wait().unwrap();
        self.children[i] = self.spawn();
    }

    /// Every worker's log, for a failure message.
    fn logs(&self) -> String {
        let mut out = String::new();
        for entry in std::fs::read_dir(&self.logs).unwrap().flatten() {
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            if !text.trim().is_empty() {
                out.push_str(&format!("--- {}\n{text}", entry.path().display()));
            }
        }
        out
    }

    fn stop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn service_count(app: &TestApp, sql: &str) -> i64 {
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let row: N = diesel::sql_query(sql)
        .get_result(&mut app.service_db().await)
        .await
        .unwrap();
    row.n
}

/// Waits until no request is open; fails after `limit`, printing the workers' logs.
async fn wait_until_settled(app: &TestApp, workers: &tokio::sync::Mutex<Workers>, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let open = service_count(
            app,
            "SELECT count(*) AS n FROM requests WHERE status IN ('verified', 'approved', 'processing')",
        )
        .await;
        let rehearsing = service_count(
            app,
            "SELECT count(*) AS n FROM rehearsals WHERE status NOT IN ('done', 'error')",
        )
        .await;
        if open == 0 && rehearsing == 0 {
            return;
        }
        if Instant::now() > deadline {
            panic!(
                "{open} requests and {rehearsing} dry runs still open\n{}",
                workers.lock().await.logs()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[derive(QueryableByName)]
struct Person {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    email: String,
    #[diesel(sql_type = Text)]
    username: String,
}

/// Seeded: `LETHE_CRASH_SEED` replays a run; `LETHE_CRASH_KILLS` sets the least number of
/// kills (the soak runs hundreds).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_killed_at_random_instants_converge_to_each_request_done_once_and_nothing_else_touched()
 {
    let seed: u64 = std::env::var("LETHE_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::rng().random());
    let least_kills: usize = std::env::var("LETHE_CRASH_KILLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    println!("crash test seed {seed} (LETHE_CRASH_SEED={seed} replays it)");
    let app = spawn_app_with(Options {
        workers: false,
        users: 40,
        tweak: Box::new(|s| {
            s.requests.deletion_grace_hours = 0;
        }),
        ..Default::default()
    })
    .await;
    let worker_env = [
        // Short leases: a killed run's request is taken over within seconds.
        ("LETHE__WORKER__LEASE_SECONDS", "3"),
        ("LETHE__WORKER__MAINTENANCE_SCHEDULE", "*/2 * * * * *"),
        // Small batches: many boundaries for a kill to land between.
        ("LETHE__WORKER__PURGE_BATCH_SIZE", "5"),
        // The test kills far more often than any real fleet: let runs be retried.
        ("LETHE__WORKER__MAX_RUNS", "1000"),
    ];
    let workers = Arc::new(tokio::sync::Mutex::new(Workers::new(&app, &worker_env)));
    workers.lock().await.start(2);

    // Deletions for the heaviest users, access exports for others.
    let mut platform = app.platform_db().await;
    let people: Vec<Person> = diesel::sql_query(
        "SELECT u.id, u.email, u.username FROM users u WHERE u.id > 0 \
         ORDER BY (SELECT count(*) FROM images i WHERE i.user_id = u.id) \
                + 10 * (SELECT count(*) FROM models m WHERE m.user_id = u.id) DESC, u.id",
    )
    .load(&mut platform)
    .await
    .unwrap();
    // The four heaviest are erased; what any of their purges may touch is left out of the
    // digest of everyone else's rows.
    let erased: Vec<&Person> = people.iter().take(4).collect();
    let mut touched: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    for person in &erased {
        for (table, keys) in touched_keys(&mut platform, person.id).await {
            touched.entry(table).or_default().extend(keys);
        }
    }
    let exported: Vec<&Person> = people
        .iter()
        .filter(|p| !erased.iter().any(|e| e.id == p.id))
        .take(6)
        .collect();
    let before = others_digest(&mut platform, &touched).await;
    drop(platform);

    // The killer: SIGKILL a random worker at a random instant, restart it, until told.
    let done = Arc::new(AtomicBool::new(false));
    let kills = Arc::new(AtomicUsize::new(0));
    let killer = {
        let (workers, done, kills) = (workers.clone(), done.clone(), kills.clone());
        tokio::spawn(async move {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            while !AtomicBool::load(&done, Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(rng.random_range(150..900))).await;
                if AtomicBool::load(&done, Ordering::SeqCst) {
                    break;
                }
                let victim = rng.random_range(0..2);
                workers.lock().await.kill_and_restart(victim);
                kills.fetch_add(1, Ordering::SeqCst);
            }
        })
    };

    let reviewer = app
        .staff_token("crash.reviewer@lethe.test", Role::Reviewer)
        .await;
    let mut requests = Vec::new();
    for person in &exported {
        requests.push(("access", app.file_and_verify(&person.email).await));
    }
    for person in &erased {
        let request = app.approved_deletion(&person.email, &reviewer).await;
        requests.push(("deletion", request));
    }
    // Until enough kills have landed, keep work in flight: more exports of the same people,
    // each filed once that person's previous one completed (a filing while one is open
    // would join it).
    let mut last: Vec<usize> = (0..exported.len()).collect();
    let mut next = 0;
    while AtomicUsize::load(&kills, Ordering::SeqCst) < least_kills {
        let i = next % exported.len();
        let (_, previous) = &requests[last[i]];
        let done = app
            .client
            .get(format!("{}/v1/requests/{}", app.address, previous.id))
            .bearer_auth(&previous.token)
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()["status"]
            == "completed";
        if done {
            last[i] = requests.len();
            requests.push(("access", app.file_and_verify(&exported[i].email).await));
        }
        next += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    wait_until_settled(&app, &workers, Duration::from_secs(240)).await;
    done.store(true, Ordering::SeqCst);
    killer.await.unwrap();
    let kills = AtomicUsize::load(&kills, Ordering::SeqCst);
    println!("{kills} kills, {} requests", requests.len());
    assert!(kills >= least_kills, "{kills} kills");

    // Each request completed, once.
    for (kind, request) in &requests {
        let view = app
            .wait_for_status(&request.id, &request.token, "completed")
            .await;
        assert_eq!(view["status"], "completed", "{kind} {}", request.id);
        let completions = service_count(
            &app,
            &format!(
                "SELECT count(*) AS n FROM audit_log WHERE request_id = '{}' \
                 AND action IN ('export.completed', 'purge.completed')",
                request.id
            ),
        )
        .await;
        assert_eq!(completions, 1, "{kind} {} completed once", request.id);
    }
    let runs = service_count(
        &app,
        "SELECT count(*) AS n FROM audit_log WHERE action = 'request.processing'",
    )
    .await;
    println!("{runs} runs for {} requests", requests.len());

    // Nothing of the erased subjects is left: rows, objects, their email or username in
    // any text of any mapped table.
    let mut platform = app.platform_db().await;
    for person in &erased {
        let left = touched_keys(&mut platform, person.id).await;
        for table in [
            "users",
            "images",
            "comments",
            "sessions",
            "follows",
            "reactions",
        ] {
            assert!(
                left[table].is_empty(),
                "{table} of {} left: {:?}",
                person.id,
                left[table]
            );
        }
        for (table, _, _) in crate::deletion::TOUCHED {
            let rows: Vec<TextRow> = diesel::sql_query(format!(
                "SELECT lower(row_to_json(t)::text) AS v FROM {table} t"
            ))
            .load(&mut platform)
            .await
            .unwrap();
            for identity in [&person.email, &person.username] {
                let identity = identity.to_lowercase();
                assert!(
                    !rows.iter().any(|r| contains_token(&r.v, &identity)),
                    "{identity} left in {table}"
                );
            }
        }
        let prefix = format!("avatars/{}/", person.id);
        let keys = app
            .services
            .storage
            .list_prefix("platform-avatars", &prefix)
            .await
            .unwrap();
        assert!(keys.is_empty(), "objects of {} left: {keys:?}", person.id);
    }
    // Nothing else changed.
    let after = others_digest(&mut platform, &touched).await;
    assert_eq!(before, after, "rows outside the subjects' changed");
    drop(platform);
    // The audit chain verifies.
    assert!(
        matches!(
            app.audit_check().await,
            lethe::audit::ChainCheck::Intact { .. }
        ),
        "{:?}",
        app.audit_check().await
    );
    // A killed worker's job rows go back to the queue once its heartbeat is missed; the
    // live workers find those requests done.
    wait_for_empty_queue(&app).await;
    workers.lock().await.stop();
    app.teardown().await;
}

async fn wait_for_empty_queue(app: &TestApp) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let backlog = app.services.queue.backlog().await.unwrap();
        if backlog == (0, 0) {
            return;
        }
        assert!(Instant::now() < deadline, "jobs left behind: {backlog:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_worker_processes_share_500_requests_none_twice_none_lost() {
    const SECRET: &str = "platform-shared-secret-platform-shared-secret";
    let app = spawn_app_with(Options {
        workers: false,
        users: 500,
        tweak: Box::new(|s| {
            s.security.platform_assertion_secret = secrecy::SecretString::from(SECRET);
            s.rate_limit.intake_per_ip_per_minute = 100_000;
        }),
        ..Default::default()
    })
    .await;
    let mut workers = Workers::new(&app, &[]);
    workers.start(3);
    let mut ids = BTreeSet::new();
    let started = Instant::now();
    for user in 1..=500 {
        let now = chrono::Utc::now().timestamp();
        let token = jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &json!({ "sub": user.to_string(), "aud": "lethe", "iat": now, "exp": now + 240 }),
            &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap();
        let response = app
            .file(json!({ "kind": "access", "assertion": token }))
            .await;
        let status = response.status();
        let filed: Value = response.json().await.unwrap();
        assert_eq!(status, 202, "user {user}: {filed}");
        assert_eq!(filed["status"], "approved");
        ids.insert(filed["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids.len(), 500);
    let deadline = Instant::now() + Duration::from_secs(400);
    loop {
        let completed = service_count(
            &app,
            "SELECT count(*) AS n FROM requests WHERE status = 'completed'",
        )
        .await;
        if completed == 500 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{completed} of 500 completed\n{}",
            workers.logs()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // None run twice: one claim and one completion each; none lost: all 500 completed.
    let once = service_count(
        &app,
        "SELECT count(*) AS n FROM (SELECT request_id FROM audit_log \
           WHERE action IN ('request.processing', 'export.completed') \
           GROUP BY request_id HAVING count(*) FILTER (WHERE action = 'request.processing') = 1 \
              AND count(*) FILTER (WHERE action = 'export.completed') = 1) x",
    )
    .await;
    assert_eq!(once, 500, "each request claimed once and completed once");
    println!(
        "500 exports by 3 worker processes in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    wait_for_empty_queue(&app).await;
    workers.stop();
    app.teardown().await;
}
