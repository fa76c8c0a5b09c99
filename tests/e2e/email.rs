//! Email end to end, over real SMTP on loopback both ways: lettre (a real SMTP client) sends to
//! the gateway's listener; replies leave through the gateway's relay to a loopback SMTP sink
//! that records what it receives and can answer with scripted errors, as a real relay does.
//! Also Mailgun's signed inbound posts, and attachment downloads through the API.

use crate::support::*;
use lettre::address::{Address, Envelope};
use lettre::transport::smtp::client::Tls;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use reqwest::StatusCode;
use serde_json::Value;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

on_both_backends!(
    a_mail_opens_a_conversation_the_reply_threads_and_the_answer_joins_it,
    auto_replies_and_list_mail_open_nothing_and_a_bounce_fails_the_reply,
    unknown_recipients_and_oversized_mail_are_refused_and_nothing_is_stored,
    attachments_download_for_agents_only,
    mailgun_posts_are_checked_for_signature_freshness_and_replay,
    relay_refusals_are_retried_or_failed_by_their_code,
    an_authenticated_sender_joins_the_known_contact_and_a_claimed_one_does_not,
);

const SUPPORT: &str = "support@example.com";
const MAILGUN_KEY: &str = "mailgun-test-signing-key-77";
const MAX_MESSAGE_BYTES: usize = 100_000;
/// The mail server in front of the gateway whose `Authentication-Results` the channel believes.
const TRUSTED: &str = "mx.trusted-gateway.test";

// ---------------------------------------------------------------------------------------
// A loopback SMTP sink: the relay our replies go to
// ---------------------------------------------------------------------------------------

/// One message the sink accepted.
#[derive(Debug, Clone)]
struct Relayed {
    mail_from: String,
    rcpt_to: Vec<String>,
    data: String,
}

/// A minimal SMTP server in the test: it accepts everything unless a scripted reply says
/// otherwise (`RCPT` or `DATA` answers such as `550 5.1.1 …` or `451 4.3.0 …`).
#[derive(Clone, Default)]
struct Sink {
    received: Requests<Relayed>,
    /// Replies to give at the end of `DATA` instead of `250`, one per message.
    data_replies: Arc<Mutex<VecDeque<String>>>,
}

impl Sink {
    async fn start() -> (Self, SocketAddr) {
        let sink = Self::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let serving = sink.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serving.clone().session(stream));
            }
        });
        (sink, address)
    }

    fn answer_next_data_with(&self, reply: &str) {
        self.data_replies.lock().unwrap().push_back(reply.to_string());
    }

    async fn session(self, stream: tokio::net::TcpStream) {
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read);
        let _ = write.write_all(b"220 sink.test ESMTP\r\n").await;
        let (mut from, mut rcpt) = (String::new(), Vec::new());
        loop {
            let mut line = String::new();
            if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                return;
            }
            let command = line.trim_end().to_string();
            let upper = command.to_ascii_uppercase();
            let reply = if upper.starts_with("EHLO") {
                "250-sink.test\r\n250 8BITMIME\r\n".to_string()
            } else if upper.starts_with("MAIL FROM:") {
                from = address_in(&command);
                "250 OK\r\n".into()
            } else if upper.starts_with("RCPT TO:") {
                rcpt.push(address_in(&command));
                "250 OK\r\n".into()
            } else if upper == "DATA" {
                let _ = write.write_all(b"354 go ahead\r\n").await;
                let mut data = String::new();
                loop {
                    let mut line = String::new();
                    if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    if line == ".\r\n" {
                        break;
                    }
                    data.push_str(line.strip_prefix('.').unwrap_or(&line));
                }
                match self.data_replies.lock().unwrap().pop_front() {
                    Some(reply) => format!("{reply}\r\n"),
                    None => {
                        self.received.record(Relayed { mail_from: from.clone(), rcpt_to: rcpt.clone(), data });
                        "250 2.0.0 queued\r\n".into()
                    }
                }
            } else if upper == "QUIT" {
                let _ = write.write_all(b"221 bye\r\n").await;
                return;
            } else {
                "250 OK\r\n".into()
            };
            if upper.starts_with("RSET") {
                (from, rcpt) = (String::new(), Vec::new());
            }
            let _ = write.write_all(reply.as_bytes()).await;
        }
    }
}

/// The address between `<` and `>` of a `MAIL FROM:` or `RCPT TO:` line.
fn address_in(command: &str) -> String {
    if !command.contains('<') {
        return command.trim().to_string();
    }
    command.split_once('<').and_then(|(_, rest)| rest.split_once('>')).map(|(address, _)| address.to_string()).unwrap_or_default()
}

// ---------------------------------------------------------------------------------------
// The gateway and a real SMTP client
// ---------------------------------------------------------------------------------------

fn email_channels(relay: SocketAddr) -> String {
    format!(
        r#"
[[channels]]
id = "email"
plugin = "email"
config = {{ from = "Acme Support <{SUPPORT}>", trusted_authserv_id = "{TRUSTED}" }}
secrets = {{ mailgun_signing_key = "{MAILGUN_KEY}" }}

[channels.mail]
addresses = ["{SUPPORT}"]
relay = "smtp://{relay}"
"#
    )
}

async fn start(relay: SocketAddr) -> TestServer {
    let sections = format!(
        r#"
[smtp]
listen = "127.0.0.1:0"
hostname = "mx.switchboard.test"
max_message_bytes = {MAX_MESSAGE_BYTES}

[media]
max_file_bytes = 1000000
"#
    );
    let settings = Settings { sections: &sections, ..Settings::default() };
    TestServer::start_settings(None, &email_channels(relay), &settings).await
}

/// What an SMTP session with the listener ended with, as the client saw it.
async fn send_mail(server: &TestServer, from: &str, to: &[&str], raw: &[u8]) -> Result<(), lettre::transport::smtp::Error> {
    let smtp = server.gateway().smtp_addr.expect("the SMTP listener runs");
    let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(smtp.ip().to_string()).port(smtp.port()).tls(Tls::None).build();
    let envelope = Envelope::new(
        Some(from.parse::<Address>().unwrap()),
        to.iter().map(|a| a.parse::<Address>().unwrap()).collect(),
    )
    .unwrap();
    transport.send_raw(&envelope, raw).await.map(|_| ())
}

fn mail(from: &str, to: &str, message_id: &str, headers: &str, subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: Tue, 01 Dec 2026 10:00:00 +0000\r\nMessage-ID: <{message_id}>\r\n{headers}MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}"
    )
    .replace("\r\n", "\n")
    .replace('\n', "\r\n")
    .into_bytes()
}

/// The value of header `name` in a relayed message (unfolded).
fn header(data: &str, name: &str) -> Option<String> {
    let head = data.split("\r\n\r\n").next().unwrap_or(data);
    let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
    unfolded.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.eq_ignore_ascii_case(name).then(|| value.trim().to_string())
    })
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

async fn a_mail_opens_a_conversation_the_reply_threads_and_the_answer_joins_it() {
    let (sink, relay) = Sink::start().await;
    let server = start(relay).await;

    // 1. A customer writes in.
    let first = mail("Ann Lee <ann@customer.test>", SUPPORT, "first-1@customer.test", "", "Order 1234 arrived broken", "The lamp arrived in pieces.\r\nCan you help?\r\n");
    send_mail(&server, "ann@customer.test", &[SUPPORT], &first).await.expect("the listener takes mail for its address");
    let conversation = server.only_conversation_id().await;
    let messages = server.messages(conversation).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["direction"], "inbound");
    assert_eq!(messages[0]["channel_id"], "email");
    assert_eq!(messages[0]["external_id"], "first-1@customer.test");
    assert!(messages[0]["text"].as_str().unwrap().starts_with("The lamp arrived in pieces."), "{}", messages[0]);
    assert_eq!(messages[0]["extra"]["subject"], "Order 1234 arrived broken");

    // Redelivered (a sending server that did not see our 250): still one message.
    send_mail(&server, "ann@customer.test", &[SUPPORT], &first).await.unwrap();
    assert_eq!(server.messages(conversation).await.len(), 1, "a redelivery is not stored twice");

    // 2. The agent answers; the reply reaches the relay with threading headers.
    let (reply_id, reply_external) = server.reply_and_wait_for(conversation, &serde_json::json!({"text": "Sorry! A new lamp is on its way."}), "sent").await;
    let relayed = sink.received.wait_for(1, "the relay").await.remove(0);
    assert_eq!(relayed.mail_from, SUPPORT);
    assert_eq!(relayed.rcpt_to, vec!["ann@customer.test".to_string()]);
    let data = &relayed.data;
    assert_eq!(header(data, "In-Reply-To").as_deref(), Some("<first-1@customer.test>"));
    assert!(header(data, "References").unwrap().contains("<first-1@customer.test>"), "{data}");
    assert_eq!(header(data, "Message-ID").unwrap(), format!("<{reply_external}>"));
    assert_eq!(reply_external, format!("sb.{reply_id}@example.com"));
    assert_eq!(header(data, "Subject").as_deref(), Some("Re: Order 1234 arrived broken"));
    assert!(header(data, "From").unwrap().contains(SUPPORT));
    assert!(header(data, "To").unwrap().contains("ann@customer.test"));
    let reply_to = header(data, "Reply-To").expect("a plus-addressed Reply-To");
    let token = address_in(&reply_to).strip_prefix("support+").and_then(|rest| rest.strip_suffix("@example.com")).expect("support+<token>@example.com").to_string();
    assert!(token.len() >= 16, "{token}");
    assert!(data.contains("A new lamp is on its way."), "{data}");

    // 3. The customer answers, quoting us, Gmail style: it joins the conversation, and the
    //    shown text is the new part only.
    let answer = mail(
        "Ann Lee <ann@customer.test>",
        SUPPORT,
        "answer-2@customer.test",
        &format!("In-Reply-To: <{reply_external}>\r\nReferences: <first-1@customer.test> <{reply_external}>\r\n"),
        "Re: Order 1234 arrived broken",
        "Thank you, that was quick!\r\n\r\nOn Tue, 1 Dec 2026 at 10:05, Acme Support <support@example.com> wrote:\r\n> Sorry! A new lamp is on its way.\r\n",
    );
    send_mail(&server, "ann@customer.test", &[SUPPORT], &answer).await.unwrap();
    assert_eq!(server.conversations().await.len(), 1, "the answer joined the conversation");
    let messages = server.messages(conversation).await;
    let joined = messages.iter().find(|m| m["external_id"] == "answer-2@customer.test").expect("the answer is in the conversation");
    assert_eq!(joined["text"], "Thank you, that was quick!");
    assert!(joined["extra"]["full_text"].as_str().unwrap().contains("> Sorry! A new lamp"), "the original stays available: {joined}");

    // 4. An Outlook-style reply from a colleague: no In-Reply-To or References, but the
    //    plus-addressed To. A new contact, so without the token it would open a new conversation.
    let outlook = mail(
        "Bob Stone <bob@customer.test>",
        &format!("Acme Support <support+{token}@example.com>"),
        "outlook-3@customer.test",
        "Thread-Topic: Order 1234 arrived broken\r\n",
        "RE: Order 1234 arrived broken",
        "Adding my colleague's address for the delivery.\r\n\r\n-----Original Message-----\r\nFrom: Acme Support <support@example.com>\r\nSent: Tuesday, December 1, 2026 10:05 AM\r\nSubject: Re: Order 1234 arrived broken\r\n\r\nSorry! A new lamp is on its way.\r\n",
    );
    send_mail(&server, "bob@customer.test", &[&format!("support+{token}@example.com")], &outlook).await.expect("plus-addresses are accepted");
    assert_eq!(server.conversations().await.len(), 1, "the plus-addressed reply joined the right conversation");
    let messages = server.messages(conversation).await;
    let joined = messages.iter().find(|m| m["external_id"] == "outlook-3@customer.test").expect("the Outlook reply is in the conversation");
    assert_eq!(joined["text"], "Adding my colleague's address for the delivery.");

    // A mail with no hints from a new address opens a conversation of its own.
    let fresh = mail("Cy <cy@customer.test>", SUPPORT, "fresh-4@customer.test", "", "Another question", "Do you ship to Norway?\r\n");
    send_mail(&server, "cy@customer.test", &[SUPPORT], &fresh).await.unwrap();
    assert_eq!(server.conversations().await.len(), 2);
    server.stop().await;
}

async fn auto_replies_and_list_mail_open_nothing_and_a_bounce_fails_the_reply() {
    let (sink, relay) = Sink::start().await;
    let server = start(relay).await;
    for fixture_name in ["email/auto_reply.eml", "email/list_mail.eml"] {
        send_mail(&server, "someone@contoso.test", &[SUPPORT], &fixture(fixture_name)).await.expect("accepted, then ignored");
    }
    assert!(server.conversations().await.is_empty(), "auto-replies and list mail never open a conversation");

    // A reply that bounces.
    let first = mail("Nobody <nobody@customer.test>", SUPPORT, "first-9@customer.test", "", "Your question about order 1042", "Hello?\r\n");
    send_mail(&server, "nobody@customer.test", &[SUPPORT], &first).await.unwrap();
    let conversation = server.only_conversation_id().await;
    let (reply_id, reply_external) = server.reply_and_wait_for(conversation, &serde_json::json!({"text": "Hello! How can we help?"}), "sent").await;
    sink.received.wait_for(1, "the relay").await;
    let bounce = String::from_utf8(fixture("email/bounce.eml")).unwrap().replace("reply-42@switchboard.test", &reply_external);
    // Bounces come from the null reverse-path.
    let smtp = server.gateway().smtp_addr.unwrap();
    let replies = raw_session(smtp, &["EHLO mx.customer.test", "MAIL FROM:<>", &format!("RCPT TO:<{SUPPORT}>"), "DATA"], Some(bounce.as_bytes())).await;
    assert!(replies.last().unwrap().starts_with("250"), "{replies:?}");
    let failed = server.wait_for_status(conversation, reply_id, "failed").await;
    assert_eq!(failed["error"]["code"], "5.1.1", "{failed}");
    let messages = server.messages(conversation).await;
    assert_eq!(messages.len(), 2, "the bounce is not a customer message: {messages:#?}");
    assert_eq!(server.conversations().await.len(), 1);
    server.stop().await;
}

/// Speak SMTP by hand: each command's reply (the last line of it), then `data` and its reply.
async fn raw_session(smtp: SocketAddr, commands: &[&str], data: Option<&[u8]>) -> Vec<String> {
    let stream = tokio::net::TcpStream::connect(smtp).await.unwrap();
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    let mut read_reply = async move || -> String {
        loop {
            let mut line = String::new();
            if lines.read_line(&mut line).await.unwrap() == 0 {
                return String::new();
            }
            if line.as_bytes().get(3) != Some(&b'-') {
                return line.trim_end().to_string();
            }
        }
    };
    let mut replies = vec![read_reply().await];
    for command in commands {
        write.write_all(format!("{command}\r\n").as_bytes()).await.unwrap();
        replies.push(read_reply().await);
    }
    if let Some(data) = data {
        let mut body = String::from_utf8_lossy(data).replace("\r\n", "\n").replace('\n', "\r\n");
        body = body.replace("\r\n.", "\r\n..");
        write.write_all(body.as_bytes()).await.unwrap();
        write.write_all(if body.ends_with("\r\n") { b".\r\n" } else { b"\r\n.\r\n" }).await.unwrap();
        replies.push(read_reply().await);
    }
    replies
}

async fn unknown_recipients_and_oversized_mail_are_refused_and_nothing_is_stored() {
    let (_sink, relay) = Sink::start().await;
    let server = start(relay).await;
    let hello = mail("Eve <eve@customer.test>", "nobody@example.com", "relay-1@customer.test", "", "Hi", "Relay this please\r\n");
    let refused = send_mail(&server, "eve@customer.test", &["nobody@example.com"], &hello).await.expect_err("not our address");
    assert_eq!(refused.status().map(u16::from), Some(550), "{refused}");
    let refused = send_mail(&server, "eve@customer.test", &["victim@elsewhere.test"], &hello).await.expect_err("never an open relay");
    assert_eq!(refused.status().map(u16::from), Some(550), "{refused}");

    // Over the cap, without declaring a size: refused at the end of DATA.
    let body = format!("{}\r\n", "x".repeat(76)).repeat(MAX_MESSAGE_BYTES / 78 + 10);
    let big = mail("Eve <eve@customer.test>", SUPPORT, "big-2@customer.test", "", "Big", &body);
    let refused = send_mail(&server, "eve@customer.test", &[SUPPORT], &big).await.expect_err("over the size cap");
    assert_eq!(refused.status().map(u16::from), Some(552), "{refused}");
    // Declared with SIZE=: refused at MAIL FROM already.
    let smtp = server.gateway().smtp_addr.unwrap();
    let replies = raw_session(smtp, &["EHLO client.test", &format!("MAIL FROM:<eve@customer.test> SIZE={}", MAX_MESSAGE_BYTES * 2)], None).await;
    assert!(replies[1].starts_with("250 "), "{replies:?}");
    assert!(replies[2].starts_with("552 5.3.4"), "{replies:?}");
    // The session goes on after a refusal: a mail within the cap to a served address works.
    let small = mail("Eve <eve@customer.test>", SUPPORT, "small-3@customer.test", "", "Small", "Just a line.\r\n");
    let replies = raw_session(smtp, &["EHLO client.test", "MAIL FROM:<eve@customer.test>", "RCPT TO:<nobody@example.com>", &format!("RCPT TO:<{SUPPORT}>"), "DATA"], Some(&small)).await;
    assert!(replies[3].starts_with("550 5.1.1"), "{replies:?}");
    assert!(replies[4].starts_with("250"), "{replies:?}");
    assert!(replies[6].starts_with("250"), "{replies:?}");
    let conversations = server.conversations().await;
    assert_eq!(conversations.len(), 1, "only the mail within the cap, to a served address, is stored: {conversations:#?}");
    let messages = server.messages(conversations[0]["id"].as_i64().unwrap()).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["external_id"], "small-3@customer.test");
    server.stop().await;
}

async fn attachments_download_for_agents_only() {
    let (_sink, relay) = Sink::start().await;
    let server = start(relay).await;
    send_mail(&server, "zoe.mueller@customer.test", &[SUPPORT], &fixture("email/attachments.eml")).await.unwrap();
    let conversation = server.only_conversation_id().await;
    let message = server.messages(conversation).await.remove(0);
    let attachments = message["attachments"].as_array().unwrap().clone();
    assert!(attachments.len() >= 2, "{message}");
    let pdf = attachments.iter().find(|a| a["mime_type"] == "application/pdf").expect("the invoice PDF");
    let sha256 = pdf["sha256"].as_str().unwrap();
    assert_eq!(pdf["reference"], format!("media:{sha256}"));
    let url = format!("{}/api/v1/conversations/{conversation}/media/{sha256}", server.base);

    let anonymous = server.client.get(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(anonymous.json::<Value>().await.unwrap()["error"]["code"], "unauthorized");

    let download = server.client.get(&url).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
    assert_eq!(download.status(), StatusCode::OK);
    assert_eq!(download.headers()["content-type"], "application/pdf");
    assert!(download.headers()["content-disposition"].to_str().unwrap().starts_with("attachment; filename="));
    assert_eq!(download.headers()["x-content-type-options"], "nosniff");
    let bytes = download.bytes().await.unwrap();
    assert!(bytes.starts_with(b"%PDF"), "the decoded attachment, not its base64");
    let digest: String = <sha2::Sha256 as sha2::Digest>::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(digest, sha256, "the bytes are the ones the name says");

    // A hash alone grants nothing: not through another conversation, nor a made-up one.
    let other = mail("Cy <cy@customer.test>", SUPPORT, "other-1@customer.test", "", "Hi", "No attachments here.\r\n");
    send_mail(&server, "cy@customer.test", &[SUPPORT], &other).await.unwrap();
    let other_id = server.conversations().await.iter().map(|c| c["id"].as_i64().unwrap()).find(|id| *id != conversation).unwrap();
    let elsewhere = server.client.get(format!("{}/api/v1/conversations/{other_id}/media/{sha256}", server.base)).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
    assert_eq!(elsewhere.status(), StatusCode::NOT_FOUND);
    let malformed = server.client.get(format!("{}/api/v1/conversations/{conversation}/media/..%2F..%2Fetc", server.base)).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
    server.stop().await;
}

/// A Mailgun inbound post (`?format=mime` route), signed with `key`.
fn mailgun_form(key: &str, timestamp: u64, token: &str, raw: &[u8]) -> Vec<u8> {
    let signature = sign_with(key, format!("{timestamp}{token}").as_bytes()).trim_start_matches("sha256=").to_string();
    form_urlencoded::Serializer::new(String::new())
        .append_pair("recipient", SUPPORT)
        .append_pair("sender", "dora@customer.test")
        .append_pair("from", "Dora <dora@customer.test>")
        .append_pair("subject", "Via Mailgun")
        .append_pair("body-mime", std::str::from_utf8(raw).unwrap())
        .append_pair("timestamp", &timestamp.to_string())
        .append_pair("token", token)
        .append_pair("signature", &signature)
        .finish()
        .into_bytes()
}

async fn mailgun_posts_are_checked_for_signature_freshness_and_replay() {
    let (_sink, relay) = Sink::start().await;
    let server = start(relay).await;
    let post = async |body: Vec<u8>| {
        server
            .client
            .post(format!("{}/webhooks/email?format=mime", server.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap()
    };
    let now = now_ms() / 1000;
    let raw = mail("Dora <dora@customer.test>", SUPPORT, "mg-1@customer.test", "", "Via Mailgun", "Hello through Mailgun.\r\n");
    let token = "4f3c2b1a0e9d8c7b6a5f4e3d2c1b0a99887766554433221100";

    let wrong = post(mailgun_form("not-the-key", now, token, &raw)).await;
    assert_eq!(error_code(wrong, StatusCode::UNAUTHORIZED).await, "bad_signature");
    let stale = post(mailgun_form(MAILGUN_KEY, now - 3600, "stale-token-1", &raw)).await;
    assert_eq!(error_code(stale, StatusCode::UNAUTHORIZED).await, "bad_signature");
    assert!(server.conversations().await.is_empty(), "nothing stored for refused posts");

    let accepted = post(mailgun_form(MAILGUN_KEY, now, token, &raw)).await;
    assert_eq!(accepted.status(), StatusCode::OK, "{:?}", accepted.text().await);
    let conversation = server.only_conversation_id().await;
    let messages = server.messages(conversation).await;
    assert_eq!(messages[0]["text"], "Hello through Mailgun.");
    assert_eq!(messages[0]["external_id"], "mg-1@customer.test");

    // The same signed token again, even with another message: a replay.
    let other = mail("Dora <dora@customer.test>", SUPPORT, "mg-2@customer.test", "", "Again", "Second.\r\n");
    let replayed = post(mailgun_form(MAILGUN_KEY, now, token, &other)).await;
    let status = replayed.status();
    let body: Value = replayed.json().await.unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("replay"), "{body}");
    assert_eq!(server.messages(conversation).await.len(), 1, "the replay stored nothing");
    server.stop().await;
}

async fn relay_refusals_are_retried_or_failed_by_their_code() {
    let (sink, relay) = Sink::start().await;
    let server = start(relay).await;
    let first = mail("Ann <ann@customer.test>", SUPPORT, "first-1@customer.test", "", "Hello", "Hi there.\r\n");
    send_mail(&server, "ann@customer.test", &[SUPPORT], &first).await.unwrap();
    let conversation = server.only_conversation_id().await;

    // A temporary refusal is retried, and the retry gets through with the same Message-ID.
    sink.answer_next_data_with("451 4.3.0 Try again later");
    let (retried, external) = server.reply_and_wait_for(conversation, &serde_json::json!({"text": "First try fails"}), "sent").await;
    let relayed = sink.received.wait_for(1, "the relay").await.remove(0);
    assert_eq!(header(&relayed.data, "Message-ID").unwrap(), format!("<{external}>"));
    assert_eq!(external, format!("sb.{retried}@example.com"));

    // A permanent refusal fails the reply at once, with the relay's code.
    sink.answer_next_data_with("550 5.7.1 Message rejected as spam");
    let failing = server.queue_text_reply(conversation, "Buy now").await;
    let failed = server.wait_for_status(conversation, failing, "failed").await;
    assert_eq!(failed["error"]["code"], "550", "{failed}");
    assert!(failed["error"]["message"].as_str().unwrap().contains("550 5.7.1 Message rejected as spam"), "the relay's own words reach the agent: {failed}");
    assert_eq!(sink.received.all().len(), 1, "nothing more reached the mailbox");
    server.stop().await;
}

#[tokio::test]
async fn the_listener_reads_pipelined_commands_and_drops_idle_clients() {
    // Not backend-specific: the session machinery.
    let (_sink, relay) = Sink::start().await;
    let server = start(relay).await;
    let smtp = server.gateway().smtp_addr.unwrap();
    let mut stream = tokio::net::TcpStream::connect(smtp).await.unwrap();
    let mut greeting = [0u8; 256];
    let n = stream.read(&mut greeting).await.unwrap();
    assert!(greeting[..n].starts_with(b"220 mx.switchboard.test"), "{}", String::from_utf8_lossy(&greeting[..n]));
    // Everything at once (PIPELINING): each command still gets its reply, in order.
    let message = mail("Pip <pip@customer.test>", SUPPORT, "pipe-1@customer.test", "", "Pipelined", "One go.\r\n");
    let mut batch = format!("EHLO client.test\r\nMAIL FROM:<pip@customer.test>\r\nRCPT TO:<{SUPPORT}>\r\nDATA\r\n").into_bytes();
    batch.extend_from_slice(&message);
    batch.extend_from_slice(b".\r\nQUIT\r\n");
    stream.write_all(&batch).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    let codes: Vec<&str> = answer.lines().filter(|line| line.as_bytes().get(3) == Some(&b' ')).map(|line| &line[..3]).collect();
    assert_eq!(codes, ["250", "250", "250", "354", "250", "221"], "{answer}");
    server.eventually("the pipelined mail to be stored", async |s| (s.conversations().await.len() == 1).then_some(())).await;
    server.stop().await;
}

#[tokio::test]
async fn an_agent_reads_and_answers_mail_in_chromium() {
    let Some((python, chromium)) = crate::inbox::browser() else {
        eprintln!("skipped: run through `cargo xtask test` (SWITCHBOARD_TEST_VENV names the Playwright install)");
        return;
    };
    let (sink, relay) = Sink::start().await;
    let server = start(relay).await;
    for (email, name, role) in [("mia@example.com", "Mia", "agent"), ("ola@example.com", "Ola", "admin")] {
        let body = serde_json::json!({"email": email, "display_name": name, "role": role, "password": crate::agents::PASSWORD});
        let (status, created) = server.api_post("/api/v1/agents", &body).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
    }
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let scratch = tempfile::tempdir().unwrap();
    let shots = if std::env::var_os("SWITCHBOARD_SCREENSHOTS").is_some() { root.join("docs/screenshots") } else { scratch.path().to_path_buf() };
    let output = tokio::process::Command::new(&python)
        .arg(root.join("tests/browser/mail_inbox.py"))
        .env("SB_BASE", &server.base)
        .env("SB_SMTP", server.gateway().smtp_addr.unwrap().to_string())
        .env("SB_AGENT", "mia@example.com")
        .env("SB_ADMIN", "ola@example.com")
        .env("SB_RELAY", relay.to_string())
        .env("SB_PASSWORD", crate::agents::PASSWORD)
        .env("SB_CHROMIUM", &chromium)
        .env("SB_SCREENSHOTS", &shots)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(std::time::Duration::from_secs(180), output).await.expect("the browser test finished in time").unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "the browser test failed:\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("all email browser checks passed"), "{stdout}");
    let relayed = sink.received.wait_for(1, "the relay").await.remove(0);
    assert_eq!(relayed.rcpt_to, vec!["ann@customer.test".to_string()]);
    assert_eq!(header(&relayed.data, "In-Reply-To").as_deref(), Some("<browser-1@customer.test>"));
    assert_eq!(header(&relayed.data, "Subject").as_deref(), Some("Re: The lamp arrived broken"));
    assert!(relayed.data.contains("A new lamp ships today"), "{}", relayed.data);
    server.stop().await;
}

#[tokio::test]
async fn starttls_is_offered_with_a_certificate_and_mail_goes_through_it() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let made = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"])
        .args(["-subj", "/CN=mx.switchboard.test", "-addext", "subjectAltName=DNS:mx.switchboard.test"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl makes a test certificate (.ci/run installs it)");
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let (_sink, relay) = Sink::start().await;
    let sections = format!(
        "\n[smtp]\nlisten = \"127.0.0.1:0\"\nhostname = \"mx.switchboard.test\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\n",
        cert.display(),
        key.display()
    );
    let server = TestServer::start_settings(None, &email_channels(relay), &Settings { sections: &sections, ..Settings::default() }).await;
    let smtp = server.gateway().smtp_addr.unwrap();

    // EHLO in the clear offers STARTTLS.
    let mut stream = tokio::net::TcpStream::connect(smtp).await.unwrap();
    let mut greeting = [0u8; 256];
    let _ = stream.read(&mut greeting).await.unwrap();
    stream.write_all(b"EHLO client.test\r\n").await.unwrap();
    let mut ehlo = vec![0u8; 1024];
    let n = stream.read(&mut ehlo).await.unwrap();
    assert!(String::from_utf8_lossy(&ehlo[..n]).contains("250 STARTTLS") || String::from_utf8_lossy(&ehlo[..n]).contains("250-STARTTLS"), "{}", String::from_utf8_lossy(&ehlo[..n]));
    drop(stream);

    // A client that insists on TLS delivers through it.
    let tls = lettre::transport::smtp::client::TlsParameters::builder("mx.switchboard.test".into()).dangerous_accept_invalid_certs(true).build().unwrap();
    let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(smtp.ip().to_string()).port(smtp.port()).tls(Tls::Required(tls)).build();
    let raw = mail("Tia <tia@customer.test>", SUPPORT, "tls-1@customer.test", "", "Over TLS", "Sent under STARTTLS.\r\n");
    let envelope = Envelope::new(Some("tia@customer.test".parse().unwrap()), vec![SUPPORT.parse().unwrap()]).unwrap();
    transport.send_raw(&envelope, &raw).await.expect("delivered under STARTTLS");
    let conversation = server.only_conversation_id().await;
    assert_eq!(server.messages(conversation).await[0]["text"], "Sent under STARTTLS.");
    server.stop().await;
}

async fn an_authenticated_sender_joins_the_known_contact_and_a_claimed_one_does_not() {
    let (_sink, relay) = Sink::start().await;
    let server = start(relay).await;
    // Two customers write on WhatsApp; an agent records each one's email address.
    let known = async |wa_id: &str, wamid: &str, email: &str| -> i64 {
        let body = String::from_utf8(fixture("whatsapp/text.json")).unwrap().replace("16505551234", wa_id).replace("wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzNzJFQTA4Q0FCMzNFNzFDMDJDNgA=", wamid);
        server.post_signed(body.as_bytes()).await;
        let mut found = None;
        for conversation in server.conversations().await {
            if server.messages(conversation["id"].as_i64().unwrap()).await.iter().any(|m| m["external_id"] == wamid) {
                found = Some(conversation);
            }
        }
        let conversation = found.expect("the WhatsApp message is stored");
        let id = conversation["id"].as_i64().unwrap();
        let contact = server.api_get(&format!("/api/v1/conversations/{id}")).await["contact"]["id"].as_i64().unwrap();
        let (status, body) = server.send_as(ADMIN_TOKEN, reqwest::Method::PATCH, &format!("/api/v1/contacts/{contact}"), Some(serde_json::json!({"email": email}))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        conversation["id"].as_i64().unwrap()
    };
    let _jose = known("16505551234", "wamid.jose-1", "jose@customer.test").await;
    let maria = known("16505559876", "wamid.maria-1", "maria@customer.test").await;

    // A mail that only claims to be from José (no verdict from the trusted server; a "pass"
    // from another server) gets a contact of its own.
    let forged = mail(
        "José <Jose@Customer.test>",
        SUPPORT,
        "claimed-1@customer.test",
        "Authentication-Results: mx.elsewhere.test; dmarc=pass header.from=customer.test\r\n",
        "It is me",
        "Please send my order to another address.\r\n",
    );
    send_mail(&server, "jose@customer.test", &[SUPPORT], &forged).await.unwrap();
    assert_eq!(server.conversations().await.len(), 3, "a claimed address links nobody");

    // The trusted server's DMARC pass for Maria's mail: it joins her contact and her open
    // conversation.
    let authenticated = mail(
        "Maria <Maria@Customer.test>",
        SUPPORT,
        "authentic-2@customer.test",
        &format!("Authentication-Results: {TRUSTED}; spf=pass smtp.mailfrom=customer.test; dmarc=pass (p=REJECT) header.from=customer.test\r\n"),
        "Order question",
        "Writing by mail this time.\r\n",
    );
    send_mail(&server, "maria@customer.test", &[SUPPORT], &authenticated).await.unwrap();
    assert_eq!(server.conversations().await.len(), 3, "no new conversation");
    let messages = server.messages(maria).await;
    assert!(messages.iter().any(|m| m["external_id"] == "authentic-2@customer.test" && m["channel_id"] == "email"), "{messages:#?}");
    server.stop().await;
}

#[tokio::test]
async fn connections_over_the_per_address_cap_are_turned_away_with_421() {
    let (_sink, relay) = Sink::start().await;
    let sections = "\n[smtp]\nlisten = \"127.0.0.1:0\"\nhostname = \"mx.switchboard.test\"\nmax_connections_per_ip = 1\n";
    let server = TestServer::start_settings(None, &email_channels(relay), &Settings { sections, ..Settings::default() }).await;
    let smtp = server.gateway().smtp_addr.unwrap();
    let mut first = tokio::net::TcpStream::connect(smtp).await.unwrap();
    let mut greeting = [0u8; 128];
    let n = first.read(&mut greeting).await.unwrap();
    assert!(greeting[..n].starts_with(b"220 "), "the first session is greeted");
    let mut second = tokio::net::TcpStream::connect(smtp).await.unwrap();
    let mut refusal = String::new();
    second.read_to_string(&mut refusal).await.unwrap();
    assert!(refusal.starts_with("421 4.7.0"), "{refusal}");
    // The slot comes back when the first session ends.
    drop(first);
    let mut third = None;
    for _ in 0..50 {
        let mut stream = tokio::net::TcpStream::connect(smtp).await.unwrap();
        let n = stream.read(&mut greeting).await.unwrap();
        if greeting[..n].starts_with(b"220 ") {
            third = Some(stream);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(third.is_some(), "a new session is admitted once the first one closed");
    server.stop().await;
}
