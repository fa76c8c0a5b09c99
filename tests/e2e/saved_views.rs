//! Saved views over HTTP, on both backends: an agent's own views are theirs alone, shared
//! views are made and changed by admins only, names are unique per owner, and filters are
//! validated like the list's.

use crate::agents::{create_agent, session};
use crate::support::*;
use reqwest::StatusCode;
use serde_json::json;

on_both_backends!(views_are_personal_or_shared_and_only_admins_share);

async fn views_are_personal_or_shared_and_only_admins_share() {
    use reqwest::Method;
    let server = TestServer::start(None).await;
    create_agent(&server, "ana@example.com", "agent").await;
    create_agent(&server, "bo@example.com", "agent").await;
    create_agent(&server, "cy@example.com", "admin").await;
    let (ana, bo, cy) = (session(&server, "ana@example.com").await, session(&server, "bo@example.com").await, session(&server, "cy@example.com").await);

    let filters = json!({"view": "mine", "status": "open", "channel": "whatsapp", "label": "vip", "priority": "urgent", "unread": true, "sort": "waiting_longest"});
    let (status, mine) = server.send_as(&ana, Method::POST, "/api/v1/views", Some(json!({"name": "  Urgent VIPs ", "filters": filters}))).await;
    assert_eq!(status, StatusCode::CREATED, "{mine}");
    assert_eq!((mine["name"].as_str(), mine["shared"].as_bool()), (Some("Urgent VIPs"), Some(false)));
    assert_eq!(mine["filters"], filters, "filters come back exactly");
    let (status, body) = server.send_as(&ana, Method::POST, "/api/v1/views", Some(json!({"name": "Urgent VIPs", "filters": {}}))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("taken")), "{body}");
    // Bo may use the same name: names are unique per owner.
    let (status, _) = server.send_as(&bo, Method::POST, "/api/v1/views", Some(json!({"name": "Urgent VIPs", "filters": {"view": "unassigned"}}))).await;
    assert_eq!(status, StatusCode::CREATED);

    let (status, body) = server.send_as(&ana, Method::POST, "/api/v1/views", Some(json!({"name": "Everyone's", "shared": true, "filters": {}}))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")), "{body}");
    let (status, shared) = server.send_as(&cy, Method::POST, "/api/v1/views", Some(json!({"name": "Waiting SMS", "shared": true, "filters": {"channel": "sms", "sort": "waiting_longest"}}))).await;
    assert_eq!(status, StatusCode::CREATED, "{shared}");

    // Ana sees the shared view first, then her own; never Bo's.
    let (_, listed) = server.send_as(&ana, Method::GET, "/api/v1/views", None).await;
    let names: Vec<(&str, bool)> = listed.as_array().unwrap().iter().map(|v| (v["name"].as_str().unwrap(), v["shared"].as_bool().unwrap())).collect();
    assert_eq!(names, [("Waiting SMS", true), ("Urgent VIPs", false)]);
    assert_eq!(listed[1]["id"], mine["id"]);

    // Only admins change shared views; nobody reaches another agent's.
    let shared_path = format!("/api/v1/views/{}", shared["id"]);
    let mine_path = format!("/api/v1/views/{}", mine["id"]);
    let (status, _) = server.send_as(&ana, Method::PATCH, &shared_path, Some(json!({"name": "Mine now"}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = server.send_as(&ana, Method::DELETE, &shared_path, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = server.send_as(&bo, Method::DELETE, &mine_path, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another agent's view is not there for Bo");
    let (status, renamed) = server.send_as(&ana, Method::PATCH, &mine_path, Some(json!({"name": "VIPs", "filters": {"label": "vip"}}))).await;
    assert_eq!(status, StatusCode::OK, "{renamed}");
    assert_eq!((renamed["name"].as_str(), &renamed["filters"]), (Some("VIPs"), &json!({"label": "vip"})));
    let (status, _) = server.send_as(&cy, Method::PATCH, &shared_path, Some(json!({"name": "Waiting on SMS"}))).await;
    assert_eq!(status, StatusCode::OK);

    // Filters are checked like the list's query.
    for bad in [json!({"view": "everything"}), json!({"label": "two words"}), json!({"status": "closed"}), json!({"colour": "red"}), json!({"q": "x".repeat(101)})] {
        let (status, body) = server.send_as(&ana, Method::POST, "/api/v1/views", Some(json!({"name": "bad", "filters": bad}))).await;
        assert!(status == StatusCode::BAD_REQUEST || status == StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {status} {body}");
        assert!(body["error"]["code"].is_string(), "{body}");
    }
    let (status, _) = server.send_as(&ana, Method::POST, "/api/v1/views", Some(json!({"name": "   ", "filters": {}}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // The bootstrap token is nobody: it saves shared views only.
    let (status, body) = server.api_post("/api/v1/views", &json!({"name": "Bootstrap's", "filters": {}})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("agent_only")), "{body}");
    // Filters are an object, never an array of its fields (which serde alone would take).
    let (status, body) = server.send_as(&ana, Method::POST, "/api/v1/views", Some(json!({"name": "arr", "filters": [null, null]}))).await;
    assert!(status.is_client_error() && body["error"]["code"].is_string(), "{status} {body}");
    let (status, body) = server.send_as(&ana, Method::PATCH, &mine_path, Some(json!({"filters": ["mine"]}))).await;
    assert!(status.is_client_error(), "{status} {body}");

    let (status, _) = server.send_as(&ana, Method::DELETE, &mine_path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, listed) = server.send_as(&ana, Method::GET, "/api/v1/views", None).await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    server.stop().await;
}
