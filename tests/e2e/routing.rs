//! Routing policies end to end: real webhooks in, the real policy components run by the
//! routing stage after the commit, decisions applied, recorded and shown through the API,
//! auto-replies out through the outbox to the fake Graph API.

use crate::agents::create_agent;
use crate::support::*;
use crate::twilio_sms::{channel_toml as sms_channel, inbound_form_from, twilio_signature};
use crate::workflow::team;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

on_both_backends!(
    urgent_words_raise_priority_and_the_reason_is_recorded,
    out_of_hours_messages_get_one_auto_reply_and_go_to_the_after_hours_team,
    the_least_loaded_agent_gets_it_and_a_full_team_queues_until_room_frees,
);

const CUSTOMER: &str = "16505551234";

fn whatsapp_text(external_id: &str, from: &str, text: &str) -> Vec<u8> {
    let mut value: Value = serde_json::from_slice(&fixture("whatsapp/text.json")).unwrap();
    let change = &mut value["entry"][0]["changes"][0]["value"];
    change["messages"][0]["id"] = json!(external_id);
    change["messages"][0]["from"] = json!(from);
    change["messages"][0]["text"]["body"] = json!(text);
    change["messages"][0]["timestamp"] = json!((now_ms() / 1000).to_string());
    change["contacts"][0]["wa_id"] = json!(from);
    serde_json::to_vec(&value).unwrap()
}

/// `[[routing.policies]]` entries, in order, as TOML text.
fn chain(policies: &[(&str, &str, &str)]) -> String {
    let mut text = String::from("[routing]\npoll_interval_ms = 50\nqueue_interval_ms = 200\ncall_timeout_ms = 300\n");
    for (name, plugin, config) in policies {
        text.push_str(&format!("\n[[routing.policies]]\nname = \"{name}\"\nplugin = \"{plugin}\"\n"));
        if !config.is_empty() {
            text.push_str(&format!("[routing.policies.config]\n{config}\n"));
        }
    }
    text
}

async fn start(graph: Option<std::net::SocketAddr>, channels: &str, routing: &str) -> TestServer {
    TestServer::start_settings(graph, channels, &Settings { sections: routing, ..Settings::default() }).await
}

async fn write(server: &TestServer, id: &str, from: &str, text: &str) -> i64 {
    let body = server.post_signed(&whatsapp_text(id, from, text)).await;
    assert_eq!(body["new_messages"], 1, "{body}");
    server
        .eventually("the conversation", async |server| {
            let conversations = server.api_get("/api/v1/conversations?limit=100").await;
            conversations["items"].as_array()?.iter().find(|c| c["last_message"]["text"] == text).map(|c| c["id"].as_i64().unwrap())
        })
        .await
}

async fn decisions(server: &TestServer, id: i64) -> Vec<Value> {
    server.api_get(&format!("/api/v1/conversations/{id}/routing")).await.as_array().cloned().unwrap_or_default()
}

/// Wait until conversation `id` has `count` routing runs; returns them, newest first.
async fn routed(server: &TestServer, id: i64, count: usize) -> Vec<Value> {
    server.eventually(&format!("{count} routing run(s)"), async |server| Some(decisions(server, id).await).filter(|d| d.len() >= count)).await
}

async fn conversation(server: &TestServer, id: i64) -> Value {
    server.api_get(&format!("/api/v1/conversations/{id}")).await
}

async fn patch(server: &TestServer, path: &str, body: Value) -> Value {
    let response = server.client.patch(format!("{}{path}", server.base)).bearer_auth(ADMIN_TOKEN).json(&body).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    response.json().await.unwrap()
}

async fn urgent_words_raise_priority_and_the_reason_is_recorded() {
    let server = start(None, "", &chain(&[("urgency", "urgency", "")])).await;
    let id = write(&server, "wamid.urgent-1", CUSTOMER, "URGENT refund please").await;
    let runs = routed(&server, id, 1).await;
    assert_eq!(runs[0]["trigger"], "message");
    assert_eq!(runs[0]["priority"], "urgent", "{runs:?}");
    let step = &runs[0]["steps"][0];
    assert_eq!(step["policy"], "urgency");
    let reason = step["decision"]["reason"].as_str().unwrap().to_lowercase();
    assert!(reason.contains("urgent"), "{reason}");
    assert_eq!(conversation(&server, id).await["priority"], "urgent");
    // The thread shows who routed it and why.
    let activity = server.api_get(&format!("/api/v1/conversations/{id}/activity")).await;
    let routed_line = activity["items"].as_array().unwrap().iter().find(|a| a["kind"] == "routed").cloned().expect("a routed entry");
    assert_eq!(routed_line["actor"], "urgency");
    assert_eq!(routed_line["new_value"], "as urgent");
    assert!(routed_line["body"].as_str().unwrap().to_lowercase().contains("urgent"), "{routed_line}");
    // A calm message in another conversation stays normal, and is still routed.
    let calm = write(&server, "wamid.calm-1", "16505550000", "hello, what are your opening hours?").await;
    let runs = routed(&server, calm, 1).await;
    assert_eq!(runs[0]["priority"], Value::Null, "{runs:?}");
    assert_eq!(conversation(&server, calm).await["priority"], "normal");
    server.stop().await;
}

/// An `Etc/GMT±N` zone where it is 22:xx now: whatever the hour here, the test runs at
/// 22:00 local time.
fn zone_at_ten_pm() -> String {
    let utc_hour = ((now_ms() / 3_600_000) % 24) as i64;
    let mut offset = 22 - utc_hour;
    if offset > 14 {
        offset -= 24;
    }
    if offset < -12 {
        offset += 24;
    }
    // POSIX-style names: Etc/GMT-2 is two hours *ahead* of UTC.
    match offset {
        0 => "Etc/GMT".to_string(),
        o if o > 0 => format!("Etc/GMT-{o}"),
        o => format!("Etc/GMT+{}", -o),
    }
}

fn business_hours(zone: &str) -> String {
    format!(
        r#"timezone = "{zone}"
schedule = {{ mon = ["09:00-13:00", "14:00-18:00"], tue = ["09:00-18:00"], wed = ["09:00-18:00"], thu = ["09:00-18:00"], fri = ["09:00-18:00"], sat = ["10:00-14:00"], sun = ["10:00-14:00"] }}
after_hours_team = "After hours"
auto_reply = "We're closed now and answer from {{opens}}."
"#
    )
}

async fn out_of_hours_messages_get_one_auto_reply_and_go_to_the_after_hours_team() {
    let graph = FakeGraph::start().await;
    let server = start(Some(graph.addr), "", &chain(&[("business-hours", "business-hours", &business_hours(&zone_at_ten_pm()))])).await;
    let night = team(&server, "After hours", &[]).await;
    let id = write(&server, "wamid.night-1", CUSTOMER, "hi, is anyone there?").await;
    let runs = routed(&server, id, 1).await;
    assert_eq!(runs[0]["team_id"], night, "{runs:?}");
    assert!(runs[0]["auto_reply_message_id"].is_i64(), "{runs:?}");
    assert_eq!(runs[0]["auto_reply_policy"], "business-hours");
    // The auto-reply goes out through the outbox, on WhatsApp.
    let sent = graph.wait_for(1).await;
    let text = sent[0].body["text"]["body"].as_str().unwrap().to_string();
    assert!(text.starts_with("We're closed now and answer from "), "{text}");
    assert!(!text.contains("{opens}"), "{text}");
    assert_eq!(conversation(&server, id).await["team_id"], night);
    // A second message in the same closed period is routed again but not answered again.
    write(&server, "wamid.night-2", CUSTOMER, "hello??").await;
    let runs = routed(&server, id, 2).await;
    assert_eq!(runs[0]["auto_reply_message_id"], Value::Null, "{runs:?}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(graph.received().len(), 1, "one auto-reply per closed period");
    // The auto-reply is in the thread, written by the policy; the customer still waits.
    let messages = server.messages(id).await;
    let auto: Vec<&Value> = messages.iter().filter(|m| m["direction"] == "outbound").collect();
    assert_eq!(auto.len(), 1);
    assert_eq!(auto[0]["author"], "routing: business-hours");
    server.stop().await;
}

async fn open_conversations(server: &TestServer, agent: i64) -> usize {
    let list = server.api_get("/api/v1/conversations?limit=100").await;
    list["items"].as_array().unwrap().iter().filter(|c| c["assignee_id"] == agent && c["status"] != "resolved").count()
}

async fn the_least_loaded_agent_gets_it_and_a_full_team_queues_until_room_frees() {
    let server = start(None, "", &chain(&[("capacity", "capacity", "default_team = \"Billing\"")])).await;
    let ana = create_agent(&server, "ana@example.com", "agent").await["id"].as_i64().unwrap();
    let bo = create_agent(&server, "bo@example.com", "agent").await["id"].as_i64().unwrap();
    let billing = team(&server, "Billing", &[ana, bo]).await;
    // Nobody online: four conversations wait in the Billing queue, then are handed out by
    // hand, three to Ana and one to Bo.
    let mut waiting = Vec::new();
    for n in 0..4 {
        let id = write(&server, &format!("wamid.load-{n}"), &format!("1650555100{n}"), &format!("order question {n}")).await;
        let runs = routed(&server, id, 1).await;
        assert_eq!(runs[0]["team_id"], billing, "{runs:?}");
        assert_eq!(runs[0]["agent_id"], Value::Null, "nobody is online: {runs:?}");
        waiting.push(id);
    }
    for (n, id) in waiting.iter().enumerate() {
        let agent = if n < 3 { ana } else { bo };
        patch(&server, &format!("/api/v1/conversations/{id}"), json!({"assignee_id": agent})).await;
    }
    patch(&server, &format!("/api/v1/agents/{ana}"), json!({"availability": "online", "max_conversations": 5})).await;
    patch(&server, &format!("/api/v1/agents/{bo}"), json!({"availability": "online", "max_conversations": 2})).await;
    // Ana has 3 open, Bo 1: the next goes to Bo.
    let next = write(&server, "wamid.load-next", "16505552000", "where is my invoice").await;
    let runs = routed(&server, next, 1).await;
    assert_eq!(runs[0]["agent_id"], bo, "{runs:?}");
    assert_eq!(conversation(&server, next).await["assignee_id"], bo);
    assert_eq!(open_conversations(&server, bo).await, 2);
    // Bo is full now (2 of 2); with Ana's maximum at 3, she is full too: the next waits.
    patch(&server, &format!("/api/v1/agents/{ana}"), json!({"max_conversations": 3})).await;
    let queued = write(&server, "wamid.load-queued", "16505553000", "refund status?").await;
    let runs = routed(&server, queued, 1).await;
    assert_eq!(runs[0]["agent_id"], Value::Null, "{runs:?}");
    assert_eq!(runs[0]["team_id"], billing);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(conversation(&server, queued).await["assignee_id"], Value::Null, "no one has room");
    // Ana resolves one: she has room, and the queued conversation is hers.
    patch(&server, &format!("/api/v1/conversations/{}", waiting[0]), json!({"status": "resolved"})).await;
    let assignee = server
        .eventually("the queued conversation assigned", async |server| conversation(server, queued).await["assignee_id"].as_i64())
        .await;
    assert_eq!(assignee, ana);
    let runs = decisions(&server, queued).await;
    assert_eq!(runs[0]["trigger"], "capacity", "{runs:?}");
    server.stop().await;
}

/// The same messages under two orders of the same two policies end differently: the chain
/// runs in `config.toml`'s order, each policy seeing the decision so far.
#[tokio::test]
async fn the_policy_order_in_config_changes_the_outcome() {
    let hours = business_hours(&zone_at_ten_pm());
    let capacity = "default_team = \"Day\"";
    let mut assignees = Vec::new();
    for order in [[("business-hours", "business-hours", hours.as_str()), ("capacity", "capacity", capacity)], [
        ("capacity", "capacity", capacity),
        ("business-hours", "business-hours", hours.as_str()),
    ]] {
        let server = start(None, "", &chain(&order)).await;
        let dan = create_agent(&server, "dan@example.com", "agent").await["id"].as_i64().unwrap();
        let nina = create_agent(&server, "nina@example.com", "agent").await["id"].as_i64().unwrap();
        team(&server, "Day", &[dan]).await;
        team(&server, "After hours", &[nina]).await;
        for agent in [dan, nina] {
            patch(&server, &format!("/api/v1/agents/{agent}"), json!({"availability": "online"})).await;
        }
        let id = write(&server, "wamid.order-1", CUSTOMER, "can someone help me").await;
        let runs = routed(&server, id, 1).await;
        let assignee = runs[0]["agent_id"].as_i64().expect("assigned");
        assignees.push(if assignee == dan { "Day" } else if assignee == nina { "After hours" } else { "?" });
        server.stop().await;
    }
    // business-hours first: capacity assigns within the after-hours team it chose. capacity
    // first: it picks the day team's agent before business-hours moves the team.
    assert_eq!(assignees, ["After hours", "Day"]);
}

/// A policy that traps, and one that loops, is skipped: the message is stored (200), the
/// next policy still decides, and `/metrics` counts both failures.
#[tokio::test]
async fn a_trapping_or_looping_policy_is_skipped_and_counted() {
    let server = start(None, "", &chain(&[("broken", "test-policy-trap", ""), ("urgency", "urgency", "")])).await;
    let id = write(&server, "wamid.trap-1", CUSTOMER, "urgent: my order").await;
    let runs = routed(&server, id, 1).await;
    assert_eq!(runs[0]["priority"], "urgent", "{runs:?}");
    assert!(runs[0]["steps"][0]["error"].as_str().unwrap().contains("trapped"), "{runs:?}");
    let looping = write(&server, "wamid.trap-2", "16505550001", "please loop asap").await;
    let runs = routed(&server, looping, 1).await;
    assert_eq!(runs[0]["priority"], "urgent", "{runs:?}");
    assert!(runs[0]["steps"][0]["error"].as_str().unwrap().contains("time limit"), "{runs:?}");
    let metrics = server.client.get(format!("{}/metrics", server.base)).send().await.unwrap().text().await.unwrap();
    assert_eq!(metric_value(&metrics, r#"switchboard_routing_policy_skipped_total{policy="broken",reason="trap"}"#), 1.0, "{metrics}");
    assert_eq!(metric_value(&metrics, r#"switchboard_routing_policy_skipped_total{policy="broken",reason="timeout"}"#), 1.0);
    // The admin API lists the chain in order, with what each policy reports of itself.
    let policies = server.api_get("/api/v1/admin/routing/policies").await;
    assert_eq!(policies[0]["name"], "broken");
    assert_eq!(policies[1]["plugin_name"], "urgency");
    assert_eq!(policies[1]["contract"], "0.1.0");
    server.stop().await;
}

/// SMS over WhatsApp when WhatsApp's window has closed and no template fits: the window is
/// set to a fraction of a second so the test need not wait a day.
#[tokio::test]
async fn the_cost_policy_picks_sms_when_the_whatsapp_window_is_closed() {
    let cost = r#"costs = { whatsapp = 0.005, "twilio-sms" = 0.0079 }
windows = { whatsapp = 0.0002 }"#;
    let server = start(None, &sms_channel(None), &chain(&[("cost", "cost", cost)])).await;
    let phone = "+14155550199";
    let sms = |sid: &str, text: &str| {
        let body = inbound_form_from(sid, phone, text);
        let signature = twilio_signature("twilio-test-auth-token-8c1d", "https://switchboard.test/webhooks/sms", &body);
        server
            .client
            .post(format!("{}/webhooks/sms", server.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-twilio-signature", signature)
            .body(body)
            .send()
    };
    assert_eq!(sms("SM00000000000000000000000000000001", "hi by text").await.unwrap().status(), StatusCode::OK);
    let id = server.eventually("the SMS conversation", async |server| server.conversations().await.first().and_then(|c| c["id"].as_i64())).await;
    // The SMS is routed first: a message stored before the stage gets to it would share its
    // run (runs cover every message that arrived meanwhile), and the test counts runs.
    routed(&server, id, 1).await;
    // The same phone on WhatsApp joins the same contact; WhatsApp is cheaper while its window is open.
    server.post_signed(&whatsapp_text("wamid.cost-1", &phone[1..], "and on whatsapp")).await;
    let runs = routed(&server, id, 2).await;
    assert_eq!(runs[0]["reply_channel_id"], "whatsapp", "{runs:?}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(sms("SM00000000000000000000000000000002", "still there?").await.unwrap().status(), StatusCode::OK);
    let runs = routed(&server, id, 3).await;
    assert_eq!(runs[0]["reply_channel_id"], "sms", "{runs:?}");
    let reason = runs[0]["steps"][0]["decision"]["reason"].as_str().unwrap().to_string();
    assert!(reason.contains("window"), "{reason}");
    let view = conversation(&server, id).await;
    assert_eq!(view["reply_channel_id"], "sms");
    server.stop().await;
}

/// The preference policy learns from the contact's history: they answered the business twice
/// on SMS and once on WhatsApp, so SMS becomes the reply channel, even when they last wrote on
/// WhatsApp. Replies then default to it.
#[tokio::test]
async fn the_preference_policy_prefers_the_channel_the_customer_answers_on() {
    let server = start(None, &sms_channel(None), &chain(&[("preference", "preference", "min_replies = 2")])).await;
    let phone = "+14155550177";
    let sms = async |sid: &str, text: &str| {
        let body = inbound_form_from(sid, phone, text);
        let signature = twilio_signature("twilio-test-auth-token-8c1d", "https://switchboard.test/webhooks/sms", &body);
        let response = server
            .client
            .post(format!("{}/webhooks/sms", server.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-twilio-signature", signature)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    };
    sms("SM10000000000000000000000000000001", "hello").await;
    let id = server.eventually("the conversation", async |server| server.conversations().await.first().and_then(|c| c["id"].as_i64())).await;
    let runs = routed(&server, id, 1).await;
    assert_eq!(runs[0]["reply_channel_id"], Value::Null, "nothing to learn from yet: {runs:?}");
    let mut routed_runs = 1;
    // Twice the business writes on SMS and the customer answers there.
    for (n, answer) in [(2, "yes"), (3, "thanks")] {
        let (status, reply) = server.api_post(&format!("/api/v1/conversations/{id}/messages"), &json!({"text": "a question", "channel_id": "sms"})).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{reply}");
        sms(&format!("SM1000000000000000000000000000000{n}"), answer).await;
        routed_runs += 1;
        routed(&server, id, routed_runs).await;
    }
    // Once on WhatsApp, which the same phone reaches.
    server.post_signed(&whatsapp_text("wamid.pref-1", &phone[1..], "hi on whatsapp")).await;
    routed_runs += 1;
    routed(&server, id, routed_runs).await;
    let (status, _) = server.api_post(&format!("/api/v1/conversations/{id}/messages"), &json!({"text": "and here?", "channel_id": "whatsapp"})).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    server.post_signed(&whatsapp_text("wamid.pref-2", &phone[1..], "yes here too")).await;
    routed_runs += 1;
    let runs = routed(&server, id, routed_runs).await;
    assert_eq!(runs[0]["reply_channel_id"], "sms", "two answers on SMS beat one on WhatsApp: {runs:?}");
    let reason = runs[0]["steps"][0]["decision"]["reason"].as_str().unwrap().to_string();
    assert!(reason.contains("sms"), "{reason}");
    let view = conversation(&server, id).await;
    assert_eq!(view["channel_id"], "whatsapp", "the customer last wrote on WhatsApp");
    assert_eq!(view["reply_channel_id"], "sms");
    // A reply that names no channel goes where routing prefers.
    let (status, reply) = server.api_post(&format!("/api/v1/conversations/{id}/messages"), &json!({"text": "by text it is"})).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(reply["channel_id"], "sms", "{reply}");
    server.stop().await;
}
