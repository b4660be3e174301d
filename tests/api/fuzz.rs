//! Schemathesis fuzzes the API from its own OpenAPI document: the real app (PostgreSQL, the
//! demo platform, the embedded S3 server), every documented operation, valid and invalid
//! input, once without credentials and once with an admin's staff token. Every check
//! schemathesis has but one (see `run`) must hold: no 5xx, only documented status codes, content types and
//! headers, bodies matching their schemas, invalid input refused, auth not ignored.
//!
//! Schemathesis is a Python program run as a subprocess: `.ci/run` installs the pinned
//! version and points `LETHE_SCHEMATHESIS` at it; otherwise `schemathesis` on `PATH` is
//! used. Without it the test fails (it never skips).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use lethe::domain::Role;

use crate::helpers::spawn_app;

/// The version `.ci/run` installs; the options below are this version's CLI.
const SCHEMATHESIS_VERSION: &str = "4.32.5";
/// Most fuzzed test cases per operation (the coverage and stateful phases add their own):
/// about 2,100 cases per run, 15-20 s each on a 2-core machine.
const MAX_EXAMPLES: u32 = 100;
/// Fewest test cases one run must have generated, so that the bounds cannot quietly shrink
/// the fuzzing to nothing.
const MIN_CASES: u64 = 1_000;
/// Longest one run may take before it is killed and the test fails.
const RUN_LIMIT: Duration = Duration::from_secs(240);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_nothing_with_or_without_a_staff_token() {
    let schemathesis = schemathesis();
    let app = spawn_app().await;
    let token = app.staff_token("fuzz-admin@lethe.test", Role::Admin).await;

    let anonymous = run(&schemathesis, &app.address, None).await;
    let staff = run(&schemathesis, &app.address, Some(&token)).await;

    let failed: Vec<String> = [anonymous, staff]
        .into_iter()
        .filter_map(|outcome| outcome.err())
        .collect();
    if !failed.is_empty() {
        // Shown even if the teardown's own checks (jobs left, logs) fail first.
        println!("{}", failed.join("\n\n"));
    }
    app.teardown().await;
    assert!(
        failed.is_empty(),
        "schemathesis failed: its output is above"
    );
}

/// The schemathesis executable: `LETHE_SCHEMATHESIS`, else `schemathesis` on `PATH`, and
/// of the pinned version. Fails the test when there is none.
fn schemathesis() -> PathBuf {
    let install = format!(
        "run `.ci/run` (it installs schemathesis into ~/.cache/lethe/venv and sets \
         LETHE_SCHEMATHESIS) or `pip install schemathesis=={SCHEMATHESIS_VERSION}`"
    );
    let path = match std::env::var_os("LETHE_SCHEMATHESIS").filter(|v| !v.is_empty()) {
        Some(path) => {
            let path = PathBuf::from(path);
            assert!(
                path.is_file(),
                "LETHE_SCHEMATHESIS={} is not a file: {install}",
                path.display()
            );
            path
        }
        None => std::env::var_os("PATH")
            .iter()
            .flat_map(std::env::split_paths)
            .map(|dir| dir.join("schemathesis"))
            .find(|candidate| candidate.is_file())
            .unwrap_or_else(|| {
                panic!("schemathesis not found (LETHE_SCHEMATHESIS unset, none on PATH): {install}")
            }),
    };
    let output = std::process::Command::new(&path)
        .arg("--version")
        .output()
        .unwrap_or_else(|e| panic!("{} does not run ({e}): {install}", path.display()));
    let version = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success()
            && version
                .trim_end()
                .ends_with(&format!(" {SCHEMATHESIS_VERSION}")),
        "{} is not schemathesis {SCHEMATHESIS_VERSION} (it says {:?}): {install}",
        path.display(),
        version.trim()
    );
    path
}

/// One schemathesis run against the app at `address`, with a bearer token or none: `Ok`
/// with a line of figures when it passed with enough cases, else `Err` with its output.
async fn run(schemathesis: &Path, address: &str, token: Option<&str>) -> Result<String, String> {
    let label = if token.is_some() {
        "staff token"
    } else {
        "no credentials"
    };
    let mut args: Vec<String> = vec![
        "run".into(),
        format!("{address}/v1/openapi.json"),
        format!("--url={address}"),
        "--checks=all".into(),
        // One check does not fit the API: it reads a request just filed back with the
        // same credentials, but a filed request is visible only with its own requester
        // token, issued once the mailbox is proved (404 otherwise, by design: no id is
        // confirmed to anyone else).
        "--exclude-checks=ensure_resource_availability".into(),
        format!("--max-examples={MAX_EXAMPLES}"),
        "--seed=1".into(),
        "--workers=1".into(),
        "--request-timeout=10".into(),
        "--continue-on-failure".into(),
        "--generation-database=none".into(),
        "--no-color".into(),
    ];
    if let Some(token) = token {
        args.push("--header".into());
        args.push(format!("Authorization: Bearer {token}"));
    }
    let shown = args
        .iter()
        .map(|a| match token {
            Some(t) => a.replace(t, "<staff token>"),
            None => a.clone(),
        })
        .map(|a| if a.contains(' ') { format!("'{a}'") } else { a })
        .collect::<Vec<_>>()
        .join(" ");
    let shown = format!("{} {shown}", schemathesis.display());
    println!("schemathesis ({label}): {shown}");

    // Its own directory: nothing it might write lands in the work tree.
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let child = tokio::process::Command::new(schemathesis)
        .args(&args)
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = match tokio::time::timeout(RUN_LIMIT, child).await {
        Ok(output) => output.unwrap_or_else(|e| panic!("{shown} did not start: {e}")),
        Err(_) => {
            return Err(format!(
                "schemathesis ({label}) took longer than {RUN_LIMIT:?} and was killed: {shown}"
            ));
        }
    };
    let elapsed = started.elapsed();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let cases = generated(&text);
    let figures = format!(
        "schemathesis ({label}): {} in {:.1} s, {}",
        cases.map_or("? cases".to_owned(), |n| format!("{n} cases")),
        elapsed.as_secs_f64(),
        output.status
    );
    println!("{figures}");
    if !output.status.success() {
        return Err(format!("{figures}\n$ {shown}\n{text}"));
    }
    match cases {
        Some(n) if n >= MIN_CASES => Ok(figures),
        _ => Err(format!(
            "{figures}: fewer than {MIN_CASES} test cases\n$ {shown}\n{text}"
        )),
    }
}

/// The number of generated test cases from schemathesis' summary ("Test cases:" then
/// "  1683 generated, …").
fn generated(output: &str) -> Option<u64> {
    let mut lines = output.lines().skip_while(|l| l.trim() != "Test cases:");
    lines.next()?;
    let line = lines.next()?.trim();
    line.split_once(" generated")?.0.trim().parse().ok()
}
