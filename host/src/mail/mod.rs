//! Mail: a durable outbox in each tenant file ([`outbox`]) that plugins write to in their call's
//! transaction (contract 1.1 `mail`), and a worker ([`worker`]) that delivers it: over SMTP
//! (lettre; TLS, STARTTLS and auth from the URL) when the operator configured `serve --smtp`,
//! retried on a schedule with every attempt logged; otherwise written as `.eml` files under the
//! tenant's directory, listed by `mobieus mail list` and the console. Nothing is dropped.

pub mod outbox;
pub mod worker;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use lettre::SmtpTransport;
use lettre::message::Mailbox;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};

use crate::schedule::Due;

/// Raised by a write that queued mail.
pub const SIGNAL: &str = "mail_outbox";

#[derive(Debug, Clone)]
pub struct MailConfig {
    /// `smtp://host:25`, `smtp://user:pass@host:587?tls=required` (STARTTLS),
    /// `smtps://user:pass@host:465`; none writes `.eml` files instead.
    pub smtp: Option<String>,
    pub from: Mailbox,
    /// PEM root certificates trusted for the SMTP server's TLS, beside the usual roots.
    pub extra_roots: Vec<Vec<u8>>,
    /// Waits before the 2nd, 3rd… attempt; after the last, the message is `failed`.
    pub retry: Vec<Duration>,
    pub timeout: Duration,
}

impl Default for MailConfig {
    fn default() -> Self {
        MailConfig {
            smtp: None,
            from: "Mobieus <mobieus@localhost>".parse().expect("a mailbox"),
            extra_roots: vec![],
            retry: [60, 300, 1800, 7200, 21600]
                .into_iter()
                .map(Duration::from_secs)
                .collect(),
            timeout: Duration::from_secs(30),
        }
    }
}

/// The mail service: its configuration, its SMTP transport (when configured), its due work.
pub struct Mail {
    pub config: MailConfig,
    transport: Option<SmtpTransport>,
    pub due: Arc<Due>,
}

impl Mail {
    pub fn new(config: MailConfig) -> anyhow::Result<Mail> {
        let transport = match &config.smtp {
            Some(url) => Some(transport(url, &config)?),
            None => None,
        };
        Ok(Mail {
            config,
            transport,
            due: Arc::new(Due::new(tenants::registry::Target::Mail)),
        })
    }
}

/// The transport lettre makes of the URL; with extra roots, the same TLS mode trusting them too.
fn transport(url: &str, config: &MailConfig) -> anyhow::Result<SmtpTransport> {
    let builder = SmtpTransport::from_url(url)
        .map_err(|e| anyhow::anyhow!("--smtp: {e}"))?
        .timeout(Some(config.timeout));
    if config.extra_roots.is_empty() {
        return Ok(builder.build());
    }
    let parsed = url::Url::parse(url).context("--smtp")?;
    let host = parsed.host_str().context("--smtp: no host")?.to_owned();
    let mut params = TlsParameters::builder(host);
    for pem in &config.extra_roots {
        params = params.add_root_certificate(
            Certificate::from_pem(pem).map_err(|e| anyhow::anyhow!("--smtp-ca-file: {e}"))?,
        );
    }
    let params = params
        .build_rustls()
        .map_err(|e| anyhow::anyhow!("--smtp-ca-file: {e}"))?;
    let tls_query = parsed
        .query_pairs()
        .find(|(k, _)| k == "tls")
        .map(|(_, v)| v.into_owned());
    let tls = match (parsed.scheme(), tls_query.as_deref()) {
        ("smtps", _) => Tls::Wrapper(params),
        (_, Some("required")) => Tls::Required(params),
        (_, Some("opportunistic")) => Tls::Opportunistic(params),
        _ => Tls::None,
    };
    Ok(builder.tls(tls).build())
}
