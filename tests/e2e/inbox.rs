//! The agent inbox in real headless Chromium (`tests/browser/inbox.py`, Python Playwright):
//! log in, a signed webhook appearing live with its badge and channel, reply, a delivery tick
//! advancing, a private note the provider never receives, filters, search by a phone fragment,
//! drafts kept per conversation across switching and reloads, two agents seeing each other
//! view and type, the collision warning, resolving with `e`, axe-core on the login page, the
//! inbox and a thread, and the admin pages (channels with their webhook URL, agents, teams,
//! canned responses) that an agent can neither see nor reach through the API.
//!
//! `cargo xtask test` installs Playwright (pinned in `tests/requirements.txt`) into
//! `target/py`; `.ci/run` installs Debian's Chromium. A plain `cargo test` skips this test
//! with a note, as it skips PostgreSQL without `TEST_DATABASE_URL`.

use crate::agents::PASSWORD;
use crate::support::*;
use crate::twilio_sms::{channel_toml, inbound_form_from, post_signed as post_sms};
use reqwest::StatusCode;
use serde_json::json;
use std::path::PathBuf;
use std::time::Duration;

const NOTE: &str = "VIP customer: refund approved by finance, do not mention to them yet";

/// The Python with Playwright, and Chromium; `None` outside `cargo xtask test`.
pub fn browser() -> Option<(PathBuf, PathBuf)> {
    let venv = std::env::var_os("SWITCHBOARD_TEST_VENV")?;
    let python = PathBuf::from(venv).join("bin").join("python");
    assert!(python.exists(), "SWITCHBOARD_TEST_VENV has no python: {}", python.display());
    let chromium = PathBuf::from(std::env::var_os("SWITCHBOARD_CHROMIUM").unwrap_or_else(|| "/usr/bin/chromium".into()));
    assert!(chromium.exists(), "no Chromium at {} (install Debian's `chromium`, or set SWITCHBOARD_CHROMIUM)", chromium.display());
    Some((python, chromium))
}

pub async fn agent(server: &TestServer, email: &str, name: &str, role: &str) {
    let body = json!({"email": email, "display_name": name, "role": role, "password": PASSWORD});
    let (status, created) = server.api_post("/api/v1/agents", &body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
}

#[tokio::test]
async fn an_agent_works_the_inbox_in_chromium() {
    let Some((python, chromium)) = browser() else {
        eprintln!("skipped: run through `cargo xtask test` (SWITCHBOARD_TEST_VENV names the Playwright install)");
        return;
    };
    let graph = FakeGraph::start().await;
    let twilio = crate::twilio_sms::FakeTwilio::start().await;
    // Beside SMS, a second WhatsApp number whose token is wrong and whose app secret is
    // read from an unset environment variable, for the channel page's failure cases.
    let wrong = format!(
        "\n[[channels]]\nid = \"wa-wrong\"\nplugin = \"whatsapp\"\nallowed_hosts = [\"{graph}\"]\nconfig = {{ phone_number_id = \"{PHONE_NUMBER_ID}\", api_base = \"http://{graph}/v21.0\" }}\nsecrets = {{ access_token = \"EAA-not-the-right-token\", app_secret = {{ env = \"SWITCHBOARD_TEST_NEVER_SET\" }} }}\n",
        graph = graph.addr
    );
    // Routing runs too: urgency treats an order number ("pedido") as high priority, and the
    // thread shows the decision with its reason.
    let routing = "[routing]\npoll_interval_ms = 50\n\n[[routing.policies]]\nname = \"urgency\"\nplugin = \"urgency\"\n[routing.policies.config]\nkeywords = { pt = { high = [\"pedido\"] } }\n";
    let settings = Settings { sections: routing, ..Settings::default() };
    let server = TestServer::start_settings(Some(graph.addr), &format!("{}{wrong}", channel_toml(Some(twilio.addr))), &settings).await;
    agent(&server, "ana@example.com", "Ana", "agent").await;
    agent(&server, "bo@example.com", "Bo", "agent").await;
    agent(&server, "cy@example.com", "Cy", "admin").await;
    let (status, _) = server.api_post("/api/v1/canned-responses", &json!({"shortcut": "thanks", "body": "Thanks {{contact.first_name}}, {{agent.name}} here."})).await;
    assert_eq!(status, StatusCode::CREATED);
    let template = json!({"channel_id": "whatsapp", "name": "order_update", "language": "en_US", "category": "utility", "body": "Hi {{1}}, order {{2}} has shipped."});
    let (status, body) = server.api_post("/api/v1/templates", &template).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // A customer on SMS, there before the agent signs in.
    post_sms(&server, &inbound_form_from("SMui00000000000000000000000000001", "+447700900555", "same person, other phone")).await;

    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    // Screenshots go to docs/screenshots when asked for (`SWITCHBOARD_SCREENSHOTS=1`), else
    // to a scratch directory, so every run still takes them (and fails if one cannot be).
    let scratch = tempfile::tempdir().unwrap();
    let shots = if std::env::var_os("SWITCHBOARD_SCREENSHOTS").is_some() { root.join("docs/screenshots") } else { scratch.path().to_path_buf() };
    std::fs::create_dir_all(&shots).unwrap();
    let mut command = tokio::process::Command::new(&python);
    command
        .arg(root.join("tests/browser/inbox.py"))
        .env("SB_BASE", &server.base)
        .env("SB_APP_SECRET", APP_SECRET)
        .env("SB_FIXTURES", root.join("tests/fixtures"))
        .env("SB_PASSWORD", PASSWORD)
        .env("SB_AGENT_A", "ana@example.com")
        .env("SB_AGENT_B", "bo@example.com")
        .env("SB_NAME_A", "Ana")
        .env("SB_NAME_B", "Bo")
        .env("SB_ADMIN", "cy@example.com")
        .env("SB_PUBLIC_URL", "https://switchboard.test")
        .env("SB_CHROMIUM", &chromium)
        .env("SB_SCREENSHOTS", &shots)
        .env("SB_NOTE", NOTE)
        .env("SB_ACCESS_TOKEN", ACCESS_TOKEN)
        .env("SB_PHONE_NUMBER_ID", PHONE_NUMBER_ID)
        .env("SB_WHATSAPP_SHA256", crate::plugin_builds::file_sha256("whatsapp").0)
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(300), command.output()).await.expect("the browser test finished in time").unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the browser test failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("all browser checks passed"), "{stdout}");
    // Every screenshot the README shows is one this run took (so none is stale or missing).
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let shown: Vec<&str> = readme.split("docs/screenshots/").skip(1).filter_map(|rest| rest.split_once(".png").map(|(name, _)| name)).collect();
    assert!(shown.len() >= 8, "the README shows the screenshots: {shown:?}");
    // (The web chat widget's are the web chat browser test's: `webchat.rs` checks those.)
    for name in shown.into_iter().filter(|name| !name.starts_with("webchat-")) {
        assert!(shots.join(format!("{name}.png")).exists(), "screenshot {name} in the README was taken");
    }

    // What the provider received: both agents' replies, never the note, never the draft that
    // was cancelled after the collision warning.
    let sent: Vec<String> = graph.received().iter().map(|r| r.body.to_string()).collect();
    assert!(sent.iter().any(|body| body.contains("Vou verificar o pedido")), "Ana's reply went out: {sent:?}");
    assert!(sent.iter().any(|body| body.contains("Bo here")), "Bo's reply went out: {sent:?}");
    assert!(!sent.iter().any(|body| body.contains("VIP customer")), "the note never reaches the provider: {sent:?}");
    let template = graph.received().into_iter().find(|r| r.body["type"] == "template").expect("the template went out");
    assert_eq!(template.body["template"]["name"], "order_update");
    assert_eq!(template.body["template"]["language"]["code"], "en_US");
    assert_eq!(template.body["template"]["components"][0]["parameters"][1]["text"], "#12345", "{}", template.body);
    assert!(!sent.iter().any(|body| body.contains("on it")), "the warned reply was not sent: {sent:?}");
    assert_eq!(twilio.received().len(), 0, "nothing was sent by SMS");
    server.stop().await;
}
