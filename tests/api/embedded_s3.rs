//! The embedded S3 server through aws-sdk-s3, as Lethe reaches it: listings by prefix
//! (pages, delimiters, resuming) and deletions that take the store's own files about the
//! key with them.

use std::path::Path;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use base64::Engine;
use lethe_jobs::s3server::{EmbeddedS3, secret_for};

const BUCKET: &str = "media";

const KEYS: &[&str] = &[
    "avatars/1/a.png",
    "avatars/1/b.png",
    "avatars/1/deep/d.png",
    "avatars/12/c.png",
    "avatars/1x",
    "avatars/2/e.png",
    "images/1/f.png",
    "top.txt",
];

async fn start(dir: &Path) -> (EmbeddedS3, Client) {
    let secret = secret_for(dir, "").unwrap();
    let server = EmbeddedS3::start(dir, "127.0.0.1:0".parse().unwrap(), "lethe", &secret)
        .await
        .unwrap();
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("lethe", secret, None, None, "test"))
        .endpoint_url(server.endpoint())
        .force_path_style(true)
        .build();
    let client = Client::from_conf(config);
    client.create_bucket().bucket(BUCKET).send().await.unwrap();
    (server, client)
}

async fn put(client: &Client, key: &str) {
    client
        .put_object()
        .bucket(BUCKET)
        .key(key)
        .content_type("image/png")
        .body(ByteStream::from(key.as_bytes().to_vec()))
        .send()
        .await
        .unwrap();
}

/// Every key under `prefix`, following continuation tokens with pages of `page` keys.
async fn list(client: &Client, prefix: &str, page: i32) -> (Vec<String>, usize) {
    let mut keys = Vec::new();
    let mut pages = 0;
    let mut token = None;
    loop {
        let out = client
            .list_objects_v2()
            .bucket(BUCKET)
            .prefix(prefix)
            .max_keys(page)
            .set_continuation_token(token)
            .send()
            .await
            .unwrap();
        pages += 1;
        keys.extend(out.contents().iter().map(|o| o.key().unwrap().to_owned()));
        for object in out.contents() {
            let key = object.key().unwrap();
            assert_eq!(object.size(), Some(i64::try_from(key.len()).unwrap()));
        }
        token = out.next_continuation_token().map(str::to_owned);
        if out.is_truncated() != Some(true) {
            assert_eq!(token, None);
            break;
        }
    }
    (keys, pages)
}

fn expected(all: &[String], prefix: &str) -> Vec<String> {
    let mut keys: Vec<String> = all
        .iter()
        .filter(|k| k.starts_with(prefix))
        .cloned()
        .collect();
    keys.sort();
    keys
}

#[tokio::test]
async fn listings_by_prefix_page_fold_and_resume_like_s3() {
    let dir = tempfile::tempdir().unwrap();
    let (server, client) = start(dir.path()).await;
    let mut all: Vec<String> = KEYS.iter().map(|k| (*k).to_owned()).collect();
    all.extend((0..25).map(|i| format!("bulk/1/k{i:02}")));
    for key in &all {
        put(&client, key).await;
    }

    for prefix in [
        "avatars/1/",
        "avatars/1",
        "avatars/",
        "avatars/1/deep/",
        "",
        "top",
        "nothing/here/",
        "avatars/../images/",
        "../",
    ] {
        let (keys, _) = list(&client, prefix, 1000).await;
        assert_eq!(keys, expected(&all, prefix), "prefix {prefix:?}");
    }

    // Pages of 10: 25 keys come back in 3 pages, in order, none twice.
    let (keys, pages) = list(&client, "bulk/", 10).await;
    assert_eq!(keys, expected(&all, "bulk/"));
    assert_eq!(pages, 3);

    // A delimiter folds what lies deeper into common prefixes.
    let out = client
        .list_objects_v2()
        .bucket(BUCKET)
        .prefix("avatars/")
        .delimiter("/")
        .send()
        .await
        .unwrap();
    let folded: Vec<&str> = out
        .common_prefixes()
        .iter()
        .map(|p| p.prefix().unwrap())
        .collect();
    assert_eq!(folded, ["avatars/1/", "avatars/12/", "avatars/2/"]);
    let objects: Vec<&str> = out.contents().iter().map(|o| o.key().unwrap()).collect();
    assert_eq!(objects, ["avatars/1x"]);

    // Resuming after a key.
    let out = client
        .list_objects_v2()
        .bucket(BUCKET)
        .prefix("avatars/")
        .start_after("avatars/1/b.png")
        .send()
        .await
        .unwrap();
    let rest: Vec<&str> = out.contents().iter().map(|o| o.key().unwrap()).collect();
    assert_eq!(
        rest,
        [
            "avatars/1/deep/d.png",
            "avatars/12/c.png",
            "avatars/1x",
            "avatars/2/e.png"
        ]
    );

    // A bucket that does not exist is an error, not an empty listing.
    let missing = client
        .list_objects_v2()
        .bucket("absent")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        missing.into_service_error().meta().code(),
        Some("NoSuchBucket")
    );
    server.shutdown().await;
}

/// The store's files about `key` in the data directory.
fn bookkeeping(root: &Path, key: &str) -> Vec<String> {
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let stem = format!(
        ".bucket-{}.object-{}.",
        engine.encode(BUCKET),
        engine.encode(key)
    );
    let mut names: Vec<String> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&stem))
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn a_deleted_key_leaves_no_file_or_directory_naming_it_and_others_keep_theirs() {
    let dir = tempfile::tempdir().unwrap();
    let (server, client) = start(dir.path()).await;
    for key in KEYS {
        put(&client, key).await;
    }
    let root = dir.path();
    for key in KEYS {
        assert!(
            !bookkeeping(root, key).is_empty(),
            "the store keeps a file about {key}"
        );
    }

    // One key alone: its directory `deep` held nothing else.
    client
        .delete_object()
        .bucket(BUCKET)
        .key("avatars/1/deep/d.png")
        .send()
        .await
        .unwrap();
    assert_eq!(
        bookkeeping(root, "avatars/1/deep/d.png"),
        Vec::<String>::new()
    );
    assert!(!root.join(BUCKET).join("avatars/1/deep").exists());
    assert!(root.join(BUCKET).join("avatars/1").is_dir());

    // A batch: `avatars/1/` empties and goes; `avatars/12/` and the others stay.
    let batch = ["avatars/1/a.png", "avatars/1/b.png"]
        .iter()
        .map(|k| ObjectIdentifier::builder().key(*k).build().unwrap())
        .collect();
    client
        .delete_objects()
        .bucket(BUCKET)
        .delete(Delete::builder().set_objects(Some(batch)).build().unwrap())
        .send()
        .await
        .unwrap();
    for key in ["avatars/1/a.png", "avatars/1/b.png"] {
        assert_eq!(bookkeeping(root, key), Vec::<String>::new(), "{key}");
    }
    assert!(!root.join(BUCKET).join("avatars/1").exists());
    for key in [
        "avatars/12/c.png",
        "avatars/1x",
        "avatars/2/e.png",
        "images/1/f.png",
        "top.txt",
    ] {
        assert!(!bookkeeping(root, key).is_empty(), "{key} keeps its file");
        let body = client
            .get_object()
            .bucket(BUCKET)
            .key(key)
            .send()
            .await
            .unwrap()
            .body
            .collect()
            .await
            .unwrap()
            .into_bytes();
        assert_eq!(&body[..], key.as_bytes());
    }
    let (left, _) = list(&client, "", 1000).await;
    assert_eq!(
        left,
        [
            "avatars/12/c.png",
            "avatars/1x",
            "avatars/2/e.png",
            "images/1/f.png",
            "top.txt"
        ]
    );
    server.shutdown().await;
}

/// `len` bytes that deflate cannot shrink, the same for the same `seed`.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

#[tokio::test]
async fn a_stream_uploads_in_parts_whole_and_in_order_and_an_unfinished_one_leaves_nothing() {
    use lethe_jobs::storage::{MIN_PART_SIZE, ObjectRef, S3Settings, Storage};
    let dir = tempfile::tempdir().unwrap();
    let (server, _client) = start(dir.path()).await;
    let storage = Storage::new(&S3Settings {
        endpoint: Some(server.endpoint()),
        region: "us-east-1".into(),
        path_style: true,
        access_key_id: "lethe".into(),
        secret_access_key: secret_for(dir.path(), "").unwrap(),
        versioning: false,
    });
    // Sizes around the part size: less than one part, exactly two, and five parts and a bit.
    for (n, len) in [
        (0u64, 0usize),
        (1, 1000),
        (2, 2 * MIN_PART_SIZE),
        (3, 5 * MIN_PART_SIZE + 12_345),
    ] {
        let bytes = noise(len, n + 7);
        let object = ObjectRef {
            bucket: BUCKET.into(),
            key: format!("exports/{n}.zip"),
        };
        let (done, finished) = tokio::sync::oneshot::channel();
        done.send(true).unwrap();
        let size = storage
            .upload_stream(
                &object,
                &bytes[..],
                MIN_PART_SIZE,
                "application/zip",
                finished,
            )
            .await
            .unwrap();
        assert_eq!(size, len as u64);
        let stored = storage.get_bytes(&object).await.unwrap().unwrap();
        assert_eq!(stored.len(), len, "object {n}");
        assert!(stored == bytes, "object {n} comes back byte for byte");
    }

    // The producer did not finish: no object, whatever was uploaded of it.
    let object = ObjectRef {
        bucket: BUCKET.into(),
        key: "exports/unfinished.zip".into(),
    };
    let (done, finished) = tokio::sync::oneshot::channel();
    done.send(false).unwrap();
    let bytes = noise(3 * MIN_PART_SIZE, 99);
    let failed = storage
        .upload_stream(
            &object,
            &bytes[..],
            MIN_PART_SIZE,
            "application/zip",
            finished,
        )
        .await;
    assert!(failed.is_err());
    assert_eq!(storage.get_bytes(&object).await.unwrap(), None);
    server.shutdown().await;
}
