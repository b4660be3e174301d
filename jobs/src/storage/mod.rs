//! The object-storage facade: every object operation Lethe performs, over aws-sdk-s3, so
//! that the embedded server, MinIO, Garage, R2 and AWS S3 all take the same path.

mod upload;

use std::time::Duration;

use anyhow::Context;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};

/// How to reach an S3-compatible service.
#[derive(Debug, Clone)]
pub struct S3Settings {
    /// Endpoint URL; `None` means AWS' own endpoints for the region.
    pub endpoint: Option<String>,
    /// Region name (any string for most S3-compatible servers).
    pub region: String,
    /// Address buckets as `endpoint/bucket/key` rather than `bucket.endpoint/key`.
    pub path_style: bool,
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
    /// Whether the service can keep object versions at all: deletes and checks then take
    /// every version of a key. `false` for the embedded server (it has no versioning).
    pub versioning: bool,
}

/// A bucket Lethe was configured to use does not exist on the service (S3 answered
/// `NoSuchBucket`): a configuration problem staff can act on, not a transient fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bucket {bucket} does not exist")]
pub struct MissingBucket {
    /// The bucket's name.
    pub bucket: String,
}

impl MissingBucket {
    /// The missing bucket named anywhere in `error`'s chain, if any.
    pub fn find(error: &anyhow::Error) -> Option<&Self> {
        error.chain().find_map(|cause| cause.downcast_ref::<Self>())
    }
}

/// Turns a failed S3 call on `bucket` into an error: [`MissingBucket`] when the bucket
/// does not exist, else the SDK's error with what Lethe was doing.
fn s3_failure<E, R>(
    bucket: &str,
    doing: &str,
    error: aws_sdk_s3::error::SdkError<E, R>,
) -> anyhow::Error
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    use aws_sdk_s3::error::ProvideErrorMetadata;
    if error.code() == Some("NoSuchBucket") {
        return MissingBucket {
            bucket: bucket.to_owned(),
        }
        .into();
    }
    anyhow::Error::new(error).context(format!("{doing} {bucket}"))
}

/// A bucket name and key: one object.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectRef {
    /// Bucket name.
    pub bucket: String,
    /// Object key.
    pub key: String,
}

/// Object storage, cheap to clone.
#[derive(Clone)]
pub struct Storage {
    client: Client,
    /// Whether the service can keep versions at all.
    versioning: bool,
}

/// The minimum part size S3 accepts for every part but the last.
pub const MIN_PART_SIZE: usize = 5 * 1024 * 1024;

impl Storage {
    /// Builds a client. Checksums are computed only where S3 requires them, which every
    /// S3-compatible server accepts.
    pub fn new(settings: &S3Settings) -> Self {
        let credentials = Credentials::new(
            settings.access_key_id.clone(),
            settings.secret_access_key.clone(),
            None,
            None,
            "lethe-config",
        );
        let mut builder = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(settings.region.clone()))
            .credentials_provider(credentials)
            .force_path_style(settings.path_style)
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
        if let Some(endpoint) = &settings.endpoint {
            builder = builder.endpoint_url(endpoint);
        }
        Self {
            client: Client::from_conf(builder.build()),
            versioning: settings.versioning,
        }
    }

    /// Creates the bucket unless it exists.
    pub async fn ensure_bucket(&self, bucket: &str) -> anyhow::Result<()> {
        if self
            .client
            .head_bucket()
            .bucket(bucket)
            .send()
            .await
            .is_ok()
        {
            return Ok(());
        }
        match self.client.create_bucket().bucket(bucket).send().await {
            Ok(_) => Ok(()),
            Err(error) => {
                let service = error.into_service_error();
                if service.is_bucket_already_exists() || service.is_bucket_already_owned_by_you() {
                    Ok(())
                } else {
                    Err(anyhow::Error::new(service).context(format!("creating bucket {bucket}")))
                }
            }
        }
    }

    /// Whether the bucket is reachable (readiness).
    pub async fn bucket_reachable(&self, bucket: &str) -> bool {
        self.client
            .head_bucket()
            .bucket(bucket)
            .send()
            .await
            .is_ok()
    }

    /// Puts a small object from memory.
    pub async fn put_bytes(
        &self,
        object: &ObjectRef,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> anyhow::Result<()> {
        self.client
            .put_object()
            .bucket(&object.bucket)
            .key(&object.key)
            .content_type(content_type)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| s3_failure(&object.bucket, "putting an object into", e))?;
        Ok(())
    }

    /// Opens an object for streaming; `None` if it does not exist.
    pub async fn get_stream(
        &self,
        object: &ObjectRef,
    ) -> anyhow::Result<Option<(ByteStream, Option<i64>)>> {
        match self
            .client
            .get_object()
            .bucket(&object.bucket)
            .key(&object.key)
            .send()
            .await
        {
            Ok(out) => Ok(Some((out.body, out.content_length))),
            Err(error)
                if error.as_service_error().is_some_and(
                    aws_sdk_s3::operation::get_object::GetObjectError::is_no_such_key,
                ) =>
            {
                Ok(None)
            }
            Err(error) => Err(s3_failure(&object.bucket, "reading an object from", error)),
        }
    }

    /// Reads a whole object into memory (small objects only: tests, manifests).
    pub async fn get_bytes(&self, object: &ObjectRef) -> anyhow::Result<Option<Vec<u8>>> {
        let Some((body, _)) = self.get_stream(object).await? else {
            return Ok(None);
        };
        Ok(Some(
            body.collect()
                .await
                .context("reading object body")?
                .into_bytes()
                .to_vec(),
        ))
    }

    /// Lists every key under `prefix`, page by page.
    pub async fn list_prefix(&self, bucket: &str, prefix: &str) -> anyhow::Result<Vec<String>> {
        let mut keys = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .into_paginator()
            .page_size(1000)
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| s3_failure(bucket, "listing", e))?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_owned)),
            );
        }
        Ok(keys)
    }

    /// Whether objects may have older versions: on any service that supports versioning
    /// (a bucket's versioning can be turned on, or suspended with versions kept, at any
    /// time), so versions are always listed there. The embedded server has none.
    fn may_keep_versions(&self) -> bool {
        self.versioning
    }

    /// One page (up to 1,000) of the versions and delete markers under `prefix` after the
    /// markers, as (key, version id), and the markers of the next page if there is one.
    async fn versions_page(
        &self,
        bucket: &str,
        prefix: &str,
        markers: (Option<String>, Option<String>),
    ) -> anyhow::Result<(
        Vec<(String, String)>,
        Option<(Option<String>, Option<String>)>,
    )> {
        let page = self
            .client
            .list_object_versions()
            .bucket(bucket)
            .prefix(prefix)
            .max_keys(1000)
            .set_key_marker(markers.0)
            .set_version_id_marker(markers.1)
            .send()
            .await
            .map_err(|e| s3_failure(bucket, "listing versions in", e))?;
        let versions = page
            .versions()
            .iter()
            .filter_map(|v| Some((v.key()?, v.version_id()?)));
        let deleted = page
            .delete_markers()
            .iter()
            .filter_map(|m| Some((m.key()?, m.version_id()?)));
        let entries = versions
            .chain(deleted)
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let next = (page.is_truncated() == Some(true)).then(|| {
            (
                page.next_key_marker().map(str::to_owned),
                page.next_version_id_marker().map(str::to_owned),
            )
        });
        Ok((entries, next))
    }

    /// Every version and delete marker under `prefix`, as (key, version id).
    async fn versions_under(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> anyhow::Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        let mut markers = (None, None);
        loop {
            let (entries, next) = self.versions_page(bucket, prefix, markers).await?;
            out.extend(entries);
            match next {
                Some(next) => markers = next,
                None => return Ok(out),
            }
        }
    }

    /// What is left under `prefix`: keys of current objects, and where versions may be kept
    /// also keys with older versions or delete markers (each counted once).
    pub async fn remaining(&self, bucket: &str, prefix: &str) -> anyhow::Result<Vec<String>> {
        if !self.may_keep_versions() {
            return self.list_prefix(bucket, prefix).await;
        }
        let mut keys: Vec<String> = self
            .versions_under(bucket, prefix)
            .await?
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        keys.dedup();
        Ok(keys)
    }

    /// The versions of a batch of keys from one listing of their common prefix, in key
    /// order, while it stays within ten entries per key (at least 1,000): keys that share a
    /// narrow prefix (`avatars/42/…`) cost a page, not a call each. The keys the listing
    /// did not reach (a wide prefix full of other objects) are returned to be listed one
    /// by one.
    async fn versions_by_prefix(
        &self,
        bucket: &str,
        keys: &[String],
    ) -> anyhow::Result<(Vec<ObjectIdentifier>, Vec<String>)> {
        let mut sorted: Vec<&str> = keys.iter().map(String::as_str).collect();
        sorted.sort_unstable();
        sorted.dedup();
        let (Some(first), Some(last)) = (sorted.first(), sorted.last()) else {
            return Ok((Vec::new(), Vec::new()));
        };
        if sorted.len() < 2 {
            return Ok((Vec::new(), vec![(*first).to_owned()]));
        }
        let common = first
            .char_indices()
            .zip(last.chars())
            .find(|((_, a), b)| a != b)
            .map_or(first.len().min(last.len()), |((i, _), _)| i);
        let prefix = &first[..common];
        let wanted: std::collections::BTreeSet<&str> = sorted.iter().copied().collect();
        let budget = (keys.len() * 10).max(1000);
        let (mut seen, mut found, mut reached) = (0usize, Vec::new(), None::<String>);
        let mut markers = (None, None);
        loop {
            let (entries, next) = self.versions_page(bucket, prefix, markers).await?;
            for (key, version) in entries {
                seen += 1;
                if wanted.contains(key.as_str()) {
                    found.push(
                        ObjectIdentifier::builder()
                            .key(key)
                            .version_id(version)
                            .build()?,
                    );
                }
            }
            let Some(next) = next.filter(|(k, _)| k.as_deref().is_none_or(|k| k <= *last)) else {
                return Ok((found, Vec::new()));
            };
            reached.clone_from(&next.0);
            markers = next;
            if seen >= budget {
                break;
            }
        }
        // Too wide: what was listed up to the marker is complete; the rest, key by key.
        let reached = reached.unwrap_or_default();
        found.retain(|o| o.key() <= reached.as_str());
        let rest = sorted
            .into_iter()
            .filter(|k| *k > reached.as_str())
            .map(str::to_owned)
            .collect();
        // The marker's own key may have more versions on the next page: list it again.
        let mut rest: Vec<String> = rest;
        if wanted.contains(reached.as_str()) {
            found.retain(|o| o.key() != reached.as_str());
            rest.push(reached);
        }
        Ok((found, rest))
    }

    /// Every version id and delete marker of `key`.
    async fn versions_of(&self, bucket: &str, key: &str) -> anyhow::Result<Vec<ObjectIdentifier>> {
        self.versions_under(bucket, key)
            .await?
            .into_iter()
            .filter(|(k, _)| k == key)
            .map(|(k, version)| {
                Ok(ObjectIdentifier::builder()
                    .key(k)
                    .version_id(version)
                    .build()?)
            })
            .collect()
    }

    /// Deletes keys with batched DeleteObjects (at most 1,000 identifiers a call); missing
    /// keys count as deleted, so this is idempotent. Where versions may be kept, every version
    /// and delete marker of each key goes (their listings run 16 at a time), so nothing can
    /// be restored. Any per-key error fails the call. Returns how many distinct keys S3
    /// reported deleted.
    pub async fn delete_keys(&self, bucket: &str, keys: &[String]) -> anyhow::Result<usize> {
        use futures::{StreamExt, TryStreamExt};
        let versioned = self.may_keep_versions();
        let identifiers: Vec<ObjectIdentifier> = if versioned {
            let (mut found, rest) = self.versions_by_prefix(bucket, keys).await?;
            let listed: Vec<Vec<ObjectIdentifier>> = futures::stream::iter(rest)
                .map(|key| {
                    let (storage, bucket) = (self.clone(), bucket.to_owned());
                    async move { storage.versions_of(&bucket, &key).await }
                })
                .buffered(16)
                .try_collect()
                .await?;
            found.extend(listed.into_iter().flatten());
            found
        } else {
            keys.iter()
                .map(|k| ObjectIdentifier::builder().key(k).build())
                .collect::<Result<Vec<_>, _>>()?
        };
        let mut confirmed = std::collections::BTreeSet::new();
        for chunk in identifiers.chunks(1000) {
            let ids = chunk.to_vec();
            let out = self
                .client
                .delete_objects()
                .bucket(bucket)
                .delete(
                    Delete::builder()
                        .set_objects(Some(ids))
                        .quiet(false)
                        .build()?,
                )
                .send()
                .await
                .map_err(|e| s3_failure(bucket, "deleting objects from", e))?;
            if let Some(first) = out.errors().first() {
                anyhow::bail!(
                    "{} of {} deletes failed in {bucket}, first: {}",
                    out.errors().len(),
                    chunk.len(),
                    first.code().unwrap_or("unknown")
                );
            }
            confirmed.extend(
                out.deleted()
                    .iter()
                    .filter_map(|d| d.key())
                    .map(str::to_owned),
            );
        }
        // A key with no version left to delete was never listed: nothing of it remains.
        if versioned {
            let listed: std::collections::BTreeSet<&str> =
                identifiers.iter().map(|i| i.key()).collect();
            confirmed.extend(
                keys.iter()
                    .filter(|k| !listed.contains(k.as_str()))
                    .cloned(),
            );
        }
        Ok(confirmed.len())
    }

    /// A time-limited GET link for an object (at most 7 days, the S3 limit).
    pub async fn presign_get(
        &self,
        object: &ObjectRef,
        expires_in: Duration,
    ) -> anyhow::Result<String> {
        let config =
            PresigningConfig::expires_in(expires_in.min(Duration::from_secs(7 * 24 * 3600)))?;
        let request = self
            .client
            .get_object()
            .bucket(&object.bucket)
            .key(&object.key)
            .presigned(config)
            .await
            .context("presigning a download link")?;
        Ok(request.uri().to_owned())
    }
}
