//! `spawn_app`: the real application on port 0, its own service and platform databases
//! (dropped afterwards), the embedded S3 server over HTTP, a mailbox directory, and job
//! workers in-process. `teardown` fails the test if jobs were left behind.

mod logs;
mod mail;
mod process;
mod requests;
mod staff;

pub use logs::{captured_logs, contains_token};
pub use mail::mail_body;
pub use process::{lethe_command, run_command};
pub use requests::Verified;
pub use staff::assert_rehearsal_counted_the_purge;

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use lethe::config::Settings;
use lethe::startup::{Application, Services, spawn_workers, worker_settings};
use lethe_jobs::queue::JobContext;
use secrecy::SecretString;

use logs::init_logging;

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

impl TestApp {
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

impl Drop for TestApp {
    fn drop(&mut self) {
        if !self.torn_down {
            drop_databases(&self.databases);
        }
    }
}

/// One text column named `v`, for ad-hoc SQL in tests.
#[derive(diesel::QueryableByName)]
pub struct TextRow {
    /// The value.
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub v: String,
}
