//! A private PostgreSQL cluster, for `lethe demo` and the test suite on a machine where
//! PostgreSQL is installed but no server answers at the configured address: initialised
//! under a directory of its own with the installed server binaries (Debian's `postgresql`
//! package: `/usr/lib/postgresql/<version>/bin`), trust authentication for `postgres`,
//! listening on a free loopback port, and stopped when the process that started it
//! exits (also when it is killed: util-linux's `setpriv` arranges SIGTERM on the parent's
//! death). Run as root, the server runs as the `postgres` system user, as PostgreSQL
//! requires.

use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

/// Whether a server accepts TCP connections at the host and port of `url`.
pub fn answers(url: &str) -> bool {
    let Ok(url) = url::Url::parse(url) else {
        return false;
    };
    let host = url.host_str().unwrap_or("127.0.0.1");
    let port = url.port().unwrap_or(5432);
    (host, port)
        .to_socket_addrs()
        .map(|mut addrs| {
            addrs.any(|a| TcpStream::connect_timeout(&a, Duration::from_secs(1)).is_ok())
        })
        .unwrap_or(false)
}

/// `url` with its host and port replaced by the cluster's (user `postgres`, no password).
pub fn redirect(url: &str, port: u16) -> anyhow::Result<String> {
    let mut url = url::Url::parse(url).context("a database URL")?;
    url.set_host(Some("127.0.0.1"))?;
    url.set_port(Some(port))
        .map_err(|()| anyhow::anyhow!("a database URL takes a port"))?;
    url.set_username("postgres")
        .map_err(|()| anyhow::anyhow!("a database URL takes a user"))?;
    url.set_password(None)
        .map_err(|()| anyhow::anyhow!("a database URL takes a password"))?;
    Ok(url.to_string())
}

/// The newest installed server's binary directory.
fn bindir() -> anyhow::Result<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin).ok_or_else(|| {
        anyhow::anyhow!(
            "no PostgreSQL server answers and none is installed to start a private one \
             (install Debian's `postgresql` package, or point database.url at a server)"
        )
    })
}

/// The `postgres` system user's ids, when this process runs as root.
fn server_user() -> anyhow::Result<Option<(u32, u32)>> {
    if !nix::unistd::geteuid().is_root() {
        return Ok(None);
    }
    let user = nix::unistd::User::from_name("postgres")?.ok_or_else(|| {
        anyhow::anyhow!("running as root, a private PostgreSQL needs the `postgres` system user")
    })?;
    Ok(Some((user.uid.as_raw(), user.gid.as_raw())))
}

/// `program` run through util-linux's `setpriv`: as `postgres` when this process is root,
/// and sent SIGTERM when this process dies.
fn command(program: &Path, as_postgres: bool) -> Command {
    let mut command = Command::new("setpriv");
    if as_postgres {
        command.args([
            "--reuid",
            "postgres",
            "--regid",
            "postgres",
            "--clear-groups",
        ]);
    }
    command.args(["--pdeathsig", "TERM", "--"]).arg(program);
    // Its own process group: a Ctrl-C in the terminal stops Lethe, which then stops it.
    command.process_group(0);
    command
}

/// A running private cluster.
pub struct PrivateCluster {
    port: u16,
    server: Child,
}

impl PrivateCluster {
    /// Initialises `dir` if it holds no cluster yet, then starts the server on a free
    /// port and waits until it accepts connections. Call it from a thread that lives as
    /// long as the cluster should (the server stops when that thread's process exits).
    pub fn start(dir: &Path) -> anyhow::Result<Self> {
        let bin = bindir()?;
        let user = server_user()?;
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        // The server runs in its data directory: every path it is given is absolute.
        let dir = &std::fs::canonicalize(dir)?;
        let data = dir.join("data");
        let chown = |path: &Path| -> anyhow::Result<()> {
            if let Some((uid, gid)) = user {
                std::os::unix::fs::chown(path, Some(uid), Some(gid))
                    .with_context(|| format!("handing {} to postgres", path.display()))?;
            }
            Ok(())
        };
        chown(dir)?;
        if !data.join("PG_VERSION").exists() {
            let output = command(&bin.join("initdb"), user.is_some())
                .arg("-D")
                .arg(&data)
                .args([
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--no-instructions",
                ])
                .output()
                .context("running initdb")?;
            anyhow::ensure!(
                output.status.success(),
                "initdb failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let log = std::fs::File::create(dir.join("server.log"))?;
        chown(&dir.join("server.log"))?;
        let server = command(&bin.join("postgres"), user.is_some())
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1"])
            .arg("-c")
            .arg(format!("unix_socket_directories={}", dir.display()))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting postgres")?;
        let mut cluster = Self { port, server };
        let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
        let deadline = Instant::now() + Duration::from_secs(60);
        while !answers(&url) {
            if let Some(status) = cluster.server.try_wait()? {
                anyhow::bail!(
                    "the private PostgreSQL exited ({status}); see {}",
                    dir.join("server.log").display()
                );
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "the private PostgreSQL did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(cluster)
    }

    /// Its port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops it (a fast shutdown: sessions are ended, data is kept).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        // SIGINT: PostgreSQL's fast shutdown.
        if let Ok(pid) = i32::try_from(self.server.id()) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGINT,
            );
        }
        let _ = self.server.wait();
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        if matches!(self.server.try_wait(), Ok(None)) {
            self.shutdown();
        }
    }
}
