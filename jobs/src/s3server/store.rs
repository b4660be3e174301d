//! The embedded server's store: s3s-fs for objects, with two changes. Listings walk only
//! what lies under their prefix (`listing.rs`). And a deletion also removes what s3s-fs
//! keeps beside the object: its `.bucket-….object-….{metadata,internal}.json` files name
//! the key, and the key's directories can name a person (`avatars/123/`), so both go
//! with the object, for each deleted key alone (nothing else is scanned).

use std::path::{Path, PathBuf};

use base64::Engine;
use s3s::dto::*;
use s3s::{S3, S3Request, S3Response, S3Result, s3_error};

use super::listing::plain;

/// s3s-fs over `root`, listing by prefix and erasing the bookkeeping of deleted keys.
pub(super) struct Store {
    inner: s3s_fs::FileSystem,
    /// The data directory, absolute (as s3s-fs resolves it).
    root: PathBuf,
}

impl Store {
    pub(super) fn new(root: &Path) -> anyhow::Result<Self> {
        let inner = s3s_fs::FileSystem::new(root)
            .map_err(|e| anyhow::anyhow!("embedded S3 directory: {e:?}"))?;
        let root = std::env::current_dir()?.join(root).canonicalize()?;
        Ok(Self { inner, root })
    }

    /// The directory of `bucket`, if the name is one plain path component.
    fn bucket_dir(&self, bucket: &str) -> S3Result<PathBuf> {
        if plain(bucket) && !bucket.contains('/') {
            Ok(self.root.join(bucket))
        } else {
            Err(s3_error!(InvalidBucketName))
        }
    }

    /// Removes the bookkeeping files of `bucket`'s `keys` whose objects are gone, and the
    /// directories of those keys that are now empty, up to the bucket's own.
    async fn forget(&self, bucket: &str, keys: Vec<String>) {
        let root = self.root.clone();
        let bucket = bucket.to_owned();
        let forgotten = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            for key in &keys {
                forget_key(&root, &bucket, key)?;
            }
            Ok(())
        })
        .await;
        match forgotten {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                tracing::warn!(%error, "embedded S3: removing the files of deleted keys failed");
            }
            Err(error) => {
                tracing::warn!(%error, "embedded S3: removing the files of deleted keys failed");
            }
        }
    }
}

fn forget_key(root: &Path, bucket: &str, key: &str) -> std::io::Result<()> {
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let bucket_dir = root.join(bucket);
    // A key that is not a plain path was resolved by s3s-fs to somewhere else; its
    // directories are left alone.
    let object = plain(key.trim_end_matches('/')).then(|| bucket_dir.join(key));
    if object.as_ref().is_some_and(|o| o.exists()) {
        return Ok(());
    }
    let stem = format!(
        ".bucket-{}.object-{}",
        engine.encode(bucket),
        engine.encode(key)
    );
    for suffix in [".metadata.json", ".internal.json"] {
        match std::fs::remove_file(root.join(format!("{stem}{suffix}"))) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => return Err(error),
            _ => {}
        }
    }
    let mut dir = object
        .as_deref()
        .and_then(Path::parent)
        .map(Path::to_path_buf);
    while let Some(current) = dir {
        if current == bucket_dir || !current.starts_with(&bucket_dir) {
            break;
        }
        // Fails (and stops) at the first directory that still holds something.
        if std::fs::remove_dir(&current).is_err() {
            break;
        }
        dir = current.parent().map(Path::to_path_buf);
    }
    Ok(())
}

#[async_trait::async_trait]
impl S3 for Store {
    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let bucket_dir = self.bucket_dir(&req.input.bucket)?;
        if !tokio::fs::try_exists(&bucket_dir)
            .await
            .map_err(s3s::S3Error::internal_error)?
        {
            return Err(s3_error!(NoSuchBucket));
        }
        Ok(S3Response::new(
            super::listing::list(bucket_dir, req.input).await?,
        ))
    }

    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        let listed = self.list_objects_v2(req.map_input(Into::into)).await?;
        Ok(listed.map_output(|v2| ListObjectsOutput {
            contents: v2.contents,
            common_prefixes: v2.common_prefixes,
            delimiter: v2.delimiter,
            encoding_type: v2.encoding_type,
            name: v2.name,
            prefix: v2.prefix,
            max_keys: v2.max_keys,
            is_truncated: v2.is_truncated,
            next_marker: v2.next_continuation_token,
            ..Default::default()
        }))
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        let deleted = self.inner.delete_object(req).await?;
        self.forget(&bucket, vec![key]).await;
        Ok(deleted)
    }

    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let bucket = req.input.bucket.clone();
        let keys = req
            .input
            .delete
            .objects
            .iter()
            .map(|o| o.key.clone())
            .collect();
        let deleted = self.inner.delete_objects(req).await?;
        self.forget(&bucket, keys).await;
        Ok(deleted)
    }

    // Everything else is s3s-fs's own.

    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        self.inner.create_bucket(req).await
    }

    async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        self.inner.delete_bucket(req).await
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        self.inner.head_bucket(req).await
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        self.inner.get_bucket_location(req).await
    }

    async fn list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        self.inner.list_buckets(req).await
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        self.inner.put_object(req).await
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        self.inner.get_object(req).await
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        self.inner.head_object(req).await
    }

    async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        self.inner.copy_object(req).await
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        self.inner.create_multipart_upload(req).await
    }

    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        self.inner.upload_part(req).await
    }

    async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        self.inner.upload_part_copy(req).await
    }

    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        self.inner.list_parts(req).await
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        self.inner.complete_multipart_upload(req).await
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        self.inner.abort_multipart_upload(req).await
    }
}
