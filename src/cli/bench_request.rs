//! A request carried through the real path in a benchmark: filed over HTTP with a platform
//! assertion (so it is verified at once, see [`super::bench_app::BenchApp::launch`]), a
//! deletion dry-run and approved by a reviewer over HTTP, queued, claimed and run by a
//! worker with its checkpoints and audit entries; then its times as the service database
//! recorded them.

use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{Array, Jsonb, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use super::bench_app::BenchApp;

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// A finished request's times and result, as the service database recorded them.
#[derive(Debug, Clone, QueryableByName)]
pub struct Carried {
    /// The request.
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    /// `completed` (anything else ends the benchmark with an error).
    #[diesel(sql_type = Text)]
    pub status: String,
    /// Approved (at filing: verified by the assertion, approved by policy).
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub approved_at: Option<DateTime<Utc>>,
    /// Claimed by a worker.
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub started_at: Option<DateTime<Utc>>,
    /// Completed.
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub completed_at: Option<DateTime<Utc>>,
    /// The job's report (an export's or a purge's).
    #[diesel(sql_type = Nullable<Jsonb>)]
    pub result: Option<serde_json::Value>,
}

fn seconds(from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> f64 {
    match (from, to) {
        (Some(from), Some(to)) => (to - from).as_seconds_f64(),
        _ => f64::NAN,
    }
}

impl Carried {
    /// Seconds from approval to completion: the queue, the claim, the job, its audit.
    pub fn approved_to_completed(&self) -> f64 {
        seconds(self.approved_at, self.completed_at)
    }

    /// Seconds from the approval's commit to a worker's claim: the job's insertion into
    /// the queue, its notification and pickup, and the claim. (`enqueued_at` is recorded
    /// after the job is handed over, so a worker may claim it before.)
    pub fn pickup(&self) -> f64 {
        seconds(self.approved_at, self.started_at)
    }

    /// Seconds the claimed job ran.
    pub fn run(&self) -> f64 {
        seconds(self.started_at, self.completed_at)
    }

    /// A number of the job's report (`rows`, `objects`, `rows_total`, …), 0 if absent.
    pub fn figure(&self, name: &str) -> u64 {
        self.result
            .as_ref()
            .and_then(|r| r[name].as_u64())
            .unwrap_or(0)
    }
}

/// Files a request of `kind` for the platform's user `subject` (its key) with an
/// assertion; it must come back approved (an access request) or verified (a deletion,
/// waiting for review). Its id.
pub async fn file(
    app: &BenchApp,
    client: &reqwest::Client,
    kind: &str,
    subject: &str,
) -> anyhow::Result<Uuid> {
    let expected = if kind == "deletion" {
        "verified"
    } else {
        "approved"
    };
    let response = client
        .post(format!("{}/v1/requests", app.address))
        .json(&serde_json::json!({ "kind": kind, "assertion": app.assertion(subject)? }))
        .send()
        .await?;
    let status = response.status();
    let body: serde_json::Value = response.json().await?;
    anyhow::ensure!(
        status.is_success() && body["status"] == expected,
        "filing a {kind} answered {status}: {body}"
    );
    body["id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .context("the filed request has no id")
}

/// `POST /v1/staff/<path>` with the reviewer's `token`; the answer must be `expected`.
async fn staff_post(
    app: &BenchApp,
    client: &reqwest::Client,
    token: &str,
    path: &str,
    expected: u16,
) -> anyhow::Result<()> {
    let response = client
        .post(format!("{}/v1/staff/{path}", app.address))
        .bearer_auth(token)
        .json(&serde_json::json!({}))
        .send()
        .await?;
    let status = response.status();
    anyhow::ensure!(
        status.as_u16() == expected,
        "POST /v1/staff/{path} answered {status}: {}",
        response.text().await.unwrap_or_default()
    );
    Ok(())
}

/// Asks for a dry run of deletion `id`.
pub async fn dry_run(
    app: &BenchApp,
    client: &reqwest::Client,
    token: &str,
    id: Uuid,
) -> anyhow::Result<()> {
    staff_post(app, client, token, &format!("requests/{id}/dry-run"), 202).await
}

/// Approves deletion `id` (its dry run must have finished cleanly).
pub async fn approve(
    app: &BenchApp,
    client: &reqwest::Client,
    token: &str,
    id: Uuid,
) -> anyhow::Result<()> {
    staff_post(app, client, token, &format!("requests/{id}/approve"), 200).await
}

/// Polls `count_sql` (a count of `ids` still open, as `n`) every 10 ms until it is 0, at
/// most `limit`; `what` names them in the error.
async fn until_none_open(
    app: &BenchApp,
    count_sql: &str,
    ids: &[Uuid],
    limit: Duration,
    what: &str,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    let mut conn = app.services.db.get().await?;
    loop {
        let open = diesel::sql_query(count_sql)
            .bind::<Array<SqlUuid>, _>(ids)
            .get_result::<Count>(&mut *conn)
            .await?
            .n;
        if open == 0 {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{open} of {} {what} still open after {limit:?}",
            ids.len()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits (at most `limit`) until the dry runs of every request of `ids` have finished
/// (not necessarily cleanly: approval checks that).
pub async fn wait_dry_runs(app: &BenchApp, ids: &[Uuid], limit: Duration) -> anyhow::Result<()> {
    until_none_open(
        app,
        "SELECT count(*) AS n FROM rehearsals WHERE request_id = ANY($1) \
           AND status IN ('queued', 'running')",
        ids,
        limit,
        "dry runs",
    )
    .await
}

/// Waits until every request of `ids` has finished, polling the service database every
/// 10 ms for at most `limit`; fails if one did not complete.
pub async fn wait(app: &BenchApp, ids: &[Uuid], limit: Duration) -> anyhow::Result<Vec<Carried>> {
    until_none_open(
        app,
        "SELECT count(*) AS n FROM requests WHERE id = ANY($1) \
           AND status IN ('approved', 'processing')",
        ids,
        limit,
        "requests",
    )
    .await?;
    let mut conn = app.services.db.get().await?;
    let carried: Vec<Carried> = diesel::sql_query(
        "SELECT id, status, approved_at, started_at, completed_at, result \
           FROM requests WHERE id = ANY($1) ORDER BY completed_at",
    )
    .bind::<Array<SqlUuid>, _>(ids)
    .load(&mut *conn)
    .await?;
    if let Some(bad) = carried.iter().find(|c| c.status != "completed") {
        anyhow::bail!("request {} ended {}", bad.id, bad.status);
    }
    Ok(carried)
}

#[derive(QueryableByName)]
struct Entry {
    #[diesel(sql_type = Text)]
    label: String,
    #[diesel(sql_type = Timestamptz)]
    at: DateTime<Utc>,
}

/// The slowest parts of purge `id`, from its audit entries: each step that changed
/// something (with the empty steps before it), and the verification with the
/// completion; at most `n`, slowest first, as "label seconds".
pub async fn slowest_steps(app: &BenchApp, id: Uuid, n: usize) -> anyhow::Result<Vec<String>> {
    let mut conn = app.services.db.get().await?;
    let entries: Vec<Entry> = diesel::sql_query(
        "SELECT CASE action WHEN 'purge.step' THEN details->>'step' \
                            WHEN 'purge.completed' THEN 'verification and completion' \
                            ELSE action END AS label, at \
           FROM audit_log WHERE request_id = $1 \
            AND action IN ('request.processing', 'purge.step', 'purge.completed') ORDER BY seq",
    )
    .bind::<SqlUuid, _>(id)
    .load(&mut *conn)
    .await?;
    let mut parts: Vec<(f64, String)> = entries
        .windows(2)
        .map(|w| ((w[1].at - w[0].at).as_seconds_f64(), w[1].label.clone()))
        .collect();
    parts.sort_by(|a, b| b.0.total_cmp(&a.0));
    Ok(parts
        .into_iter()
        .take(n)
        .map(|(t, label)| format!("{label} {t:.2}s"))
        .collect())
}
