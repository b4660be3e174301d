//! What the HTTP benchmarks share: a whole Lethe (API, workers, audit sealer, mail sender)
//! on fresh databases of their own names, a closed-loop HTTP load driver, and pgbench as
//! the raw floor.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use secrecy::{ExposeSecret, SecretString};

use crate::background::Background;
use crate::config::Settings;
use crate::startup::{Application, Services, spawn_workers, worker_settings};

/// A running Lethe on benchmark databases.
pub struct BenchApp {
    /// Its services.
    pub services: Services,
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    /// The service database's URL.
    pub service_url: String,
    /// The platform database's URL.
    pub platform_url: String,
    /// The secret platform assertions are signed with (see [`BenchApp::assertion`]).
    pub assertion_secret: String,
    base: String,
    /// Databases dropped by [`BenchApp::finish`].
    names: Vec<String>,
    handle: actix_web::dev::ServerHandle,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    workers: Option<(
        tokio::task::JoinHandle<anyhow::Result<()>>,
        tokio::sync::oneshot::Sender<()>,
    )>,
    background: Background,
}

/// The platform a [`BenchApp`] works on.
pub enum Platform {
    /// A fresh database `<name>_platform` with this many demo users (dropped on finish).
    Seeded(u32),
    /// A prepared database, with its objects under `s3_dir`.
    Prepared {
        /// The database's name (on the server of `platform.database_url`).
        name: String,
        /// The embedded S3 server's directory holding its objects.
        s3_dir: std::path::PathBuf,
        /// Whether [`BenchApp::finish`] drops it.
        drop: bool,
    },
}

impl BenchApp {
    /// Recreates databases `name` and `name_platform` (on the server of
    /// `platform.database_url`), seeds `users` demo users, and starts everything with its
    /// files under `var/bench-<name>`.
    pub async fn start(settings: &Settings, name: &str, users: u32) -> anyhow::Result<Self> {
        Self::launch(settings.clone(), name, Platform::Seeded(users), true).await
    }

    /// Recreates the service database `name` and starts the API, the audit sealer and the
    /// mail sender (and job workers when `workers`) on `platform`, with the rest of its
    /// files under `var/bench-<name>`. A request filed with an assertion
    /// ([`BenchApp::assertion`]) is verified at once; an access request is then approved
    /// and queued, a deletion waits for a dry run and one reviewer's approval
    /// ([`BenchApp::staff_token`]) and then has no grace period.
    pub async fn launch(
        mut settings: Settings,
        name: &str,
        platform: Platform,
        workers: bool,
    ) -> anyhow::Result<Self> {
        let dir = std::path::PathBuf::from(format!("var/bench-{name}"));
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        std::fs::create_dir_all(&dir)?;
        let base = settings.platform.database_url.expose_secret().to_owned();
        let service_url = super::bench_prepare::recreate_database(&base, name, None).await?;
        let mut names = vec![name.to_owned()];
        let (platform_url, s3_dir, users) = match platform {
            Platform::Seeded(users) => {
                let platform_name = format!("{name}_platform");
                names.push(platform_name.clone());
                let url =
                    super::bench_prepare::recreate_database(&base, &platform_name, None).await?;
                (url, dir.join("s3"), Some(users))
            }
            Platform::Prepared {
                name: platform_name,
                s3_dir,
                drop,
            } => {
                if drop {
                    names.push(platform_name.clone());
                }
                (
                    super::bench_prepare::with_database(&base, &platform_name)?,
                    s3_dir,
                    None,
                )
            }
        };
        let assertion_secret = crate::secrets::new_secret_key();
        settings.database.url = SecretString::from(service_url.clone());
        settings.platform.database_url = SecretString::from(platform_url.clone());
        settings.security.secret_key = SecretString::from(crate::secrets::new_secret_key());
        settings.security.platform_assertion_secret = SecretString::from(assertion_secret.clone());
        settings.requests.access_require_approval = false;
        settings.requests.deletion_require_approval = true;
        settings.requests.deletion_two_person_rule = false;
        settings.requests.deletion_grace_hours = 0;
        settings.storage.mode = crate::config::StorageMode::Embedded;
        settings.storage.embedded_dir = s3_dir;
        settings.storage.embedded_listen = "127.0.0.1:0".parse()?;
        settings.mail.mailbox_dir = dir.join("mailbox");
        settings.server.listen = "127.0.0.1:0".parse()?;
        settings.metrics.listen = String::new();
        settings.rate_limit.intake_per_ip_per_minute = 1_000_000;
        settings.rate_limit.intake_per_client_email_per_hour = 1_000_000;
        settings.rate_limit.verify_per_ip_per_minute = 1_000_000;
        let map_path = dir.join("datamap.toml");
        std::fs::write(&map_path, crate::demo::DATA_MAP)?;
        settings.platform.data_map = std::path::absolute(&map_path)?;
        crate::cli::migrate::run(&settings).await?;
        let services = Services::start(settings).await?;
        if let Some(users) = users {
            println!("seeding {users} users …");
            let platform = lethe_jobs::platform::pool(&platform_url, 2)?;
            let mut conn = platform.get().await?;
            crate::demo::install_and_seed(&mut conn, &services.storage, users, 0.42).await?;
        }

        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let address = format!("http://{}", listener.local_addr()?);
        let app = Application::build(services.app_state()?, listener)?;
        let handle = app.handle();
        let server = tokio::spawn(app.run());
        let workers = if workers {
            let data = services.job_context().await?;
            Some(spawn_workers(data, worker_settings(&services.settings)))
        } else {
            None
        };
        let background = services.background()?;
        Ok(Self {
            services,
            address,
            service_url,
            platform_url,
            assertion_secret,
            base,
            names,
            handle,
            server,
            workers,
            background,
        })
    }

    /// A platform assertion for the platform's user `subject` (its key), valid for two
    /// minutes: filed with a request, it proves the requester without a code.
    pub fn assertion(&self, subject: &str) -> anyhow::Result<String> {
        let now = chrono::Utc::now().timestamp();
        let claims = serde_json::json!({
            "sub": subject,
            "aud": self.services.settings.security.platform_assertion_audience,
            "iat": now,
            "exp": now + 120,
            // Two assertions for one user in the same second differ by this alone (an
            // assertion is refused the second time it is used).
            "jti": uuid::Uuid::now_v7().to_string(),
        });
        Ok(jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(self.assertion_secret.as_bytes()),
        )?)
    }

    /// A new reviewer's API token.
    pub async fn staff_token(&self) -> anyhow::Result<String> {
        let mut conn = self.services.db.get().await?;
        let email = crate::domain::Email::try_from(
            format!("reviewer.{}@bench.example", uuid::Uuid::now_v7().simple()).as_str(),
        )?;
        let password = crate::secrets::new_token();
        let staff = crate::models::staff::Staff::create(
            &mut conn,
            &email,
            crate::domain::Role::Reviewer,
            &password,
        )
        .await?;
        let keyed = crate::secrets::Keyed::new(self.services.settings.security.secret_key.clone());
        let ttl = self.services.settings.security.staff_token_ttl();
        Ok(staff.issue_token(&mut conn, &keyed, "bench", ttl).await?.1)
    }

    /// Stops the job workers started with the app, letting running jobs finish.
    pub async fn stop_workers(&mut self) -> anyhow::Result<()> {
        if let Some((workers, stop)) = self.workers.take() {
            let _ = stop.send(());
            workers.await??;
        }
        Ok(())
    }

    /// Makes [`BenchApp::finish`] keep the databases (to copy them afterwards).
    pub fn keep_databases(&mut self) {
        self.names.clear();
    }

    /// Stops everything and drops the databases.
    pub async fn finish(self) -> anyhow::Result<()> {
        if let Some((workers, stop)) = self.workers {
            let _ = stop.send(());
            workers.await??;
        }
        self.handle.stop(true).await;
        self.background.stop().await;
        self.server.await??;
        if let Some(s3) = self.services.embedded_s3 {
            s3.shutdown().await;
        }
        drop(self.services.db);
        for name in &self.names {
            super::bench_prepare::drop_database(&self.base, name).await?;
        }
        Ok(())
    }
}

/// The `p` quantile of sorted durations.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Sends one request per item, `connections` at a time (each waits for its answer, which
/// must be a success); the rate per second and each latency.
pub async fn drive<T: Send + 'static>(
    client: &reqwest::Client,
    items: VecDeque<T>,
    connections: usize,
    request: impl Fn(&reqwest::Client, T) -> reqwest::RequestBuilder + Send + Sync + 'static,
) -> anyhow::Result<(f64, Vec<Duration>)> {
    let total = items.len();
    let queue = Arc::new(Mutex::new(items));
    let request = Arc::new(request);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (queue, client, request) = (queue.clone(), client.clone(), request.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let Some(item) = queue.lock().expect("not poisoned").pop_front() else {
                    return anyhow::Ok(latencies);
                };
                let sent = Instant::now();
                let response = request(&client, item).send().await?;
                let status = response.status();
                if !status.is_success() {
                    let url = response.url().path().to_owned();
                    let body = response.text().await.unwrap_or_default();
                    anyhow::bail!("{url} answered {status}: {body}");
                }
                response.bytes().await?;
                latencies.push(sent.elapsed());
            }
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    Ok((total as f64 / started.elapsed().as_secs_f64(), latencies))
}

/// pgbench running `script` `total` times over `connections` clients; its rate.
pub fn pgbench(
    url: &str,
    script: &std::path::Path,
    total: usize,
    connections: usize,
) -> anyhow::Result<f64> {
    let output = std::process::Command::new("pgbench")
        .args(["-n", "-c", &connections.to_string(), "-j", "2"])
        .args(["-t", &(total / connections).max(1).to_string(), "-f"])
        .arg(script)
        .arg(url)
        .output()
        .context("running pgbench")?;
    let text = String::from_utf8_lossy(&output.stdout);
    anyhow::ensure!(output.status.success(), "pgbench failed: {text}");
    text.lines()
        .find(|l| l.starts_with("tps = "))
        .and_then(|l| l.split_whitespace().nth(2))
        .and_then(|n| n.parse().ok())
        .context("pgbench printed no tps")
}
