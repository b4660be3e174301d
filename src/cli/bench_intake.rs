//! `lethe bench intake`: `POST /v1/requests` through the real path (validation, rate
//! limits, the request, its code and its audit entries in one transaction, the code's
//! mail queued in the outbox) beside pgbench running one durable INSERT of a request row
//! per transaction at the same concurrency, alternating which side goes first. After the
//! rounds it waits until the background has sent every mail and sealed every audit entry
//! into the chain, and reports how long that took after the last answer.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel_async::{RunQueryDsl, SimpleAsyncConnection};

use super::bench_app::{BenchApp, drive, percentile, pgbench};
use crate::config::Settings;
use crate::schema::{audit_pending, outbox};

/// Runs the benchmark.
pub async fn run(
    settings: &Settings,
    names: &super::bench::Names,
    requests: usize,
    connections: usize,
    rounds: u32,
) -> anyhow::Result<serde_json::Value> {
    let service_db = names.of("intake");
    let app = BenchApp::start(settings, &service_db, 10).await?;
    let dir = std::path::PathBuf::from(format!("var/bench-{service_db}"));
    let script = dir.join("insert.sql");
    std::fs::write(
        &script,
        "INSERT INTO bench_requests (id, kind, status, email, email_hash, regime, created_at, due_at) \
         VALUES (gen_random_uuid(), 'access', 'pending_verification', 'bench@example.com', \
                 decode(md5(random()::text || clock_timestamp()::text), 'hex'), 'gdpr', now(), \
                 now() + interval '30 days');\n",
    )?;
    let mut db = app.services.db.get().await?;
    db.batch_execute("CREATE TABLE bench_requests (LIKE requests INCLUDING ALL)")
        .await?;
    drop(db);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .build()?;
    let endpoint = format!("{}/v1/requests", app.address);

    let (mut ratios, mut results) = (Vec::new(), Vec::new());
    let mut all = Vec::new();
    let mut next = 0usize;
    for round in 1..=rounds {
        let emails: VecDeque<String> = (next..next + requests)
            .map(|i| format!("bench.requester.{i}@example.com"))
            .collect();
        next += requests;
        let lethe_first = round % 2 == 1;
        let (mut lethe, mut raw) = (None, None);
        for side in if lethe_first { [0, 1] } else { [1, 0] } {
            if side == 0 {
                let endpoint = endpoint.clone();
                lethe = Some(
                    drive(
                        &client,
                        emails.clone(),
                        connections,
                        move |c, email: String| {
                            c.post(&endpoint)
                                .json(&serde_json::json!({ "kind": "access", "email": email }))
                        },
                    )
                    .await?,
                );
            } else {
                raw = Some(pgbench(&app.service_url, &script, requests, connections)?);
            }
        }
        let (rps, mut latencies) = lethe.expect("ran");
        let tps = raw.expect("ran");
        latencies.sort();
        println!(
            "round {round} ({} first): intake {rps:.0}/s, p50 {:.1} ms, p99 {:.1} ms; pgbench insert {tps:.0}/s; ratio {:.2}",
            if lethe_first { "Lethe" } else { "pgbench" },
            percentile(&latencies, 0.5).as_secs_f64() * 1e3,
            percentile(&latencies, 0.99).as_secs_f64() * 1e3,
            rps / tps
        );
        results.push(serde_json::json!({
            "round": round,
            "first": if lethe_first { "lethe" } else { "pgbench" },
            "lethe_per_s": rps,
            "pgbench_per_s": tps,
            "ratio": rps / tps,
            "p50_ms": percentile(&latencies, 0.5).as_secs_f64() * 1e3,
            "p99_ms": percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        }));
        ratios.push(rps / tps);
        all.extend(latencies);
    }
    let last_answer = Instant::now();
    let mut db = app.services.db.get().await?;
    loop {
        let mails: i64 = outbox::table.count().get_result(&mut db).await?;
        let unsealed: i64 = audit_pending::table.count().get_result(&mut db).await?;
        if mails == 0 && unsealed == 0 {
            break;
        }
        anyhow::ensure!(
            last_answer.elapsed() < Duration::from_secs(300),
            "the background did not catch up: {mails} mails, {unsealed} audit entries left"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let caught_up = last_answer.elapsed();
    drop(db);

    all.sort();
    ratios.sort_by(f64::total_cmp);
    println!(
        "\nintake at {connections} connections, {rounds} rounds of {requests}:\n  ratio to pgbench insert: median {:.2} (min {:.2}, max {:.2})\n  latency p50 {:.1} ms, p99 {:.1} ms\n  every mail sent and every audit entry sealed {:.0} ms after the last answer",
        ratios[ratios.len() / 2],
        ratios[0],
        ratios[ratios.len() - 1],
        percentile(&all, 0.5).as_secs_f64() * 1e3,
        percentile(&all, 0.99).as_secs_f64() * 1e3,
        caught_up.as_secs_f64() * 1e3
    );
    app.finish().await?;
    Ok(serde_json::json!({
        "connections": connections,
        "requests_per_round": requests,
        "ratio": super::bench::spread_json(&mut ratios),
        "p50_ms": percentile(&all, 0.5).as_secs_f64() * 1e3,
        "p99_ms": percentile(&all, 0.99).as_secs_f64() * 1e3,
        "background_caught_up_ms": caught_up.as_secs_f64() * 1e3,
        "rounds": results,
    }))
}
