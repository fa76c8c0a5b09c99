//! One customer across channels: WhatsApp's Mexican `521…` `wa_id` and the same person's SMS
//! number land on one contact and one conversation, the timeline lists both channels in order,
//! and a reply goes where the customer last wrote unless the agent picks another channel. Many
//! first messages at once from one new number make one contact.

use crate::support::*;
use crate::twilio_sms::{channel_toml, inbound_form_from, post_signed as post_sms, FakeTwilio};
use reqwest::StatusCode;
use serde_json::{Value, json};

on_both_backends!(
    a_mexican_number_is_one_customer_on_whatsapp_and_sms,
    concurrent_first_messages_make_one_contact,
    merge_then_unmerge_restores_everything_exactly,
);

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

/// Contacts, their identities and conversations, and each conversation's messages, notes and
/// labels, as the API shows them.
async fn snapshot(server: &TestServer, contacts: &[i64]) -> Value {
    let mut out = Vec::new();
    for id in contacts {
        let contact = server.api_get(&format!("/api/v1/contacts/{id}")).await;
        let mut conversations = Vec::new();
        for conversation in server.conversations().await.into_iter().filter(|c| c["contact"]["id"] == *id) {
            let cid = conversation["id"].as_i64().unwrap();
            let messages: Vec<Value> = server.messages(cid).await.iter().map(|m| json!([m["id"], m["conversation_id"], m["text"]])).collect();
            // The merge's own record in the thread stays after an unmerge, as the audit does.
            let activity: Vec<Value> = server.api_get(&format!("/api/v1/conversations/{cid}/activity")).await["items"]
                .as_array().unwrap().iter()
                .filter(|a| !a["kind"].as_str().unwrap().starts_with("contact_"))
                .map(|a| json!([a["id"], a["kind"], a["body"]])).collect();
            conversations.push(json!({"conversation": conversation, "messages": messages, "activity": activity}));
        }
        out.push(json!({"contact": contact, "conversations": conversations}));
    }
    Value::Array(out)
}

async fn merge_then_unmerge_restores_everything_exactly() {
    let twilio = FakeTwilio::start().await;
    let server = TestServer::start_with(None, &channel_toml(Some(twilio.addr))).await;
    crate::agents::create_agent(&server, "ana@example.com", "agent").await;
    let agent = crate::agents::session(&server, "ana@example.com").await;
    server.post_signed(&whatsapp_from("14155550101", "wamid.M1")).await;
    server.post_signed(&whatsapp_from("14155550101", "wamid.M2")).await;
    post_sms(&server, &inbound_form_from("SMmerge000000000000000000000000001", "+447700900555", "same person, other phone")).await;
    let conversations = server.conversations().await;
    assert_eq!(conversations.len(), 2, "two customers so far");
    let (sms, whatsapp) = (&conversations[0], &conversations[1]);
    let (survivor, merged) = (whatsapp["contact"]["id"].as_i64().unwrap(), sms["contact"]["id"].as_i64().unwrap());
    let sms_conversation = sms["id"].as_i64().unwrap();
    // Some workflow state on the side that merges away.
    let note = server.client.post(format!("{}/api/v1/conversations/{sms_conversation}/notes", server.base)).bearer_auth(ADMIN_TOKEN).json(&json!({"text": "VIP"})).send().await.unwrap();
    assert_eq!(note.status(), StatusCode::CREATED);
    let labelled = server.client.patch(format!("{}/api/v1/conversations/{sms_conversation}", server.base)).bearer_auth(ADMIN_TOKEN).json(&json!({"add_labels": ["uk"]})).send().await.unwrap();
    assert_eq!(labelled.status(), StatusCode::OK);
    let before = snapshot(&server, &[survivor, merged]).await;

    // An agent merges the SMS contact into the WhatsApp one.
    let response = server.client.post(format!("{}/api/v1/contacts/{survivor}/merge", server.base)).bearer_auth(&agent).json(&json!({"contact_id": merged})).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let merge: Value = response.json().await.unwrap();
    assert_eq!(merge["contact"]["reachable_channels"], json!(["whatsapp", "sms"]));
    let open: Vec<Value> = server.conversations().await.into_iter().filter(|c| c["status"] != "resolved").collect();
    assert_eq!(open.len(), 1, "one thread");
    let thread = open[0]["id"].as_i64().unwrap();
    assert_eq!(server.messages(thread).await.len(), 3, "all three messages in it");
    assert_eq!(server.api_get(&format!("/api/v1/contacts/{merged}")).await["merged_into_id"], survivor);
    let activity = server.api_get(&format!("/api/v1/conversations/{thread}/activity")).await;
    assert_eq!(activity["items"][0]["kind"], "contact_merged", "the thread shows the merge: {activity}");
    assert_eq!(activity["items"][0]["actor"], "ana@example.com");
    let timeline = server.api_get(&format!("/api/v1/contacts/{survivor}/timeline")).await;
    assert_eq!(timeline["items"].as_array().unwrap().len(), 3);

    // Undoing needs an admin; it restores everything that moved.
    let undo = |token: &str| server.client.post(format!("{}/api/v1/merges/{}/undo", server.base, merge["id"])).bearer_auth(token.to_string()).send();
    assert_eq!(undo(&agent).await.unwrap().status(), StatusCode::FORBIDDEN);
    assert_eq!(undo(ADMIN_TOKEN).await.unwrap().status(), StatusCode::OK);
    assert_eq!(undo(ADMIN_TOKEN).await.unwrap().status(), StatusCode::CONFLICT, "once");
    let after = snapshot(&server, &[survivor, merged]).await;
    assert_eq!(after, before, "unmerge restores contacts, identities, conversations, messages and activity exactly");

    // Both are audited: who, when, what.
    let audit = server.api_get("/api/v1/audit").await;
    let entries = audit["items"].as_array().unwrap();
    assert_eq!(entries[0]["action"], "contact.unmerged");
    assert_eq!(entries[0]["actor"], "admin");
    assert_eq!(entries[1]["action"], "contact.merged");
    assert_eq!(entries[1]["actor"], "ana@example.com");
    assert_eq!(entries[1]["detail"]["merged_id"], merged);
    assert!(entries[1]["created_at"].as_i64().unwrap() > 0);
    let forbidden = server.client.get(format!("{}/api/v1/audit", server.base)).bearer_auth(&agent).send().await.unwrap();
    assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);

    // Merged again: a first message from a new channel with the merged-away contact's phone
    // joins the survivor, not the contact that no longer stands on its own.
    let again = server.client.post(format!("{}/api/v1/contacts/{survivor}/merge", server.base)).bearer_auth(&agent).json(&json!({"contact_id": merged})).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::CREATED);
    server.post_signed(&whatsapp_from("447700900555", "wamid.M3")).await;
    let contact = server.api_get(&format!("/api/v1/contacts/{survivor}")).await;
    assert_eq!(contact["identities"].as_array().unwrap().len(), 3, "{contact}");
    let into_merged = server.client.post(format!("{}/api/v1/contacts/{merged}/merge", server.base)).bearer_auth(&agent).json(&json!({"contact_id": survivor})).send().await.unwrap();
    assert_eq!(into_merged.status(), StatusCode::CONFLICT, "nothing merges into a merged-away contact");

    // The survivor merged away in turn: the earlier merge waits until the later one is undone.
    let again: Value = again.json().await.unwrap();
    server.post_signed(&whatsapp_from("14155550999", "wamid.M4")).await;
    let third = server.conversations().await.into_iter().find(|c| c["contact"]["phone"] == "+14155550999").unwrap()["contact"]["id"].as_i64().unwrap();
    let later = server.client.post(format!("{}/api/v1/contacts/{third}/merge", server.base)).bearer_auth(&agent).json(&json!({"contact_id": survivor})).send().await.unwrap();
    assert_eq!(later.status(), StatusCode::CREATED);
    let later: Value = later.json().await.unwrap();
    let undo_merge = |id: &Value| server.client.post(format!("{}/api/v1/merges/{id}/undo", server.base)).bearer_auth(ADMIN_TOKEN).send();
    let refused = undo_merge(&again["id"]).await.unwrap();
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    assert!(refused.text().await.unwrap().contains(&format!("merge {}", later["id"])));
    assert_eq!(undo_merge(&later["id"]).await.unwrap().status(), StatusCode::OK);
    assert_eq!(undo_merge(&again["id"]).await.unwrap().status(), StatusCode::OK, "then it can be undone");
    assert_eq!(server.api_get(&format!("/api/v1/contacts/{merged}")).await["merged_into_id"], Value::Null);
    server.stop().await;
}
