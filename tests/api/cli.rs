//! The `lethe` binary as an operator meets it: bad configuration stops it with a message
//! naming the key; the data map check and the audit check exit non-zero on problems.

use crate::helpers::{lethe_command as lethe, run_command as run, spawn_app};

#[test]
fn a_bad_configuration_stops_start_up_naming_the_key() {
    let (ok, out) = run(lethe()
        .args(["migrate"])
        .env("LETHE__SERVER__LISTEN", "not-an-address"));
    assert!(!ok);
    assert!(out.contains("server.listen"), "{out}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lethe.toml");
    std::fs::write(&file, "[database]\nurll = \"postgres://x\"\n").unwrap();
    let (ok, out) = run(lethe().args(["migrate", "--config"]).arg(&file));
    assert!(!ok);
    assert!(out.contains("urll") && out.contains("database"), "{out}");

    let (ok, out) = run(lethe()
        .args(["migrate"])
        .env("LETHE__SECURITY__SECRET_KEY", "short"));
    assert!(!ok);
    assert!(out.contains("security.secret_key"), "{out}");
    assert!(!out.contains("short\""), "the secret is not printed: {out}");

    let (ok, out) = run(lethe()
        .args(["serve"])
        .env("LETHE__SERVER__LISTEN", "127.0.0.1:0"));
    assert!(!ok, "serve refuses to start without a secret key");
    assert!(out.contains("security.secret_key"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datamap_check_accepts_the_demo_map_and_names_a_broken_entry() {
    let app = spawn_app().await;
    let (ok, out) = run(lethe()
        .args(["datamap", "check"])
        .env("LETHE__PLATFORM__DATABASE_URL", &app.platform_url));
    assert!(ok, "{out}");
    assert!(out.contains("is safe"), "{out}");

    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("datamap.toml");
    let map = std::fs::read_to_string("config/datamap.toml")
        .unwrap()
        .replace("column = \"file_url\"", "column = \"file_uri\"");
    std::fs::write(&broken, map).unwrap();
    let (ok, out) = run(lethe()
        .args(["datamap", "check"])
        .env("LETHE__PLATFORM__DATABASE_URL", &app.platform_url)
        .env("LETHE__PLATFORM__DATA_MAP", &broken));
    assert!(!ok);
    assert!(
        out.contains("model_files") && out.contains("file_uri"),
        "{out}"
    );
    app.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_reports_an_intact_chain() {
    let app = spawn_app().await;
    let request = app.file_and_verify("verify.chain@example.com").await;
    app.wait_for_status(&request.id, &request.token, "completed")
        .await;
    let (ok, out) = run(lethe()
        .args(["audit", "verify"])
        .env("LETHE__DATABASE__URL", &app.service_url));
    assert!(!ok, "the chain's key is needed: {out}");
    assert!(
        out.contains("security.secret_key") && out.contains("audit.key"),
        "{out}"
    );
    let (ok, out) = run(lethe()
        .args(["audit", "verify"])
        .env("LETHE__DATABASE__URL", &app.service_url)
        .env(
            "LETHE__SECURITY__SECRET_KEY",
            "test-secret-key-test-secret-key-0123456789",
        ));
    assert!(ok, "{out}");
    assert!(out.contains("intact: 6 entries"), "{out}");
    app.teardown().await;
}

#[test]
fn migrate_creates_a_missing_database_and_logs_off_a_terminal_carry_no_colour_codes() {
    let name = format!("lethe_test_migrate_{}", uuid::Uuid::now_v7().simple());
    let mut url = url::Url::parse(&crate::helpers::admin_url()).unwrap();
    url.set_path(&format!("/{name}"));
    let (ok, out) = run(lethe()
        .args(["migrate"])
        .env("LETHE__DATABASE__URL", url.as_str())
        .env("LETHE__LOG__FILTER", "info"));
    let (again, second) = run(lethe()
        .args(["migrate"])
        .env("LETHE__DATABASE__URL", url.as_str())
        .env("LETHE__LOG__FILTER", "info"));
    // Dropped before asserting, so that a failure leaves nothing behind.
    let (dropped, drop_out) = run(std::process::Command::new("psql")
        .arg(crate::helpers::admin_url())
        .args([
            "-qc",
            &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        ]));
    assert!(ok, "{out}");
    assert!(out.contains(&format!("created database {name}")), "{out}");
    assert!(out.contains("applied "), "{out}");
    assert!(again, "{second}");
    // The second run logs the queue setup's notices (at info): plain text in a pipe.
    assert!(second.contains("INFO"), "a log line was written: {second}");
    assert!(
        !second.contains('\u{1b}') && !out.contains('\u{1b}'),
        "no ANSI escape codes in piped logs: {second:?}"
    );
    assert!(
        second.contains("service database is up to date") && !second.contains("created database"),
        "{second}"
    );
    assert!(dropped, "{drop_out}");
}

#[test]
fn demo_without_a_running_server_starts_a_private_postgres_and_stops_it_on_exit() {
    use std::io::BufRead;
    let free = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    // Nothing listens on this port: the demo must bring its own server.
    let absent = free();
    let http = free();
    let dir = tempfile::tempdir().unwrap();
    let mut demo = lethe()
        .current_dir(dir.path())
        .args(["demo", "--users", "20"])
        .env(
            "LETHE__DATABASE__URL",
            format!("postgres://postgres@127.0.0.1:{absent}/lethe"),
        )
        .env(
            "LETHE__PLATFORM__DATABASE_URL",
            format!("postgres://postgres@127.0.0.1:{absent}/lethe_platform"),
        )
        .env("LETHE__SERVER__LISTEN", format!("127.0.0.1:{http}"))
        .env("LETHE__STORAGE__EMBEDDED_LISTEN", "127.0.0.1:0")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let (lines, seen) = std::sync::mpsc::channel();
    let stdout = demo.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = lines.send(line);
        }
    });
    let mut port = None;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(240);
    loop {
        let line = seen
            .recv_timeout(deadline - std::time::Instant::now())
            .expect("the demo came up");
        if let Some(p) = line.strip_prefix("private PostgreSQL on 127.0.0.1:") {
            port = Some(p.trim().parse::<u16>().unwrap());
        }
        if line.contains("Lethe demo is running") {
            break;
        }
    }
    let port = port.expect("the demo said where its PostgreSQL runs");
    let private = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    assert!(lethe::private_pg::answers(&private));
    assert!(dir.path().join("var/postgres/data/PG_VERSION").exists());
    let answer = {
        use std::io::{Read, Write};
        let mut socket = std::net::TcpStream::connect(("127.0.0.1", http)).unwrap();
        socket
            .write_all(b"GET /readyz HTTP/1.1\r\nHost: demo\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut answer = String::new();
        socket.read_to_string(&mut answer).unwrap();
        answer
    };
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(demo.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let status = demo.wait().unwrap();
    assert!(status.success(), "{status}");
    assert!(
        !lethe::private_pg::answers(&private),
        "the private server stopped with the demo"
    );
}

#[test]
fn benchmarks_create_only_databases_named_with_the_given_prefix_and_refuse_a_bad_one() {
    let (ok, out) = run(lethe().args(["bench", "--db-prefix", "Bad-Name", "prepare-export"]));
    assert!(!ok, "{out}");
    assert!(out.contains("--db-prefix \"Bad-Name\""), "{out}");

    let prefix = crate::benchmarks::prefix();
    let dir = tempfile::tempdir().unwrap();
    let (ok, out) = run(lethe()
        .args(["bench", "--db-prefix", &prefix, "prepare-export"])
        .args(["--rows", "20", "--objects", "2", "--users", "3", "--dir"])
        .arg(dir.path().join("bench"))
        .env("LETHE__PLATFORM__DATABASE_URL", crate::helpers::admin_url()));
    let (listed, names) = run(std::process::Command::new("psql")
        .arg(crate::helpers::admin_url())
        .args([
            "-tAc",
            &format!("SELECT datname FROM pg_database WHERE datname LIKE '{prefix}%'"),
        ]));
    // Dropped before asserting, so that a failure leaves nothing behind.
    let (dropped, drop_out) = run(std::process::Command::new("psql")
        .arg(crate::helpers::admin_url())
        .args([
            "-qc",
            &format!("DROP DATABASE IF EXISTS {prefix}_platform WITH (FORCE)"),
        ]));
    assert!(ok, "{out}");
    assert!(
        out.contains(&format!("prepared {prefix}_platform")),
        "{out}"
    );
    assert!(listed, "{names}");
    assert_eq!(
        names
            .lines()
            .filter(|l| l.starts_with(&prefix))
            .collect::<Vec<_>>(),
        [format!("{prefix}_platform")],
        "{names}"
    );
    assert!(dropped, "{drop_out}");
}
