//! Streaming an object of unknown size into S3 as a multipart upload. While one part is
//! read, the parts before it upload: at most [`PARTS_IN_FLIGHT`] at once, so memory stays
//! under `PARTS_IN_FLIGHT + 1` parts whatever the object's size.

use anyhow::Context;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::task::JoinSet;

use super::{MIN_PART_SIZE, ObjectRef, Storage, s3_failure};

/// Parts uploading at once while the next is read.
const PARTS_IN_FLIGHT: usize = 2;

impl Storage {
    /// Streams `reader` into `object` as a multipart upload of `part_size` parts, reading
    /// until EOF; parts upload while the next is read (at most [`PARTS_IN_FLIGHT`] at
    /// once). The upload is completed only if `finished` resolves to `true` after EOF (the
    /// producer's word that what it wrote is whole); otherwise it is aborted, so a failed
    /// producer never leaves a truncated object behind. Returns the object's size.
    pub async fn upload_stream<R: AsyncRead + Unpin>(
        &self,
        object: &ObjectRef,
        reader: R,
        part_size: usize,
        content_type: &str,
        finished: tokio::sync::oneshot::Receiver<bool>,
    ) -> anyhow::Result<u64> {
        let part_size = part_size.max(MIN_PART_SIZE);
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&object.bucket)
            .key(&object.key)
            .content_type(content_type)
            .send()
            .await
            .map_err(|e| s3_failure(&object.bucket, "starting a multipart upload in", e))?;
        let upload_id = created
            .upload_id()
            .context("multipart upload without id")?
            .to_owned();
        let result = self
            .upload_parts(object, &upload_id, reader, part_size, finished)
            .await;
        if result.is_err() {
            let _ = self
                .client
                .abort_multipart_upload()
                .bucket(&object.bucket)
                .key(&object.key)
                .upload_id(&upload_id)
                .send()
                .await;
        }
        result
    }

    /// Reads and uploads the parts of `upload_id`, then completes it. Parts still
    /// uploading when this fails (or is dropped) are cancelled with their set.
    async fn upload_parts<R: AsyncRead + Unpin>(
        &self,
        object: &ObjectRef,
        upload_id: &str,
        mut reader: R,
        part_size: usize,
        finished: tokio::sync::oneshot::Receiver<bool>,
    ) -> anyhow::Result<u64> {
        let mut uploading = JoinSet::new();
        let mut parts = Vec::new();
        let mut total = 0u64;
        for number in 1.. {
            let mut buf = Vec::with_capacity(part_size);
            while buf.len() < part_size {
                let n = (&mut reader)
                    .take((part_size - buf.len()) as u64)
                    .read_to_end(&mut buf)
                    .await?;
                if n == 0 {
                    break;
                }
            }
            // An empty object is one empty part; otherwise an empty read ends the parts.
            if buf.is_empty() && number > 1 {
                break;
            }
            let last = buf.len() < part_size;
            total += buf.len() as u64;
            if uploading.len() >= PARTS_IN_FLIGHT
                && let Some(done) = uploading.join_next().await
            {
                parts.push(done.context("uploading a part")??);
            }
            let request = self
                .client
                .upload_part()
                .bucket(&object.bucket)
                .key(&object.key)
                .upload_id(upload_id)
                .part_number(number)
                .body(ByteStream::from(buf));
            uploading.spawn(async move {
                let uploaded = request.send().await.context("uploading a part")?;
                anyhow::Ok(
                    CompletedPart::builder()
                        .part_number(number)
                        .e_tag(uploaded.e_tag().unwrap_or_default())
                        .build(),
                )
            });
            if last {
                break;
            }
        }
        while let Some(done) = uploading.join_next().await {
            parts.push(done.context("uploading a part")??);
        }
        // S3 takes the parts in ascending order of their numbers.
        parts.sort_unstable_by_key(|p| p.part_number());
        if !finished.await.unwrap_or(false) {
            anyhow::bail!("the archive writer did not finish; upload abandoned");
        }
        self.client
            .complete_multipart_upload()
            .bucket(&object.bucket)
            .key(&object.key)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .context("completing a multipart upload")?;
        Ok(total)
    }
}
