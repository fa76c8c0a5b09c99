//! One SMTP session: commands in, replies out, until `QUIT`, a timeout, or `STARTTLS` (the
//! listener then upgrades the connection and runs a fresh session on it).
//!
//! smtp-proto parses commands (with their parameters and address syntax) and un-stuffs `DATA`;
//! this module owns what the replies mean for Switchboard:
//! - `RCPT TO` an address no mail channel serves: `550 5.1.1` (never a relay);
//! - a `MAIL FROM` that declares `SIZE=` over the cap, or `DATA` that grows past it:
//!   `552 5.3.4`, and the oversized bytes are discarded as they arrive, never buffered;
//! - the end of `DATA`: `250` only after [`inbound::receive_mail`] stored the message for every
//!   channel it was addressed to; `451 4.3.0` when storing failed on our side (the sender
//!   retries, and a retry is deduplicated); `550 5.6.0` when the plugin refused the message.

use super::recipients::Recipients;
use crate::config::SmtpConfig;
use crate::inbound::{self, InboundError};
use crate::media::MediaStore;
use crate::plugins::{Channels, IncomingMail};
use crate::store::Store;
use crate::telemetry;
use smtp_proto::request::receiver::{DataReceiver, DummyDataReceiver, RequestReceiver};
use smtp_proto::{Error as ParseError, Request};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// What a delivered message is handed to.
pub struct Delivery {
    pub store: Store,
    pub media: MediaStore,
    pub channels: Arc<Channels>,
    pub recipients: Recipients,
    pub settings: SmtpConfig,
    /// Whether `STARTTLS` can be offered (a certificate is configured).
    pub tls_available: bool,
}

/// How a session ended.
pub enum End {
    Closed,
    /// The client asked for TLS and was told to go ahead: upgrade the connection.
    StartTls,
}

/// Commands a client may get wrong before it is disconnected.
const MAX_ERRORS: u32 = 10;

enum Mode {
    Commands,
    /// Reading a message within the size cap.
    Data { receiver: DataReceiver, message: Vec<u8> },
    /// Reading past the size cap: the rest is thrown away as it arrives.
    Discarding(DummyDataReceiver),
}

pub struct Session<'a> {
    delivery: &'a Delivery,
    remote: SocketAddr,
    tls: bool,
    helo: Option<String>,
    mail_from: Option<String>,
    /// Accepted recipients and the channel each belongs to.
    rcpt: Vec<(String, String)>,
    errors: u32,
    transactions: u64,
}

impl<'a> Session<'a> {
    pub fn new(delivery: &'a Delivery, remote: SocketAddr, tls: bool) -> Self {
        Self { delivery, remote, tls, helo: None, mail_from: None, rcpt: Vec::new(), errors: 0, transactions: 0 }
    }

    fn settings(&self) -> &SmtpConfig {
        &self.delivery.settings
    }

    fn reset(&mut self) {
        self.mail_from = None;
        self.rcpt.clear();
    }

    /// Serve commands on `stream` (greeting first when `greet`).
    pub async fn run<S: AsyncRead + AsyncWrite + Unpin>(&mut self, stream: &mut S, greet: bool) -> std::io::Result<End> {
        if greet {
            let hello = format!("220 {} ESMTP Switchboard ready\r\n", self.settings().hostname);
            stream.write_all(hello.as_bytes()).await?;
        }
        let timeout = Duration::from_millis(self.settings().command_timeout_ms);
        let mut receiver = RequestReceiver::default();
        let mut mode = Mode::Commands;
        let mut buffer = vec![0u8; 16 * 1024];
        loop {
            let read = match tokio::time::timeout(timeout, stream.read(&mut buffer)).await {
                Ok(read) => read?,
                Err(_) => {
                    stream.write_all(b"421 4.4.2 Idle too long, closing connection\r\n").await?;
                    return Ok(End::Closed);
                }
            };
            if read == 0 {
                return Ok(End::Closed);
            }
            let mut bytes = buffer[..read].iter();
            let mut replies = Vec::new();
            loop {
                match &mut mode {
                    Mode::Data { receiver: data, message } => {
                        let done = data.ingest(&mut bytes, message);
                        let too_large = message.len() > self.settings().max_message_bytes;
                        if done && too_large {
                            mode = Mode::Commands;
                            replies.extend_from_slice(self.refuse_oversized().as_bytes());
                            continue;
                        }
                        if done {
                            let message = std::mem::take(message);
                            mode = Mode::Commands;
                            replies.extend_from_slice(self.deliver(message).await.as_bytes());
                            continue;
                        }
                        if too_large {
                            mode = Mode::Discarding(DummyDataReceiver::new_data(data));
                            continue;
                        }
                        break;
                    }
                    Mode::Discarding(discard) => {
                        if discard.ingest(&mut bytes) {
                            mode = Mode::Commands;
                            replies.extend_from_slice(self.refuse_oversized().as_bytes());
                            continue;
                        }
                        break;
                    }
                    Mode::Commands => {}
                }
                let request = match receiver.ingest(&mut bytes) {
                    Ok(request) => request.into_owned(),
                    Err(ParseError::NeedsMoreData { .. }) => break,
                    Err(error) => {
                        self.errors += 1;
                        replies.extend_from_slice(parse_error(&error).as_bytes());
                        if self.errors >= MAX_ERRORS {
                            replies.extend_from_slice(b"421 4.7.0 Too many errors, closing connection\r\n");
                            stream.write_all(&replies).await?;
                            return Ok(End::Closed);
                        }
                        continue;
                    }
                };
                match request {
                    Request::Data => {
                        if self.rcpt.is_empty() {
                            replies.extend_from_slice(b"503 5.5.1 No valid recipients\r\n");
                            continue;
                        }
                        replies.extend_from_slice(b"354 Start mail input; end with <CRLF>.<CRLF>\r\n");
                        mode = Mode::Data { receiver: DataReceiver::new(), message: Vec::new() };
                    }
                    Request::StartTls => {
                        if !self.delivery.tls_available || self.tls {
                            replies.extend_from_slice(b"502 5.5.1 STARTTLS not available\r\n");
                            continue;
                        }
                        // Whatever the client pipelined after STARTTLS is dropped: it was sent
                        // in the clear and must not count as said under TLS.
                        replies.extend_from_slice(b"220 2.0.0 Ready to start TLS\r\n");
                        stream.write_all(&replies).await?;
                        return Ok(End::StartTls);
                    }
                    Request::Quit => {
                        replies.extend_from_slice(b"221 2.0.0 Bye\r\n");
                        stream.write_all(&replies).await?;
                        return Ok(End::Closed);
                    }
                    other => replies.extend_from_slice(self.command(other).as_bytes()),
                }
            }
            if !replies.is_empty() {
                stream.write_all(&replies).await?;
                stream.flush().await?;
            }
        }
    }

    /// The reply to a command that needs no more than its own line.
    fn command(&mut self, request: Request<String>) -> String {
        match request {
            Request::Ehlo { host } => {
                self.helo = Some(host);
                self.reset();
                self.ehlo()
            }
            Request::Helo { host } | Request::Lhlo { host } => {
                self.helo = Some(host);
                self.reset();
                format!("250 {}\r\n", self.settings().hostname)
            }
            Request::Mail { from } => {
                if self.helo.is_none() {
                    return "503 5.5.1 Say EHLO first\r\n".into();
                }
                if self.mail_from.is_some() {
                    return "503 5.5.1 Sender already given\r\n".into();
                }
                if from.size > self.settings().max_message_bytes {
                    metrics::counter!(telemetry::SMTP_REFUSED, "reason" => "too_large").increment(1);
                    return self.too_large();
                }
                self.mail_from = Some(from.address);
                "250 2.1.0 Sender OK\r\n".into()
            }
            Request::Rcpt { to } => {
                if self.mail_from.is_none() {
                    return "503 5.5.1 Need MAIL FROM first\r\n".into();
                }
                if self.rcpt.len() >= self.settings().max_recipients {
                    return "452 4.5.3 Too many recipients\r\n".into();
                }
                match self.delivery.recipients.channel_for(&to.address) {
                    Some(channel) => {
                        let channel = channel.to_string();
                        self.rcpt.push((to.address, channel));
                        "250 2.1.5 Recipient OK\r\n".into()
                    }
                    None => {
                        metrics::counter!(telemetry::SMTP_REFUSED, "reason" => "unknown_recipient").increment(1);
                        self.errors += 1;
                        "550 5.1.1 No such mailbox here; this server accepts mail only for its own addresses\r\n".into()
                    }
                }
            }
            Request::Rset => {
                self.reset();
                "250 2.0.0 OK\r\n".into()
            }
            Request::Noop { .. } => "250 2.0.0 OK\r\n".into(),
            Request::Vrfy { .. } => "252 2.1.5 Cannot verify; send mail and it will be tried\r\n".into(),
            Request::Help { .. } => "214 2.0.0 See RFC 5321\r\n".into(),
            Request::Bdat { .. } => "502 5.5.1 CHUNKING is not offered\r\n".into(),
            Request::Auth { .. } => "502 5.5.1 AUTH is not offered: this server takes mail for its own addresses only\r\n".into(),
            _ => "502 5.5.1 Command not implemented\r\n".into(),
        }
    }

    fn ehlo(&self) -> String {
        let settings = self.settings();
        let mut lines = vec![format!("{} Hello {}", settings.hostname, self.remote.ip())];
        lines.push(format!("SIZE {}", settings.max_message_bytes));
        lines.extend(["8BITMIME", "PIPELINING", "ENHANCEDSTATUSCODES", "SMTPUTF8"].map(String::from));
        if self.delivery.tls_available && !self.tls {
            lines.push("STARTTLS".into());
        }
        let last = lines.len() - 1;
        lines.iter().enumerate().map(|(n, line)| format!("250{}{line}\r\n", if n == last { ' ' } else { '-' })).collect()
    }

    /// End a transaction whose message grew past the cap.
    fn refuse_oversized(&mut self) -> String {
        self.reset();
        metrics::counter!(telemetry::SMTP_REFUSED, "reason" => "too_large").increment(1);
        self.too_large()
    }

    fn too_large(&self) -> String {
        format!("552 5.3.4 Message too big: the limit is {} bytes\r\n", self.settings().max_message_bytes)
    }

    /// Hand a complete message to each channel it was addressed to; the reply says whether all
    /// of them stored it.
    async fn deliver(&mut self, raw: Vec<u8>) -> String {
        self.transactions += 1;
        let mail_from = self.mail_from.take().unwrap_or_default();
        let rcpt = std::mem::take(&mut self.rcpt);
        let request_id = format!("smtp-{}-{}-{}", self.remote, crate::clock::now_ms(), self.transactions);
        let mut channel_ids: Vec<&str> = rcpt.iter().map(|(_, channel)| channel.as_str()).collect();
        channel_ids.sort_unstable();
        channel_ids.dedup();
        let (mut ours, mut refused) = (None, None);
        for channel_id in channel_ids {
            let Some(channel) = self.delivery.channels.get(channel_id) else { continue };
            let mail = IncomingMail {
                mail_from: mail_from.clone(),
                rcpt_to: rcpt.iter().filter(|(_, c)| c == channel_id).map(|(address, _)| address.clone()).collect(),
                remote_addr: self.remote.to_string(),
                helo: self.helo.clone(),
                tls: self.tls,
                raw: raw.clone(),
            };
            match inbound::receive_mail(&self.delivery.store, &self.delivery.media, channel, &request_id, mail).await {
                Ok(_) => {}
                Err(error @ (InboundError::Refused(_) | InboundError::NotAMailChannel(_))) => refused = Some(error),
                Err(error) => {
                    tracing::error!(channel = channel_id, request_id, %error, "storing a mail failed; answered 451");
                    ours = Some(error);
                }
            }
        }
        match (ours, refused) {
            (Some(_), _) => {
                metrics::counter!(telemetry::SMTP_REFUSED, "reason" => "failed").increment(1);
                "451 4.3.0 Could not store the message; try again later\r\n".into()
            }
            (None, Some(error)) => {
                metrics::counter!(telemetry::SMTP_REFUSED, "reason" => "refused").increment(1);
                format!("550 5.6.0 Message refused: {}\r\n", one_line(&error.to_string()))
            }
            (None, None) => "250 2.0.0 Stored\r\n".into(),
        }
    }
}

/// Text safe for one reply line: no CR or LF (which would forge further replies), capped.
fn one_line(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).take(200).collect()
}

fn parse_error(error: &ParseError) -> String {
    match error {
        ParseError::UnknownCommand => "500 5.5.1 Command unrecognized\r\n".into(),
        ParseError::InvalidSenderAddress => "501 5.1.7 Bad sender address syntax\r\n".into(),
        ParseError::InvalidRecipientAddress => "501 5.1.3 Bad recipient address syntax\r\n".into(),
        ParseError::SyntaxError { syntax } => format!("501 5.5.4 Syntax: {syntax}\r\n"),
        ParseError::InvalidParameter { param } => format!("501 5.5.4 Invalid parameter {param}\r\n"),
        ParseError::UnsupportedParameter { param } => format!("504 5.5.4 Unsupported parameter {}\r\n", one_line(param)),
        ParseError::ResponseTooLong => "500 5.5.6 Line too long\r\n".into(),
        ParseError::NeedsMoreData { .. } | ParseError::InvalidResponse { .. } => "500 5.5.2 Syntax error\r\n".into(),
    }
}
