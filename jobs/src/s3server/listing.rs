//! Listing a bucket of the embedded store by prefix. s3s-fs walks the whole bucket
//! directory for every listing, whatever the prefix; here the walk starts at the
//! directory the prefix names (`avatars/123/` → `<bucket>/avatars/123`) and skips every
//! directory that cannot hold a matching key, so a listing costs what lies under its
//! prefix. Files and directories removed while the walk runs are passed over, not errors.

use std::collections::BTreeSet;
use std::io;
use std::path::{Component, Path, PathBuf};

use s3s::S3Result;
use s3s::dto::{CommonPrefix, ListObjectsV2Input, ListObjectsV2Output, Object, Timestamp};

/// One object found under the prefix.
struct Found {
    key: String,
    size: u64,
    modified: std::time::SystemTime,
}

/// Answers `ListObjectsV2` over the bucket stored in `bucket_dir` (which exists).
pub(super) async fn list(
    bucket_dir: PathBuf,
    input: ListObjectsV2Input,
) -> S3Result<ListObjectsV2Output> {
    let prefix = input
        .prefix
        .as_deref()
        .unwrap_or("")
        .trim_start_matches('/')
        .to_owned();
    let walked = {
        let prefix = prefix.clone();
        tokio::task::spawn_blocking(move || walk(&bucket_dir, &prefix))
            .await
            .map_err(s3s::S3Error::internal_error)?
    };
    let mut found = walked.map_err(s3s::S3Error::internal_error)?;
    found.sort_unstable_by(|a, b| a.key.cmp(&b.key));

    // With a delimiter, keys with the delimiter after the prefix fold into one prefix.
    let mut objects = Vec::new();
    let mut prefixes = BTreeSet::new();
    match input.delimiter.as_deref().filter(|d| !d.is_empty()) {
        Some(delimiter) => {
            for object in found {
                match object.key[prefix.len()..].find(delimiter) {
                    Some(at) => {
                        prefixes
                            .insert(object.key[..prefix.len() + at + delimiter.len()].to_owned());
                    }
                    None => objects.push(object),
                }
            }
        }
        None => objects = found,
    }

    // Resume after the later of the continuation token and `start-after`.
    let marker = match (
        input.continuation_token.as_deref(),
        input.start_after.as_deref(),
    ) {
        (Some(token), Some(after)) => Some(token.max(after)),
        (token, after) => token.or(after),
    };
    let after = |key: &str| marker.is_none_or(|m| key > m);
    let mut objects = objects.into_iter().filter(|o| after(&o.key)).peekable();
    let mut prefixes = prefixes.into_iter().filter(|p| after(p)).peekable();

    // Objects and common prefixes in key order, at most `max-keys` of both together.
    let max_keys = input.max_keys.unwrap_or(1000);
    let limit = usize::try_from(max_keys).unwrap_or(0);
    let mut contents = Vec::new();
    let mut common = Vec::new();
    let mut last = None;
    while contents.len() + common.len() < limit {
        let object_first = match (objects.peek(), prefixes.peek()) {
            (Some(o), Some(p)) => o.key < *p,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        if object_first {
            let Some(object) = objects.next() else { break };
            last = Some(object.key.clone());
            contents.push(Object {
                key: Some(object.key),
                last_modified: Some(Timestamp::from(object.modified)),
                size: Some(i64::try_from(object.size).map_err(s3s::S3Error::internal_error)?),
                ..Default::default()
            });
        } else {
            let Some(prefix) = prefixes.next() else { break };
            last = Some(prefix.clone());
            common.push(CommonPrefix {
                prefix: Some(prefix),
            });
        }
    }
    let truncated = limit > 0 && (objects.peek().is_some() || prefixes.peek().is_some());
    let key_count = i32::try_from(contents.len() + common.len()).unwrap_or(i32::MAX);
    Ok(ListObjectsV2Output {
        key_count: Some(key_count),
        max_keys: Some(max_keys),
        is_truncated: Some(truncated),
        contents: (!contents.is_empty()).then_some(contents),
        common_prefixes: (!common.is_empty()).then_some(common),
        continuation_token: input.continuation_token,
        next_continuation_token: if truncated { last } else { None },
        delimiter: input.delimiter,
        encoding_type: input.encoding_type,
        name: Some(input.bucket),
        prefix: input.prefix,
        start_after: input.start_after,
        ..Default::default()
    })
}

/// Every object of the bucket in `bucket_dir` whose key starts with `prefix`.
fn walk(bucket_dir: &Path, prefix: &str) -> io::Result<Vec<Found>> {
    // The directory part of the prefix, when it is a plain relative path: the walk
    // starts there. Anything else (`..`, `./`, `//`) starts at the bucket's own.
    let directory = prefix.rfind('/').map_or("", |at| &prefix[..at]);
    let (start, start_key) = if plain(directory) {
        (bucket_dir.join(directory), format!("{directory}/"))
    } else {
        (bucket_dir.to_path_buf(), String::new())
    };
    let mut found = Vec::new();
    let mut pending = vec![(start, start_key)];
    while let Some((dir, dir_key)) = pending.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(error) if vanished(&error) => continue,
            Err(error) => return Err(error),
        };
        for entry in entries {
            let entry = match entry {
                Ok(entry) => entry,
                Err(error) if vanished(&error) => continue,
                Err(error) => return Err(error),
            };
            // Keys are UTF-8; a name that is not cannot be one.
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            let key = format!("{dir_key}{name}");
            let file_type = match entry.file_type() {
                Ok(file_type) => file_type,
                Err(error) if vanished(&error) => continue,
                Err(error) => return Err(error),
            };
            if file_type.is_dir() {
                let below = format!("{key}/");
                // Only directories whose keys can start with the prefix, or that lie on
                // the way to it.
                if below.starts_with(prefix) || prefix.starts_with(&below) {
                    pending.push((entry.path(), below));
                }
            } else if file_type.is_file() && key.starts_with(prefix) {
                let metadata = match entry.metadata() {
                    Ok(metadata) => metadata,
                    Err(error) if vanished(&error) => continue,
                    Err(error) => return Err(error),
                };
                found.push(Found {
                    key,
                    size: metadata.len(),
                    modified: metadata.modified()?,
                });
            }
        }
    }
    Ok(found)
}

/// Whether `path` is relative and made of plain names only (no `..`, `.`, or empty part).
pub(super) fn plain(path: &str) -> bool {
    !path.is_empty()
        && path.split('/').all(|part| {
            let mut parts = Path::new(part).components();
            matches!(parts.next(), Some(Component::Normal(_))) && parts.next().is_none()
        })
}

/// Whether an error means the file or directory was removed meanwhile.
fn vanished(error: &io::Error) -> bool {
    error.kind() == io::ErrorKind::NotFound
}
