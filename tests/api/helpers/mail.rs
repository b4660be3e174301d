//! The mailbox: the mails the app sent (once the outbox has sent them), their bodies,
//! and the codes and links in them.

use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::TestApp;

impl TestApp {
    /// Waits (up to 20 s) until the outbox holds no message due for sending: every mail
    /// committed so far is in the mailbox.
    pub async fn mail_settled(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut db = self.service_db().await;
        loop {
            let due: i64 = lethe::schema::outbox::table
                .filter(lethe::schema::outbox::next_attempt_at.le(chrono::Utc::now()))
                .count()
                .get_result(&mut db)
                .await
                .unwrap();
            if due == 0 {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{due} messages stay in the outbox"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Every message in the mailbox addressed to `to`, oldest first, once the outbox has
    /// sent what was committed.
    pub async fn mails_to(&self, to: &str) -> Vec<String> {
        self.mail_settled().await;
        self.mailbox_to(to)
    }

    fn mailbox_to(&self, to: &str) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(&self.mailbox) else {
            return vec![];
        };
        let mut mails: Vec<(std::time::SystemTime, String)> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
            .map(|e| {
                (
                    e.metadata().unwrap().modified().unwrap(),
                    std::fs::read_to_string(e.path()).unwrap(),
                )
            })
            .filter(|(_, text)| {
                text.lines()
                    .any(|l| l.starts_with("To: ") && l.to_lowercase().contains(&to.to_lowercase()))
            })
            .collect();
        mails.sort_by_key(|(t, _)| *t);
        mails.into_iter().map(|(_, text)| text).collect()
    }

    /// The body of the first mail to `to` containing `needle` (waits up to 20 s for it).
    pub async fn mail_containing(&self, to: &str, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(mail) = self.mailbox_to(to).into_iter().find(|m| m.contains(needle)) {
                return mail_body(&mail);
            }
            assert!(Instant::now() < deadline, "no mail to {to} with {needle:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The latest verification code mailed to `to`.
    pub async fn latest_code(&self, to: &str) -> String {
        let mails = self.mails_to(to).await;
        let mail = mails
            .iter()
            .rev()
            .find(|m| m.contains("verification code is"))
            .expect("a code was mailed");
        let line = mail
            .lines()
            .find(|l| l.contains("verification code is"))
            .unwrap();
        line.chars().filter(char::is_ascii_digit).collect()
    }
}

/// The body of a mail, decoded if it was sent quoted-printable.
pub fn mail_body(mail: &str) -> String {
    let (headers, body) = mail
        .split_once("\r\n\r\n")
        .or_else(|| mail.split_once("\n\n"))
        .unwrap();
    if !headers.contains("quoted-printable") {
        return body.replace("\r\n", "\n");
    }
    let joined = body.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' && i + 2 < bytes.len() {
            out.push(
                u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap(), 16).unwrap(),
            );
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap().replace("\r\n", "\n")
}

impl TestApp {
    /// The download link from the latest "export is ready" mail to `to` (the mail goes
    /// out just after the request completes: waits up to 10 s for it).
    pub async fn export_link_from_mail(&self, to: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mail = loop {
            let found = self
                .mails_to(to)
                .await
                .into_iter()
                .rev()
                .find(|m| m.contains("export is ready"));
            match found {
                Some(mail) => break mail,
                None if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                None => panic!("an export-ready mail"),
            }
        };
        let mail = &mail;
        let body = mail_body(mail);
        body.lines()
            .find(|l| l.starts_with("http"))
            .expect("a link in the mail")
            .trim()
            .to_owned()
    }
}
