//! Durability: a webhook answered 2xx survives the server being killed with SIGKILL.

use crate::support::*;
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn spawn_server(config: &std::path::Path, port: u16) -> Child {
    let child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["serve", "--config"])
        .arg(config)
        .env("SWITCHBOARD_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("SWITCHBOARD_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("starting the switchboard binary");
    let client = reqwest::Client::new();
    for _ in 0..300 {
        if client.get(format!("http://127.0.0.1:{port}/healthz")).send().await.is_ok() {
            return child;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the server did not come up on port {port}");
}

#[tokio::test]
async fn acknowledged_webhooks_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config_path = dir.path().join("config.toml");
    let text = config_text(&dir.path().join("switchboard.db"), None, "").replace("127.0.0.1:0", &format!("127.0.0.1:{port}"));
    std::fs::write(&config_path, text).unwrap();

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
