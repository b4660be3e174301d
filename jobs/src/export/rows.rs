//! One map entry's rows, read once and written twice: as a JSON array of objects and as
//! CSV with a header. The JSON goes to the archive as it is read; the CSV is held aside
//! (in memory up to [`SPILL_AT`], then in an unnamed temporary file) and follows it as
//! the next entry, since a ZIP archive is written one entry at a time. Reading the next
//! batch from the database overlaps encoding the one before.

use anyhow::Context;
use diesel_async::AsyncPgConnection;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tokio::sync::mpsc;

use super::archiver::{Method, Sink};
use crate::datamap::catalog::ident;
use crate::platform;

/// Rows fetched from the platform database per round trip.
const BATCH: usize = 2000;
/// CSV bytes held in memory before the rest goes to a temporary file.
const SPILL_AT: usize = 8 * 1024 * 1024;
/// Bytes per piece when the held CSV is copied into the archive.
const CHUNK: usize = 256 * 1024;

/// What one entry's export wrote.
pub(super) struct Written {
    pub(super) rows: u64,
    pub(super) json: String,
    pub(super) csv: String,
}

/// Columns replaced by a keyed pseudonym in the export (other people's ids, staff
/// notes): the same value always gives the same pseudonym within one key.
pub(super) struct Masking<'a> {
    pub(super) key: &'a str,
    pub(super) columns: &'a [String],
}

impl Masking<'_> {
    fn pseudonym(&self, value: &str) -> String {
        let mut hasher = Sha256::new();
        hasher.update(self.key.as_bytes());
        hasher.update([0u8]);
        hasher.update(value.as_bytes());
        format!("masked:{}", &hex::encode(hasher.finalize())[..16])
    }

    /// A `row_to_json` row with the masked fields replaced.
    fn json_row(&self, row: &str) -> anyhow::Result<String> {
        let mut value: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(row).context("decoding a row")?;
        for column in self.columns {
            if let Some(field) = value.get_mut(column)
                && !field.is_null()
            {
                let text = match &*field {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                *field = serde_json::Value::String(self.pseudonym(&text));
            }
        }
        Ok(serde_json::to_string(&value)?)
    }
}

/// Writes `data/<base>.json` and `data/<base>.csv` from one read of `rows_sql` (a query
/// selecting `columns` of the entry's rows, in a snapshot).
pub(super) async fn export_rows(
    c: &mut AsyncPgConnection,
    sink: &Sink,
    base: &str,
    columns: &[String],
    rows_sql: &str,
    masking: &Masking<'_>,
) -> anyhow::Result<Written> {
    let json_path = format!("{base}.json");
    let csv_path = format!("{base}.csv");
    sink.open(json_path.clone(), Method::Deflate).await?;
    sink.write(b"[".to_vec()).await?;
    let mut csv = Spill::new(SPILL_AT);
    let mut header = csv::Writer::from_writer(Vec::new());
    header.write_record(columns)?;
    csv.write(&header.into_inner()?).await?;

    // CSV from PostgreSQL's own text form of every value, in column order.
    let values = columns
        .iter()
        .map(|col| format!("x.{}::text", ident(col)))
        .collect::<Vec<_>>();
    let sql = format!(
        "SELECT row_to_json(x)::text AS v, json_build_array({})::text AS w FROM ({rows_sql}) x",
        values.join(", ")
    );
    let mut cursor = platform::Cursor::open(c, &sql).await?;
    let (tx, mut rx) = mpsc::channel::<Vec<(String, String)>>(2);
    let fetch = async {
        loop {
            let batch = cursor.fetch_pairs(c, BATCH).await?;
            if batch.is_empty() || tx.send(batch).await.is_err() {
                break;
            }
        }
        drop(tx);
        cursor.close(c).await?;
        anyhow::Ok(())
    };
    let encode = async {
        let mut rows = 0u64;
        while let Some(batch) = rx.recv().await {
            let mut json = Vec::with_capacity(batch.iter().map(|(j, _)| j.len() + 2).sum());
            let mut table = csv::Writer::from_writer(Vec::with_capacity(
                batch.iter().map(|(_, c)| c.len()).sum(),
            ));
            for (row, fields) in batch {
                json.extend_from_slice(if rows == 0 { b"\n" } else { b",\n" });
                if masking.columns.is_empty() {
                    json.extend_from_slice(row.as_bytes());
                } else {
                    json.extend_from_slice(masking.json_row(&row)?.as_bytes());
                }
                let mut fields: Vec<Option<String>> =
                    serde_json::from_str(&fields).context("decoding a row")?;
                for (field, column) in fields.iter_mut().zip(columns) {
                    if masking.columns.contains(column) {
                        *field = field.as_deref().map(|v| masking.pseudonym(v));
                    }
                }
                table.write_record(fields.iter().map(|f| f.as_deref().unwrap_or("")))?;
                rows += 1;
            }
            sink.write(json).await?;
            csv.write(&table.into_inner()?).await?;
        }
        anyhow::Ok(rows)
    };
    let ((), rows) = tokio::try_join!(fetch, encode)?;
    sink.write(if rows == 0 {
        b"]\n".to_vec()
    } else {
        b"\n]\n".to_vec()
    })
    .await?;
    sink.close().await?;

    sink.open(csv_path.clone(), Method::Deflate).await?;
    while let Some(chunk) = csv.read_chunk().await? {
        sink.write(chunk).await?;
    }
    sink.close().await?;
    Ok(Written {
        rows,
        json: json_path,
        csv: csv_path,
    })
}

/// Bytes held aside: in memory up to `limit`, then in an unnamed temporary file (one
/// with no name in the file system, freed by the system when it is closed, even if the
/// process dies).
struct Spill {
    memory: Vec<u8>,
    file: Option<tokio::fs::File>,
    limit: usize,
    /// Reading: the offset in memory, or (with a file) 1 once it was rewound.
    read: usize,
}

impl Spill {
    fn new(limit: usize) -> Self {
        Self {
            memory: Vec::new(),
            file: None,
            limit,
            read: 0,
        }
    }

    async fn write(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        if self.file.is_none() && self.memory.len() + bytes.len() <= self.limit {
            self.memory.extend_from_slice(bytes);
            return Ok(());
        }
        let file = match &mut self.file {
            Some(file) => file,
            None => {
                let file = tokio::task::spawn_blocking(tempfile::tempfile)
                    .await?
                    .context("creating a temporary file for the export")?;
                let mut file = tokio::fs::File::from_std(file);
                file.write_all(&std::mem::take(&mut self.memory)).await?;
                self.file.insert(file)
            }
        };
        file.write_all(bytes).await?;
        Ok(())
    }

    /// The next piece (at most [`CHUNK`] bytes) of what was written, from the start;
    /// `None` at the end. Writing after reading has begun is not supported.
    async fn read_chunk(&mut self) -> anyhow::Result<Option<Vec<u8>>> {
        let Some(file) = &mut self.file else {
            if self.read >= self.memory.len() {
                return Ok(None);
            }
            let end = (self.read + CHUNK).min(self.memory.len());
            let chunk = self.memory[self.read..end].to_vec();
            self.read = end;
            return Ok(Some(chunk));
        };
        if self.read == 0 {
            file.flush().await?;
            file.rewind().await?;
            self.read = 1;
        }
        let mut chunk = Vec::with_capacity(CHUNK);
        let read = file.take(CHUNK as u64).read_to_end(&mut chunk).await?;
        Ok((read > 0).then_some(chunk))
    }
}

#[cfg(test)]
mod tests {
    use super::{CHUNK, Spill};

    async fn read_back(mut spill: Spill) -> Vec<Vec<u8>> {
        let mut pieces = Vec::new();
        while let Some(chunk) = spill.read_chunk().await.expect("read") {
            pieces.push(chunk);
        }
        pieces
    }

    #[tokio::test]
    async fn what_is_held_aside_comes_back_whole_and_in_order_from_memory_or_file() {
        let small: Vec<u8> = (0..100u8).collect();
        let mut spill = Spill::new(1024);
        spill.write(&small).await.expect("written");
        assert!(spill.file.is_none(), "100 bytes stay in memory");
        assert_eq!(read_back(spill).await.concat(), small);

        let big: Vec<u8> = (0..(3 * CHUNK + 17)).map(|i| (i % 251) as u8).collect();
        let mut spill = Spill::new(1024);
        for part in big.chunks(700) {
            spill.write(part).await.expect("written");
        }
        assert!(
            spill.file.is_some(),
            "past the limit the bytes go to a file"
        );
        assert!(spill.memory.is_empty());
        let pieces = read_back(spill).await;
        assert!(pieces.iter().all(|p| p.len() <= CHUNK));
        assert_eq!(pieces.len(), 4);
        assert_eq!(pieces.concat(), big);
    }
}
