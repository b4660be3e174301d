//! Access exports: every row and object the data map links to a subject, streamed into a
//! ZIP archive that is streamed into a multipart upload. Nothing is buffered beyond one
//! batch of rows, one upload part and one chunk of an object, so memory stays flat
//! whatever the subject's size.
//!
//! The archive holds `data/<category>/<entry>.json` and `.csv` per map entry,
//! `objects/<bucket>/<key>` per object, an `index.html` summary for people, and a
//! `manifest.json` with row counts, the object count and the SHA-256 of every file.

use std::collections::{BTreeMap, HashSet};

use anyhow::Context;
use async_zip::base::write::{EntryStreamWriter, ZipFileWriter};
use async_zip::{Compression, ZipEntryBuilder};
use chrono::Utc;
use diesel_async::AsyncPgConnection;
use futures::io::AsyncWriteExt as _;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::io::DuplexStream;
use tokio_util::compat::Compat;
use uuid::Uuid;

use crate::datamap::catalog::ident;
use crate::datamap::{BoundMap, Category, SubjectKey};
use crate::platform::{self, PlatformPool};
use crate::storage::{ObjectRef, Storage};

/// Size of each multipart-upload part.
pub const PART_SIZE: usize = 8 * 1024 * 1024;
/// Rows fetched from the platform database per round trip.
const BATCH: usize = 2000;

/// What to export and where to put it.
#[derive(Debug, Clone)]
pub struct ExportJobSpec {
    /// The request this export answers (named in the archive).
    pub request_id: Uuid,
    /// The located subject, or `None` when no account matched.
    pub subject: Option<SubjectKey>,
    /// Where the archive goes.
    pub destination: ObjectRef,
    /// Key of the pseudonyms that replace masked columns.
    pub mask_key: String,
}

/// What an export wrote: counts only, never contents.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct ExportReport {
    /// Archive size in bytes.
    pub archive_bytes: u64,
    /// Rows per map entry.
    pub rows: BTreeMap<String, u64>,
    /// All rows.
    pub rows_total: u64,
    /// Objects copied into the archive.
    pub objects: u64,
    /// Bytes of those objects.
    pub object_bytes: u64,
    /// Keys named by rows that the bucket did not hold.
    pub objects_missing: u64,
    /// Whether an account matched at all.
    pub subject_found: bool,
    /// Uncompressed bytes of every file in the archive.
    #[serde(default)]
    pub content_bytes: u64,
}

/// One file in the archive, as listed in the manifest.
#[derive(Debug, Clone, Serialize)]
struct FileEntry {
    path: String,
    bytes: u64,
    sha256: String,
}

#[derive(Debug, Clone, Serialize)]
struct TableEntry {
    entry: String,
    table: String,
    category: Category,
    rows: u64,
    files: Vec<String>,
}

impl crate::export_index::TableLike for TableEntry {
    fn entry(&self) -> &str {
        &self.entry
    }
    fn category(&self) -> Category {
        self.category
    }
    fn rows(&self) -> u64 {
        self.rows
    }
    fn files(&self) -> &[String] {
        &self.files
    }
}

#[derive(Default)]
struct Archive {
    report: ExportReport,
    files: Vec<FileEntry>,
    tables: Vec<TableEntry>,
    object_counts: BTreeMap<Category, (u64, u64)>,
}

type Zip = ZipFileWriter<Compat<DuplexStream>>;

/// Streams the subject's export into `spec.destination`. Idempotent: a re-run writes the
/// same key again from a fresh snapshot, and a failed run leaves no partial object.
pub async fn export_subject(
    platform: &PlatformPool,
    map: &BoundMap,
    storage: &Storage,
    spec: &ExportJobSpec,
) -> anyhow::Result<ExportReport> {
    let (writer, reader) = tokio::io::duplex(256 * 1024);
    let (finished_tx, finished_rx) = tokio::sync::oneshot::channel();
    let upload = storage.upload_stream(
        &spec.destination,
        reader,
        PART_SIZE,
        "application/zip",
        finished_rx,
    );
    let produce = async {
        let mut conn = platform
            .get()
            .await
            .context("connecting to the platform database")?;
        let spec = spec.clone();
        let archive = conn
            .build_transaction()
            .repeatable_read()
            .read_only()
            .run(async move |c| write_archive(c, map, storage, &spec, writer).await)
            .await?;
        let _ = finished_tx.send(true);
        anyhow::Ok(archive)
    };
    let (produced, uploaded) = tokio::join!(produce, upload);
    let mut archive = produced.context("writing the export archive")?;
    archive.report.archive_bytes = uploaded.context("uploading the export archive")?;
    Ok(archive.report)
}

async fn write_archive(
    c: &mut AsyncPgConnection,
    map: &BoundMap,
    storage: &Storage,
    spec: &ExportJobSpec,
    writer: DuplexStream,
) -> anyhow::Result<Archive> {
    let mut zip = ZipFileWriter::with_tokio(writer);
    let mut archive = Archive::default();
    if let Some(subject) = &spec.subject {
        archive.report.subject_found = true;
        let mut tables: Vec<&str> = vec![map.map.subject.table.as_str()];
        let mut rest: Vec<&str> = map
            .walk
            .edges
            .iter()
            .map(|(e, _)| e.table.as_str())
            .collect();
        rest.sort_unstable();
        rest.dedup();
        tables.extend(rest.into_iter().filter(|t| *t != map.map.subject.table));
        for table in tables {
            let Some(selection) = map.exported_rows(table, subject) else {
                continue;
            };
            let rule = map.map.tables.get(table);
            let omit: &[String] = rule.map_or(&[], |r| r.omit.as_slice());
            let mask: Vec<String> = rule.map_or_else(Vec::new, |r| r.mask.clone());
            let columns: Vec<String> = map
                .catalog
                .columns(table)
                .unwrap_or_default()
                .iter()
                .filter(|c| !omit.contains(&c.name))
                .map(|c| c.name.clone())
                .collect();
            let list: Vec<String> = columns.iter().map(|c| format!("x.{}", ident(c))).collect();
            let sql = format!(
                "{}SELECT {} FROM {} x WHERE x.ctid = ANY(ARRAY(SELECT s.lethe_ctid FROM ({}) s))",
                selection.with(),
                list.join(", "),
                map.qualified_table(table),
                selection.select
            );
            let masking = Masking {
                key: &spec.mask_key,
                columns: &mask,
            };
            export_rows(
                c,
                &mut zip,
                &mut archive,
                table,
                map.category_of(table),
                &columns,
                &sql,
                &masking,
            )
            .await?;
        }
        export_objects(c, &mut zip, &mut archive, map, storage, subject).await?;
    }
    let index = crate::export_index::render(
        spec,
        &archive.report,
        &archive.tables,
        &archive.object_counts,
    );
    write_whole(
        &mut zip,
        &mut archive,
        "index.html",
        index.as_bytes(),
        Compression::Deflate,
    )
    .await?;
    let manifest = serde_json::json!({
        "format": "lethe-export/1",
        "request_id": spec.request_id,
        "generated_at": Utc::now().to_rfc3339(),
        "subject_found": archive.report.subject_found,
        "rows_total": archive.report.rows_total,
        "tables": archive.tables,
        "objects": {
            "count": archive.report.objects,
            "bytes": archive.report.object_bytes,
            "missing": archive.report.objects_missing,
        },
        "files": archive.files,
    });
    let manifest = serde_json::to_vec_pretty(&manifest)?;
    zip.write_entry_whole(entry("manifest.json", Compression::Deflate), &manifest)
        .await?;
    archive.report.content_bytes =
        archive.files.iter().map(|f| f.bytes).sum::<u64>() + manifest.len() as u64;
    let mut inner = zip.close().await?.into_inner();
    tokio::io::AsyncWriteExt::shutdown(&mut inner).await?;
    Ok(archive)
}

/// The deflate level of compressed entries: 1, the fastest, as `gzip -1`. Exports are
/// mostly JSON and CSV text, which level 1 still shrinks several times, and deflate is
/// the export's largest CPU cost at higher levels.
const DEFLATE_LEVEL: i32 = 1;

fn entry(path: &str, compression: Compression) -> ZipEntryBuilder {
    let now = Utc::now();
    ZipEntryBuilder::new(path.to_owned().into(), compression)
        .deflate_option(async_zip::DeflateOption::Other(DEFLATE_LEVEL))
        .unix_permissions(0o644)
        .last_modification_date(async_zip::ZipDateTime::from_chrono(&now))
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

async fn write_whole(
    zip: &mut Zip,
    archive: &mut Archive,
    path: &str,
    bytes: &[u8],
    compression: Compression,
) -> anyhow::Result<()> {
    zip.write_entry_whole(entry(path, compression), bytes)
        .await?;
    archive.files.push(FileEntry {
        path: path.to_owned(),
        bytes: bytes.len() as u64,
        sha256: hex::encode(Sha256::digest(bytes)),
    });
    Ok(())
}

/// Writes one entry's rows twice: as a JSON array of objects and as CSV with a header,
/// both from the same snapshot.
#[expect(
    clippy::too_many_arguments,
    reason = "one call site; a struct would only rename these"
)]
async fn export_rows(
    c: &mut AsyncPgConnection,
    zip: &mut Zip,
    archive: &mut Archive,
    table: &str,
    category: Category,
    columns: &[String],
    rows_sql: &str,
    masking: &Masking<'_>,
) -> anyhow::Result<()> {
    let name = table;
    let base = format!("data/{}/{}", category.as_str(), name);

    let mut json = HashedEntry::open(zip, format!("{base}.json"), Compression::Deflate).await?;
    json.write(b"[").await?;
    let mut rows = 0u64;
    let mut cursor = platform::Cursor::open(
        c,
        &format!("SELECT row_to_json(x)::text AS v FROM ({rows_sql}) x"),
    )
    .await?;
    loop {
        let batch = cursor.fetch(c, BATCH).await?;
        if batch.is_empty() {
            break;
        }
        let mut buf = Vec::with_capacity(batch.iter().map(|r| r.len() + 2).sum());
        for row in batch {
            buf.extend_from_slice(if rows == 0 { b"\n" } else { b",\n" });
            if masking.columns.is_empty() {
                buf.extend_from_slice(row.as_bytes());
            } else {
                buf.extend_from_slice(masking.json_row(&row)?.as_bytes());
            }
            rows += 1;
        }
        json.write(&buf).await?;
    }
    cursor.close(c).await?;
    json.write(if rows == 0 { b"]\n" } else { b"\n]\n" })
        .await?;
    let json = json
        .close()
        .await
        .with_context(|| format!("writing {name}.json"))?;

    // CSV from PostgreSQL's own text form of every value, in column order.
    let mut csv_entry = HashedEntry::open(zip, format!("{base}.csv"), Compression::Deflate).await?;
    let mut header = csv::Writer::from_writer(Vec::new());
    header.write_record(columns)?;
    csv_entry.write(&header.into_inner()?).await?;
    let values = columns
        .iter()
        .map(|col| format!("x.{}::text", crate::datamap::catalog::ident(col)))
        .collect::<Vec<_>>();
    let sql = format!(
        "SELECT json_build_array({})::text AS v FROM ({rows_sql}) x",
        values.join(", ")
    );
    let mut cursor = platform::Cursor::open(c, &sql).await?;
    let mut csv_rows = 0u64;
    loop {
        let batch = cursor.fetch(c, BATCH).await?;
        if batch.is_empty() {
            break;
        }
        let mut writer =
            csv::Writer::from_writer(Vec::with_capacity(batch.iter().map(String::len).sum()));
        for row in batch {
            let mut fields: Vec<Option<String>> =
                serde_json::from_str(&row).context("decoding a row")?;
            for (field, column) in fields.iter_mut().zip(columns) {
                if masking.columns.contains(column) {
                    *field = field.as_deref().map(|v| masking.pseudonym(v));
                }
            }
            writer.write_record(fields.iter().map(|f| f.as_deref().unwrap_or("")))?;
            csv_rows += 1;
        }
        csv_entry.write(&writer.into_inner()?).await?;
    }
    cursor.close(c).await?;
    let csv_file = csv_entry
        .close()
        .await
        .with_context(|| format!("writing {name}.csv"))?;
    anyhow::ensure!(
        csv_rows == rows,
        "snapshot changed between the JSON and CSV passes of {name}"
    );

    archive.report.rows.insert(name.to_owned(), rows);
    archive.report.rows_total += rows;
    archive.tables.push(TableEntry {
        entry: name.to_owned(),
        table: table.to_owned(),
        category,
        rows,
        files: vec![json.path.clone(), csv_file.path.clone()],
    });
    archive.files.push(json);
    archive.files.push(csv_file);
    Ok(())
}

async fn export_objects(
    c: &mut AsyncPgConnection,
    zip: &mut Zip,
    archive: &mut Archive,
    map: &BoundMap,
    storage: &Storage,
    subject: &SubjectKey,
) -> anyhow::Result<()> {
    let mut seen = HashSet::new();
    let mut tables: Vec<&str> = map
        .map
        .objects
        .iter()
        .filter(|o| o.export)
        .map(|o| o.table.as_str())
        .collect();
    tables.sort_unstable();
    tables.dedup();
    for table in tables {
        let Some(selection) = map.exported_rows(table, subject) else {
            continue;
        };
        let Some(objects) = crate::purge::TableObjects::of(map, table) else {
            continue;
        };
        let read = format!(
            "{}SELECT {} AS v FROM {} x WHERE x.ctid = ANY(ARRAY(SELECT s.lethe_ctid FROM ({}) s))",
            selection.with(),
            objects.select_list("x"),
            map.qualified_table(table),
            selection.select
        );
        let (_, named) = objects.read(c, &read).await?;
        for (spec, key, prefix) in named.iter(&objects) {
            if !spec.export {
                continue;
            }
            let category = spec.category.unwrap_or_else(|| map.category_of(table));
            let keys = if prefix {
                storage.list_prefix(&spec.bucket, &key).await?
            } else {
                vec![key]
            };
            for key in keys {
                let object = ObjectRef {
                    bucket: spec.bucket.clone(),
                    key,
                };
                if seen.insert(object.clone()) {
                    copy_object(zip, archive, storage, &object, category).await?;
                }
            }
        }
    }
    Ok(())
}

/// Columns replaced by a keyed pseudonym in the export (other people's ids, staff
/// notes): the same value always gives the same pseudonym within one key.
struct Masking<'a> {
    key: &'a str,
    columns: &'a [String],
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

async fn copy_object(
    zip: &mut Zip,
    archive: &mut Archive,
    storage: &Storage,
    object: &ObjectRef,
    category: Category,
) -> anyhow::Result<()> {
    let Some((mut body, _)) = storage.get_stream(object).await? else {
        archive.report.objects_missing += 1;
        return Ok(());
    };
    let path = format!(
        "objects/{}/{}",
        safe_path(&object.bucket),
        safe_path(&object.key)
    );
    let mut file = HashedEntry::open(zip, path, Compression::Stored).await?;
    while let Some(chunk) = body.next().await {
        file.write(&chunk.context("reading an object")?).await?;
    }
    let file = file.close().await?;
    archive.report.objects += 1;
    archive.report.object_bytes += file.bytes;
    let counts = archive.object_counts.entry(category).or_default();
    counts.0 += 1;
    counts.1 += file.bytes;
    archive.files.push(file);
    Ok(())
}

/// An archive path with no empty, `.` or `..` components, so no key can escape the
/// folder it is unpacked into.
fn safe_path(key: &str) -> String {
    let parts: Vec<&str> = key
        .split('/')
        .filter(|p| !p.is_empty() && *p != "." && *p != "..")
        .collect();
    if parts.is_empty() {
        "_".to_owned()
    } else {
        parts.join("/")
    }
}

#[cfg(test)]
mod tests {
    use super::safe_path;

    #[test]
    fn keys_cannot_escape_the_archive_folder() {
        assert_eq!(safe_path("../../etc/passwd"), "etc/passwd");
        assert_eq!(safe_path("/a//b/./c"), "a/b/c");
        assert_eq!(safe_path(".."), "_");
    }
}
