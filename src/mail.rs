//! Outgoing mail: lettre over SMTP, or (by default) one `.eml` file per message in a
//! mailbox directory that a person or a test can read.

use anyhow::Context;
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Body, Mailbox};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;

use crate::config::{MailSettings, MailTransportKind};
use crate::domain::Email;

/// Sends mail.
#[derive(Clone)]
pub struct Mailer {
    from: Mailbox,
    transport: Transport,
}

#[derive(Clone)]
enum Transport {
    Mailbox(AsyncFileTransport<Tokio1Executor>),
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

/// A message to send; its text never reaches a log.
pub struct Mail {
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub body: String,
}

impl Mailer {
    /// Builds the configured transport (creating the mailbox directory if needed).
    pub fn new(settings: &MailSettings) -> anyhow::Result<Self> {
        let from: Mailbox = settings
            .from
            .parse()
            .context("configuration: mail.from is not a valid mailbox")?;
        let transport = match settings.transport {
            MailTransportKind::Mailbox => {
                std::fs::create_dir_all(&settings.mailbox_dir).with_context(|| {
                    format!(
                        "creating the mailbox directory {}",
                        settings.mailbox_dir.display()
                    )
                })?;
                Transport::Mailbox(AsyncFileTransport::new(&settings.mailbox_dir))
            }
            MailTransportKind::Smtp => Transport::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(settings.smtp_url.expose_secret())
                    .context("configuration: mail.smtp_url is not a valid SMTP URL")?
                    .build(),
            ),
        };
        Ok(Self { from, transport })
    }

    /// Sends one message to one address.
    pub async fn send(&self, to: &Email, mail: Mail) -> anyhow::Result<()> {
        let to: Mailbox = to.as_str().parse().context("recipient address")?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject)
            .message_id(None)
            .header(ContentType::TEXT_PLAIN)
            // Plain 7-bit where the text allows it, so links stay readable and clickable in
            // the raw .eml files of the mailbox transport.
            .body(
                Body::new_with_encoding(mail.body, ContentTransferEncoding::SevenBit)
                    .unwrap_or_else(|raw| {
                        // Long lines (a presigned link) need quoted-printable; keep CRLF handling.
                        Body::new(String::from_utf8(raw).expect("the body was a String"))
                    }),
            )
            .context("building a message")?;
        match &self.transport {
            Transport::Mailbox(t) => {
                t.send(message)
                    .await
                    .context("writing a message to the mailbox")?;
            }
            Transport::Smtp(t) => {
                // The server's reply text can quote the address ("<ada@…>: rejected"):
                // only its kind and code go into the error (and so into logs).
                t.send(message).await.map_err(|e| {
                    let kind = if e.is_permanent() {
                        "permanent"
                    } else if e.is_transient() {
                        "transient"
                    } else if e.is_timeout() {
                        "timeout"
                    } else {
                        "connection or protocol"
                    };
                    let code = e.status().map(|c| format!(" {c}")).unwrap_or_default();
                    anyhow::anyhow!("sending a message over SMTP: {kind} error{code}")
                })?;
            }
        }
        Ok(())
    }
}

/// The message carrying a verification code. It also confirms receipt of the request
/// (its acknowledgement, see [`crate::deadlines`]): its id and response deadline.
pub fn verification_code(
    code: &str,
    ttl_minutes: u32,
    kind: &str,
    request_id: uuid::Uuid,
    due_at: chrono::DateTime<chrono::Utc>,
) -> Mail {
    Mail {
        subject: format!("Your verification code: {code}"),
        body: format!(
            "Someone (hopefully you) asked us for a privacy request of kind\n\
             \"{kind}\" for this email address.\n\n\
             Your verification code is: {code}\n\n\
             It is valid for {ttl_minutes} minutes. If you did not ask for this,\n\
             ignore this message: nothing happens without the code.\n\n\
             We have received the request ({request_id}). Once you have entered\n\
             the code, we will answer it by {} at the latest.\n",
            due_at.format("%Y-%m-%d %H:%M UTC")
        ),
    }
}

/// The message confirming receipt of a request filed through the platform (its
/// acknowledgement, see [`crate::deadlines`]).
pub fn request_received(
    request_id: uuid::Uuid,
    kind: &str,
    due_at: chrono::DateTime<chrono::Utc>,
) -> Mail {
    Mail {
        subject: "We have received your privacy request".to_owned(),
        body: format!(
            "We have received your privacy request of kind \"{kind}\" ({request_id}).\n\n\
             We will answer it by {} at the latest, and write to you again when\n\
             it is done.\n",
            due_at.format("%Y-%m-%d %H:%M UTC")
        ),
    }
}

/// The message telling a requester that the answer to their request will take longer:
/// the new deadline and staff's reason.
pub fn deadline_extended(
    request_id: uuid::Uuid,
    due_at: chrono::DateTime<chrono::Utc>,
    reason: &str,
) -> Mail {
    Mail {
        subject: "Your privacy request will take longer".to_owned(),
        body: format!(
            "We need more time to answer your privacy request {request_id}, as the\n\
             law allows. We will answer it by {} at the latest.\n\n\
             The reason:\n{reason}\n",
            due_at.format("%Y-%m-%d %H:%M UTC")
        ),
    }
}

/// The daily digest of deadlines for staff: the lines of clocks that ran out and of those
/// running out within `days_ahead` days, each with the total it was cut from.
pub fn deadline_digest(
    day: chrono::NaiveDate,
    days_ahead: u32,
    overdue: (&[String], usize),
    due_soon: (&[String], usize),
) -> Mail {
    let section = |title: String, (lines, total): (&[String], usize)| {
        let mut text = format!("{title} ({total}):\n");
        if total == 0 {
            text.push_str("  none\n");
        }
        for line in lines {
            text.push_str(&format!("  {line}\n"));
        }
        if total > lines.len() {
            text.push_str(&format!("  ... and {} more\n", total - lines.len()));
        }
        text
    };
    Mail {
        subject: format!(
            "Deadlines {day}: {} overdue, {} due within {days_ahead} days",
            overdue.1, due_soon.1
        ),
        body: format!(
            "Deadlines of open privacy requests on {day} (UTC).\n\
             Each line: the deadline, which clock, kind, status, request id.\n\n\
             {}\n{}",
            section("OVERDUE".to_owned(), overdue),
            section(format!("Due within {days_ahead} days"), due_soon),
        ),
    }
}

/// The message carrying the export's download link.
pub fn export_ready(
    link: &str,
    expires: chrono::DateTime<chrono::Utc>,
    request_id: uuid::Uuid,
) -> Mail {
    Mail {
        subject: "Your data export is ready".to_owned(),
        body: format!(
            "The copy of your data you asked for is ready.\n\
             Request: {request_id}\n\n\
             Download it here:\n{link}\n\n\
             The link and the archive expire on {}.\n\
             The archive holds an index.html to start from and a\n\
             manifest.json with a checksum of every file.\n",
            expires.format("%Y-%m-%d %H:%M UTC")
        ),
    }
}

/// The message confirming an erasure.
pub fn erasure_completed(request_id: uuid::Uuid) -> Mail {
    Mail {
        subject: "Your account and data have been deleted".to_owned(),
        body: format!(
            "We have deleted your account and the data linked to it.\n\
             Request: {request_id}\n\n\
             Records the law requires us to keep (such as payment records for\n\
             tax purposes) were kept with your personal details removed where\n\
             the law allows. We have now also erased this email address from\n\
             our privacy-request records.\n"
        ),
    }
}

/// The message closing a deletion for an address with no account on the platform.
pub fn erasure_no_account(request_id: uuid::Uuid) -> Mail {
    Mail {
        subject: "Your deletion request is complete".to_owned(),
        body: format!(
            "We found no account on our platform for this email address, so there was\n\
             no account to delete.\n\
             Request: {request_id}\n\n\
             We have now also erased this email address from our privacy-request\n\
             records.\n"
        ),
    }
}

/// The message closing a confirmed report of a child's account. It says nothing about the
/// account: only whether action was taken.
pub fn report_concluded(request_id: uuid::Uuid, acted: bool) -> Mail {
    let outcome = if acted {
        "We confirmed the report and acted under our policy on children's\n\
         accounts: the account's personal information has been deleted."
    } else {
        "We looked into the report. There was nothing on our platform to act on."
    };
    Mail {
        subject: "About the report you sent us".to_owned(),
        body: format!(
            "Thank you for telling us about a child's account (report {request_id}).\n\n\
             {outcome}\n\n\
             We have now also erased this email address from our privacy-request\n\
             records.\n"
        ),
    }
}

/// The message closing a report staff dismissed.
pub fn report_dismissed(request_id: uuid::Uuid) -> Mail {
    Mail {
        subject: "About the report you sent us".to_owned(),
        body: format!(
            "Thank you for telling us about a child's account (report {request_id}).\n\n\
             We looked into the report and did not take action. If you have more\n\
             information, you are welcome to send a new report.\n"
        ),
    }
}

/// The message carrying the link to a parent's copy of their child's data.
pub fn parent_copy_ready(
    link: &str,
    expires: chrono::DateTime<chrono::Utc>,
    request_id: uuid::Uuid,
) -> Mail {
    Mail {
        subject: "The copy of your child's data is ready".to_owned(),
        body: format!(
            "As you asked in your report {request_id}, here is a copy of the data our\n\
             platform held about your child's account, made before the account is\n\
             deleted.\n\n\
             Download it here:\n{link}\n\n\
             The link and the archive expire on {}.\n\
             The archive holds an index.html to start from.\n",
            expires.format("%Y-%m-%d %H:%M UTC")
        ),
    }
}

/// The message closing a likeness-removal request: each listed resource, as the
/// requester wrote it, with what became of it (`removed`, `already removed`, `not removed`).
pub fn likeness_outcome(request_id: uuid::Uuid, outcome: &[(String, &str)]) -> Mail {
    let lines: Vec<String> = outcome
        .iter()
        .map(|(given, said)| format!("- {said}: {given}"))
        .collect();
    Mail {
        subject: "Your likeness removal request".to_owned(),
        body: format!(
            "We reviewed every resource you listed (request {request_id}):\n\n{}\n\n\
             Removed resources are no longer published; their files are deleted from\n\
             our storage after a short hold. The evidence file you sent has been\n\
             deleted.\n",
            lines.join("\n")
        ),
    }
}

/// The message telling a requester their request was denied.
pub fn request_denied(request_id: uuid::Uuid) -> Mail {
    Mail {
        subject: "About your privacy request".to_owned(),
        body: format!(
            "We could not carry out your privacy request {request_id}.\n\
             If you think this is a mistake, reply to this message.\n"
        ),
    }
}

/// The message telling a requester their erasure is delayed: it failed and staff are on it.
pub fn erasure_delayed(request_id: uuid::Uuid) -> Mail {
    Mail {
        subject: "Your deletion request is delayed".to_owned(),
        body: format!(
            "We started deleting your account and data (request {request_id}), but\n\
             part of it could not be completed automatically. Our staff have been\n\
             told and will finish it or contact you. Nothing else is needed from you.\n"
        ),
    }
}

/// The message telling a requester their erasure was stopped, and what had been done.
pub fn erasure_aborted(request_id: uuid::Uuid, applied: &lethe_jobs::purge::PurgeReport) -> Mail {
    let done = if applied.rows == 0 && applied.objects == 0 {
        "None of your data had been deleted or changed.".to_owned()
    } else {
        format!(
            "Before it stopped, {} records and {} files of yours had been deleted\n\
             or changed; the rest of your data is still held.",
            applied.rows, applied.objects
        )
    };
    Mail {
        subject: "Your deletion request could not be completed".to_owned(),
        body: format!(
            "We could not complete the deletion of your account and data\n\
             (request {request_id}), and our staff have stopped it.\n\n\
             {done}\n\n\
             Reply to this message if you want us to try again or want to know more.\n"
        ),
    }
}
