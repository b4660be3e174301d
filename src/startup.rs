//! The one place dependencies are assembled: [`Services`] (databases, queue, object
//! storage, mail), the HTTP [`Application`], and the job workers. `serve`, `work`, `demo`
//! and the tests all start Lethe through here.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::{App, HttpServer, middleware, web};
use anyhow::Context;
use lethe_jobs::datamap::{BoundMap, Catalog, DataMap};
use lethe_jobs::queue::{JobContext, Queue};
use lethe_jobs::s3server::EmbeddedS3;
use lethe_jobs::storage::{S3Settings, Storage};
use secrecy::ExposeSecret;

use crate::assertion::AssertionVerifier;
use crate::audit::AuditKeys;
use crate::background::Background;
use crate::config::{Settings, StorageMode};
use crate::db::{self, DbPool};
use crate::error::{ApiError, json_error};
use crate::lifecycle::service::ServiceLifecycle;
use crate::mail::Mailer;
use crate::outbox::Outbox;
use crate::ratelimit::Limits;
use crate::secrets::Keyed;
use crate::state::AppState;

/// Connections to everything outside the process.
pub struct Services {
    /// Settings.
    pub settings: Settings,
    /// Service database.
    pub db: DbPool,
    /// Job queue.
    pub queue: Queue,
    /// Object storage.
    pub storage: Storage,
    /// Mail, queued in transactions and sent by the background loops.
    pub outbox: Outbox,
    /// The audit chain's keys.
    pub audit_keys: Arc<AuditKeys>,
    /// The embedded S3 server, when this process runs it.
    pub embedded_s3: Option<EmbeddedS3>,
    /// The object-storage endpoint in use.
    pub s3_endpoint: Option<String>,
}

impl Services {
    /// Connects (and, in embedded mode, starts the S3 server); creates the exports and
    /// evidence buckets.
    pub async fn start(settings: Settings) -> anyhow::Result<Self> {
        let (storage, embedded_s3, s3_endpoint) = start_storage(&settings).await?;
        for bucket in [
            &settings.storage.exports_bucket,
            &settings.storage.evidence_bucket,
        ] {
            storage.ensure_bucket(bucket).await.with_context(|| {
                format!(
                    "object storage at {} is not reachable",
                    s3_endpoint.as_deref().unwrap_or("AWS")
                )
            })?;
        }
        let db_url = settings.database.url.expose_secret().to_owned();
        let db = db::pool(&db_url, settings.database.pool_size)?;
        // Each worker holds a LISTEN connection; leave room for pushes.
        let queue =
            Queue::connect(&db_url, (settings.worker.concurrency as u32).max(2) + 4).await?;
        let mailer = Mailer::new(&settings.mail)?;
        let outbox = Outbox::new(
            db.clone(),
            mailer,
            &Keyed::new(settings.security.secret_key.clone()),
            settings.mail.outbox_max_age_hours,
        );
        let audit_keys = Arc::new(AuditKeys::from_settings(&settings));
        Ok(Self {
            settings,
            db,
            queue,
            storage,
            outbox,
            audit_keys,
            embedded_s3,
            s3_endpoint,
        })
    }

    /// Starts the audit sealer, the outbox sender and (on `metrics.listen`) the metrics
    /// endpoint of this process.
    pub fn background(&self) -> anyhow::Result<Background> {
        let listen = &self.settings.metrics.listen;
        let metrics = (!listen.is_empty())
            .then(|| {
                crate::metrics::MetricsServer::start(listen, self.db.clone(), self.queue.clone())
            })
            .transpose()?;
        Ok(Background::spawn(
            self.db.clone(),
            self.audit_keys.clone(),
            crate::audit::chain::CheckpointPolicy::from_settings(&self.settings),
            Duration::from_millis(self.settings.audit.seal_interval_ms),
            self.outbox.clone(),
            metrics,
        )
        .with_deadlines(crate::deadlines::Watch::new(
            &self.settings,
            self.db.clone(),
            self.outbox.clone(),
        )))
    }

    /// The HTTP handlers' shared state (reads the data map for its marketing categories
    /// and its removable resources).
    pub fn app_state(&self) -> anyhow::Result<AppState> {
        let s = &self.settings;
        let map = DataMap::parse(&read_data_map(s)?)?;
        let keyed = Keyed::new(s.security.secret_key.clone());
        Ok(AppState {
            links: std::sync::Arc::new(crate::unsubscribe::token::LinkKey::new(&keyed)),
            marketing: map.marketing.keys().cloned().collect(),
            resources: map.resources.clone(),
            settings: s.clone(),
            db: self.db.clone(),
            keyed: Keyed::new(s.security.secret_key.clone()),
            outbox: self.outbox.clone(),
            queue: self.queue.clone(),
            storage: self.storage.clone(),
            limits: Limits::new(&s.rate_limit),
            assertions: AssertionVerifier::new(
                &s.security.platform_assertion_secret,
                &s.security.platform_assertion_audience,
                s.security.platform_assertion_max_age_seconds,
            ),
        })
    }

    /// What job handlers need: the platform pool, the bound data map, the lifecycle.
    pub async fn job_context(&self) -> anyhow::Result<Arc<JobContext>> {
        let platform = lethe_jobs::platform::pool(
            self.settings.platform.database_url.expose_secret(),
            self.settings.platform.pool_size,
        )?;
        let map = load_data_map(&self.settings, &platform).await?;
        let plan = lethe_jobs::purge::plan(&map);
        let anonymize_key = hex::encode(
            Keyed::new(self.settings.security.secret_key.clone())
                .hash(crate::secrets::label::ANONYMIZE, "platform"),
        );
        let lifecycle = ServiceLifecycle::from_parts(
            self.db.clone(),
            self.outbox.clone(),
            self.storage.clone(),
            &self.settings,
        );
        Ok(Arc::new(JobContext {
            platform,
            map,
            storage: self.storage.clone(),
            lifecycle: Arc::new(lifecycle),
            queue: self.queue.clone(),
            job_timeout: Duration::from_secs(self.settings.worker.job_timeout_seconds),
            lease: Duration::from_secs(self.settings.worker.lease_seconds),
            plan,
            purge_batch_size: self.settings.worker.purge_batch_size,
            purge_max_attempts: self.settings.worker.purge_max_attempts,
            rehearsal_budget: lethe_jobs::purge::Budget {
                time: Duration::from_secs(self.settings.worker.rehearsal_time_budget_seconds),
                rows: self.settings.worker.rehearsal_row_budget,
            },
            anonymize_key,
        }))
    }
}

async fn start_storage(
    settings: &Settings,
) -> anyhow::Result<(Storage, Option<EmbeddedS3>, Option<String>)> {
    let s = &settings.storage;
    let secret = match s.mode {
        StorageMode::External => s.secret_access_key.expose_secret().to_owned(),
        StorageMode::Embedded => {
            lethe_jobs::s3server::secret_for(&s.embedded_dir, s.secret_access_key.expose_secret())?
        }
    };
    let s3 = |endpoint: Option<String>, versioning: bool| S3Settings {
        endpoint,
        region: s.region.clone(),
        path_style: s.path_style,
        access_key_id: s.access_key_id.clone(),
        secret_access_key: secret.clone(),
        versioning,
    };
    match s.mode {
        StorageMode::External => {
            let endpoint = (!s.endpoint.is_empty()).then(|| s.endpoint.clone());
            Ok((Storage::new(&s3(endpoint.clone(), true)), None, endpoint))
        }
        StorageMode::Embedded => {
            match EmbeddedS3::start(
                &s.embedded_dir,
                s.embedded_listen,
                &s.access_key_id,
                &secret,
            )
            .await
            {
                Ok(server) => {
                    let endpoint = server.endpoint();
                    Ok((
                        Storage::new(&s3(Some(endpoint.clone()), false)),
                        Some(server),
                        Some(endpoint),
                    ))
                }
                // Another Lethe process on this machine already serves the embedded store
                // (e.g. `serve` and `work` side by side): share it.
                Err(error)
                    if error
                        .root_cause()
                        .downcast_ref::<std::io::Error>()
                        .is_some_and(|e| e.kind() == std::io::ErrorKind::AddrInUse) =>
                {
                    let endpoint = format!("http://{}", s.embedded_listen);
                    tracing::info!(%endpoint, "embedded S3 address in use; sharing the running server");
                    Ok((
                        Storage::new(&s3(Some(endpoint.clone()), false)),
                        None,
                        Some(endpoint),
                    ))
                }
                Err(error) => Err(error),
            }
        }
    }
}

/// Reads the data map and binds it to the live platform schema; lists every problem.
pub async fn load_data_map(
    settings: &Settings,
    platform: &lethe_jobs::platform::PlatformPool,
) -> anyhow::Result<BoundMap> {
    bind_data_map(&read_data_map(settings)?, platform).await
}

/// The text of the configured data map (`platform.data_map`).
pub fn read_data_map(settings: &Settings) -> anyhow::Result<String> {
    let path = &settings.platform.data_map;
    std::fs::read_to_string(path).with_context(|| {
        format!(
            "reading the data map {} (platform.data_map)",
            path.display()
        )
    })
}

/// Parses a data map and binds it to the live platform schema; refuses a map with any
/// problem, undecided value or live hazard (a missing placeholder, a CHECK constraint a
/// detach would violate), listing them all.
pub async fn bind_data_map(
    text: &str,
    platform: &lethe_jobs::platform::PlatformPool,
) -> anyhow::Result<BoundMap> {
    let map = DataMap::parse(text)?;
    let mut conn = platform
        .get()
        .await
        .context("connecting to the platform database")?;
    let catalog = Catalog::load(&mut conn, &map.schema).await?;
    let undecided_objects = lethe_jobs::datamap::coverage::object_problems(&map);
    let refuse = |problems: Vec<lethe_jobs::datamap::Problem>| {
        let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
        anyhow::anyhow!(
            "the data map is not safe on this platform schema (run `lethe datamap check`):\n  {}",
            lines.join("\n  ")
        )
    };
    if !undecided_objects.is_empty() {
        return Err(refuse(undecided_objects));
    }
    let bound = BoundMap::bind(map, &catalog).map_err(refuse)?;
    let live = bound.live_problems(&mut conn).await?;
    if !live.is_empty() {
        return Err(refuse(live));
    }
    Ok(bound)
}

/// A query-string error without the offending value: serde names the field, not the input.
fn query_problem(error: &actix_web::error::QueryPayloadError) -> String {
    crate::error::describe_fields(&error.to_string(), "parameter")
}

/// The HTTP server, bound and ready to run.
pub struct Application {
    port: u16,
    server: Server,
    limits: crate::ratelimit::Limits,
}

impl Application {
    /// Binds `listener` and builds the server (it runs once awaited via [`Application::run`]).
    pub fn build(state: AppState, listener: TcpListener) -> anyhow::Result<Self> {
        let port = listener.local_addr()?.port();
        let workers = match state.settings.server.workers {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        };
        let limit = state.settings.server.body_limit_bytes;
        let request_timeout = std::time::Duration::from_secs(u64::from(
            state.settings.server.request_timeout_seconds,
        ));
        crate::models::staff::Staff::prepare_sign_in();
        let limits = state.limits.clone();
        let state = web::Data::new(state);
        let server = HttpServer::new(move || {
            App::new()
                .wrap(middleware::from_fn(move |req, next| {
                    crate::routes::within(request_timeout, req, next)
                }))
                .wrap(middleware::from_fn(crate::routes::staff::gate))
                // Answers carry tokens, download links and personal data: never cached;
                // and the browser-hardening headers of every answer.
                .wrap(crate::web::security_headers())
                // Method, path, status, size and time only: no client address, user agent
                // or query string, and no link tokens (see `routes::loggable_path`).
                .wrap(
                    middleware::Logger::new("%{path}xi %s %b %Dms")
                        .custom_request_replace("path", crate::routes::loggable_path),
                )
                .app_data(state.clone())
                .app_data(
                    web::JsonConfig::default()
                        .limit(limit)
                        .error_handler(move |e, _| json_error(e, limit)),
                )
                .app_data(web::PayloadConfig::default().limit(limit))
                .app_data(web::QueryConfig::default().error_handler(|e, _| {
                    ApiError::MalformedBody {
                        message: format!("query string: {}", query_problem(&e)),
                    }
                    .into()
                }))
                .configure(crate::routes::configure)
                .configure(crate::web::configure)
                .default_service(web::to(crate::routes::openapi::unrouted))
        })
        // The request head must arrive within 5 s; the body and the handler within
        // `server.request_timeout_seconds` (see `routes::within`).
        .client_request_timeout(std::time::Duration::from_secs(5))
        .client_disconnect_timeout(std::time::Duration::from_secs(2))
        .listen(listener)?
        .workers(workers)
        .disable_signals()
        .shutdown_timeout(10)
        .run();
        Ok(Self {
            port,
            server,
            limits,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A handle to stop the server.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped through the handle; meanwhile, every minute, the rate
    /// limiters forget the keys that are back to a full budget, so their memory follows
    /// the clients of the last minutes, not every client ever seen.
    pub async fn run(self) -> std::io::Result<()> {
        let limits = self.limits;
        let shrinker = tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(60));
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                limits.shrink();
            }
        });
        let served = self.server.await;
        shrinker.abort();
        served
    }
}

/// Worker settings from configuration.
pub fn worker_settings(settings: &Settings) -> lethe_jobs::jobs::WorkerSettings {
    lethe_jobs::jobs::WorkerSettings {
        concurrency: settings.worker.concurrency,
        maintenance_schedule: settings.worker.maintenance_schedule.clone(),
        shutdown_grace: Duration::from_secs(settings.worker.shutdown_grace_seconds),
    }
}

/// Runs the job workers on this runtime until `stop` fires; returns when they have
/// stopped (running jobs finish first, up to the grace period).
pub fn spawn_workers(
    ctx: Arc<JobContext>,
    settings: lethe_jobs::jobs::WorkerSettings,
) -> (
    tokio::task::JoinHandle<anyhow::Result<()>>,
    tokio::sync::oneshot::Sender<()>,
) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(lethe_jobs::jobs::run(ctx, settings, async move {
        let _ = stopped.await;
        Ok(())
    }));
    (handle, stop)
}
