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
    base: String,
    names: [String; 2],
    handle: actix_web::dev::ServerHandle,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    workers: tokio::task::JoinHandle<anyhow::Result<()>>,
    stop: tokio::sync::oneshot::Sender<()>,
    background: Background,
}

impl BenchApp {
    /// Recreates databases `name` and `name_platform` (on the server of
    /// `platform.database_url`), seeds `users` demo users, and starts everything with its
    /// files under `var/bench-<name>`.
    pub async fn start(settings: &Settings, name: &str, users: u32) -> anyhow::Result<Self> {
        let dir = std::path::PathBuf::from(format!("var/bench-{name}"));
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        std::fs::create_dir_all(&dir)?;
        let base = settings.platform.database_url.expose_secret().to_owned();
        let platform_name = format!("{name}_platform");
        let service_url = super::bench::recreate_database(&base, name, None).await?;
        let platform_url = super::bench::recreate_database(&base, &platform_name, None).await?;
        let mut settings = settings.clone();
        settings.database.url = SecretString::from(service_url.clone());
        settings.platform.database_url = SecretString::from(platform_url.clone());
        settings.security.secret_key = SecretString::from(crate::secrets::new_secret_key());
        settings.storage.embedded_dir = dir.join("s3");
        settings.storage.embedded_listen = "127.0.0.1:0".parse()?;
        settings.mail.mailbox_dir = dir.join("mailbox");
        settings.server.listen = "127.0.0.1:0".parse()?;
        settings.rate_limit.intake_per_ip_per_minute = 1_000_000;
        settings.rate_limit.intake_per_client_email_per_hour = 1_000_000;
        settings.rate_limit.verify_per_ip_per_minute = 1_000_000;
        let map_path = dir.join("datamap.toml");
        std::fs::write(&map_path, crate::demo::DATA_MAP)?;
        settings.platform.data_map = map_path;
        crate::cli::migrate::run(&settings).await?;
        let services = Services::start(settings).await?;
        println!("seeding {users} users …");
        let platform = lethe_jobs::platform::pool(&platform_url, 2)?;
        let mut conn = platform.get().await?;
        crate::demo::install_and_seed(&mut conn, &services.storage, users, 0.42).await?;
        drop(conn);
        drop(platform);

        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let address = format!("http://{}", listener.local_addr()?);
        let data = services.job_context().await?;
        let app = Application::build(services.app_state()?, listener)?;
        let handle = app.handle();
        let server = tokio::spawn(app.run());
        let (workers, stop) = spawn_workers(data, worker_settings(&services.settings));
        let background = services.background()?;
        Ok(Self {
            services,
            address,
            service_url,
            platform_url,
            base,
            names: [name.to_owned(), platform_name],
            handle,
            server,
            workers,
            stop,
            background,
        })
    }

    /// Stops everything and drops the databases.
    pub async fn finish(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        self.workers.await??;
        self.handle.stop(true).await;
        self.background.stop().await;
        self.server.await??;
        if let Some(s3) = self.services.embedded_s3 {
            s3.shutdown().await;
        }
        drop(self.services.db);
        for name in &self.names {
            super::bench::drop_database(&self.base, name).await?;
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
                anyhow::ensure!(
                    response.status().is_success(),
                    "the API answered {}",
                    response.status()
                );
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
