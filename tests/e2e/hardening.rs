//! The surface under attack: each test plays one finding of the adversarial review (issue #8)
//! and fails if its fix is undone.
//!
//! Slow clients and floods run against the real binary in a child process, so that its
//! memory and its log are its own; the rest run in process, on both backends.

use crate::support::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use futures_util::StreamExt;

on_both_backends!(
    webhooks_are_bound_to_their_channel_and_partial_payloads_keep_the_valid_parts,
    replayed_webhooks_add_no_log_rows,
    retention_prunes_the_webhook_log,
    plugin_output_over_the_limits_is_cut_or_dropped,
);

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// A WhatsApp `messages` change for business number `phone_number_id`.
fn wa_change(phone_number_id: &str, wamid: &str, from: &str, name: &str) -> Value {
    json!({"field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": phone_number_id},
        "contacts": [{"profile": {"name": name}, "wa_id": from}],
        "messages": [{"from": from, "id": wamid, "timestamp": "1749416400", "type": "text", "text": {"body": "hello"}}]
    }})
}

fn wa_body(changes: Vec<Value>) -> Vec<u8> {
    json!({"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": changes}]}).to_string().into_bytes()
}

/// A signed text webhook from `from`, for the test config's number.
fn wa_text(wamid: &str, from: &str) -> Vec<u8> {
    wa_body(vec![wa_change(PHONE_NUMBER_ID, wamid, from, "Ana")])
}

/// Connect from `source` (any 127.0.0.0/8 address works on Linux loopback), so that tests
/// can play several clients with addresses of their own.
async fn connect_from(source: IpAddr, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(source, 0)).unwrap();
    socket.connect(to).await.unwrap()
}

/// Write `request` on a fresh connection and read until the server closes it (or `wait`).
async fn raw_exchange(addr: SocketAddr, request: &[u8], wait: Duration) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    read_until_closed(&mut stream, wait).await
}

async fn read_until_closed(stream: &mut TcpStream, wait: Duration) -> String {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(wait, stream.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// Split a raw HTTP/1.1 exchange into (status, content type, body) per response.
fn responses(raw: &str) -> Vec<(u16, String, String)> {
    let mut out = Vec::new();
    let mut rest = raw;
    while let Some((head, after)) = rest.split_once("\r\n\r\n") {
        let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let header = |name: &str| {
            head.lines()
                .find_map(|line| line.split_once(':').filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim().to_string()))
        };
        let length: usize = header("content-length").and_then(|v| v.parse().ok()).unwrap_or(after.len());
        let body = after.get(..length).unwrap_or(after).to_string();
        out.push((status, header("content-type").unwrap_or_default(), body));
        rest = &after[length.min(after.len())..];
    }
    out
}

/// Assert that `raw` holds exactly one response with `status` and a JSON error body; its code.
fn json_error(raw: &str, status: u16) -> String {
    let all = responses(raw);
    assert_eq!(all.len(), 1, "one response expected: {raw:?}");
    let (got, content_type, body) = &all[0];
    assert_eq!(*got, status, "{raw:?}");
    assert!(content_type.starts_with("application/json"), "{raw:?}");
    let body: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("JSON body expected ({e}): {raw:?}"));
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    body["error"]["code"].as_str().unwrap().to_string()
}

/// Resident memory of process `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/<pid>/status")
}

/// A config for a child server on `port`, with a 1 MiB server cap and these extra settings.
fn child_config(dir: &std::path::Path, port: u16, database_url: &str, extra_channels: &str, settings: &Settings) -> std::path::PathBuf {
    let text = config_text_with(database_url, None, extra_channels, settings)
        .replace("127.0.0.1:0", &format!("127.0.0.1:{port}"))
        .replace("max_body_bytes = 65536", "max_body_bytes = 1048576");
    let path = dir.join("config.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The other four channels, for tests that exercise every plugin. Nothing is ever sent.
fn other_channels() -> String {
    format!(
        r#"
[[channels]]
id = "messenger"
plugin = "messenger"
allowed_hosts = ["127.0.0.1:9"]
config = {{ page_id = "104325212345678", api_base = "http://127.0.0.1:9/v21.0" }}
secrets = {{ app_secret = "{APP_SECRET}", verify_token = "{VERIFY_TOKEN}", page_access_token = "t" }}

[[channels]]
id = "instagram"
plugin = "instagram"
allowed_hosts = ["127.0.0.1:9"]
config = {{ ig_account_id = "17841400000000000", api_base = "http://127.0.0.1:9/v21.0" }}
secrets = {{ app_secret = "{APP_SECRET}", verify_token = "{VERIFY_TOKEN}", page_access_token = "t" }}

[[channels]]
id = "sms"
plugin = "twilio-sms"
allowed_hosts = ["127.0.0.1:9"]
config = {{ account_sid = "AC00000000000000000000000000000000", from = "+15005550006", api_base = "http://127.0.0.1:9" }}
secrets = {{ auth_token = "twilio-auth-token" }}
max_body_bytes = 65000

[[channels]]
id = "telegram"
plugin = "telegram"
allowed_hosts = ["127.0.0.1:9"]
config = {{ api_base = "http://127.0.0.1:9" }}
secrets = {{ bot_token = "123:abc", secret_token = "telegram-secret" }}
"#
    )
}

/// Rows in a table of the test's database, read directly.
async fn count_rows(database_url: &str, query: &str) -> i64 {
    if database_url.starts_with("sqlite://") {
        let pool = sqlx::SqlitePool::connect(database_url).await.unwrap();
        let n = sqlx::query_scalar(query).fetch_one(&pool).await.unwrap();
        pool.close().await;
        n
    } else {
        let pool = sqlx::PgPool::connect(database_url).await.unwrap();
        let n = sqlx::query_scalar(query).fetch_one(&pool).await.unwrap();
        pool.close().await;
        n
    }
}

// ---------------------------------------------------------------------------------------
// Finding 1: slow clients pin memory, nothing times out
// ---------------------------------------------------------------------------------------

/// 200 connections each send a 1 MiB body less one byte and stall. The body timeout cuts
/// them off with a JSON 408, memory comes back, and a normal client is answered throughout.
#[tokio::test]
async fn slow_bodies_are_cut_off_and_memory_is_released() {
    const SLOW: usize = 200;
    const BODY: usize = 1024 * 1024;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let url = format!("sqlite://{}", dir.path().join("switchboard.db").display());
    let settings = Settings { server: "body_read_timeout_ms = 2500\nmax_connections_per_ip = 64", ..Settings::default() };
    let config = child_config(dir.path(), port, &url, "", &settings);
    let (child, _log) = spawn_server_logged(&config, port, "warn").await;
    let pid = child.id().unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let base = format!("http://{addr}");
    let client = reqwest::Client::new();

    // Warm up every path the normal client uses, then take the baseline.
    for n in 0..50 {
        let body = wa_text(&format!("wamid.WARM{n}"), "16505550001");
        let status = client.post(format!("{base}/webhooks/whatsapp")).header("x-hub-signature-256", sign(&body)).body(body).send().await.unwrap().status();
        assert_eq!(status, StatusCode::OK);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = rss_kib(pid);

    // The slow clients, from four addresses of their own (the per-address cap is 64).
    let started = Instant::now();
    let mut slow = tokio::task::JoinSet::new();
    for n in 0..SLOW {
        slow.spawn(async move {
            let source: IpAddr = format!("127.0.0.{}", 2 + n % 4).parse().unwrap();
            let mut stream = connect_from(source, addr).await;
            let head = format!(
                "POST /webhooks/whatsapp HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\ncontent-length: {BODY}\r\nx-hub-signature-256: sha256={}\r\n\r\n",
                "0".repeat(64)
            );
            stream.write_all(head.as_bytes()).await.unwrap();
            // Most of the body, then nothing: the server must not wait for ever.
            let chunk = vec![b' '; 64 * 1024];
            let mut sent = 0;
            while sent < BODY - 1 {
                let n = chunk.len().min(BODY - 1 - sent);
                if stream.write_all(&chunk[..n]).await.is_err() {
                    break;
                }
                sent += n;
            }
            read_until_closed(&mut stream, Duration::from_secs(20)).await
        });
    }

    // A normal client, throughout: health checks and signed webhooks.
    let mut peak = before;
    let mut worst = Duration::ZERO;
    let mut normal = 0;
    while !slow.is_empty() && started.elapsed() < Duration::from_secs(25) {
        let t = Instant::now();
        let health = client.get(format!("{base}/healthz")).timeout(Duration::from_secs(5)).send().await.unwrap();
        assert_eq!(health.status(), StatusCode::OK);
        let body = wa_text(&format!("wamid.NORMAL{normal}"), "16505550002");
        let status = client
            .post(format!("{base}/webhooks/whatsapp"))
            .header("x-hub-signature-256", sign(&body))
            .body(body)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, StatusCode::OK);
        worst = worst.max(t.elapsed());
        normal += 1;
        peak = peak.max(rss_kib(pid));
        tokio::time::sleep(Duration::from_millis(100)).await;
        if started.elapsed() > Duration::from_secs(3) {
            while let Some(done) = slow.try_join_next() {
                let raw = done.unwrap();
                assert_eq!(json_error(&raw, 408), "body_timeout");
            }
        }
    }
    let mut answered = 0;
    while let Some(done) = slow.join_next().await {
        assert_eq!(json_error(&done.unwrap(), 408), "body_timeout");
        answered += 1;
    }
    let cut_off_after = started.elapsed();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = rss_kib(pid);
    eprintln!(
        "slow bodies: {SLOW} stalled connections cut off with 408 within {:.1} s; RSS before {} MiB, peak {} MiB, after {} MiB ({:+.1}%); \
         normal client: {normal} health checks + {normal} signed webhooks, slowest round trip {} ms",
        cut_off_after.as_secs_f64(),
        before / 1024,
        peak / 1024,
        after / 1024,
        (after as f64 / before as f64 - 1.0) * 100.0,
        worst.as_millis()
    );
    assert!(normal >= 5, "the normal client ran throughout ({normal} rounds)");
    assert!(peak > before + 50 * 1024, "the slow bodies were buffered (peak {peak} KiB, before {before} KiB): the test tests something");
    assert!(after as f64 <= before as f64 * 1.2, "RSS {after} KiB after, {before} KiB before: memory was not released");
    let stored = count_rows(&url, "SELECT COUNT(*) FROM messages WHERE external_id LIKE 'wamid.NORMAL%'").await;
    assert_eq!(stored, normal as i64);
    let _ = answered;
}

// ---------------------------------------------------------------------------------------
// Finding 2: unauthenticated input must never produce a 5xx or an ERROR line
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn unsigned_floods_get_only_4xx_and_no_error_lines_while_signed_traffic_is_stored() {
    const FLOOD: usize = 400;
    const SIGNED: usize = 120;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let url = format!("sqlite://{}", dir.path().join("switchboard.db").display());
    let settings = Settings { server: "max_connections_per_ip = 4096", ..Settings::default() };
    let config = child_config(dir.path(), port, &url, &other_channels(), &settings);
    let (_child, log) = spawn_server_logged(&config, port, "info").await;
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder().pool_max_idle_per_host(64).build().unwrap();
    let big = bytes::Bytes::from(vec![b'a'; 1024 * 1024]);

    // Forged requests to every channel: without a signature, and with a well-formed but
    // wrong one (which makes the plugin hash the whole body).
    let channels = ["whatsapp", "messenger", "instagram", "sms", "telegram"];
    let (flood_client, flood_base) = (client.clone(), base.clone());
    let forged = futures_util::stream::iter(0..FLOOD).map(move |n| {
        let (client, base, body) = (flood_client.clone(), flood_base.clone(), big.clone());
        async move {
            let channel = channels[n % channels.len()];
            let mut request = client.post(format!("{base}/webhooks/{channel}")).body(body);
            if n % 2 == 1 {
                request = match channel {
                    "sms" => request.header("x-twilio-signature", "0/KCTR6DLpKmkAf8muzZqo1nDgQ=").header("content-type", "application/x-www-form-urlencoded"),
                    "telegram" => request.header("x-telegram-bot-api-secret-token", "guess"),
                    _ => request.header("x-hub-signature-256", format!("sha256={}", "ab".repeat(32))),
                };
            }
            match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    let body: Value = response.json().await.unwrap_or(Value::Null);
                    (channel, status.as_u16(), body["error"]["code"].as_str().unwrap_or("").to_string())
                }
                // The server may close a connection on an over-cap body before reading it.
                Err(error) => (channel, 0, error.to_string()),
            }
        }
    });
    let flood = tokio::spawn(forged.buffer_unordered(48).collect::<Vec<_>>());

    // Signed traffic in parallel, as a provider would send it.
    let signed = futures_util::stream::iter(0..SIGNED).map(|n| {
        let (client, base) = (client.clone(), base.clone());
        async move {
            let body = wa_text(&format!("wamid.SIGNED{n:04}"), &format!("1650555{n:04}"));
            let response = client.post(format!("{base}/webhooks/whatsapp")).header("x-hub-signature-256", sign(&body)).body(body).send().await.unwrap();
            response.status()
        }
    });
    let signed: Vec<StatusCode> = signed.buffer_unordered(4).collect().await;
    let flood = flood.await.unwrap();

    let mut by_status = std::collections::BTreeMap::<u16, usize>::new();
    for (channel, status, code) in &flood {
        *by_status.entry(*status).or_default() += 1;
        let refused_early = *status == 0 && *channel == "sms";
        assert!((400..500).contains(status) || refused_early, "{channel}: {status} {code}");
    }
    eprintln!("flood: {FLOOD} forged 1 MiB bodies → {by_status:?}; {SIGNED} signed webhooks → {:?}", signed.iter().map(|s| s.as_u16()).collect::<std::collections::BTreeSet<_>>());
    assert!(signed.iter().all(|s| *s == StatusCode::OK), "{signed:?}");
    let stored = count_rows(&url, "SELECT COUNT(*) FROM messages WHERE external_id LIKE 'wamid.SIGNED%'").await;
    assert_eq!(stored, SIGNED as i64);
    let errors = log.errors();
    assert!(errors.is_empty(), "ERROR lines: {errors:#?}");

    // What refusing cost is on the dashboard.
    let metrics = client.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
    for channel in ["whatsapp", "messenger", "instagram", "telegram"] {
        let series = format!("switchboard_plugin_rejected_seconds_count{{channel=\"{channel}\",reason=\"bad_signature\"}}");
        assert!(metric_value(&metrics, &series) > 0.0, "{series} missing from /metrics");
    }
}

// ---------------------------------------------------------------------------------------
// Findings 3 and 4: webhooks bound to their channel; partial payloads
// ---------------------------------------------------------------------------------------

async fn webhooks_are_bound_to_their_channel_and_partial_payloads_keep_the_valid_parts() {
    let other_number = "222222222222222";
    let second = format!(
        r#"
[[channels]]
id = "wa-b"
plugin = "whatsapp"
allowed_hosts = ["127.0.0.1:9"]
config = {{ phone_number_id = "{other_number}", api_base = "http://127.0.0.1:9/v21.0" }}
secrets = {{ app_secret = "{APP_SECRET}", verify_token = "{VERIFY_TOKEN}", access_token = "t" }}
"#
    );
    let server = TestServer::start_with(None, &format!("{second}{}", other_channels())).await;

    // Number A's webhook, signed with the shared app secret, delivered to number B's channel.
    let for_a = wa_text("wamid.FOR_A", "16505551234");
    let answer = server.post_meta_signed("wa-b", APP_SECRET, &for_a).await;
    assert_eq!(answer["new_messages"], 0, "{answer}");
    assert!(server.conversations().await.is_empty(), "nothing is stored on wa-b");
    let answer = server.post_signed(&for_a).await;
    assert_eq!(answer["new_messages"], 1, "{answer}");
    assert_eq!(server.conversations().await[0]["channel_id"], "whatsapp");

    // One malformed change and one valid message: the valid one is stored.
    let mixed = wa_body(vec![
        json!({"field": "messages", "value": {"messages": "not a list"}}),
        wa_change(PHONE_NUMBER_ID, "wamid.VALID", "16505559999", "Bo"),
    ]);
    let answer = server.post_signed(&mixed).await;
    assert_eq!(answer["new_messages"], 1, "{answer}");
    // Nothing readable at all is still refused.
    let unreadable = wa_body(vec![json!({"field": "messages", "value": 42})]);
    let response = server.post_webhook("whatsapp", &unreadable, Some(&sign(&unreadable))).await;
    assert_eq!(error_code(response, StatusCode::BAD_REQUEST).await, "malformed_payload");

    // Messenger: an entry for another Page is skipped; a `messaging` that is not a list is
    // skipped, and the valid entry beside it stored.
    let text = String::from_utf8(fixture("messenger/text.json")).unwrap();
    let mut body: Value = serde_json::from_str(&text).unwrap();
    let valid = body["entry"][0].clone();
    let mut other_page = valid.clone();
    other_page["id"] = json!("999999999");
    other_page["messaging"][0]["message"]["mid"] = json!("m_other_page");
    body["entry"] = json!([{"id": "104325212345678", "messaging": {"not": "a list"}}, other_page, valid]);
    let bytes = body.to_string().into_bytes();
    let answer = server.post_meta_signed("messenger", APP_SECRET, &bytes).await;
    assert_eq!(answer["new_messages"], 1, "{answer}");
    let messenger: Vec<Value> = server.conversations().await.into_iter().filter(|c| c["channel_id"] == "messenger").collect();
    assert_eq!(messenger.len(), 1);
    let ids: Vec<Value> = server.messages(messenger[0]["id"].as_i64().unwrap()).await.iter().map(|m| m["external_id"].clone()).collect();
    assert!(!ids.contains(&json!("m_other_page")), "{ids:?}");
    server.stop().await;
}

// ---------------------------------------------------------------------------------------
// Finding 5: every error is JSON, hyper's own included
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn every_error_the_surface_can_give_is_json() {
    let settings = Settings { server: "body_read_timeout_ms = 600\nmax_header_bytes = 8192", ..Settings::default() };
    let server = TestServer::start_settings(None, &other_channels(), &settings).await;
    let addr = server.gateway().local_addr;
    let wait = Duration::from_secs(5);

    // hyper's own refusals, before any handler runs.
    assert_eq!(json_error(&raw_exchange(addr, b"GARBAGE\r\n\r\n", wait).await, 400), "malformed_request");
    assert_eq!(json_error(&raw_exchange(addr, b"GET / HTTP/1.1\r\nbad header\r\n\r\n", wait).await, 400), "malformed_request");
    let huge_header = format!("GET /healthz HTTP/1.1\r\nhost: t\r\nx-big: {}\r\n\r\n", "a".repeat(10_000));
    assert_eq!(json_error(&raw_exchange(addr, huge_header.as_bytes(), wait).await, 431), "headers_too_large");
    let long_uri = format!("GET /{} HTTP/1.1\r\nhost: t\r\n\r\n", "a".repeat(70_000));
    let code = json_error(&raw_exchange(addr, long_uri.as_bytes(), wait).await, 431);
    assert_eq!(code, "headers_too_large");
    // After a good response on the same connection, the refusal is still JSON and nothing
    // else in the stream is touched.
    let raw = raw_exchange(addr, b"GET /healthz HTTP/1.1\r\nhost: t\r\n\r\nNOT HTTP\r\n\r\n", wait).await;
    let all = responses(&raw);
    assert_eq!(all.len(), 2, "{raw:?}");
    assert_eq!((all[0].0, all[0].2.as_str()), (200, r#"{"status":"ok"}"#));
    assert_eq!(all[1].0, 400);
    assert!(all[1].1.starts_with("application/json"), "{raw:?}");

    // The router's refusals.
    let c = &server.client;
    let post = |path: &str| c.post(format!("{}{path}", server.base));
    assert_eq!(error_code(post("/webhooks/%ff%fe").body("x").send().await.unwrap(), StatusCode::BAD_REQUEST).await, "invalid_path");
    assert_eq!(error_code(post("/webhooks/nope").body("x").send().await.unwrap(), StatusCode::NOT_FOUND).await, "unknown_channel");
    assert_eq!(error_code(c.put(format!("{}/webhooks/whatsapp", server.base)).send().await.unwrap(), StatusCode::METHOD_NOT_ALLOWED).await, "method_not_allowed");
    assert_eq!(error_code(c.get(format!("{}/nowhere", server.base)).send().await.unwrap(), StatusCode::NOT_FOUND).await, "not_found");
    let reply = post("/api/v1/conversations/1/messages").bearer_auth(ADMIN_TOKEN).body(r#"{"text":"hi"}"#).send().await.unwrap();
    assert_eq!(error_code(reply, StatusCode::UNSUPPORTED_MEDIA_TYPE).await, "unsupported_media_type");
    // A channel's own cap, by Content-Length, before a byte of the body is read.
    let too_big = post("/webhooks/sms").header("x-twilio-signature", "x").body(vec![b'a'; 65_537]).send().await.unwrap();
    assert_eq!(error_code(too_big, StatusCode::PAYLOAD_TOO_LARGE).await, "body_too_large");

    // A body that does not arrive in time, on a webhook and on the API.
    for (path, extra) in [("/webhooks/whatsapp", ""), ("/api/v1/conversations/1/messages", "authorization: Bearer test-admin-token\r\ncontent-type: application/json\r\n")] {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let head = format!("POST {path} HTTP/1.1\r\nhost: t\r\n{extra}content-length: 100\r\n\r\n{{");
        stream.write_all(head.as_bytes()).await.unwrap();
        assert_eq!(json_error(&read_until_closed(&mut stream, wait).await, 408), "body_timeout", "{path}");
    }
    server.stop().await;
}

/// Connections over the caps are answered with JSON and closed at the door.
#[tokio::test]
async fn connections_over_the_caps_get_json_429_and_503() {
    let settings = Settings { server: "max_connections = 6\nmax_connections_per_ip = 3", ..Settings::default() };
    let server = TestServer::start_settings(None, "", &settings).await;
    let addr = server.gateway().local_addr;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(connect_from("127.0.0.3".parse().unwrap(), addr).await);
    }
    let mut fourth = connect_from("127.0.0.3".parse().unwrap(), addr).await;
    let raw = read_until_closed(&mut fourth, Duration::from_secs(5)).await;
    assert_eq!(json_error(&raw, 429), "too_many_connections_from_address");
    for _ in 0..3 {
        held.push(connect_from("127.0.0.4".parse().unwrap(), addr).await);
    }
    let mut seventh = connect_from("127.0.0.5".parse().unwrap(), addr).await;
    let raw = read_until_closed(&mut seventh, Duration::from_secs(5)).await;
    assert_eq!(json_error(&raw, 503), "too_many_connections");
    // Freed slots are taken again.
    drop(held);
    let mut answered = false;
    for _ in 0..50 {
        if let Ok(response) = server.client.get(format!("{}/healthz", server.base)).send().await {
            answered = response.status() == StatusCode::OK;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(answered);
    server.stop().await;
}

// ---------------------------------------------------------------------------------------
// Finding 7: tokens in URLs
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn access_tokens_in_urls_only_work_on_the_live_stream() {
    let server = TestServer::start(None).await;
    let c = &server.client;
    let url = |path: &str| format!("{}{path}", server.base);
    let in_url = c.get(url(&format!("/api/v1/conversations?access_token={ADMIN_TOKEN}"))).send().await.unwrap();
    assert_eq!(error_code(in_url, StatusCode::UNAUTHORIZED).await, "unauthorized");
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let response = c.get(url("/api/v1/conversations")).header("authorization", format!("{scheme} {ADMIN_TOKEN}")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{scheme}");
    }
    let basic = c.get(url("/api/v1/conversations")).header("authorization", format!("Basic {ADMIN_TOKEN}")).send().await.unwrap();
    assert_eq!(error_code(basic, StatusCode::UNAUTHORIZED).await, "unauthorized");
    // The live stream takes it in the URL, where EventSource cannot set headers.
    let stream = c.get(url(&format!("/api/v1/events?access_token={ADMIN_TOKEN}"))).send().await.unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    assert!(stream.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    drop(stream);
    let wrong = c.get(url("/api/v1/events?access_token=wrong")).send().await.unwrap();
    assert_eq!(error_code(wrong, StatusCode::UNAUTHORIZED).await, "unauthorized");
    server.stop().await;
}

// ---------------------------------------------------------------------------------------
// Finding 8: validation gaps
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn replies_are_validated_at_every_level() {
    let server = TestServer::start(None).await;
    server.post_signed(&wa_text("wamid.V1", "16505551234")).await;
    let id = server.only_conversation_id().await;
    let path = format!("/api/v1/conversations/{id}/messages");
    let cases = [
        (json!({"content": {"type": "text", "text": "   ", "bogus": 1}}), StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
        (json!({"content": {"type": "text", "text": "   "}}), StatusCode::BAD_REQUEST, "empty_message"),
        (json!({"text": "hi", "bogus": true}), StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
        (json!({"content": {"type": "media", "kind": "image", "url": "javascript:alert(1)"}}), StatusCode::BAD_REQUEST, "invalid_reply"),
        (json!({"content": {"type": "media", "kind": "hologram", "url": "https://x.test/a"}}), StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
        (json!({"content": {"type": "template", "name": "", "language": "en"}}), StatusCode::BAD_REQUEST, "invalid_reply"),
        (json!({"text": "a".repeat(32_769)}), StatusCode::BAD_REQUEST, "invalid_reply"),
        (json!({"text": "hi", "reply_to": "r".repeat(513)}), StatusCode::BAD_REQUEST, "invalid_reply"),
        (json!({"text": "hi", "content": {"type": "text", "text": "hi"}}), StatusCode::BAD_REQUEST, "invalid_reply"),
    ];
    for (body, status, code) in cases {
        let response = server.client.post(format!("{}{path}", server.base)).bearer_auth(ADMIN_TOKEN).json(&body).send().await.unwrap();
        assert_eq!(error_code(response, status).await, code, "{body}");
    }
    assert_eq!(server.messages(id).await.len(), 1, "nothing was queued");
    server.queue_reply(id, &json!({"content": {"type": "text", "text": "fine"}})).await;
    server.stop().await;
}

async fn plugin_output_over_the_limits_is_cut_or_dropped() {
    let server = TestServer::start(None).await;
    let long_id = format!("wamid.{}", "X".repeat(40_000));
    let long_name = "N".repeat(5_000);
    let body = wa_body(vec![
        wa_change(PHONE_NUMBER_ID, &long_id, "16505551111", "Ana"),
        wa_change(PHONE_NUMBER_ID, "wamid.SHORT", "16505552222", &long_name),
    ]);
    let answer = server.post_signed(&body).await;
    assert_eq!(answer["new_messages"], 1, "only the message with a sane id is stored: {answer}");
    let stored = count_rows(&server.database.url, "SELECT COUNT(*) FROM messages WHERE length(external_id) > 1000").await;
    assert_eq!(stored, 0);
    let conversation = &server.conversations().await[0];
    let name = conversation["contact"]["display_name"].as_str().unwrap();
    assert!(name.len() <= 256 && name.starts_with("NNN"), "{} bytes", name.len());
    server.stop().await;
}

// ---------------------------------------------------------------------------------------
// Finding 9: the raw webhook log
// ---------------------------------------------------------------------------------------

async fn replayed_webhooks_add_no_log_rows() {
    let server = TestServer::start(None).await;
    let body = wa_text("wamid.REPLAY", "16505551234");
    for _ in 0..100 {
        server.post_signed(&body).await;
    }
    let rows = "SELECT COUNT(*) FROM webhook_events";
    assert_eq!(count_rows(&server.database.url, rows).await, 1);
    // The same messages in different bytes (a re-batched redelivery): no row either.
    let reformatted = serde_json::to_vec_pretty(&serde_json::from_slice::<Value>(&body).unwrap()).unwrap();
    let answer = server.post_signed(&reformatted).await;
    assert_eq!(answer["duplicates"], 1);
    assert_eq!(count_rows(&server.database.url, rows).await, 1);
    // Something new is logged.
    server.post_signed(&wa_text("wamid.NEW", "16505551234")).await;
    assert_eq!(count_rows(&server.database.url, rows).await, 2);
    server.stop().await;
}

async fn retention_prunes_the_webhook_log() {
    let settings = Settings { database: "webhook_log_retention_hours = 0\nmaintenance_interval_secs = 1", ..Settings::default() };
    let server = TestServer::start_settings(None, "", &settings).await;
    server.post_signed(&wa_text("wamid.KEEP", "16505551234")).await;
    let mut rows = i64::MAX;
    for _ in 0..60 {
        rows = count_rows(&server.database.url, "SELECT COUNT(*) FROM webhook_events").await;
        if rows == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(rows, 0, "the raw log was pruned");
    assert_eq!(count_rows(&server.database.url, "SELECT COUNT(*) FROM messages").await, 1, "the message stays");
    server.stop().await;
}

// ---------------------------------------------------------------------------------------
// Finding 10: /metrics
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn metrics_name_plugins_not_paths_and_can_be_protected_or_moved() {
    let server = TestServer::start(None).await;
    server.post_signed(&wa_text("wamid.M1", "16505551234")).await;
    let metrics = server.client.get(format!("{}/metrics", server.base)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains(r#"plugin="whatsapp""#), "plugins are labelled by name");
    let dir = plugin_dir().display().to_string();
    assert!(!metrics.contains(&dir) && !metrics.contains(".wasm"), "no plugin path in /metrics");
    server.stop().await;

    let settings = Settings { sections: "[metrics]\ntoken = \"scrape-me\"", ..Settings::default() };
    let server = TestServer::start_settings(None, "", &settings).await;
    let url = format!("{}/metrics", server.base);
    assert_eq!(error_code(server.client.get(&url).send().await.unwrap(), StatusCode::UNAUTHORIZED).await, "unauthorized");
    let wrong = server.client.get(&url).bearer_auth("nope").send().await.unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let right = server.client.get(&url).bearer_auth("scrape-me").send().await.unwrap();
    assert_eq!(right.status(), StatusCode::OK);
    assert!(right.text().await.unwrap().contains("switchboard_"));
    server.stop().await;

    let settings = Settings { sections: "[metrics]\nlisten = \"127.0.0.1:0\"", ..Settings::default() };
    let server = TestServer::start_settings(None, "", &settings).await;
    let elsewhere = server.gateway().metrics_addr.expect("a metrics listener");
    assert_eq!(error_code(server.client.get(format!("{}/metrics", server.base)).send().await.unwrap(), StatusCode::NOT_FOUND).await, "not_found");
    let scraped = server.client.get(format!("http://{elsewhere}/metrics")).send().await.unwrap();
    assert_eq!(scraped.status(), StatusCode::OK);
    assert_eq!(error_code(server.client.get(format!("http://{elsewhere}/api/v1/conversations")).send().await.unwrap(), StatusCode::NOT_FOUND).await, "not_found");
    server.stop().await;
}
