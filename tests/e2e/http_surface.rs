//! The HTTP surface's fixed points: JSON errors for every bad input, health, OpenAPI.

use crate::support::*;
use reqwest::StatusCode;
use serde_json::Value;

on_both_backends!(
    bad_input_gets_json_4xx,
    health_readiness_and_openapi,
    conversation_list_pages_newest_first,
);

async fn bad_input_gets_json_4xx() {
    let server = TestServer::start(None).await;
    let c = &server.client;

    let unknown = server.post_webhook("nope", b"{}", None).await;
    assert_eq!(error_code(unknown, StatusCode::NOT_FOUND).await, "unknown_channel");

    let huge = vec![b'a'; 70_000];
    let response = server.post_webhook("whatsapp", &huge, Some(&sign(&huge))).await;
    assert_eq!(error_code(response, StatusCode::PAYLOAD_TOO_LARGE).await, "body_too_large");

    let malformed = br#"{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{"messages":"#;
    let response = server.post_webhook("whatsapp", malformed, Some(&sign(malformed))).await;
    assert_eq!(error_code(response, StatusCode::BAD_REQUEST).await, "malformed_payload");

    let wrong_object = br#"{"object":"page","entry":[]}"#;
    let response = server.post_webhook("whatsapp", wrong_object, Some(&sign(wrong_object))).await;
    assert_eq!(error_code(response, StatusCode::BAD_REQUEST).await, "malformed_payload");

    let no_token = c.get(format!("{}/api/v1/conversations", server.base)).send().await.unwrap();
    assert_eq!(error_code(no_token, StatusCode::UNAUTHORIZED).await, "unauthorized");
    let bad_token = c.get(format!("{}/api/v1/conversations", server.base)).bearer_auth("wrong").send().await.unwrap();
    assert_eq!(error_code(bad_token, StatusCode::UNAUTHORIZED).await, "unauthorized");

    let get = |path: &str| c.get(format!("{}{path}", server.base)).bearer_auth(ADMIN_TOKEN).send();
    assert_eq!(error_code(get("/api/v1/conversations?cursor=zzz").await.unwrap(), StatusCode::BAD_REQUEST).await, "invalid_cursor");
    assert_eq!(error_code(get("/api/v1/conversations?limit=-1").await.unwrap(), StatusCode::BAD_REQUEST).await, "invalid_query");
    assert_eq!(error_code(get("/api/v1/conversations/999").await.unwrap(), StatusCode::NOT_FOUND).await, "not_found");
    assert_eq!(error_code(get("/api/v1/conversations/abc").await.unwrap(), StatusCode::BAD_REQUEST).await, "invalid_path");
    assert_eq!(error_code(get("/api/v1/contacts/999").await.unwrap(), StatusCode::NOT_FOUND).await, "not_found");
    assert_eq!(error_code(get("/api/v1/nothing-here").await.unwrap(), StatusCode::NOT_FOUND).await, "no_such_endpoint");

    let reply = |body: &'static str| {
        c.post(format!("{}/api/v1/conversations/1/messages", server.base))
            .bearer_auth(ADMIN_TOKEN)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    assert_eq!(error_code(reply("{").await.unwrap(), StatusCode::BAD_REQUEST).await, "invalid_json");
    assert_eq!(error_code(reply("{}").await.unwrap(), StatusCode::BAD_REQUEST).await, "invalid_reply");
    assert_eq!(error_code(reply(r#"{"text":"hi"}"#).await.unwrap(), StatusCode::NOT_FOUND).await, "not_found");
    server.stop().await;
}

async fn health_readiness_and_openapi() {
    let server = TestServer::start(None).await;
    let get = |path: &str| server.client.get(format!("{}{path}", server.base)).send();
    assert_eq!(get("/healthz").await.unwrap().status(), StatusCode::OK);
    let ready: Value = get("/readyz").await.unwrap().json().await.unwrap();
    assert_eq!(ready["status"], "ready");
    let expected_database = match backend() {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    assert_eq!(ready["database"], expected_database, "{ready}");

    let spec: Value = get("/api/v1/openapi.json").await.unwrap().json().await.unwrap();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3."));
    for path in ["/webhooks/{channel_id}", "/api/v1/conversations", "/api/v1/conversations/{id}/messages", "/api/v1/contacts/{id}", "/api/v1/events"] {
        assert!(spec["paths"][path].is_object(), "OpenAPI lacks {path}");
    }
    assert!(spec["paths"]["/api/v1/conversations/{id}/messages"]["post"].is_object());
    assert!(spec["components"]["schemas"]["MessageView"].is_object());

    let channels = server.api_get("/api/v1/channels").await;
    assert_eq!(channels[0]["id"], "whatsapp");
    assert_eq!(channels[0]["webhook_url"], "https://switchboard.test/webhooks/whatsapp");
    server.stop().await;
}

async fn conversation_list_pages_newest_first() {
    let server = TestServer::start(None).await;
    let template = String::from_utf8(fixture("whatsapp/text.json")).unwrap();
    for n in 0..5 {
        let body = template
            .replace("16505551234", &format!("1650555{n:04}"))
            .replace("wamid.HBgL", &format!("wamid.P{n}"))
            .into_bytes();
        server.post_signed(&body).await;
    }
    let first = server.api_get("/api/v1/conversations?limit=2").await;
    let items = first["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["contact"]["phone"], "+16505550004", "newest first");
    let cursor = first["next_cursor"].as_str().unwrap();
    let mut seen: Vec<String> = items.iter().map(|c| c["contact"]["phone"].as_str().unwrap().to_string()).collect();
    let mut next = Some(cursor.to_string());
    while let Some(cursor) = next {
        let page = server.api_get(&format!("/api/v1/conversations?limit=2&cursor={cursor}")).await;
        seen.extend(page["items"].as_array().unwrap().iter().map(|c| c["contact"]["phone"].as_str().unwrap().to_string()));
        next = page["next_cursor"].as_str().map(str::to_string);
    }
    assert_eq!(seen, ["+16505550004", "+16505550003", "+16505550002", "+16505550001", "+16505550000"]);
    server.stop().await;
}
