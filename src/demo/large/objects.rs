//! Real bytes behind every seeded object key.

use lethe_jobs::storage::{ObjectRef, Storage};

use super::BUCKETS;
use super::seed::Obj;

/// Small opaque bytes (model weights, sidecars, attachments, invoices): 0.5–2 KiB,
/// derived from the key.
fn opaque(key: &str) -> Vec<u8> {
    let seed = super::super::seed_of(key);
    let len = 512 + (seed % 1536) as usize;
    let mut state = seed | 1;
    let mut out = format!("LETHE-LARGE-DEMO {key}\n").into_bytes();
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Creates the buckets and uploads every object; returns how many.
pub(crate) async fn put(storage: &Storage, objects: &[Obj]) -> anyhow::Result<usize> {
    for bucket in BUCKETS {
        storage.ensure_bucket(bucket).await?;
    }
    let list = objects
        .iter()
        .map(|o| {
            let object = ObjectRef {
                bucket: o.bucket.to_owned(),
                key: o.key.clone(),
            };
            if o.png > 0 {
                (
                    object,
                    super::super::png::gradient(o.png, super::super::seed_of(&o.key)),
                    "image/png",
                )
            } else {
                (object, opaque(&o.key), "application/octet-stream")
            }
        })
        .collect();
    let (count, _) = super::super::put_all(storage, list).await?;
    Ok(count)
}
