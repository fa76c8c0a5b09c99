//! Agents on the live stream: each holds `GET /api/v1/events` open and notes when every
//! `message.created` event for a harness-generated message arrives.

use crate::webhook::{find_seq, ADMIN_TOKEN};
use anyhow::{bail, Result};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::watch;

/// What one agent saw.
#[derive(Default)]
pub struct AgentLog {
    /// (message sequence number, arrival time) per `message.created` event.
    pub arrivals: Vec<(u64, Instant)>,
    /// Other events (or created events without a harness message id).
    pub other_events: u64,
    pub error: Option<String>,
}

pub struct Agent {
    pub received: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<AgentLog>,
}

impl Agent {
    /// Connect and return once the server has answered (the subscription exists then).
    pub async fn connect(client: &reqwest::Client, base: &str, stop: watch::Receiver<bool>) -> Result<Self> {
        let response = client.get(format!("{base}/api/v1/events")).bearer_auth(ADMIN_TOKEN).send().await?;
        if !response.status().is_success() {
            bail!("GET /api/v1/events answered {}", response.status());
        }
        let received = Arc::new(AtomicU64::new(0));
        let task = tokio::spawn(read(response, stop, received.clone()));
        Ok(Self { received, task })
    }

    pub async fn finish(self) -> AgentLog {
        self.task.await.unwrap_or_else(|error| AgentLog { error: Some(error.to_string()), ..AgentLog::default() })
    }
}

async fn read(mut response: reqwest::Response, mut stop: watch::Receiver<bool>, received: Arc<AtomicU64>) -> AgentLog {
    let mut log = AgentLog::default();
    let mut buffer = String::new();
    loop {
        let chunk = tokio::select! {
            chunk = response.chunk() => chunk,
            _ = stop.wait_for(|stopping| *stopping) => break,
        };
        let arrived = Instant::now();
        match chunk {
            Ok(Some(bytes)) => buffer.push_str(&String::from_utf8_lossy(&bytes)),
            Ok(None) => {
                log.error = Some("stream ended".into());
                break;
            }
            Err(error) => {
                log.error = Some(error.to_string());
                break;
            }
        }
        let mut consumed = 0;
        while let Some(end) = buffer[consumed..].find("\n\n") {
            let block = &buffer[consumed..consumed + end];
            consumed += end + 2;
            let mut kind = "";
            let mut seq = None;
            for line in block.lines() {
                if let Some(value) = line.strip_prefix("event:") {
                    kind = value.trim();
                } else if line.starts_with("data:") {
                    seq = find_seq(line);
                }
            }
            match (kind, seq) {
                ("message.created", Some(seq)) => {
                    log.arrivals.push((seq, arrived));
                    received.fetch_add(1, Ordering::Relaxed);
                }
                ("", None) => {} // keep-alive comment
                _ => log.other_events += 1,
            }
        }
        buffer.drain(..consumed);
    }
    log
}
