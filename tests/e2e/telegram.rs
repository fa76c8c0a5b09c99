//! Telegram Bot API end to end: webhook updates with the secret token in, the REST API, replies
//! through the outbox to a loopback fake of the Bot API, its rate limits (`retry_after`) and
//! errors.

use crate::support::*;
use axum::extract::{Path as AxumPath, State};
use axum::http::StatusCode as AxumStatus;
use axum::response::IntoResponse;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

on_both_backends!(
    updates_are_stored_intact_once_and_edits_are_new_versions,
    wrong_or_missing_secret_is_401_and_malformed_updates_are_400,
    agent_replies_reach_the_bot_api_as_documented,
    retry_after_is_honoured_outages_retried_and_blocked_bots_fail_at_once,
);

const CHANNEL: &str = "telegram";
const BOT_TOKEN: &str = "7012345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";
const SECRET_TOKEN: &str = "tg-webhook-secret_4f9c-A1";
const CHAT_ID: i64 = 284619037;

fn channel_toml(fake: Option<SocketAddr>) -> String {
    let host = fake.map(|a| a.to_string()).unwrap_or_else(|| "127.0.0.1:9".into());
    format!(
        r#"
[[channels]]
id = "{CHANNEL}"
plugin = "telegram"
allowed_hosts = ["{host}"]
config = {{ api_base = "http://{host}" }}
secrets = {{ bot_token = "{BOT_TOKEN}", secret_token = "{SECRET_TOKEN}" }}
"#
    )
}

async fn start(fake: Option<&FakeBotApi>) -> TestServer {
    TestServer::start_with(None, &channel_toml(fake.map(|f| f.addr))).await
}

async fn post_update(server: &TestServer, body: &[u8], secret: Option<&str>) -> reqwest::Response {
    let mut request = server
        .client
        .post(format!("{}/webhooks/{CHANNEL}", server.base))
        .header("content-type", "application/json")
        .body(body.to_vec());
    if let Some(secret) = secret {
        request = request.header("x-telegram-bot-api-secret-token", secret);
    }
    request.send().await.unwrap()
}

/// Post an update with the right secret and insist on 2xx; returns the host's JSON answer.
async fn post_ok(server: &TestServer, body: &[u8]) -> Value {
    expect_success(post_update(server, body, Some(SECRET_TOKEN)).await).await
}

/// Ingest the text fixture; returns the conversation id.
async fn ingest_text(server: &TestServer) -> i64 {
    post_ok(server, &fixture("telegram/text.json")).await;
    server.only_conversation_id().await
}

// ---------------------------------------------------------------------------------------
// Fake Bot API
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Received {
    /// `bot<token>` as it appeared in the path.
    bot: String,
    method: String,
    body: Value,
    at: Instant,
}

#[derive(Clone, Default)]
struct FakeState {
    received: Requests<Received>,
    /// (HTTP status, description, retry_after seconds), used in order.
    script: Script<(u16, String, Option<u64>)>,
}

/// A loopback stand-in for `POST /bot{token}/{method}`: the token in the path must be ours
/// (401 `Unauthorized` otherwise), success is `{"ok": true, "result": Message}`, and scripted
/// failures use the Bot API's `{"ok": false, "error_code", "description", "parameters"}`.
struct FakeBotApi {
    addr: SocketAddr,
    state: FakeState,
}

impl FakeBotApi {
    async fn start() -> Self {
        let state = FakeState::default();
        let app = axum::Router::new().route("/{bot}/{method}", axum::routing::post(bot_method)).with_state(state.clone());
        Self { addr: serve_fake(app).await, state }
    }

    fn fail_next(&self, status: u16, description: &str, retry_after: Option<u64>) {
        self.state.script.push((status, description.to_string(), retry_after));
    }

    fn received(&self) -> Vec<Received> {
        self.state.received.all()
    }

    async fn wait_for(&self, count: usize) -> Vec<Received> {
        self.state.received.wait_for(count, "the fake Bot API").await
    }
}

fn bot_error(status: u16, description: &str, retry_after: Option<u64>) -> axum::response::Response {
    let mut body = json!({"ok": false, "error_code": status, "description": description});
    if let Some(seconds) = retry_after {
        body["parameters"] = json!({"retry_after": seconds});
    }
    (AxumStatus::from_u16(status).unwrap(), axum::Json(body)).into_response()
}

async fn bot_method(
    State(state): State<FakeState>,
    AxumPath((bot, method)): AxumPath<(String, String)>,
    body: axum::body::Bytes,
) -> axum::response::Response {
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let n = state.received.record(Received { bot: bot.clone(), method: method.clone(), body: parsed.clone(), at: Instant::now() }) as i64;
    if bot != format!("bot{BOT_TOKEN}") {
        return bot_error(401, "Unauthorized", None);
    }
    if let Some((status, description, retry_after)) = state.script.next() {
        return bot_error(status, &description, retry_after);
    }
    let Some(chat_id) = parsed["chat_id"].as_i64() else {
        return bot_error(400, "Bad Request: chat not found", None);
    };
    let mut result = json!({
        "message_id": 1300 + n,
        "from": {"id": 7012345678_i64, "is_bot": true, "first_name": "Loja Suporte", "username": "loja_suporte_bot"},
        "chat": {"id": chat_id, "first_name": "Анна", "last_name": "Кузнецова", "username": "anna_kuz", "type": "private"},
        "date": 1750003600
    });
    match method.as_str() {
        "sendMessage" => match parsed["text"].as_str() {
            Some(text) if !text.is_empty() => result["text"] = json!(text),
            _ => return bot_error(400, "Bad Request: message text is empty", None),
        },
        "sendPhoto" => match parsed["photo"].as_str() {
            Some(_) => result["photo"] = json!([{"file_id": "AgACphoto", "file_unique_id": "u", "width": 800, "height": 600}]),
            None => return bot_error(400, "Bad Request: there is no photo in the request", None),
        },
        _ => return bot_error(404, "Not Found", None),
    }
    axum::Json(json!({"ok": true, "result": result})).into_response()
}

/// Queue a reply and wait until it is sent; returns (message id, external id).
async fn reply_and_wait_sent(server: &TestServer, fake: &FakeBotApi, conversation_id: i64, body: Value) -> (i64, String) {
    let before = fake.received().len();
    let sent = server.reply_and_wait_for(conversation_id, &body, "sent").await;
    fake.wait_for(before + 1).await;
    sent
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

async fn updates_are_stored_intact_once_and_edits_are_new_versions() {
    let server = start(None).await;
    let reply = post_ok(&server, &fixture("telegram/text.json")).await;
    assert_eq!(reply["new_messages"], 1, "{reply}");

    let conversations = server.conversations().await;
    assert_eq!(conversations.len(), 1);
    let conversation = &conversations[0];
    assert_eq!(conversation["channel_id"], CHANNEL);
    assert_eq!(conversation["contact"]["display_name"], "Анна Кузнецова");
    let expected = "Здравствуйте! Где мой заказ #7781? 📦🙏";
    assert_eq!(conversation["last_message"]["text"], expected);
    let conversation_id = conversation["id"].as_i64().unwrap();
    let message = &server.messages(conversation_id).await[0];
    assert_eq!(message["kind"], "text");
    assert_eq!(message["text"], expected);
    assert_eq!(message["external_id"], "284619037:1287");
    assert_eq!(message["provider_timestamp"], 1_750_003_200_000_i64);
    assert_eq!(message["contact_identity"]["external_id"], "284619037");
    let contact_id = conversation["contact"]["id"].as_i64().unwrap();
    let contact = server.api_get(&format!("/api/v1/contacts/{contact_id}")).await;
    assert_eq!(contact["identities"][0]["username"], "anna_kuz");

    // Telegram redelivers the same update: stored once.
    let again = post_ok(&server, &fixture("telegram/text.json")).await;
    assert_eq!((again["new_messages"].clone(), again["duplicates"].clone()), (json!(0), json!(1)));

    // An edit is a new version that names the original.
    let edit = post_ok(&server, &fixture("telegram/edited.json")).await;
    assert_eq!(edit["new_messages"], 1);
    let messages = server.messages(conversation_id).await;
    assert_eq!(messages.len(), 2);
    let edited = messages.iter().find(|m| m["external_id"] == "284619037:1287:edit:1750003290").expect("edit stored");
    assert_eq!(edited["text"], "Здравствуйте! Где мой заказ #7782? 📦🙏");
    assert_eq!(edited["extra"]["edit_of"], "284619037:1287");

    // A photo: the largest size, its caption, and the message it replies to.
    post_ok(&server, &fixture("telegram/photo.json")).await;
    let photo = server.messages(conversation_id).await.into_iter().find(|m| m["kind"] == "image").expect("photo stored");
    assert_eq!(photo["text"], "Коробка пришла повреждённой 😞");
    assert_eq!(photo["attachments"][0]["reference"], "AgACAgIAAxkBAAIFCGZ1large_1280x960");
    assert_eq!(photo["reply_to_external_id"], "284619037:1286");
    post_ok(&server, &fixture("telegram/document.json")).await;
    let document = server.messages(conversation_id).await.into_iter().find(|m| m["kind"] == "document").expect("document stored");
    assert_eq!(document["attachments"][0]["mime_type"], "application/pdf");
    assert_eq!(document["attachments"][0]["filename"], "счёт-7781.pdf");

    // Other update types are acknowledged and produce nothing.
    let other = post_ok(&server, &fixture("telegram/callback_query.json")).await;
    assert_eq!(other["events"], 0);
    assert_eq!(server.messages(conversation_id).await.len(), 4);
    server.stop().await;
}

async fn wrong_or_missing_secret_is_401_and_malformed_updates_are_400() {
    let server = start(None).await;
    let body = fixture("telegram/text.json");
    for secret in [Some("wrong-secret"), Some(""), Some("tg-webhook-secret_4f9c-A"), None] {
        let response = post_update(&server, &body, secret).await;
        assert_eq!(error_code(response, StatusCode::UNAUTHORIZED).await, "bad_signature", "{secret:?}");
    }
    for malformed in [
        &b"{\"update_id\": 1, \"message\": "[..],
        br#"{"message":{"message_id":1,"chat":{"id":1,"type":"private"},"date":1,"text":"no update_id"}}"#,
        br#"{"update_id":912345690,"message":{"message_id":"x","chat":{"id":1,"type":"private"},"date":1,"text":"x"}}"#,
    ] {
        let response = post_update(&server, malformed, Some(SECRET_TOKEN)).await;
        assert_eq!(error_code(response, StatusCode::BAD_REQUEST).await, "malformed_payload");
    }
    // Telegram has no handshake: a GET is a handshake that matches nothing configured.
    let get = server.client.get(format!("{}/webhooks/{CHANNEL}", server.base)).send().await.unwrap();
    assert_eq!(error_code(get, StatusCode::FORBIDDEN).await, "handshake_rejected");
    assert!(server.conversations().await.is_empty(), "refused updates store nothing");
    server.stop().await;
}

async fn agent_replies_reach_the_bot_api_as_documented() {
    let fake = FakeBotApi::start().await;
    let server = start(Some(&fake)).await;
    let conversation_id = ingest_text(&server).await;

    let text = "Добрый день, Анна! Заказ уже в пути 🚚";
    let (message_id, external_id) = reply_and_wait_sent(&server, &fake, conversation_id, json!({"text": text})).await;
    let request = &fake.received()[0];
    assert_eq!(request.bot, format!("bot{BOT_TOKEN}"));
    assert_eq!(request.method, "sendMessage");
    assert_eq!(request.body, json!({"chat_id": CHAT_ID, "text": text}));
    assert_eq!(external_id, "284619037:1301");
    assert_eq!(server.message(conversation_id, message_id).await["contact_identity"]["external_id"], "284619037");

    // A reply to a stored message carries reply_parameters with Telegram's message id.
    let (_, _) = reply_and_wait_sent(&server, &fake, conversation_id, json!({"text": "Sim!", "reply_to": "284619037:1287"})).await;
    let request = &fake.received()[1];
    assert_eq!(request.body["reply_parameters"]["message_id"], 1287);

    // A photo by URL goes to sendPhoto with its caption.
    let media = json!({"content": {"type": "media", "kind": "image", "url": "https://cdn.example.com/rastreio.png", "caption": "Трек-номер 📮"}});
    reply_and_wait_sent(&server, &fake, conversation_id, media).await;
    let request = &fake.received()[2];
    assert_eq!(request.method, "sendPhoto");
    assert_eq!(request.body, json!({"chat_id": CHAT_ID, "photo": "https://cdn.example.com/rastreio.png", "caption": "Трек-номер 📮"}));
    server.stop().await;
}

async fn retry_after_is_honoured_outages_retried_and_blocked_bots_fail_at_once() {
    let fake = FakeBotApi::start().await;
    let server = start(Some(&fake)).await;
    let conversation_id = ingest_text(&server).await;

    // 429 with retry_after 1: the retry waits at least that long (the outbox backoff here is 50 ms).
    fake.fail_next(429, "Too Many Requests: retry after 1", Some(1));
    fake.fail_next(502, "Bad Gateway", None);
    reply_and_wait_sent(&server, &fake, conversation_id, json!({"text": "devagar"})).await;
    let received = fake.received();
    assert_eq!(received.len(), 3, "429, 502, then success");
    let waited = received[1].at.duration_since(received[0].at);
    assert!(waited >= Duration::from_millis(1000), "retried after {waited:?}, before retry_after");
    assert!(received.iter().all(|r| r.body["text"] == "devagar"));

    // The user blocked the bot: final, with Telegram's code and description.
    fake.fail_next(403, "Forbidden: bot was blocked by the user", None);
    let (status, reply) = server.api_post(&format!("/api/v1/conversations/{conversation_id}/messages"), &json!({"text": "olá?"})).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let failed = server.wait_for_status(conversation_id, reply["id"].as_i64().unwrap(), "failed").await;
    assert_eq!(failed["error"]["code"], "403");
    assert_eq!(failed["error"]["message"], "Forbidden: bot was blocked by the user");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(fake.received().len(), 4, "a non-retryable failure is not retried");

    // Chat not found: final too.
    fake.fail_next(400, "Bad Request: chat not found", None);
    let (_, reply) = server.api_post(&format!("/api/v1/conversations/{conversation_id}/messages"), &json!({"text": "?"})).await;
    let failed = server.wait_for_status(conversation_id, reply["id"].as_i64().unwrap(), "failed").await;
    assert_eq!(failed["error"]["code"], "400");
    server.stop().await;
}
