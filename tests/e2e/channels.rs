//! The admin's channel page over HTTP: `GET /channels/{id}` (setup steps, every setting with
//! where it comes from and never a secret's value) and `POST /channels/{id}/check` (the
//! connection test through the plugin, against the loopback Graph API), refused to agents.

use crate::agents::{create_agent, session};
use crate::support::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Extra channels: WhatsApp with a wrong token and an unset env secret, and a 0.1.0 plugin.
fn extra_channels(graph: std::net::SocketAddr) -> String {
    format!(
        r#"
[[channels]]
id = "wa-wrong"
plugin = "whatsapp"
allowed_hosts = ["{graph}"]
config = {{ phone_number_id = "{PHONE_NUMBER_ID}", api_base = "http://{graph}/v21.0" }}
secrets = {{ access_token = "EAA-not-the-right-token", app_secret = {{ env = "SWITCHBOARD_TEST_NEVER_SET" }} }}

[[channels]]
id = "old"
plugin = "test-legacy"
"#
    )
}

fn setting<'a>(detail: &'a Value, key: &str) -> &'a Value {
    detail["settings"].as_array().unwrap().iter().find(|s| s["key"] == key).unwrap_or_else(|| panic!("no setting {key}: {detail}"))
}

#[tokio::test]
async fn the_channel_page_shows_setup_and_tests_the_connection() {
    let graph = FakeGraph::start().await;
    let server = TestServer::start_with(Some(graph.addr), &extra_channels(graph.addr)).await;

    let detail = server.api_get("/api/v1/channels/whatsapp").await;
    assert_eq!(detail["webhook_url"], "https://switchboard.test/webhooks/whatsapp");
    assert_eq!(detail["plugin"]["contract"], "0.2.0");
    assert_eq!(detail["can_check_connection"], true);
    assert!(detail["guide"]["steps"].as_array().unwrap().len() >= 4, "{detail}");
    let token = setting(&detail, "access_token");
    assert_eq!((token["secret"].as_bool(), token["set"].as_bool(), token["source"].as_str()), (Some(true), Some(true), Some("config")));
    assert!(token["value"].is_null(), "a secret's value is never shown: {token}");
    assert!(!detail.to_string().contains(ACCESS_TOKEN) && !detail.to_string().contains(APP_SECRET), "no secret anywhere: {detail}");
    let number = setting(&detail, "phone_number_id");
    assert_eq!((number["value"].as_str(), number["required"].as_bool()), (Some(PHONE_NUMBER_ID), Some(true)));

    let wrong = server.api_get("/api/v1/channels/wa-wrong").await;
    let app_secret = setting(&wrong, "app_secret");
    assert_eq!((app_secret["set"].as_bool(), app_secret["source"].as_str()), (Some(false), Some("env")));
    assert_eq!(app_secret["reference"], "SWITCHBOARD_TEST_NEVER_SET");
    assert_eq!(setting(&wrong, "verify_token")["set"], false, "named by the guide, not configured");

    let (status, test) = server.api_post("/api/v1/channels/whatsapp/check", &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{test}");
    assert_eq!(test["connected"], true);
    assert_eq!(test["account"], "Switchboard Test Shop (+1 555-010-0000)");
    assert_eq!(graph.received().iter().filter(|r| r.path.ends_with("/messages")).count(), 0, "the test sends nothing");

    let (status, test) = server.api_post("/api/v1/channels/wa-wrong/check", &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{test}");
    assert_eq!((test["connected"].as_bool(), test["problem"].as_str(), test["code"].as_str()), (Some(false), Some("unauthorized"), Some("190")));
    assert_eq!(test["message"], "Invalid OAuth access token.");

    // A plugin built against 0.1.0: its page works, the test says plainly it cannot run.
    let old = server.api_get("/api/v1/channels/old").await;
    assert_eq!((old["plugin"]["contract"].as_str(), old["can_check_connection"].as_bool()), (Some("0.1.0"), Some(false)));
    assert!(old["guide"].is_null());
    let (status, body) = server.api_post("/api/v1/channels/old/check", &json!({})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("not_supported")), "{body}");
    let (status, body) = server.api_post("/api/v1/channels/nope/check", &json!({})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")), "{body}");

    // Live status: a stored webhook, a forged one and a delivered reply show in the last hour.
    let before = server.api_get("/api/v1/channels/whatsapp").await;
    assert_eq!(before["activity"]["last_webhook_at"], Value::Null, "{before}");
    assert_eq!(before["activity"]["webhook_error_rate"], Value::Null);
    server.post_signed(&fixture("whatsapp/text.json")).await;
    let forged = server.post_webhook("whatsapp", b"{}", Some("sha256=00")).await;
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
    let conversation = server.only_conversation_id().await;
    let reply = server.queue_text_reply(conversation, "hello").await;
    server.wait_for_status(conversation, reply, "sent").await;
    let activity = server
        .eventually("the send to be counted", async |s| {
            let detail = s.api_get("/api/v1/channels/whatsapp").await;
            (detail["activity"]["sends_sent"] == 1).then(|| detail["activity"].clone())
        })
        .await;
    assert_eq!((activity["webhooks_accepted"].as_u64(), activity["webhooks_refused"].as_u64()), (Some(1), Some(1)), "{activity}");
    assert_eq!((activity["webhook_error_rate"].as_f64(), activity["send_success_rate"].as_f64()), (Some(0.5), Some(1.0)));
    assert!(activity["last_webhook_at"].as_i64().is_some_and(|at| at > 0) && activity["last_send_at"].as_i64().is_some());
    let wrong = server.api_get("/api/v1/channels/wa-wrong").await;
    assert_eq!(wrong["activity"]["webhooks_accepted"], 0, "counted per channel");

    // Agents list channels, but cannot open a channel's page or test it.
    let calls = graph.received().len();
    create_agent(&server, "ana@example.com", "agent").await;
    let agent = session(&server, "ana@example.com").await;
    use reqwest::Method;
    let (status, _) = server.send_as(&agent, Method::GET, "/api/v1/channels", None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, page) = server.send_as(&agent, Method::GET, "/api/v1/channels/whatsapp", None).await;
    assert_eq!((status, page["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")), "{page}");
    let (status, check) = server.send_as(&agent, Method::POST, "/api/v1/channels/whatsapp/check", None).await;
    assert_eq!((status, check["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")), "{check}");
    assert_eq!(graph.received().len(), calls, "the refused test never reached the provider");
    server.stop().await;
}

/// A plugin built against `switchboard:channel@0.1.0` serves its channel over HTTP beside
/// the 0.2.0 plugins: its webhooks are stored (once), agents' replies go out through it and are
/// marked sent, and its page says it has no connection test.
#[tokio::test]
async fn a_0_1_0_plugin_works_end_to_end_beside_0_2_0_ones() {
    let graph = FakeGraph::start().await;
    let server = TestServer::start_with(Some(graph.addr), &extra_channels(graph.addr)).await;
    let post = |id: &'static str| {
        server
            .client
            .post(format!("{}/webhooks/old?from=old-friend&id={id}", server.base))
            .header("content-type", "text/plain")
            .body("hello from a 0.1.0 plugin")
            .send()
    };
    expect_success(post("legacy-1").await.unwrap()).await;
    let again = expect_success(post("legacy-1").await.unwrap()).await;
    assert_eq!((again["new_messages"].as_u64(), again["duplicates"].as_u64()), (Some(0), Some(1)), "{again}");
    // And a WhatsApp (0.2.0) webhook beside it.
    server.post_signed(&fixture("whatsapp/text.json")).await;
    let conversations = server.conversations().await;
    assert_eq!(conversations.len(), 2, "{conversations:#?}");
    let old = conversations.iter().find(|c| c["channel_id"] == "old").expect("the 0.1.0 channel's conversation");
    let id = old["id"].as_i64().unwrap();
    let messages = server.messages(id).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["text"], "hello from a 0.1.0 plugin");

    let reply = server.queue_text_reply(id, "answered through the old plugin").await;
    let sent = server.wait_for_status(id, reply, "sent").await;
    assert_eq!(sent["external_id"], format!("legacy-out-{reply}"), "{sent}");
    server.stop().await;
}
