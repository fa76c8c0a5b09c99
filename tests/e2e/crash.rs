//! Durability: a webhook answered 2xx survives the server being killed with SIGKILL.

use crate::support::*;

on_both_backends!(acknowledged_webhooks_survive_sigkill);

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
