//! `lethe demo`: everything in one process on the embedded defaults: the service and
//! demo-platform databases (created if missing), the embedded S3 server, a seeded demo
//! platform, the HTTP API and the workers. Prints what to open.

use std::net::TcpListener;

use anyhow::Context;
use diesel::QueryableByName;
use diesel::sql_types::Text;
use diesel_async::RunQueryDsl;
use secrecy::{ExposeSecret, SecretString};

use crate::config::Settings;
use crate::startup::{Application, Services, spawn_workers, worker_settings};

/// Options of `demo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Users to seed the demo platform with (only when it is created) [default: 1000 for
    /// the small platform, 300 for the large one].
    #[arg(long)]
    pub users: Option<u32>,
    /// Which demo platform: the small one (15 tables) or the large messy one (~270
    /// tables, its own database `<platform database>_large` and map `var/datamap-large.toml`).
    #[arg(long, value_enum, default_value_t = DemoPlatform::Small)]
    pub platform: DemoPlatform,
    /// Drop the demo databases, buckets and mailbox first.
    #[arg(long)]
    pub reset: bool,
}

/// The demo platforms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DemoPlatform {
    /// The small demo platform (`src/demo/platform.sql`, `config/datamap.toml`).
    Small,
    /// The large messy platform of `src/demo/large/`.
    Large,
}

#[derive(QueryableByName)]
struct EmailRow {
    #[diesel(sql_type = Text)]
    email: String,
}

/// The demo's secret key: `var/demo-secret-key`, made on first use.
fn demo_secret_key() -> anyhow::Result<String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = std::path::Path::new("var/demo-secret-key");
    if let Ok(key) = std::fs::read_to_string(path) {
        return Ok(key.trim().to_owned());
    }
    std::fs::create_dir_all("var")?;
    let key = crate::secrets::new_secret_key();
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(key.as_bytes()))
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(key)
}

/// Runs the demo until Ctrl-C.
pub async fn run(mut settings: Settings, args: Args) -> anyhow::Result<()> {
    if settings.security.secret_key.expose_secret().is_empty() {
        // A key made for this demo's data and kept beside it (owner-only), so that a
        // restarted demo still opens its queued mail and verifies its audit chain.
        settings.security.secret_key = SecretString::from(demo_secret_key()?);
    }
    // No server at the configured address: a private one under var/postgres, for as long
    // as the demo runs.
    let cluster = if crate::private_pg::answers(settings.database.url.expose_secret()) {
        None
    } else {
        println!(
            "no PostgreSQL answers at database.url: starting a private one under var/postgres …"
        );
        let cluster =
            crate::private_pg::PrivateCluster::start(std::path::Path::new("var/postgres"))?;
        let port = cluster.port();
        settings.database.url = SecretString::from(crate::private_pg::redirect(
            settings.database.url.expose_secret(),
            port,
        )?);
        settings.platform.database_url = SecretString::from(crate::private_pg::redirect(
            settings.platform.database_url.expose_secret(),
            port,
        )?);
        println!("private PostgreSQL on 127.0.0.1:{port}");
        Some(cluster)
    };
    // The demo shows the whole deletion flow at once: no grace period.
    settings.requests.deletion_grace_hours = 0;
    // … and a removed resource's files go on the next sweep (within a minute).
    settings.requests.likeness_file_hold_days = 0;
    if args.platform == DemoPlatform::Large {
        // Its own database and map, so that the small demo stays as it was.
        let mut url = url::Url::parse(settings.platform.database_url.expose_secret())?;
        let name = format!("{}_large", url.path().trim_start_matches('/'));
        url.set_path(&format!("/{name}"));
        settings.platform.database_url = SecretString::from(url.to_string());
        // Written once the platform is seeded: discovered, then decided (see below).
        settings.platform.data_map = std::path::PathBuf::from("var/datamap-large.toml");
    } else if !settings.platform.data_map.exists() {
        let path = std::path::PathBuf::from("var/datamap.toml");
        std::fs::create_dir_all("var")?;
        std::fs::write(&path, crate::demo::DATA_MAP)?;
        settings.platform.data_map = path;
    }
    let service_url = settings.database.url.expose_secret().to_owned();
    let platform_url = settings.platform.database_url.expose_secret().to_owned();
    if args.reset {
        reset(&settings, &service_url, &platform_url).await?;
    } else if let Some(bucket) = lost_bucket(&settings, &platform_url, args.platform).await? {
        println!(
            "the demo platform is seeded but its object store has no bucket {bucket} \
             (was {} removed?): starting over, as with --reset …",
            settings.storage.embedded_dir.display()
        );
        reset(&settings, &service_url, &platform_url).await?;
    }
    for url in [&service_url, &platform_url] {
        let (admin, name) = crate::db::admin_url_and_name(url)?;
        if crate::db::create_database_if_missing(&admin, &name).await? {
            println!("created database {name}");
        }
    }
    crate::cli::migrate::run(&settings).await?;
    let services = Services::start(settings).await?;

    let platform = lethe_jobs::platform::pool(&platform_url, 2)?;
    let mut conn = platform.get().await?;
    let sample_sql = match args.platform {
        DemoPlatform::Small => {
            if !crate::demo::has_schema(&mut conn).await? {
                let users = args.users.unwrap_or(1000);
                println!("seeding the demo platform with {users} users …");
                let stats =
                    crate::demo::install_and_seed(&mut conn, &services.storage, users, 0.42)
                        .await?;
                println!("seeded {} users, {} rows", stats.users, stats.rows);
            }
            "SELECT u.email FROM users u JOIN images i ON i.user_id = u.id GROUP BY u.email ORDER BY count(*) DESC, u.email LIMIT 1"
        }
        DemoPlatform::Large => {
            if !crate::demo::large::has_schema(&mut conn).await? {
                let options = crate::demo::large::LargeOptions {
                    users: args.users.unwrap_or(300),
                    heavy_subjects: 2,
                    heavy_rows: 20_000,
                    heavy_objects: 200,
                    seed: 42,
                };
                println!(
                    "seeding the large platform with {} users and 2 heavy subjects …",
                    options.users
                );
                let seed =
                    crate::demo::large::install_and_seed(&mut conn, &services.storage, &options)
                        .await?;
                println!(
                    "seeded {} tables, {} rows, {} objects",
                    seed.tables, seed.rows, seed.objects
                );
            }
            // The map as a privacy engineer makes it: `lethe datamap discover`, then the
            // written decisions of `src/demo/large/decisions.rs` on top.
            let catalog = lethe_jobs::datamap::Catalog::load(&mut conn, "public").await?;
            let subject = lethe_jobs::datamap::discover::guess_subject(
                &catalog,
                Some("User"),
                None,
                None,
                None,
            )
            .map_err(|e| anyhow::anyhow!(e))?;
            let discovered =
                lethe_jobs::datamap::discover::discover(&mut conn, &catalog, "public", &subject)
                    .await;
            let (map, written) = crate::demo::large::decided_map(&discovered.text)?;
            std::fs::create_dir_all("var")?;
            std::fs::write(&services.settings.platform.data_map, map)?;
            println!(
                "data map {}: discovered ({} links, {} TODOs), then {written} written decisions",
                services.settings.platform.data_map.display(),
                discovered.links,
                discovered.undecided
            );
            "SELECT u.email FROM \"User\" u JOIN \"Image\" i ON i.\"userId\" = u.id GROUP BY u.email ORDER BY count(*) DESC, u.email LIMIT 1"
        }
    };
    let sample: EmailRow = diesel::sql_query(sample_sql)
        .get_result(&mut conn)
        .await
        .context("finding a sample account")?;
    // The demo platform's reportable child account and likeness-style resources.
    let extras = match args.platform {
        DemoPlatform::Small => {
            let listings: EmailRow = diesel::sql_query(
                "SELECT coalesce(string_agg(v, ' ' ORDER BY v), '') AS email FROM ( \
                   SELECT 'model:' || id AS v FROM models WHERE name LIKE 'Dana Vale %' \
                   UNION ALL SELECT 'image:' || id FROM images WHERE title = 'Dana at the beach') s",
            )
            .get_result(&mut conn)
            .await
            .context("finding the likeness-style resources")?;
            format!(
                "A child under 13 to report (child_report): the account pixel_kid_2015.\n\
                 Resources made to reproduce a likeness (likeness): {}\n\n",
                listings.email
            )
        }
        DemoPlatform::Large => String::new(),
    };
    drop(conn);

    let (staff_token, staff_password) = demo_staff_token(&services).await?;
    let listen = services.settings.server.listen;
    let listener = TcpListener::bind(listen)
        .with_context(|| format!("binding the HTTP server to {listen}"))?;
    let data = services.job_context().await?;
    let app = Application::build(services.app_state()?, listener)?;
    let handle = app.handle();
    let server = tokio::spawn(app.run());
    let (workers, stop) = spawn_workers(data, worker_settings(&services.settings));
    let background = services.background()?;

    let base = format!("http://{listen}");
    let s = &services.settings;
    println!(
        "\nLethe demo is running.\n\n\
         \x20 Privacy center  {base}/privacy\n\
         \x20 Staff console   {base}/console (admin@lethe.invalid, password {staff_password})\n\
         \x20 API             {base}/v1/requests\n\
         \x20 OpenAPI         {base}/v1/openapi.json\n\
         \x20 Health          {base}/readyz\n\
         \x20 Mailbox         {mailbox}/ (one .eml file per message: the codes and links)\n\
         \x20 Object storage  {s3} (embedded S3; files under {dir}/)\n\n\
         Try an access request for a seeded account ({email}):\n\n\
         \x20 curl -s -X POST {base}/v1/requests -H 'content-type: application/json' \\\n\
         \x20      -d '{{\"kind\":\"access\",\"email\":\"{email}\"}}'\n\
         \x20 grep -h 'verification code is' {mailbox}/*.eml | tail -1\n\
         \x20 curl -s -X POST {base}/v1/requests/<id>/verify -H 'content-type: application/json' -d '{{\"code\":\"<code>\"}}'\n\
         \x20 curl -s {base}/v1/requests/<id> -H 'authorization: Bearer <token>'\n\n\
         {extras}\
         Staff API token (admin, for this run; staff approve deletions):\n\
         \x20 export STAFF={staff_token}\n\
         \x20 curl -s {base}/v1/staff/requests -H \"authorization: Bearer $STAFF\"\n\n\
         Press Ctrl-C to stop.",
        mailbox = s.mail.mailbox_dir.display(),
        s3 = services.s3_endpoint.as_deref().unwrap_or("AWS"),
        dir = s.storage.embedded_dir.display(),
        email = sample.email,
    );
    crate::cli::shutdown_signal().await?;
    println!("stopping …");
    let _ = stop.send(());
    workers.await??;
    handle.stop(true).await;
    server.await??;
    background.stop().await;
    if let Some(s3) = services.embedded_s3 {
        s3.shutdown().await;
    }
    drop(services.db);
    if let Some(cluster) = cluster {
        cluster.stop();
    }
    Ok(())
}

/// An admin account for the demo (created once), a fresh token and a fresh console
/// password for this run.
async fn demo_staff_token(services: &Services) -> anyhow::Result<(String, String)> {
    use crate::models::staff::Staff;
    let email = crate::domain::Email::try_from("admin@lethe.invalid").expect("a valid address");
    let password = crate::secrets::new_token()[..16].to_owned();
    let mut conn = services.db.get().await?;
    let staff = match Staff::find_by_email(&mut conn, &email).await? {
        Some(staff) => {
            Staff::set_password(&mut conn, staff.id, &password).await?;
            staff
        }
        None => Staff::create(&mut conn, &email, crate::domain::Role::Admin, &password).await?,
    };
    let keyed = crate::secrets::Keyed::new(services.settings.security.secret_key.clone());
    let token = staff
        .issue_token(
            &mut conn,
            &keyed,
            "demo",
            services.settings.security.staff_token_ttl(),
        )
        .await?
        .1;
    Ok((token, password))
}

/// A bucket of the seeded demo platform that its embedded object store lacks: the
/// databases and the files no longer belong together.
async fn lost_bucket(
    settings: &Settings,
    platform_url: &str,
    platform: DemoPlatform,
) -> anyhow::Result<Option<&'static str>> {
    use diesel_async::AsyncConnection;
    if settings.storage.mode != crate::config::StorageMode::Embedded {
        return Ok(None);
    }
    let Ok(mut conn) = diesel_async::AsyncPgConnection::establish(platform_url).await else {
        return Ok(None);
    };
    let (seeded, buckets): (bool, &[&'static str]) = match platform {
        DemoPlatform::Small => (
            crate::demo::has_schema(&mut conn).await?,
            &crate::demo::BUCKETS,
        ),
        DemoPlatform::Large => (
            crate::demo::large::has_schema(&mut conn).await?,
            crate::demo::large::BUCKETS,
        ),
    };
    Ok(seeded
        .then(|| {
            buckets
                .iter()
                .find(|b| !settings.storage.embedded_dir.join(b).is_dir())
                .copied()
        })
        .flatten())
}

async fn reset(settings: &Settings, service_url: &str, platform_url: &str) -> anyhow::Result<()> {
    use diesel_async::{AsyncConnection, SimpleAsyncConnection};
    for url in [service_url, platform_url] {
        let (admin, name) = crate::db::admin_url_and_name(url)?;
        let mut conn = diesel_async::AsyncPgConnection::establish(&admin).await?;
        conn.batch_execute(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            lethe_jobs::datamap::catalog::ident(&name)
        ))
        .await?;
        println!("dropped database {name}");
    }
    for dir in [&settings.storage.embedded_dir, &settings.mail.mailbox_dir] {
        if dir.exists() {
            std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
        }
    }
    Ok(())
}
