//! Presence for collision avoidance, through the public API and the live stream: an agent
//! viewing or typing is announced to the other agents who may see the conversation, a
//! heartbeat that changes nothing is not, leaving is, and presence lapses when the heartbeat
//! stops (on a clock the test moves).

use crate::agents::{create_agent, session};
use crate::support::*;
use crate::workflow::team;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

on_both_backends!(presence_is_announced_and_lapses_when_the_heartbeat_stops);

async fn beat(server: &TestServer, token: &str, id: i64, state: &str) -> (StatusCode, Value) {
    let response = server.client.put(format!("{}/api/v1/conversations/{id}/presence", server.base)).bearer_auth(token).json(&json!({"state": state})).send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The next `presence.updated` event, as `[[name, state], ...]` (other events are skipped).
async fn next_presence(stream: &mut SseClient) -> (Value, Vec<(String, String)>) {
    loop {
        let event = stream.next(Duration::from_secs(10)).await;
        if event.event.as_deref() == Some("presence.updated") {
            let agents = event.data["agents"].as_array().unwrap().iter().map(|a| (a["name"].as_str().unwrap().to_string(), a["state"].as_str().unwrap().to_string())).collect();
            return (event.data, agents);
        }
    }
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

async fn presence_is_announced_and_lapses_when_the_heartbeat_stops() {
    let clock = Arc::new(switchboard::clock::ShiftedClock::default());
    let settings = Settings { sections: "[workflow]\npresence_ttl_ms = 5000\npresence_check_ms = 100", ..Settings::default() };
    let server = TestServer::start_clocked(None, "", &settings, clock.clone()).await;
    let ana = create_agent(&server, "ana@example.com", "agent").await["id"].as_i64().unwrap();
    let bo = create_agent(&server, "bo@example.com", "agent").await["id"].as_i64().unwrap();
    let cy = create_agent(&server, "cy@example.com", "agent").await["id"].as_i64().unwrap();
    let billing = team(&server, "Billing", &[ana, bo]).await;
    team(&server, "Sales", &[cy]).await;
    server.post_signed(&fixture("whatsapp/text.json")).await;
    let id = server.only_conversation_id().await;
    let response = server.client.patch(format!("{}/api/v1/conversations/{id}", server.base)).bearer_auth(ADMIN_TOKEN).json(&json!({"team_id": billing})).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let tokens = [session(&server, "ana@example.com").await, session(&server, "bo@example.com").await, session(&server, "cy@example.com").await];
    let [ana_token, bo_token, cy_token] = &tokens;
    let mut bo_stream = SseClient::connect_as(&server.base, bo_token, None).await;
    let mut cy_stream = SseClient::connect_as(&server.base, cy_token, None).await;

    // Ana opens the conversation: Bo hears it.
    let (status, body) = beat(&server, ana_token, id, "viewing").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["agents"][0]["agent_id"], ana);
    let (event, agents) = next_presence(&mut bo_stream).await;
    assert_eq!(event["conversation_id"], id);
    assert_eq!(agents, pairs(&[("ana@example.com", "viewing")]));
    // She starts typing: announced. Her next heartbeat changes nothing and is not; the next
    // event Bo sees is his own arrival, with Ana still typing.
    beat(&server, ana_token, id, "typing").await;
    assert_eq!(next_presence(&mut bo_stream).await.1, pairs(&[("ana@example.com", "typing")]));
    let (status, _) = beat(&server, ana_token, id, "typing").await;
    assert_eq!(status, StatusCode::OK);
    beat(&server, bo_token, id, "viewing").await;
    assert_eq!(next_presence(&mut bo_stream).await.1, pairs(&[("ana@example.com", "typing"), ("bo@example.com", "viewing")]));

    // Everyone who may see the conversation can list it; Cy (Sales) cannot see it at all.
    let listed: Value = server.client.get(format!("{}/api/v1/presence", server.base)).bearer_auth(bo_token).send().await.unwrap().json().await.unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["agents"].as_array().unwrap().len(), 2);
    let cy_listed: Value = server.client.get(format!("{}/api/v1/presence", server.base)).bearer_auth(cy_token).send().await.unwrap().json().await.unwrap();
    assert_eq!(cy_listed, json!([]));
    assert_eq!(beat(&server, cy_token, id, "viewing").await.0, StatusCode::NOT_FOUND);
    // Presence is an agent's; the bootstrap token has no agent to be present as.
    assert_eq!(beat(&server, ADMIN_TOKEN, id, "viewing").await.1["error"]["code"], "agent_only");
    assert_eq!(beat(&server, ana_token, id, "dancing").await.0, StatusCode::UNPROCESSABLE_ENTITY);

    // Bo leaves: announced.
    let left = server.client.delete(format!("{}/api/v1/conversations/{id}/presence", server.base)).bearer_auth(bo_token).send().await.unwrap();
    assert_eq!(left.status(), StatusCode::NO_CONTENT);
    assert_eq!(next_presence(&mut bo_stream).await.1, pairs(&[("ana@example.com", "typing")]));

    // Ana's heartbeat stops: once her time is up, the sweep announces she is gone.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let listed: Value = server.client.get(format!("{}/api/v1/presence", server.base)).bearer_auth(bo_token).send().await.unwrap().json().await.unwrap();
    assert_eq!(listed[0]["agents"].as_array().unwrap().len(), 1, "still there before her time: {listed}");
    clock.advance(6_000);
    let (event, agents) = next_presence(&mut bo_stream).await;
    assert_eq!(event["conversation_id"], id);
    assert!(agents.is_empty(), "{event}");
    let listed: Value = server.client.get(format!("{}/api/v1/presence", server.base)).bearer_auth(bo_token).send().await.unwrap().json().await.unwrap();
    assert_eq!(listed, json!([]));

    // None of it reached Cy's stream.
    while let Some(event) = cy_stream.try_next(Duration::from_millis(500)).await {
        assert_ne!(event.event.as_deref(), Some("presence.updated"), "Cy's stream carries no Billing presence: {:?}", event.data);
    }
    server.stop().await;
}
