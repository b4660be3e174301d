//! `lethe bench console`: the web pages under load, through the real server. With
//! `--requests` requests in the database (100,000 by default: every kind and status, 2%
//! child reports), a signed-in reviewer's session walks the console's queue page by page
//! (keyset pages of 50), and opens filtered first pages and the dashboard; beside it
//! pgbench runs the first page's query alone (the database's floor), alternating which
//! goes first. Then the
//! privacy center's start page is fetched at `--connections` concurrency beside
//! `GET /healthz` (the server's floor), alternating.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use diesel_async::SimpleAsyncConnection;

use super::bench_app::{BenchApp, drive, percentile, pgbench};
use crate::config::Settings;

/// What the first page of the open queue costs the database alone (the console's query).
const FIRST_PAGE_SQL: &str = "SELECT * FROM requests \
    WHERE status IN ('pending_verification', 'verified', 'approved', 'processing') \
    ORDER BY (kind <> 'child_report'), due_at, id LIMIT 51;\n";

fn next_link(html: &str) -> Option<String> {
    let before = html.split("rel=\"next\"").next()?;
    if !html.contains("rel=\"next\"") {
        return None;
    }
    let href = before.rsplit("href=\"").next()?;
    Some(href.split('"').next()?.replace("&amp;", "&"))
}

/// Runs the benchmark.
pub async fn run(
    settings: &Settings,
    names: &super::bench::Names,
    requests: u64,
    pages: usize,
    hits: usize,
    connections: usize,
    rounds: u32,
) -> anyhow::Result<serde_json::Value> {
    let service_db = names.of("console");
    let app = BenchApp::start(settings, &service_db, 10).await?;
    println!("inserting {requests} requests …");
    let mut db = app.services.db.get().await?;
    db.batch_execute(&format!(
        "INSERT INTO requests (id, kind, status, email_hash, regime, created_at, due_at) \
         SELECT gen_random_uuid(), \
                (ARRAY['access','deletion','unsubscribe','likeness','child_report'])[CASE WHEN g % 50 = 0 THEN 5 ELSE 1 + g % 4 END], \
                (ARRAY['pending_verification','verified','approved','processing','completed','denied','cancelled','expired'])[1 + (g * 7) % 8], \
                decode(md5(g::text), 'hex'), 'gdpr', \
                now() - (g % 60) * interval '1 day', now() + ((g * 13) % 90 - 30) * interval '1 day' \
         FROM generate_series(1, {requests}) AS g; ANALYZE requests"
    ))
    .await?;
    let email = crate::domain::Email::try_from("bench.reviewer@lethe.test")?;
    let staff = crate::models::staff::Staff::create(
        &mut db,
        &email,
        crate::domain::Role::Reviewer,
        "bench reviewer password",
    )
    .await?;
    let lifetimes = crate::models::staff_session::Lifetimes {
        idle: chrono::Duration::hours(1),
        absolute: chrono::Duration::hours(2),
    };
    let keyed = crate::secrets::Keyed::new(app.services.settings.security.secret_key.clone());
    let token =
        crate::models::staff_session::start(&mut db, &keyed, staff.id, lifetimes, true).await?;
    drop(db);
    let cookie = format!("lethe-console={token}");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .build()?;
    let dir = std::path::PathBuf::from(format!("var/bench-{service_db}"));
    let script = dir.join("first-page.sql");
    std::fs::write(&script, FIRST_PAGE_SQL)?;

    let page = async |path: &str| -> anyhow::Result<(Duration, String)> {
        let sent = Instant::now();
        let response = client
            .get(format!("{}{path}", app.address))
            .header("cookie", &cookie)
            .send()
            .await?;
        anyhow::ensure!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        let html = response.text().await?;
        Ok((sent.elapsed(), html))
    };
    let (mut walk, mut filtered, mut floors) = (Vec::new(), Vec::new(), Vec::new());
    let mut dashboard = Vec::new();
    // The first and the last tenth of each walk: deep keyset pages should cost the same.
    let (mut shallow, mut deep) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        let lethe_first = round % 2 == 1;
        for side in if lethe_first { [0, 1] } else { [1, 0] } {
            if side == 1 {
                // pgbench: the first page's query, one client, as many times as pages walked.
                let tps = pgbench(&app.service_url, &script, pages, 1)?;
                floors.push(Duration::from_secs_f64(1.0 / tps));
                continue;
            }
            let mut path = "/console/requests".to_owned();
            for n in 0..pages {
                let (took, html) = page(&path).await?;
                walk.push(took);
                if n < pages.div_ceil(10) {
                    shallow.push(took);
                } else if n >= pages - pages.div_ceil(10) {
                    deep.push(took);
                }
                match next_link(&html) {
                    Some(next) => path = next,
                    None => path = "/console/requests".to_owned(),
                }
            }
            for path in [
                "/console/requests?kind=child_report",
                "/console/requests?status=verified",
                "/console/requests?due=week",
                "/console/requests?status=all&kind=deletion",
            ] {
                filtered.push(page(path).await?.0);
            }
            dashboard.push(page("/console").await?.0);
        }
    }
    walk.sort();
    shallow.sort();
    deep.sort();
    filtered.sort();
    dashboard.sort();
    floors.sort();
    println!(
        "\nconsole queue over {requests} requests ({rounds} rounds):\n  walking {pages} pages of 50: p50 {:.2} ms, p99 {:.2} ms; first tenth p50 {:.2} ms, last tenth p50 {:.2} ms\n  filtered first pages: p50 {:.2} ms, p99 {:.2} ms\n  dashboard: median {:.2} ms, slowest {:.2} ms\n  pgbench, the first page's query alone: median {:.2} ms per page (ratio of p50 {:.1})",
        ms(percentile(&walk, 0.5)),
        ms(percentile(&walk, 0.99)),
        ms(percentile(&shallow, 0.5)),
        ms(percentile(&deep, 0.5)),
        ms(percentile(&filtered, 0.5)),
        ms(percentile(&filtered, 0.99)),
        ms(percentile(&dashboard, 0.5)),
        ms(dashboard[dashboard.len() - 1]),
        ms(floors[floors.len() / 2]),
        percentile(&walk, 0.5).as_secs_f64() / floors[floors.len() / 2].as_secs_f64()
    );

    let mut ratios = Vec::new();
    let mut starts = Vec::new();
    for round in 1..=rounds {
        let lethe_first = round % 2 == 1;
        let (mut start, mut health) = (0.0, 0.0);
        for side in if lethe_first { [0, 1] } else { [1, 0] } {
            let path = if side == 0 { "/privacy" } else { "/healthz" };
            let url = format!("{}{path}", app.address);
            let (rps, _) = drive(
                &client,
                (0..hits).collect::<VecDeque<_>>(),
                connections,
                move |c, _| c.get(&url),
            )
            .await?;
            if side == 0 { start = rps } else { health = rps }
        }
        println!(
            "round {round}: privacy center start page {start:.0}/s, /healthz {health:.0}/s, ratio {:.2}",
            start / health
        );
        ratios.push(start / health);
        starts.push(start);
    }
    ratios.sort_by(f64::total_cmp);
    starts.sort_by(f64::total_cmp);
    println!(
        "  start page at {connections} connections: median {:.0} requests/s, ratio to /healthz median {:.2}",
        starts[starts.len() / 2],
        ratios[ratios.len() / 2]
    );
    app.finish().await?;
    Ok(serde_json::json!({
        "requests": requests,
        "queue_walk_p50_ms": ms(percentile(&walk, 0.5)),
        "queue_walk_p99_ms": ms(percentile(&walk, 0.99)),
        "queue_first_tenth_p50_ms": ms(percentile(&shallow, 0.5)),
        "queue_last_tenth_p50_ms": ms(percentile(&deep, 0.5)),
        "filtered_p50_ms": ms(percentile(&filtered, 0.5)),
        "filtered_p99_ms": ms(percentile(&filtered, 0.99)),
        "dashboard_median_ms": ms(percentile(&dashboard, 0.5)),
        "pgbench_first_page_median_ms": ms(floors[floors.len() / 2]),
        "start_page_median_per_s": starts[starts.len() / 2],
        "start_page_ratio_to_healthz_median": ratios[ratios.len() / 2],
    }))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
