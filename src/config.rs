//! Typed, layered configuration: `config/default.toml`, then an optional file named by
//! `--config` (or `LETHE_CONFIG`), then `LETHE__SECTION__KEY` environment variables.
//! Unknown keys are rejected; secrets are [`SecretString`]s that never print.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// Every setting of a Lethe process. See `config/default.toml` for the documented defaults.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The HTTP server.
    pub server: ServerSettings,
    /// Lethe's own database.
    pub database: DatabaseSettings,
    /// The platform whose data Lethe processes.
    pub platform: PlatformSettings,
    /// Object storage.
    pub storage: StorageSettings,
    /// Outgoing mail.
    pub mail: MailSettings,
    /// Keys and verification rules.
    pub security: SecuritySettings,
    /// Request lifecycle rules.
    pub requests: RequestSettings,
    /// Deadlines: holidays, the rule table per regime and kind, the daily digest.
    pub deadlines: crate::deadlines::DeadlineSettings,
    /// Rate limits.
    pub rate_limit: RateLimitSettings,
    /// Job workers.
    pub worker: WorkerSettings,
    /// Logging.
    pub log: LogSettings,
    /// The audit log's chain and checkpoints.
    pub audit: AuditSettings,
    /// Prometheus metrics.
    pub metrics: MetricsSettings,
    /// The web pages (privacy center and staff console).
    pub web: WebSettings,
}

/// Web page settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebSettings {
    /// Minutes a requester's page of a request stays open after the code is entered
    /// (1 to 1440).
    pub requester_session_minutes: u32,
    /// Minutes without activity after which a staff console session ends (1 to 1440).
    pub console_idle_minutes: u32,
    /// Hours after sign-in at which a staff console session ends whatever the activity
    /// (1 to 168).
    pub console_absolute_hours: u32,
    /// Failed console sign-ins in a row after which the account is locked (1 to 100).
    pub sign_in_max_failures: u32,
    /// Minutes a locked account stays locked (1 to 1440).
    pub sign_in_lock_minutes: u32,
}

/// Metrics settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    /// Where `GET /metrics` is served (an internal address); empty: not served.
    pub listen: String,
}

/// Audit chain settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSettings {
    /// The key the chain is MACed under and the checkpoint signing key is derived from;
    /// empty: derived from `security.secret_key`.
    pub key: SecretString,
    /// Milliseconds between sealer passes.
    pub seal_interval_ms: u64,
    /// Sign a checkpoint once this many entries were sealed since the last one.
    pub checkpoint_every_entries: u32,
    /// Sign a checkpoint of new entries at least this often, in minutes.
    pub checkpoint_every_minutes: u32,
}

/// HTTP server settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// The URL people reach Lethe at (used in mails).
    pub public_url: String,
    /// Largest accepted request body, in bytes.
    pub body_limit_bytes: usize,
    /// Seconds a request's body and answer may take before it gets 408 (1 to 300).
    pub request_timeout_seconds: u32,
    /// Take the client address from `X-Forwarded-For` (only behind a trusted proxy).
    pub trust_forwarded_for: bool,
    /// HTTP worker threads (0: one per core).
    pub workers: usize,
}

/// Service database settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// PostgreSQL URL of Lethe's own database.
    pub url: SecretString,
    /// Pool size.
    pub pool_size: usize,
}

/// Platform settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlatformSettings {
    /// PostgreSQL URL of the platform database (read for exports, written by purges).
    pub database_url: SecretString,
    /// Pool size.
    pub pool_size: usize,
    /// Path of the data map.
    pub data_map: PathBuf,
}

/// Object storage settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageSettings {
    /// `embedded`: run the S3-compatible server inside the process; `external`: use `endpoint`.
    pub mode: StorageMode,
    /// Directory backing the embedded server.
    pub embedded_dir: PathBuf,
    /// Loopback address of the embedded server (port 0: any free port).
    pub embedded_listen: SocketAddr,
    /// Endpoint of an external S3-compatible service; empty means AWS.
    pub endpoint: String,
    /// Region.
    pub region: String,
    /// Path-style addressing (MinIO, Garage, the embedded server).
    pub path_style: bool,
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: SecretString,
    /// Bucket for export archives.
    pub exports_bucket: String,
    /// Private bucket for evidence files of likeness requests.
    pub evidence_bucket: String,
}

/// Where object storage lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StorageMode {
    /// In-process S3 server on loopback.
    Embedded,
    /// An external S3-compatible service.
    External,
}

/// Mail settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailSettings {
    /// `mailbox`: write each message as an .eml file; `smtp`: send through `smtp_url`.
    pub transport: MailTransportKind,
    /// Sender address.
    pub from: String,
    /// Directory for `.eml` files.
    pub mailbox_dir: PathBuf,
    /// SMTP URL, e.g. `smtps://user:pass@smtp.example.com:465` or `smtp://127.0.0.1:2525`.
    pub smtp_url: SecretString,
    /// Hours a message that cannot be delivered is retried before it is given up.
    pub outbox_max_age_hours: u32,
}

/// Mail transports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MailTransportKind {
    /// `.eml` files in a directory.
    Mailbox,
    /// SMTP.
    Smtp,
}

/// Keys and verification rules.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecuritySettings {
    /// Key for keyed hashes of codes, tokens and emails (at least 32 characters).
    pub secret_key: SecretString,
    /// Shared secret with which the platform signs assertions (HS256 JWT); empty disables them.
    pub platform_assertion_secret: SecretString,
    /// Audience (`aud`) the platform's assertions must name.
    pub platform_assertion_audience: String,
    /// Longest accepted assertion lifetime, in seconds.
    pub platform_assertion_max_age_seconds: u64,
    /// Lifetime of an emailed verification code, in minutes.
    pub code_ttl_minutes: u32,
    /// Wrong guesses allowed per code.
    pub code_max_attempts: u32,
    /// Hours a staff API token stays valid after it is issued (1 to 8760).
    pub staff_token_ttl_hours: u32,
}

impl SecuritySettings {
    /// How long a staff token lives.
    pub fn staff_token_ttl(&self) -> chrono::Duration {
        chrono::Duration::hours(i64::from(self.staff_token_ttl_hours))
    }
}

/// Request lifecycle rules.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestSettings {
    /// Legal regime whose deadline table (`deadlines.gdpr` or `deadlines.ccpa`) applies to
    /// new requests.
    pub regime: crate::domain::Regime,
    /// Whether verified access requests wait for staff approval.
    pub access_require_approval: bool,
    /// Whether verified deletion requests wait for staff approval.
    pub deletion_require_approval: bool,
    /// Two different staff members must approve a deletion.
    pub deletion_two_person_rule: bool,
    /// Hours between approval and purge in which the requester may still cancel.
    pub deletion_grace_hours: u32,
    /// Lifetime of an export's download link, in hours (at most 168, the S3 limit).
    pub export_link_ttl_hours: u32,
    /// Most resources one likeness-removal request may list.
    pub likeness_max_resources: u32,
    /// Days a removed resource's files are kept (unpublished) before they are deleted.
    pub likeness_file_hold_days: u32,
    /// Largest evidence file accepted, in bytes.
    pub evidence_max_bytes: u64,
    /// Days an unsubscribe link keeps working after it was made.
    pub unsubscribe_link_ttl_days: u32,
    /// Days the requester's email is kept after a request closes.
    pub requester_data_retention_days: u32,
    /// Hours after which an unverified request expires.
    pub unverified_expiry_hours: u32,
}

/// Rate limits (per process).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSettings {
    /// New requests per client address per minute.
    pub intake_per_ip_per_minute: u32,
    /// New requests per client address for one email address per hour.
    pub intake_per_client_email_per_hour: u32,
    /// Code checks per client address per minute.
    pub verify_per_ip_per_minute: u32,
}

/// Worker settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerSettings {
    /// Jobs run at once per `work` process.
    pub concurrency: usize,
    /// Longest a job run may take, in seconds.
    pub job_timeout_seconds: u64,
    /// Seconds a run's lease on its request lasts; renewed every third of it while the
    /// run lives, so a crashed run's request is free again within this time.
    pub lease_seconds: u64,
    /// Cron expression (six fields, seconds first) of the maintenance sweep.
    pub maintenance_schedule: String,
    /// Minutes after which an approved request without a live run is re-enqueued.
    pub reenqueue_after_minutes: u32,
    /// Seconds running jobs get to finish at shutdown.
    pub shutdown_grace_seconds: u64,
    /// Rows deleted or rewritten per statement during a purge.
    pub purge_batch_size: usize,
    /// Failed purge runs after which the request is `failed` for staff.
    pub purge_max_attempts: u32,
    /// Runs of one request (claims, including those of crashed workers) after which it is
    /// `failed` for staff.
    pub max_runs: u32,
    /// Longest a dry run (rehearsal) may take, in seconds.
    pub rehearsal_time_budget_seconds: u64,
    /// Most rows a dry run may touch before it stops (incomplete, not approvable).
    pub rehearsal_row_budget: u64,
}

/// Logging settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// `tracing` filter, e.g. `info,lethe=debug`.
    pub filter: String,
    /// `json` or `pretty`.
    pub format: LogFormat,
}

/// Log formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable.
    Pretty,
}

/// The defaults, compiled in so that the binary runs from any directory.
pub const DEFAULTS: &str = include_str!("../config/default.toml");

/// Keys that moved, and where to: a configuration still setting one stops start-up.
const MOVED: [(&str, &str); 2] = [
    (
        "requests.unsubscribe_due_business_days",
        "deadlines.gdpr.unsubscribe.respond and deadlines.ccpa.unsubscribe.respond (e.g. \"2 business days\")",
    ),
    (
        "requests.child_report_due_business_days",
        "deadlines.gdpr.child_report.respond and deadlines.ccpa.child_report.respond (e.g. \"2 business days\")",
    ),
];

impl Settings {
    /// Loads the defaults, then `file` (if given), then `LETHE__…` environment variables.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        Self::load_with(
            file,
            config::Environment::with_prefix("LETHE").separator("__"),
        )
    }

    /// As [`Settings::load`] with a given environment source (tests pass a map).
    pub fn load_with(file: Option<&Path>, env: config::Environment) -> anyhow::Result<Self> {
        let mut builder = config::Config::builder()
            .add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml));
        if let Some(file) = file {
            if !file.exists() {
                anyhow::bail!("configuration file {} does not exist", file.display());
            }
            builder = builder.add_source(config::File::from(file).format(config::FileFormat::Toml));
        }
        let built = builder
            .add_source(env)
            .build()
            .map_err(|e| anyhow::anyhow!("configuration: {e}"))?;
        for (old, new) in MOVED {
            if built.get::<config::Value>(old).is_ok() {
                anyhow::bail!("configuration: {old} is no longer read; set {new} instead");
            }
        }
        let settings: Settings = built
            .try_deserialize()
            .map_err(|e| anyhow::anyhow!("configuration: {e}"))?;
        settings.validate()?;
        Ok(settings)
    }

    /// Checks what types cannot: lengths, ranges, combinations. Names the key.
    pub fn validate(&self) -> anyhow::Result<()> {
        let key = self.security.secret_key.expose_secret();
        if !key.is_empty() && key.len() < 32 {
            anyhow::bail!("configuration: security.secret_key must be at least 32 characters");
        }
        if self.requests.export_link_ttl_hours == 0 || self.requests.export_link_ttl_hours > 168 {
            anyhow::bail!(
                "configuration: requests.export_link_ttl_hours must be between 1 and 168 (the S3 presign limit)"
            );
        }
        self.deadlines.validate()?;
        if self.worker.purge_batch_size == 0 || self.worker.purge_batch_size > 100_000 {
            anyhow::bail!("configuration: worker.purge_batch_size must be between 1 and 100000");
        }
        // Below the cap on runs of one request, so that the failure is the one staff see.
        if self.worker.purge_max_attempts == 0
            || self.worker.purge_max_attempts >= self.worker.max_runs
        {
            anyhow::bail!(
                "configuration: worker.purge_max_attempts must be at least 1 and below worker.max_runs"
            );
        }
        if self.worker.max_runs > 1000 {
            anyhow::bail!("configuration: worker.max_runs must be at most 1000");
        }
        if self.worker.rehearsal_time_budget_seconds == 0 || self.worker.rehearsal_row_budget == 0 {
            anyhow::bail!(
                "configuration: worker.rehearsal_time_budget_seconds and worker.rehearsal_row_budget must be at least 1"
            );
        }
        if !(1..=1440).contains(&self.web.requester_session_minutes) {
            anyhow::bail!("configuration: web.requester_session_minutes must be 1 to 1440");
        }
        if !(1..=1440).contains(&self.web.console_idle_minutes) {
            anyhow::bail!("configuration: web.console_idle_minutes must be 1 to 1440");
        }
        if !(1..=168).contains(&self.web.console_absolute_hours) {
            anyhow::bail!("configuration: web.console_absolute_hours must be 1 to 168");
        }
        if !(1..=100).contains(&self.web.sign_in_max_failures) {
            anyhow::bail!("configuration: web.sign_in_max_failures must be 1 to 100");
        }
        if !(1..=1440).contains(&self.web.sign_in_lock_minutes) {
            anyhow::bail!("configuration: web.sign_in_lock_minutes must be 1 to 1440");
        }
        let audit_key = self.audit.key.expose_secret();
        if !audit_key.is_empty() && audit_key.len() < 32 {
            anyhow::bail!("configuration: audit.key must be at least 32 characters");
        }
        if !(10..=60_000).contains(&self.audit.seal_interval_ms) {
            anyhow::bail!("configuration: audit.seal_interval_ms must be 10 to 60000");
        }
        if self.audit.checkpoint_every_entries == 0 || self.audit.checkpoint_every_minutes == 0 {
            anyhow::bail!(
                "configuration: audit.checkpoint_every_entries and audit.checkpoint_every_minutes must be at least 1"
            );
        }
        if self.worker.lease_seconds < 3 {
            anyhow::bail!("configuration: worker.lease_seconds must be at least 3");
        }
        if !(1..=300).contains(&self.server.request_timeout_seconds) {
            anyhow::bail!("configuration: server.request_timeout_seconds must be 1 to 300");
        }
        if !(1..=8760).contains(&self.security.staff_token_ttl_hours) {
            anyhow::bail!("configuration: security.staff_token_ttl_hours must be 1 to 8760");
        }
        if self.security.code_max_attempts == 0 {
            anyhow::bail!("configuration: security.code_max_attempts must be at least 1");
        }
        if self.security.code_ttl_minutes == 0 {
            anyhow::bail!("configuration: security.code_ttl_minutes must be at least 1");
        }
        for (name, value) in [
            (
                "rate_limit.intake_per_ip_per_minute",
                self.rate_limit.intake_per_ip_per_minute,
            ),
            (
                "rate_limit.intake_per_client_email_per_hour",
                self.rate_limit.intake_per_client_email_per_hour,
            ),
            (
                "rate_limit.verify_per_ip_per_minute",
                self.rate_limit.verify_per_ip_per_minute,
            ),
        ] {
            if value == 0 {
                anyhow::bail!("configuration: {name} must be at least 1");
            }
        }
        if self.storage.mode == StorageMode::External
            && (self.storage.access_key_id.is_empty()
                || self.storage.secret_access_key.expose_secret().is_empty())
        {
            anyhow::bail!(
                "configuration: storage.access_key_id and storage.secret_access_key are required when storage.mode = \"external\""
            );
        }
        if self.mail.transport == MailTransportKind::Smtp
            && self.mail.smtp_url.expose_secret().is_empty()
        {
            anyhow::bail!(
                "configuration: mail.smtp_url is required when mail.transport = \"smtp\""
            );
        }
        if self.mail.from.parse::<lettre::message::Mailbox>().is_err() {
            anyhow::bail!("configuration: mail.from is not a valid mailbox");
        }
        Ok(())
    }

    /// Fails unless a secret key is set (every process that hashes codes or tokens).
    pub fn require_secret_key(&self) -> anyhow::Result<()> {
        if self.security.secret_key.expose_secret().is_empty() {
            anyhow::bail!(
                "configuration: security.secret_key is not set (set LETHE__SECURITY__SECRET_KEY to 32+ random characters)"
            );
        }
        Ok(())
    }
}
