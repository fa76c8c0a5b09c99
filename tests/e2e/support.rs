//! Test support: a real gateway on a loopback port with a database of its own (a temp SQLite
//! file, or a scratch PostgreSQL database), a fake Graph API, webhook signing, and small API
//! and SSE clients.

#![allow(dead_code)]

use axum::extract::{Path as AxumPath, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use switchboard::config::{Config, Secret};
use switchboard::store::scratch::ScratchDatabase;
use tokio::process::{Child, Command};

// ---------------------------------------------------------------------------------------
// Backends: every test listed in `on_both_backends!` runs on SQLite and on PostgreSQL
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

tokio::task_local! {
    /// The backend the running test's databases use; set by `on_both_backends!`.
    static BACKEND: Backend;
}

/// The backend of the running test (SQLite for tests not run through `on_both_backends!`).
pub fn backend() -> Backend {
    BACKEND.try_with(|backend| *backend).unwrap_or(Backend::Sqlite)
}

/// The PostgreSQL server tests may use, from `TEST_DATABASE_URL` (`.ci/run` sets it).
pub fn postgres_admin_url() -> Option<String> {
    std::env::var("TEST_DATABASE_URL").ok().filter(|url| !url.is_empty())
}

/// Run `test` with `backend` as the backend of every database it creates. On PostgreSQL
/// without `TEST_DATABASE_URL`, the test is skipped with a note.
pub async fn run_on(backend: Backend, test: impl Future<Output = ()>) {
    if backend == Backend::Postgres && postgres_admin_url().is_none() {
        eprintln!("skipped: set TEST_DATABASE_URL to run this test on PostgreSQL");
        return;
    }
    BACKEND.scope(backend, test).await
}

/// For each `async fn name()`, a module `name` with a `sqlite` and a `postgres` test.
macro_rules! on_both_backends {
    ($($test:ident),* $(,)?) => {
        $(
            mod $test {
                use crate::support::{run_on, Backend};

                #[tokio::test]
                async fn sqlite() {
                    run_on(Backend::Sqlite, super::$test()).await
                }

                #[tokio::test]
                async fn postgres() {
                    run_on(Backend::Postgres, super::$test()).await
                }
            }
        )*
    };
}
pub(crate) use on_both_backends;

/// One test's database, on the running test's backend; dropped with it.
pub struct TestDatabase {
    pub url: String,
    _scratch: Option<ScratchDatabase>,
}

impl TestDatabase {
    /// A SQLite file in `dir`, or a fresh PostgreSQL database.
    pub async fn new(dir: &std::path::Path) -> Self {
        match backend() {
            Backend::Sqlite => Self { url: format!("sqlite://{}", dir.join("switchboard.db").display()), _scratch: None },
            Backend::Postgres => Self::postgres().await,
        }
    }

    /// A fresh PostgreSQL database, whatever the running test's backend.
    pub async fn postgres() -> Self {
        let admin_url = postgres_admin_url().expect("TEST_DATABASE_URL is set");
        let scratch = ScratchDatabase::create(&admin_url).await.expect("creating a scratch PostgreSQL database");
        Self { url: scratch.url.clone(), _scratch: Some(scratch) }
    }
}

pub const APP_SECRET: &str = "test-app-secret-3f9a";
pub const VERIFY_TOKEN: &str = "test-verify-token";
pub const ACCESS_TOKEN: &str = "EAAtest-access-token";
pub const ADMIN_TOKEN: &str = "test-admin-token";
pub const PHONE_NUMBER_ID: &str = "106540352242922";

/// Where `cargo xtask` installed the built components.
pub fn plugin_dir() -> PathBuf {
    let dir = std::env::var_os("SWITCHBOARD_PLUGIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/plugins"));
    assert!(
        dir.join("whatsapp.wasm").exists(),
        "plugins are not built in {}: run the tests with `cargo xtask test`",
        dir.display()
    );
    dir
}

/// Compiled components shared by all tests (entries are written atomically).
pub fn cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/test-plugin-cache")
}

pub fn fixture(path: &str) -> Vec<u8> {
    let full = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures").join(path);
    std::fs::read(&full).unwrap_or_else(|e| panic!("reading fixture {}: {e}", full.display()))
}

pub fn sign(body: &[u8]) -> String {
    sign_with(APP_SECRET, body)
}

pub fn sign_with(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Extra lines for the sections of a test config (each inserted at the end of its section's
/// fixed settings, so a key given here must not be one of those).
#[derive(Debug, Clone, Copy, Default)]
pub struct Settings<'a> {
    pub server: &'a str,
    pub database: &'a str,
    pub plugins: &'a str,
    /// `plugins.dir`, when not the built plugins' own folder.
    pub plugins_dir: &'a str,
    /// Whole sections (e.g. `[metrics]`), placed before the channels.
    pub sections: &'a str,
}

/// The config text for a test gateway. `extra_channels` is appended as-is.
pub fn config_text(database_url: &str, graph: Option<SocketAddr>, extra_channels: &str) -> String {
    config_text_with(database_url, graph, extra_channels, &Settings::default())
}

/// [`config_text`] with extra settings.
pub fn config_text_with(database_url: &str, graph: Option<SocketAddr>, extra_channels: &str, settings: &Settings) -> String {
    let graph_host = graph.map(|a| a.to_string()).unwrap_or_else(|| "127.0.0.1:9".into());
    format!(
        r#"
[server]
listen = "127.0.0.1:0"
public_url = "https://switchboard.test"
max_body_bytes = 65536
{server}

[database]
url = "{database_url}"
max_connections = 4
{database}

[plugins]
dir = "{plugins}"
cache_dir = "{cache}"
memory_limit_mb = 32
call_timeout_ms = 500
send_timeout_ms = 3000
http_timeout_ms = 2000
max_concurrent_instances = 32
{plugin_settings}

[outbox]
base_backoff_ms = 50
max_backoff_ms = 200
poll_interval_ms = 50
max_attempts = 4
lease_ms = 5000

{sections}

[[channels]]
id = "whatsapp"
plugin = "whatsapp"
allowed_hosts = ["{graph_host}"]
config = {{ phone_number_id = "{PHONE_NUMBER_ID}", api_base = "http://{graph_host}/v21.0" }}
secrets = {{ app_secret = "{APP_SECRET}", verify_token = "{VERIFY_TOKEN}", access_token = "{ACCESS_TOKEN}" }}
{extra_channels}
"#,
        plugins = if settings.plugins_dir.is_empty() { plugin_dir().display().to_string() } else { settings.plugins_dir.to_string() },
        cache = cache_dir().display(),
        server = settings.server,
        database = settings.database,
        plugin_settings = settings.plugins,
        sections = settings.sections,
    )
}

/// A gateway running in this process.
pub struct TestServer {
    pub base: String,
    pub client: reqwest::Client,
    pub dir: tempfile::TempDir,
    gateway: Option<switchboard::Gateway>,
    pub database: TestDatabase,
}

impl TestServer {
    pub async fn start(graph: Option<SocketAddr>) -> Self {
        Self::start_with(graph, "").await
    }

    pub async fn start_with(graph: Option<SocketAddr>, extra_channels: &str) -> Self {
        Self::start_settings(graph, extra_channels, &Settings::default()).await
    }

    pub async fn start_settings(graph: Option<SocketAddr>, extra_channels: &str, settings: &Settings<'_>) -> Self {
        Self::start_clocked(graph, extra_channels, settings, Arc::new(switchboard::clock::SystemClock)).await
    }

    /// A gateway whose background work reads `clock`.
    pub async fn start_clocked(
        graph: Option<SocketAddr>,
        extra_channels: &str,
        settings: &Settings<'_>,
        clock: Arc<dyn switchboard::clock::Clock>,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let database = TestDatabase::new(dir.path()).await;
        let text = config_text_with(&database.url, graph, extra_channels, settings);
        let mut config = Config::parse(&text).expect("test config parses");
        // Each gateway keeps its media in its own folder, which goes with the test.
        config.media.dir = dir.path().join("media");
        let gateway = switchboard::start_with_clock(config, Some(Secret::new(ADMIN_TOKEN)), clock).await.expect("gateway starts");
        let base = format!("http://{}", gateway.local_addr);
        Self { base, client: reqwest::Client::new(), dir, gateway: Some(gateway), database }
    }

    /// The running gateway (its bound addresses).
    pub fn gateway(&self) -> &switchboard::Gateway {
        self.gateway.as_ref().expect("running")
    }

    pub async fn stop(mut self) {
        if let Some(gateway) = self.gateway.take() {
            gateway.shutdown().await.unwrap();
        }
    }

    pub async fn post_webhook(&self, channel: &str, body: &[u8], signature: Option<&str>) -> reqwest::Response {
        let mut request = self
            .client
            .post(format!("{}/webhooks/{channel}", self.base))
            .header("content-type", "application/json")
            .body(body.to_vec());
        if let Some(signature) = signature {
            request = request.header("x-hub-signature-256", signature);
        }
        request.send().await.unwrap()
    }

    /// Post a correctly signed WhatsApp webhook and insist on 2xx.
    pub async fn post_signed(&self, body: &[u8]) -> Value {
        self.post_meta_signed("whatsapp", APP_SECRET, body).await
    }

    /// Post a webhook signed the way Meta signs them (`X-Hub-Signature-256` with `app_secret`)
    /// to `channel` and insist on 2xx; returns the JSON answer.
    pub async fn post_meta_signed(&self, channel: &str, app_secret: &str, body: &[u8]) -> Value {
        expect_success(self.post_webhook(channel, body, Some(&sign_with(app_secret, body))).await).await
    }

    /// The id of the only conversation (after a test's first webhook).
    pub async fn only_conversation_id(&self) -> i64 {
        let conversations = self.conversations().await;
        assert_eq!(conversations.len(), 1, "{conversations:#?}");
        conversations[0]["id"].as_i64().unwrap()
    }

    /// Queue an agent reply (`body` as the API takes it); insists on 202 and returns the message.
    pub async fn queue_reply(&self, conversation_id: i64, body: &Value) -> Value {
        let (status, message) = self.api_post(&format!("/api/v1/conversations/{conversation_id}/messages"), body).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{message}");
        assert_eq!(message["direction"], "outbound");
        message
    }

    /// Queue a text reply; returns the message id.
    pub async fn queue_text_reply(&self, conversation_id: i64, text: &str) -> i64 {
        self.queue_reply(conversation_id, &json!({"text": text})).await["id"].as_i64().unwrap()
    }

    /// Wait until message `message_id` has `status`; returns it.
    pub async fn wait_for_status(&self, conversation_id: i64, message_id: i64, status: &str) -> Value {
        self.eventually(&format!("message {message_id} to be {status}"), async |s| {
            let m = s.message(conversation_id, message_id).await;
            (m["status"] == status).then_some(m)
        })
        .await
    }

    /// Queue a reply and wait until it reaches `status`; returns (message id, provider's id).
    pub async fn reply_and_wait_for(&self, conversation_id: i64, body: &Value, status: &str) -> (i64, String) {
        let message_id = self.queue_reply(conversation_id, body).await["id"].as_i64().unwrap();
        let message = self.wait_for_status(conversation_id, message_id, status).await;
        (message_id, message["external_id"].as_str().unwrap().to_string())
    }

    pub async fn api_get(&self, path: &str) -> Value {
        let response = self.client.get(format!("{}{path}", self.base)).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        assert_eq!(status, StatusCode::OK, "GET {path}: {text}");
        serde_json::from_str(&text).unwrap()
    }

    /// `method path` with `token` (a session or API token) and an optional JSON body; the
    /// status and the JSON answer (`null` when there is none).
    pub async fn send_as(&self, token: &str, method: reqwest::Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.base)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn api_post(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(ADMIN_TOKEN)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// `PATCH path` as the admin; the status and the JSON answer.
    pub async fn api_patch(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.send_as(ADMIN_TOKEN, reqwest::Method::PATCH, path, Some(body.clone())).await
    }

    /// Poll `check` against the API until it returns `Some`, for up to 10 s.
    pub async fn eventually<T>(&self, what: &str, mut check: impl AsyncFnMut(&Self) -> Option<T>) -> T {
        for _ in 0..200 {
            if let Some(value) = check(self).await {
                return value;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("timed out waiting for {what}");
    }

    pub async fn conversations(&self) -> Vec<Value> {
        self.api_get("/api/v1/conversations").await["items"].as_array().cloned().unwrap_or_default()
    }

    pub async fn messages(&self, conversation_id: i64) -> Vec<Value> {
        self.api_get(&format!("/api/v1/conversations/{conversation_id}/messages")).await["items"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    pub async fn message(&self, conversation_id: i64, message_id: i64) -> Value {
        self.messages(conversation_id).await.into_iter().find(|m| m["id"] == message_id).expect("message exists")
    }
}

/// Insist on a 2xx answer; returns its JSON body.
pub async fn expect_success(response: reqwest::Response) -> Value {
    let status = response.status();
    let text = response.text().await.unwrap();
    assert!(status.is_success(), "webhook answered {status}: {text}");
    serde_json::from_str(&text).unwrap()
}

/// Check that `response` is a JSON error with `status` and a message; returns its `error.code`.
pub async fn error_code(response: reqwest::Response, status: StatusCode) -> String {
    assert_eq!(response.status(), status);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
    let body: Value = response.json().await.unwrap();
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    body["error"]["code"].as_str().unwrap().to_string()
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

/// Replace `{{WAMID}}` in a status fixture.
pub fn status_fixture(name: &str, wamid: &str) -> Vec<u8> {
    String::from_utf8(fixture(name)).unwrap().replace("{{WAMID}}", wamid).into_bytes()
}

// ---------------------------------------------------------------------------------------
// What every loopback fake provider shares
// ---------------------------------------------------------------------------------------

/// Every request a fake provider received, in order; shared by its handler and the test.
pub struct Requests<T>(Arc<Mutex<Vec<T>>>);

impl<T> Clone for Requests<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T> Default for Requests<T> {
    fn default() -> Self {
        Self(Arc::default())
    }
}

impl<T: Clone> Requests<T> {
    /// Record one; returns how many there are now (fakes number the ids they hand out with it).
    pub fn record(&self, request: T) -> usize {
        let mut all = self.0.lock().unwrap();
        all.push(request);
        all.len()
    }

    pub fn all(&self) -> Vec<T> {
        self.0.lock().unwrap().clone()
    }

    /// Wait (up to 10 s) until at least `count` requests arrived.
    pub async fn wait_for(&self, count: usize, provider: &str) -> Vec<T> {
        for _ in 0..200 {
            let all = self.all();
            if all.len() >= count {
                return all;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{provider} got {} requests, expected {count}", self.all().len());
    }
}

/// Answers a fake gives, in order, before it behaves normally again.
pub struct Script<T>(Arc<Mutex<VecDeque<T>>>);

impl<T> Clone for Script<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T> Default for Script<T> {
    fn default() -> Self {
        Self(Arc::default())
    }
}

impl<T> Script<T> {
    pub fn push(&self, answer: T) {
        self.0.lock().unwrap().push_back(answer);
    }

    pub fn next(&self) -> Option<T> {
        self.0.lock().unwrap().pop_front()
    }
}

/// Serve a fake provider's routes on a loopback port.
pub async fn serve_fake(app: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// `response` with a `Retry-After` header of `seconds`, when given.
pub fn with_retry_after(mut response: axum::response::Response, seconds: Option<u64>) -> axum::response::Response {
    if let Some(seconds) = seconds {
        response.headers_mut().insert("retry-after", seconds.into());
    }
    response
}

// ---------------------------------------------------------------------------------------
// Fake Graph API
// ---------------------------------------------------------------------------------------

/// A request the fake Graph API received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub path: String,
    pub authorization: Option<String>,
    pub body: Value,
    /// When the request arrived.
    pub at: std::time::Instant,
}

#[derive(Clone, Default)]
struct GraphState {
    received: Requests<Recorded>,
    /// Scripted `(status, body, retry-after seconds)`, used in order before falling back to success.
    script: Script<(u16, Value, Option<u64>)>,
    /// How long each send takes to answer, ms (a slow provider).
    latency_ms: Arc<std::sync::atomic::AtomicU64>,
    /// Sends received and not answered yet.
    in_flight: Arc<std::sync::atomic::AtomicI64>,
}

/// Counts a send as in flight until its handler ends (answered, or dropped with its connection).
struct InFlight(Arc<std::sync::atomic::AtomicI64>);

impl InFlight {
    fn start(counter: &Arc<std::sync::atomic::AtomicI64>) -> Self {
        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Self(counter.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A loopback stand-in for the WhatsApp Cloud API's `/{phone-number-id}/messages`, behaving
/// as documented: bearer auth (401 with OAuth error 190 otherwise), `wamid` ids on success,
/// and scripted errors (429 with Retry-After, 5xx, Graph error codes). `GET
/// /{phone-number-id}` reads the number (the connection check), under the same auth; an
/// unknown id answers Graph's error 100.
pub struct FakeGraph {
    pub addr: SocketAddr,
    state: GraphState,
}

impl FakeGraph {
    pub async fn start() -> Self {
        let state = GraphState::default();
        let app = axum::Router::new()
            .route("/v21.0/{phone_number_id}/messages", axum::routing::post(graph_messages))
            .route("/v21.0/{phone_number_id}", axum::routing::get(graph_phone_number))
            .with_state(state.clone());
        Self { addr: serve_fake(app).await, state }
    }

    /// Answer the next request with this status and Graph error body.
    pub fn fail_next(&self, status: u16, code: i64, message: &str, retry_after_secs: Option<u64>) {
        let body = json!({"error": {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AbCdEf"}});
        self.state.script.push((status, body, retry_after_secs));
    }

    pub fn received(&self) -> Vec<Recorded> {
        self.state.received.all()
    }

    pub async fn wait_for(&self, count: usize) -> Vec<Recorded> {
        self.state.received.wait_for(count, "the fake Graph API").await
    }

    /// Answer every send after `ms` (a slow provider).
    pub fn set_latency_ms(&self, ms: u64) {
        self.state.latency_ms.store(ms, std::sync::atomic::Ordering::SeqCst);
    }

    /// Sends received and not answered yet.
    pub fn in_flight(&self) -> i64 {
        self.state.in_flight.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Graph's answer to a bad or missing token.
fn graph_invalid_token() -> axum::response::Response {
    let body = json!({"error": {"message": "Invalid OAuth access token.", "type": "OAuthException", "code": 190, "fbtrace_id": "x"}});
    (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response()
}

async fn graph_phone_number(
    State(state): State<GraphState>,
    AxumPath(phone_number_id): AxumPath<String>,
    headers: HeaderMap,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> axum::response::Response {
    let authorization = headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_string);
    state.received.record(Recorded {
        path: format!("/v21.0/{phone_number_id}"),
        authorization: authorization.clone(),
        body: json!(query),
        at: std::time::Instant::now(),
    });
    if authorization.as_deref() != Some(&format!("Bearer {ACCESS_TOKEN}")) {
        return graph_invalid_token();
    }
    if phone_number_id != PHONE_NUMBER_ID {
        let message = format!("Unsupported get request. Object with ID '{phone_number_id}' does not exist");
        let body = json!({"error": {"message": message, "type": "GraphMethodException", "code": 100, "error_subcode": 33, "fbtrace_id": "x"}});
        return (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
    }
    axum::Json(json!({
        "verified_name": "Switchboard Test Shop",
        "display_phone_number": "+1 555-010-0000",
        "quality_rating": "GREEN",
        "id": PHONE_NUMBER_ID,
    }))
    .into_response()
}

async fn graph_messages(
    State(state): State<GraphState>,
    AxumPath(phone_number_id): AxumPath<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> axum::response::Response {
    let authorization = headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_string);
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let n = state.received.record(Recorded {
        path: format!("/v21.0/{phone_number_id}/messages"),
        authorization: authorization.clone(),
        body: parsed.clone(),
        at: std::time::Instant::now(),
    });
    let _in_flight = InFlight::start(&state.in_flight);
    let latency = state.latency_ms.load(std::sync::atomic::Ordering::SeqCst);
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    if authorization.as_deref() != Some(&format!("Bearer {ACCESS_TOKEN}")) {
        return graph_invalid_token();
    }
    if let Some((status, body, retry_after)) = state.script.next() {
        return with_retry_after((StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response(), retry_after);
    }
    if parsed["messaging_product"] != "whatsapp" || parsed["to"].as_str().is_none() {
        let body = json!({"error": {"message": "(#100) Invalid parameter", "type": "OAuthException", "code": 100, "fbtrace_id": "x"}});
        return (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
    }
    let to = parsed["to"].as_str().unwrap_or_default().to_string();
    axum::Json(json!({
        "messaging_product": "whatsapp",
        "contacts": [{"input": to, "wa_id": to}],
        "messages": [{"id": format!("wamid.HBgLMTY1MDU1NTEyMzQVAgARGBI{n:08}")}]
    }))
    .into_response()
}

// ---------------------------------------------------------------------------------------
// Server-Sent Events client
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct SseEvent {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: Value,
}

/// A minimal SSE reader over a streaming reqwest response.
pub struct SseClient {
    response: reqwest::Response,
    buffer: String,
}

impl SseClient {
    pub async fn connect(base: &str, last_event_id: Option<&str>) -> Self {
        Self::connect_as(base, ADMIN_TOKEN, last_event_id).await
    }

    /// The live stream of whoever holds `token`.
    pub async fn connect_as(base: &str, token: &str, last_event_id: Option<&str>) -> Self {
        let mut request = reqwest::Client::new().get(format!("{base}/api/v1/events")).bearer_auth(token);
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(
            response.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"),
            "not an event stream"
        );
        Self { response, buffer: String::new() }
    }

    /// The next event (comments and keep-alives skipped), or panic after `timeout`.
    pub async fn next(&mut self, timeout: Duration) -> SseEvent {
        tokio::time::timeout(timeout, self.next_event()).await.expect("timed out waiting for an SSE event")
    }

    /// Whether an event arrives within `wait`.
    pub async fn try_next(&mut self, wait: Duration) -> Option<SseEvent> {
        tokio::time::timeout(wait, self.next_event()).await.ok()
    }

    async fn next_event(&mut self) -> SseEvent {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut id, mut event, mut data) = (None, None, String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = Some(v.trim().to_string());
                    } else if let Some(v) = line.strip_prefix("event:") {
                        event = Some(v.trim().to_string());
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.strip_prefix(' ').unwrap_or(v));
                    }
                }
                if data.is_empty() {
                    continue;
                }
                return SseEvent { id, event, data: serde_json::from_str(&data).unwrap() };
            }
            let chunk = self.response.chunk().await.unwrap().expect("event stream ended");
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

// ---------------------------------------------------------------------------------------
// The real binary, as a child process
// ---------------------------------------------------------------------------------------

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Write a config for `port` on `database_url` into `dir` and return its path.
pub fn write_config(dir: &std::path::Path, port: u16, graph: Option<SocketAddr>, database_url: &str) -> PathBuf {
    let path = dir.join("config.toml");
    let text = config_text(database_url, graph, "").replace("127.0.0.1:0", &format!("127.0.0.1:{port}"));
    std::fs::write(&path, text).unwrap();
    path
}

/// What a child server logged (to stdout), line by line, as it runs.
#[derive(Clone, Default)]
pub struct LogLines(Arc<Mutex<Vec<String>>>);

impl LogLines {
    pub fn all(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    /// Lines logged at ERROR (the text format puts the level after the timestamp).
    pub fn errors(&self) -> Vec<String> {
        self.all().into_iter().filter(|line| line.contains(" ERROR ")).collect()
    }
}

/// Start `switchboard serve` logging at `log_filter`, keep its log, and wait until it
/// answers `/healthz`.
pub async fn spawn_server_logged(config: &std::path::Path, port: u16, log_filter: &str) -> (Child, LogLines) {
    use tokio::io::AsyncBufReadExt;
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["serve", "--config"])
        .arg(config)
        .env("SWITCHBOARD_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("SWITCHBOARD_LOG", log_filter)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("starting the switchboard binary");
    let lines = LogLines::default();
    let mut stderr = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let sink = lines.clone();
    tokio::spawn(async move {
        while let Ok(Some(line)) = stderr.next_line().await {
            sink.0.lock().unwrap().push(line);
        }
    });
    let client = reqwest::Client::new();
    for _ in 0..300 {
        if client.get(format!("http://127.0.0.1:{port}/healthz")).send().await.is_ok() {
            return (child, lines);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the server did not come up on port {port}: {:?}", lines.all());
}

/// Start `switchboard serve` and wait until it answers `/healthz`.
pub async fn spawn_server(config: &std::path::Path, port: u16) -> Child {
    let child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["serve", "--config"])
        .arg(config)
        .env("SWITCHBOARD_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("SWITCHBOARD_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
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

// ---------------------------------------------------------------------------------------
// A TCP proxy in front of PostgreSQL, to cut the database off and bring it back
// ---------------------------------------------------------------------------------------

/// Forwards connections to `upstream` until paused. Pausing closes every open connection
/// and refuses new ones, as a database crash or network cut would look to the gateway.
pub struct OutageProxy {
    pub addr: SocketAddr,
    paused: Arc<std::sync::atomic::AtomicBool>,
    connections: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl OutageProxy {
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let paused = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let connections: Arc<Mutex<Vec<tokio::task::AbortHandle>>> = Arc::default();
        let (flag, open) = (paused.clone(), connections.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                // Checked under the lock `pause` takes, so no connection slips past a pause.
                let mut open = open.lock().unwrap();
                if flag.load(std::sync::atomic::Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let task = tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                open.push(task.abort_handle());
            }
        });
        Self { addr, paused, connections }
    }

    /// `url` (a PostgreSQL URL) with its host and port replaced by this proxy's.
    pub fn route(&self, url: &str) -> String {
        let (scheme, rest) = url.split_once("://").unwrap();
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let user = authority.rsplit_once('@').map(|(user, _)| format!("{user}@")).unwrap_or_default();
        format!("{scheme}://{user}{}/{path}", self.addr)
    }

    pub fn pause(&self) {
        let mut open = self.connections.lock().unwrap();
        self.paused.store(true, std::sync::atomic::Ordering::SeqCst);
        for connection in open.drain(..) {
            connection.abort();
        }
    }

    pub fn resume(&self) {
        self.paused.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

/// The `host:port` a PostgreSQL URL points at.
pub fn postgres_addr(url: &str) -> SocketAddr {
    let rest = url.split_once("://").unwrap().1;
    let authority = rest.split('/').next().unwrap();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let host_port = if host_port.contains(':') { host_port.to_string() } else { format!("{host_port}:5432") };
    host_port.replace("localhost", "127.0.0.1").parse().expect("TEST_DATABASE_URL names host:port numerically")
}

/// A gateway process of its own (`switchboard serve`), for tests with several nodes.
pub struct Node {
    pub base: String,
    pub port: u16,
    pub child: Child,
    _dir: tempfile::TempDir,
}

impl Node {
    pub async fn start(database_url: &str, graph: Option<SocketAddr>, database_settings: &str) -> Self {
        Self::start_with(database_url, graph, database_settings, "").await
    }

    /// [`Node::start`] with `tail` appended to the config (after the WhatsApp channel, so a
    /// `[channels.delivery]` there is WhatsApp's).
    pub async fn start_with(database_url: &str, graph: Option<SocketAddr>, database_settings: &str, tail: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let path = write_config(dir.path(), port, graph, database_url);
        let text = std::fs::read_to_string(&path).unwrap().replace("max_connections = 4\n", &format!("max_connections = 4\n{database_settings}\n")) + tail;
        std::fs::write(&path, text).unwrap();
        let child = spawn_server(&path, port).await;
        Self { base: format!("http://127.0.0.1:{port}"), port, child, _dir: dir }
    }

    pub async fn metric(&self, series: &str) -> f64 {
        metric_value(&reqwest::get(format!("{}/metrics", self.base)).await.unwrap().text().await.unwrap(), series)
    }
}

/// The value of the series `name{labels}` (labels in the order the code emits them), or 0.
pub fn metric_value(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}
