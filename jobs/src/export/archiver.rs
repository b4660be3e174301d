//! The archive's writer, a task of its own: it deflates and hashes every entry while the
//! export reads and encodes the next rows, so compression runs beside the database reads
//! instead of after them. Compressed entries up to [`WHOLE_UP_TO`] are gathered and
//! written whole; larger ones, and objects (stored as they are), are streamed. The export hands it entries as a stream of [`Piece`]s through a
//! bounded channel ([`Sink`]), which bounds what is held in memory between the two.

use async_zip::Compression;
use async_zip::base::write::EntryStreamWriter;
use futures::io::AsyncWriteExt as _;
use sha2::{Digest, Sha256};
use tokio::io::DuplexStream;
use tokio::sync::mpsc;
use tokio_util::compat::Compat;

use super::{FileEntry, Zip, entry};

/// Pieces in flight between the export and the writer.
const DEPTH: usize = 8;
/// A compressed entry up to this size is gathered and written whole, deflated at the
/// export's level. async_zip's streaming writer ignores the level and deflates at the
/// default (6), so only larger entries are streamed, at that level.
const WHOLE_UP_TO: usize = 16 * 1024 * 1024;

/// One step of the stream of entries.
enum Piece {
    Open {
        path: String,
        compression: Compression,
    },
    Bytes(Vec<u8>),
    Close,
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
    pub(super) async fn open(&self, path: String, compression: Compression) -> anyhow::Result<()> {
        self.send(Piece::Open { path, compression }).await
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
}

/// The running writer.
pub(super) struct Writer {
    task: tokio::task::JoinHandle<anyhow::Result<(Zip, Vec<FileEntry>)>>,
}

/// Starts the writer on `zip`.
pub(super) fn start(zip: Zip) -> (Sink, Writer) {
    start_with(zip, WHOLE_UP_TO)
}

fn start_with(zip: Zip, whole_up_to: usize) -> (Sink, Writer) {
    let (tx, rx) = mpsc::channel(DEPTH);
    let task = tokio::spawn(write_entries(zip, rx, whole_up_to));
    (Sink { tx }, Writer { task })
}

impl Writer {
    /// Waits for the writer to drain the channel (the sink must be dropped first); the
    /// archive and the files written, in order. When the export failed (`produced` is an
    /// error), its error is returned unless the writer failed first, since then the
    /// export's error is only that the writer stopped.
    pub(super) async fn finish<T>(
        self,
        produced: anyhow::Result<T>,
    ) -> anyhow::Result<(T, Zip, Vec<FileEntry>)> {
        let written = self
            .task
            .await
            .map_err(|e| anyhow::anyhow!("the archive writer panicked: {e}"))?;
        let (zip, files) = written?;
        Ok((produced?, zip, files))
    }
}

async fn write_entries(
    mut zip: Zip,
    mut rx: mpsc::Receiver<Piece>,
    whole_up_to: usize,
) -> anyhow::Result<(Zip, Vec<FileEntry>)> {
    let mut files = Vec::new();
    while let Some(piece) = rx.recv().await {
        let Piece::Open { path, compression } = piece else {
            anyhow::bail!("archive bytes outside an entry");
        };
        let mut gathered = Vec::new();
        let whole = if compression == Compression::Stored {
            None
        } else {
            loop {
                match rx.recv().await {
                    Some(Piece::Bytes(bytes)) => {
                        gathered.extend_from_slice(&bytes);
                        if gathered.len() > whole_up_to {
                            break None;
                        }
                    }
                    Some(Piece::Close) => break Some(std::mem::take(&mut gathered)),
                    Some(Piece::Open { .. }) => {
                        anyhow::bail!("an archive entry opened inside another")
                    }
                    None => return Ok((zip, files)),
                }
            }
        };
        if let Some(whole) = whole {
            zip.write_entry_whole(entry(&path, compression), &whole)
                .await?;
            files.push(FileEntry {
                path,
                bytes: whole.len() as u64,
                sha256: hex::encode(Sha256::digest(&whole)),
            });
            continue;
        }
        let mut file = HashedEntry::open(&mut zip, path, compression).await?;
        file.write(&gathered).await?;
        drop(gathered);
        loop {
            match rx.recv().await {
                Some(Piece::Bytes(bytes)) => file.write(&bytes).await?,
                Some(Piece::Close) => break,
                Some(Piece::Open { .. }) => anyhow::bail!("an archive entry opened inside another"),
                // The export stopped mid-entry: its own error is the one to report.
                None => return Ok((zip, files)),
            }
        }
        files.push(file.close().await?);
    }
    Ok((zip, files))
}

/// An entry being streamed, hashed as it is written.
struct HashedEntry<'a> {
    writer: EntryStreamWriter<'a, Compat<DuplexStream>>,
    hasher: Sha256,
    bytes: u64,
    path: String,
}

impl<'a> HashedEntry<'a> {
    async fn open(
        zip: &'a mut Zip,
        path: String,
        compression: Compression,
    ) -> anyhow::Result<Self> {
        let writer = zip.write_entry_stream(entry(&path, compression)).await?;
        Ok(Self {
            writer,
            hasher: Sha256::new(),
            bytes: 0,
            path,
        })
    }

    async fn write(&mut self, buf: &[u8]) -> anyhow::Result<()> {
        self.hasher.update(buf);
        self.bytes += buf.len() as u64;
        self.writer.write_all(buf).await?;
        Ok(())
    }

    async fn close(self) -> anyhow::Result<FileEntry> {
        self.writer.close().await?;
        Ok(FileEntry {
            path: self.path,
            bytes: self.bytes,
            sha256: hex::encode(self.hasher.finalize()),
        })
    }
}

#[cfg(test)]
mod tests {
    use async_zip::Compression;
    use async_zip::base::write::ZipFileWriter;
    use sha2::{Digest, Sha256};
    use tokio::io::AsyncReadExt;

    use super::start_with;

    #[tokio::test]
    async fn entries_gathered_whole_or_streamed_read_back_as_written_with_their_hashes() {
        let (writer, mut reader) = tokio::io::duplex(64 * 1024);
        let read = tokio::spawn(async move {
            let mut archive = Vec::new();
            reader.read_to_end(&mut archive).await.map(|_| archive)
        });
        let (sink, entries) = start_with(ZipFileWriter::with_tokio(writer), 1000);
        let small = b"[{\"id\":1}]".to_vec();
        let large: Vec<u8> = (0..5000u32)
            .flat_map(|i| format!("row {i}\n").into_bytes())
            .collect();
        let object: Vec<u8> = (0..3000u32).map(|i| (i % 256) as u8).collect();
        let files = [
            ("small.json", Compression::Deflate, small.clone()),
            ("large.csv", Compression::Deflate, large.clone()),
            ("object.bin", Compression::Stored, object.clone()),
        ];
        for (path, compression, bytes) in &files {
            sink.open((*path).to_owned(), *compression)
                .await
                .expect("opened");
            for piece in bytes.chunks(700) {
                sink.write(piece.to_vec()).await.expect("written");
            }
            sink.close().await.expect("closed");
        }
        drop(sink);
        let ((), zip, written) = entries.finish(Ok(())).await.expect("finished");
        let mut inner = zip.close().await.expect("closed").into_inner();
        tokio::io::AsyncWriteExt::shutdown(&mut inner)
            .await
            .expect("shut");
        let archive = read.await.expect("joined").expect("read");

        assert_eq!(written.len(), 3);
        let mut zip =
            async_zip::tokio::read::seek::ZipFileReader::with_tokio(std::io::Cursor::new(archive))
                .await
                .expect("a valid archive");
        for (i, (path, compression, bytes)) in files.iter().enumerate() {
            assert_eq!(written[i].path, *path);
            assert_eq!(written[i].bytes, bytes.len() as u64);
            assert_eq!(written[i].sha256, hex::encode(Sha256::digest(bytes)));
            let stored = zip.file().entries()[i].clone();
            assert_eq!(stored.filename().as_str().expect("utf-8"), *path);
            assert_eq!(stored.compression(), *compression);
            let mut entry = zip.reader_with_entry(i).await.expect("entry");
            let mut back = Vec::new();
            entry
                .read_to_end_checked(&mut back)
                .await
                .expect("crc checks");
            assert_eq!(&back, bytes, "{path}");
        }
    }

    #[tokio::test]
    async fn an_export_that_stops_inside_an_entry_reports_its_own_error() {
        let (writer, _reader) = tokio::io::duplex(64 * 1024);
        let (sink, entries) = start_with(ZipFileWriter::with_tokio(writer), 1000);
        sink.open("half.json".into(), Compression::Deflate)
            .await
            .expect("opened");
        sink.write(b"[".to_vec()).await.expect("written");
        drop(sink);
        let failed: anyhow::Result<()> = Err(anyhow::anyhow!("the database went away"));
        let error = entries.finish(failed).await.err().expect("an error");
        assert_eq!(error.to_string(), "the database went away");
    }
}
