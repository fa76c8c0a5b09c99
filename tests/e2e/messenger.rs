//! Facebook Messenger end to end: signed Page webhooks in, REST API out, replies through the
//! outbox to a loopback fake of the Send API, echoes, delivery and read watermarks.
//!
//! The fake Send API ([`FakeSendApi`]) is shared with the Instagram tests (`instagram.rs`),
//! whose Send API is the same.

use crate::support::*;
use axum::extract::{Path as AxumPath, State};
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use axum::response::IntoResponse;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::Duration;

on_both_backends!(
    signed_text_webhook_is_stored_intact_and_redelivery_is_not_duplicated,
    signatures_handshake_and_malformed_bodies_are_refused,
    media_quick_replies_postbacks_and_stickers_are_stored,
    agent_reply_reaches_the_send_api_and_its_echo_is_not_stored_twice,
    outbox_retries_throttling_and_outages_and_fails_a_closed_window_at_once,
    a_refused_page_token_fails_without_retry,
    messaging_tag_config_tags_every_reply,
    delivery_and_read_watermarks_move_replies_forward,
);

pub const MESSENGER_APP_SECRET: &str = "messenger-app-secret-8c1d";
pub const MESSENGER_VERIFY_TOKEN: &str = "messenger-verify-token";
pub const MESSENGER_PAGE_TOKEN: &str = "EAAGm0PX4ZCpsBAMessengerPageToken";
pub const PAGE_ID: &str = "104325212345678";
pub const PSID: &str = "6839371836123456";
const TEXT_MID: &str = "m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM_QPpz5jdCK48PnKAjSdjfipqxqMvK8ma6AC8fplwlqLP_5cgXIbu7I3rBN0P";
const TEXT: &str = "Olá! Preciso de ajuda com o pedido #12345 🙏";
/// The text of `messenger/echo.json`.
const REPLY: &str = "Claro! Vou verificar o pedido 📦";

// ---------------------------------------------------------------------------------------
// Fake Send API (Messenger and Instagram)
// ---------------------------------------------------------------------------------------

/// A request the fake Send API received.
#[derive(Debug, Clone)]
pub struct SendRecord {
    pub path: String,
    pub authorization: Option<String>,
    pub body: Value,
}

#[derive(Clone)]
struct SendApiState {
    token: String,
    /// Messenger refuses a message without `messaging_type`; Instagram does not need one.
    require_messaging_type: bool,
    id_prefix: String,
    received: Requests<SendRecord>,
    /// Scripted answers `(status, body, retry-after seconds)`, used in order before success.
    script: Script<(u16, Value, Option<u64>)>,
}

/// A loopback stand-in for the Send API's `POST /v21.0/{id}/messages`, as documented: bearer
/// auth (`401` with OAuth error 190 otherwise), `recipient.id` and `message` required
/// (`400` code 100 otherwise), `{"recipient_id", "message_id"}` on success, and scripted
/// failures.
pub struct FakeSendApi {
    pub addr: SocketAddr,
    state: SendApiState,
}

impl FakeSendApi {
    pub async fn start(token: &str, require_messaging_type: bool, id_prefix: &str) -> Self {
        let state = SendApiState {
            token: token.to_string(),
            require_messaging_type,
            id_prefix: id_prefix.to_string(),
            received: Requests::default(),
            script: Script::default(),
        };
        let app = axum::Router::new()
            .route("/v21.0/{account_id}/messages", axum::routing::post(send_api_messages))
            .with_state(state.clone());
        Self { addr: serve_fake(app).await, state }
    }

    /// Answer the next request with `status` and a Graph error body.
    pub fn fail_next(&self, status: u16, code: i64, subcode: Option<i64>, message: &str, retry_after_secs: Option<u64>) {
        let mut error = json!({"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AkQ3xYz0Bv1"});
        if let Some(subcode) = subcode {
            error["error_subcode"] = json!(subcode);
        }
        self.state.script.push((status, json!({ "error": error }), retry_after_secs));
    }

    /// Answer the next request with a `5xx` and a body that is not a Graph error.
    pub fn fail_next_plain(&self, status: u16) {
        self.state.script.push((status, Value::String("upstream connect error".into()), None));
    }

    pub fn received(&self) -> Vec<SendRecord> {
        self.state.received.all()
    }
}

fn graph_error(status: AxumStatus, code: i64, message: &str) -> axum::response::Response {
    let body = json!({"error": {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "x"}});
    (status, axum::Json(body)).into_response()
}

async fn send_api_messages(
    State(state): State<SendApiState>,
    AxumPath(account_id): AxumPath<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> axum::response::Response {
    let authorization = headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_string);
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let n = state.received.record(SendRecord {
        path: format!("/v21.0/{account_id}/messages"),
        authorization: authorization.clone(),
        body: parsed.clone(),
    });
    if authorization.as_deref() != Some(&format!("Bearer {}", state.token)) {
        return graph_error(AxumStatus::UNAUTHORIZED, 190, "Invalid OAuth access token - Cannot parse access token");
    }
    if let Some((status, body, retry_after)) = state.script.next() {
        let response = match body {
            Value::String(text) => (AxumStatus::from_u16(status).unwrap(), text).into_response(),
            body => (AxumStatus::from_u16(status).unwrap(), axum::Json(body)).into_response(),
        };
        return with_retry_after(response, retry_after);
    }
    let Some(recipient) = parsed["recipient"]["id"].as_str().map(str::to_string) else {
        return graph_error(AxumStatus::BAD_REQUEST, 100, "(#100) param recipient must be non-empty.");
    };
    let message = &parsed["message"];
    if !(message["text"].is_string() || message["attachment"]["payload"]["url"].is_string()) {
        return graph_error(AxumStatus::BAD_REQUEST, 100, "(#100) Must send either message or state");
    }
    if state.require_messaging_type && !parsed["messaging_type"].is_string() {
        return graph_error(AxumStatus::BAD_REQUEST, 100, "(#100) The parameter messaging_type is required");
    }
    axum::Json(json!({"recipient_id": recipient, "message_id": format!("{}{n:06}", state.id_prefix)})).into_response()
}

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// The `[[channels]]` entry of a Messenger instance whose Send API is `api`.
fn channel_toml(api: SocketAddr, token: &str, extra_config: &str) -> String {
    format!(
        r#"
[[channels]]
id = "messenger"
plugin = "messenger"
allowed_hosts = ["{api}"]
config = {{ page_id = "{PAGE_ID}", api_base = "http://{api}/v21.0"{extra_config} }}
secrets = {{ app_secret = "{MESSENGER_APP_SECRET}", verify_token = "{MESSENGER_VERIFY_TOKEN}", page_access_token = "{token}" }}
"#
    )
}

async fn start(api: &FakeSendApi) -> TestServer {
    TestServer::start_with(None, &channel_toml(api.addr, MESSENGER_PAGE_TOKEN, "")).await
}

async fn start_api() -> FakeSendApi {
    FakeSendApi::start(MESSENGER_PAGE_TOKEN, true, "m_9xK2pQ7vLw3nR8tYb1cZ4dF6gH0jM5sA-").await
}

/// Post a correctly signed Messenger webhook and insist on 2xx; returns the JSON answer.
async fn post(server: &TestServer, body: &[u8]) -> Value {
    server.post_meta_signed("messenger", MESSENGER_APP_SECRET, body).await
}

/// Post the text fixture and return the (only) conversation's id.
async fn ingest_text(server: &TestServer) -> i64 {
    post(server, &fixture("messenger/text.json")).await;
    server.only_conversation_id().await
}

/// Queue a text reply and wait until it is sent; returns (message id, Send API message id).
async fn reply_and_wait_sent(server: &TestServer, conversation_id: i64, text: &str) -> (i64, String) {
    server.reply_and_wait_for(conversation_id, &json!({"text": text}), "sent").await
}

/// A fixture with `{{MID}}` and `{{WATERMARK}}` filled in.
fn filled(name: &str, mid: &str, watermark: u64) -> Vec<u8> {
    String::from_utf8(fixture(name)).unwrap().replace("{{MID}}", mid).replace("{{WATERMARK}}", &watermark.to_string()).into_bytes()
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

async fn signed_text_webhook_is_stored_intact_and_redelivery_is_not_duplicated() {
    let api = start_api().await;
    let server = start(&api).await;
    let body = fixture("messenger/text.json");
    let first = post(&server, &body).await;
    assert_eq!(first["new_messages"], 1, "{first}");

    let conversations = server.conversations().await;
    assert_eq!(conversations.len(), 1);
    let conversation = &conversations[0];
    assert_eq!(conversation["channel_id"], "messenger");
    assert_eq!(conversation["last_message"]["text"], TEXT);
    let conversation_id = conversation["id"].as_i64().unwrap();
    let messages = server.messages(conversation_id).await;
    assert_eq!(messages.len(), 1);
    let message = &messages[0];
    assert_eq!(message["direction"], "inbound");
    assert_eq!(message["kind"], "text");
    assert_eq!(message["text"], TEXT);
    assert_eq!(message["external_id"], TEXT_MID);
    assert_eq!(message["contact_identity"]["external_id"], PSID);

    let again = post(&server, &body).await;
    assert_eq!((again["new_messages"].as_i64(), again["duplicates"].as_i64()), (Some(0), Some(1)), "{again}");
    assert_eq!(server.messages(conversation_id).await.len(), 1, "redelivery must not duplicate");
    server.stop().await;
}

async fn signatures_handshake_and_malformed_bodies_are_refused() {
    let api = start_api().await;
    let server = start(&api).await;
    let body = String::from_utf8(fixture("messenger/text.json")).unwrap().replace("m_AG5H", "m_OTHER").into_bytes();

    // Wrong secret (WhatsApp's), garbage, missing, and a signature over re-serialised JSON.
    let reserialized = serde_json::to_vec(&serde_json::from_slice::<Value>(&body).unwrap()).unwrap();
    for signature in [
        Some(sign_with(APP_SECRET, &body)),
        Some("sha256=00".to_string()),
        Some(sign_with(MESSENGER_APP_SECRET, &reserialized)),
        None,
    ] {
        let response = server.post_webhook("messenger", &body, signature.as_deref()).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["code"], "bad_signature", "{error}");
    }
    assert!(server.conversations().await.is_empty(), "rejected webhooks store nothing");

    let handshake = |token: &str| {
        format!("{}/webhooks/messenger?hub.mode=subscribe&hub.verify_token={token}&hub.challenge=1158201444", server.base)
    };
    let ok = server.client.get(handshake(MESSENGER_VERIFY_TOKEN)).send().await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(ok.text().await.unwrap(), "1158201444");
    for token in ["nope", VERIFY_TOKEN] {
        let wrong = server.client.get(handshake(token)).send().await.unwrap();
        assert_eq!(wrong.status(), StatusCode::FORBIDDEN, "token {token}");
        let error: Value = wrong.json().await.unwrap();
        assert_eq!(error["error"]["code"], "handshake_rejected");
    }

    // Correctly signed, but not a Messenger payload.
    let instagram = fixture("instagram/text.json");
    let truncated = &body[..body.len() / 2];
    for bad in [truncated, b"not json", &instagram[..]] {
        let response = server.post_webhook("messenger", bad, Some(&sign_with(MESSENGER_APP_SECRET, bad))).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["code"], "malformed_payload", "{error}");
    }
    assert!(server.conversations().await.is_empty());
    server.stop().await;
}

async fn media_quick_replies_postbacks_and_stickers_are_stored() {
    let api = start_api().await;
    let server = start(&api).await;
    let media = post(&server, &fixture("messenger/media.json")).await;
    assert_eq!(media["new_messages"], 4, "{media}");
    let multi = post(&server, &fixture("messenger/multi.json")).await;
    assert_eq!(multi["new_messages"], 4, "{multi}");

    let mut all = Vec::new();
    for conversation in server.conversations().await {
        all.extend(server.messages(conversation["id"].as_i64().unwrap()).await);
    }
    assert_eq!(all.len(), 8);
    let by_kind = |kind: &str| all.iter().find(|m| m["kind"] == kind).unwrap_or_else(|| panic!("no {kind} in {all:#?}"));
    for (kind, media_kind, url_part) in [
        ("image", "image", "https://scontent.xx.fbcdn.net/v/t1.15752-9/448296421_"),
        ("audio", "audio", "/audioclip-1749416460000-2764.mp4?"),
        ("video", "video", "https://video.xx.fbcdn.net/v/"),
        ("document", "document", "/nota-fiscal-12345.pdf?"),
    ] {
        let message = by_kind(kind);
        let attachment = &message["attachments"][0];
        assert_eq!(attachment["kind"], media_kind);
        let reference = attachment["reference"].as_str().unwrap();
        assert!(reference.contains(url_part), "{reference}");
        assert_eq!(attachment["url"], reference);
        // Messenger gives neither a mime type nor a caption.
        assert!(attachment["mime_type"].is_null() && attachment["caption"].is_null(), "{attachment}");
    }
    let quick_reply = by_kind("interactive");
    assert_eq!(quick_reply["text"], "Sim, confirmar");
    assert_eq!(quick_reply["extra"]["payload"], "CONFIRM_ORDER_12345");
    let postback = by_kind("postback");
    assert_eq!(postback["text"], "Falar com um atendente");
    assert_eq!(postback["extra"]["payload"], "HUMAN_AGENT");
    assert_eq!(postback["external_id"], format!("postback:{PSID}:1749416521132"));
    assert_eq!(by_kind("sticker")["attachments"][0]["kind"], "sticker");
    let japanese = all.iter().find(|m| m["text"] == "こんにちは、注文はどこですか？").expect("the Japanese message");
    assert!(japanese["reply_to_external_id"].as_str().is_some_and(|mid| mid.starts_with("m_Qz3bWs8h")), "{japanese}");

    // A redelivered postback (no mid) keeps its derived id.
    let again = post(&server, &fixture("messenger/multi.json")).await;
    assert_eq!((again["new_messages"].as_i64(), again["duplicates"].as_i64()), (Some(0), Some(4)), "{again}");
    server.stop().await;
}

async fn agent_reply_reaches_the_send_api_and_its_echo_is_not_stored_twice() {
    let api = start_api().await;
    let server = start(&api).await;
    let conversation_id = ingest_text(&server).await;

    let (message_id, mid) = reply_and_wait_sent(&server, conversation_id, REPLY).await;
    let requests = api.received();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.path, format!("/v21.0/{PAGE_ID}/messages"));
    assert_eq!(request.authorization.as_deref(), Some(format!("Bearer {MESSENGER_PAGE_TOKEN}").as_str()));
    assert_eq!(request.body, json!({"recipient": {"id": PSID}, "messaging_type": "RESPONSE", "message": {"text": REPLY}}));
    assert_eq!(mid, "m_9xK2pQ7vLw3nR8tYb1cZ4dF6gH0jM5sA-000001");
    let message = server.message(conversation_id, message_id).await;
    assert_eq!(message["contact_identity"]["external_id"], PSID);

    // Meta echoes what the Page sent: ours is recognised by its mid and not stored again.
    let echo = post(&server, &filled("messenger/echo.json", &mid, 0)).await;
    assert_eq!((echo["new_messages"].as_i64(), echo["duplicates"].as_i64()), (Some(0), Some(1)), "{echo}");
    assert_eq!(server.messages(conversation_id).await.len(), 2);
    assert_eq!(server.message(conversation_id, message_id).await["status"], "sent");

    // An echo of something sent from the Page inbox is stored once, as outbound.
    let other = filled("messenger/echo.json", "m_sent_from_page_inbox_1", 0);
    assert_eq!(post(&server, &other).await["new_messages"], 1);
    assert_eq!(post(&server, &other).await["new_messages"], 0);
    let messages = server.messages(conversation_id).await;
    assert_eq!(messages.len(), 3);
    let inbox_echo = messages.iter().find(|m| m["external_id"] == "m_sent_from_page_inbox_1").unwrap();
    assert_eq!(inbox_echo["direction"], "outbound");
    assert_eq!(inbox_echo["text"], REPLY);

    // Media goes out as a reusable attachment by URL.
    let (status, queued) = server
        .api_post(
            &format!("/api/v1/conversations/{conversation_id}/messages"),
            &json!({"content": {"type": "media", "kind": "document", "url": "https://files.example.com/nota-fiscal-12345.pdf", "filename": "nota-fiscal-12345.pdf"}}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    server.wait_for_status(conversation_id, queued["id"].as_i64().unwrap(), "sent").await;
    assert_eq!(
        api.received()[1].body,
        json!({"recipient": {"id": PSID}, "messaging_type": "RESPONSE",
               "message": {"attachment": {"type": "file", "payload": {"url": "https://files.example.com/nota-fiscal-12345.pdf", "is_reusable": true}}}})
    );

    // Templates are not offered on Messenger.
    let (status, refused) = server
        .api_post(
            &format!("/api/v1/conversations/{conversation_id}/messages"),
            &json!({"content": {"type": "template", "name": "order_update", "language": "pt_BR"}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    server.stop().await;
}

async fn outbox_retries_throttling_and_outages_and_fails_a_closed_window_at_once() {
    let api = start_api().await;
    let server = start(&api).await;
    let conversation_id = ingest_text(&server).await;

    // HTTP 429; then code 613 on a plain 400 (the code alone says "throttled"); then an outage.
    api.fail_next(429, 613, None, "(#613) Calls to this api have exceeded the rate limit.", Some(1));
    api.fail_next(400, 613, None, "(#613) Calls to this api have exceeded the rate limit.", None);
    api.fail_next_plain(500);
    let started = std::time::Instant::now();
    let (message_id, _) = reply_and_wait_sent(&server, conversation_id, "retry me").await;
    let requests = api.received();
    assert_eq!(requests.len(), 4, "three failures, then success");
    assert!(requests.iter().all(|r| r.body["message"]["text"] == "retry me"));
    assert!(started.elapsed() >= Duration::from_millis(900), "Retry-After: 1 is honoured");
    assert_eq!(server.message(conversation_id, message_id).await["status"], "sent");

    api.fail_next(400, 10, Some(2018278), "(#10) This message is sent outside of allowed window.", None);
    let late = server.queue_text_reply(conversation_id, "late").await;
    let failed = server.wait_for_status(conversation_id, late, "failed").await;
    assert_eq!(failed["error"]["code"], "10", "{failed}");
    assert!(failed["error"]["message"].as_str().unwrap().contains("outside of allowed window"));
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(api.received().len(), 5, "a closed window is not retried");
    server.stop().await;
}

async fn a_refused_page_token_fails_without_retry() {
    let api = start_api().await;
    let server = TestServer::start_with(None, &channel_toml(api.addr, "EAA-revoked-token", "")).await;
    let conversation_id = ingest_text(&server).await;
    let message_id = server.queue_text_reply(conversation_id, "hello?").await;
    let failed = server.wait_for_status(conversation_id, message_id, "failed").await;
    assert_eq!(failed["error"]["code"], "190", "{failed}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(api.received().len(), 1);
    assert_eq!(api.received()[0].authorization.as_deref(), Some("Bearer EAA-revoked-token"));
    server.stop().await;
}

async fn messaging_tag_config_tags_every_reply() {
    let api = start_api().await;
    let server = TestServer::start_with(None, &channel_toml(api.addr, MESSENGER_PAGE_TOKEN, r#", messaging_tag = "HUMAN_AGENT""#)).await;
    let conversation_id = ingest_text(&server).await;
    reply_and_wait_sent(&server, conversation_id, "Seguimos com o seu caso").await;
    assert_eq!(
        api.received()[0].body,
        json!({"recipient": {"id": PSID}, "messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT", "message": {"text": "Seguimos com o seu caso"}})
    );
    server.stop().await;
}

async fn delivery_and_read_watermarks_move_replies_forward() {
    let api = start_api().await;
    let server = start(&api).await;
    let conversation_id = ingest_text(&server).await;
    let (first, first_mid) = reply_and_wait_sent(&server, conversation_id, "first").await;
    let status_of = async |id: i64| server.message(conversation_id, id).await["status"].clone();

    // `delivery` names the mid and carries a watermark.
    let later = now_ms() + 5_000;
    let report = post(&server, &filled("messenger/delivery.json", &first_mid, later)).await;
    assert!(report["events"].as_i64() == Some(2), "{report}");
    assert_eq!(status_of(first).await, "delivered");

    // `read` is only a watermark: every earlier reply to this customer is read.
    let (second, _) = reply_and_wait_sent(&server, conversation_id, "second").await;
    assert_eq!(status_of(second).await, "sent");
    post(&server, &filled("messenger/read.json", "", now_ms() + 5_000)).await;
    assert_eq!(status_of(first).await, "read");
    assert_eq!(status_of(second).await, "read");

    // A late delivery report does not move a read message back.
    post(&server, &filled("messenger/delivery.json", &first_mid, now_ms() + 6_000)).await;
    assert_eq!(status_of(first).await, "read");
    // The inbound message is untouched by watermarks about our replies.
    let inbound = server.messages(conversation_id).await.into_iter().find(|m| m["direction"] == "inbound").unwrap();
    assert_eq!(inbound["external_id"], TEXT_MID);
    server.stop().await;
}
