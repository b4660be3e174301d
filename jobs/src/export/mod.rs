//! Access exports: every row and object the data map links to a subject, streamed into a
//! ZIP archive that is streamed into a multipart upload. Each entry's rows are read once;
//! their JSON is archived as it is read and their CSV follows from memory or, past 8 MiB,
//! from an unnamed temporary file ([`rows`]). A thread of its own deflates and hashes the
//! entries ([`archiver`]). Beyond that, nothing is held but a few batches of rows, one
//! upload part and one chunk of an object, so memory stays flat whatever the subject's
//! size.
//!
//! The archive holds `data/<category>/<entry>.json` and `.csv` per map entry,
//! `objects/<bucket>/<key>` per object, an `index.html` summary for people, and a
//! `manifest.json` with row counts, the object count and the SHA-256 of every file.

use std::collections::BTreeMap;

use anyhow::Context;
use chrono::Utc;
use diesel_async::AsyncPgConnection;
use serde::Serialize;
use tokio::io::DuplexStream;
use uuid::Uuid;

use self::archiver::Sink;
use self::rows::Masking;
use crate::datamap::catalog::ident;
use crate::datamap::{BoundMap, Category, SubjectKey};
use crate::platform::PlatformPool;
use crate::storage::{ObjectRef, Storage};

mod archiver;
mod objects;
mod rows;

/// Size of each multipart-upload part.
pub const PART_SIZE: usize = 8 * 1024 * 1024;

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
    let (sink, entries) = archiver::start(writer);
    let produced = async {
        let mut archive = write_subject(c, map, storage, spec, &sink).await?;
        let index = crate::export_index::render(
            spec,
            &archive.report,
            &archive.tables,
            &archive.object_counts,
        );
        sink.whole("index.html", index.into_bytes()).await?;
        archive.files = sink.files().await?;
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
        archive.report.content_bytes =
            archive.files.iter().map(|f| f.bytes).sum::<u64>() + manifest.len() as u64;
        sink.whole("manifest.json", manifest).await?;
        anyhow::Ok(archive)
    }
    .await;
    drop(sink);
    entries.finish(produced).await
}

/// The query reading one map entry's rows of a subject.
pub struct RowQuery<'a> {
    /// The entry's table.
    pub table: &'a str,
    /// The columns exported, in order (the table's, less those the map omits).
    pub columns: Vec<String>,
    /// A query selecting those columns of the subject's rows.
    pub sql: String,
}

/// The queries reading the subject's rows, one per exported table: the subject's own
/// table first, then the others by name.
pub fn row_queries<'a>(map: &'a BoundMap, subject: &SubjectKey) -> Vec<RowQuery<'a>> {
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
    let mut queries = Vec::new();
    for table in tables {
        let Some(selection) = map.exported_rows(table, subject) else {
            continue;
        };
        let omit: &[String] = map.map.tables.get(table).map_or(&[], |r| r.omit.as_slice());
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
        queries.push(RowQuery {
            table,
            columns,
            sql,
        });
    }
    queries
}

/// Hands the subject's rows and objects to the archive's writer, and counts them.
async fn write_subject(
    c: &mut AsyncPgConnection,
    map: &BoundMap,
    storage: &Storage,
    spec: &ExportJobSpec,
    sink: &Sink,
) -> anyhow::Result<Archive> {
    let mut archive = Archive::default();
    let Some(subject) = &spec.subject else {
        return Ok(archive);
    };
    archive.report.subject_found = true;
    for query in row_queries(map, subject) {
        let table = query.table;
        let rule = map.map.tables.get(table);
        let mask: Vec<String> = rule.map_or_else(Vec::new, |r| r.mask.clone());
        let masking = Masking {
            key: &spec.mask_key,
            columns: &mask,
        };
        let category = map.category_of(table);
        let base = format!("data/{}/{}", category.as_str(), table);
        let written = rows::export_rows(c, sink, &base, &query.columns, &query.sql, &masking)
            .await
            .with_context(|| format!("exporting {table}"))?;
        archive.report.rows.insert(table.to_owned(), written.rows);
        archive.report.rows_total += written.rows;
        archive.tables.push(TableEntry {
            entry: table.to_owned(),
            table: table.to_owned(),
            category,
            rows: written.rows,
            files: vec![written.json, written.csv],
        });
    }
    objects::export_objects(c, sink, &mut archive, map, storage, subject).await?;
    Ok(archive)
}
