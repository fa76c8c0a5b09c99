//! Twilio SMS end to end: signed form webhooks in (answered with TwiML), the REST API, replies
//! through the outbox to a loopback fake of Twilio's Messages API, status callbacks, and
//! STOP/START consent.

use crate::support::*;
use axum::extract::{Path as AxumPath, State};
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use axum::response::IntoResponse;
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

on_both_backends!(
    signed_sms_is_stored_intact_answered_with_twiml_and_not_duplicated,
    bad_signatures_and_malformed_bodies_are_refused,
    mms_keeps_media_kind_url_and_mime_type,
    agent_reply_reaches_twilio_and_status_callbacks_move_it_forward,
    outbox_retries_rate_limits_and_outages_and_fails_permanent_errors_at_once,
    stop_refuses_later_replies_until_start,
);

const CHANNEL: &str = "sms";
const ACCOUNT_SID: &str = "AC1f0e8ae6ade43cb3c0ce4525424e404f";
const AUTH_TOKEN: &str = "twilio-test-auth-token-8c1d";
const FROM: &str = "+15005550006";
const CUSTOMER: &str = "+14155550142";
/// What Twilio signs: `server.public_url` of the test config plus the webhook path.
const WEBHOOK_URL: &str = "https://switchboard.test/webhooks/sms";
/// The outbound SID used in the status fixtures, replaced by the real one.
const FIXTURE_SID: &str = "SM5f4e3d2c1b0a99887766554433221100";
const TWIML: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Response/>"#;

// ---------------------------------------------------------------------------------------
// Signing, as Twilio does it
// ---------------------------------------------------------------------------------------

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(chunk.get(1).copied().unwrap_or(0)) << 8)
            | u32::from(chunk.get(2).copied().unwrap_or(0));
        for i in 0..4 {
            out.push(if i <= chunk.len() { ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char } else { '=' });
        }
    }
    out
}

/// base64(HMAC-SHA1(token, url + sorted `name value` pairs of the form body)).
pub(crate) fn twilio_signature(token: &str, url: &str, body: &[u8]) -> String {
    let mut params: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
    params.sort();
    let mut data = url.to_string();
    for (name, value) in params {
        data.push_str(&name);
        data.push_str(&value);
    }
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(token.as_bytes()).unwrap();
    mac.update(data.as_bytes());
    base64(&mac.finalize().into_bytes())
}

fn basic_auth() -> String {
    format!("Basic {}", base64(format!("{ACCOUNT_SID}:{AUTH_TOKEN}").as_bytes()))
}

/// An incoming-message webhook body as Twilio sends it.
fn inbound_form(message_sid: &str, body: &str) -> Vec<u8> {
    inbound_form_from(message_sid, CUSTOMER, body)
}

/// An incoming message from `from`.
pub(crate) fn inbound_form_from(message_sid: &str, from: &str, body: &str) -> Vec<u8> {
    form_urlencoded::Serializer::new(String::new())
        .append_pair("ToCountry", "US")
        .append_pair("ToState", "CA")
        .append_pair("SmsMessageSid", message_sid)
        .append_pair("NumMedia", "0")
        .append_pair("SmsSid", message_sid)
        .append_pair("SmsStatus", "received")
        .append_pair("Body", body)
        .append_pair("FromCountry", "US")
        .append_pair("To", FROM)
        .append_pair("NumSegments", "1")
        .append_pair("MessageSid", message_sid)
        .append_pair("AccountSid", ACCOUNT_SID)
        .append_pair("From", from)
        .append_pair("ApiVersion", "2010-04-01")
        .finish()
        .into_bytes()
}

fn status_form(name: &str, sid: &str) -> Vec<u8> {
    String::from_utf8(fixture(&format!("twilio/{name}"))).unwrap().replace(FIXTURE_SID, sid).into_bytes()
}

/// POST a form to `/webhooks/sms{query}` with this `X-Twilio-Signature` (if any).
async fn post_form(server: &TestServer, query: &str, body: &[u8], signature: Option<&str>) -> reqwest::Response {
    let mut request = server
        .client
        .post(format!("{}/webhooks/{CHANNEL}{query}", server.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("i-twilio-idempotency-token", "2f2a8b8e-1c5e-4d8f-9a4b-b6a7e5e0c001")
        .body(body.to_vec());
    if let Some(signature) = signature {
        request = request.header("x-twilio-signature", signature);
    }
    request.send().await.unwrap()
}

/// POST a correctly signed webhook; insist on 200 with the empty TwiML answer.
pub(crate) async fn post_signed(server: &TestServer, body: &[u8]) {
    let signature = twilio_signature(AUTH_TOKEN, WEBHOOK_URL, body);
    let response = post_form(server, "", body, Some(&signature)).await;
    assert_twiml(response).await;
}

async fn assert_twiml(response: reqwest::Response) {
    let status = response.status();
    let content_type = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_string());
    let text = response.text().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(content_type.as_deref().is_some_and(|c| c.starts_with("text/xml")), "content-type {content_type:?}");
    assert_eq!(text, TWIML);
}

pub(crate) fn channel_toml(fake: Option<SocketAddr>) -> String {
    let host = fake.map(|a| a.to_string()).unwrap_or_else(|| "127.0.0.1:9".into());
    format!(
        r#"
[[channels]]
id = "{CHANNEL}"
plugin = "twilio-sms"
allowed_hosts = ["{host}"]
config = {{ account_sid = "{ACCOUNT_SID}", from = "{FROM}", api_base = "http://{host}" }}
secrets = {{ auth_token = "{AUTH_TOKEN}" }}
"#
    )
}

async fn start(fake: Option<&FakeTwilio>) -> TestServer {
    TestServer::start_with(None, &channel_toml(fake.map(|f| f.addr))).await
}

/// Ingest the SMS fixture and return its conversation id.
async fn ingest_sms(server: &TestServer) -> i64 {
    post_signed(server, &fixture("twilio/inbound_sms.form")).await;
    server.only_conversation_id().await
}

// ---------------------------------------------------------------------------------------
// Fake Twilio Messages API
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
pub(crate) struct Received {
    path: String,
    authorization: Option<String>,
    content_type: Option<String>,
    pub(crate) form: Vec<(String, String)>,
    at: Instant,
}

impl Received {
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

#[derive(Clone, Default)]
struct FakeState {
    received: Requests<Received>,
    /// (HTTP status, Twilio error code, message, Retry-After seconds), used in order.
    script: Script<(u16, i64, String, Option<u64>)>,
}

/// A loopback stand-in for `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`: HTTP basic
/// auth with the account SID and auth token (401 with code 20003 otherwise), form bodies,
/// `201` with an `SM…` sid, and scripted Twilio errors.
pub(crate) struct FakeTwilio {
    pub(crate) addr: SocketAddr,
    state: FakeState,
}

impl FakeTwilio {
    pub(crate) async fn start() -> Self {
        let state = FakeState::default();
        let app = axum::Router::new()
            .route("/2010-04-01/Accounts/{account_sid}/Messages.json", axum::routing::post(create_message))
            .with_state(state.clone());
        Self { addr: serve_fake(app).await, state }
    }

    pub(crate) fn fail_next(&self, status: u16, code: i64, message: &str, retry_after: Option<u64>) {
        self.state.script.push((status, code, message.to_string(), retry_after));
    }

    pub(crate) fn received(&self) -> Vec<Received> {
        self.state.received.all()
    }

    pub(crate) async fn wait_for(&self, count: usize) -> Vec<Received> {
        self.state.received.wait_for(count, "the fake Twilio API").await
    }
}

fn twilio_error(status: u16, code: i64, message: &str) -> axum::response::Response {
    let body = json!({"code": code, "message": message, "more_info": format!("https://www.twilio.com/docs/errors/{code}"), "status": status});
    (AxumStatus::from_u16(status).unwrap(), axum::Json(body)).into_response()
}

async fn create_message(
    State(state): State<FakeState>,
    AxumPath(account_sid): AxumPath<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> axum::response::Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let form: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let n = state.received.record(Received {
        path: format!("/2010-04-01/Accounts/{account_sid}/Messages.json"),
        authorization: header("authorization"),
        content_type: header("content-type"),
        form: form.clone(),
        at: Instant::now(),
    });
    if account_sid != ACCOUNT_SID || header("authorization").as_deref() != Some(basic_auth().as_str()) {
        return twilio_error(401, 20003, "Authenticate");
    }
    if let Some((status, code, message, retry_after)) = state.script.next() {
        return with_retry_after(twilio_error(status, code, &message), retry_after);
    }
    let param = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    if param("To").is_none() {
        return twilio_error(400, 21604, "A 'To' phone number is required.");
    }
    if param("From").is_none() && param("MessagingServiceSid").is_none() {
        return twilio_error(400, 21603, "A 'From' phone number is required.");
    }
    if param("Body").is_none() && param("MediaUrl").is_none() {
        return twilio_error(400, 21602, "Message body is required.");
    }
    let sid = format!("SM{n:032x}");
    let body = json!({
        "account_sid": ACCOUNT_SID,
        "api_version": "2010-04-01",
        "body": param("Body").unwrap_or_default(),
        "direction": "outbound-api",
        "error_code": null,
        "error_message": null,
        "from": param("From"),
        "num_media": if param("MediaUrl").is_some() { "1" } else { "0" },
        "num_segments": "1",
        "sid": sid,
        "status": "queued",
        "to": param("To"),
        "uri": format!("/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}.json"),
    });
    (AxumStatus::CREATED, axum::Json(body)).into_response()
}

/// Queue a text reply and wait until the fake has it and the message is queued with its sid.
async fn reply_and_wait_queued(server: &TestServer, fake: &FakeTwilio, conversation_id: i64, text: &str) -> (i64, String) {
    let before = fake.received().len();
    let queued = server.reply_and_wait_for(conversation_id, &json!({"text": text}), "queued").await;
    fake.wait_for(before + 1).await;
    queued
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

async fn signed_sms_is_stored_intact_answered_with_twiml_and_not_duplicated() {
    let server = start(None).await;
    let body = fixture("twilio/inbound_sms.form");
    post_signed(&server, &body).await;

    let conversations = server.conversations().await;
    assert_eq!(conversations.len(), 1);
    let conversation = &conversations[0];
    assert_eq!(conversation["channel_id"], CHANNEL);
    assert_eq!(conversation["contact"]["phone"], CUSTOMER);
    let expected = "Olá! Meu pedido #4521 ainda não chegou 📦🙁";
    assert_eq!(conversation["last_message"]["text"], expected);
    let conversation_id = conversation["id"].as_i64().unwrap();
    let messages = server.messages(conversation_id).await;
    assert_eq!(messages.len(), 1);
    let message = &messages[0];
    assert_eq!(message["direction"], "inbound");
    assert_eq!(message["kind"], "text");
    assert_eq!(message["text"], expected);
    assert_eq!(message["external_id"], "SM1f0e8ae6ade43cb3c0ce4525424e404f");
    assert_eq!(message["contact_identity"]["external_id"], CUSTOMER);
    assert_eq!(message["contact_identity"]["phone"], CUSTOMER);
    assert_eq!(message["extra"]["from_city"], "SAN FRANCISCO");

    // Twilio redelivers (same MessageSid): answered the same, stored once.
    post_signed(&server, &body).await;
    assert_eq!(server.messages(conversation_id).await.len(), 1, "redelivery must not duplicate");

    // A webhook URL with a query string is signed with it; Twilio may also sign it with :443.
    let second = inbound_form("SM00000000000000000000000000000002", "Alguma novidade? 🤔");
    let url = format!("{WEBHOOK_URL}?tenant=acme&lang=pt");
    let response = post_form(&server, "?tenant=acme&lang=pt", &second, Some(&twilio_signature(AUTH_TOKEN, &url, &second))).await;
    assert_twiml(response).await;
    let third = inbound_form("SM00000000000000000000000000000003", "Oi?");
    let with_port = "https://switchboard.test:443/webhooks/sms";
    let response = post_form(&server, "", &third, Some(&twilio_signature(AUTH_TOKEN, with_port, &third))).await;
    assert_twiml(response).await;
    let texts: Vec<Value> = server.messages(conversation_id).await.iter().map(|m| m["text"].clone()).collect();
    assert_eq!(texts, [json!(expected), json!("Alguma novidade? 🤔"), json!("Oi?")]);
    server.stop().await;
}

async fn bad_signatures_and_malformed_bodies_are_refused() {
    let server = start(None).await;
    let body = fixture("twilio/inbound_sms.form");
    let good = twilio_signature(AUTH_TOKEN, WEBHOOK_URL, &body);

    let tampered = String::from_utf8(body.clone()).unwrap().replace("Body=Ol%C3%A1", "Body=Tchau").into_bytes();
    assert_ne!(tampered, body);
    let cases: Vec<(&str, Vec<u8>, Option<String>)> = vec![
        ("wrong token", body.clone(), Some(twilio_signature("not-the-token", WEBHOOK_URL, &body))),
        ("missing header", body.clone(), None),
        ("garbage", body.clone(), Some("bm90IGEgc2lnbmF0dXJl".into())),
        ("other path", body.clone(), Some(twilio_signature(AUTH_TOKEN, "https://switchboard.test/webhooks/telegram", &body))),
        ("other scheme", body.clone(), Some(twilio_signature(AUTH_TOKEN, "http://switchboard.test/webhooks/sms", &body))),
        ("tampered body", tampered, Some(good.clone())),
    ];
    for (what, body, signature) in cases {
        let response = post_form(&server, "", &body, signature.as_deref()).await;
        assert_eq!(error_code(response, StatusCode::UNAUTHORIZED).await, "bad_signature", "{what}");
    }
    // The signature covers the query string too.
    let response = post_form(&server, "?x=1", &body, Some(&good)).await;
    assert_eq!(error_code(response, StatusCode::UNAUTHORIZED).await, "bad_signature");

    // Correctly signed but not a Twilio message: 400.
    for malformed in [
        &b"AccountSid=AC1f0e8ae6ade43cb3c0ce4525424e404f&From=%2B14155550142&Body=hi"[..],
        b"MessageSid=SM1f0e8ae6ade43cb3c0ce4525424e404f&To=%2B15005550006",
        b"MessageSid=SM1f0e8ae6ade43cb3c0ce4525424e404f&From=%2B14155550142&Body=&NumMedia=3",
    ] {
        let response = post_form(&server, "", malformed, Some(&twilio_signature(AUTH_TOKEN, WEBHOOK_URL, malformed))).await;
        assert_eq!(error_code(response, StatusCode::BAD_REQUEST).await, "malformed_payload");
    }
    // Twilio webhooks are POSTed; this channel has no GET handshake.
    let get = server.client.get(format!("{}/webhooks/{CHANNEL}?MessageSid=SM1", server.base)).send().await.unwrap();
    assert_eq!(error_code(get, StatusCode::FORBIDDEN).await, "handshake_rejected");

    assert!(server.conversations().await.is_empty(), "refused webhooks store nothing");
    server.stop().await;
}

async fn mms_keeps_media_kind_url_and_mime_type() {
    let server = start(None).await;
    post_signed(&server, &fixture("twilio/inbound_mms.form")).await;
    let conversation_id = server.conversations().await[0]["id"].as_i64().unwrap();
    let message = &server.messages(conversation_id).await[0];
    assert_eq!(message["kind"], "image");
    assert_eq!(message["text"], "Foto do produto danificado 📷");
    let attachments = message["attachments"].as_array().unwrap();
    assert_eq!(attachments.len(), 2);
    let media_base = format!("https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/MM8c3a1f55b2e94d0c9a7e6b5d4c3b2a19/Media");
    assert_eq!(attachments[0]["kind"], "image");
    assert_eq!(attachments[0]["mime_type"], "image/jpeg");
    assert_eq!(attachments[0]["url"], format!("{media_base}/ME0a1b2c3d4e5f60718293a4b5c6d7e8f9"));
    assert_eq!(attachments[0]["reference"], attachments[0]["url"]);
    assert_eq!(attachments[1]["kind"], "document");
    assert_eq!(attachments[1]["mime_type"], "application/pdf");
    assert_eq!(attachments[1]["url"], format!("{media_base}/ME9f8e7d6c5b4a39281706f5e4d3c2b1a0"));
    server.stop().await;
}

async fn agent_reply_reaches_twilio_and_status_callbacks_move_it_forward() {
    let fake = FakeTwilio::start().await;
    let server = start(Some(&fake)).await;
    let conversation_id = ingest_sms(&server).await;

    let text = "Olá! Seu pedido sai hoje 🚚 — obrigado pela paciência";
    let (message_id, sid) = reply_and_wait_queued(&server, &fake, conversation_id, text).await;
    let request = &fake.received()[0];
    assert_eq!(request.path, format!("/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"));
    assert_eq!(request.authorization.as_deref(), Some(basic_auth().as_str()));
    assert_eq!(request.content_type.as_deref(), Some("application/x-www-form-urlencoded"));
    assert_eq!(request.param("To"), Some(CUSTOMER));
    assert_eq!(request.param("From"), Some(FROM));
    assert_eq!(request.param("Body"), Some(text));
    assert_eq!(sid, format!("SM{:032x}", 1), "the receipt keeps Twilio's sid");

    // Status callbacks: sent, then delivered; a late `sent` does not move it back.
    let status_of = async |server: &TestServer, id: i64| server.message(conversation_id, id).await;
    post_signed(&server, &status_form("status_sent.form", &sid)).await;
    assert_eq!(status_of(&server, message_id).await["status"], "sent");
    post_signed(&server, &status_form("status_delivered.form", &sid)).await;
    assert_eq!(status_of(&server, message_id).await["status"], "delivered");
    post_signed(&server, &status_form("status_sent.form", &sid)).await;
    assert_eq!(status_of(&server, message_id).await["status"], "delivered");

    // Undelivered with an ErrorCode: failed, keeping Twilio's code.
    let (second_id, second_sid) = reply_and_wait_queued(&server, &fake, conversation_id, "Você está aí?").await;
    post_signed(&server, &status_form("status_sent.form", &second_sid)).await;
    post_signed(&server, &status_form("status_undelivered.form", &second_sid)).await;
    let failed = status_of(&server, second_id).await;
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["error"]["code"], "30003");
    assert_eq!(failed["error"]["message"], "Unreachable destination handset");

    // Media goes out as MediaUrl with the caption as Body.
    let (status, _) = server
        .api_post(
            &format!("/api/v1/conversations/{conversation_id}/messages"),
            &json!({"content": {"type": "media", "kind": "image", "url": "https://cdn.example.com/recibo.jpg", "caption": "Recibo 🧾"}}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let received = fake.wait_for(3).await;
    assert_eq!(received[2].param("MediaUrl"), Some("https://cdn.example.com/recibo.jpg"));
    assert_eq!(received[2].param("Body"), Some("Recibo 🧾"));
    assert_eq!(received[2].param("To"), Some(CUSTOMER));

    // Templates are not offered on SMS.
    let (status, error) = server
        .api_post(
            &format!("/api/v1/conversations/{conversation_id}/messages"),
            &json!({"content": {"type": "template", "name": "x", "language": "en"}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    server.stop().await;
}

async fn outbox_retries_rate_limits_and_outages_and_fails_permanent_errors_at_once() {
    let fake = FakeTwilio::start().await;
    let server = start(Some(&fake)).await;
    let conversation_id = ingest_sms(&server).await;

    // 429 with Retry-After: 1 (the outbox's own backoff here is 50 ms), then a 500.
    fake.fail_next(429, 20429, "Too Many Requests", Some(1));
    fake.fail_next(500, 20500, "Internal Server Error", None);
    let (message_id, _) = reply_and_wait_queued(&server, &fake, conversation_id, "tentando de novo").await;
    let received = fake.received();
    assert_eq!(received.len(), 3, "two failures and one success");
    let waited = received[1].at.duration_since(received[0].at);
    assert!(waited >= Duration::from_millis(1000), "retried after {waited:?}, before Retry-After");
    assert!(received.iter().all(|r| r.param("Body") == Some("tentando de novo")));
    assert_eq!(server.message(conversation_id, message_id).await["status"], "queued");

    // Invalid 'To' and unsubscribed recipient: failed at once, with Twilio's code, no retry.
    for (code, message) in [(21211, "The 'To' number +14155550142 is not a valid phone number."), (21610, "Attempt to send to unsubscribed recipient")] {
        let before = fake.received().len();
        fake.fail_next(400, code, message, None);
        let (status, reply) = server.api_post(&format!("/api/v1/conversations/{conversation_id}/messages"), &json!({"text": "x"})).await;
        assert_eq!(status, StatusCode::ACCEPTED);
        let id = reply["id"].as_i64().unwrap();
        let failed = server
            .eventually("the reply to fail", async |s| {
                let m = s.message(conversation_id, id).await;
                (m["status"] == "failed").then_some(m)
            })
            .await;
        assert_eq!(failed["error"]["code"], code.to_string());
        assert_eq!(failed["error"]["message"], message);
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(fake.received().len(), before + 1, "a non-retryable failure is not retried");
    }
    server.stop().await;
}

async fn stop_refuses_later_replies_until_start() {
    let fake = FakeTwilio::start().await;
    let server = start(Some(&fake)).await;
    let conversation_id = ingest_sms(&server).await;
    let reply = async |server: &TestServer| {
        server.api_post(&format!("/api/v1/conversations/{conversation_id}/messages"), &json!({"text": "Promoção 🎉"})).await
    };
    let (status, _) = reply(&server).await;
    assert_eq!(status, StatusCode::ACCEPTED);

    // STOP (any case, surrounding spaces) is stored as a message and opts the number out.
    post_signed(&server, &fixture("twilio/inbound_stop.form")).await;
    let messages = server.messages(conversation_id).await;
    assert!(messages.iter().any(|m| m["external_id"] == "SM7a6b5c4d3e2f10998877665544332211" && m["text"] == " Stop "));
    let (status, error) = reply(&server).await;
    assert_eq!(status, StatusCode::CONFLICT, "{error}");
    assert_eq!(error["error"]["code"], "unreachable");
    assert!(error["error"]["message"].as_str().unwrap().contains("opted out"), "{error}");
    // The refused send is audited: who tried, where, what.
    let audit = server.api_get("/api/v1/audit?action=reply.refused_opted_out").await;
    let entries = audit["items"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{audit}");
    assert_eq!(entries[0]["subject"], format!("conversation:{conversation_id}"));
    assert_eq!(entries[0]["detail"]["channel_id"], CHANNEL);
    assert_eq!(entries[0]["detail"]["kind"], "text");
    assert_eq!(entries[0]["actor"], "admin");
    let contact_id = server.conversations().await[0]["contact"]["id"].as_i64().unwrap();
    let contact = server.api_get(&format!("/api/v1/contacts/{contact_id}")).await;
    assert_eq!(contact["identities"][0]["opted_out"], true);

    // START lifts it.
    post_signed(&server, &inbound_form("SM7a6b5c4d3e2f10998877665544332212", "start")).await;
    let (status, error) = reply(&server).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{error}");
    let contact = server.api_get(&format!("/api/v1/contacts/{contact_id}")).await;
    assert_eq!(contact["identities"][0]["opted_out"], false);

    // A sentence containing the word is just a message.
    post_signed(&server, &inbound_form("SM7a6b5c4d3e2f10998877665544332213", "Please stop calling me at work")).await;
    let (status, _) = reply(&server).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    server.stop().await;
}
