//! Logs hold no personal data on error paths either. (Every test's teardown checks the
//! whole run's logs for the emails, usernames and IP addresses of the platform, every
//! address mailed, every code and every token the test handled; this file drives the
//! error paths that are most likely to leak: a mail server that quotes the address in its
//! rejection, and a database refusing a write.)

use secrecy::SecretString;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::helpers::{Options, captured_logs, contains_token, spawn_app_with};

/// A mail server that rejects every recipient, quoting the address back as real ones do.
async fn rejecting_smtp_server() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 mx.test ESMTP\r\n").await.ok();
                while let Ok(Some(line)) = lines.next_line().await {
                    let upper = line.to_ascii_uppercase();
                    let reply = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                        "250-mx.test\r\n250 8BITMIME\r\n".to_owned()
                    } else if upper.starts_with("RCPT TO:") {
                        let address = line[8..].trim().to_owned();
                        format!(
                            "550 5.1.1 {address}: Recipient address rejected: no mailbox {address}\r\n"
                        )
                    } else if upper.starts_with("QUIT") {
                        write.write_all(b"221 bye\r\n").await.ok();
                        return;
                    } else {
                        "250 OK\r\n".to_owned()
                    };
                    if write.write_all(reply.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mail_server_rejection_and_a_database_refusal_leave_no_address_in_the_logs() {
    let smtp = rejecting_smtp_server().await;
    let app = spawn_app_with(Options {
        tweak: Box::new(move |s| {
            s.mail.transport = lethe::config::MailTransportKind::Smtp;
            s.mail.smtp_url = SecretString::from(format!("smtp://{smtp}"));
        }),
        ..Default::default()
    })
    .await;
    let email = "rejected.reader@example.com";
    let response = app.file(json!({ "kind": "access", "email": email })).await;
    // The filing is answered once committed; the code's mail waits in the outbox, where the
    // sender's failure is recorded by kind and code and retried later.
    assert_eq!(response.status(), 202);
    let mut service = app.service_db().await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let last_error = loop {
        let row: crate::helpers::TextRow = diesel_async::RunQueryDsl::get_result(
            diesel::sql_query(
                "SELECT coalesce(max(last_error), '') AS v FROM outbox WHERE attempts >= 1",
            ),
            &mut service,
        )
        .await
        .unwrap();
        if !row.v.is_empty() {
            break row.v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the sender never tried"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert!(
        last_error.contains("permanent error 550") && !last_error.contains('@'),
        "{last_error}"
    );
    // A database refusal on a path that carries the address: the platform rejects a write
    // while the log records the failure (a CHECK on the request email is simulated by a
    // trigger that refuses every insert, quoting the row).
    diesel_async::SimpleAsyncConnection::batch_execute(
        &mut service,
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ \
         BEGIN RAISE EXCEPTION 'refused row %', NEW.email USING DETAIL = NEW.email::text; END $$; \
         CREATE TRIGGER refuse BEFORE INSERT ON requests FOR EACH ROW EXECUTE FUNCTION refuse();",
    )
    .await
    .unwrap();
    let refused_email = "refused.row@example.com";
    let response = app
        .file(json!({ "kind": "access", "email": refused_email }))
        .await;
    assert_eq!(response.status(), 500);
    let body = response.text().await.unwrap();
    assert!(!body.contains(refused_email), "{body}");

    let logs = captured_logs();
    assert!(
        logs.contains("sending a message over SMTP: permanent error 550"),
        "the mail failure is logged by kind and code"
    );
    assert!(logs.contains("internal error"));
    for address in [email, refused_email] {
        if let Some(line) = logs.lines().find(|l| contains_token(l, address)) {
            panic!(
                "an address reached the logs: {}",
                line.replace(address, "<ADDRESS>")
            );
        }
    }
    app.saw(refused_email);
    app.teardown().await;
}
