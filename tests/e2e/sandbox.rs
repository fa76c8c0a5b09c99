//! Misbehaving plugins fail only their own call: the server keeps serving other channels.

use crate::support::*;
use reqwest::StatusCode;
use serde_json::Value;
use std::time::{Duration, Instant};

on_both_backends!(
    trapping_looping_and_hogging_plugins_fail_alone,
);

const BAD_CHANNELS: &str = r#"
[[channels]]
id = "trap"
plugin = "test-trap"

[[channels]]
id = "spin"
plugin = "test-spin"

[[channels]]
id = "hog"
plugin = "test-hog"
"#;

async fn trapping_looping_and_hogging_plugins_fail_alone() {
    let server = TestServer::start_with(None, BAD_CHANNELS).await;
    let base = server.base.clone();

    // Keep a looping call in flight while the other channels are used.
    let spinning = tokio::spawn({
        let client = server.client.clone();
        let base = base.clone();
        async move {
            let started = Instant::now();
            let response = client.post(format!("{base}/webhooks/spin")).body("{}").send().await.unwrap();
            (response.status(), response.json::<Value>().await.unwrap(), started.elapsed())
        }
    });

    for channel in ["trap", "hog"] {
        let response = server.post_webhook(channel, b"{}", None).await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE, "{channel}");
        assert!(response.headers().contains_key("retry-after"));
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "plugin_failed", "{channel}: {body}");
    }

    // WhatsApp is unaffected, even while the spinning call is still running.
    let started = Instant::now();
    server.post_signed(&fixture("whatsapp/text.json")).await;
    assert!(started.elapsed() < Duration::from_millis(450), "whatsapp was held up: {:?}", started.elapsed());

    let (status, body, elapsed) = spinning.await.unwrap();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(elapsed < Duration::from_secs(3), "the time limit (500 ms) did not stop the loop: {elapsed:?}");

    // Everything still works afterwards, and the failed calls stored nothing.
    assert_eq!(server.conversations().await.len(), 1);
    let response = server.client.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    for channel in ["trap", "spin", "hog"] {
        let response = server.post_webhook(channel, b"{}", None).await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE, "{channel} fails again, cleanly");
    }
    server.stop().await;
}
