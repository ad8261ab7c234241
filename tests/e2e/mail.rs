//! Mail through the real binary: a plugin queues mail in its request's transaction; the host
//! delivers it over SMTP (STARTTLS and AUTH) to a real SMTP server on loopback (mailin), retries
//! what the server refuses, and with no SMTP server configured writes `.eml` files that
//! `mobieus mail list` shows. Messages are read back by an independent parser (mail-parser).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mail_parser::{MessageParser, MimeHeaders};
use mailin_embedded::response::{AUTH_OK, INTERNAL_ERROR, INVALID_CREDENTIALS, OK};
use mailin_embedded::{AuthMechanism, Handler, Response, Server as SmtpServer, SslConfig};
use serde_json::{Value, json};

use crate::harness::{ALL_CORE, Client, Server, eventually};
use crate::plugins::{test_plugin, until_served};
use crate::receiver::TestCa;

const INVITE: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//capable//test//EN\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\nUID:evt-1@capable\r\nDTSTAMP:20261206T120000Z\r\nDTSTART:20261210T150000Z\r\nSUMMARY:Kick-off\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";

/// What the SMTP server received: envelope and bytes.
#[derive(Debug, Clone)]
pub struct Delivered {
    pub from: String,
    pub to: Vec<String>,
    pub data: Vec<u8>,
}

#[derive(Clone)]
pub struct Inbox {
    pub delivered: Arc<Mutex<Vec<Delivered>>>,
    /// MAIL commands still to refuse with a temporary error (451).
    refuse: Arc<AtomicUsize>,
    current: Option<Delivered>,
}

impl Handler for Inbox {
    fn auth_plain(&mut self, _authz: &str, user: &str, password: &str) -> Response {
        if user == "mailer" && password == "s3cret" {
            AUTH_OK
        } else {
            INVALID_CREDENTIALS
        }
    }

    fn mail(&mut self, _ip: std::net::IpAddr, _domain: &str, _from: &str) -> Response {
        let refuse = self
            .refuse
            .try_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        if refuse.is_ok() { INTERNAL_ERROR } else { OK }
    }

    fn data_start(&mut self, _domain: &str, from: &str, _is8bit: bool, to: &[String]) -> Response {
        self.current = Some(Delivered {
            from: from.to_owned(),
            to: to.to_vec(),
            data: vec![],
        });
        OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        if let Some(current) = &mut self.current {
            current.data.extend_from_slice(buf);
        }
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        self.delivered.lock().unwrap().extend(self.current.take());
        OK
    }
}

/// A loopback SMTP server (STARTTLS with the test CA, AUTH PLAIN) and the `serve` arguments that
/// send through it from `from`; `refuse` MAIL commands are refused first. Keep it alive as long
/// as the server.
pub struct Smtp {
    pub inbox: Inbox,
    pub args: Vec<String>,
    _dir: tempfile::TempDir,
}

impl Smtp {
    pub fn start(from: &str, refuse: usize) -> Smtp {
        let ca = TestCa::new();
        let dir = tempfile::tempdir().unwrap();
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, &ca.ca_pem).unwrap();
        let (port, inbox) = smtp_server(&ca, dir.path(), refuse);
        let args = vec![
            "--smtp".into(),
            format!("smtp://mailer:s3cret@127.0.0.1:{port}?tls=required"),
            "--smtp-ca-file".into(),
            ca_file.to_str().unwrap().to_owned(),
            "--mail-from".into(),
            from.to_owned(),
        ];
        Smtp {
            inbox,
            args,
            _dir: dir,
        }
    }

    /// The arguments, with `more` after them.
    pub fn with<'a>(&'a self, more: &[&'a str]) -> Vec<&'a str> {
        self.args
            .iter()
            .map(String::as_str)
            .chain(more.iter().copied())
            .collect()
    }
}

/// An SMTP server on loopback that offers STARTTLS with the test CA's certificate and requires
/// AUTH PLAIN.
fn smtp_server(ca: &TestCa, dir: &std::path::Path, refuse: usize) -> (u16, Inbox) {
    // mailin's rustls sees more than one provider in this process; name one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (cert, key) = (dir.join("smtp-cert.pem"), dir.join("smtp-key.pem"));
    std::fs::write(&cert, &ca.leaf_pem).unwrap();
    std::fs::write(&key, &ca.key_pem).unwrap();
    let inbox = Inbox {
        delivered: Arc::default(),
        refuse: Arc::new(AtomicUsize::new(refuse)),
        current: None,
    };
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut server = SmtpServer::new(inbox.clone());
    server
        .with_name("smtp.test")
        .with_ssl(SslConfig::SelfSigned {
            cert_path: cert.display().to_string(),
            key_path: key.display().to_string(),
        })
        .unwrap()
        .with_auth(AuthMechanism::Plain)
        .with_tcp_listener(listener);
    std::thread::spawn(move || {
        let _ = server.serve();
    });
    (port, inbox)
}

async fn mail_server(args: &[&str]) -> (Server, Client) {
    let server = Server::start_with(args);
    server.create_tenant("acme", "pro");
    server.cli_ok(&["plugin", "install", &test_plugin("capable")]);
    server.cli_ok(&["plugin", "enable", "--tenant", "acme", "capable"]);
    let (_, key) = server.create_key("acme", "live", &format!("{ALL_CORE},capable:use"), &[]);
    let client = server.client("acme").key(&key);
    until_served(&client, "/api/v1/capable/fired").await;
    (server, client)
}

fn listed(server: &Server) -> Vec<Value> {
    let out = server.cli_ok(&["mail", "list", "--tenant", "acme", "--json"]);
    serde_json::from_str::<Value>(&out).unwrap()["data"]
        .as_array()
        .unwrap()
        .clone()
}

async fn send(client: &Client, body: Value) -> crate::harness::Resp {
    client.post("/api/v1/capable/mail", body).await
}

#[tokio::test]
async fn mail_goes_out_over_starttls_with_auth_is_retried_and_a_failed_request_sends_nothing() {
    // The first MAIL is refused (451): the host retries after the schedule's 1 s.
    let smtp = Smtp::start("Acme Community <community@acme.test>", 1);
    let inbox = smtp.inbox.clone();
    let (server, acme) = mail_server(&smtp.with(&["--mail-retry-schedule", "1s"])).await;
    let ada = acme
        .post(
            "/api/v1/users",
            json!({ "username": "ada", "email": "ada@example.com", "display_name": "Ada Lovelace" }),
        )
        .await
        .json();
    // Queued, then the request fails: rolled back with it, never sent.
    send(
        &acme,
        json!({ "to": "nobody@example.com", "subject": "x", "text": "x", "then_fail": true }),
    )
    .await
    .assert_error(409, "asked_to_fail");
    let r = send(
        &acme,
        json!({
            "to_user": ada["id"], "subject": "Kick-off on Thursday", "text": "See you there.",
            "html": "<p>See you <b>there</b>.</p>", "invite": true,
        }),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let got = eventually(Duration::from_secs(15), async || {
        let got = inbox.delivered.lock().unwrap().clone();
        (!got.is_empty()).then_some(got)
    })
    .await;
    assert_eq!(got.len(), 1, "the failed request's mail was sent: {got:?}");
    assert_eq!(
        (got[0].from.as_str(), got[0].to.as_slice()),
        (
            "community@acme.test",
            ["ada@example.com".to_owned()].as_slice()
        )
    );
    let message = MessageParser::default().parse(&got[0].data).unwrap();
    let from = message.from().unwrap().first().unwrap();
    assert_eq!(
        (from.name(), from.address()),
        (Some("Acme Community"), Some("community@acme.test"))
    );
    let to = message.to().unwrap().first().unwrap();
    assert_eq!(
        (to.name(), to.address()),
        (Some("Ada Lovelace"), Some("ada@example.com"))
    );
    assert_eq!(message.subject(), Some("Kick-off on Thursday"));
    assert_eq!(message.message_id(), Some(format!("{id}@mobieus").as_str()));
    assert_eq!(message.body_text(0).unwrap().trim_end(), "See you there.");
    assert!(
        message
            .body_html(0)
            .unwrap()
            .contains("<p>See you <b>there</b>.</p>")
    );
    let invite = message.attachment(0).unwrap();
    assert_eq!(invite.attachment_name(), Some("invite.ics"));
    let ct = invite.content_type().unwrap();
    assert_eq!((ct.ctype(), ct.subtype()), ("text", Some("calendar")));
    assert_eq!(invite.contents(), INVITE.as_bytes());

    let list = eventually(Duration::from_secs(10), async || {
        let list = listed(&server);
        (list.len() == 1 && list[0]["status"] == "sent").then_some(list)
    })
    .await;
    assert_eq!(
        (&list[0]["id"], &list[0]["attempt_count"], &list[0]["to"]),
        (
            &json!(id),
            &json!(2),
            &json!(["\"Ada Lovelace\" <ada@example.com>"])
        )
    );
    assert!(
        server.log().contains("mail not sent"),
        "the refusal is logged"
    );
}

#[tokio::test]
async fn without_smtp_mail_is_written_as_eml_files_and_listed() {
    let (server, acme) = mail_server(&[]).await;
    let r = send(
        &acme,
        json!({ "to": "Bob <bob@example.com>", "subject": "Hello", "text": "Plain only." }),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    // Bad input is the plugin's to answer; nothing is queued.
    for bad in [
        json!({ "to": "not an address", "subject": "x", "text": "x" }),
        json!({ "subject": "no one", "text": "x" }),
        json!({ "to": "a@example.com", "subject": "two\r\nlines", "text": "x" }),
        json!({ "to_user": "usr_nope", "subject": "x", "text": "x" }),
    ] {
        send(&acme, bad)
            .await
            .assert_error(400, "validation_failed");
    }
    let list = eventually(Duration::from_secs(10), async || {
        let list = listed(&server);
        (list.first().is_some_and(|m| m["status"] == "written")).then_some(list)
    })
    .await;
    assert_eq!(list.len(), 1);
    let path = list[0]["eml_path"].as_str().unwrap();
    assert!(
        path.starts_with(
            server
                .data_dir()
                .join("tenants/acme/mail/live")
                .to_str()
                .unwrap()
        )
    );
    let bytes = std::fs::read(path).unwrap();
    let message = MessageParser::default().parse(&bytes).unwrap();
    assert_eq!(message.subject(), Some("Hello"));
    assert_eq!(
        message.to().unwrap().first().unwrap().address(),
        Some("bob@example.com")
    );
    assert_eq!(message.body_text(0).unwrap().trim_end(), "Plain only.");
    let text = server.cli_ok(&["mail", "list", "--tenant", "acme"]);
    assert!(text.contains("written") && text.contains(path), "{text}");
}
