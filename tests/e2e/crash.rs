//! Durability: a webhook answered 2xx, and a reply answered 202, survive the server being
//! killed with SIGKILL.

use crate::support::*;
use std::time::Duration;

on_both_backends!(acknowledged_webhooks_survive_sigkill, queued_replies_survive_sigkill_and_go_out_once);

async fn acknowledged_webhooks_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let database = TestDatabase::new(dir.path()).await;
    let port = free_port();
    let config_path = write_config(dir.path(), port, None, &database.url);

    let mut child = spawn_server(&config_path, port).await;
    let client = reqwest::Client::new();
    let template = String::from_utf8(fixture("whatsapp/text.json")).unwrap();
    const COUNT: usize = 40;
    // Fire them concurrently so several share group commits; every one must be acknowledged.
    let mut sends = Vec::new();
    for n in 0..COUNT {
        let body = template.replace("wamid.HBgL", &format!("wamid.CRASH{n:03}")).into_bytes();
        let client = client.clone();
        sends.push(tokio::spawn(async move {
            let response = client
                .post(format!("http://127.0.0.1:{port}/webhooks/whatsapp"))
                .header("x-hub-signature-256", sign(&body))
                .body(body)
                .send()
                .await
                .unwrap();
            response.status()
        }));
    }
    for send in sends {
        assert!(send.await.unwrap().is_success());
    }
    child.start_kill().unwrap(); // SIGKILL, immediately after the last 2xx
    child.wait().await.unwrap();

    let mut child = spawn_server(&config_path, port).await;
    let base = format!("http://127.0.0.1:{port}");
    let conversations: serde_json::Value =
        client.get(format!("{base}/api/v1/conversations")).bearer_auth(ADMIN_TOKEN).send().await.unwrap().json().await.unwrap();
    let id = conversations["items"][0]["id"].as_i64().unwrap();
    let messages: serde_json::Value = client
        .get(format!("{base}/api/v1/conversations/{id}/messages?limit=500"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: std::collections::BTreeSet<String> =
        messages["items"].as_array().unwrap().iter().map(|m| m["external_id"].as_str().unwrap().to_string()).collect();
    assert_eq!(ids.len(), COUNT, "every acknowledged webhook is stored exactly once");
    child.start_kill().unwrap();
    child.wait().await.unwrap();
}

/// 1,000 replies queued, a slow provider (a second a send), SIGKILL mid-drain. After the restart
/// every reply is delivered. The provider sees each once, except the documented case
/// (docs/delivery.md): a send in flight at the crash, which the provider may have taken while
/// the gateway never learnt it, is sent again when its lease runs out. The test measures
/// those and reports them; they can be no more than the sends in flight (outbox.concurrency).
async fn queued_replies_survive_sigkill_and_go_out_once() {
    const REPLIES: usize = 1000;
    const CONCURRENCY: usize = 64;
    let graph = FakeGraph::start().await;
    graph.set_latency_ms(1000);
    let dir = tempfile::tempdir().unwrap();
    let database = TestDatabase::new(dir.path()).await;
    let port = free_port();
    let config_path = write_config(dir.path(), port, Some(graph.addr), &database.url);
    // One customer gets all 1,000: lift WhatsApp's per-recipient pacing, which would otherwise
    // (rightly) spread them over hours.
    let mut text = std::fs::read_to_string(&config_path).unwrap();
    text.push_str("\n[channels.delivery]\nrecipient_interval_ms = 0\nrate_per_sec = 10000.0\n");
    let text = text
        .replace("lease_ms = 5000", &format!("lease_ms = 3000\nconcurrency = {CONCURRENCY}"))
        .replace("max_concurrent_instances = 32", "max_concurrent_instances = 96");
    std::fs::write(&config_path, text).unwrap();

    let mut child = spawn_server(&config_path, port).await;
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let body = fixture("whatsapp/text.json");
    let response = client.post(format!("{base}/webhooks/whatsapp")).header("x-hub-signature-256", sign(&body)).body(body).send().await.unwrap();
    assert!(response.status().is_success());
    let conversations: serde_json::Value = client.get(format!("{base}/api/v1/conversations")).bearer_auth(ADMIN_TOKEN).send().await.unwrap().json().await.unwrap();
    let id = conversations["items"][0]["id"].as_i64().unwrap();
    use futures_util::StreamExt;
    let statuses: Vec<reqwest::StatusCode> = futures_util::stream::iter(0..REPLIES)
        .map(|n| {
            let request = client
                .post(format!("{base}/api/v1/conversations/{id}/messages"))
                .bearer_auth(ADMIN_TOKEN)
                .json(&serde_json::json!({"text": format!("reply {n:04}")}));
            async move { request.send().await.unwrap().status() }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    assert!(statuses.iter().all(|s| *s == reqwest::StatusCode::ACCEPTED), "every reply queued");
    let in_flight = graph.in_flight();
    let seen_before = graph.received().len();
    child.start_kill().unwrap(); // SIGKILL, with most replies still queued
    child.wait().await.unwrap();
    let distinct_before = graph.received().iter().filter_map(|r| r.body["text"]["body"].as_str().map(str::to_string)).collect::<std::collections::BTreeSet<_>>().len();
    assert!(seen_before < REPLIES / 2, "the kill came mid-drain ({seen_before} sent before it, {distinct_before} distinct, {in_flight} in flight)");

    let mut child = spawn_server(&config_path, port).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let distinct = |graph: &FakeGraph| {
        graph.received().iter().filter_map(|r| r.body["text"]["body"].as_str().map(str::to_string)).collect::<std::collections::BTreeSet<_>>().len()
    };
    while distinct(&graph) < REPLIES && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(distinct(&graph), REPLIES, "every queued reply reached the provider after the restart");
    // Every reply is recorded as sent (the last results land just after the provider answers).
    let mut sent = 0;
    while std::time::Instant::now() < deadline {
        let mut cursor: Option<String> = None;
        sent = 0;
        loop {
            let mut url = format!("{base}/api/v1/conversations/{id}/messages?limit=500");
            if let Some(cursor) = &cursor {
                url.push_str(&format!("&before={cursor}"));
            }
            let page: serde_json::Value = client.get(url).bearer_auth(ADMIN_TOKEN).send().await.unwrap().json().await.unwrap();
            sent += page["items"].as_array().unwrap().iter().filter(|m| m["direction"] == "outbound" && m["status"] == "sent").count();
            match &page["next_cursor"] {
                serde_json::Value::Null => break,
                serde_json::Value::String(next) => cursor = Some(next.clone()),
                next => cursor = Some(next.to_string()),
            }
        }
        if sent == REPLIES {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(sent, REPLIES, "every reply shows as sent");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut times = std::collections::BTreeMap::<String, usize>::new();
    for request in graph.received() {
        *times.entry(request.body["text"]["body"].as_str().unwrap_or_default().to_string()).or_default() += 1;
    }
    let duplicated: Vec<(&String, &usize)> = times.iter().filter(|(_, n)| **n > 1).collect();
    eprintln!(
        "crash report ({}): {REPLIES} replies, {seen_before} sent before SIGKILL, {in_flight} in flight at the provider at the kill, {} sent twice: {duplicated:?}",
        database.url.split(':').next().unwrap_or_default(),
        duplicated.len()
    );
    assert!(duplicated.iter().all(|(_, n)| **n == 2), "none more than twice: {duplicated:?}");
    assert!(duplicated.len() <= CONCURRENCY, "only sends in flight at the crash are sent again: {duplicated:?}");
    child.start_kill().unwrap();
    child.wait().await.unwrap();
}
