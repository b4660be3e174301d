//! What the benchmarks prepare and share: their databases (created from nothing or from
//! a template, dropped), embedded S3 servers over their directories, the platform with
//! one heavy subject, and a plan's steps as the raw SQL a person would run.

use std::path::PathBuf;
use std::time::Instant;

use diesel_async::{AsyncConnection, SimpleAsyncConnection};
use lethe_jobs::s3server::EmbeddedS3;
use lethe_jobs::storage::{S3Settings, Storage};
use secrecy::ExposeSecret;

use super::bench::Names;
use crate::config::Settings;

/// An embedded S3 server over `dir/s3`, and a client of it.
pub(super) async fn storage(dir: &std::path::Path) -> anyhow::Result<(EmbeddedS3, Storage)> {
    storage_in(&dir.join("s3")).await
}

/// An embedded S3 server over the directory `s3`, and a client of it.
pub(super) async fn storage_in(s3: &std::path::Path) -> anyhow::Result<(EmbeddedS3, Storage)> {
    let server = EmbeddedS3::start(s3, "127.0.0.1:0".parse()?, "bench", "bench-secret").await?;
    let storage = Storage::new(&S3Settings {
        endpoint: Some(server.endpoint()),
        region: "us-east-1".into(),
        path_style: true,
        access_key_id: "bench".into(),
        secret_access_key: "bench-secret".into(),
        versioning: false,
    });
    Ok((server, storage))
}

pub(super) fn with_database(url: &str, name: &str) -> anyhow::Result<String> {
    let mut url = url::Url::parse(url)?;
    url.set_path(&format!("/{name}"));
    Ok(url.to_string())
}

async fn admin_exec(url: &str, sql: &str) -> anyhow::Result<()> {
    let (admin, _) = crate::db::admin_url_and_name(url)?;
    let mut conn = diesel_async::AsyncPgConnection::establish(&admin).await?;
    conn.batch_execute(sql).await?;
    Ok(())
}

pub(super) fn copy_dir(from: &std::path::Path, to: &std::path::Path) -> anyhow::Result<()> {
    if to.exists() {
        std::fs::remove_dir_all(to)?;
    }
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()?;
    anyhow::ensure!(status.success(), "copying {} failed", from.display());
    Ok(())
}

pub(super) async fn prepare_purge(
    settings: &Settings,
    names: &Names,
    rows: u64,
    objects: u32,
    users: u32,
    dir: PathBuf,
) -> anyhow::Result<serde_json::Value> {
    let template = names.of("purge_tmpl");
    let url = with_database(settings.platform.database_url.expose_secret(), &template)?;
    let (server, prepared) = prepare_platform(&url, &template, rows, objects, users, &dir).await?;
    server.shutdown().await;
    copy_dir(&dir.join("s3"), &dir.join("s3-pristine"))?;
    Ok(prepared)
}

/// Creates database `name` afresh (from `template` if given) on the server of `url`;
/// returns its URL.
pub(super) async fn recreate_database(
    url: &str,
    name: &str,
    template: Option<&str>,
) -> anyhow::Result<String> {
    drop_database(url, name).await?;
    let template = template
        .map(|t| format!(" TEMPLATE {t}"))
        .unwrap_or_default();
    admin_exec(url, &format!("CREATE DATABASE {name}{template}")).await?;
    with_database(url, name)
}

pub(super) async fn drop_database(url: &str, name: &str) -> anyhow::Result<()> {
    admin_exec(url, &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await
}

/// A fresh platform database `name` with `users` users and one heavy subject, its objects
/// in an embedded S3 server over `dir/s3`; the subject's email goes to `dir/subject.txt`.
/// The server, and what was prepared.
pub(super) async fn prepare_platform(
    url: &str,
    name: &str,
    rows: u64,
    objects: u32,
    users: u32,
    dir: &std::path::Path,
) -> anyhow::Result<(EmbeddedS3, serde_json::Value)> {
    let url = recreate_database(url, name, None).await?;
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    let (server, storage) = storage(dir).await?;
    let mut conn = diesel_async::AsyncPgConnection::establish(&url).await?;
    crate::demo::install_and_seed(&mut conn, &storage, users, 0.42).await?;
    let started = Instant::now();
    let email = crate::demo::add_heavy_subject(&mut conn, &storage, rows, objects).await?;
    conn.batch_execute("VACUUM ANALYZE").await?;
    std::fs::write(dir.join("subject.txt"), &email)?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "prepared {name}: heavy subject with ~{rows} rows and {objects} objects in {seconds:.1} s"
    );
    Ok((
        server,
        serde_json::json!({
            "database": name,
            "rows": rows,
            "objects": objects,
            "users": users,
            "seconds": seconds,
        }),
    ))
}

/// The plan's steps as unbatched SQL with the rewrite parameters spelled out: what a
/// person would run in psql.
pub(super) fn raw_script(
    purger: &lethe_jobs::purge::Purger<'_>,
    plan: &lethe_jobs::purge::Plan,
    target: &lethe_jobs::purge::Target,
) -> anyhow::Result<Vec<String>> {
    use lethe_jobs::datamap::catalog::literal;
    let never = "(?!)".to_owned();
    let text = lethe_jobs::purge::identity_pattern(&target.identities, false)
        .unwrap_or_else(|| never.clone());
    let json = lethe_jobs::purge::identity_pattern(&target.identities, true).unwrap_or(never);
    // The session function JSON redaction uses, as every platform connection has it.
    let mut script = vec![format!("{};", lethe_jobs::platform::REDACT_FUNCTION)];
    for step in &plan.steps {
        if let Some(sql) = purger.unbatched_sql(step, target)? {
            script.push(format!(
                "{};",
                sql.replace("$1", &literal(&target.hash_key))
                    .replace("$2", &literal(&text))
                    .replace("$3", &literal(&json))
            ));
        }
    }
    Ok(script)
}
