//! Tests at the WIT boundary: the real compiled components, loaded by the host's plugin
//! runtime, called through the `switchboard:channel` contracts (0.1.0 and 0.2.0), without HTTP.

use crate::support::*;
use std::sync::Arc;
use switchboard::config::{ChannelConfig, Config};
use switchboard::model::{DeliveryStatus, Event, OutboundContent, OutboundMessage, Party};
use switchboard::plugins::{ChannelPlugin, PluginError, PluginRuntime, RejectionKind, WebhookOutcome, WebhookRequest};

async fn load(plugin: &str, graph: Option<std::net::SocketAddr>) -> (Arc<PluginRuntime>, ChannelPlugin) {
    let config = Config::parse(&config_text("sqlite://unused.db", graph, "")).unwrap();
    let runtime = PluginRuntime::new(&config.plugins).unwrap();
    let channel = ChannelConfig { plugin: plugin.into(), ..config.channels[0].clone() };
    let loaded = ChannelPlugin::load(&runtime, &channel).await.unwrap();
    (runtime, loaded)
}

fn post(body: &[u8], signature: Option<String>) -> WebhookRequest {
    let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
    if let Some(signature) = signature {
        headers.push(("x-hub-signature-256".into(), signature));
    }
    WebhookRequest {
        method: "POST".into(),
        url: "https://switchboard.test/webhooks/whatsapp".into(),
        query: vec![],
        headers,
        body: body.to_vec(),
    }
}

#[tokio::test]
async fn whatsapp_declares_its_capabilities() {
    let (_, plugin) = load("whatsapp", None).await;
    let info = plugin.info();
    assert_eq!(info.name, "whatsapp");
    for capability in ["text", "media", "templates", "read_receipts"] {
        assert!(info.capabilities.iter().any(|c| c.as_str() == capability), "{capability} missing from {:?}", info.capabilities);
    }
    assert!(!info.capabilities.iter().any(|c| c.as_str() == "typing_indicator"));
}

#[tokio::test]
async fn whatsapp_verifies_and_parses_through_the_contract() {
    let (_, plugin) = load("whatsapp", None).await;
    let body = fixture("whatsapp/text.json");
    let outcome = plugin.handle_webhook(post(&body, Some(sign(&body)))).await.unwrap();
    let WebhookOutcome::Events { events, response, claims } = outcome else { panic!("expected events, got {outcome:?}") };
    assert!(response.is_none());
    assert!(claims.is_empty(), "WhatsApp claims no one-time tokens");
    let message = events
        .iter()
        .find_map(|e| match e {
            Event::Message(m) => Some(m),
            _ => None,
        })
        .expect("a message event");
    assert_eq!(message.external_id, "wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzNzJFQTA4Q0FCMzNFNzFDMDJDNgA=");
    assert_eq!(message.sender.id, "16505551234");
    assert_eq!(message.sender.phone.as_deref(), Some("+16505551234"));
    assert_eq!(message.sender.display_name.as_deref(), Some("José García"));
    assert_eq!(message.text.as_deref(), Some("Olá! Preciso de ajuda com o pedido #12345 🙏"));
    assert_eq!(message.timestamp_ms, 1_749_416_383_000);
    assert!(events.iter().any(|e| matches!(e, Event::Profile(p) if p.id == "16505551234")));

    let status = plugin.handle_webhook(post(&status_fixture("whatsapp/status_failed.json", "wamid.X"), None)).await.unwrap();
    assert!(matches!(status, WebhookOutcome::Reject(ref r) if r.kind == RejectionKind::Unauthorized), "{status:?}");

    let failed = status_fixture("whatsapp/status_failed.json", "wamid.X");
    let WebhookOutcome::Events { events, .. } = plugin.handle_webhook(post(&failed, Some(sign(&failed)))).await.unwrap() else {
        panic!("expected events")
    };
    let Some(Event::Status(update)) = events.first() else { panic!("expected a status, got {events:?}") };
    assert_eq!(update.status, DeliveryStatus::Failed);
    assert_eq!(update.error.as_ref().map(|e| e.code.as_str()), Some("131047"));

    let garbage = b"{not json";
    let outcome = plugin.handle_webhook(post(garbage, Some(sign(garbage)))).await.unwrap();
    assert!(matches!(outcome, WebhookOutcome::Reject(ref r) if r.kind == RejectionKind::BadRequest), "{outcome:?}");
}

fn text_to(wa_id: &str, text: &str) -> OutboundMessage {
    OutboundMessage {
        message_id: "42".into(),
        recipient: Party { id: wa_id.into(), phone: Some(format!("+{wa_id}")), ..Default::default() },
        content: OutboundContent::Text { text: text.into() },
        reply_to: None,
    }
}

#[tokio::test]
async fn whatsapp_sends_only_to_allowed_hosts() {
    let graph = FakeGraph::start().await;
    let (_, plugin) = load("whatsapp", Some(graph.addr)).await;
    let receipt = plugin.send(&text_to("16505551234", "hello")).await.unwrap().unwrap();
    assert!(receipt.external_id.starts_with("wamid."));
    assert_eq!(graph.received()[0].body["text"]["body"], "hello");

    // The same plugin, configured for a host its allowlist does not include, is denied by the host.
    let config = Config::parse(&config_text("sqlite://unused.db", Some(graph.addr), "")).unwrap();
    let runtime = PluginRuntime::new(&config.plugins).unwrap();
    let mut channel = config.channels[0].clone();
    channel.allowed_hosts = vec!["graph.facebook.com".into()];
    let denied = ChannelPlugin::load(&runtime, &channel).await.unwrap();
    let failure = denied.send(&text_to("16505551234", "hello")).await.unwrap().unwrap_err();
    assert!(!failure.retryable);
    assert!(failure.message.contains("allowed_hosts"), "{failure:?}");
    assert_eq!(graph.received().len(), 1, "the denied request never left the host");
}

#[tokio::test]
async fn misbehaving_components_fail_with_typed_errors() {
    for (plugin, check) in [
        ("test-trap", (|e: &PluginError| matches!(e, PluginError::Trapped { .. })) as fn(&PluginError) -> bool),
        ("test-spin", |e| matches!(e, PluginError::TimedOut { .. })),
        ("test-hog", |e| matches!(e, PluginError::MemoryExceeded { .. })),
    ] {
        let (_, channel) = load(plugin, None).await;
        let error = channel.handle_webhook(post(b"{}", None)).await.unwrap_err();
        assert!(check(&error), "{plugin}: unexpected error {error:?}");
        assert!(error.to_string().contains(plugin), "errors name the plugin: {error}");
        // The channel is still usable: the next call fails the same way, it does not hang or panic.
        let again = channel.handle_webhook(post(b"{}", None)).await.unwrap_err();
        assert!(check(&again), "{plugin}: second call {again:?}");
        let send = channel.send(&text_to("1", "x")).await.unwrap_err();
        assert!(check(&send), "{plugin}: send {send:?}");
    }
}

#[tokio::test]
async fn a_loaded_plugin_can_be_swapped_for_a_new_build() {
    let (runtime, channel) = load("test-trap", None).await;
    let body = fixture("whatsapp/text.json");
    assert!(channel.handle_webhook(post(&body, Some(sign(&body)))).await.is_err());
    let replacement = runtime.load(&plugin_dir().join("whatsapp.wasm"), &channel.context).await.unwrap();
    channel.swap(replacement);
    assert_eq!(channel.info().name, "whatsapp");
    let outcome = channel.handle_webhook(post(&body, Some(sign(&body)))).await.unwrap();
    assert!(matches!(outcome, WebhookOutcome::Events { .. }), "{outcome:?}");
}

#[tokio::test]
async fn compiled_plugins_are_cached_on_disk_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::parse(&config_text("sqlite://unused.db", None, "")).unwrap();
    config.plugins.cache_dir = dir.path().join("cache");
    let entries = || {
        std::fs::read_dir(dir.path().join("cache"))
            .map(|d| d.map(|e| e.unwrap().path()).collect::<Vec<_>>())
            .unwrap_or_default()
    };
    assert!(entries().is_empty());

    let runtime = PluginRuntime::new(&config.plugins).unwrap();
    ChannelPlugin::load(&runtime, &config.channels[0]).await.unwrap();
    let cached = entries();
    assert_eq!(cached.len(), 1, "one compiled artifact: {cached:?}");
    let written = std::fs::metadata(&cached[0]).unwrap().modified().unwrap();

    // A "restart": a new engine loads from the cache instead of compiling and rewriting it.
    let runtime = PluginRuntime::new(&config.plugins).unwrap();
    let plugin = ChannelPlugin::load(&runtime, &config.channels[0]).await.unwrap();
    assert_eq!(plugin.info().name, "whatsapp");
    assert_eq!(entries(), cached);
    assert_eq!(std::fs::metadata(&cached[0]).unwrap().modified().unwrap(), written, "the cache entry was not rewritten");

    // A corrupt entry is ignored and replaced, never trusted.
    std::fs::write(&cached[0], b"not a compiled component").unwrap();
    let runtime = PluginRuntime::new(&config.plugins).unwrap();
    let plugin = ChannelPlugin::load(&runtime, &config.channels[0]).await.unwrap();
    assert_eq!(plugin.info().name, "whatsapp");
}

/// A channel with these config lines, for a plugin that reads only what it is given.
async fn load_channel(toml: &str) -> ChannelPlugin {
    let config = Config::parse(&config_text("sqlite://unused.db", None, toml)).unwrap();
    let runtime = PluginRuntime::new(&config.plugins).unwrap();
    ChannelPlugin::load(&runtime, config.channels.last().unwrap()).await.unwrap()
}

#[tokio::test]
async fn a_plugin_built_against_0_1_0_keeps_loading_and_working() {
    let channel = load_channel("[[channels]]\nid = \"old\"\nplugin = \"test-legacy\"\n").await;
    let info = channel.info();
    assert_eq!((info.name.as_str(), info.contract.as_str()), ("test-legacy", "0.1.0"));
    let mut request = post(b"hello from before 0.2.0", None);
    request.query = vec![("from".into(), "old-friend".into()), ("id".into(), "m-1".into())];
    let WebhookOutcome::Events { events, .. } = channel.handle_webhook(request).await.unwrap() else { panic!("expected events") };
    let [Event::Message(message)] = events.as_slice() else { panic!("one message: {events:?}") };
    assert_eq!((message.external_id.as_str(), message.sender.id.as_str()), ("m-1", "old-friend"));
    assert_eq!(message.text.as_deref(), Some("hello from before 0.2.0"));
    let receipt = channel.send(&text_to("old-friend", "hi")).await.unwrap().unwrap();
    assert_eq!(receipt.external_id, "legacy-out-42");
    // 0.1.0 has no `setup`: the host says so instead of failing the call.
    assert_eq!(channel.guide().await.unwrap(), None);
    assert_eq!(channel.check_connection().await.unwrap(), None);
}

#[tokio::test]
async fn plugins_built_with_the_sdk_bind_0_2_0_and_describe_their_setup() {
    for plugin in ["whatsapp", "messenger", "instagram", "twilio-sms", "telegram"] {
        let (_, channel) = load(plugin, None).await;
        assert_eq!(channel.info().contract, "0.2.0", "{plugin}");
        let guide = channel.guide().await.unwrap().unwrap_or_else(|| panic!("{plugin} has a guide"));
        assert!(guide.steps.len() >= 3, "{plugin}: {guide:?}");
        assert!(guide.settings.iter().any(|s| s.secret && s.required), "{plugin} names its required secrets: {guide:?}");
        assert!(guide.docs_url.as_deref().is_some_and(|url| url.starts_with("https://")), "{plugin}");
    }
}

#[tokio::test]
async fn the_whatsapp_connection_check_reads_the_number_without_sending() {
    use switchboard::model::{ConnectionCheck, ConnectionProblem};
    let graph = FakeGraph::start().await;
    let (_, channel) = load("whatsapp", Some(graph.addr)).await;
    let check = channel.check_connection().await.unwrap().unwrap();
    assert_eq!(
        check,
        ConnectionCheck::Connected { account: "Switchboard Test Shop (+1 555-010-0000)".into(), detail: Some("quality rating GREEN".into()) }
    );
    let received = graph.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].path, format!("/v21.0/{PHONE_NUMBER_ID}"), "a read, never a send");

    let wrong_token = load_channel(&format!(
        "[[channels]]\nid = \"wa-bad\"\nplugin = \"whatsapp\"\nallowed_hosts = [\"{addr}\"]\nconfig = {{ phone_number_id = \"{PHONE_NUMBER_ID}\", api_base = \"http://{addr}/v21.0\" }}\nsecrets = {{ access_token = \"EAA-wrong\" }}\n",
        addr = graph.addr
    ))
    .await;
    let ConnectionCheck::Failed { problem, message, code } = wrong_token.check_connection().await.unwrap().unwrap() else { panic!("a wrong token fails") };
    assert_eq!((problem, code.as_deref()), (ConnectionProblem::Unauthorized, Some("190")));
    assert_eq!(message, "Invalid OAuth access token.");

    let no_token = load_channel(&format!(
        "[[channels]]\nid = \"wa-none\"\nplugin = \"whatsapp\"\nallowed_hosts = [\"{addr}\"]\nconfig = {{ phone_number_id = \"{PHONE_NUMBER_ID}\", api_base = \"http://{addr}/v21.0\" }}\n",
        addr = graph.addr
    ))
    .await;
    let ConnectionCheck::Failed { problem, message, .. } = no_token.check_connection().await.unwrap().unwrap() else { panic!("no token fails") };
    assert_eq!(problem, ConnectionProblem::Misconfigured);
    assert!(message.contains("access_token"), "{message}");
    assert_eq!(graph.received().len(), 2, "a missing token is caught before calling the provider");

    let elsewhere = load_channel(&format!(
        "[[channels]]\nid = \"wa-denied\"\nplugin = \"whatsapp\"\nconfig = {{ phone_number_id = \"{PHONE_NUMBER_ID}\", api_base = \"http://{addr}/v21.0\" }}\nsecrets = {{ access_token = \"{ACCESS_TOKEN}\" }}\n",
        addr = graph.addr
    ))
    .await;
    let ConnectionCheck::Failed { problem, .. } = elsewhere.check_connection().await.unwrap().unwrap() else { panic!("denied") };
    assert_eq!(problem, ConnectionProblem::Denied);
}

#[tokio::test]
async fn a_trapping_connection_check_fails_that_call_only() {
    let (_, channel) = load("test-trap", None).await;
    assert!(matches!(channel.check_connection().await, Err(PluginError::Trapped { .. })));
    assert_eq!(channel.guide().await.unwrap().map(|g| g.steps.len()), Some(0), "the default guide still answers");
}

fn mail(to: &str, fixture_name: &str) -> switchboard::plugins::IncomingMail {
    switchboard::plugins::IncomingMail {
        mail_from: "customer@example.org".into(),
        rcpt_to: vec![to.into()],
        remote_addr: "127.0.0.1:40000".into(),
        helo: Some("mail.example.org".into()),
        tls: false,
        raw: fixture(&format!("email/{fixture_name}")),
    }
}

#[tokio::test]
async fn mail_goes_through_the_0_2_0_mail_interface() {
    use switchboard::plugins::MailOutcome;
    let channel = load_channel("[[channels]]\nid = \"email\"\nplugin = \"email\"\nconfig = { addresses = \"support@example.com\" }\n").await;
    assert_eq!(channel.info().contract, "0.2.0");

    let Some(MailOutcome::Events { events, blobs, threads }) = channel.handle_mail(mail("support@example.com", "attachments.eml")).await.unwrap() else {
        panic!("events")
    };
    let [Event::Message(message)] = events.as_slice() else { panic!("one message: {events:?}") };
    assert_eq!(message.sender.email.as_deref().map(str::to_lowercase).as_deref(), Some(message.sender.id.as_str()));
    assert!(!message.sender.email_verified, "a plugin never verifies an email");
    assert_eq!(message.attachments.len(), blobs.len());
    assert!(blobs.iter().all(|b| !b.data.is_empty()));
    assert_eq!(threads[0].external_id, message.external_id);

    let Some(MailOutcome::Events { threads, .. }) = channel.handle_mail(mail("support+Tk7q2Xw9@example.com", "outlook_reply.eml")).await.unwrap() else {
        panic!("events")
    };
    assert_eq!(threads[0].token.as_deref(), Some("Tk7q2Xw9"), "the plus token, from the instance's `addresses`");

    let Some(MailOutcome::Events { events, .. }) = channel.handle_mail(mail("support@example.com", "bounce.eml")).await.unwrap() else { panic!("events") };
    let [Event::Status(status)] = events.as_slice() else { panic!("a bounce is a status: {events:?}") };
    assert_eq!((status.external_id.as_str(), status.status), ("reply-42@switchboard.test", DeliveryStatus::Failed));

    let Some(MailOutcome::Events { events, .. }) = channel.handle_mail(mail("support@example.com", "auto_reply.eml")).await.unwrap() else { panic!("events") };
    assert!(events.is_empty(), "an auto-reply opens nothing");

    // Other channels refuse mail; a 0.1.0 plugin has no mail interface at all.
    let (_, whatsapp) = load("whatsapp", None).await;
    assert!(matches!(whatsapp.handle_mail(mail("support@example.com", "first_message.eml")).await.unwrap(), Some(MailOutcome::Reject(_))));
    let old = load_channel("[[channels]]\nid = \"old\"\nplugin = \"test-legacy\"\n").await;
    assert!(old.handle_mail(mail("support@example.com", "first_message.eml")).await.unwrap().is_none());
}

mod router {
    //! The `switchboard:router@0.1.0` world: the real policy components, loaded by the host's
    //! plugin runtime and called with a hand-built context, without HTTP or a database.

    use super::*;
    use std::time::Duration;
    use switchboard::auth::Availability;
    use switchboard::config::PolicyConfig;
    use switchboard::plugins::router::PolicyPlugin;
    use switchboard::routing::types::{Agent, Contact, Context, Conversation, Decision, Message, Team, Trigger};
    use switchboard::store::workflow::{Priority, Status};

    fn policy(name: &str, plugin: &str, config: &str) -> PolicyConfig {
        toml::from_str(&format!("name = \"{name}\"\nplugin = \"{plugin}\"\n[config]\n{config}")).unwrap()
    }

    fn runtime() -> Arc<PluginRuntime> {
        let config = Config::parse(&config_text("sqlite://unused.db", None, "")).unwrap();
        PluginRuntime::new(&config.plugins).unwrap()
    }

    fn context(text: &str) -> Context {
        Context {
            trigger: Trigger::Message,
            conversation: Conversation {
                id: 7,
                status: Status::Open,
                priority: Priority::Normal,
                assignee: None,
                team: None,
                labels: vec![],
                waiting_since_ms: Some(1),
                unanswered: 1,
                auto_replies: vec![],
            },
            contact: Contact { id: 3, name: Some("Ana".into()), channels: vec![] },
            messages: vec![Message { id: 11, channel_id: "whatsapp".into(), kind: "text".into(), text: Some(text.into()), received_at_ms: 1, automated: false }],
            now_ms: 1_764_700_000_000,
            agents: vec![
                Agent { id: 1, name: "Ana".into(), availability: Availability::Online, teams: vec![5], open_conversations: 3, max_conversations: 5, last_assigned_ms: None },
                Agent { id: 2, name: "Bo".into(), availability: Availability::Online, teams: vec![5], open_conversations: 1, max_conversations: 5, last_assigned_ms: None },
            ],
            teams: vec![Team { id: 5, name: "Billing".into() }],
        }
    }

    #[tokio::test]
    async fn policies_answer_through_the_router_world() {
        let runtime = runtime();
        let timeout = Duration::from_millis(500);
        let urgency = PolicyPlugin::load(&runtime, &policy("urgency", "urgency", ""), timeout).await.unwrap();
        assert_eq!(urgency.info().contract, "0.1.0");
        let decided = urgency.route(&context("URGENT refund please"), &Decision::default()).await.unwrap().unwrap();
        assert_eq!(decided.priority, Some(Priority::Urgent), "{decided:?}");
        let calm = urgency.route(&context("thanks, all good"), &Decision::default()).await.unwrap().unwrap();
        assert_eq!(calm.priority, None, "{calm:?}");
        assert!(!calm.reason.is_empty(), "a reason is always given");
        // The decision so far reaches the policy: capacity assigns within the team decided before it.
        let capacity = PolicyPlugin::load(&runtime, &policy("capacity", "capacity", ""), timeout).await.unwrap();
        let so_far = Decision { team: Some(5), reason: "billing words".into(), ..Decision::default() };
        let assigned = capacity.route(&context("invoice"), &so_far).await.unwrap().unwrap();
        assert_eq!(assigned.agent, Some(2), "the least loaded: {assigned:?}");
        // A policy's own configuration error is its answer, not a trap.
        let broken = PolicyPlugin::load(&runtime, &policy("hours", "business-hours", "timezone = \"Mars/Olympus\""), timeout).await.unwrap();
        let refused = broken.route(&context("hi"), &Decision::default()).await.unwrap();
        assert!(refused.is_err(), "{refused:?}");
    }

    #[tokio::test]
    async fn a_channel_component_is_not_a_policy_and_a_trap_is_contained() {
        let runtime = runtime();
        let timeout = Duration::from_millis(300);
        let error = PolicyPlugin::load(&runtime, &policy("wa", "whatsapp", ""), timeout).await.err().expect("refused");
        assert!(format!("{error:#}").contains("is not a routing policy"), "{error:#}");
        let trap = PolicyPlugin::load(&runtime, &policy("trap", "test-policy-trap", ""), timeout).await.unwrap();
        assert!(matches!(trap.route(&context("hi"), &Decision::default()).await, Err(PluginError::Trapped { .. })));
        assert!(matches!(trap.route(&context("loop"), &Decision::default()).await, Err(PluginError::TimedOut { .. })));
        // The runtime is unharmed: the same policy answers (traps) again at once.
        assert!(matches!(trap.route(&context("hi"), &Decision::default()).await, Err(PluginError::Trapped { .. })));
    }
}
