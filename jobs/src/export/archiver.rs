//! The archive's writer, a thread of its own: it deflates (level 1) and hashes every entry
//! while the export reads and encodes the next rows, so compression runs beside the
//! database reads instead of after them. The export hands it entries as a stream of
//! [`Piece`]s through a bounded channel ([`Sink`]), which bounds what is held in memory
//! between the two. The ZIP is written by the `zip` crate's streaming writer (no seeking:
//! sizes and checksums follow each entry), into the pipe that feeds the upload.

use std::io::Write as _;

use anyhow::Context;
use sha2::{Digest, Sha256};
use tokio::io::DuplexStream;
use tokio::sync::{mpsc, oneshot};
use tokio_util::io::SyncIoBridge;
use zip::CompressionMethod;
use zip::write::SimpleFileOptions;

use super::FileEntry;

/// Pieces in flight between the export and the writer.
const DEPTH: usize = 8;
/// The deflate level: 1, the fastest, as `gzip -1`. Exports are mostly JSON and CSV
/// text, which level 1 still shrinks several times, and deflate is the export's largest
/// CPU cost at higher levels.
const DEFLATE_LEVEL: i64 = 1;
/// Bytes buffered between the ZIP writer and the pipe.
const BUFFER: usize = 256 * 1024;

/// How an entry is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Method {
    /// Deflated at [`DEFLATE_LEVEL`] (rows, the index, the manifest).
    Deflate,
    /// As it is (objects, often already compressed).
    Stored,
}

/// One step of the stream of entries.
enum Piece {
    Open { path: String, method: Method },
    Bytes(Vec<u8>),
    Close,
    Files(oneshot::Sender<Vec<FileEntry>>),
}

/// The export's end of the channel.
pub(super) struct Sink {
    tx: mpsc::Sender<Piece>,
}

impl Sink {
    async fn send(&self, piece: Piece) -> anyhow::Result<()> {
        self.tx
            .send(piece)
            .await
            .map_err(|_| anyhow::anyhow!("the archive writer stopped"))
    }

    /// Starts the entry at `path`.
    pub(super) async fn open(&self, path: String, method: Method) -> anyhow::Result<()> {
        self.send(Piece::Open { path, method }).await
    }

    /// Appends to the open entry.
    pub(super) async fn write(&self, bytes: Vec<u8>) -> anyhow::Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        self.send(Piece::Bytes(bytes)).await
    }

    /// Ends the open entry.
    pub(super) async fn close(&self) -> anyhow::Result<()> {
        self.send(Piece::Close).await
    }

    /// Writes a whole deflated entry.
    pub(super) async fn whole(&self, path: &str, bytes: Vec<u8>) -> anyhow::Result<()> {
        self.open(path.to_owned(), Method::Deflate).await?;
        self.write(bytes).await?;
        self.close().await
    }

    /// The files written so far, in order, with their sizes and SHA-256.
    pub(super) async fn files(&self) -> anyhow::Result<Vec<FileEntry>> {
        let (reply, files) = oneshot::channel();
        self.send(Piece::Files(reply)).await?;
        files
            .await
            .map_err(|_| anyhow::anyhow!("the archive writer stopped"))
    }
}

/// The running writer.
pub(super) struct Writer {
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// Starts the writer on `out`. Call from within the Tokio runtime.
pub(super) fn start(out: DuplexStream) -> (Sink, Writer) {
    let (tx, rx) = mpsc::channel(DEPTH);
    let out = SyncIoBridge::new(out);
    let task = tokio::task::spawn_blocking(move || write_entries(out, rx));
    (Sink { tx }, Writer { task })
}

impl Writer {
    /// Waits for the writer to drain the channel and end the archive (every [`Sink`] must
    /// be dropped first). When the export failed (`produced` is an error), its error is
    /// returned unless the writer failed first, since then the export's error is only
    /// that the writer stopped. An export that stopped inside an entry leaves the archive
    /// unfinished.
    pub(super) async fn finish<T>(self, produced: anyhow::Result<T>) -> anyhow::Result<T> {
        self.task
            .await
            .map_err(|e| anyhow::anyhow!("the archive writer panicked: {e}"))??;
        produced
    }
}

fn options(method: Method) -> SimpleFileOptions {
    let now = chrono::Utc::now().naive_utc();
    let options = SimpleFileOptions::default()
        .unix_permissions(0o644)
        .last_modified_time(zip::DateTime::try_from(now).unwrap_or_default())
        // Sizes are not known when an entry starts; ZIP64 fields let any entry pass 4 GiB.
        .large_file(true);
    match method {
        Method::Deflate => options
            .compression_method(CompressionMethod::Deflated)
            .compression_level(Some(DEFLATE_LEVEL)),
        Method::Stored => options.compression_method(CompressionMethod::Stored),
    }
}

/// An entry being written: its path, hash and size so far.
struct Open {
    path: String,
    hasher: Sha256,
    bytes: u64,
}

fn write_entries(
    out: SyncIoBridge<DuplexStream>,
    mut rx: mpsc::Receiver<Piece>,
) -> anyhow::Result<()> {
    let mut zip = zip::ZipWriter::new_stream(std::io::BufWriter::with_capacity(BUFFER, out));
    let mut files = Vec::new();
    let mut open: Option<Open> = None;
    while let Some(piece) = rx.blocking_recv() {
        match piece {
            Piece::Open { path, method } => {
                anyhow::ensure!(open.is_none(), "an archive entry opened inside another");
                zip.start_file(path.as_str(), options(method))
                    .with_context(|| format!("starting {path}"))?;
                open = Some(Open {
                    path,
                    hasher: Sha256::new(),
                    bytes: 0,
                });
            }
            Piece::Bytes(bytes) => {
                let entry = open.as_mut().context("archive bytes outside an entry")?;
                entry.hasher.update(&bytes);
                entry.bytes += bytes.len() as u64;
                zip.write_all(&bytes)
                    .with_context(|| format!("writing {}", entry.path))?;
            }
            Piece::Close => {
                let entry = open.take().context("an archive entry closed twice")?;
                files.push(FileEntry {
                    path: entry.path,
                    bytes: entry.bytes,
                    sha256: hex::encode(entry.hasher.finalize()),
                });
            }
            Piece::Files(reply) => {
                let _ = reply.send(files.clone());
            }
        }
    }
    if open.is_some() {
        // The export stopped mid-entry: its own error is the one to report, and the
        // archive is left unfinished.
        return Ok(());
    }
    let buffered = zip.finish().context("ending the archive")?.into_inner();
    let mut out = buffered
        .into_inner()
        .map_err(|e| anyhow::anyhow!("flushing the archive: {}", e.error()))?;
    out.shutdown().context("closing the archive's stream")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use sha2::{Digest, Sha256};
    use tokio::io::AsyncReadExt;

    use super::{Method, start};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn entries_read_back_as_written_with_their_hashes_and_methods() {
        let (writer, mut reader) = tokio::io::duplex(64 * 1024);
        let read = tokio::spawn(async move {
            let mut archive = Vec::new();
            reader.read_to_end(&mut archive).await.map(|_| archive)
        });
        let (sink, entries) = start(writer);
        let small = b"[{\"id\":1}]".to_vec();
        let large: Vec<u8> = (0..50_000u32)
            .flat_map(|i| format!("row {i}\n").into_bytes())
            .collect();
        let object: Vec<u8> = (0..3000u32).map(|i| (i % 256) as u8).collect();
        let files = [
            ("data/a/small.json", Method::Deflate, small.clone()),
            ("data/a/large.csv", Method::Deflate, large.clone()),
            ("objects/b/object.bin", Method::Stored, object.clone()),
        ];
        for (path, method, bytes) in &files {
            sink.open((*path).to_owned(), *method)
                .await
                .expect("opened");
            for piece in bytes.chunks(7000) {
                sink.write(piece.to_vec()).await.expect("written");
            }
            sink.close().await.expect("closed");
        }
        let written = sink.files().await.expect("listed");
        drop(sink);
        entries.finish(Ok(())).await.expect("finished");
        let archive = read.await.expect("joined").expect("read");

        assert_eq!(written.len(), 3);
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(archive)).expect("a valid ZIP");
        for (i, (path, method, bytes)) in files.iter().enumerate() {
            assert_eq!(written[i].path, *path);
            assert_eq!(written[i].bytes, bytes.len() as u64);
            assert_eq!(written[i].sha256, hex::encode(Sha256::digest(bytes)));
            let mut entry = zip.by_index(i).expect("entry");
            assert_eq!(entry.name().expect("a name"), *path);
            assert_eq!(
                entry.compression(),
                match method {
                    Method::Deflate => zip::CompressionMethod::Deflated,
                    Method::Stored => zip::CompressionMethod::Stored,
                }
            );
            let mut back = Vec::new();
            entry.read_to_end(&mut back).expect("the CRC checks");
            assert_eq!(&back, bytes, "{path}");
        }
        let large_entry = zip.by_index(1).expect("entry");
        assert!(
            large_entry.compressed_size() * 2 < large_entry.size(),
            "text is deflated: {} of {} bytes",
            large_entry.compressed_size(),
            large_entry.size()
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_export_that_stops_inside_an_entry_reports_its_own_error() {
        let (writer, _reader) = tokio::io::duplex(64 * 1024);
        let (sink, entries) = start(writer);
        sink.open("half.json".into(), Method::Deflate)
            .await
            .expect("opened");
        sink.write(b"[".to_vec()).await.expect("written");
        drop(sink);
        let failed: anyhow::Result<()> = Err(anyhow::anyhow!("the database went away"));
        let error = entries.finish(failed).await.expect_err("an error");
        assert_eq!(error.to_string(), "the database went away");
    }
}
