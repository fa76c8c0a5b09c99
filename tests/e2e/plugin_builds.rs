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

/// A WhatsApp text webhook from one customer, message id `external_id`.
fn whatsapp_text(external_id: &str, text: &str) -> Vec<u8> {
    let mut value: Value = serde_json::from_slice(&fixture("whatsapp/text.json")).unwrap();
    let change = &mut value["entry"][0]["changes"][0]["value"];
    change["messages"][0]["id"] = serde_json::json!(external_id);
    change["messages"][0]["text"]["body"] = serde_json::json!(text);
    change["messages"][0]["timestamp"] = serde_json::json!((now_ms() / 1000).to_string());
    serde_json::to_vec(&value).unwrap()
}

/// `wasm` with a custom section appended: the same plugin, a different file and hash, as a
/// rebuild with other debug info would be.
fn rebuilt(wasm: &[u8], tag: u32) -> Vec<u8> {
    let name = b"switchboard-test-build";
    let payload = tag.to_le_bytes();
    let mut section = vec![name.len() as u8];
    section.extend_from_slice(name);
    section.extend_from_slice(&payload);
    let mut out = wasm.to_vec();
    out.push(0); // custom section id
    out.push(section.len() as u8); // its size (LEB128, < 128)
    out.extend_from_slice(&section);
    out
}

async fn post_reload(server: &TestServer, action: &str) -> (StatusCode, Value) {
    server.api_post(&format!("/api/v1/admin/plugins/whatsapp/{action}"), &serde_json::json!({})).await
}

async fn serving(server: &TestServer) -> Value {
    let builds = server.api_get("/api/v1/admin/plugins").await;
    builds.as_array().unwrap().iter().find(|b| b["file"] == "whatsapp").cloned().unwrap()
}

/// Webhooks keep flowing through twenty reloads, each of a changed build: every one gets its
/// 2xx and is stored once. A broken build (not a component, a build whose self-check traps, a
/// component of another world) is refused with the reason and the running build keeps serving;
/// a rollback puts back the build before.
#[tokio::test]
async fn reloads_swap_builds_under_load_and_refuse_broken_ones() {
    let plugins = tempfile::tempdir().unwrap();
    let original = std::fs::read(plugin_dir().join("whatsapp.wasm")).unwrap();
    let file = plugins.path().join("whatsapp.wasm");
    // A build of its own from the start: `/metrics` is one registry for the whole test
    // process, where other tests' gateways run the original file.
    std::fs::write(&file, rebuilt(&original, 0)).unwrap();
    let dir = plugins.path().display().to_string();
    let server = TestServer::start_settings(None, "", &Settings { plugins_dir: &dir, ..Settings::default() }).await;
    let first = serving(&server).await["sha256"].as_str().unwrap().to_string();

    // A customer writing all the while; each webhook must be acknowledged as one new message
    // (the answer comes only once it is stored).
    let posting = {
        let (base, client) = (server.base.clone(), server.client.clone());
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let task = tokio::spawn(async move {
            let mut bodies = Vec::new();
            while !flag.load(std::sync::atomic::Ordering::Relaxed) || bodies.len() < 20 {
                let n = bodies.len();
                let body = whatsapp_text(&format!("wamid.reload-{n}"), &format!("message {n}"));
                let response = client
                    .post(format!("{base}/webhooks/whatsapp"))
                    .header("content-type", "application/json")
                    .header("x-hub-signature-256", sign_with(APP_SECRET, &body))
                    .body(body.clone())
                    .send()
                    .await
                    .unwrap();
                assert!(response.status().is_success(), "webhook {n} got {}", response.status());
                let answer: Value = response.json().await.unwrap();
                assert_eq!(answer["new_messages"], 1, "webhook {n}: {answer}");
                bodies.push(body);
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            bodies
        });
        (stop, task)
    };
    let mut hashes = vec![first.clone()];
    for tag in 1..=20u32 {
        let build = rebuilt(&original, tag);
        std::fs::write(&file, &build).unwrap();
        let (status, swapped) = post_reload(&server, "reload").await;
        assert_eq!(status, StatusCode::OK, "reload {tag}: {swapped}");
        let expected = hex::encode(sha2::Sha256::digest(&build));
        assert_eq!(swapped["sha256"], expected.as_str(), "reload {tag} serves the new file");
        assert_eq!(swapped["replaced_sha256"], hashes.last().unwrap().as_str());
        assert_eq!(serving(&server).await["sha256"], expected.as_str());
        hashes.push(expected);
    }
    posting.0.store(true, std::sync::atomic::Ordering::Relaxed);
    let bodies = posting.1.await.unwrap();
    // Redelivered, every one is already there: stored once each, none lost.
    for (n, body) in bodies.iter().enumerate() {
        assert_eq!(server.post_signed(body).await["new_messages"], 0, "webhook {n} was stored before");
    }
    assert_eq!(server.conversations().await.len(), 1);
    let metrics = server.client.get(format!("{}/metrics", server.base)).send().await.unwrap().text().await.unwrap();
    let series = |sha: &str| metrics.lines().find(|l| l.starts_with("switchboard_plugin_build_info{") && l.contains(sha)).map(|l| l.to_string());
    assert!(series(hashes.last().unwrap()).unwrap().ends_with(" 1"), "{metrics}");
    assert!(series(&first).unwrap().ends_with(" 0"), "the first build is retired: {metrics}");

    // Broken builds are refused, with the reason, and the last good one keeps serving.
    let good = hashes.last().unwrap().clone();
    std::fs::write(&file, b"not a wasm component").unwrap();
    let (status, body) = post_reload(&server, "reload").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "plugin_refused");
    assert!(body["error"]["message"].as_str().unwrap().contains("compiling plugin"), "{body}");
    std::fs::copy(plugin_dir().join("test-trap.wasm"), &file).unwrap();
    let (status, body) = post_reload(&server, "reload").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("self-check"), "{body}");
    std::fs::copy(plugin_dir().join("test-policy-trap.wasm"), &file).unwrap();
    let (status, body) = post_reload(&server, "reload").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("not a channel plugin"), "{body}");
    let listed = serving(&server).await;
    assert_eq!(listed["sha256"], good.as_str(), "the good build still serves");
    assert_eq!(listed["last_reload"]["ok"], false);
    assert!(listed["last_reload"]["error"].as_str().unwrap().contains("not a channel plugin"), "{listed}");
    let body = whatsapp_text("wamid.reload-after-refusal", "still here");
    assert_eq!(server.post_signed(&body).await["new_messages"], 1, "webhooks still work");

    // Rollback: the build before the last swap, then back again.
    let (status, back) = post_reload(&server, "rollback").await;
    assert_eq!(status, StatusCode::OK, "{back}");
    assert_eq!(back["sha256"], hashes[hashes.len() - 2].as_str());
    assert_eq!(serving(&server).await["last_reload"]["action"], "rollback");
    let (status, again) = post_reload(&server, "rollback").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["sha256"], good.as_str());

    let (status, body) = server.api_post("/api/v1/admin/plugins/no-such-plugin/reload", &serde_json::json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    server.stop().await;
}

/// A gateway that has not reloaded anything has nothing to roll back to.
#[tokio::test]
async fn a_rollback_before_any_reload_is_a_conflict() {
    let server = TestServer::start(None).await;
    let (status, body) = post_reload(&server, "rollback").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "nothing_to_roll_back");
    server.stop().await;
}

/// `switchboard plugins list|reload|rollback` drive the same API from the command line.
#[tokio::test]
async fn the_cli_reloads_and_rolls_back_through_the_admin_api() {
    let server = TestServer::start(None).await;
    let cli = |args: &[&str]| {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchboard"));
        command.arg("plugins").args(args).arg("--url").arg(&server.base).env("SWITCHBOARD_ADMIN_TOKEN", ADMIN_TOKEN).env_remove("SWITCHBOARD_TOKEN");
        command.output()
    };
    let listed = cli(&["list"]).await.unwrap();
    assert!(listed.status.success(), "{}", String::from_utf8_lossy(&listed.stderr));
    let builds: Value = serde_json::from_slice(&listed.stdout).unwrap();
    let (sha256, _) = file_sha256("whatsapp");
    assert!(builds.as_array().unwrap().iter().any(|b| b["file"] == "whatsapp" && b["sha256"] == sha256.as_str()), "{builds}");

    let reloaded = cli(&["reload", "whatsapp"]).await.unwrap();
    assert!(reloaded.status.success(), "{}", String::from_utf8_lossy(&reloaded.stderr));
    let swapped: Value = serde_json::from_slice(&reloaded.stdout).unwrap();
    assert_eq!(swapped["sha256"], sha256.as_str());
    assert_eq!(swapped["channels"], serde_json::json!(["whatsapp"]));
    assert_eq!(server.api_get("/api/v1/admin/plugins").await[0]["last_reload"]["action"], "reload");
    let rolled = cli(&["rollback", "whatsapp"]).await.unwrap();
    assert!(rolled.status.success(), "{}", String::from_utf8_lossy(&rolled.stderr));

    let unknown = cli(&["reload", "nope"]).await.unwrap();
    assert_eq!(unknown.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert!(stderr.contains("404") && stderr.contains("no channel runs plugin `nope`"), "{stderr}");

    let mut no_token = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchboard"));
    no_token.args(["plugins", "list", "--url", &server.base]).env_remove("SWITCHBOARD_ADMIN_TOKEN").env_remove("SWITCHBOARD_TOKEN");
    let refused = no_token.output().await.unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("SWITCHBOARD_ADMIN_TOKEN"));
    server.stop().await;
}
