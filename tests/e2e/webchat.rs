//! Website chat end to end, through the public surface only: the widget's REST endpoints over
//! real HTTP, and its socket over a real WebSocket (tokio-tungstenite, the library axum's server
//! side is built on) on loopback. The agent's side is the REST API and the live stream.

use crate::agents::{create_agent, session as agent_session};
use crate::support::*;
use futures_util::{SinkExt, StreamExt};
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::Sha256;
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

on_both_backends!(
    a_resend_is_stored_once_and_a_reconnect_receives_the_replies_sent_meanwhile,
    a_signed_identifier_joins_the_whatsapp_contact_and_a_forged_one_links_nothing,
);

const SHOP: &str = "https://shop.example";
const WIDGET_SECRET: &str = "widget-test-secret-42";
const WEBCHAT: &str = "webchat";

fn channels(extra: &str) -> String {
    format!(
        r#"
[[channels]]
id = "{WEBCHAT}"
plugin = "webchat"
secrets = {{ widget_secret = "{WIDGET_SECRET}" }}
[channels.webchat]
allowed_origins = ["{SHOP}"]
reply_time = "within a few hours"
max_message_chars = 200
max_upload_bytes = 2000
{extra}

[[channels]]
id = "anonymous-chat"
plugin = "webchat"
[channels.webchat]
allowed_origins = ["{SHOP}"]
"#
    )
}

async fn start(extra: &str, settings: &Settings<'_>) -> TestServer {
    TestServer::start_settings(None, &channels(extra), settings).await
}

fn identifier_hash(identifier: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(WIDGET_SECRET.as_bytes()).unwrap();
    mac.update(identifier.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// `POST /sessions` from the shop's origin.
async fn open_session(server: &TestServer, channel: &str, body: Value) -> (StatusCode, Value) {
    let response = server
        .client
        .post(format!("{}/api/v1/webchat/{channel}/sessions", server.base))
        .header("origin", SHOP)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    if status == StatusCode::OK {
        assert_eq!(response.headers()["access-control-allow-origin"], SHOP, "CORS answers the allowed origin");
    }
    (status, response.json().await.unwrap())
}

async fn history(server: &TestServer, token: &str) -> Value {
    let response = server.client.get(format!("{}/api/v1/webchat/{WEBCHAT}/messages", server.base)).bearer_auth(token).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The widget's socket, from `origin`.
async fn connect(server: &TestServer, token: &str, after: Option<i64>, origin: &str) -> Result<Socket, tokio_tungstenite::tungstenite::Error> {
    let ws_base = server.base.replacen("http://", "ws://", 1);
    let after = after.map(|a| format!("&after={a}")).unwrap_or_default();
    let mut request = format!("{ws_base}/api/v1/webchat/{WEBCHAT}/socket?token={token}{after}").into_client_request().unwrap();
    request.headers_mut().insert("origin", origin.parse().unwrap());
    tokio_tungstenite::connect_async(request).await.map(|(socket, _)| socket)
}

/// The next JSON frame (pings skipped), or `None` when the server closed the socket.
async fn next_frame(socket: &mut Socket) -> Option<Value> {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), socket.next()).await.expect("a frame within 10 s");
        match frame {
            Some(Ok(Message::Text(text))) => return Some(serde_json::from_str(&text).unwrap()),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
            Some(Ok(other)) => panic!("unexpected frame {other:?}"),
        }
    }
}

/// Frames until one of `kind` (the others are returned with it, in order).
async fn frame_of(socket: &mut Socket, kind: &str) -> (Value, Vec<Value>) {
    let mut before = Vec::new();
    loop {
        let frame = next_frame(socket).await.unwrap_or_else(|| panic!("socket closed while waiting for `{kind}` after {before:?}"));
        if frame["type"] == kind {
            return (frame, before);
        }
        before.push(frame);
    }
}

/// Frames until a `message` frame whose message matches.
async fn message_frame(socket: &mut Socket, matches: impl Fn(&Value) -> bool) -> Value {
    loop {
        let (frame, _) = frame_of(socket, "message").await;
        if matches(&frame["message"]) {
            return frame;
        }
    }
}

async fn send_frame(socket: &mut Socket, frame: Value) {
    socket.send(Message::Text(frame.to_string().into())).await.unwrap();
}

/// A visitor with an open socket, resumed from their history's cursor.
async fn visitor(server: &TestServer) -> (String, Socket) {
    let (status, session) = open_session(server, WEBCHAT, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{session}");
    assert_eq!((session["identified"].as_bool(), session["settings"]["max_message_chars"].as_u64()), (Some(false), Some(200)));
    let token = session["token"].as_str().unwrap().to_string();
    let cursor = history(server, &token).await["cursor"].as_i64();
    let mut socket = connect(server, &token, cursor, SHOP).await.unwrap();
    assert_eq!(next_frame(&mut socket).await.unwrap()["type"], "ready");
    (token, socket)
}

async fn webchat_conversation(server: &TestServer) -> i64 {
    server
        .eventually("a web chat conversation", async |server| {
            for conversation in server.conversations().await {
                let id = conversation["id"].as_i64().unwrap();
                if server.messages(id).await.iter().any(|m| m["channel_id"] == WEBCHAT) {
                    return Some(id);
                }
            }
            None
        })
        .await
}

async fn a_resend_is_stored_once_and_a_reconnect_receives_the_replies_sent_meanwhile() {
    // Sockets live three seconds here, so the server drops this one mid-test.
    let server = start("", &Settings { server: "live_stream_max_secs = 3", ..Settings::default() }).await;
    let (token, mut socket) = visitor(&server).await;

    // A second tab of the same visitor (the same token).
    let cursor = history(&server, &token).await["cursor"].as_i64();
    let mut second_tab = connect(&server, &token, cursor, SHOP).await.unwrap();
    frame_of(&mut second_tab, "ready").await;

    // A message, and the same message again after a "flaky connection": one stored message.
    let message = json!({"type": "message", "client_id": "c-1", "text": "Hi! Has order 1001 shipped?"});
    send_frame(&mut socket, message.clone()).await;
    let (ack, _) = frame_of(&mut socket, "ack").await;
    assert_eq!(ack["client_id"], "c-1");
    let echoed = message_frame(&mut second_tab, |m| m["client_id"] == "c-1").await;
    assert_eq!(echoed["message"]["direction"], "in", "the other tab shows it too");
    send_frame(&mut socket, message).await;
    let (ack, _) = frame_of(&mut socket, "ack").await;
    assert_eq!(ack["client_id"], "c-1", "a resend is acknowledged too");
    let conversation = webchat_conversation(&server).await;
    let stored = server.messages(conversation).await;
    assert_eq!(stored.len(), 1, "stored once: {stored:#?}");
    assert_eq!(stored[0]["text"], "Hi! Has order 1001 shipped?");

    // An agent's reply reaches the widget, which reports it delivered.
    let first_reply = server.queue_text_reply(conversation, "Yes, it left this morning.").await;
    let frame = message_frame(&mut socket, |m| m["id"] == first_reply).await;
    message_frame(&mut second_tab, |m| m["id"] == first_reply).await;
    drop(second_tab);
    assert_eq!((frame["message"]["direction"].as_str(), frame["message"]["text"].as_str()), (Some("out"), Some("Yes, it left this morning.")));
    let mut cursor = frame["cursor"].as_i64().unwrap();
    server.wait_for_status(conversation, first_reply, "delivered").await;

    // The server drops the socket (its lifetime ends); a reply is sent while the visitor is away.
    loop {
        match next_frame(&mut socket).await {
            None => break,
            Some(frame) => cursor = frame["cursor"].as_i64().unwrap_or(cursor),
        }
    }
    let second_reply = server.queue_text_reply(conversation, "Tracking number: 1Z999.").await;
    server.wait_for_status(conversation, second_reply, "sent").await;
    let mut socket = connect(&server, &token, Some(cursor), SHOP).await.unwrap();
    let frame = message_frame(&mut socket, |m| m["id"] == second_reply).await;
    assert_eq!(frame["message"]["text"], "Tracking number: 1Z999.", "the reconnect resumed from the cursor");

    // The visitor reads it: the agent sees both replies read.
    send_frame(&mut socket, json!({"type": "read", "up_to": second_reply})).await;
    server.wait_for_status(conversation, second_reply, "read").await;
    server.wait_for_status(conversation, first_reply, "read").await;

    // A reload: the history holds the whole conversation, in order, with the client id.
    let messages = history(&server, &token).await["messages"].as_array().unwrap().clone();
    let shown: Vec<(&str, &str)> = messages.iter().map(|m| (m["direction"].as_str().unwrap(), m["text"].as_str().unwrap())).collect();
    assert_eq!(shown, [("in", "Hi! Has order 1001 shipped?"), ("out", "Yes, it left this morning."), ("out", "Tracking number: 1Z999.")]);
    assert_eq!(messages[0]["client_id"], "c-1");

    // The same token again (a reload) is the same visitor; a forged one is a new visitor.
    let (_, again) = open_session(&server, WEBCHAT, json!({"token": token})).await;
    let (_, first) = open_session(&server, WEBCHAT, json!({"token": token})).await;
    assert_eq!(again["visitor_id"], first["visitor_id"]);
    let forged = format!("{}x", &token[..token.len() - 1]);
    let (_, other) = open_session(&server, WEBCHAT, json!({"token": forged})).await;
    assert_ne!(other["visitor_id"], first["visitor_id"], "a tampered token is not the visitor");
    let response = server.client.get(format!("{}/api/v1/webchat/{WEBCHAT}/messages", server.base)).bearer_auth(&forged).send().await.unwrap();
    assert_eq!(error_code(response, StatusCode::UNAUTHORIZED).await, "invalid_token");
    server.stop().await;
}

async fn a_signed_identifier_joins_the_whatsapp_contact_and_a_forged_one_links_nothing() {
    let server = start("", &Settings::default()).await;
    // The customer wrote on WhatsApp from +1 650-555-1234.
    server.post_signed(&fixture("whatsapp/text.json")).await;
    let whatsapp = server.only_conversation_id().await;
    let phone = "+1 650 555 1234";

    // A forged hash, a missing one, and an identifier where the instance has no secret: refused.
    let (status, body) = open_session(&server, WEBCHAT, json!({"identifier": phone, "identifier_hash": identifier_hash("+16505559999")})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("identity_forged")));
    let (status, body) = open_session(&server, WEBCHAT, json!({"identifier": phone})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("identity_hash_missing")));
    let (status, body) = open_session(&server, "anonymous-chat", json!({"identifier": phone, "identifier_hash": identifier_hash(phone)})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("identity_not_configured")));
    assert_eq!(server.conversations().await.len(), 1, "nothing was linked or created");

    // The site's correct hash: the visitor is the WhatsApp customer.
    let (status, session) = open_session(&server, WEBCHAT, json!({"identifier": phone, "identifier_hash": identifier_hash(phone), "name": "Ana"})).await;
    assert_eq!(status, StatusCode::OK, "{session}");
    assert_eq!(session["identified"], true);
    let token = session["token"].as_str().unwrap();
    let mut socket = connect(&server, token, None, SHOP).await.unwrap();
    frame_of(&mut socket, "ready").await;
    send_frame(&mut socket, json!({"type": "message", "client_id": "id-1", "text": "Writing from your website now"})).await;
    frame_of(&mut socket, "ack").await;
    let conversations = server.conversations().await;
    assert_eq!(conversations.len(), 1, "no second conversation: {conversations:#?}");
    let timeline: Vec<String> = server.messages(whatsapp).await.iter().map(|m| m["channel_id"].as_str().unwrap().to_string()).collect();
    assert_eq!(timeline, ["whatsapp", WEBCHAT], "one timeline across WhatsApp and web chat");

    // The widget shows only the web chat part of it.
    let shown = history(&server, token).await["messages"].as_array().unwrap().len();
    assert_eq!(shown, 1, "the visitor sees their web chat messages, not the WhatsApp ones");

    // An anonymous visitor who types the same phone in a message is still someone else.
    let (_, mut anonymous) = visitor(&server).await;
    send_frame(&mut anonymous, json!({"type": "message", "client_id": "a-1", "text": "I am +1 650 555 1234"})).await;
    frame_of(&mut anonymous, "ack").await;
    assert_eq!(server.conversations().await.len(), 2);
    server.stop().await;
}

#[tokio::test]
async fn origins_off_the_allowlist_are_refused_and_the_address_limit_answers_429() {
    let server = start("requests_per_minute_per_ip = 12", &Settings::default()).await;
    let (status, session) = open_session(&server, WEBCHAT, json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let token = session["token"].as_str().unwrap().to_string();

    // Another site's page can neither open the socket nor call the API.
    match connect(&server, &token, None, "https://evil.example").await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), StatusCode::FORBIDDEN);
            let body: Value = serde_json::from_slice(response.body().as_deref().unwrap_or_default()).unwrap();
            assert_eq!(body["error"]["code"], "origin_not_allowed");
        }
        other => panic!("the upgrade must be refused, got {:?}", other.map(|_| "a socket")),
    }
    let response = server.client.post(format!("{}/api/v1/webchat/{WEBCHAT}/sessions", server.base)).header("origin", "https://evil.example").json(&json!({})).send().await.unwrap();
    assert_eq!(error_code(response, StatusCode::FORBIDDEN).await, "origin_not_allowed");
    // The shop's preflight is answered, and the gateway's own pages (the demo) are allowed.
    let preflight = server
        .client
        .request(reqwest::Method::OPTIONS, format!("{}/api/v1/webchat/{WEBCHAT}/sessions", server.base))
        .header("origin", SHOP)
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!((preflight.status(), preflight.headers()["access-control-allow-origin"].to_str().unwrap()), (StatusCode::NO_CONTENT, SHOP));
    let mut own = connect(&server, &token, None, &server.base).await.expect("the gateway's own origin may connect");
    frame_of(&mut own, "ready").await;

    // A flood from one address: a clear 429 with Retry-After, over HTTP and on the socket.
    let mut limited = None;
    for _ in 0..20 {
        let response = server.client.post(format!("{}/api/v1/webchat/{WEBCHAT}/sessions", server.base)).header("origin", SHOP).json(&json!({})).send().await.unwrap();
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(response);
            break;
        }
    }
    let limited = limited.expect("the address limit answers 429");
    assert!(limited.headers()["retry-after"].to_str().unwrap().parse::<u64>().unwrap() >= 1);
    assert_eq!(error_code(limited, StatusCode::TOO_MANY_REQUESTS).await, "rate_limited");
    send_frame(&mut own, json!({"type": "message", "client_id": "flood-1", "text": "hello"})).await;
    let (error, _) = frame_of(&mut own, "error").await;
    assert_eq!((error["code"].as_str(), error["client_id"].as_str()), (Some("rate_limited"), Some("flood-1")));
    assert!(error["message"].as_str().unwrap().contains("too fast"), "{error}");

    // The server is fine, for everyone else.
    let health = server.client.get(format!("{}/healthz", server.base)).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    // Web chat takes no webhooks; a plain GET of the socket is told to upgrade, in JSON.
    let webhook = server.post_webhook(WEBCHAT, b"{}", None).await;
    assert_eq!(error_code(webhook, StatusCode::NOT_FOUND).await, "no_webhooks");
    let plain = server.client.get(format!("{}/api/v1/webchat/anonymous-chat/socket", server.base)).send().await.unwrap();
    assert_eq!(error_code(plain, StatusCode::UPGRADE_REQUIRED).await, "websocket_required");
    server.stop().await;
}

#[tokio::test]
async fn typing_goes_both_ways_and_bad_frames_get_clear_errors() {
    let server = start("", &Settings::default()).await;
    create_agent(&server, "ines@acme.test", "agent").await;
    let agent = agent_session(&server, "ines@acme.test").await;
    let (_, mut socket) = visitor(&server).await;
    send_frame(&mut socket, json!({"type": "message", "client_id": "t-1", "text": "Hello?"})).await;
    frame_of(&mut socket, "ack").await;
    let conversation = webchat_conversation(&server).await;

    // The agent types: the widget shows it, with their name; then stops.
    let mut live = SseClient::connect_as(&server.base, &agent, None).await;
    let (status, body) = server.send_as(&agent, reqwest::Method::PUT, &format!("/api/v1/conversations/{conversation}/presence"), Some(json!({"state": "typing"}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (typing, _) = frame_of(&mut socket, "typing").await;
    assert_eq!((typing["typing"].as_bool(), typing["name"].as_str()), (Some(true), Some("ines@acme.test")));
    server.send_as(&agent, reqwest::Method::PUT, &format!("/api/v1/conversations/{conversation}/presence"), Some(json!({"state": "viewing"}))).await;
    let (typing, _) = frame_of(&mut socket, "typing").await;
    assert_eq!(typing["typing"], false);

    // The visitor types: the agent's live stream says so.
    send_frame(&mut socket, json!({"type": "typing", "typing": true})).await;
    let typing = loop {
        let event = live.next(Duration::from_secs(10)).await;
        if event.event.as_deref() == Some("contact.typing") {
            break event.data;
        }
    };
    assert_eq!((typing["conversation_id"].as_i64(), typing["typing"].as_bool()), (Some(conversation), Some(true)));

    // Clear errors: too long (the widget shows it), unknown frames, unknown uploads.
    send_frame(&mut socket, json!({"type": "message", "client_id": "t-2", "text": "x".repeat(201)})).await;
    let (error, _) = frame_of(&mut socket, "error").await;
    assert_eq!((error["code"].as_str(), error["client_id"].as_str()), (Some("message_too_long"), Some("t-2")));
    assert!(error["message"].as_str().unwrap().contains("under 200"), "{error}");
    send_frame(&mut socket, json!({"type": "launch_missiles"})).await;
    assert_eq!(frame_of(&mut socket, "error").await.0["code"], "bad_frame");
    let missing = json!({"type": "message", "client_id": "t-3", "attachments": [{"upload": "a".repeat(64), "mime_type": "image/png"}]});
    send_frame(&mut socket, missing).await;
    assert_eq!(frame_of(&mut socket, "error").await.0["code"], "upload_missing");
    send_frame(&mut socket, json!({"type": "message", "client_id": "t-4", "text": "   "})).await;
    let (error, _) = frame_of(&mut socket, "error").await;
    assert_eq!((error["code"].as_str(), error["client_id"].as_str()), (Some("refused"), Some("t-4")), "the plugin's refusal reaches the widget");
    assert_eq!(server.messages(conversation).await.len(), 1, "none of them was stored");
    server.stop().await;
}

#[tokio::test]
async fn uploads_are_checked_kept_and_served_to_their_visitor_only() {
    let server = start("", &Settings::default()).await;
    let (token, mut socket) = visitor(&server).await;
    let upload = async |token: &str, mime: &str, body: Vec<u8>| {
        server
            .client
            .post(format!("{}/api/v1/webchat/{WEBCHAT}/uploads?filename=receipt.png", server.base))
            .bearer_auth(token)
            .header("content-type", mime)
            .body(body)
            .send()
            .await
            .unwrap()
    };
    let png = b"\x89PNG\r\n\x1a\n a tiny test image".to_vec();
    assert_eq!(error_code(upload(&token, "application/x-msdownload", png.clone()).await, StatusCode::UNSUPPORTED_MEDIA_TYPE).await, "upload_type_not_allowed");
    assert_eq!(error_code(upload(&token, "image/png", vec![0; 2001]).await, StatusCode::PAYLOAD_TOO_LARGE).await, "upload_too_large");
    assert_eq!(error_code(upload("not-a-token", "image/png", png.clone()).await, StatusCode::UNAUTHORIZED).await, "invalid_token");
    let response = upload(&token, "image/png", png.clone()).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let kept: Value = response.json().await.unwrap();
    let sha = kept["upload"].as_str().unwrap().to_string();

    send_frame(&mut socket, json!({"type": "message", "client_id": "u-1", "text": "My receipt", "attachments": [{"upload": sha, "filename": "receipt.png", "mime_type": "image/png"}]})).await;
    let frame = message_frame(&mut socket, |m| m["client_id"] == "u-1").await;
    let url = frame["message"]["attachments"][0]["url"].as_str().unwrap().to_string();
    assert_eq!(url, format!("/api/v1/webchat/{WEBCHAT}/media/{sha}"));

    // The visitor can fetch it; another visitor cannot; the agent sees it in the conversation.
    let fetch = async |token: &str| server.client.get(format!("{}{url}?token={token}", server.base)).send().await.unwrap();
    let mine = fetch(&token).await;
    assert_eq!(mine.status(), StatusCode::OK);
    assert_eq!(mine.bytes().await.unwrap().as_ref(), png.as_slice());
    let (_, other) = open_session(&server, WEBCHAT, json!({})).await;
    assert_eq!(fetch(other["token"].as_str().unwrap()).await.status(), StatusCode::NOT_FOUND);
    let conversation = webchat_conversation(&server).await;
    let stored = &server.messages(conversation).await[0];
    assert_eq!(stored["attachments"][0]["reference"], format!("media:{sha}"));
    let agent_copy = server.client.get(format!("{}/api/v1/conversations/{conversation}/media/{sha}", server.base)).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
    assert_eq!(agent_copy.status(), StatusCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn with_nobody_online_the_widget_offers_email_and_the_address_is_kept_unverified() {
    let server = start("", &Settings::default()).await;
    let (status, session) = open_session(&server, WEBCHAT, json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((session["settings"]["online"].as_bool(), session["settings"]["reply_time"].as_str()), (Some(false), Some("within a few hours")));
    let token = session["token"].as_str().unwrap().to_string();
    let mut socket = connect(&server, &token, None, SHOP).await.unwrap();
    frame_of(&mut socket, "ready").await;
    send_frame(&mut socket, json!({"type": "message", "client_id": "o-1", "text": "Anyone there?"})).await;
    frame_of(&mut socket, "ack").await;
    send_frame(&mut socket, json!({"type": "email", "email": "not an address"})).await;
    assert_eq!(frame_of(&mut socket, "error").await.0["code"], "invalid_email");
    send_frame(&mut socket, json!({"type": "email", "email": "Ana@Example.com"})).await;
    let (saved, _) = frame_of(&mut socket, "email_saved").await;
    assert_eq!(saved["email"], "Ana@Example.com");

    // The next load shows it; the agent sees it on the visitor's identity, not as a proven address.
    let (_, again) = open_session(&server, WEBCHAT, json!({"token": token})).await;
    assert_eq!(again["email"], "ana@example.com");
    let conversation = webchat_conversation(&server).await;
    let contact_id = server.api_get(&format!("/api/v1/conversations/{conversation}")).await["contact"]["id"].as_i64().unwrap();
    let contact = server.api_get(&format!("/api/v1/contacts/{contact_id}")).await;
    let identity = contact["identities"].as_array().unwrap().iter().find(|i| i["channel_id"] == WEBCHAT).cloned().unwrap();
    assert_eq!(identity["email"], "ana@example.com");
    assert_eq!(contact["email"], Value::Null, "an unverified address does not become the contact's");

    // An agent coming online changes what new sessions are told.
    create_agent(&server, "ines@acme.test", "agent").await;
    let agent = agent_session(&server, "ines@acme.test").await;
    let (status, body) = server.send_as(&agent, reqwest::Method::PATCH, "/api/v1/me", Some(json!({"availability": "online"}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, online) = open_session(&server, WEBCHAT, json!({"token": token})).await;
    assert_eq!(online["settings"]["online"], true);
    server.stop().await;
}

#[tokio::test]
async fn the_widget_script_and_the_demo_page_are_served() {
    let server = start("", &Settings::default()).await;
    let script = server.client.get(format!("{}/widget/v1.js", server.base)).send().await.unwrap();
    assert_eq!(script.status(), StatusCode::OK);
    assert!(script.headers()["content-type"].to_str().unwrap().starts_with("text/javascript"));
    assert_eq!(script.headers()["cross-origin-resource-policy"], "cross-origin");
    let body = script.text().await.unwrap();
    assert!(body.contains("attachShadow"), "the widget isolates itself in a shadow root");
    assert!(body.len() < 60_000, "a few tens of KB at most: {} bytes", body.len());
    let demo = server.client.get(format!("{}/demo/webchat", server.base)).send().await.unwrap();
    assert_eq!(demo.status(), StatusCode::OK);
    assert!(demo.headers()["content-security-policy"].to_str().unwrap().contains("script-src 'self'"));
    let page = demo.text().await.unwrap();
    assert!(page.contains(&format!("data-channel=\"{WEBCHAT}\"")) && page.contains("/widget/v1.js"), "{page}");
    server.stop().await;
}

#[tokio::test]
async fn a_visitor_and_an_agent_chat_live_in_chromium() {
    let Some((python, chromium)) = crate::inbox::browser() else {
        eprintln!("skipped: run through `cargo xtask test` (SWITCHBOARD_TEST_VENV names the Playwright install)");
        return;
    };
    let server = start("", &Settings::default()).await;
    // An admin: the test also opens the widget's channel page.
    create_agent(&server, "mia@example.com", "admin").await;
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let scratch = tempfile::tempdir().unwrap();
    let shots = if std::env::var_os("SWITCHBOARD_SCREENSHOTS").is_some() { root.join("docs/screenshots") } else { scratch.path().to_path_buf() };
    let output = tokio::process::Command::new(&python)
        .arg(root.join("tests/browser/webchat_widget.py"))
        .env("SB_BASE", &server.base)
        .env("SB_AGENT", "mia@example.com")
        .env("SB_PASSWORD", crate::agents::PASSWORD)
        .env("SB_CHROMIUM", &chromium)
        .env("SB_SCREENSHOTS", &shots)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(180), output).await.expect("the browser test finished in time").unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "the browser test failed:\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("all web chat browser checks passed"), "{stdout}");
    // Every widget screenshot the README and the channel guide show is one this run took.
    for doc in ["README.md", "docs/channels/webchat.md"] {
        let text = std::fs::read_to_string(root.join(doc)).unwrap();
        let shown: Vec<&str> = text.split("screenshots/webchat-").skip(1).filter_map(|rest| rest.split_once(".png").map(|(name, _)| name)).collect();
        assert!(!shown.is_empty(), "{doc} shows the widget");
        for name in shown {
            assert!(shots.join(format!("webchat-{name}.png")).exists(), "screenshot webchat-{name} in {doc} was taken");
        }
    }
    // What the browsers did is what the store holds: two visitors, each in their own conversation.
    let conversation = webchat_conversation(&server).await;
    let texts: Vec<String> = server.messages(conversation).await.iter().filter_map(|m| m["text"].as_str().map(str::to_string)).collect();
    assert!(texts.iter().any(|t| t.contains("Ethiopia Guji")) || texts.iter().any(|t| t.contains("descafeinado")), "{texts:?}");
    server.stop().await;
}
