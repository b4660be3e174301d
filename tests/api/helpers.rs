//! `spawn_app`: the real application on port 0, its own service and platform databases
//! (dropped afterwards), the embedded S3 server over HTTP, a mailbox directory, and job
//! workers in-process. `teardown` fails the test if jobs were left behind.

use std::io::Write;
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use lethe::config::Settings;
use lethe::startup::{Application, Services, spawn_workers, worker_settings};
use lethe_jobs::queue::JobContext;
use secrecy::SecretString;
use serde_json::{Value, json};

/// The PostgreSQL server tests create their databases on: `LETHE_TEST_DATABASE_URL`, by
/// default `postgres://postgres@127.0.0.1:5432/postgres`; when no server answers there, a
/// private cluster (`lethe::private_pg`) under the target's tmp directory, started once
/// and stopped when the test binary exits.
pub fn admin_url() -> String {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        let url = std::env::var("LETHE_TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        if lethe::private_pg::answers(&url) {
            return url;
        }
        let (started, port) = std::sync::mpsc::channel();
        // The cluster lives as long as this thread: the whole test run.
        std::thread::spawn(move || {
            let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("lethe-test-pg");
            match lethe::private_pg::PrivateCluster::start(&dir) {
                Ok(cluster) => {
                    started.send(Ok(cluster.port())).unwrap();
                    loop {
                        std::thread::park();
                    }
                }
                Err(error) => started.send(Err(format!("{error:#}"))).unwrap(),
            }
        });
        let port = port
            .recv()
            .unwrap()
            .unwrap_or_else(|e| panic!("no PostgreSQL at {url}, and no private one: {e}"));
        lethe::private_pg::redirect(&url, port).unwrap()
    })
    .clone()
}

fn db_url(name: &str) -> String {
    let mut url = url::Url::parse(&admin_url()).unwrap();
    url.set_path(&format!("/{name}"));
    url.to_string()
}

/// Everything the tests log, to check that no personal data reaches a log.
pub fn captured_logs() -> String {
    String::from_utf8_lossy(&LOGS.get_or_init(Default::default).lock().unwrap()).into_owned()
}

static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

#[derive(Clone)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn init_logging() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        let buffer = LOGS.get_or_init(Default::default).clone();
        let _ = tracing_subscriber::fmt()
            .with_env_filter(lethe::telemetry::filter(
                "debug,h2=info,hyper=info,aws=info,rustls=info,tower=info",
            ))
            .with_writer(move || Capture(buffer.clone()))
            .with_ansi(false)
            .try_init();
    });
}

/// Which platform a test app runs against.
#[derive(Debug, Clone, Copy)]
pub enum Platform {
    /// The small demo platform (`src/demo/platform.sql`) with `Options::users` users.
    Demo,
    /// The large messy platform (~270 tables) of `lethe::demo::large`.
    Large(lethe::demo::large::LargeOptions),
}

/// How to build a test app.
pub struct Options {
    /// Which platform.
    pub platform: Platform,
    /// Users in the demo platform.
    pub users: u32,
    /// Run job workers in-process.
    pub workers: bool,
    /// Adjust settings before start.
    pub tweak: Box<dyn FnOnce(&mut Settings) + Send>,
    /// SQL run on the seeded platform before the data map is bound (extra tables).
    pub platform_sql: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            platform: Platform::Demo,
            users: 30,
            workers: true,
            tweak: Box::new(|_| {}),
            platform_sql: None,
        }
    }
}

/// A running Lethe with its own databases.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    /// HTTP client.
    pub client: reqwest::Client,
    /// The connected services.
    pub services: Services,
    /// Job context (platform pool, bound map, storage).
    pub ctx: Arc<JobContext>,
    /// Platform database URL.
    pub platform_url: String,
    /// What seeding the large platform made (its heavy subjects), when it was used.
    pub large: Option<lethe::demo::large::LargeSeed>,
    /// Service database URL.
    pub service_url: String,
    mailbox: PathBuf,
    databases: Vec<String>,
    workers: Option<(
        tokio::task::JoinHandle<anyhow::Result<()>>,
        tokio::sync::oneshot::Sender<()>,
    )>,
    server: actix_web::dev::ServerHandle,
    background: Option<lethe::background::Background>,
    _dir: tempfile::TempDir,
    torn_down: bool,
    /// Tokens and other secrets the test handled: no log may contain them.
    seen: std::sync::Mutex<Vec<String>>,
}

/// Starts an app with default options.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(Options::default()).await
}

/// Starts an app.
pub async fn spawn_app_with(options: Options) -> TestApp {
    init_logging();
    let suffix = uuid::Uuid::now_v7().simple().to_string();
    let service_db = format!("lethe_test_{suffix}");
    let platform_db = format!("lethe_test_p_{suffix}");
    let mut admin = AsyncPgConnection::establish(&admin_url())
        .await
        .expect("PostgreSQL reachable");
    for name in [&service_db, &platform_db] {
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create a test database");
    }
    drop(admin);

    let dir = tempfile::tempdir().unwrap();
    let mut settings =
        Settings::load_with(None, config::Environment::with_prefix("LETHE_TEST_UNUSED")).unwrap();
    settings.database.url = SecretString::from(db_url(&service_db));
    settings.database.pool_size = 4;
    settings.platform.database_url = SecretString::from(db_url(&platform_db));
    settings.platform.data_map =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config/datamap.toml");
    settings.storage.embedded_dir = dir.path().join("s3");
    settings.storage.embedded_listen = "127.0.0.1:0".parse().unwrap();
    settings.mail.mailbox_dir = dir.path().join("mailbox");
    settings.security.secret_key = SecretString::from("test-secret-key-test-secret-key-0123456789");
    settings.server.listen = "127.0.0.1:0".parse().unwrap();
    settings.server.workers = 1;
    settings.worker.concurrency = 2;
    settings.worker.shutdown_grace_seconds = 5;
    settings.rate_limit.intake_per_ip_per_minute = 1000;
    settings.rate_limit.intake_per_client_email_per_hour = 1000;
    settings.rate_limit.verify_per_ip_per_minute = 1000;
    (options.tweak)(&mut settings);
    settings.validate().unwrap();

    let service_url = db_url(&service_db);
    let platform_url = db_url(&platform_db);
    lethe::cli::migrate::run(&settings)
        .await
        .expect("migrations");
    let services = Services::start(settings).await.expect("services start");
    let mut platform = AsyncPgConnection::establish(&platform_url).await.unwrap();
    let large = match options.platform {
        Platform::Demo => {
            lethe::demo::install_and_seed(&mut platform, &services.storage, options.users, 0.42)
                .await
                .expect("seed platform");
            None
        }
        Platform::Large(large) => Some(
            lethe::demo::large::install_and_seed(&mut platform, &services.storage, &large)
                .await
                .expect("seed the large platform"),
        ),
    };
    if let Some(sql) = &options.platform_sql {
        platform
            .batch_execute(sql)
            .await
            .expect("extra platform SQL");
    }
    drop(platform);
    let ctx = services.job_context().await.expect("job context");

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let app = Application::build(services.app_state().unwrap(), listener).unwrap();
    let address = format!("http://127.0.0.1:{}", app.port());
    let server = app.handle();
    tokio::spawn(app.run());
    let workers = options
        .workers
        .then(|| spawn_workers(ctx.clone(), worker_settings(&services.settings)));
    let background = Some(services.background().unwrap());
    TestApp {
        address,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        mailbox: services.settings.mail.mailbox_dir.clone(),
        services,
        ctx,
        platform_url,
        large,
        service_url,
        databases: vec![service_db, platform_db],
        workers,
        server,
        background,
        _dir: dir,
        torn_down: false,
        seen: Default::default(),
    }
}

/// A filed-and-verified request.
pub struct Verified {
    /// Request id.
    pub id: String,
    /// Requester token.
    pub token: String,
}

impl TestApp {
    /// `POST /v1/requests` with a JSON body.
    pub async fn file(&self, body: Value) -> reqwest::Response {
        self.client
            .post(format!("{}/v1/requests", self.address))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// `POST /v1/requests/{id}/verify`.
    pub async fn verify(&self, id: &str, code: &str) -> reqwest::Response {
        self.client
            .post(format!("{}/v1/requests/{id}/verify", self.address))
            .json(&json!({ "code": code }))
            .send()
            .await
            .unwrap()
    }

    /// `GET /v1/requests/{id}` with a token.
    pub async fn show(&self, id: &str, token: &str) -> reqwest::Response {
        self.client
            .get(format!("{}/v1/requests/{id}", self.address))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    /// Waits (up to 20 s) until the outbox holds no message due for sending: every mail
    /// committed so far is in the mailbox.
    pub async fn mail_settled(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut db = self.service_db().await;
        loop {
            let due: i64 = lethe::schema::outbox::table
                .filter(lethe::schema::outbox::next_attempt_at.le(chrono::Utc::now()))
                .count()
                .get_result(&mut db)
                .await
                .unwrap();
            if due == 0 {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{due} messages stay in the outbox"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Every message in the mailbox addressed to `to`, oldest first, once the outbox has
    /// sent what was committed.
    pub async fn mails_to(&self, to: &str) -> Vec<String> {
        self.mail_settled().await;
        self.mailbox_to(to)
    }

    fn mailbox_to(&self, to: &str) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(&self.mailbox) else {
            return vec![];
        };
        let mut mails: Vec<(std::time::SystemTime, String)> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
            .map(|e| {
                (
                    e.metadata().unwrap().modified().unwrap(),
                    std::fs::read_to_string(e.path()).unwrap(),
                )
            })
            .filter(|(_, text)| {
                text.lines()
                    .any(|l| l.starts_with("To: ") && l.to_lowercase().contains(&to.to_lowercase()))
            })
            .collect();
        mails.sort_by_key(|(t, _)| *t);
        mails.into_iter().map(|(_, text)| text).collect()
    }

    /// The body of the first mail to `to` containing `needle` (waits up to 20 s for it).
    pub async fn mail_containing(&self, to: &str, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(mail) = self.mailbox_to(to).into_iter().find(|m| m.contains(needle)) {
                return mail_body(&mail);
            }
            assert!(Instant::now() < deadline, "no mail to {to} with {needle:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The latest verification code mailed to `to`.
    pub async fn latest_code(&self, to: &str) -> String {
        let mails = self.mails_to(to).await;
        let mail = mails
            .iter()
            .rev()
            .find(|m| m.contains("verification code is"))
            .expect("a code was mailed");
        let line = mail
            .lines()
            .find(|l| l.contains("verification code is"))
            .unwrap();
        line.chars().filter(char::is_ascii_digit).collect()
    }

    /// Files an access request for `email`, reads the code from the mailbox, verifies.
    pub async fn file_and_verify(&self, email: &str) -> Verified {
        self.file_and_verify_kind("access", email).await.0
    }

    /// Files a request of `kind` for `email`, reads the code from the mailbox, verifies;
    /// returns the request and the status verification left it in.
    pub async fn file_and_verify_kind(&self, kind: &str, email: &str) -> (Verified, Value) {
        let response = self.file(json!({ "kind": kind, "email": email })).await;
        assert_eq!(response.status(), 202);
        let filed: Value = response.json().await.unwrap();
        let id = filed["id"].as_str().unwrap().to_owned();
        let code = self.latest_code(email).await;
        let response = self.verify(&id, &code).await;
        assert_eq!(response.status(), 200);
        let verified: Value = response.json().await.unwrap();
        let token = verified["token"].as_str().unwrap().to_owned();
        self.saw(&token);
        (
            Verified { id, token },
            verified["request"]["status"].clone(),
        )
    }

    /// Polls the request until it reaches `status` (or fails the test after 60 s).
    pub async fn wait_for_status(&self, id: &str, token: &str, status: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let view: Value = self.show(id, token).await.json().await.unwrap();
            if view["status"] == status {
                return view;
            }
            assert!(
                Instant::now() < deadline,
                "request never reached {status}: {view}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A connection to the service database.
    pub async fn service_db(&self) -> AsyncPgConnection {
        AsyncPgConnection::establish(&self.service_url)
            .await
            .unwrap()
    }

    /// A connection to the platform database.
    pub async fn platform_db(&self) -> AsyncPgConnection {
        AsyncPgConnection::establish(&self.platform_url)
            .await
            .unwrap()
    }

    /// Stops the workers and starts them again with the data map at `map` (as an operator
    /// does after fixing the map). The HTTP side keeps running.
    pub async fn restart_workers_with_map(&mut self, map: &std::path::Path) {
        if let Some((join, stop)) = self.workers.take() {
            let _ = stop.send(());
            join.await.unwrap().unwrap();
        }
        self.services.settings.platform.data_map = map.to_owned();
        self.ctx = self
            .services
            .job_context()
            .await
            .expect("the new map binds");
        self.workers = Some(spawn_workers(
            self.ctx.clone(),
            worker_settings(&self.services.settings),
        ));
    }

    /// The port of the metrics endpoint, when `metrics.listen` was set.
    pub fn metrics_port(&self) -> Option<u16> {
        self.background.as_ref().and_then(|b| b.metrics_port())
    }

    /// Seals every pending audit entry, then verifies the whole chain with the app's keys.
    pub async fn audit_check(&self) -> lethe::audit::ChainCheck {
        let mut db = self.service_db().await;
        let keys = &self.services.audit_keys;
        lethe::audit::chain::seal_all(&mut db, keys).await.unwrap();
        lethe::audit::verify_chain(&mut db, keys).await.unwrap()
    }

    /// Runs one maintenance sweep now (re-enqueues stranded requests and dry runs).
    pub async fn sweep(&self) {
        lethe_jobs::jobs::maintenance::sweep(&self.ctx)
            .await
            .unwrap();
    }

    /// Waits until the queue is empty, then stops workers and the server and drops the
    /// databases. Fails if jobs were left behind.
    pub async fn teardown(mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (pending, running) = self.services.queue.backlog().await.unwrap();
            if pending == 0 && running == 0 {
                break;
            }
            assert!(
                self.workers.is_some() && Instant::now() < deadline,
                "jobs left behind: {pending} pending, {running} running"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if let Some((join, stop)) = self.workers.take() {
            let _ = stop.send(());
            join.await.unwrap().unwrap();
        }
        self.server.stop(false).await;
        if let Some(background) = self.background.take() {
            background.stop().await;
        }
        self.assert_logs_clean().await;
        drop_databases(&self.databases);
        self.torn_down = true;
    }
}

fn drop_databases(names: &[String]) {
    let names = names.to_vec();
    // Own thread and runtime: this also runs from Drop, during a panic.
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            if let Ok(mut admin) = AsyncPgConnection::establish(&admin_url()).await {
                for name in names {
                    let _ = admin
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                }
            }
        });
    })
    .join()
    .unwrap();
}

impl TestApp {
    /// Remembers a secret the test handled (a token), to check that no log holds it.
    pub fn saw(&self, secret: &str) {
        self.seen.lock().unwrap().push(secret.to_owned());
    }

    /// The logs of the whole run so far (every test of this binary writes to one buffer,
    /// error paths included) hold none of this app's personal data or secrets: the
    /// platform's emails, usernames and IP addresses, every address mail went to, every
    /// code mailed, every token handled.
    async fn assert_logs_clean(&self) {
        let mut secrets: Vec<String> = self.seen.lock().unwrap().clone();
        if let Ok(entries) = std::fs::read_dir(&self.mailbox) {
            for entry in entries.flatten() {
                let Ok(text) = std::fs::read_to_string(entry.path()) else {
                    continue;
                };
                for line in text.lines() {
                    if let Some(to) = line.strip_prefix("To: ") {
                        secrets.push(to.trim().trim_matches(['<', '>']).to_owned());
                    }
                    if line.contains("verification code is") {
                        secrets.push(line.chars().filter(char::is_ascii_digit).collect());
                    }
                }
            }
        }
        let mut platform = self.platform_db().await;
        // The demo platform's people (not its placeholder account, id 0; the large
        // platform has its own answer-key checks).
        let people = diesel::sql_query(
            "SELECT v FROM (SELECT email AS v FROM users WHERE id > 0 \
             UNION ALL SELECT username FROM users WHERE id > 0 \
             UNION ALL SELECT host(signup_ip) FROM users WHERE signup_ip IS NOT NULL \
             UNION ALL SELECT DISTINCT host(ip) FROM sessions) s",
        );
        let demo: Vec<TextRow> = diesel_async::RunQueryDsl::load(
            diesel::sql_query("SELECT coalesce(to_regclass('public.sessions')::text, '') AS v"),
            &mut platform,
        )
        .await
        .unwrap();
        let rows: Vec<TextRow> = if demo[0].v.is_empty() {
            Vec::new()
        } else {
            diesel_async::RunQueryDsl::load(people, &mut platform)
                .await
                .unwrap()
        };
        secrets.extend(rows.into_iter().map(|r| r.v));
        let logs = captured_logs();
        for secret in secrets.iter().filter(|s| s.len() >= 6) {
            if let Some(line) = logs.lines().find(|l| contains_token(l, secret)) {
                // Name where, not what: the line with the value blanked out.
                panic!(
                    "a log line holds personal data or a secret: {}",
                    line.replace(secret.as_str(), "<REDACTED>")
                );
            }
        }
    }
}

/// Whether `needle` occurs in `hay` as a whole token (not inside a longer word or
/// number): `192.168.1.2` does not match `192.168.1.23`.
pub fn contains_token(hay: &str, needle: &str) -> bool {
    let word = |c: char| c.is_alphanumeric() || c == '_';
    hay.match_indices(needle).any(|(at, _)| {
        let before = hay[..at].chars().next_back();
        let after = hay[at + needle.len()..].chars().next();
        !before.is_some_and(word) && !after.is_some_and(word)
    })
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if !self.torn_down {
            drop_databases(&self.databases);
        }
    }
}

/// The body of a mail, decoded if it was sent quoted-printable.
pub fn mail_body(mail: &str) -> String {
    let (headers, body) = mail
        .split_once("\r\n\r\n")
        .or_else(|| mail.split_once("\n\n"))
        .unwrap();
    if !headers.contains("quoted-printable") {
        return body.replace("\r\n", "\n");
    }
    let joined = body.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' && i + 2 < bytes.len() {
            out.push(
                u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap(), 16).unwrap(),
            );
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap().replace("\r\n", "\n")
}

impl TestApp {
    /// The download link from the latest "export is ready" mail to `to` (the mail goes
    /// out just after the request completes: waits up to 10 s for it).
    pub async fn export_link_from_mail(&self, to: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mail = loop {
            let found = self
                .mails_to(to)
                .await
                .into_iter()
                .rev()
                .find(|m| m.contains("export is ready"));
            match found {
                Some(mail) => break mail,
                None if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                None => panic!("an export-ready mail"),
            }
        };
        let mail = &mail;
        let body = mail_body(mail);
        body.lines()
            .find(|l| l.starts_with("http"))
            .expect("a link in the mail")
            .trim()
            .to_owned()
    }
}

impl TestApp {
    /// Creates a staff account with `role` and returns an API token for it.
    pub async fn staff_token(&self, email: &str, role: lethe::domain::Role) -> String {
        let mut conn = self.services.db.get().await.unwrap();
        let email = lethe::domain::Email::try_from(email).unwrap();
        let staff = lethe::models::staff::Staff::create(
            &mut conn,
            &email,
            role,
            "correct horse battery staple",
        )
        .await
        .unwrap();
        let keyed = lethe::secrets::Keyed::new(self.services.settings.security.secret_key.clone());
        let token = staff
            .issue_token(
                &mut conn,
                &keyed,
                "test",
                self.services.settings.security.staff_token_ttl(),
            )
            .await
            .unwrap()
            .1;
        self.saw(&token);
        token
    }

    /// `POST` to a staff endpoint with a token.
    pub async fn staff_post(&self, path: &str, token: &str, body: Value) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.address))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// Asks for a dry run and waits for the worker to finish it; returns the rehearsal as
    /// staff see it (`GET /v1/staff/requests/{id}` → `rehearsal`).
    pub async fn dry_run(&self, request_id: &str, staff: &str) -> Value {
        let response = self
            .staff_post(
                &format!("/v1/staff/requests/{request_id}/dry-run"),
                staff,
                json!({}),
            )
            .await;
        assert_eq!(response.status(), 202, "dry run queued");
        let queued: Value = response.json().await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let view = self.staff_view(request_id, staff).await;
            let rehearsal = &view["rehearsal"];
            if rehearsal["id"] == queued["id"]
                && (rehearsal["status"] == "done" || rehearsal["status"] == "error")
            {
                return rehearsal.clone();
            }
            assert!(
                Instant::now() < deadline,
                "the dry run never finished: {view}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `POST /v1/requests/{id}/cancel` with the requester's token.
    pub async fn cancel(&self, request: &Verified) -> reqwest::Response {
        self.client
            .post(format!(
                "{}/v1/requests/{}/cancel",
                self.address, request.id
            ))
            .bearer_auth(&request.token)
            .send()
            .await
            .unwrap()
    }

    /// `GET /v1/staff/requests/{id}`.
    pub async fn staff_view(&self, request_id: &str, staff: &str) -> Value {
        self.client
            .get(format!("{}/v1/staff/requests/{request_id}", self.address))
            .bearer_auth(staff)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Polls the staff view until the request reaches `status` (or fails after 60 s).
    pub async fn wait_for_staff_status(
        &self,
        request_id: &str,
        staff: &str,
        status: &str,
    ) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let view = self.staff_view(request_id, staff).await;
            if view["status"] == status {
                return view;
            }
            assert!(
                Instant::now() < deadline,
                "request never reached {status}: {view}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Files a deletion for `email`, verifies it, has a reviewer (`reviewer`, a staff
    /// token) dry-run it and approve it.
    pub async fn approved_deletion(&self, email: &str, reviewer: &str) -> Verified {
        let request = self.file_deletion(email).await;
        let dry = self.dry_run(&request.id, reviewer).await;
        assert_eq!(dry["status"], "done", "{dry}");
        let approved = self
            .staff_post(
                &format!("/v1/staff/requests/{}/approve", request.id),
                reviewer,
                json!({}),
            )
            .await;
        assert_eq!(approved.status(), 200);
        request
    }

    /// Files a deletion request for `email` and verifies it by code.
    pub async fn file_deletion(&self, email: &str) -> Verified {
        let (request, status) = self.file_and_verify_kind("deletion", email).await;
        assert_eq!(status, "verified", "deletions wait for staff");
        request
    }
}

/// One text column named `v`, for ad-hoc SQL in tests.
#[derive(diesel::QueryableByName)]
pub struct TextRow {
    /// The value.
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub v: String,
}

/// The `lethe` binary, run from the project root with no `LETHE…` variables inherited.
pub fn lethe_command() -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_lethe"));
    command.current_dir(env!("CARGO_MANIFEST_DIR"));
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("LETHE")) {
        command.env_remove(key);
    }
    command
}

/// Runs a command; whether it succeeded, and its stdout then stderr.
pub fn run_command(command: &mut std::process::Command) -> (bool, String) {
    let output = command.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// Asserts that a rehearsal (the staff view's `rehearsal`) counted, table by table,
/// exactly what the finished purge (the staff view's `result`) did.
pub fn assert_rehearsal_counted_the_purge(dry: &Value, done: &Value) {
    let purged = done["result"]["tables"]
        .as_object()
        .expect("the purge's tables");
    let rehearsed = dry["report"]["tables"]
        .as_object()
        .expect("the rehearsal's tables");
    for (table, counts) in purged {
        for field in ["deleted", "updated", "inserted"] {
            assert_eq!(
                counts[field], rehearsed[table][field],
                "{table}.{field}: purge {counts} vs rehearsal {}",
                rehearsed[table]
            );
        }
    }
    for (table, summary) in rehearsed {
        let any = ["deleted", "updated", "inserted"]
            .iter()
            .any(|f| summary[*f].as_u64().unwrap_or(0) > 0);
        assert!(
            !any || purged.contains_key(table),
            "{table} rehearsed but not purged"
        );
    }
}
