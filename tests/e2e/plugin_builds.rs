//! Which plugin builds a node runs, through the public surface: `GET /api/v1/admin/plugins`
//! names each build by its file's SHA-256, with the contract read from the component and what
//! it serves; `/metrics` carries the same build info; agents cannot list it.

use crate::agents::{create_agent, get_as, session};
use crate::support::*;
use reqwest::StatusCode;
use serde_json::Value;
use sha2::Digest;

/// `sha256sum` of the plugin file the gateway was pointed at.
pub fn file_sha256(file: &str) -> (String, u64) {
    let bytes = std::fs::read(plugin_dir().join(format!("{file}.wasm"))).unwrap();
    (hex::encode(sha2::Sha256::digest(&bytes)), bytes.len() as u64)
}

#[tokio::test]
async fn admins_see_every_build_by_hash_with_its_contract_and_what_it_serves() {
    // Two instances of the WhatsApp plugin (one build, listed once) and a routing policy.
    let second = format!(
        "\n[[channels]]\nid = \"wa-two\"\nplugin = \"whatsapp\"\nconfig = {{ phone_number_id = \"{PHONE_NUMBER_ID}2\" }}\nsecrets = {{ app_secret = \"{APP_SECRET}\", verify_token = \"v\", access_token = \"t\" }}\n"
    );
    let routing = "[routing]\npoll_interval_ms = 50\n\n[[routing.policies]]\nname = \"urgent-first\"\nplugin = \"urgency\"\n";
    let server = TestServer::start_settings(None, &second, &Settings { sections: routing, ..Settings::default() }).await;
    let before = now_ms() as i64;

    let builds = server.api_get("/api/v1/admin/plugins").await;
    let builds = builds.as_array().expect("a list");
    let find = |world: &str, file: &str| -> &Value {
        builds.iter().find(|b| b["world"] == world && b["file"] == file).unwrap_or_else(|| panic!("no {world} build of {file}: {builds:?}"))
    };
    let whatsapp = find("channel", "whatsapp");
    let (sha256, size) = file_sha256("whatsapp");
    assert_eq!(whatsapp["sha256"], sha256.as_str(), "the hash is the file's own");
    assert_eq!(whatsapp["size_bytes"], size);
    assert_eq!(whatsapp["wit"], "switchboard:channel@0.2.0");
    assert_eq!(whatsapp["name"], "whatsapp");
    assert!(whatsapp["version"].as_str().is_some_and(|v| v.split('.').count() == 3), "a semantic version: {whatsapp}");
    assert_eq!(whatsapp["serves"], serde_json::json!(["wa-two", "whatsapp"]), "one build, both instances");
    assert_eq!(builds.iter().filter(|b| b["file"] == "whatsapp").count(), 1);
    let loaded_at = whatsapp["loaded_at"].as_i64().unwrap();
    assert!(loaded_at <= before && loaded_at > before - 120_000, "loaded as the server started: {loaded_at} vs {before}");
    assert!(whatsapp["path"].as_str().unwrap().ends_with("whatsapp.wasm"));

    let urgency = find("router", "urgency");
    assert_eq!(urgency["sha256"], file_sha256("urgency").0.as_str());
    assert_eq!(urgency["wit"], "switchboard:router@0.1.0");
    assert_eq!(urgency["serves"], serde_json::json!(["urgent-first"]), "by the policy's configured name");

    // The same in /metrics, for dashboards across nodes.
    let metrics = server.client.get(format!("{}/metrics", server.base)).send().await.unwrap().text().await.unwrap();
    let info = metrics
        .lines()
        .find(|line| line.starts_with("switchboard_plugin_build_info{") && line.contains(r#"plugin="whatsapp""#))
        .unwrap_or_else(|| panic!("no build info for whatsapp in {metrics}"));
    assert!(info.contains(&format!(r#"sha256="{sha256}""#)) && info.contains(r#"wit="0.2.0""#) && info.contains(r#"world="channel""#), "{info}");
    assert!(info.ends_with(" 1"), "{info}");
    assert!(metrics.contains(r#"switchboard_plugin_loaded_timestamp_seconds{plugin="urgency",world="router"}"#) || metrics.contains(r#"switchboard_plugin_loaded_timestamp_seconds{world="router",plugin="urgency"}"#), "{metrics}");

    // Agents cannot list it.
    create_agent(&server, "ana@example.com", "agent").await;
    let token = session(&server, "ana@example.com").await;
    let refused = get_as(&server, &token, "/api/v1/admin/plugins").await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let body: Value = refused.json().await.unwrap();
    assert!(body["error"].is_object() || body["error"].is_string(), "a JSON error body: {body}");
    server.stop().await;
}
