//! The inbound pipeline on its own (`switchboard::inbound::receive`), without a transport: the
//! same call the HTTP webhook handler makes, and the SMTP listener and web chat socket are to
//! make. A signed webhook is stored once, a redelivery adds nothing, a forgery is refused
//! before anything is stored, and the channel's activity counts each.

use crate::support::*;
use switchboard::config::{Config, DatabaseConfig};
use switchboard::inbound::{receive, InboundError, Received};
use switchboard::plugins::{ChannelPlugin, PluginRuntime, RejectionKind, WebhookRequest};
use switchboard::store::Store;

fn signed(body: &[u8], signature: String) -> WebhookRequest {
    WebhookRequest {
        method: "POST".into(),
        url: "https://switchboard.test/webhooks/whatsapp".into(),
        query: vec![],
        headers: vec![("content-type".into(), "application/json".into()), ("x-hub-signature-256".into(), signature)],
        body: body.to_vec(),
    }
}

#[tokio::test]
async fn the_pipeline_stores_once_and_refuses_forgeries() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::parse(&config_text("sqlite://unused.db", None, "")).unwrap();
    let runtime = PluginRuntime::new(&config.plugins).unwrap();
    let channel = ChannelPlugin::load(&runtime, &config.channels[0]).await.unwrap();
    let store = Store::open(&DatabaseConfig { url: format!("sqlite://{}", dir.path().join("s.db").display()), ..Default::default() }).await.unwrap();
    store.upsert_channel("whatsapp", "whatsapp", &channel.info()).await.unwrap();

    let body = fixture("whatsapp/text.json");
    let first = receive(&store, &channel, "r1", signed(&body, sign(&body)), body.clone().into()).await.unwrap();
    let Received::Stored { events, report, response } = first else { panic!("stored: {first:?}") };
    assert!(events >= 1 && response.is_none());
    assert_eq!((report.new_messages, report.duplicates), (1, 0));
    let again = receive(&store, &channel, "r2", signed(&body, sign(&body)), body.clone().into()).await.unwrap();
    let Received::Stored { report, .. } = again else { panic!("stored: {again:?}") };
    assert_eq!((report.new_messages, report.duplicates), (0, 1), "a redelivery adds nothing");

    let forged = receive(&store, &channel, "r3", signed(&body, sign_with("not-the-secret", &body)), body.clone().into()).await;
    let Err(InboundError::Refused(rejection)) = forged else { panic!("refused: {forged:?}") };
    assert_eq!(rejection.kind, RejectionKind::Unauthorized);
    assert!(!InboundError::Refused(rejection).is_ours());

    let activity = channel.activity.snapshot(switchboard::clock::now_ms());
    assert_eq!((activity.webhooks_accepted, activity.webhooks_refused, activity.webhooks_failed), (2, 1, 0));
    let messages = store.conversation_messages(1, 10, None).await.unwrap();
    assert_eq!(messages.items.len(), 1, "one message, stored once, nothing from the forgery");
}
