//! The SMTP transport: customers' mail (or a forwarding rule's) arrives here and goes through
//! the one inbound pipeline, like a webhook.
//!
//! - [`recipients`]: which mail channel an address belongs to; nothing else is accepted.
//! - [`session`]: one session's commands and replies, on smtp-proto's parser; `250` only once
//!   the message is stored.
//! - this module: the accept loop, with the connection caps (`smtp.max_connections`,
//!   `smtp.max_connections_per_ip`: more are answered `421` and closed), and `STARTTLS` when
//!   `smtp.tls_cert` and `smtp.tls_key` are set.
//!
//! smtp-proto is a protocol library, not a server: Stalwart's own server is built on it. The
//! session loop is ours because the promises are (what is accepted, the size cap enforced while
//! reading, the durable-before-250 rule); the mail server crates that own the loop
//! (mailin-embedded, samotop) are synchronous or unmaintained.

pub mod recipients;
mod session;

use crate::config::SmtpConfig;
use crate::connection_limits::{ConnectionLimits, ListenerMetrics};
use crate::media::MediaStore;
use crate::plugins::Channels;
use crate::store::Store;
use anyhow::Context;
use recipients::Recipients;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use session::{Delivery, End, Session};
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::rustls;
use tokio_rustls::TlsAcceptor;

/// A bound SMTP listener, ready to serve.
pub struct SmtpServer {
    listener: TcpListener,
    delivery: Arc<Delivery>,
    tls: Option<TlsAcceptor>,
    limits: Arc<ConnectionLimits>,
}

impl SmtpServer {
    /// Bind `settings.listen` for the mail channels in `channels`.
    pub async fn bind(settings: &SmtpConfig, store: Store, media: MediaStore, channels: Arc<Channels>) -> anyhow::Result<Option<Self>> {
        let Some(address) = settings.listen else { return Ok(None) };
        let recipients = Recipients::new(channels.iter().map(|(id, channel)| (id.as_str(), channel.mail_addresses.as_slice())));
        if recipients.is_empty() {
            tracing::warn!(%address, "smtp.listen is set but no channel has [channels.mail] addresses: every recipient will be refused");
        }
        let tls = match (&settings.tls_cert, &settings.tls_key) {
            (Some(cert), Some(key)) => Some(tls_acceptor(cert, key)?),
            _ => None,
        };
        let listener = TcpListener::bind(address).await.with_context(|| format!("listening on {address} (smtp.listen)"))?;
        let limits = Arc::new(ConnectionLimits::new(settings.max_connections, settings.max_connections_per_ip, ListenerMetrics::SMTP));
        let delivery = Arc::new(Delivery { store, media, channels, recipients, settings: settings.clone(), tls_available: tls.is_some() });
        Ok(Some(Self { listener, delivery, tls, limits }))
    }

    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    /// Accept sessions until `shutdown`; sessions already open finish their transaction.
    pub async fn serve(self, mut shutdown: watch::Receiver<bool>) {
        loop {
            let (mut stream, remote) = tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        tracing::warn!(%error, "accepting an SMTP connection failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                },
                // The guard `wait_for` returns is not `Send`: drop it inside the block.
                () = async { let _ = shutdown.wait_for(|stopping| *stopping).await; } => return,
            };
            let Ok(permit) = self.limits.admit(remote.ip()) else {
                tokio::spawn(async move {
                    let _ = stream.write_all(b"421 4.7.0 Too many connections, try again later\r\n").await;
                    let _ = stream.shutdown().await;
                });
                continue;
            };
            let delivery = self.delivery.clone();
            let tls = self.tls.clone();
            tokio::spawn(async move {
                let _permit = permit;
                let mut session = Session::new(&delivery, remote, false);
                let ended = session.run(&mut stream, true).await;
                let result = match (ended, tls) {
                    (Ok(End::StartTls), Some(acceptor)) => match acceptor.accept(stream).await {
                        Ok(mut secured) => Session::new(&delivery, remote, true).run(&mut secured, false).await.map(|_| ()),
                        Err(error) => Err(error),
                    },
                    (ended, _) => ended.map(|_| ()),
                };
                if let Err(error) = result {
                    tracing::debug!(%remote, %error, "SMTP session ended with an error");
                }
            });
        }
    }
}

/// A TLS acceptor for `STARTTLS`, from PEM files.
fn tls_acceptor(cert: &std::path::Path, key: &std::path::Path) -> anyhow::Result<TlsAcceptor> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("reading smtp.tls_cert {}", cert.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("parsing smtp.tls_cert {}", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(key).with_context(|| format!("reading smtp.tls_key {}", key.display()))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("smtp.tls_cert and smtp.tls_key do not make a usable certificate")?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}
