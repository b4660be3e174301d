//! What the jobs report to the process's metrics recorder (`metrics` facade; the `lethe`
//! binary exposes them in the Prometheus format): each run's duration and failures, and the
//! rows and objects purges erase.

use std::time::Instant;

use apalis::prelude::BoxDynError;

/// Runs one delivery of job `job` (boxed by the caller: a purge's future is large, and
/// the timeout around it should not copy it on the stack), cut off after `limit`, recording
/// `lethe_job_duration_seconds{job}` and, when it fails (to be retried),
/// `lethe_job_failures_total{job}`.
pub async fn job(
    job: &'static str,
    limit: std::time::Duration,
    run: impl Future<Output = Result<(), BoxDynError>>,
) -> Result<(), BoxDynError> {
    let started = Instant::now();
    let outcome = match tokio::time::timeout(limit, run).await {
        Ok(outcome) => outcome,
        Err(_) => Err(format!("the delivery outlived the run limit of {limit:?}").into()),
    };
    metrics::histogram!("lethe_job_duration_seconds", "job" => job)
        .record(started.elapsed().as_secs_f64());
    if outcome.is_err() {
        metrics::counter!("lethe_job_failures_total", "job" => job).increment(1);
    }
    outcome
}

/// A verified purge: its rows and objects.
pub fn purged(rows: u64, objects: u64) {
    metrics::counter!("lethe_purge_rows_total").increment(rows);
    metrics::counter!("lethe_purge_objects_total").increment(objects);
}
