//! `lethe bench export`: the heavy subject's export (read in one snapshot, JSON and CSV
//! per entry, objects copied, deflated, uploaded to the embedded S3 server in parts)
//! beside the floor: psql copying the same rows with the same queries, in both formats,
//! in one snapshot, piped through `gzip -1`. Alternating which goes first each round.

use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use lethe_jobs::datamap::SubjectKey;
use lethe_jobs::export::{ExportJobSpec, ExportReport, export_subject, row_queries};
use lethe_jobs::platform::{SubjectLookup, locate};
use lethe_jobs::storage::ObjectRef;

use super::bench::{median, peak_rss, spread, storage};

/// Runs `rounds` rounds on the platform at `url` prepared by `prepare-export` in `dir`.
pub async fn run(url: &str, dir: &Path, rounds: u32) -> anyhow::Result<()> {
    let email = std::fs::read_to_string(dir.join("subject.txt"))
        .context("no prepared benchmark: run `lethe bench prepare-export` first")?;
    let (_server, storage) = storage(dir).await?;
    storage.ensure_bucket("bench-exports").await?;
    let platform = lethe_jobs::platform::pool(url, 2)?;
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

    let spec = ExportJobSpec {
        request_id: uuid::Uuid::now_v7(),
        subject: Some(subject),
        destination: ObjectRef {
            bucket: "bench-exports".into(),
            key: "bench/export.zip".into(),
        },
        mask_key: "bench-mask-key".into(),
    };
    let (mut lethe, mut floor, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    let (mut report, mut gz): (Option<ExportReport>, u64) = (None, 0);
    for round in 1..=rounds {
        let lethe_first = round % 2 == 1;
        let (mut ours, mut raw) = (0.0, 0.0);
        for side in if lethe_first { [0, 1] } else { [1, 0] } {
            let started = Instant::now();
            if side == 0 {
                report = Some(export_subject(&platform, &map, &storage, &spec).await?);
                ours = started.elapsed().as_secs_f64();
            } else {
                gz = copy_floor(url, &script_path, &dir.join("copy.gz"))?;
                raw = started.elapsed().as_secs_f64();
            }
        }
        println!(
            "round {round} ({} first): export {ours:.2} s, COPY | gzip -1 {raw:.2} s, ratio {:.2}",
            if lethe_first { "Lethe" } else { "COPY" },
            ours / raw
        );
        lethe.push(ours);
        floor.push(raw);
        ratios.push(ours / raw);
    }
    let report = report.context("no round ran")?;
    let mib = |b: u64| b as f64 / 1048576.0;
    let ours = median(&mut lethe);
    println!("rows exported      {}", report.rows_total);
    println!(
        "objects exported   {} ({:.1} MiB)",
        report.objects,
        mib(report.object_bytes)
    );
    println!(
        "archive            {:.1} MiB ({:.1} MiB uncompressed: JSON, CSV, objects)",
        mib(report.archive_bytes),
        mib(report.content_bytes)
    );
    println!("floor's output     {:.1} MiB (rows only)", mib(gz));
    println!(
        "export median      {ours:.2} s ({:.0} rows/s)",
        report.rows_total as f64 / ours
    );
    println!("floor median       {:.2} s", median(&mut floor));
    println!("ratio median       {}", spread(&mut ratios));
    if report.objects > 0 {
        println!(
            "                   (the floor copies rows only: prepare with --objects 0 to compare like with like)"
        );
    }
    println!(
        "peak RSS (VmHWM)   {}",
        peak_rss().unwrap_or_else(|| "unknown".into())
    );
    Ok(())
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
