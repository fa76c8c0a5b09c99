//! The `inbox` scenario: the agent inbox's first paint, time to a usable list, and scrolling,
//! measured in headless Chromium against a gateway holding 10,000 conversations.
//!
//! The browser side is `bench/browser/inbox_paint.py` (Python Playwright driving Debian's
//! Chromium, as the tests do); the harness fills the gateway, creates the agent, runs it and
//! keeps its figures. Python comes from `--python`, else `SWITCHBOARD_TEST_VENV`, else the
//! test suite's `target/py`; Chromium from `SWITCHBOARD_CHROMIUM`, else `/usr/bin/chromium`.

use crate::load::{closed_loop, PhaseReport, Senders, Stop};
use crate::scenarios::Ctx;
use crate::server::{Options, Server};
use crate::webhook::ADMIN_TOKEN;
use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::path::PathBuf;
use std::time::Duration;

const CONVERSATIONS: u64 = 10_000;
const PASSWORD: &str = "bench-agent-password";

#[derive(Clone, Debug, Serialize)]
pub struct InboxResult {
    pub conversations: u64,
    pub ingest: PhaseReport,
    /// What the browser measured: first paint and first list row (p50 and max over page
    /// loads), and frame intervals while scrolling through the list.
    pub browser: serde_json::Value,
}

/// The Python that has Playwright.
pub fn python(explicit: Option<&PathBuf>) -> Result<PathBuf> {
    let candidates = explicit.cloned().into_iter().chain(
        [std::env::var_os("SWITCHBOARD_TEST_VENV").map(PathBuf::from), Some(PathBuf::from("target/py"))]
            .into_iter()
            .flatten()
            .map(|venv| venv.join("bin").join("python")),
    );
    for candidate in candidates {
        if candidate.exists() {
            return Ok(candidate);
        }
    }
    bail!("no Python with Playwright: pass --python, or run `cargo xtask test` once to create target/py")
}

pub async fn inbox(ctx: &Ctx, python: &std::path::Path) -> Result<InboxResult> {
    let chromium = PathBuf::from(std::env::var_os("SWITCHBOARD_CHROMIUM").unwrap_or_else(|| "/usr/bin/chromium".into()));
    if !chromium.exists() {
        bail!("no Chromium at {} (install Debian's `chromium`, or set SWITCHBOARD_CHROMIUM)", chromium.display());
    }
    let server = Server::switchboard(&ctx.env, "inbox", &Options::default()).await?;
    let generator = ctx.generator(&server, "I", Senders::Unique { offset: 0 })?;
    let (ingest, _) = ctx
        .measure(&format!("ingest to {CONVERSATIONS} convs"), Some(server.pid), closed_loop(&generator, ctx.settings.connections, Stop::Count(CONVERSATIONS)))
        .await;
    let client = reqwest::Client::new();
    let agent = serde_json::json!({"email": "bench@example.com", "display_name": "Bench", "role": "agent", "password": PASSWORD});
    let created = client
        .post(format!("{}/api/v1/agents", server.base))
        .bearer_auth(ADMIN_TOKEN)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(serde_json::to_vec(&agent)?)
        .send()
        .await?;
    if !created.status().is_success() {
        bail!("creating the bench agent answered {}", created.status());
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("browser").join("inbox_paint.py");
    let mut command = tokio::process::Command::new(python);
    command
        .arg(&script)
        .env("SB_BASE", &server.base)
        .env("SB_EMAIL", "bench@example.com")
        .env("SB_PASSWORD", PASSWORD)
        .env("SB_CHROMIUM", &chromium)
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(600), command.output()).await.context("the browser run timed out")??;
    if !output.status.success() {
        bail!("the browser run failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    let browser: serde_json::Value = serde_json::from_slice(&output.stdout).context("the browser run printed no JSON")?;
    eprintln!(
        "bench:   inbox of {CONVERSATIONS}: first paint p50 {} ms, first row p50 {} ms; scrolling frames p50/p99 {}/{} ms, at most {} rows in the page",
        browser["first_paint_ms"]["p50"], browser["first_row_ms"]["p50"], browser["scroll"]["frame_p50_ms"], browser["scroll"]["frame_p99_ms"], browser["scroll"]["max_rows_in_dom"]
    );
    server.stop().await?;
    Ok(InboxResult { conversations: CONVERSATIONS, ingest, browser })
}
