//! The S3-compatible server embedded in Lethe: s3s over a local directory, served on a
//! loopback port, so that development, tests and the demo use the very same aws-sdk-s3
//! code path as production (only the endpoint changes).

use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use hyper_util::server::graceful::GracefulShutdown;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use tokio::sync::oneshot;

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
        let service = {
            let mut builder = S3ServiceBuilder::new(fs);
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
