//! The S3-compatible server embedded in Lethe: s3s over a local directory, served on a
//! loopback port, so that development, tests and the demo use the very same aws-sdk-s3
//! code path as production (only the endpoint changes).
//!
//! Two things are added to s3s-fs: a secret access key made at random per data directory
//! (unless one is configured), and erasure of the bookkeeping s3s-fs keeps beside each
//! object: its `.bucket-….object-….{metadata,internal}.json` files name the key, and the
//! key's directories can name a person (`avatars/123/`). After every successful delete,
//! the files of keys no longer present and the emptied directories go too.

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
use hyper::body::Incoming;

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

/// The bucket a request deletes from, if it is a deletion (path style):
/// `DELETE /bucket/key` or `POST /bucket?delete`.
fn deletion_bucket<B>(req: &http::Request<B>) -> Option<String> {
    let path = req.uri().path().trim_start_matches('/');
    let (bucket, key) = path.split_once('/').unwrap_or((path, ""));
    let batch = req.method() == http::Method::POST
        && req.uri().query().is_some_and(|q| {
            q.split('&')
                .any(|p| p == "delete" || p.starts_with("delete="))
        });
    let single = req.method() == http::Method::DELETE && !key.is_empty();
    (batch || single).then(|| bucket.to_owned())
}

/// Removes the bookkeeping files of `bucket`'s keys that no longer exist, and the
/// directories their deletion left empty.
async fn forget_erased(root: &Path, bucket: &str) -> std::io::Result<()> {
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let prefix = format!(".bucket-{}.object-", engine.encode(bucket));
    let bucket_dir = root.join(bucket);
    let mut entries = tokio::fs::read_dir(root).await?;
    while let Some(entry) = entries.next_entry().await? {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(&prefix)) else {
            continue;
        };
        let Some(encoded) = rest
            .strip_suffix(".metadata.json")
            .or_else(|| rest.strip_suffix(".internal.json"))
            .filter(|e| !e.contains('.'))
        else {
            continue;
        };
        let Some(key) = engine
            .decode(encoded)
            .ok()
            .and_then(|k| String::from_utf8(k).ok())
        else {
            continue;
        };
        let object = bucket_dir.join(&key);
        if tokio::fs::try_exists(&object).await? {
            continue;
        }
        tokio::fs::remove_file(entry.path())
            .await
            .or_else(ignore_missing)?;
        // Empty directories of the key, up to the bucket's own.
        let mut dir = object.parent().map(Path::to_path_buf);
        while let Some(current) = dir {
            if current == bucket_dir || !current.starts_with(&bucket_dir) {
                break;
            }
            match tokio::fs::remove_dir(&current).await {
                Ok(()) => dir = current.parent().map(Path::to_path_buf),
                Err(_) => break,
            }
        }
    }
    Ok(())
}

fn ignore_missing(error: std::io::Error) -> std::io::Result<()> {
    if error.kind() == std::io::ErrorKind::NotFound {
        Ok(())
    } else {
        Err(error)
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
        let fs = s3s_fs::FileSystem::new(root)
            .map_err(|e| anyhow::anyhow!("embedded S3 directory: {e:?}"))?;
        let s3 = {
            let mut builder = S3ServiceBuilder::new(fs);
            builder.set_auth(SimpleAuth::from_single(
                access_key.to_owned(),
                secret_key.to_owned(),
            ));
            builder.build()
        };
        let root_dir = root.to_path_buf();
        let service = hyper::service::service_fn(move |req: http::Request<Incoming>| {
            let s3 = s3.clone();
            let root = root_dir.clone();
            async move {
                let deleted_from = deletion_bucket(&req);
                let response = hyper::service::Service::call(&s3, req).await?;
                if let Some(bucket) = deleted_from
                    && response.status().is_success()
                    && let Err(error) = forget_erased(&root, &bucket).await
                {
                    tracing::warn!(%error, "embedded S3: removing the files of deleted keys failed");
                }
                Ok::<_, s3s::HttpError>(response)
            }
        });
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
