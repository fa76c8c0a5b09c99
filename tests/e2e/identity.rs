//! One customer across channels: WhatsApp's Mexican `521…` `wa_id` and the same person's SMS
//! number land on one contact and one conversation, the timeline lists both channels in order,
//! and a reply goes where the customer last wrote unless the agent picks another channel. Many
//! first messages at once from one new number make one contact.

use crate::support::*;
use crate::twilio_sms::{channel_toml, inbound_form_from, post_signed as post_sms, FakeTwilio};
use serde_json::{Value, json};

on_both_backends!(a_mexican_number_is_one_customer_on_whatsapp_and_sms, concurrent_first_messages_make_one_contact);

/// The WhatsApp text fixture, from `wa_id` with this message id.
fn whatsapp_from(wa_id: &str, wamid: &str) -> Vec<u8> {
    String::from_utf8(fixture("whatsapp/text.json")).unwrap().replace("16505551234", wa_id).replace("wamid.", wamid).into_bytes()
}

async fn a_mexican_number_is_one_customer_on_whatsapp_and_sms() {
    let graph = FakeGraph::start().await;
    let twilio = FakeTwilio::start().await;
    let server = TestServer::start_with(Some(graph.addr), &channel_toml(Some(twilio.addr))).await;

    server.post_signed(&whatsapp_from("5215512345678", "wamid.MX1")).await;
    post_sms(&server, &inbound_form_from("SMmx0000000000000000000000000000001", "+525512345678", "Hola, escribo por SMS")).await;

    let conversation = server.only_conversation_id().await;
    let contact_id = server.conversations().await[0]["contact"]["id"].as_i64().unwrap();
    let contact = server.api_get(&format!("/api/v1/contacts/{contact_id}")).await;
    assert_eq!(contact["phone"], "+525512345678");
    let identities: Vec<(Value, Value)> = contact["identities"].as_array().unwrap().iter().map(|i| (i["channel_id"].clone(), i["external_id"].clone())).collect();
    assert_eq!(identities, [(json!("whatsapp"), json!("5215512345678")), (json!("sms"), json!("+525512345678"))], "the raw wa_id is kept");
    assert_eq!(contact["reachable_channels"], json!(["whatsapp", "sms"]));

    let timeline = server.api_get(&format!("/api/v1/contacts/{contact_id}/timeline")).await;
    let channels: Vec<&str> = timeline["items"].as_array().unwrap().iter().map(|m| m["channel_id"].as_str().unwrap()).collect();
    assert_eq!(channels, ["whatsapp", "sms"], "both, in order: {timeline}");

    // By default the reply goes where the customer last wrote: SMS.
    server.reply_and_wait_for(conversation, &json!({"text": "Te respondemos por SMS"}), "queued").await;
    let sms = twilio.wait_for(1).await;
    let to = sms[0].form.iter().find(|(k, _)| k == "To").map(|(_, v)| v.clone());
    assert_eq!(to.as_deref(), Some("+525512345678"));
    assert!(graph.received().is_empty());
    // The agent picks WhatsApp: it goes to the raw wa_id.
    server.reply_and_wait_for(conversation, &json!({"text": "Y por WhatsApp", "channel_id": "whatsapp"}), "sent").await;
    let sent = graph.wait_for(1).await;
    assert_eq!(sent[0].body["to"], "5215512345678");
    // Choosing WhatsApp once does not move the default.
    assert_eq!(server.api_get(&format!("/api/v1/conversations/{conversation}")).await["channel_id"], "sms");
    server.stop().await;
}

async fn concurrent_first_messages_make_one_contact() {
    let twilio = FakeTwilio::start().await;
    let server = TestServer::start_with(None, &channel_toml(Some(twilio.addr))).await;
    let sends = (0..16).map(|n| {
        let server = &server;
        async move {
            if n % 2 == 0 {
                server.post_signed(&whatsapp_from("5215598765432", &format!("wamid.C{n:02}"))).await;
            } else {
                post_sms(server, &inbound_form_from(&format!("SMconc{n:028}"), "+525598765432", "hola")).await;
            }
        }
    });
    futures_util::future::join_all(sends).await;
    let conversations = server.conversations().await;
    assert_eq!(conversations.len(), 1, "{conversations:#?}");
    let id = conversations[0]["id"].as_i64().unwrap();
    assert_eq!(server.messages(id).await.len(), 16);
    let contacts = server.api_get(&format!("/api/v1/contacts/{}", conversations[0]["contact"]["id"])).await;
    assert_eq!(contacts["identities"].as_array().unwrap().len(), 2);
    server.stop().await;
}
