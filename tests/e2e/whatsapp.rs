//! WhatsApp end to end: signed webhooks in, REST API out, replies through the outbox to a
//! fake Graph API, live events.

use crate::support::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

on_both_backends!(
    signed_text_webhook_shows_up_in_the_api_intact,
    redelivery_bad_signature_and_bad_token,
    several_messages_and_media_in_one_payload_are_all_stored,
    agent_reply_reaches_the_graph_api_and_stores_its_id,
    outbox_retries_retryable_errors_and_fails_permanent_ones,
    status_webhooks_only_move_forward_and_keep_failure_codes,
    live_stream_delivers_messages_and_status_changes_and_resumes,
);

/// Post the text fixture and return the (only) conversation.
async fn ingest_text(server: &TestServer) -> Value {
    server.post_signed(&fixture("whatsapp/text.json")).await;
    let conversations = server.conversations().await;
    assert_eq!(conversations.len(), 1, "{conversations:#?}");
    conversations[0].clone()
}

async fn signed_text_webhook_shows_up_in_the_api_intact() {
    let server = TestServer::start(None).await;
    let reply = server.post_signed(&fixture("whatsapp/text.json")).await;
    assert_eq!(reply["new_messages"], 1);

    let conversations = server.conversations().await;
    assert_eq!(conversations.len(), 1);
    let conversation = &conversations[0];
    assert_eq!(conversation["channel_id"], "whatsapp");
    assert_eq!(conversation["contact"]["display_name"], "José García");
    assert_eq!(conversation["contact"]["phone"], "+16505551234");
    assert_eq!(conversation["unread_count"], 1);
    let expected_text = "Olá! Preciso de ajuda com o pedido #12345 🙏";
    assert_eq!(conversation["last_message"]["text"], expected_text);

    let id = conversation["id"].as_i64().unwrap();
    let messages = server.messages(id).await;
    assert_eq!(messages.len(), 1);
    let message = &messages[0];
    assert_eq!(message["direction"], "inbound");
    assert_eq!(message["kind"], "text");
    assert_eq!(message["text"], expected_text);
    assert!(message["external_id"].as_str().unwrap().starts_with("wamid."));
    assert_eq!(message["contact_identity"]["display_name"], "José García");
    assert_eq!(message["contact_identity"]["phone"], "+16505551234");

    let contact_id = conversation["contact"]["id"].as_i64().unwrap();
    let contact = server.api_get(&format!("/api/v1/contacts/{contact_id}")).await;
    assert_eq!(contact["phone"], "+16505551234");
    let identities = contact["identities"].as_array().unwrap();
    assert_eq!(identities.len(), 1);
    assert_eq!(identities[0]["channel_id"], "whatsapp");
    assert_eq!(identities[0]["external_id"], "16505551234");
    server.stop().await;
}

async fn redelivery_bad_signature_and_bad_token() {
    let server = TestServer::start(None).await;
    let body = fixture("whatsapp/text.json");
    server.post_signed(&body).await;
    let again = server.post_signed(&body).await;
    assert_eq!(again["new_messages"], 0);
    assert_eq!(again["duplicates"], 1);
    let conversation_id = server.conversations().await[0]["id"].as_i64().unwrap();
    assert_eq!(server.messages(conversation_id).await.len(), 1, "redelivery must not duplicate");

    // A different, validly shaped payload with a wrong signature: 401, nothing stored.
    let other = String::from_utf8(body.clone()).unwrap().replace("wamid.", "wamid.OTHER").into_bytes();
    for signature in [Some(sign_with("wrong-secret", &other)), Some("sha256=00".to_string()), None] {
        let response = server.post_webhook("whatsapp", &other, signature.as_deref()).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["code"], "bad_signature", "{error}");
    }
    // A signature over different bytes (re-serialised JSON) is not accepted either.
    let reserialized = serde_json::to_vec(&serde_json::from_slice::<Value>(&other).unwrap()).unwrap();
    let response = server.post_webhook("whatsapp", &other, Some(&sign(&reserialized))).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(server.messages(conversation_id).await.len(), 1, "rejected webhooks store nothing");

    // Verification handshake.
    let handshake = |token: &str| {
        format!("{}/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token={token}&hub.challenge=1158201444", server.base)
    };
    let ok = server.client.get(handshake(VERIFY_TOKEN)).send().await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(ok.text().await.unwrap(), "1158201444");
    let wrong = server.client.get(handshake("nope")).send().await.unwrap();
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    let error: Value = wrong.json().await.unwrap();
    assert_eq!(error["error"]["code"], "handshake_rejected");
    server.stop().await;
}

async fn several_messages_and_media_in_one_payload_are_all_stored() {
    let server = TestServer::start(None).await;
    let reply = server.post_signed(&fixture("whatsapp/multi.json")).await;
    assert_eq!(reply["new_messages"], 2, "{reply}");
    let reply = server.post_signed(&fixture("whatsapp/media.json")).await;
    assert_eq!(reply["new_messages"], 4, "{reply}");

    let mut all = Vec::new();
    for conversation in server.conversations().await {
        all.extend(server.messages(conversation["id"].as_i64().unwrap()).await);
    }
    assert_eq!(all.len(), 6);
    let kinds: Vec<&str> = all.iter().map(|m| m["kind"].as_str().unwrap()).collect();
    for kind in ["image", "audio", "video", "document"] {
        assert!(kinds.contains(&kind), "missing {kind} in {kinds:?}");
    }
    let document = all.iter().find(|m| m["kind"] == "document").unwrap();
    let attachment = &document["attachments"][0];
    assert_eq!(attachment["kind"], "document");
    assert!(attachment["reference"].as_str().is_some_and(|r| !r.is_empty()));
    assert!(attachment["mime_type"].as_str().is_some());
    assert!(attachment["filename"].as_str().is_some());
    let image = all.iter().find(|m| m["kind"] == "image" && m["attachments"][0]["caption"].is_string()).unwrap();
    assert_eq!(image["text"], image["attachments"][0]["caption"]);
    server.stop().await;
}

/// Queue a reply and wait until the fake Graph API has it; returns (message id, wamid).
async fn reply_and_wait_sent(server: &TestServer, graph: &FakeGraph, conversation_id: i64, text: &str) -> (i64, String) {
    let before = graph.received().len();
    let sent = server.reply_and_wait_for(conversation_id, &json!({"text": text}), "sent").await;
    graph.wait_for(before + 1).await;
    sent
}

async fn agent_reply_reaches_the_graph_api_and_stores_its_id() {
    let graph = FakeGraph::start().await;
    let server = TestServer::start(Some(graph.addr)).await;
    let conversation = ingest_text(&server).await;
    let conversation_id = conversation["id"].as_i64().unwrap();

    let (message_id, wamid) = reply_and_wait_sent(&server, &graph, conversation_id, "Claro, José! Vou verificar 📦").await;
    let request = &graph.received()[0];
    assert_eq!(request.path, format!("/v21.0/{PHONE_NUMBER_ID}/messages"));
    assert_eq!(request.authorization.as_deref(), Some(format!("Bearer {ACCESS_TOKEN}").as_str()));
    assert_eq!(request.body["messaging_product"], "whatsapp");
    assert_eq!(request.body["to"], "16505551234");
    assert_eq!(request.body["type"], "text");
    assert_eq!(request.body["text"]["body"], "Claro, José! Vou verificar 📦");
    assert_eq!(wamid, "wamid.HBgLMTY1MDU1NTEyMzQVAgARGBI00000001");

    let message = server.message(conversation_id, message_id).await;
    assert_eq!(message["author"], "admin");
    assert_eq!(message["contact_identity"]["external_id"], "16505551234");

    // A template goes out in the Cloud API's template shape.
    let template = json!({"channel_id": "whatsapp", "name": "order_update", "language": "pt_BR", "category": "utility", "body": "Pedido {{1}} enviado."});
    assert_eq!(server.api_post("/api/v1/templates", &template).await.0, StatusCode::CREATED);
    let (status, _) = server
        .api_post(
            &format!("/api/v1/conversations/{conversation_id}/messages"),
            &json!({"content": {"type": "template", "name": "order_update", "language": "pt_BR", "parameters": ["#12345"]}}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let received = graph.wait_for(2).await;
    assert_eq!(received[1].body["type"], "template");
    assert_eq!(received[1].body["template"]["name"], "order_update");
    assert_eq!(received[1].body["template"]["language"]["code"], "pt_BR");
    assert_eq!(received[1].body["template"]["components"][0]["parameters"][0]["text"], "#12345");
    server.stop().await;
}

async fn outbox_retries_retryable_errors_and_fails_permanent_ones() {
    let graph = FakeGraph::start().await;
    let server = TestServer::start(Some(graph.addr)).await;
    let conversation_id = ingest_text(&server).await["id"].as_i64().unwrap();

    // 429, then 503, then success: the same message is retried until it goes out.
    graph.fail_next(429, 130429, "(#130429) Rate limit hit", Some(0));
    graph.fail_next(503, 131016, "(#131016) Service unavailable", None);
    let (message_id, _) = reply_and_wait_sent(&server, &graph, conversation_id, "retry me").await;
    let received = graph.received();
    assert_eq!(received.len(), 3, "two failures and one success");
    assert!(received.iter().all(|r| r.body["text"]["body"] == "retry me"));
    assert_eq!(server.message(conversation_id, message_id).await["status"], "sent");

    // The 24-hour window is closed: not retryable, the message fails with the provider code.
    graph.fail_next(400, 131047, "(#131047) Re-engagement message", None);
    let (status, message) = server.api_post(&format!("/api/v1/conversations/{conversation_id}/messages"), &json!({"text": "late"})).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let failed_id = message["id"].as_i64().unwrap();
    let failed = server
        .eventually("the reply to fail", async |s| {
            let m = s.message(conversation_id, failed_id).await;
            (m["status"] == "failed").then_some(m)
        })
        .await;
    assert_eq!(failed["error"]["code"], "131047");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(graph.received().len(), 4, "a non-retryable failure is not retried");
    server.stop().await;
}

async fn status_webhooks_only_move_forward_and_keep_failure_codes() {
    let graph = FakeGraph::start().await;
    let server = TestServer::start(Some(graph.addr)).await;
    let conversation_id = ingest_text(&server).await["id"].as_i64().unwrap();
    let (message_id, wamid) = reply_and_wait_sent(&server, &graph, conversation_id, "status test").await;

    let status_of = async |server: &TestServer| server.message(conversation_id, message_id).await["status"].clone();
    server.post_signed(&status_fixture("whatsapp/status_delivered.json", &wamid)).await;
    assert_eq!(status_of(&server).await, "delivered");
    server.post_signed(&status_fixture("whatsapp/status_read.json", &wamid)).await;
    assert_eq!(status_of(&server).await, "read");
    // Late "sent" and "delivered" reports do not move it back.
    server.post_signed(&status_fixture("whatsapp/status_sent.json", &wamid)).await;
    server.post_signed(&status_fixture("whatsapp/status_delivered.json", &wamid)).await;
    assert_eq!(status_of(&server).await, "read");

    // A failed status on a fresh message keeps its error code.
    let (second_id, second_wamid) = reply_and_wait_sent(&server, &graph, conversation_id, "will fail").await;
    server.post_signed(&status_fixture("whatsapp/status_failed.json", &second_wamid)).await;
    let failed = server.message(conversation_id, second_id).await;
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["error"]["code"], "131047");
    server.stop().await;
}

async fn live_stream_delivers_messages_and_status_changes_and_resumes() {
    let graph = FakeGraph::start().await;
    let server = TestServer::start(Some(graph.addr)).await;
    let mut stream = SseClient::connect(&server.base, None).await;

    server.post_signed(&fixture("whatsapp/text.json")).await;
    let created = stream.next(Duration::from_secs(5)).await;
    assert_eq!(created.event.as_deref(), Some("message.created"));
    assert_eq!(created.data["message"]["text"], "Olá! Preciso de ajuda com o pedido #12345 🙏");
    let conversation_id = created.data["conversation_id"].as_i64().unwrap();

    let (message_id, wamid) = reply_and_wait_sent(&server, &graph, conversation_id, "on the stream").await;
    // The reply appears (pending), then moves to sent.
    let reply_created = stream.next(Duration::from_secs(5)).await;
    assert_eq!(reply_created.event.as_deref(), Some("message.created"));
    assert_eq!(reply_created.data["message"]["id"], message_id);
    let sent = stream.next(Duration::from_secs(5)).await;
    assert_eq!(sent.event.as_deref(), Some("message.updated"));
    assert_eq!(sent.data["message"]["status"], "sent");
    let last_seen = sent.id.clone().unwrap();
    drop(stream);

    // While disconnected: delivered, then read.
    server.post_signed(&status_fixture("whatsapp/status_delivered.json", &wamid)).await;
    server.post_signed(&status_fixture("whatsapp/status_read.json", &wamid)).await;

    let mut resumed = SseClient::connect(&server.base, Some(&last_seen)).await;
    let delivered = resumed.next(Duration::from_secs(5)).await;
    assert_eq!(delivered.data["message"]["status"], "delivered");
    let read = resumed.next(Duration::from_secs(5)).await;
    assert_eq!(read.data["message"]["status"], "read");
    assert!(read.id.unwrap().parse::<i64>().unwrap() > last_seen.parse::<i64>().unwrap());
    // The read moved the conversation's read state, announced once.
    let rolled_up = resumed.next(Duration::from_secs(5)).await;
    assert_eq!(rolled_up.event.as_deref(), Some("conversation.updated"));
    assert_eq!(rolled_up.data["conversation"]["customer_read_message_id"], message_id);
    assert!(resumed.try_next(Duration::from_millis(300)).await.is_none(), "nothing is sent twice");
    server.stop().await;
}
