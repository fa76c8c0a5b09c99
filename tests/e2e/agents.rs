//! Agents through the public surface: the bootstrap token and the CLI create the first admin,
//! login, logout, wrong passwords and the rate limits, personal API tokens, and every route of
//! the OpenAPI document enforcing the role it declares.

use crate::support::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

on_both_backends!(
    login_logout_wrong_passwords_and_rate_limits,
    personal_tokens_and_password_changes,
    every_route_enforces_its_declared_role,
    the_directory_names_every_agent_to_every_agent,
);

async fn the_directory_names_every_agent_to_every_agent() {
    let server = TestServer::start(None).await;
    let ana = create_agent(&server, "ana@example.com", "agent").await;
    let cy = create_agent(&server, "cy@example.com", "admin").await;
    let token = session(&server, "ana@example.com").await;
    let response = get_as(&server, &token, "/api/v1/agents/directory").await;
    assert_eq!(response.status(), StatusCode::OK);
    let directory: Value = response.json().await.unwrap();
    let ids: Vec<&Value> = directory.as_array().unwrap().iter().map(|a| &a["id"]).collect();
    assert_eq!(ids, [&ana["id"], &cy["id"]]);
    assert_eq!(directory[1]["display_name"], "cy@example.com");
    assert!(directory[0]["availability"].is_string() && directory[0]["teams"].is_array());
    assert!(directory[0].get("email").is_none() && directory[0].get("role").is_none(), "no emails or roles: {directory}");
    assert_eq!(get_as(&server, &token, "/api/v1/agents").await.status(), StatusCode::FORBIDDEN, "the full list stays admin-only");
    server.stop().await;
}

pub const PASSWORD: &str = "correct horse battery staple";

/// Create an agent with the bootstrap token; returns its JSON.
pub async fn create_agent(server: &TestServer, email: &str, role: &str) -> Value {
    let (status, agent) = server.api_post("/api/v1/agents", &json!({"email": email, "display_name": email, "role": role, "password": PASSWORD})).await;
    assert_eq!(status, StatusCode::CREATED, "{agent}");
    agent
}

/// Sign in; returns the session token.
pub async fn login(server: &TestServer, email: &str, password: &str) -> reqwest::Response {
    server.client.post(format!("{}/api/v1/auth/login", server.base)).json(&json!({"email": email, "password": password})).send().await.unwrap()
}

pub async fn session(server: &TestServer, email: &str) -> String {
    let response = login(server, email, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    body["token"].as_str().unwrap().to_string()
}

pub async fn get_as(server: &TestServer, token: &str, path: &str) -> reqwest::Response {
    server.client.get(format!("{}{path}", server.base)).bearer_auth(token).send().await.unwrap()
}

async fn login_logout_wrong_passwords_and_rate_limits() {
    let server = TestServer::start(None).await;
    let admin = create_agent(&server, "Boss@Example.com", "admin").await;
    assert_eq!(admin["email"], "boss@example.com");
    assert!(admin.get("password_hash").is_none() && !admin.to_string().contains("argon2"), "{admin}");

    let token = session(&server, "boss@example.com").await;
    assert!(token.starts_with("sbs_"));
    let me: Value = get_as(&server, &token, "/api/v1/me").await.json().await.unwrap();
    assert_eq!(me["id"], admin["id"]);
    assert_eq!(me["role"], "admin");

    // Wrong password and unknown email look the same.
    assert_eq!(error_code(login(&server, "boss@example.com", "wrong password!").await, StatusCode::UNAUTHORIZED).await, "invalid_credentials");
    assert_eq!(error_code(login(&server, "nobody@example.com", PASSWORD).await, StatusCode::UNAUTHORIZED).await, "invalid_credentials");

    // Logout revokes the session.
    let logout = server.client.post(format!("{}/api/v1/auth/logout", server.base)).bearer_auth(&token).send().await.unwrap();
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    assert_eq!(error_code(get_as(&server, &token, "/api/v1/me").await, StatusCode::UNAUTHORIZED).await, "unauthorized");

    // Five failures in a row lock the account, even against the right password.
    let ana = create_agent(&server, "ana@example.com", "agent").await;
    for _ in 0..4 {
        assert_eq!(login(&server, "ana@example.com", "not her password").await.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(login(&server, "ana@example.com", "not her password").await.status(), StatusCode::UNAUTHORIZED);
    let locked = login(&server, "ana@example.com", PASSWORD).await;
    assert!(locked.headers().contains_key("retry-after"));
    assert_eq!(error_code(locked, StatusCode::TOO_MANY_REQUESTS).await, "too_many_attempts");
    // Another account is not affected.
    assert_eq!(login(&server, "boss@example.com", PASSWORD).await.status(), StatusCode::OK);

    // Per address: after 20 failures, that address is refused; another one is not.
    let from = |ip: &str| reqwest::Client::builder().local_address(ip.parse::<std::net::IpAddr>().unwrap()).build().unwrap();
    let guesser = from("127.0.0.7");
    let guess = async |client: &reqwest::Client, email: &str, password: &str| {
        client.post(format!("{}/api/v1/auth/login", server.base)).json(&json!({"email": email, "password": password})).send().await.unwrap()
    };
    for n in 0..20 {
        assert_eq!(guess(&guesser, &format!("guess{n}@example.com"), "whatever it is").await.status(), StatusCode::UNAUTHORIZED);
    }
    let refused = guess(&guesser, "boss@example.com", PASSWORD).await;
    assert_eq!(error_code(refused, StatusCode::TOO_MANY_REQUESTS).await, "too_many_attempts");
    assert_eq!(guess(&from("127.0.0.8"), "boss@example.com", PASSWORD).await.status(), StatusCode::OK);
    let _ = ana;
    server.stop().await;
}

async fn personal_tokens_and_password_changes() {
    let server = TestServer::start(None).await;
    create_agent(&server, "ana@example.com", "agent").await;
    let session_token = session(&server, "ana@example.com").await;
    let post = |path: &str, token: &str, body: Value| {
        server.client.post(format!("{}{path}", server.base)).bearer_auth(token.to_string()).json(&body).send()
    };
    let created = post("/api/v1/me/tokens", &session_token, json!({"name": "zapier"})).await.unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().await.unwrap();
    let api_token = created["token"].as_str().unwrap().to_string();
    assert!(api_token.starts_with("sbp_"));
    assert_eq!(get_as(&server, &api_token, "/api/v1/conversations").await.status(), StatusCode::OK);
    let tokens: Value = get_as(&server, &session_token, "/api/v1/me/tokens").await.json().await.unwrap();
    assert!(tokens.as_array().unwrap().iter().any(|t| t["name"] == "zapier" && t["kind"] == "api"));
    assert!(!tokens.to_string().contains(&api_token), "the token itself is never listed");

    // A password change needs the current one, ends sessions and keeps API tokens.
    let patch = |token: &str, body: Value| server.client.patch(format!("{}/api/v1/me", server.base)).bearer_auth(token.to_string()).json(&body).send();
    let wrong = patch(&session_token, json!({"password": "a whole new password", "current_password": "nope"})).await.unwrap();
    assert_eq!(error_code(wrong, StatusCode::BAD_REQUEST).await, "invalid_request");
    let changed = patch(&session_token, json!({"password": "a whole new password", "current_password": PASSWORD, "availability": "online"})).await.unwrap();
    assert_eq!(changed.status(), StatusCode::OK);
    assert_eq!(changed.json::<Value>().await.unwrap()["availability"], "online");
    assert_eq!(get_as(&server, &session_token, "/api/v1/me").await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(get_as(&server, &api_token, "/api/v1/me").await.status(), StatusCode::OK);
    assert_eq!(login(&server, "ana@example.com", "a whole new password").await.status(), StatusCode::OK);

    // Revoking the API token ends it.
    let id = created["id"].as_i64().unwrap();
    let revoked = server.client.delete(format!("{}/api/v1/me/tokens/{id}", server.base)).bearer_auth(&api_token).send().await.unwrap();
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    assert_eq!(get_as(&server, &api_token, "/api/v1/conversations").await.status(), StatusCode::UNAUTHORIZED);
    server.stop().await;
}

/// Walk every operation of the served document and check it enforces the role it declares:
/// no token is `401` wherever a role is needed, an agent is `403` on admin routes, and the
/// right role gets past the check. (A 401/403 of a handler's own, such as a plugin refusing a
/// handshake, counts as getting past it.)
async fn every_route_enforces_its_declared_role() {
    let server = TestServer::start(None).await;
    create_agent(&server, "ana@example.com", "agent").await;
    let document: Value = server.client.get(format!("{}/api/v1/openapi.json", server.base)).send().await.unwrap().json().await.unwrap();
    let mut checked = std::collections::BTreeMap::<String, usize>::new();
    for (template, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let role = operation["x-switchboard-role"].as_str().unwrap_or_else(|| panic!("{method} {template} declares no role"));
            // Ids nothing has: the check must come before any lookup.
            let path = template.replace("{channel_id}", "whatsapp").replace("{agent_id}", "999999").replace("{id}", "999999");
            let method: reqwest::Method = method.to_uppercase().parse().unwrap();
            let send = async |token: Option<&str>| {
                let mut request = server.client.request(method.clone(), format!("{}{path}", server.base)).json(&json!({}));
                if let Some(token) = token {
                    request = request.bearer_auth(token);
                }
                if path.ends_with("/events") {
                    request = request.timeout(std::time::Duration::from_secs(2));
                }
                // The auth layer's refusals, by their codes (a plugin may answer 403 of its own).
                match request.send().await {
                    Ok(response) => {
                        let status = response.status();
                        let code = response.json::<Value>().await.ok().and_then(|body| body["error"]["code"].as_str().map(str::to_string));
                        match code.as_deref() {
                            Some("unauthorized") => StatusCode::UNAUTHORIZED,
                            Some("forbidden") => StatusCode::FORBIDDEN,
                            _ if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN => StatusCode::IM_A_TEAPOT,
                            _ => status,
                        }
                    }
                    // A live stream that was let through: it answered 200 and kept streaming.
                    Err(error) if error.is_timeout() => StatusCode::OK,
                    Err(error) => panic!("{method} {path}: {error}"),
                }
            };
            // A fresh agent session each time: `logout` revokes the one it is given.
            let agent = session(&server, "ana@example.com").await;
            let (anonymous, as_agent, as_admin) = (send(None).await, send(Some(&agent)).await, send(Some(ADMIN_TOKEN)).await);
            let passed = |status: StatusCode| status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN;
            match role {
                "public" => {
                    if template != "/metrics" {
                        assert!(passed(anonymous), "{method} {template} is public: {anonymous}");
                    }
                }
                "agent" => {
                    assert_eq!(anonymous, StatusCode::UNAUTHORIZED, "{method} {template} without a token");
                    assert!(passed(as_agent), "{method} {template} as an agent: {as_agent}");
                    assert!(passed(as_admin), "{method} {template} as the admin: {as_admin}");
                }
                "admin" => {
                    assert_eq!(anonymous, StatusCode::UNAUTHORIZED, "{method} {template} without a token");
                    assert_eq!(as_agent, StatusCode::FORBIDDEN, "{method} {template} as an agent");
                    assert!(passed(as_admin), "{method} {template} as the admin: {as_admin}");
                }
                other => panic!("{method} {template}: unknown role {other}"),
            }
            *checked.entry(role.to_string()).or_default() += 1;
        }
    }
    assert!(checked["admin"] >= 8 && checked["agent"] >= 10 && checked["public"] >= 4, "{checked:?}");
    server.stop().await;
}

/// `switchboard agents create` makes the first admin on a fresh database, without any token.
#[tokio::test]
async fn the_cli_creates_the_first_admin() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let url = format!("sqlite://{}", dir.path().join("switchboard.db").display());
    let config = write_config(dir.path(), port, None, &url);
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["agents", "create", "--config"])
        .arg(&config)
        .args(["--email", "first@example.com", "--name", "First Admin", "--role", "admin"])
        .env("SWITCHBOARD_AGENT_PASSWORD", PASSWORD)
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let created: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(created["role"], "admin");
    let short = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["agents", "create", "--config"])
        .arg(&config)
        .args(["--email", "second@example.com", "--name", "Second"])
        .env("SWITCHBOARD_AGENT_PASSWORD", "short")
        .output()
        .await
        .unwrap();
    assert!(!short.status.success(), "a too-short password is refused");

    let _child = spawn_server(&config, port).await;
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let response = client.post(format!("{base}/api/v1/auth/login")).json(&json!({"email": "first@example.com", "password": PASSWORD})).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let token = response.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_string();
    let agents: Value = client.get(format!("{base}/api/v1/agents")).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    assert_eq!(agents.as_array().unwrap().len(), 1);
}
