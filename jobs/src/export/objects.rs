//! The subject's objects in the export: every key the exported rows name (or every key
//! under a named prefix), copied once each, stored as they are under
//! `objects/<bucket>/<key>`.

use std::collections::HashSet;

use anyhow::Context;
use diesel_async::AsyncPgConnection;

use super::Archive;
use super::archiver::{Method, Sink};
use crate::datamap::{BoundMap, Category, SubjectKey};
use crate::storage::{ObjectRef, Storage};

pub(super) async fn export_objects(
    c: &mut AsyncPgConnection,
    sink: &Sink,
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
                    copy_object(sink, archive, storage, &object, category).await?;
                }
            }
        }
    }
    Ok(())
}

async fn copy_object(
    sink: &Sink,
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
    sink.open(path, Method::Stored).await?;
    let mut bytes = 0u64;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.context("reading an object")?;
        bytes += chunk.len() as u64;
        sink.write(chunk.to_vec()).await?;
    }
    sink.close().await?;
    archive.report.objects += 1;
    archive.report.object_bytes += bytes;
    let counts = archive.object_counts.entry(category).or_default();
    counts.0 += 1;
    counts.1 += bytes;
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
