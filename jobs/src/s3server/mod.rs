//! The S3-compatible server embedded in Lethe: s3s over a local directory, served on a
//! loopback port, so that development, tests and the demo use the very same aws-sdk-s3
//! code path as production (only the endpoint changes).
//!
//! Added to s3s-fs: a secret access key made at random per data directory (unless one is
//! configured), listings that walk only their prefix (`listing.rs`), and erasure of what
//! s3s-fs keeps beside each deleted object (`store.rs`).

mod listing;
mod store;

use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use hyper_util::server::graceful::GracefulShutdown;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use tokio::sync::oneshot;

use base64::Engine;

/// The file, in the data directory, holding the embedded server's generated secret key.
const SECRET_FILE: &str = ".lethe-s3-secret";

/// The secret access key of the embedded server over `root`: `configured` if set, else
/// the one generated for this data directory on first use (random, kept in a file only
/// the owner can read), so that `serve` and `work` on one directory agree.
pub fn secret_for(root: &Path, configured: &str) -> anyhow::Result<String> {
    if !configured.is_empty() {
        return Ok(configured.to_owned());
    }
    std::fs::create_dir_all(root)
        .with_context(|| format!("creating the embedded S3 directory {}", root.display()))?;
    let path = root.join(SECRET_FILE);
    if let Some(secret) = read_secret(&path)? {
        return Ok(secret);
    }
    use rand::RngCore;
    let mut bytes = [0u8; 30];
    rand::rng().fill_bytes(&mut bytes);
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    // Written whole under a temporary name, then linked into place: another process sees
    // either no file or the whole key, and a crash leaves no empty one.
    let temporary = root.join(format!(
        "{SECRET_FILE}.{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes[..6])
    ));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    {
        let mut file = options
            .open(&temporary)
            .with_context(|| format!("creating {}", temporary.display()))?;
        std::io::Write::write_all(&mut file, secret.as_bytes())?;
        file.sync_all()?;
    }
    let linked = std::fs::hard_link(&temporary, &path);
    let _ = std::fs::remove_file(&temporary);
    match linked {
        Ok(()) => Ok(secret),
        // Another process made it first: use theirs.
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
            read_secret(&path)?.context("the embedded S3 secret file is empty")
        }
        Err(error) => Err(error).with_context(|| format!("creating {}", path.display())),
    }
}

/// The secret in `path`, if the file exists; an empty file is an error (never a key).
fn read_secret(path: &Path) -> anyhow::Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(secret) if !secret.trim().is_empty() => Ok(Some(secret.trim().to_owned())),
        Ok(_) => anyhow::bail!(
            "{} is empty: delete it to have a new key made",
            path.display()
        ),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error).with_context(|| format!("reading {}", path.display())),
    }
}

/// A running embedded S3 server; dropping it (or calling [`EmbeddedS3::shutdown`]) stops it.
pub struct EmbeddedS3 {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl EmbeddedS3 {
    /// Starts the server on `listen` (port 0 picks a free port), storing buckets as
    /// directories under `root` (created if missing) and accepting only `access_key`.
    pub async fn start(
        root: &Path,
        listen: SocketAddr,
        access_key: &str,
        secret_key: &str,
    ) -> anyhow::Result<Self> {
        if !listen.ip().is_loopback() {
            anyhow::bail!("the embedded S3 server only listens on loopback, not {listen}");
        }
        tokio::fs::create_dir_all(root)
            .await
            .with_context(|| format!("creating the embedded S3 directory {}", root.display()))?;
        let store = store::Store::new(root)?;
        let service = {
            let mut builder = S3ServiceBuilder::new(store);
            builder.set_auth(SimpleAuth::from_single(
                access_key.to_owned(),
                secret_key.to_owned(),
            ));
            builder.build()
        };
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("binding the embedded S3 server to {listen}"))?;
        let addr = listener.local_addr()?;
        let (stop, mut stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let http = ConnBuilder::new(TokioExecutor::new());
            let graceful = GracefulShutdown::new();
            loop {
                let (socket, _) = tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok(conn) => conn,
                        Err(error) => {
                            tracing::warn!(%error, "embedded S3 accept failed");
                            continue;
                        }
                    },
                    _ = &mut stopped => break,
                };
                // Responses are written as headers then body; without NODELAY each small
                // object waits for the client's delayed ACK (~20-40 ms).
                let _ = socket.set_nodelay(true);
                let conn = http.serve_connection(TokioIo::new(socket), service.clone());
                let conn = graceful.watch(conn.into_owned());
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
            tokio::select! {
                () = graceful.shutdown() => {},
                () = tokio::time::sleep(std::time::Duration::from_secs(5)) => {},
            }
        });
        tracing::info!(%addr, "embedded S3 server listening");
        Ok(Self {
            addr,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// The endpoint URL for aws-sdk-s3, e.g. `http://127.0.0.1:39123`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting connections and waits (briefly) for open ones to finish.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for EmbeddedS3 {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
