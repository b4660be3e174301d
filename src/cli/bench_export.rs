//! `lethe bench export`: the heavy subject's access request carried through the real path
//! (filed over HTTP, queued, claimed; the export reads in one snapshot, writes JSON and
//! CSV per entry, copies objects, deflates and uploads to the embedded S3 server in parts;
//! audit entries and the mail with the link) beside the floor: psql copying the same rows
//! with the same queries, in both formats, in one snapshot, piped through `gzip -1`.
//! Alternating which goes first each round.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use lethe_jobs::datamap::SubjectKey;
use lethe_jobs::export::row_queries;
use lethe_jobs::platform::{SubjectLookup, locate};
use serde_json::json;

use super::bench::{Names, median, spread, spread_json};
use super::bench_app::{BenchApp, Platform};
use super::bench_request::{file, wait};
use crate::config::Settings;

/// Runs `rounds` rounds on the platform database `<prefix>_platform` that
/// `prepare-export` made with its objects in `dir`; the results.
pub async fn run(
    settings: &Settings,
    names: &Names,
    dir: &Path,
    rounds: u32,
) -> anyhow::Result<serde_json::Value> {
    let email = std::fs::read_to_string(dir.join("subject.txt"))
        .context("no prepared benchmark: run `lethe bench prepare-export` first")?;
    let app = BenchApp::launch(
        settings.clone(),
        &names.of("export_svc"),
        Platform::Prepared {
            name: names.of("platform"),
            s3_dir: dir.join("s3"),
            drop: false,
        },
        true,
    )
    .await?;
    let url = app.platform_url.clone();
    let platform = lethe_jobs::platform::pool(&url, 2)?;
    let map = crate::startup::bind_data_map(crate::demo::DATA_MAP, &platform).await?;
    let mut conn = platform.get().await?;
    let subject: SubjectKey = locate(
        &mut conn,
        &map,
        &SubjectLookup::Email(email.trim().to_owned()),
    )
    .await?
    .context("the heavy subject is missing")?;
    drop(conn);

    let mut script = vec!["BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;".to_owned()];
    for query in row_queries(&map, &subject) {
        script.push(format!(
            "COPY (SELECT row_to_json(x) FROM ({}) x) TO STDOUT;",
            query.sql
        ));
        script.push(format!(
            "COPY ({}) TO STDOUT (FORMAT csv, HEADER);",
            query.sql
        ));
    }
    script.push("COMMIT;".to_owned());
    let script_path = dir.join("copy.sql");
    std::fs::write(&script_path, script.join("\n"))?;

    let client = reqwest::Client::new();
    let (mut lethe, mut floor, mut ratios, mut pickups) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut results, mut report, mut gz) = (Vec::new(), None, 0);
    for round in 1..=rounds {
        let lethe_first = round % 2 == 1;
        let (mut ours, mut raw) = (0.0, 0.0);
        for side in if lethe_first { [0, 1] } else { [1, 0] } {
            if side == 0 {
                let id = file(&app, &client, "access", subject.as_str()).await?;
                let carried = wait(&app, &[id], Duration::from_secs(3600)).await?;
                let carried = carried.into_iter().next().context("the request is gone")?;
                ours = carried.approved_to_completed();
                pickups.push(carried.pickup());
                report = Some(carried);
            } else {
                let started = Instant::now();
                gz = copy_floor(&url, &script_path, &dir.join("copy.gz"))?;
                raw = started.elapsed().as_secs_f64();
            }
        }
        println!(
            "round {round} ({} first): export {ours:.2} s (approved to completed), COPY | gzip -1 {raw:.2} s, ratio {:.2}",
            if lethe_first { "Lethe" } else { "COPY" },
            ours / raw
        );
        results.push(json!({
            "round": round,
            "first": if lethe_first { "lethe" } else { "floor" },
            "lethe_s": ours,
            "floor_s": raw,
            "ratio": ours / raw,
        }));
        lethe.push(ours);
        floor.push(raw);
        ratios.push(ours / raw);
    }
    drop(platform);
    app.finish().await?;
    let report = report.context("no round ran")?;
    let mib = |b: u64| b as f64 / 1048576.0;
    let (ours, raw) = (median(&mut lethe), median(&mut floor));
    let rows = report.figure("rows_total");
    println!("rows exported      {rows}");
    println!(
        "objects exported   {} ({:.1} MiB)",
        report.figure("objects"),
        mib(report.figure("object_bytes"))
    );
    println!(
        "archive            {:.1} MiB ({:.1} MiB uncompressed: JSON, CSV, objects)",
        mib(report.figure("archive_bytes")),
        mib(report.figure("content_bytes"))
    );
    println!("floor's output     {:.1} MiB (rows only)", mib(gz));
    println!(
        "export median      {ours:.2} s ({:.0} rows/s), queue pickup median {:.3} s",
        rows as f64 / ours,
        median(&mut pickups)
    );
    println!("floor median       {raw:.2} s");
    println!("ratio median       {}", spread(&mut ratios));
    if report.figure("objects") > 0 {
        println!(
            "                   (the floor copies rows only: prepare with --objects 0 to compare like with like)"
        );
    }
    Ok(json!({
        "rows": rows,
        "objects": report.figure("objects"),
        "archive_bytes": report.figure("archive_bytes"),
        "floor_gzip_bytes": gz,
        "lethe_median_s": ours,
        "floor_median_s": raw,
        "pickup_median_s": median(&mut pickups),
        "ratio": spread_json(&mut ratios),
        "rounds": results,
    }))
}

/// psql running `script` into `gzip -1`; the compressed size.
fn copy_floor(url: &str, script: &Path, out: &Path) -> anyhow::Result<u64> {
    let status = std::process::Command::new("bash")
        .args([
            "-o",
            "pipefail",
            "-c",
            r#"psql -X -q -v ON_ERROR_STOP=1 -d "$1" -f "$2" | gzip -1 > "$3""#,
            "floor",
        ])
        .arg(url)
        .arg(script)
        .arg(out)
        .status()
        .context("running psql and gzip")?;
    anyhow::ensure!(status.success(), "COPY | gzip -1 failed");
    Ok(std::fs::metadata(out)?.len())
}
