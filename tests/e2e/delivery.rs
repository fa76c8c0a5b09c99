//! The delivery engine end to end: retries with their timing visible through the API,
//! `Idempotency-Key`, dead letters and an agent's retry, templates and windows, failover to SMS,
//! and a channel held to its rate — against the loopback fakes of the WhatsApp Cloud API and
//! Twilio.

use crate::support::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::io::AsyncBufReadExt;

on_both_backends!(
    a_500_then_a_429_then_success_delivers_once_with_every_attempt_visible,
    a_retried_post_with_the_same_idempotency_key_queues_one_message,
    a_dead_letter_is_listed_and_an_agent_can_retry_it,
    free_text_outside_the_window_is_refused_and_a_template_goes,
    a_131047_fails_over_to_sms_with_both_attempts_on_the_message,
    a_read_receipt_rolls_up_and_is_announced_once,
);

/// One customer's WhatsApp conversation; its id.
async fn conversation(server: &TestServer) -> i64 {
    server.post_signed(&fixture("whatsapp/text.json")).await;
    server.only_conversation_id().await
}

async fn delivery(server: &TestServer, conversation_id: i64, message_id: i64) -> Value {
    server.api_get(&format!("/api/v1/conversations/{conversation_id}/messages/{message_id}/delivery")).await
}

async fn a_500_then_a_429_then_success_delivers_once_with_every_attempt_visible() {
    let graph = FakeGraph::start().await;
    let server = TestServer::start(Some(graph.addr)).await;
    let conversation_id = conversation(&server).await;
    graph.fail_next(500, 2, "(#2) Service temporarily unavailable", None);
    graph.fail_next(429, 130429, "(#130429) Rate limit hit", Some(1));
    let message_id = server.queue_text_reply(conversation_id, "once, please").await;
    server.wait_for_status(conversation_id, message_id, "sent").await;

    let received = graph.wait_for(3).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(graph.received().len(), 3, "two failures, one success, nothing after");
    assert!(received.iter().all(|r| r.body["text"]["body"] == "once, please"));
    let waited = received[2].at.duration_since(received[1].at);
    assert!(waited >= Duration::from_millis(950), "the 429's Retry-After of 1 s was honoured: {waited:?}");

    let delivery = delivery(&server, conversation_id, message_id).await;
    assert_eq!(delivery["state"], "sent", "{delivery:#}");
    assert_eq!(delivery["attempts"], 3);
    let history = delivery["history"].as_array().unwrap();
    let outcomes: Vec<&str> = history.iter().map(|a| a["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["retry", "retry", "sent"]);
    assert_eq!(history[0]["error_code"], "2");
    assert_eq!(history[1]["error_code"], "130429");
    assert_eq!(history[1]["error_kind"], "rate_limited");
    for attempt in history {
        let (started, finished) = (attempt["started_at"].as_i64().unwrap(), attempt["finished_at"].as_i64().unwrap());
        assert!(started <= finished, "{attempt}");
    }
    let retry_at = history[1]["retry_at"].as_i64().unwrap();
    assert!(retry_at >= history[1]["finished_at"].as_i64().unwrap() + 1000, "scheduled after the Retry-After: {delivery:#}");
    assert!(history[2]["started_at"].as_i64().unwrap() >= retry_at, "not tried before it was due");
    assert!(history[2]["retry_at"].is_null());
    let steps: Vec<&str> = delivery["statuses"].as_array().unwrap().iter().map(|s| s["status"].as_str().unwrap()).collect();
    assert_eq!(steps, ["pending", "sent"], "retries are attempts, not statuses");

    // An inbound message has no delivery, and another conversation's id finds nothing.
    let inbound_id = server.messages(conversation_id).await.iter().find(|m| m["direction"] == "inbound").unwrap()["id"].as_i64().unwrap();
    let missing = server.client.get(format!("{}/api/v1/conversations/{conversation_id}/messages/{inbound_id}/delivery", server.base)).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
    assert_eq!(error_code(missing, StatusCode::NOT_FOUND).await, "not_found");
    server.stop().await;
}

async fn post_with_key(server: &TestServer, conversation_id: i64, key: &str, body: &Value) -> reqwest::Response {
    server
        .client
        .post(format!("{}/api/v1/conversations/{conversation_id}/messages", server.base))
        .bearer_auth(ADMIN_TOKEN)
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn a_retried_post_with_the_same_idempotency_key_queues_one_message() {
    let graph = FakeGraph::start().await;
    let server = TestServer::start(Some(graph.addr)).await;
    let conversation_id = conversation(&server).await;
    let body = json!({"text": "exactly one of me"});

    let first = post_with_key(&server, conversation_id, "5b0c6f4e-key", &body).await;
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first: Value = first.json().await.unwrap();
    // The client's connection dropped; it retries, twice, one of them concurrently with another.
    let (again, concurrent) =
        tokio::join!(post_with_key(&server, conversation_id, "5b0c6f4e-key", &body), post_with_key(&server, conversation_id, "5b0c6f4e-key", &body));
    for response in [again, concurrent] {
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        assert_eq!(response.headers().get("idempotent-replayed").map(|v| v.to_str().unwrap()), Some("true"));
        let replayed: Value = response.json().await.unwrap();
        assert_eq!(replayed["id"], first["id"], "the first request's message");
    }
    // Two agents racing with one fresh key on PostgreSQL: one message.
    let racing = futures_util::future::join_all((0..6).map(|_| post_with_key(&server, conversation_id, "race-key", &body))).await;
    let mut ids: Vec<Value> = Vec::new();
    for response in racing {
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        ids.push(response.json::<Value>().await.unwrap()["id"].clone());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "six racing posts, one message: {ids:?}");

    // The same key for something else is refused; a malformed key is a 400.
    let reused = post_with_key(&server, conversation_id, "5b0c6f4e-key", &json!({"text": "something else"})).await;
    assert_eq!(error_code(reused, StatusCode::CONFLICT).await, "idempotency_key_reused");
    let long = "k".repeat(256);
    for bad in ["", "has space", long.as_str()] {
        let response = post_with_key(&server, conversation_id, bad, &body).await;
        assert_eq!(error_code(response, StatusCode::BAD_REQUEST).await, "invalid_idempotency_key", "{bad:?}");
    }

    graph.wait_for(2).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sent: Vec<Value> = graph.received().into_iter().map(|r| r.body["text"]["body"].clone()).collect();
    assert_eq!(sent, [json!("exactly one of me"), json!("exactly one of me")], "one per key");
    let outbound = server.messages(conversation_id).await.into_iter().filter(|m| m["direction"] == "outbound").count();
    assert_eq!(outbound, 2);
    server.stop().await;
}

async fn a_dead_letter_is_listed_and_an_agent_can_retry_it() {
    let graph = FakeGraph::start().await;
    // This channel gives up after two attempts.
    let server = TestServer::start_with(Some(graph.addr), "[channels.delivery]\nmax_attempts = 2\n").await;
    let conversation_id = conversation(&server).await;
    graph.fail_next(503, 131016, "(#131016) Service unavailable", None);
    graph.fail_next(503, 131016, "(#131016) Service unavailable", None);
    let message_id = server.queue_text_reply(conversation_id, "persistent").await;
    let failed = server.wait_for_status(conversation_id, message_id, "failed").await;
    assert_eq!(failed["error"]["code"], "131016");
    assert_eq!(graph.received().len(), 2, "max_attempts from [channels.delivery]");

    let dead = server.api_get("/api/v1/dead-letters").await;
    let dead = dead.as_array().unwrap();
    assert_eq!(dead.len(), 1, "{dead:#?}");
    assert_eq!((dead[0]["message_id"].as_i64(), dead[0]["state"].as_str(), dead[0]["attempts"].as_i64()), (Some(message_id), Some("dead"), Some(2)));

    // A sent reply cannot be retried; the dead one can, and goes out.
    let retry_path = format!("/api/v1/conversations/{conversation_id}/messages/{message_id}/retry");
    let (status, retried) = server.api_post(&retry_path, &json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{retried}");
    assert_eq!(retried["status"], "pending");
    server.wait_for_status(conversation_id, message_id, "sent").await;
    assert_eq!(graph.received().len(), 3);
    let (status, again) = server.api_post(&retry_path, &json!({})).await;
    assert_eq!((status, again["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("conflict")));
    assert!(server.api_get("/api/v1/dead-letters").await.as_array().unwrap().is_empty());
    let history = delivery(&server, conversation_id, message_id).await;
    let outcomes: Vec<&str> = history["history"].as_array().unwrap().iter().map(|a| a["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["retry", "dead", "sent"], "{history:#}");
    server.stop().await;
}

async fn free_text_outside_the_window_is_refused_and_a_template_goes() {
    let graph = FakeGraph::start().await;
    let clock = std::sync::Arc::new(switchboard::clock::ShiftedClock::default());
    let server = TestServer::start_clocked(Some(graph.addr), "", &Settings::default(), clock.clone()).await;
    let conversation_id = conversation(&server).await;
    let windows_path = format!("/api/v1/conversations/{conversation_id}/windows");
    let whatsapp = |windows: &Value| windows.as_array().unwrap().iter().find(|w| w["channel_id"] == "whatsapp").cloned().unwrap();
    let open = whatsapp(&server.api_get(&windows_path).await);
    assert_eq!((open["open"].as_bool(), open["hours"].as_u64()), (Some(true), Some(24)), "{open}");
    let last = open["last_inbound_at"].as_i64().unwrap();
    assert_eq!(open["closes_at"].as_i64(), Some(last + 24 * 3_600_000));

    // A day and an hour later, the window has closed.
    clock.advance(25 * 3_600_000);
    let closed = whatsapp(&server.api_get(&windows_path).await);
    assert_eq!(closed["open"], false, "{closed}");
    let path = format!("/api/v1/conversations/{conversation_id}/messages");
    let (status, refused) = server.api_post(&path, &json!({"text": "are you still there?"})).await;
    assert_eq!((status, refused["error"]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("window_closed")), "{refused}");
    let why = refused["error"]["message"].as_str().unwrap();
    assert!(why.contains("template") && why.contains("24 hours"), "{why}");
    let template = |name: &str, language: &str, parameters: &[&str]| {
        json!({"content": {"type": "template", "name": name, "language": language, "parameters": parameters}})
    };
    let refused = async |body: Value| {
        let (status, answer) = server.api_post(&path, &body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
        answer["error"]["code"].as_str().unwrap().to_string()
    };
    // A template must be stored before it can be sent.
    assert_eq!(refused(template("order_update", "en_US", &["José"])).await, "unknown_template");
    let stored = json!({"channel_id": "whatsapp", "name": "order_update", "language": "en_US", "category": "utility",
        "body": "Hi {{1}}, your order {{2}} has shipped.", "status": "pending"});
    let (status, created) = server.api_post("/api/v1/templates", &stored).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["parameter_count"], 2);
    let id = created["id"].as_i64().unwrap();
    assert_eq!(refused(template("order_update", "en_US", &["José", "#12"])).await, "template_not_approved");
    let (status, approved) = server.api_patch(&format!("/api/v1/templates/{id}"), &json!({"status": "approved"})).await;
    assert_eq!((status, approved["status"].as_str()), (StatusCode::OK, Some("approved")), "{approved}");
    // The wrong parameter count, or a language it is not in, is refused before anything is queued.
    assert_eq!(refused(template("order_update", "en_US", &["José"])).await, "template_parameters");
    assert_eq!(refused(template("order_update", "en_US", &["José", "#12", "extra"])).await, "template_parameters");
    assert_eq!(refused(template("order_update", "es", &["José", "#12"])).await, "template_language");
    // A contact known to read Portuguese gets no English template.
    let contact_id = server.api_get(&format!("/api/v1/conversations/{conversation_id}")).await["contact"]["id"].as_i64().unwrap();
    let (status, _) = server.api_patch(&format!("/api/v1/contacts/{contact_id}"), &json!({"language": "pt_BR"})).await;
    assert_eq!(status, StatusCode::OK);
    let (_, answer) = server.api_post(&path, &template("order_update", "en_US", &["José", "#12"])).await;
    assert_eq!(answer["error"]["code"], "template_language", "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap().contains("pt_BR"), "{answer}");
    let (status, _) = server.api_post("/api/v1/templates", &json!({"channel_id": "whatsapp", "name": "order_update", "language": "pt_BR",
        "category": "utility", "body": "Olá {{1}}, o seu pedido {{2}} foi enviado."})).await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(graph.received().is_empty(), "nothing refused reached the provider");

    let (status, queued) = server.api_post(&path, &template("order_update", "pt_BR", &["José", "#12"])).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    assert_eq!(queued["text"], "Olá José, o seu pedido #12 foi enviado.", "the inbox shows what the customer reads");
    let sent = graph.wait_for(1).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].body["type"], "template", "only the template went out: {:?}", sent[0].body);
    assert_eq!(sent[0].body["template"]["language"]["code"], "pt_BR");

    server.stop().await;
}

/// WhatsApp fails over to SMS: the contact wrote on both (one phone, one contact), WhatsApp
/// refuses a reply with 131047 (its window closed, whatever our clock said) and a template with
/// 131026 (not a WhatsApp user any more). Each goes out by SMS instead, the template as its
/// filled-in text; the message says where it came from, and its delivery lists both attempts
/// with their channels. A reply fails over once: when SMS refuses too, it fails there.
async fn a_131047_fails_over_to_sms_with_both_attempts_on_the_message() {
    use crate::twilio_sms::{channel_toml, inbound_form_from, post_signed as post_sms, FakeTwilio};
    let graph = FakeGraph::start().await;
    let twilio = FakeTwilio::start().await;
    let channels = format!("[channels.delivery]\nfailover_to = \"sms\"\n{}", channel_toml(Some(twilio.addr)));
    let server = TestServer::start_with(Some(graph.addr), &channels).await;
    post_sms(&server, &inbound_form_from("SMfo00000000000000000000000000001", "+16505551234", "texting first")).await;
    let conversation_id = conversation(&server).await;
    let path = format!("/api/v1/conversations/{conversation_id}/messages");

    graph.fail_next(400, 131047, "(#131047) Re-engagement message", None);
    let message_id = server.queue_text_reply(conversation_id, "Your refund is on its way.").await;
    // Twilio takes a message as `queued`.
    let sent = server.wait_for_status(conversation_id, message_id, "queued").await;
    assert_eq!(sent["channel_id"], "sms", "{sent}");
    assert_eq!((sent["failover"]["from_channel_id"].as_str(), sent["failover"]["code"].as_str()), (Some("whatsapp"), Some("131047")), "{sent}");
    let texts = twilio.wait_for(1).await;
    assert_eq!((texts[0].param("Body"), texts[0].param("To")), (Some("Your refund is on its way."), Some("+16505551234")));
    assert_eq!(graph.received().len(), 1, "one try on WhatsApp");
    let history = delivery(&server, conversation_id, message_id).await;
    let attempts: Vec<(&str, &str, Option<&str>)> = history["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["channel_id"].as_str().unwrap(), a["outcome"].as_str().unwrap(), a["error_code"].as_str()))
        .collect();
    assert_eq!(attempts, [("whatsapp", "failed_over", Some("131047")), ("sms", "sent", None)], "{history:#}");
    assert_eq!(history["channel_id"], "sms");

    // A template goes as its text (SMS has no templates).
    let template = json!({"channel_id": "whatsapp", "name": "refund_done", "language": "en", "category": "utility", "body": "Hi {{1}}, refund {{2}} is done."});
    let (status, created) = server.api_post("/api/v1/templates", &template).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    graph.fail_next(400, 131026, "(#131026) Message undeliverable", None);
    let body = json!({"content": {"type": "template", "name": "refund_done", "language": "en", "parameters": ["José", "R-9"]}});
    let message_id = server.queue_reply(conversation_id, &body).await["id"].as_i64().unwrap();
    let sent = server.wait_for_status(conversation_id, message_id, "queued").await;
    assert_eq!(sent["failover"]["code"], "131026", "a permanent failure fails over too: {sent}");
    assert_eq!(twilio.wait_for(2).await[1].param("Body"), Some("Hi José, refund R-9 is done."));

    // Once only: SMS refusing as well leaves it failed there, with both reasons.
    graph.fail_next(400, 131047, "(#131047) Re-engagement message", None);
    twilio.fail_next(400, 21610, "Attempt to send to unsubscribed recipient", None);
    let (status, queued) = server.api_post(&path, &json!({"text": "one more thing"})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    let failed = server.wait_for_status(conversation_id, queued["id"].as_i64().unwrap(), "failed").await;
    assert_eq!(failed["channel_id"], "sms");
    assert_eq!(failed["error"]["code"], "21610", "{failed}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(graph.received().len(), 3, "never back to WhatsApp");
    server.stop().await;
}

/// A read receipt moves the conversation's read state, and the live stream says so: the
/// message's `message.updated`, then one `conversation.updated` carrying the read state. A
/// read of an older message afterwards moves nothing and announces nothing more.
async fn a_read_receipt_rolls_up_and_is_announced_once() {
    let graph = FakeGraph::start().await;
    let server = TestServer::start(Some(graph.addr)).await;
    let conversation_id = conversation(&server).await;
    let first = server.queue_text_reply(conversation_id, "first").await;
    let second = server.queue_text_reply(conversation_id, "second").await;
    let external = |view: &Value| view["external_id"].as_str().unwrap().to_string();
    let first_wamid = external(&server.wait_for_status(conversation_id, first, "sent").await);
    let second_wamid = external(&server.wait_for_status(conversation_id, second, "sent").await);
    let mut live = SseClient::connect(&server.base, None).await;

    server.post_signed(&status_fixture("whatsapp/status_read.json", &second_wamid)).await;
    let updated = loop {
        let event = live.next(Duration::from_secs(10)).await;
        match event.event.as_deref() {
            Some("message.updated") => assert_eq!(event.data["message"]["id"], second, "{:?}", event.data),
            Some("conversation.updated") => break event.data,
            _ => {}
        }
    };
    let conversation = &updated["conversation"];
    assert_eq!(conversation["id"], conversation_id);
    assert_eq!(conversation["customer_read_message_id"], second, "{conversation}");
    assert!(conversation["customer_read_at"].as_i64().is_some());

    // The older message read later: its own status moves, the conversation's does not.
    server.post_signed(&status_fixture("whatsapp/status_read.json", &first_wamid)).await;
    let event = live.next(Duration::from_secs(10)).await;
    assert_eq!((event.event.as_deref(), &event.data["message"]["id"]), (Some("message.updated"), &json!(first)));
    let view = server.api_get(&format!("/api/v1/conversations/{conversation_id}")).await;
    assert_eq!(view["customer_read_message_id"], second, "the newest read stays");
    // A new customer message, to see that nothing came before it.
    let text = String::from_utf8(fixture("whatsapp/text.json")).unwrap().replace("wamid.HBgL", "wamid.NEXT");
    server.post_signed(text.as_bytes()).await;
    loop {
        let event = live.next(Duration::from_secs(10)).await;
        if event.event.as_deref() == Some("message.created") {
            break;
        }
        assert_ne!(event.event.as_deref(), Some("conversation.updated"), "an older read announced nothing: {:?}", event.data);
    }
    server.stop().await;
}

/// Held to `rate_per_sec` within 10% over ten seconds: 20/s with no burst, 260 replies queued
/// at once, counted where the provider sees them. (SQLite here; the bucket is a database row on
/// either backend, and `cluster::two_nodes_drain_one_outbox_at_the_channel_rate` holds two
/// PostgreSQL nodes to one rate.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_is_held_to_its_rate() {
    let graph = FakeGraph::start().await;
    let delivery = "[channels.delivery]\nrate_per_sec = 20.0\nburst = 1\nrecipient_interval_ms = 0\n";
    let server = TestServer::start_with(Some(graph.addr), delivery).await;
    let conversation_id = conversation(&server).await;
    for n in 0..260 {
        let (status, body) = server.api_post(&format!("/api/v1/conversations/{conversation_id}/messages"), &json!({"text": format!("r{n}")})).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(40);
    while graph.received().len() < 215 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let received = graph.received();
    assert!(received.len() >= 215, "only {} sends in 40 s", received.len());
    let start = received[0].at;
    let in_ten_seconds = received.iter().filter(|r| r.at.duration_since(start) < Duration::from_secs(10)).count();
    // 1 at once, then 20 a second: 200 in ten seconds.
    assert!((180..=220).contains(&in_ten_seconds), "{in_ten_seconds} sends in the first 10 s at 20/s");
    server.stop().await;
}

/// The inbox side (`tests/browser/delivery.py`, real Chromium): a reply that failed shows why,
/// its attempts are listed, and the agent's retry sends it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_sees_the_attempts_and_retries_a_failed_reply_in_chromium() {
    let Some((python, chromium)) = crate::inbox::browser() else {
        eprintln!("skipped: run through `cargo xtask test` (SWITCHBOARD_TEST_VENV names the Playwright install)");
        return;
    };
    use crate::twilio_sms::{channel_toml, inbound_form_from, post_signed as post_sms, FakeTwilio};
    let graph = FakeGraph::start().await;
    let twilio = FakeTwilio::start().await;
    let clock = std::sync::Arc::new(switchboard::clock::ShiftedClock::default());
    // WhatsApp gives up after two attempts, and fails over to SMS only when its window closed.
    let channels = format!(
        "[channels.delivery]\nmax_attempts = 2\nfailover_to = \"sms\"\nfailover_on = [\"window_closed\"]\n{}",
        channel_toml(Some(twilio.addr))
    );
    let server = TestServer::start_clocked(Some(graph.addr), &channels, &Settings::default(), clock.clone()).await;
    crate::inbox::agent(&server, "ana@example.com", "Ana", "agent").await;
    crate::inbox::agent(&server, "cy@example.com", "Cy", "admin").await;
    post_sms(&server, &inbound_form_from("SMbr00000000000000000000000000001", "+16505551234", "texting too")).await;
    let conversation_id = conversation(&server).await;
    graph.fail_next(503, 131016, "(#131016) Service unavailable", None);
    graph.fail_next(503, 131016, "(#131016) Service unavailable", None);
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let signal = server.dir.path().join("clock-moved");
    let read_signal = server.dir.path().join("read");
    let mut child = tokio::process::Command::new(&python)
        .arg(root.join("tests/browser/delivery.py"))
        .env("SB_BASE", &server.base)
        .env("SB_PASSWORD", crate::agents::PASSWORD)
        .env("SB_AGENT", "ana@example.com")
        .env("SB_ADMIN", "cy@example.com")
        .env("SB_CHROMIUM", &chromium)
        .env("SB_SIGNAL", &signal)
        .env("SB_READ_SIGNAL", &read_signal)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // Move the gateway's clock when the script asks, then let it go on.
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut stdout = String::new();
    let run = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line == "advance-clock" {
                clock.advance(25 * 3_600_000);
                // What the agent sends next, WhatsApp refuses: its window closed.
                graph.fail_next(400, 131047, "(#131047) Re-engagement message", None);
                std::fs::write(&signal, b"moved").unwrap();
            }
            if line == "mark-read" {
                let messages = server.api_get(&format!("/api/v1/conversations/{conversation_id}/messages")).await;
                let sent = messages["items"].as_array().unwrap().iter().find(|m| m["text"] == "Your order ships today.").cloned().unwrap();
                server.post_signed(&status_fixture("whatsapp/status_read.json", sent["external_id"].as_str().unwrap())).await;
                std::fs::write(&read_signal, b"read").unwrap();
            }
            stdout.push_str(&line);
            stdout.push('\n');
        }
        child.wait_with_output().await.unwrap()
    };
    let output = tokio::time::timeout(Duration::from_secs(180), run).await.expect("the browser test finished in time");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the browser test failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("all browser checks passed"), "{stdout}");
    let texts: Vec<Value> = graph.received().into_iter().filter(|r| r.body["type"] == "text").map(|r| r.body["text"]["body"].clone()).collect();
    assert_eq!(texts, vec![json!("Your order ships today."); 3], "two failures, the agent's retry, and nothing after the window closed");
    let templates = graph.received().into_iter().filter(|r| r.body["type"] == "template").count();
    assert_eq!(templates, 1, "the template was tried on WhatsApp");
    let texts = twilio.received();
    assert_eq!(texts.len(), 1, "and went by SMS instead");
    assert_eq!(texts[0].param("Body"), Some("Hi José, your order is ready for pickup."));
    let view = server.api_get(&format!("/api/v1/conversations/{conversation_id}")).await;
    assert!(view["customer_read_message_id"].as_i64().is_some(), "the read rolled up: {view}");
    server.stop().await;
}
