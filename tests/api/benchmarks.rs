//! `lethe bench` as an operator runs it, at toy sizes: the queue benchmark carries every
//! deletion through `lethe work` processes, the scale benchmark writes its figures and its
//! plot, and both leave no database of their prefix behind.

use serde_json::Value;

use crate::helpers::{admin_url, lethe_command as lethe, run_command as run};

/// A prefix no other test uses: the random part of a UUID (tests starting in the same
/// millisecond share its time part).
pub(crate) fn prefix() -> String {
    format!(
        "lethe_t_{}",
        &uuid::Uuid::now_v7().simple().to_string()[12..]
    )
}

/// The databases whose names start with `prefix`.
fn databases(prefix: &str) -> Vec<String> {
    let (ok, names) = run(std::process::Command::new("psql").arg(admin_url()).args([
        "-tAc",
        &format!("SELECT datname FROM pg_database WHERE datname LIKE '{prefix}%'"),
    ]));
    assert!(ok, "{names}");
    names
        .lines()
        .filter(|l| l.starts_with(prefix))
        .map(str::to_owned)
        .collect()
}

fn figure(value: &Value, pointer: &str) -> f64 {
    value
        .pointer(pointer)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("no {pointer} in {value}"))
}

#[test]
fn the_queue_benchmark_carries_every_deletion_through_worker_processes() {
    let prefix = prefix();
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("queue.json");
    let (ok, out) = run(lethe()
        .args(["bench", "--db-prefix", &prefix, "--json"])
        .arg(&json)
        .args(["queue", "--deletions", "6", "--workers", "1,2", "--dir"])
        .arg(dir.path().join("queue"))
        .env("LETHE__PLATFORM__DATABASE_URL", admin_url()));
    let left = databases(&prefix);
    assert!(ok, "{out}");
    assert!(left.is_empty(), "left behind: {left:?}");
    let results: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let runs = results["results"]["runs"].as_array().expect("runs");
    assert_eq!(
        runs.iter()
            .map(|r| r["workers"].as_u64())
            .collect::<Vec<_>>(),
        [Some(1), Some(2)]
    );
    for r in runs {
        // Six subjects' rows were deleted or rewritten, by the jobs, in a measured time.
        assert!(figure(r, "/rows") >= 6.0, "{r}");
        assert!(
            figure(r, "/wall_s") > 0.0 && figure(r, "/per_s") > 0.0,
            "{r}"
        );
    }
    // Each run had its own processes, with their own logs.
    for n in 0..2 {
        assert!(dir.path().join(format!("queue/worker-{n}.log")).exists());
    }
}

#[test]
fn the_scale_benchmark_writes_its_figures_and_plot_and_keeps_no_database() {
    let prefix = prefix();
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("scale");
    let (ok, out) = run(lethe()
        .args(["bench", "--db-prefix", &prefix, "scale"])
        .args(["--rows", "1000", "--rounds", "1", "--users", "4", "--dir"])
        .arg(&out_dir)
        .env("LETHE__PLATFORM__DATABASE_URL", admin_url()));
    let left = databases(&prefix);
    assert!(ok, "{out}");
    assert!(left.is_empty(), "left behind: {left:?}");
    let scale: Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("scale.json")).unwrap())
            .unwrap();
    let size = &scale["sizes"][0];
    assert_eq!(size["rows"], 1000.0, "{scale}");
    // The export carried the subject's rows; the purge deleted its ten objects on both
    // sides (the benchmark fails otherwise) and both sides were timed.
    assert!(figure(size, "/export/results/rows") >= 990.0, "{size}");
    assert!(
        figure(size, "/export/results/floor_median_s") > 0.0,
        "{size}"
    );
    assert_eq!(figure(size, "/purge/results/objects"), 10.0, "{size}");
    assert!(figure(size, "/purge/results/raw_median_s") > 0.0, "{size}");
    // Each step ran in a process of its own, which reported its own peak memory.
    assert!(figure(size, "/export/peak_rss_kib") > 0.0, "{size}");
    assert!(figure(size, "/purge/peak_rss_kib") > 0.0, "{size}");
    let svg = std::fs::read_to_string(out_dir.join("scale.svg")).unwrap();
    assert!(svg.starts_with("<svg"), "{svg}");
    for label in [
        "export (Lethe)",
        "purge (Lethe)",
        "export process",
        "purge process",
    ] {
        assert!(svg.contains(label), "{label} missing from the plot");
    }
    assert!(svg.contains("<circle"), "the points are drawn");
}
