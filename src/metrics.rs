//! Prometheus metrics of a Lethe process, served on `metrics.listen` (an internal address;
//! empty: off) at `GET /metrics`.
//!
//! Recorded as they happen (by the jobs of this process, through the `metrics` facade):
//! `lethe_job_duration_seconds{job}`, `lethe_job_failures_total{job}`,
//! `lethe_purge_rows_total`, `lethe_purge_objects_total`. Read from the service database
//! at each scrape (the same in every process): `lethe_requests{kind,status}`,
//! `lethe_requests_overdue{kind}`, `lethe_requests_next_due_seconds{kind}` (seconds until
//! the soonest due date of an open request; negative when overdue), `lethe_queue_jobs{state}`,
//! `lethe_outbox_messages` and `lethe_audit_unsealed`.

use std::collections::HashSet;
use std::net::TcpListener;
use std::sync::{Mutex, OnceLock};

use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::Context;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double, Nullable, Text};
use diesel_async::RunQueryDsl;
use lethe_jobs::queue::Queue;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::db::DbPool;
use crate::schema::{audit_pending, outbox};

/// The process's recorder, installed on first use.
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full("lethe_job_duration_seconds".into()),
                &[0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0, 120.0, 600.0, 3600.0],
            )
            .expect("static buckets")
            .build_recorder();
        let handle = recorder.handle();
        // Tests start several apps in one process: the first recorder stays.
        let _ = metrics::set_global_recorder(recorder);
        metrics::describe_histogram!(
            "lethe_job_duration_seconds",
            metrics::Unit::Seconds,
            "time of one run of a job, by job"
        );
        metrics::describe_counter!(
            "lethe_job_failures_total",
            "runs of a job that failed and will be retried, by job"
        );
        metrics::describe_counter!("lethe_purge_rows_total", "rows erased by verified purges");
        metrics::describe_counter!(
            "lethe_purge_objects_total",
            "objects deleted by verified purges"
        );
        metrics::describe_gauge!("lethe_requests", "requests by kind and status");
        metrics::describe_gauge!(
            "lethe_requests_overdue",
            "open requests past their due date"
        );
        metrics::describe_gauge!(
            "lethe_requests_next_due_seconds",
            metrics::Unit::Seconds,
            "seconds until the soonest due date of an open request (negative: overdue)"
        );
        metrics::describe_gauge!("lethe_queue_jobs", "jobs due (pending) and running");
        metrics::describe_gauge!("lethe_outbox_messages", "mail waiting to be sent");
        metrics::describe_gauge!("lethe_audit_unsealed", "audit entries not yet chained");
        handle
    })
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Due {
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = BigInt)]
    overdue: i64,
    #[diesel(sql_type = Nullable<Double>)]
    next_due: Option<f64>,
}

/// Label sets reported at the last scrape, so that one that disappeared reads 0.
static SEEN: Mutex<Option<HashSet<(String, String)>>> = Mutex::new(None);

/// Refreshes the database-derived gauges and renders everything.
pub async fn render(db: &DbPool, queue: &Queue) -> anyhow::Result<String> {
    let handle = handle();
    let mut conn = db.get().await?;
    let counts: Vec<Count> =
        diesel::sql_query("SELECT kind, status, count(*) AS n FROM requests GROUP BY kind, status")
            .load(&mut conn)
            .await?;
    let due: Vec<Due> = diesel::sql_query(
        "SELECT kind, count(*) FILTER (WHERE due_at < now()) AS overdue, \
                min(extract(epoch FROM due_at - now()))::float8 AS next_due \
         FROM requests \
         WHERE status IN ('pending_verification', 'verified', 'approved', 'processing') \
         GROUP BY kind",
    )
    .load(&mut conn)
    .await?;
    let outbox: i64 = outbox::table.count().get_result(&mut conn).await?;
    let unsealed: i64 = audit_pending::table.count().get_result(&mut conn).await?;
    drop(conn);
    let (pending, running) = queue.backlog().await?;

    let mut now_seen = HashSet::new();
    for c in &counts {
        metrics::gauge!("lethe_requests", "kind" => c.kind.clone(), "status" => c.status.clone())
            .set(c.n as f64);
        now_seen.insert((c.kind.clone(), c.status.clone()));
    }
    for d in &due {
        metrics::gauge!("lethe_requests_overdue", "kind" => d.kind.clone()).set(d.overdue as f64);
        if let Some(next) = d.next_due {
            metrics::gauge!("lethe_requests_next_due_seconds", "kind" => d.kind.clone()).set(next);
        }
        now_seen.insert((d.kind.clone(), String::new()));
    }
    let mut seen = SEEN.lock().expect("not poisoned");
    for (kind, status) in seen.take().unwrap_or_default().difference(&now_seen) {
        if status.is_empty() {
            metrics::gauge!("lethe_requests_overdue", "kind" => kind.clone()).set(0.0);
        } else {
            metrics::gauge!("lethe_requests", "kind" => kind.clone(), "status" => status.clone())
                .set(0.0);
        }
    }
    *seen = Some(now_seen);
    drop(seen);
    metrics::gauge!("lethe_queue_jobs", "state" => "pending").set(pending as f64);
    metrics::gauge!("lethe_queue_jobs", "state" => "running").set(running as f64);
    metrics::gauge!("lethe_outbox_messages").set(outbox as f64);
    metrics::gauge!("lethe_audit_unsealed").set(unsealed as f64);
    Ok(handle.render())
}

struct Sources {
    db: DbPool,
    queue: Queue,
}

async fn scrape(sources: web::Data<Sources>) -> HttpResponse {
    match render(&sources.db, &sources.queue).await {
        Ok(text) => HttpResponse::Ok()
            .content_type("text/plain; version=0.0.4")
            .body(text),
        Err(error) => {
            tracing::warn!(
                error = crate::telemetry::loggable(&error),
                "metrics scrape failed"
            );
            HttpResponse::ServiceUnavailable().finish()
        }
    }
}

/// The metrics endpoint, running.
pub struct MetricsServer {
    port: u16,
    handle: actix_web::dev::ServerHandle,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl MetricsServer {
    /// Serves `GET /metrics` on `listen` (one worker thread).
    pub fn start(listen: &str, db: DbPool, queue: Queue) -> anyhow::Result<Self> {
        handle();
        let listener = TcpListener::bind(listen).with_context(|| {
            format!("binding the metrics endpoint to {listen} (metrics.listen)")
        })?;
        let port = listener.local_addr()?.port();
        let sources = web::Data::new(Sources { db, queue });
        let server = HttpServer::new(move || {
            App::new()
                .app_data(sources.clone())
                .route("/metrics", web::get().to(scrape))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)?
        .run();
        let handle = server.handle();
        Ok(Self {
            port,
            handle,
            task: tokio::spawn(server),
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops serving.
    pub async fn stop(self) {
        self.handle.stop(true).await;
        let _ = self.task.await;
    }
}
