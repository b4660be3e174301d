//! What the tests log: one buffer for the whole test binary, and the check at teardown
//! that no log line holds an app's personal data or the secrets a test handled.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use super::{TestApp, TextRow};

/// Everything the tests log, to check that no personal data reaches a log.
pub fn captured_logs() -> String {
    String::from_utf8_lossy(&LOGS.get_or_init(Default::default).lock().unwrap()).into_owned()
}

static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

#[derive(Clone)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub(super) fn init_logging() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        let buffer = LOGS.get_or_init(Default::default).clone();
        let _ = tracing_subscriber::fmt()
            .with_env_filter(lethe::telemetry::filter(
                "debug,h2=info,hyper=info,aws=info,rustls=info,tower=info",
            ))
            .with_writer(move || Capture(buffer.clone()))
            .with_ansi(false)
            .try_init();
    });
}

impl TestApp {
    /// Remembers a secret the test handled (a token), to check that no log holds it.
    pub fn saw(&self, secret: &str) {
        self.seen.lock().unwrap().push(secret.to_owned());
    }

    /// The logs of the whole run so far (every test of this binary writes to one buffer,
    /// error paths included) hold none of this app's personal data or secrets: the
    /// platform's emails, usernames and IP addresses, every address mail went to, every
    /// code mailed, every token handled.
    pub(super) async fn assert_logs_clean(&self) {
        let mut secrets: Vec<String> = self.seen.lock().unwrap().clone();
        if let Ok(entries) = std::fs::read_dir(&self.mailbox) {
            for entry in entries.flatten() {
                let Ok(text) = std::fs::read_to_string(entry.path()) else {
                    continue;
                };
                for line in text.lines() {
                    if let Some(to) = line.strip_prefix("To: ") {
                        secrets.push(to.trim().trim_matches(['<', '>']).to_owned());
                    }
                    if line.contains("verification code is") {
                        secrets.push(line.chars().filter(char::is_ascii_digit).collect());
                    }
                }
            }
        }
        let mut platform = self.platform_db().await;
        // The demo platform's people (not its placeholder account, id 0; the large
        // platform has its own answer-key checks).
        let people = diesel::sql_query(
            "SELECT v FROM (SELECT email AS v FROM users WHERE id > 0 \
             UNION ALL SELECT username FROM users WHERE id > 0 \
             UNION ALL SELECT host(signup_ip) FROM users WHERE signup_ip IS NOT NULL \
             UNION ALL SELECT DISTINCT host(ip) FROM sessions) s",
        );
        let demo: Vec<TextRow> = diesel_async::RunQueryDsl::load(
            diesel::sql_query("SELECT coalesce(to_regclass('public.sessions')::text, '') AS v"),
            &mut platform,
        )
        .await
        .unwrap();
        let rows: Vec<TextRow> = if demo[0].v.is_empty() {
            Vec::new()
        } else {
            diesel_async::RunQueryDsl::load(people, &mut platform)
                .await
                .unwrap()
        };
        secrets.extend(rows.into_iter().map(|r| r.v));
        let logs = captured_logs();
        for secret in secrets.iter().filter(|s| s.len() >= 6) {
            if let Some(line) = logs.lines().find(|l| contains_token(l, secret)) {
                // Name where, not what: the line with the value blanked out.
                panic!(
                    "a log line holds personal data or a secret: {}",
                    line.replace(secret.as_str(), "<REDACTED>")
                );
            }
        }
    }
}

/// Whether `needle` occurs in `hay` as a whole token (not inside a longer word or
/// number): `192.168.1.2` does not match `192.168.1.23`.
pub fn contains_token(hay: &str, needle: &str) -> bool {
    let word = |c: char| c.is_alphanumeric() || c == '_';
    hay.match_indices(needle).any(|(at, _)| {
        let before = hay[..at].chars().next_back();
        let after = hay[at + needle.len()..].chars().next();
        !before.is_some_and(word) && !after.is_some_and(word)
    })
}
