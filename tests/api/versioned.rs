//! Versioned buckets, against a real S3-compatible server that keeps versions (moto's
//! server mode, installed by `.ci/run` and named by `LETHE_MOTO`; `moto_server` on `PATH`
//! otherwise; without it the test fails, it never skips): deleting a key erases every
//! version and delete marker of it and nothing of a neighbour whose key shares its prefix;
//! what is left is counted across versions; S3's confirmations are what is counted.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
use lethe_jobs::storage::{S3Settings, Storage};

struct Moto(Child);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn start_moto() -> (Moto, String) {
    let program = std::env::var("LETHE_MOTO").unwrap_or_else(|_| "moto_server".into());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(&program)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{program} (moto's S3 server; `.ci/run` installs it): {e}"));
    let moto = Moto(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "moto_server did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (moto, format!("http://127.0.0.1:{port}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_from_a_versioned_bucket_erases_every_version_and_nothing_else() {
    let (_moto, endpoint) = start_moto().await;
    let settings = S3Settings {
        endpoint: Some(endpoint.clone()),
        region: "us-east-1".into(),
        path_style: true,
        access_key_id: "testing".into(),
        secret_access_key: "testing".into(),
        versioning: true,
    };
    let storage = Storage::new(&settings);
    let bucket = "platform-avatars";
    storage.ensure_bucket(bucket).await.unwrap();
    let client = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(&endpoint)
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
            .force_path_style(true)
            .build(),
    );
    client
        .put_bucket_versioning()
        .bucket(bucket)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    // Subject 42 has two keys with three versions each and a deleted third key (only a
    // delete marker and an old version left); subject 420 shares the prefix `avatars/42`.
    let put = |key: &'static str, body: &'static str| {
        let client = client.clone();
        async move {
            client
                .put_object()
                .bucket(bucket)
                .key(key)
                .body(ByteStream::from_static(body.as_bytes()))
                .send()
                .await
                .unwrap();
        }
    };
    for round in ["v1", "v2", "v3"] {
        put("avatars/42/avatar.png", round).await;
        put("avatars/42/avatar-128.png", round).await;
        put("avatars/420/avatar.png", round).await;
    }
    put("avatars/42/old.png", "v1").await;
    client
        .delete_object()
        .bucket(bucket)
        .key("avatars/42/old.png")
        .send()
        .await
        .unwrap();
    assert_eq!(
        storage
            .list_prefix(bucket, "avatars/42/")
            .await
            .unwrap()
            .len(),
        2,
        "current objects"
    );
    let left = storage.remaining(bucket, "avatars/42/").await.unwrap();
    assert_eq!(left.len(), 3, "with versions: {left:?}");

    let keys: Vec<String> = [
        "avatars/42/avatar.png",
        "avatars/42/avatar-128.png",
        "avatars/42/old.png",
        "avatars/42/never-there.png",
    ]
    .iter()
    .map(|k| (*k).to_owned())
    .collect();
    let deleted = storage.delete_keys(bucket, &keys).await.unwrap();
    assert_eq!(deleted, 4, "every key confirmed gone");
    let versions = client
        .list_object_versions()
        .bucket(bucket)
        .prefix("avatars/42/")
        .send()
        .await
        .unwrap();
    assert!(
        versions.versions().is_empty() && versions.delete_markers().is_empty(),
        "no version or marker left: {versions:?}"
    );
    assert!(
        storage
            .remaining(bucket, "avatars/42/")
            .await
            .unwrap()
            .is_empty()
    );
    // The neighbour keeps all three versions.
    let neighbour = client
        .list_object_versions()
        .bucket(bucket)
        .prefix("avatars/420/")
        .send()
        .await
        .unwrap();
    assert_eq!(neighbour.versions().len(), 3);
    // Idempotent: deleting again finds nothing and still confirms every key gone.
    assert_eq!(storage.delete_keys(bucket, &keys).await.unwrap(), 4);

    // Two keys at the ends of a wide prefix with 1,200 other objects between them: the
    // shared listing gives up after its budget and the rest goes key by key; both go,
    // with every version, and the others stay.
    for round in ["v1", "v2"] {
        put("flat/a-first.png", round).await;
        put("flat/z-last.png", round).await;
    }
    let others: Vec<String> = (0..1200).map(|i| format!("flat/m-{i:04}.png")).collect();
    futures::future::join_all(others.chunks(100).map(|chunk| {
        let client = client.clone();
        async move {
            for key in chunk {
                client
                    .put_object()
                    .bucket(bucket)
                    .key(key)
                    .body(ByteStream::from_static(b"other"))
                    .send()
                    .await
                    .unwrap();
            }
        }
    }))
    .await;
    let ends = vec!["flat/a-first.png".to_owned(), "flat/z-last.png".to_owned()];
    assert_eq!(storage.delete_keys(bucket, &ends).await.unwrap(), 2);
    for key in &ends {
        assert!(
            storage.remaining(bucket, key).await.unwrap().is_empty(),
            "{key} left"
        );
    }
    assert_eq!(
        storage.remaining(bucket, "flat/m-").await.unwrap().len(),
        1200,
        "the others stay"
    );
}
