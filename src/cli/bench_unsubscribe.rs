//! `lethe bench unsubscribe`: one-click unsubscribe through the real path (HTTP POST of a
//! link, the suppression list, the request and audit rows, the job that turns the
//! platform's preference off), beside a plain PostgreSQL insert of a suppression row by
//! pgbench at the same concurrency, alternating which side goes first. Then the time from
//! a POST to the platform's preference being off, and the suppression check of 10,000
//! addresses.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use anyhow::Context;
use diesel::sql_types::Text;
use diesel_async::RunQueryDsl;

use super::bench_app::{BenchApp, drive, percentile, pgbench};
use crate::config::Settings;
use crate::unsubscribe::token::{Link, LinkKey};

#[derive(diesel::QueryableByName)]
struct EmailRow {
    #[diesel(sql_type = Text)]
    email: String,
}

/// Runs the benchmark.
pub async fn run(
    settings: &Settings,
    names: &super::bench::Names,
    clicks: usize,
    connections: usize,
    rounds: u32,
) -> anyhow::Result<serde_json::Value> {
    let service_db = names.of("unsub");
    let app = BenchApp::start(
        settings,
        &service_db,
        (clicks * rounds as usize + 50) as u32,
    )
    .await?;
    let (services, address, service_url) = (&app.services, &app.address, &app.service_url);
    let platform = lethe_jobs::platform::pool(&app.platform_url, 2)?;
    let mut conn = platform.get().await?;
    diesel::sql_query("UPDATE marketing_preferences SET newsletter = true")
        .execute(&mut *conn)
        .await?;
    let emails: Vec<EmailRow> =
        diesel::sql_query("SELECT email FROM users WHERE id > 0 ORDER BY id")
            .load(&mut *conn)
            .await?;
    drop(conn);
    let mut emails: VecDeque<String> = emails.into_iter().map(|r| r.email).collect();
    let keyed = crate::secrets::Keyed::new(services.settings.security.secret_key.clone());
    let dir = std::path::PathBuf::from(format!("var/bench-{service_db}"));
    let links = LinkKey::new(&keyed);
    let url_of = |email: &str| {
        let link = Link {
            email: crate::domain::Email::try_from(email).expect("seeded addresses are valid"),
            category: Some("newsletter".into()),
            issued: chrono::Utc::now().date_naive(),
        };
        format!("{address}/v1/unsubscribe/{}", links.seal(&link))
    };
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .build()?;

    // The baseline's table: a suppression row, inserted alone.
    let script = dir.join("insert.sql");
    std::fs::write(
        &script,
        "INSERT INTO bench_suppressions (hash, category, source, created_at) \
         VALUES (decode(md5(random()::text || clock_timestamp()::text), 'hex'), 'newsletter', 'link', now());\n",
    )?;
    {
        use diesel_async::SimpleAsyncConnection;
        let mut service = services.db.get().await?;
        service
            .batch_execute(
                "CREATE TABLE bench_suppressions (LIKE suppressions INCLUDING ALL); \
                 ALTER TABLE bench_suppressions DROP COLUMN request_id",
            )
            .await?;
    }

    let mut ratios = Vec::new();
    let mut all_latencies = Vec::new();
    for round in 1..=rounds {
        let batch: Vec<String> = (0..clicks).filter_map(|_| emails.pop_front()).collect();
        let urls: VecDeque<String> = batch.iter().map(|e| url_of(e)).collect();
        let lethe_first = round % 2 == 1;
        let mut lethe = None;
        let mut raw = None;
        for side in if lethe_first { [0, 1] } else { [1, 0] } {
            if side == 0 {
                lethe = Some(
                    drive(&client, urls.clone(), connections, |c, url: String| {
                        c.post(url)
                            .header("content-type", "application/x-www-form-urlencoded")
                            .body("List-Unsubscribe=One-Click")
                    })
                    .await?,
                );
            } else {
                raw = Some(pgbench(service_url, &script, clicks, connections)?);
            }
        }
        let (rps, mut latencies) = lethe.expect("ran");
        let tps = raw.expect("ran");
        latencies.sort();
        println!(
            "round {round} ({} first): one-click {rps:.0}/s, p50 {:.1} ms, p99 {:.1} ms; pgbench insert {tps:.0}/s; ratio {:.2}",
            if lethe_first { "Lethe" } else { "pgbench" },
            percentile(&latencies, 0.5).as_secs_f64() * 1e3,
            percentile(&latencies, 0.99).as_secs_f64() * 1e3,
            rps / tps
        );
        ratios.push(rps / tps);
        all_latencies.extend(latencies);
    }

    // Let the queue drain, then time POST → preference off, one click at a time.
    let drained = Instant::now();
    while services.queue.backlog().await? != (0, 0) && drained.elapsed() < Duration::from_secs(120)
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut effects = Vec::new();
    let mut conn = platform.get().await?;
    for _ in 0..30 {
        let email = emails.pop_front().context("not enough seeded users")?;
        let started = Instant::now();
        let response = client
            .post(url_of(&email))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("List-Unsubscribe=One-Click")
            .send()
            .await?;
        anyhow::ensure!(
            response.status().is_success(),
            "one-click answered {}",
            response.status()
        );
        loop {
            #[derive(diesel::QueryableByName)]
            struct Off {
                #[diesel(sql_type = diesel::sql_types::Bool)]
                off: bool,
            }
            let row: Off = diesel::sql_query(
                "SELECT NOT p.newsletter AS off FROM marketing_preferences p JOIN users u ON u.id = p.user_id WHERE u.email = $1",
            )
            .bind::<Text, _>(&email)
            .get_result(&mut *conn)
            .await?;
            if row.off {
                break;
            }
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(30),
                "the preference never changed"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        effects.push(started.elapsed());
    }
    drop(conn);
    effects.sort();

    // The suppression check: 10,000 addresses per call.
    let mut staff_conn = services.db.get().await?;
    let mailer = crate::models::staff::Staff::create(
        &mut staff_conn,
        &crate::domain::Email::try_from("bench-mailer@lethe.test")?,
        crate::domain::Role::Mailer,
        &crate::secrets::new_token(),
    )
    .await?;
    let (_, token) = mailer
        .issue_token(&mut staff_conn, &keyed, "bench", chrono::Duration::hours(1))
        .await?;
    drop(staff_conn);
    let addresses: Vec<String> = (0..10_000)
        .map(|i| format!("reader{i}@example.org"))
        .collect();
    let mut checks = Vec::new();
    for _ in 0..10 {
        let started = Instant::now();
        let response = client
            .post(format!("{address}/v1/suppressions/check"))
            .bearer_auth(&token)
            .json(&serde_json::json!({ "emails": addresses, "category": "newsletter" }))
            .send()
            .await?;
        anyhow::ensure!(
            response.status().is_success(),
            "check answered {}",
            response.status()
        );
        response.bytes().await?;
        checks.push(started.elapsed());
    }
    checks.sort();

    all_latencies.sort();
    ratios.sort_by(f64::total_cmp);
    println!("\none-click at {connections} connections, {rounds} rounds of {clicks}:");
    println!(
        "  ratio to pgbench insert: median {:.2} (min {:.2}, max {:.2})",
        ratios[ratios.len() / 2],
        ratios[0],
        ratios[ratios.len() - 1]
    );
    println!(
        "  latency p50 {:.1} ms, p99 {:.1} ms",
        percentile(&all_latencies, 0.5).as_secs_f64() * 1e3,
        percentile(&all_latencies, 0.99).as_secs_f64() * 1e3
    );
    println!(
        "POST to preference off (30 clicks one by one): median {:.0} ms, max {:.0} ms",
        percentile(&effects, 0.5).as_secs_f64() * 1e3,
        effects[effects.len() - 1].as_secs_f64() * 1e3
    );
    println!(
        "suppression check of 10,000 addresses: median {:.0} ms, max {:.0} ms",
        percentile(&checks, 0.5).as_secs_f64() * 1e3,
        checks[checks.len() - 1].as_secs_f64() * 1e3
    );

    drop(platform);
    app.finish().await?;
    Ok(serde_json::json!({
        "connections": connections,
        "clicks_per_round": clicks,
        "ratio": super::bench::spread_json(&mut ratios),
        "p50_ms": percentile(&all_latencies, 0.5).as_secs_f64() * 1e3,
        "p99_ms": percentile(&all_latencies, 0.99).as_secs_f64() * 1e3,
        "post_to_effect_median_ms": percentile(&effects, 0.5).as_secs_f64() * 1e3,
        "post_to_effect_max_ms": effects[effects.len() - 1].as_secs_f64() * 1e3,
        "suppression_check_median_ms": percentile(&checks, 0.5).as_secs_f64() * 1e3,
    }))
}
