//! The conversation workflow through the public API: assignment, team, priority, labels,
//! status with a snooze that wakes (on a clock the test moves), private notes that never reach
//! the provider, reopening on a new message, activity, the live stream announcing each change,
//! and agents seeing only their teams' conversations, in the API and on the stream.

use crate::agents::{create_agent, session};
use crate::support::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

on_both_backends!(
    changes_and_notes_are_recorded_announced_and_never_sent,
    snoozes_wake_and_messages_reopen,
    agents_see_only_their_teams_conversations,
    canned_responses_expand_with_placeholders,
    lists_filter_sort_and_count_unread_per_agent,
    search_finds_conversations_by_phone_email_name_and_text,
);

async fn patch(server: &TestServer, token: &str, id: i64, body: Value) -> (StatusCode, Value) {
    let response = server.client.patch(format!("{}/api/v1/conversations/{id}", server.base)).bearer_auth(token).json(&body).send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The next live event of `kind` (others are skipped).
async fn next_of(stream: &mut SseClient, kind: &str) -> Value {
    loop {
        let event = stream.next(Duration::from_secs(10)).await;
        if event.event.as_deref() == Some(kind) {
            return event.data;
        }
    }
}

pub async fn team(server: &TestServer, name: &str, members: &[i64]) -> i64 {
    let (status, team) = server.api_post("/api/v1/teams", &json!({"name": name})).await;
    assert_eq!(status, StatusCode::CREATED, "{team}");
    let id = team["id"].as_i64().unwrap();
    for agent in members {
        let response = server.client.put(format!("{}/api/v1/teams/{id}/members/{agent}", server.base)).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
    }
    id
}

async fn changes_and_notes_are_recorded_announced_and_never_sent() {
    let graph = FakeGraph::start().await;
    let server = TestServer::start(Some(graph.addr)).await;
    let ana = create_agent(&server, "ana@example.com", "agent").await["id"].as_i64().unwrap();
    let billing = team(&server, "Billing", &[ana]).await;
    let ana_token = session(&server, "ana@example.com").await;
    server.post_signed(&fixture("whatsapp/text.json")).await;
    let id = server.only_conversation_id().await;
    let mut stream = SseClient::connect_as(&server.base, &ana_token, None).await;

    let (status, conversation) = patch(&server, &ana_token, id, json!({
        "assignee_id": ana, "team_id": billing, "priority": "high", "add_labels": ["Refund", "vip"], "status": "pending"
    }))
    .await;
    assert_eq!(status, StatusCode::OK, "{conversation}");
    assert_eq!((conversation["assignee_id"].as_i64(), conversation["team_id"].as_i64()), (Some(ana), Some(billing)));
    assert_eq!((conversation["priority"].as_str(), conversation["status"].as_str()), (Some("high"), Some("pending")));
    assert_eq!(conversation["labels"], json!(["refund", "vip"]));
    let event = next_of(&mut stream, "conversation.updated").await;
    assert_eq!(event["conversation_id"], id);
    let kinds: Vec<&str> = event["changes"].as_array().unwrap().iter().map(|c| c["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["status", "priority", "assignee", "team", "label_added", "label_added"]);
    assert!(event["changes"].as_array().unwrap().iter().all(|c| c["actor"] == "ana@example.com"));

    // Removing a label and unassigning are changes too; a no-op is not announced.
    let (status, conversation) = patch(&server, &ana_token, id, json!({"remove_labels": ["vip"], "assignee_id": null, "priority": "high"})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(conversation["labels"], json!(["refund"]));
    assert!(conversation["assignee_id"].is_null());
    let event = next_of(&mut stream, "conversation.updated").await;
    let kinds: Vec<&str> = event["changes"].as_array().unwrap().iter().map(|c| c["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["assignee", "label_removed"]);

    // Unknown references and bad values are refused.
    assert_eq!(patch(&server, &ana_token, id, json!({"assignee_id": 999999})).await.0, StatusCode::NOT_FOUND);
    assert_eq!(patch(&server, &ana_token, id, json!({"add_labels": ["two words"]})).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(patch(&server, &ana_token, id, json!({"priority": "whenever"})).await.0, StatusCode::UNPROCESSABLE_ENTITY);

    // A private note: announced to agents, listed in the activity, never sent anywhere.
    let secret = "internal: customer is on the fraud watch list";
    let note = server.client.post(format!("{}/api/v1/conversations/{id}/notes", server.base)).bearer_auth(&ana_token).json(&json!({"text": secret})).send().await.unwrap();
    assert_eq!(note.status(), StatusCode::CREATED);
    let event = next_of(&mut stream, "note.created").await;
    assert_eq!(event["note"]["body"], secret);
    server.queue_text_reply(id, "Your refund is on its way").await;
    let sent = graph.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let everything_sent = serde_json::to_string(&graph.received().iter().map(|r| r.body.clone()).collect::<Vec<_>>()).unwrap();
    assert_eq!(graph.received().len(), 1, "only the reply went out: {sent:?}");
    assert!(!everything_sent.contains("fraud"), "the note never reaches the provider");
    let messages = server.messages(id).await;
    assert!(messages.iter().all(|m| m["text"] != secret), "a note is not a message");

    let activity = server.api_get(&format!("/api/v1/conversations/{id}/activity")).await;
    let items = activity["items"].as_array().unwrap();
    assert_eq!(items[0]["kind"], "note");
    assert_eq!(items[0]["body"], secret);
    assert_eq!(items.len(), 9, "{activity}");
    server.stop().await;
}

async fn snoozes_wake_and_messages_reopen() {
    let clock = Arc::new(switchboard::clock::ShiftedClock::default());
    let settings = Settings { sections: "[workflow]\nsnooze_check_ms = 100", ..Settings::default() };
    let server = TestServer::start_clocked(None, "", &settings, clock.clone()).await;
    server.post_signed(&fixture("whatsapp/text.json")).await;
    let id = server.only_conversation_id().await;
    let mut stream = SseClient::connect(&server.base, None).await;

    let until = now_ms() as i64 + 3_600_000;
    let (status, conversation) = patch(&server, ADMIN_TOKEN, id, json!({"status": "snoozed", "snoozed_until": until})).await;
    assert_eq!(status, StatusCode::OK, "{conversation}");
    assert_eq!(conversation["snoozed_until"], until);
    next_of(&mut stream, "conversation.updated").await;
    // Nothing happens before its time...
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(server.api_get(&format!("/api/v1/conversations/{id}")).await["status"], "snoozed");
    // ...and it wakes when the clock gets there.
    clock.advance(2 * 3_600_000);
    let event = next_of(&mut stream, "conversation.updated").await;
    assert_eq!(event["conversation"]["status"], "open");
    assert_eq!(event["changes"][0]["actor"], "system");
    assert!(event["conversation"]["snoozed_until"].is_null());

    // Resolved, then the customer writes again: the same conversation reopens.
    let (status, _) = patch(&server, ADMIN_TOKEN, id, json!({"status": "resolved"})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(next_of(&mut stream, "conversation.updated").await["conversation"]["status"], "resolved");
    let again = String::from_utf8(fixture("whatsapp/text.json")).unwrap().replace("wamid.", "wamid.AGAIN");
    server.post_signed(again.as_bytes()).await;
    let event = next_of(&mut stream, "conversation.updated").await;
    assert_eq!(event["conversation"]["status"], "open");
    assert_eq!(event["changes"][0]["old_value"], "resolved");
    assert_eq!(server.only_conversation_id().await, id, "no second conversation");
    // A snooze without a time lasts until the customer writes.
    patch(&server, ADMIN_TOKEN, id, json!({"status": "snoozed"})).await;
    let third = String::from_utf8(fixture("whatsapp/text.json")).unwrap().replace("wamid.", "wamid.THIRD");
    server.post_signed(third.as_bytes()).await;
    assert_eq!(server.api_get(&format!("/api/v1/conversations/{id}")).await["status"], "open");
    server.stop().await;
}

async fn agents_see_only_their_teams_conversations() {
    let server = TestServer::start(None).await;
    let ana = create_agent(&server, "ana@example.com", "agent").await["id"].as_i64().unwrap();
    let bo = create_agent(&server, "bo@example.com", "agent").await["id"].as_i64().unwrap();
    let billing = team(&server, "Billing", &[ana]).await;
    let sales = team(&server, "Sales", &[bo]).await;
    let (ana_token, bo_token) = (session(&server, "ana@example.com").await, session(&server, "bo@example.com").await);
    server.post_signed(&fixture("whatsapp/text.json")).await;
    let id = server.only_conversation_id().await;
    let get = async |token: &str, path: &str| server.client.get(format!("{}{path}", server.base)).bearer_auth(token).send().await.unwrap();

    // No team yet: everyone sees it.
    assert_eq!(get(&bo_token, &format!("/api/v1/conversations/{id}")).await.status(), StatusCode::OK);
    patch(&server, ADMIN_TOKEN, id, json!({"team_id": billing})).await;
    let mut ana_stream = SseClient::connect_as(&server.base, &ana_token, None).await;
    let mut bo_stream = SseClient::connect_as(&server.base, &bo_token, None).await;

    // Billing's conversation: Ana sees it, Bo (Sales) does not, in the API or on the stream.
    assert_eq!(get(&ana_token, &format!("/api/v1/conversations/{id}")).await.status(), StatusCode::OK);
    assert_eq!(error_code(get(&bo_token, &format!("/api/v1/conversations/{id}")).await, StatusCode::NOT_FOUND).await, "not_found");
    let bo_list: Value = get(&bo_token, "/api/v1/conversations").await.json().await.unwrap();
    assert!(bo_list["items"].as_array().unwrap().is_empty());
    assert_eq!(patch(&server, &bo_token, id, json!({"priority": "low"})).await.0, StatusCode::NOT_FOUND);
    let again = String::from_utf8(fixture("whatsapp/text.json")).unwrap().replace("wamid.", "wamid.TEAM");
    server.post_signed(again.as_bytes()).await;
    assert_eq!(next_of(&mut ana_stream, "message.created").await["conversation_id"], id);
    assert!(bo_stream.try_next(Duration::from_millis(700)).await.is_none(), "Bo's stream carries no Billing conversation");

    // Assigned to Bo, he sees it; moved out of Billing, Ana hears that it left.
    patch(&server, ADMIN_TOKEN, id, json!({"assignee_id": bo})).await;
    assert_eq!(get(&bo_token, &format!("/api/v1/conversations/{id}")).await.status(), StatusCode::OK);
    assert_eq!(next_of(&mut bo_stream, "conversation.updated").await["conversation_id"], id);
    patch(&server, ADMIN_TOKEN, id, json!({"assignee_id": null, "team_id": sales})).await;
    let left = loop {
        let event = next_of(&mut ana_stream, "conversation.updated").await;
        if event["conversation"]["team_id"] == sales {
            break event;
        }
    };
    assert_eq!(left["conversation_id"], id);
    assert_eq!(get(&ana_token, &format!("/api/v1/conversations/{id}")).await.status(), StatusCode::NOT_FOUND, "now Sales'");
    server.stop().await;
}

async fn canned_responses_expand_with_placeholders() {
    let server = TestServer::start(None).await;
    create_agent(&server, "ana.souza@example.com", "agent").await;
    let token = session(&server, "ana.souza@example.com").await;
    server.post_signed(&fixture("whatsapp/text.json")).await;
    let id = server.only_conversation_id().await;

    let body = "Hi {{contact.first_name}}! {{agent.name}} here: your refund is on its way.";
    let (status, created) = server.api_post("/api/v1/canned-responses", &json!({"shortcut": "Refund", "body": body})).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["shortcut"], "refund");
    let (status, _) = server.api_post("/api/v1/canned-responses", &json!({"shortcut": "refund", "body": "again"})).await;
    assert_eq!(status, StatusCode::CONFLICT);
    server.api_post("/api/v1/canned-responses", &json!({"shortcut": "hours", "body": "We open at 9."})).await;
    // Agents list them by what they typed, but may not change them.
    let listed: Value = server.client.get(format!("{}/api/v1/canned-responses?prefix=re", server.base)).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    assert_eq!(listed.as_array().unwrap().iter().map(|c| c["shortcut"].clone()).collect::<Vec<_>>(), [json!("refund")]);
    let forbidden = server.client.post(format!("{}/api/v1/canned-responses", server.base)).bearer_auth(&token).json(&json!({"shortcut": "x", "body": "y"})).send().await.unwrap();
    assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);

    let expand = async |text: &str| {
        let response = server.client.post(format!("{}/api/v1/conversations/{id}/expand", server.base)).bearer_auth(&token).json(&json!({"text": text})).send().await.unwrap();
        let status = response.status();
        (status, response.json::<Value>().await.unwrap())
    };
    let (status, expanded) = expand("/refund").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(expanded["text"], "Hi José! ana.souza@example.com here: your refund is on its way.");
    let (_, expanded) = expand("/REFUND Thanks for waiting.").await;
    assert_eq!(expanded["text"], "Hi José! ana.souza@example.com here: your refund is on its way. Thanks for waiting.");
    let (_, expanded) = expand("Plain {{contact.first_name}}, no shortcut").await;
    assert_eq!(expanded["text"], "Plain José, no shortcut");
    let (status, missing) = expand("/nothing").await;
    assert_eq!((status, missing["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("no_such_shortcut")));
    // Expanding sends nothing.
    assert_eq!(server.messages(id).await.len(), 1);
    server.stop().await;
}

/// Three customers on WhatsApp; filters, sorts and per-agent unread state over them.
async fn lists_filter_sort_and_count_unread_per_agent() {
    let server = TestServer::start(None).await;
    let ana = create_agent(&server, "ana@example.com", "agent").await["id"].as_i64().unwrap();
    create_agent(&server, "bo@example.com", "agent").await;
    let billing = team(&server, "Billing", &[ana]).await;
    let (ana_token, bo_token) = (session(&server, "ana@example.com").await, session(&server, "bo@example.com").await);
    for (n, from) in ["16505550001", "16505550002", "16505550003"].iter().enumerate() {
        let body = String::from_utf8(fixture("whatsapp/text.json")).unwrap().replace("16505551234", from).replace("wamid.", &format!("wamid.L{n}"));
        server.post_signed(body.as_bytes()).await;
    }
    let list = async |token: &str, query: &str| -> Vec<i64> {
        let page: Value = server.client.get(format!("{}/api/v1/conversations?{query}", server.base)).bearer_auth(token).send().await.unwrap().json().await.unwrap();
        page["items"].as_array().unwrap_or_else(|| panic!("{query}: {page}")).iter().map(|c| c["id"].as_i64().unwrap()).collect()
    };
    let newest = list(ADMIN_TOKEN, "").await;
    assert_eq!(newest.len(), 3);
    let (first, second, third) = (newest[2], newest[1], newest[0]);
    assert_eq!(list(ADMIN_TOKEN, "sort=oldest").await, [first, second, third]);

    patch(&server, ADMIN_TOKEN, first, json!({"priority": "urgent", "team_id": billing, "add_labels": ["refund"]})).await;
    patch(&server, ADMIN_TOKEN, second, json!({"assignee_id": ana, "status": "pending", "priority": "low"})).await;
    assert_eq!(list(ADMIN_TOKEN, "sort=priority").await, [first, third, second]);
    assert_eq!(list(ADMIN_TOKEN, "label=REFUND").await, [first]);
    assert_eq!(list(ADMIN_TOKEN, "priority=urgent").await, [first]);
    assert_eq!(list(ADMIN_TOKEN, "status=pending").await, [second]);
    assert_eq!(list(&ana_token, "assignee=me").await, [second]);
    assert_eq!(list(ADMIN_TOKEN, "assignee=unassigned").await, [third, first]);
    assert_eq!(list(ADMIN_TOKEN, &format!("team={billing}")).await, [first]);
    assert_eq!(list(ADMIN_TOKEN, "channel=whatsapp").await.len(), 3);
    assert!(list(ADMIN_TOKEN, "channel=sms").await.is_empty());
    // Waiting longest: those whose last message is the customer's, oldest first.
    server.queue_text_reply(first, "on it").await;
    assert_eq!(list(ADMIN_TOKEN, "sort=waiting_longest").await, [second, third]);

    // Unread is per agent: Ana reads one, Bo still has all (that he may see) unread.
    let read = server.client.post(format!("{}/api/v1/conversations/{third}/read", server.base)).bearer_auth(&ana_token).json(&json!({})).send().await.unwrap();
    assert_eq!(read.status(), StatusCode::NO_CONTENT);
    let unread_ana = list(&ana_token, "unread=true").await;
    assert!(!unread_ana.contains(&third) && unread_ana.contains(&second), "{unread_ana:?}");
    assert!(list(&bo_token, "unread=true").await.contains(&third));
    let page: Value = server.client.get(format!("{}/api/v1/conversations", server.base)).bearer_auth(&ana_token).send().await.unwrap().json().await.unwrap();
    let count = |id: i64| page["items"].as_array().unwrap().iter().find(|c| c["id"] == id).unwrap()["unread_count"].as_i64().unwrap();
    assert_eq!((count(third), count(second)), (0, 1));

    // Keyset pages follow the sort.
    let page: Value = server.api_get("/api/v1/conversations?sort=priority&limit=1").await;
    assert_eq!(page["items"][0]["id"], first);
    let cursor = page["next_cursor"].as_str().unwrap().to_string();
    let next: Value = server.api_get(&format!("/api/v1/conversations?sort=priority&limit=1&cursor={cursor}")).await;
    assert_eq!(next["items"][0]["id"], third);

    // Counts per view, unread by the caller.
    let counts = async |token: &str, query: &str| -> Value {
        let response = server.client.get(format!("{}/api/v1/conversations/counts{query}", server.base)).bearer_auth(token).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        let views = ["mine", "unassigned", "my_teams", "all"].map(|v| json!([body[v]["conversations"], body[v]["unread"]]));
        let teams: Vec<Value> = body["teams"].as_array().unwrap().iter().map(|t| json!([t["name"], t["conversations"], t["unread"]])).collect();
        json!({"views": views, "teams": teams})
    };
    // Ana (Billing) sees `first` (Billing's, unread) and `third` (no team, read by her).
    assert_eq!(counts(&ana_token, "").await, json!({"views": [[0, 0], [2, 1], [1, 1], [2, 1]], "teams": [["Billing", 1, 1]]}));
    assert_eq!(counts(&ana_token, "?status=pending").await["views"], json!([[1, 1], [0, 0], [0, 0], [1, 1]]), "`second` is hers");
    // Bo (no team) sees only `third`, which he has not read.
    assert_eq!(counts(&bo_token, "").await, json!({"views": [[0, 0], [1, 1], [0, 0], [1, 1]], "teams": []}));
    // The bootstrap token is nobody: nothing is its own, and unread is the conversation's own
    // count, which Ana's read (`third`) and the reply (`first`) cleared.
    assert_eq!(counts(ADMIN_TOKEN, "").await, json!({"views": [[0, 0], [2, 0], [0, 0], [2, 0]], "teams": [["Billing", 1, 0]]}));
    let bad = server.client.get(format!("{}/api/v1/conversations/counts?status=closed", server.base)).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    server.stop().await;
}

/// Search finds a conversation by a phone fragment (any format), an email, a name and a word
/// of message text.
async fn search_finds_conversations_by_phone_email_name_and_text() {
    let server = TestServer::start_with(None, &crate::twilio_sms::channel_toml(None)).await;
    let ana = String::from_utf8(fixture("whatsapp/text.json")).unwrap().replace("Jos\\u00e9 Garc\\u00eda", "Ana L\\u00facia Prado").replace("16505551234", "5215512345678");
    server.post_signed(ana.as_bytes()).await;
    let other = String::from_utf8(fixture("whatsapp/text.json")).unwrap()
        .replace("Jos\\u00e9 Garc\\u00eda", "Bruno Costa").replace("16505551234", "14155550199").replace("wamid.", "wamid.OTHER")
        .replace("Preciso de ajuda com o pedido", "Where is my parcel");
    server.post_signed(other.as_bytes()).await;
    let ids: Vec<i64> = server.conversations().await.iter().map(|c| c["id"].as_i64().unwrap()).collect();
    let (bruno, ana_id) = (ids[0], ids[1]);
    let find = async |q: &str| -> Vec<i64> {
        let url = reqwest::Url::parse_with_params(&format!("{}/api/v1/conversations", server.base), &[("q", q)]).unwrap();
        let page: Value = server.client.get(url).bearer_auth(ADMIN_TOKEN).send().await.unwrap().json().await.unwrap();
        page["items"].as_array().unwrap_or_else(|| panic!("{q}: {page}")).iter().map(|c| c["id"].as_i64().unwrap()).collect()
    };
    // Contacts' search text follows a moment later on SQLite (its indexer; messages and
    // PostgreSQL at once).
    for _ in 0..50 {
        if !find("Bruno Costa").await.is_empty() && !find("Prado").await.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(find("parcel").await, [bruno], "a word of message text");
    assert_eq!(find("PARCEL").await, [bruno], "case-insensitively");
    assert_eq!(find("lúcia").await, [ana_id], "part of a name");
    assert_eq!(find("5512").await, [ana_id], "a phone fragment");
    assert_eq!(find("(55) 1234").await, [ana_id], "a phone fragment, formatted");
    assert_eq!(find("+1 415 555").await, [bruno]);
    assert_eq!(find("5215512").await, [ana_id], "the WhatsApp id");
    assert!(find("nobody-here").await.is_empty());
    // An email an agent added to an SMS customer.
    crate::twilio_sms::post_signed(&server, &crate::twilio_sms::inbound_form_from("SMsearch00000000000000000000000001", "+447700900123", "hello")).await;
    let sms = server.conversations().await[0].clone();
    let contact = sms["contact"]["id"].as_i64().unwrap();
    let updated = server.client.patch(format!("{}/api/v1/contacts/{contact}", server.base)).bearer_auth(ADMIN_TOKEN)
        .json(&json!({"email": "Claire.Dubois@Example.org", "display_name": "Claire Dubois"})).send().await.unwrap();
    assert_eq!(updated.status(), StatusCode::OK);
    assert_eq!(updated.json::<Value>().await.unwrap()["email"], "claire.dubois@example.org");
    let mut by_email = Vec::new();
    for _ in 0..50 {
        by_email = find("claire.dubois@example").await;
        if !by_email.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(by_email, [sms["id"].as_i64().unwrap()], "an email");
    let too_short = server.client.get(format!("{}/api/v1/conversations?q=ab", server.base)).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
    assert_eq!(error_code(too_short, StatusCode::BAD_REQUEST).await, "invalid_query");
    // Filters and search combine.
    assert!(find("parcel").await.contains(&bruno));
    server.stop().await;
}
