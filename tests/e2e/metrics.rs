//! `/metrics` after real traffic, scraped from a server process of its own (the metrics
//! recorder is process-global, so in-process servers would share counters).

use crate::support::*;
use serde_json::json;
use std::time::Duration;

on_both_backends!(
    metrics_count_traffic_per_channel_and_reason,
);

async fn metrics_count_traffic_per_channel_and_reason() {
    let graph = FakeGraph::start().await;
    let dir = tempfile::tempdir().unwrap();
    let database = TestDatabase::new(dir.path()).await;
    let port = free_port();
    let mut child = spawn_server(&write_config(dir.path(), port, Some(graph.addr), &database.url), port).await;
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let post = |body: Vec<u8>, signature: String, channel: &str| {
        client.post(format!("{base}/webhooks/{channel}")).header("x-hub-signature-256", signature).body(body).send()
    };

    let first = fixture("whatsapp/text.json");
    let second = String::from_utf8(first.clone()).unwrap().replace("wamid.HBgL", "wamid.SECOND").into_bytes();
    assert!(post(first.clone(), sign(&first), "whatsapp").await.unwrap().status().is_success());
    assert!(post(second.clone(), sign(&second), "whatsapp").await.unwrap().status().is_success());
    assert!(post(first.clone(), sign(&first), "whatsapp").await.unwrap().status().is_success()); // redelivery
    assert_eq!(post(first.clone(), sign_with("bad", &first), "whatsapp").await.unwrap().status(), 401);
    assert_eq!(post(first.clone(), sign(&first), "nope").await.unwrap().status(), 404);

    // One reply through the outbox, and one live-stream client connected.
    let conversations: serde_json::Value =
        client.get(format!("{base}/api/v1/conversations")).bearer_auth(ADMIN_TOKEN).send().await.unwrap().json().await.unwrap();
    let id = conversations["items"][0]["id"].as_i64().unwrap();
    let reply = client
        .post(format!("{base}/api/v1/conversations/{id}/messages"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"text": "hi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 202);
    graph.wait_for(1).await;
    let _stream = SseClient::connect(&base, None).await;

    let scrape = async || client.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
    let mut metrics = scrape().await;
    for _ in 0..100 {
        if metric_value(&metrics, r#"switchboard_outbox_attempts_total{channel="whatsapp",outcome="sent"}"#) >= 1.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        metrics = scrape().await;
    }
    let v = |series: &str| metric_value(&metrics, series);
    assert_eq!(v(r#"switchboard_webhooks_received_total{channel="whatsapp"}"#), 4.0, "{metrics}");
    assert_eq!(v(r#"switchboard_webhooks_rejected_total{channel="whatsapp",reason="bad_signature"}"#), 1.0);
    assert_eq!(v(r#"switchboard_webhooks_rejected_total{channel="",reason="unknown_channel"}"#), 1.0);
    assert_eq!(v(r#"switchboard_messages_ingested_total{channel="whatsapp"}"#), 2.0);
    assert_eq!(v(r#"switchboard_webhook_duplicate_messages_total{channel="whatsapp"}"#), 1.0);
    assert_eq!(v(r#"switchboard_webhook_ingest_seconds_count{channel="whatsapp"}"#), 3.0);
    assert_eq!(v(r#"switchboard_plugin_call_seconds_count{plugin="whatsapp",call="webhook"}"#), 4.0);
    assert_eq!(v(r#"switchboard_plugin_call_seconds_count{plugin="whatsapp",call="send"}"#), 1.0);
    assert_eq!(v(r#"switchboard_outbox_attempts_total{channel="whatsapp",outcome="sent"}"#), 1.0);
    assert_eq!(v("switchboard_live_stream_connections"), 1.0);
    assert!(v("switchboard_ingest_batch_size_count") >= 1.0);
    assert!(metrics.contains("switchboard_db_pool_connections{"), "{metrics}");
    assert!(metrics.contains("switchboard_outbox_depth{channel=\"whatsapp\"}"), "{metrics}");
    child.start_kill().unwrap();
    child.wait().await.unwrap();
}
