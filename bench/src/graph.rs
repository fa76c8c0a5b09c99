//! A local fake of the WhatsApp Cloud API's `POST /v21.0/{phone_number_id}/messages`, with
//! injected latency and errors: HTTP 429 with Graph code 130429 and `Retry-After: 0`, and
//! HTTP 503. Which request fails is decided by a hash of its arrival number, so the error rates
//! are exact and reproducible.

use crate::webhook::{mix, ACCESS_TOKEN};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, Serialize)]
pub struct Faults {
    pub latency_ms: u64,
    pub rate_limited_pct: f64,
    pub unavailable_pct: f64,
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    ok: AtomicU64,
    rate_limited: AtomicU64,
    unavailable: AtomicU64,
    rejected: AtomicU64,
    /// Accepted sends of a text already accepted once: the customer would see it twice.
    duplicates: AtomicU64,
    accepted_texts: Mutex<std::collections::HashSet<String>>,
    first_request: Mutex<Option<Instant>>,
    last_ok: Mutex<Option<Instant>>,
}

#[derive(Clone)]
struct GraphState {
    faults: Faults,
    counters: Arc<Counters>,
    /// Requests wait here until the gate opens (a provider outage that ends on cue).
    gate: tokio::sync::watch::Receiver<bool>,
}

pub struct FakeGraph {
    pub addr: SocketAddr,
    counters: Arc<Counters>,
    gate: tokio::sync::watch::Sender<bool>,
    server: tokio::task::JoinHandle<()>,
}

/// What the fake provider saw.
#[derive(Clone, Debug, Serialize)]
pub struct GraphStats {
    pub requests: u64,
    pub ok: u64,
    pub rate_limited_429: u64,
    pub unavailable_503: u64,
    /// Bad auth or malformed bodies (should be 0).
    pub rejected: u64,
    /// Accepted sends whose text had been accepted before (each reply's text is unique, so
    /// this counts replies the customer would have seen twice; should be 0).
    pub duplicates: u64,
    /// Successful sends per second between the first answered request and the last success.
    pub ok_per_s: f64,
}

impl FakeGraph {
    /// Start with the gate closed: requests are held (not answered) until [`Self::open`].
    pub async fn start(faults: Faults) -> anyhow::Result<Self> {
        let counters = Arc::new(Counters::default());
        let (gate, gate_rx) = tokio::sync::watch::channel(false);
        let state = GraphState { faults, counters: counters.clone(), gate: gate_rx };
        let app = axum::Router::new()
            .route("/v21.0/{phone_number_id}/messages", axum::routing::post(messages))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { addr, counters, gate, server })
    }

    /// Let held and future requests through.
    pub fn open(&self) {
        let _ = self.gate.send(true);
    }

    pub fn stats(&self) -> GraphStats {
        let c = &self.counters;
        let ok = c.ok.load(Ordering::Relaxed);
        let window = match (*c.first_request.lock().unwrap(), *c.last_ok.lock().unwrap()) {
            (Some(first), Some(last)) => last.saturating_duration_since(first).as_secs_f64(),
            _ => 0.0,
        };
        GraphStats {
            requests: c.requests.load(Ordering::Relaxed),
            ok,
            rate_limited_429: c.rate_limited.load(Ordering::Relaxed),
            unavailable_503: c.unavailable.load(Ordering::Relaxed),
            rejected: c.rejected.load(Ordering::Relaxed),
            duplicates: c.duplicates.load(Ordering::Relaxed),
            ok_per_s: if window > 0.0 { ok as f64 / window } else { 0.0 },
        }
    }

    pub fn stop(self) {
        self.server.abort();
    }
}

fn json(status: StatusCode, body: serde_json::Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert("content-type", "application/json".parse().unwrap());
    response
}

async fn messages(State(state): State<GraphState>, Path(_phone_number_id): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let c = &state.counters;
    let mut gate = state.gate.clone();
    let _ = gate.wait_for(|open| *open).await;
    let n = c.requests.fetch_add(1, Ordering::Relaxed);
    c.first_request.lock().unwrap().get_or_insert_with(Instant::now);
    if state.faults.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(state.faults.latency_ms)).await;
    }
    let authorized = headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {ACCESS_TOKEN}"));
    let parsed: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    if !authorized || parsed["messaging_product"] != "whatsapp" || parsed["to"].as_str().is_none() {
        c.rejected.fetch_add(1, Ordering::Relaxed);
        return json(
            StatusCode::BAD_REQUEST,
            serde_json::json!({"error": {"message": "(#100) Invalid parameter", "type": "OAuthException", "code": 100, "fbtrace_id": "bench"}}),
        );
    }
    let roll = (mix(n ^ 0x5EED) % 10_000) as f64 / 100.0;
    if roll < state.faults.rate_limited_pct {
        c.rate_limited.fetch_add(1, Ordering::Relaxed);
        let mut response = json(
            StatusCode::TOO_MANY_REQUESTS,
            serde_json::json!({"error": {
                "message": "(#130429) Rate limit hit", "type": "OAuthException", "code": 130429,
                "error_data": {"messaging_product": "whatsapp", "details": "Cloud API message throughput has been reached."},
                "fbtrace_id": "bench"}}),
        );
        response.headers_mut().insert("retry-after", "0".parse().unwrap());
        return response;
    }
    if roll < state.faults.rate_limited_pct + state.faults.unavailable_pct {
        c.unavailable.fetch_add(1, Ordering::Relaxed);
        return json(
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({"error": {"message": "Service temporarily unavailable", "type": "OAuthException", "code": 2, "fbtrace_id": "bench"}}),
        );
    }
    c.ok.fetch_add(1, Ordering::Relaxed);
    let text = parsed["text"]["body"].as_str().unwrap_or_default().to_string();
    if !c.accepted_texts.lock().unwrap().insert(text) {
        c.duplicates.fetch_add(1, Ordering::Relaxed);
    }
    *c.last_ok.lock().unwrap() = Some(Instant::now());
    let to = parsed["to"].as_str().unwrap_or_default().to_string();
    json(
        StatusCode::OK,
        serde_json::json!({
            "messaging_product": "whatsapp",
            "contacts": [{"input": to, "wa_id": to}],
            "messages": [{"id": format!("wamid.{n}")}]
        }),
    )
}
