//! Instagram messaging end to end: signed `instagram` webhooks in, REST API out, replies
//! through the outbox to a loopback fake of the Send API (the same fake as Messenger's: the
//! API is the same), echoes and `messaging_seen`.

use crate::messenger::FakeSendApi;
use crate::support::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::Duration;

on_both_backends!(
    signed_text_webhook_is_stored_intact_and_redelivery_is_not_duplicated,
    signatures_handshake_and_malformed_bodies_are_refused,
    media_shares_and_story_replies_are_stored,
    agent_reply_is_sent_echo_is_deduplicated_and_seen_marks_it_read,
    outbox_retries_throttling_and_outages_and_fails_a_closed_window_at_once,
);

const INSTAGRAM_APP_SECRET: &str = "instagram-app-secret-5e7b";
const INSTAGRAM_VERIFY_TOKEN: &str = "instagram-verify-token";
const INSTAGRAM_TOKEN: &str = "IGAAtestInstagramAccessToken";
const IG_ACCOUNT: &str = "17841400000000000";
const IGSID: &str = "1254459154682919";
const TEXT: &str = "Oi! Você tem esse tênis no tamanho 42? 👟✨";
/// The text of `instagram/echo.json`.
const REPLY: &str = "Temos sim! Tamanho 42 disponível 👟";
const MID_PREFIX: &str = "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDAwMDAwMDAwMDAwOjM0MDI4MjM2Njg0MTcxMDMw";

fn channel_toml(api: SocketAddr) -> String {
    format!(
        r#"
[[channels]]
id = "instagram"
plugin = "instagram"
allowed_hosts = ["{api}"]
config = {{ ig_account_id = "{IG_ACCOUNT}", api_base = "http://{api}/v21.0" }}
secrets = {{ app_secret = "{INSTAGRAM_APP_SECRET}", verify_token = "{INSTAGRAM_VERIFY_TOKEN}", page_access_token = "{INSTAGRAM_TOKEN}" }}
"#
    )
}

async fn start() -> (FakeSendApi, TestServer) {
    let api = FakeSendApi::start(INSTAGRAM_TOKEN, false, MID_PREFIX).await;
    let server = TestServer::start_with(None, &channel_toml(api.addr)).await;
    (api, server)
}

/// Post a correctly signed Instagram webhook and insist on 2xx; returns the JSON answer.
async fn post(server: &TestServer, body: &[u8]) -> Value {
    server.post_meta_signed("instagram", INSTAGRAM_APP_SECRET, body).await
}

/// Post the text fixture and return the (only) conversation's id.
async fn ingest_text(server: &TestServer) -> i64 {
    post(server, &fixture("instagram/text.json")).await;
    server.only_conversation_id().await
}

/// Queue a text reply and wait until it is sent; returns (message id, Send API message id).
async fn reply_and_wait_sent(server: &TestServer, conversation_id: i64, text: &str) -> (i64, String) {
    server.reply_and_wait_for(conversation_id, &json!({"text": text}), "sent").await
}

fn filled(name: &str, mid: &str, timestamp: u64) -> Vec<u8> {
    String::from_utf8(fixture(name)).unwrap().replace("{{MID}}", mid).replace("{{TIMESTAMP}}", &timestamp.to_string()).into_bytes()
}

async fn signed_text_webhook_is_stored_intact_and_redelivery_is_not_duplicated() {
    let (_api, server) = start().await;
    let body = fixture("instagram/text.json");
    assert_eq!(post(&server, &body).await["new_messages"], 1);

    let conversations = server.conversations().await;
    assert_eq!(conversations.len(), 1);
    assert_eq!(conversations[0]["channel_id"], "instagram");
    let conversation_id = conversations[0]["id"].as_i64().unwrap();
    let messages = server.messages(conversation_id).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["direction"], "inbound");
    assert_eq!(messages[0]["kind"], "text");
    assert_eq!(messages[0]["text"], TEXT);
    assert!(messages[0]["external_id"].as_str().unwrap().starts_with("aWdfZAG1f"));
    assert_eq!(messages[0]["contact_identity"]["external_id"], IGSID);

    let again = post(&server, &body).await;
    assert_eq!((again["new_messages"].as_i64(), again["duplicates"].as_i64()), (Some(0), Some(1)), "{again}");
    assert_eq!(server.messages(conversation_id).await.len(), 1, "redelivery must not duplicate");
    server.stop().await;
}

async fn signatures_handshake_and_malformed_bodies_are_refused() {
    let (_api, server) = start().await;
    let body = fixture("instagram/text.json");
    for signature in [Some(sign_with("messenger-app-secret-8c1d", &body)), Some("sha256=".to_string()), None] {
        let response = server.post_webhook("instagram", &body, signature.as_deref()).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["code"], "bad_signature", "{error}");
    }
    assert!(server.conversations().await.is_empty());

    let handshake = |token: &str| {
        format!("{}/webhooks/instagram?hub.mode=subscribe&hub.verify_token={token}&hub.challenge=987654321", server.base)
    };
    let ok = server.client.get(handshake(INSTAGRAM_VERIFY_TOKEN)).send().await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(ok.text().await.unwrap(), "987654321");
    let wrong = server.client.get(handshake("messenger-verify-token")).send().await.unwrap();
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    assert_eq!(wrong.json::<Value>().await.unwrap()["error"]["code"], "handshake_rejected");

    let messenger = fixture("messenger/text.json");
    for bad in [&body[..body.len() - 10], br#"{"object":"instagram","entry":{}}"#, &messenger[..]] {
        let response = server.post_webhook("instagram", bad, Some(&sign_with(INSTAGRAM_APP_SECRET, bad))).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(response.json::<Value>().await.unwrap()["error"]["code"], "malformed_payload");
    }
    assert!(server.conversations().await.is_empty());
    server.stop().await;
}

async fn media_shares_and_story_replies_are_stored() {
    let (_api, server) = start().await;
    let report = post(&server, &fixture("instagram/media.json")).await;
    assert_eq!(report["new_messages"], 6, "{report}");
    let multi = post(&server, &fixture("instagram/multi.json")).await;
    assert_eq!(multi["new_messages"], 3, "ice breaker, reaction, quick reply; the unsend is skipped: {multi}");

    let mut all = Vec::new();
    for conversation in server.conversations().await {
        all.extend(server.messages(conversation["id"].as_i64().unwrap()).await);
    }
    assert_eq!(all.len(), 9);
    for kind in ["image", "video", "audio"] {
        let message = all.iter().find(|m| m["kind"] == kind).unwrap_or_else(|| panic!("no {kind}"));
        let attachment = &message["attachments"][0];
        assert_eq!(attachment["kind"], kind);
        let reference = attachment["reference"].as_str().unwrap();
        assert!(reference.starts_with("https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id="), "{reference}");
        assert_eq!(attachment["url"], reference);
    }
    let shares: Vec<_> = all.iter().filter(|m| m["kind"] == "unsupported").collect();
    assert_eq!(shares.len(), 2);
    assert!(shares.iter().all(|m| m["attachments"][0]["reference"].as_str().unwrap().starts_with("https://lookaside.fbsbx.com/")));
    let story_reply = all.iter().find(|m| m["text"] == "Que lindo! Ainda tem disponível?").unwrap();
    assert_eq!(story_reply["extra"]["reply_to_story"]["id"], "3412345678901234567");
    assert_eq!(all.iter().find(|m| m["kind"] == "postback").unwrap()["text"], "Qual o prazo de entrega?");
    assert_eq!(all.iter().find(|m| m["kind"] == "reaction").unwrap()["text"], "❤️");
    let spanish = all.iter().find(|m| m["kind"] == "interactive").unwrap();
    assert_eq!(spanish["text"], "¿Hacéis envíos a España? 🇪🇸");
    assert_eq!(spanish["extra"]["payload"], "SHIPPING_ES");
    server.stop().await;
}

async fn agent_reply_is_sent_echo_is_deduplicated_and_seen_marks_it_read() {
    let (api, server) = start().await;
    let conversation_id = ingest_text(&server).await;

    let (message_id, mid) = reply_and_wait_sent(&server, conversation_id, REPLY).await;
    let request = &api.received()[0];
    assert_eq!(request.path, format!("/v21.0/{IG_ACCOUNT}/messages"));
    assert_eq!(request.authorization.as_deref(), Some(format!("Bearer {INSTAGRAM_TOKEN}").as_str()));
    assert_eq!(request.body, json!({"recipient": {"id": IGSID}, "message": {"text": REPLY}}));
    assert_eq!(mid, format!("{MID_PREFIX}000001"));

    let echo = post(&server, &filled("instagram/echo.json", &mid, 0)).await;
    assert_eq!((echo["new_messages"].as_i64(), echo["duplicates"].as_i64()), (Some(0), Some(1)), "{echo}");
    assert_eq!(server.messages(conversation_id).await.len(), 2, "the echo of our reply is not a second message");

    // `messaging_seen` names the message: it becomes read (skipping delivered).
    let seen = post(&server, &filled("instagram/seen.json", &mid, now_ms() + 5_000)).await;
    assert_eq!(seen["events"], 2, "{seen}");
    let read = server.message(conversation_id, message_id).await;
    assert_eq!(read["status"], "read");
    assert_eq!(read["external_id"], mid.as_str());

    // A seen for an older mid still reads every earlier reply through its watermark.
    let (second, _) = reply_and_wait_sent(&server, conversation_id, "Quer o link da loja?").await;
    post(&server, &filled("instagram/seen.json", "aWdfZAG1f-some-older-mid", now_ms() + 5_000)).await;
    assert_eq!(server.message(conversation_id, second).await["status"], "read");
    server.stop().await;
}

async fn outbox_retries_throttling_and_outages_and_fails_a_closed_window_at_once() {
    let (api, server) = start().await;
    let conversation_id = ingest_text(&server).await;

    api.fail_next(429, 613, None, "(#613) Calls to this api have exceeded the rate limit.", Some(0));
    api.fail_next_plain(502);
    // Code 2 on a plain 400: the code alone says "temporary".
    api.fail_next(400, 2, None, "An unexpected error has occurred. Please retry your request later.", None);
    let (message_id, _) = reply_and_wait_sent(&server, conversation_id, "retry me").await;
    assert_eq!(api.received().len(), 4, "three failures, then success");
    assert_eq!(server.message(conversation_id, message_id).await["status"], "sent");

    api.fail_next(400, 10, Some(2534022), "This message is sent outside of allowed window.", None);
    let late = server.queue_text_reply(conversation_id, "late").await;
    let failed = server.wait_for_status(conversation_id, late, "failed").await;
    assert_eq!(failed["error"]["code"], "10", "{failed}");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(api.received().len(), 5, "a closed window is not retried");
    server.stop().await;
}
