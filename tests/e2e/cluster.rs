//! Several `switchboard serve` processes on one PostgreSQL database, and PostgreSQL going away
//! under load. PostgreSQL only: skipped (with a note) when `TEST_DATABASE_URL` is not set.

use crate::support::*;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

const LEADER: &str = "switchboard_cluster_leader";

fn whatsapp_text(external_id: &str, from: &str, text: &str) -> Vec<u8> {
    let body = String::from_utf8(fixture("whatsapp/text.json")).unwrap();
    let value: Value = serde_json::from_str(&body).unwrap();
    let mut value = value;
    let change = &mut value["entry"][0]["changes"][0]["value"];
    change["messages"][0]["id"] = json!(external_id);
    change["messages"][0]["from"] = json!(from);
    change["messages"][0]["text"]["body"] = json!(text);
    change["contacts"][0]["wa_id"] = json!(from);
    serde_json::to_vec(&value).unwrap()
}

async fn post(client: &reqwest::Client, base: &str, body: Vec<u8>) -> reqwest::StatusCode {
    let signature = sign(&body);
    match client.post(format!("{base}/webhooks/whatsapp")).header("x-hub-signature-256", signature).body(body).send().await {
        Ok(response) => response.status(),
        Err(error) => panic!("webhook request failed: {error}"),
    }
}

async fn api_get(client: &reqwest::Client, base: &str, path: &str) -> Value {
    let response = client.get(format!("{base}{path}")).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
    assert!(response.status().is_success(), "GET {path}: {}", response.status());
    response.json().await.unwrap()
}

/// Wait until exactly one of `nodes` reports itself leader; its index.
async fn leader_of(nodes: &[&Node]) -> usize {
    for _ in 0..100 {
        let mut leaders = Vec::new();
        for (i, node) in nodes.iter().enumerate() {
            if node.metric(LEADER).await == 1.0 {
                leaders.push(i);
            }
        }
        assert!(leaders.len() <= 1, "two leaders at once: {leaders:?}");
        if let [leader] = leaders[..] {
            return leader;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no node became leader");
}

#[tokio::test]
async fn two_nodes_share_one_database_without_duplicates() {
    if postgres_admin_url().is_none() {
        eprintln!("skipped: set TEST_DATABASE_URL to run the multi-node test");
        return;
    }
    let database = TestDatabase::postgres().await;
    let graph = FakeGraph::start().await;
    let a = Node::start(&database.url, Some(graph.addr), "").await;
    let b = Node::start(&database.url, Some(graph.addr), "").await;
    let client = reqwest::Client::new();
    let first_leader = leader_of(&[&a, &b]).await;

    // An agent on node A.
    let mut agent = SseClient::connect(&a.base, None).await;

    // The same webhooks delivered to both nodes at once, twice each: one message apiece.
    const MESSAGES: usize = 40;
    let mut deliveries = Vec::new();
    for n in 0..MESSAGES {
        let body = whatsapp_text(&format!("wamid.CLUSTER{n:03}"), &format!("1650555{:04}", n % 5), &format!("hello {n}"));
        for base in [&a.base, &b.base, &a.base, &b.base] {
            let (client, base, body) = (client.clone(), base.clone(), body.clone());
            deliveries.push(tokio::spawn(async move { post(&client, &base, body).await }));
        }
    }
    for delivery in deliveries {
        let status = delivery.await.unwrap();
        assert!(status.is_success(), "a redelivery answered {status}");
    }
    let pool = sqlx::PgPool::connect(&database.url).await.unwrap();
    let (total, distinct): (i64, i64) =
        sqlx::query_as("SELECT COUNT(*), COUNT(DISTINCT external_id) FROM messages").fetch_one(&pool).await.unwrap();
    assert_eq!((total, distinct), (MESSAGES as i64, MESSAGES as i64), "one message per provider event");
    let contacts: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM contacts").fetch_one(&pool).await.unwrap();
    assert_eq!(contacts, 5, "five senders, five contacts (no orphans from racing nodes)");
    let conversations = api_get(&client, &b.base, "/api/v1/conversations").await["items"].as_array().unwrap().clone();
    assert_eq!(conversations.len(), 5);

    // What node B stored reaches the agent on node A, each message once.
    let mut seen = BTreeMap::new();
    while seen.len() < MESSAGES {
        let event = agent.next(Duration::from_secs(10)).await;
        if event.event.as_deref() == Some("message.created") {
            let id = event.data["message"]["external_id"].as_str().unwrap().to_string();
            *seen.entry(id).or_insert(0) += 1;
        }
    }
    let only_b = whatsapp_text("wamid.ONLY_B", "16505550000", "sent to node B only");
    assert!(post(&client, &b.base, only_b).await.is_success());
    let event = agent.next(Duration::from_secs(5)).await;
    assert_eq!(event.data["message"]["external_id"], "wamid.ONLY_B", "node A's agent sees node B's message");
    assert!(seen.values().all(|count| *count == 1), "each message announced once: {seen:?}");

    // Replies queued through both nodes reach the provider exactly once each.
    const REPLIES: usize = 30;
    let mut queued = Vec::new();
    for n in 0..REPLIES {
        let conversation = conversations[n % conversations.len()]["id"].as_i64().unwrap();
        let base = if n % 2 == 0 { &a.base } else { &b.base };
        let (client, base) = (client.clone(), base.clone());
        queued.push(tokio::spawn(async move {
            let response = client
                .post(format!("{base}/api/v1/conversations/{conversation}/messages"))
                .bearer_auth(ADMIN_TOKEN)
                .json(&json!({"text": format!("reply {n}")}))
                .send()
                .await
                .unwrap();
            assert!(response.status().is_success(), "reply {n}: {}", response.status());
        }));
    }
    for reply in queued {
        reply.await.unwrap();
    }
    graph.wait_for(REPLIES).await;
    // Give a second sender, if there were one, time to send again.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let texts: Vec<String> = graph.received().iter().map(|r| r.body["text"]["body"].as_str().unwrap().to_string()).collect();
    assert_eq!(texts.len(), REPLIES, "every reply sent once: {texts:?}");
    assert_eq!(texts.iter().collect::<BTreeSet<_>>().len(), REPLIES, "no reply sent twice: {texts:?}");

    // Background work runs on one node at a time; when the leader dies, the other takes over.
    let (mut leader, survivor) = if first_leader == 0 { (a, b) } else { (b, a) };
    assert_eq!(survivor.metric(LEADER).await, 0.0);
    assert_eq!(api_get(&client, &leader.base, "/readyz").await["leader"], true);
    assert_eq!(api_get(&client, &survivor.base, "/readyz").await["leader"], false);
    leader.child.start_kill().unwrap();
    leader.child.wait().await.unwrap();
    assert_eq!(leader_of(&[&survivor]).await, 0, "the surviving node takes over");
    let conversation = conversations[0]["id"].as_i64().unwrap();
    let response = client
        .post(format!("{}/api/v1/conversations/{conversation}/messages", survivor.base))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"text": "after failover"}))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    let received = graph.wait_for(REPLIES + 1).await;
    assert_eq!(received.last().unwrap().body["text"]["body"], "after failover");
    pool.close().await;
}

/// Every node drains the one outbox: each reply reaches the provider once, both nodes send,
/// and between them the channel keeps to its rate, 50/s within 10% over six seconds (a bucket
/// per node would let two nodes send at twice the rate).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_drain_one_outbox_at_the_channel_rate() {
    if postgres_admin_url().is_none() {
        eprintln!("skipped: set TEST_DATABASE_URL to run the multi-node test");
        return;
    }
    const REPLIES: usize = 400;
    let database = TestDatabase::postgres().await;
    let graph = FakeGraph::start().await;
    graph.set_latency_ms(40);
    let delivery = "[channels.delivery]\nrate_per_sec = 50.0\nburst = 10\nrecipient_interval_ms = 0\n";
    let a = Node::start_with(&database.url, Some(graph.addr), "", delivery).await;
    let b = Node::start_with(&database.url, Some(graph.addr), "", delivery).await;
    let client = reqwest::Client::new();
    assert!(post(&client, &a.base, whatsapp_text("wamid.DRAIN", "16505550100", "hello")).await.is_success());
    let conversation = api_get(&client, &b.base, "/api/v1/conversations").await["items"][0]["id"].as_i64().unwrap();

    // Queued through both nodes, eight at a time, faster than the channel may send them.
    let mut queuers = Vec::new();
    for lane in 0..8 {
        let (client, bases) = (client.clone(), [a.base.clone(), b.base.clone()]);
        queuers.push(tokio::spawn(async move {
            for n in (lane..REPLIES).step_by(8) {
                let response = client
                    .post(format!("{}/api/v1/conversations/{conversation}/messages", bases[n % 2]))
                    .bearer_auth(ADMIN_TOKEN)
                    .json(&json!({"text": format!("drain {n}")}))
                    .send()
                    .await
                    .unwrap();
                assert!(response.status().is_success(), "reply {n}: {}", response.status());
            }
        }));
    }
    for queuer in queuers {
        queuer.await.unwrap();
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while graph.received().len() < REPLIES && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Time for a second send of anything, were there one.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let received = graph.received();
    let texts: Vec<&str> = received.iter().map(|r| r.body["text"]["body"].as_str().unwrap()).collect();
    let distinct: BTreeSet<&str> = texts.iter().copied().collect();
    assert_eq!(distinct.len(), REPLIES, "every reply sent");
    assert_eq!(texts.len(), REPLIES, "no reply sent twice");

    let sent = r#"switchboard_outbox_attempts_total{channel="whatsapp",outcome="sent"}"#;
    let (by_a, by_b) = (a.metric(sent).await, b.metric(sent).await);
    assert_eq!(by_a + by_b, REPLIES as f64);
    assert!(by_a > 0.0 && by_b > 0.0, "both nodes send: {by_a} and {by_b}");

    let start = received[0].at;
    let in_six_seconds = received.iter().filter(|r| r.at.duration_since(start) < Duration::from_secs(6)).count();
    // A burst of 10, then 50 a second between the two nodes: 310 in six seconds.
    assert!((279..=341).contains(&in_six_seconds), "{in_six_seconds} sends in the first 6 s at 50/s (by {by_a} and {by_b})");
}

#[tokio::test]
async fn database_outage_answers_503_and_recovers_without_loss() {
    let Some(admin_url) = postgres_admin_url() else {
        eprintln!("skipped: set TEST_DATABASE_URL to run the database outage test");
        return;
    };
    let database = TestDatabase::postgres().await;
    let proxy = OutageProxy::start(postgres_addr(&admin_url)).await;
    // Short timeouts, so requests during the outage fail fast instead of hanging.
    let node = Node::start(&proxy.route(&database.url), None, "acquire_timeout_ms = 1000\nstatement_timeout_ms = 2000").await;
    let client = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap();

    #[derive(Debug)]
    struct Delivery {
        id: String,
        sent_at: Instant,
        answered_at: Instant,
        status: reqwest::StatusCode,
    }
    let (results_tx, mut results_rx) = tokio::sync::mpsc::unbounded_channel::<Delivery>();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut senders = Vec::new();
    for worker in 0..6 {
        let (client, base, results, stop) = (client.clone(), node.base.clone(), results_tx.clone(), stop.clone());
        senders.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let id = format!("wamid.OUTAGE{worker}x{n:05}");
                let sent_at = Instant::now();
                let status = post(&client, &base, whatsapp_text(&id, &format!("1650555{worker:04}"), "load")).await;
                results.send(Delivery { id, sent_at, answered_at: Instant::now(), status }).unwrap();
                n += 1;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }));
    }
    drop(results_tx);

    tokio::time::sleep(Duration::from_millis(1500)).await;
    let cut_at = Instant::now();
    proxy.pause();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let ready = client.get(format!("{}/readyz", node.base)).send().await.unwrap();
    assert_eq!(ready.status(), 503, "readiness fails while the database is away");
    let answer: Value = client
        .post(format!("{}/webhooks/whatsapp", node.base))
        .header("x-hub-signature-256", sign(&whatsapp_text("wamid.PROBE", "16505559999", "x")))
        .body(whatsapp_text("wamid.PROBE", "16505559999", "x"))
        .send()
        .await
        .inspect(|response| {
            assert_eq!(response.status(), 503, "a webhook during the outage is refused with 503");
            assert!(response.headers().contains_key("retry-after"));
        })
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["error"]["code"], "storage_unavailable", "{answer}");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let restored_at = Instant::now();
    proxy.resume();

    // The node recovers by itself.
    let mut recovered = false;
    for _ in 0..100 {
        if client.get(format!("{}/readyz", node.base)).send().await.is_ok_and(|r| r.status() == 200) {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "readiness comes back when the database does");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for sender in senders {
        sender.await.unwrap();
    }
    let mut deliveries = Vec::new();
    while let Some(delivery) = results_rx.recv().await {
        deliveries.push(delivery);
    }

    // Sent after the cut and answered before the database came back (a request still waiting
    // for a connection when it returns may rightly succeed).
    let refused_during: Vec<&Delivery> =
        deliveries.iter().filter(|d| d.sent_at > cut_at && d.answered_at < restored_at).collect();
    assert!(!refused_during.is_empty(), "load kept coming during the outage");
    for delivery in &refused_during {
        assert_eq!(delivery.status, 503, "sent while the database was away, yet answered {delivery:?}");
    }
    for delivery in &deliveries {
        assert!(delivery.status.is_success() || delivery.status == 503, "unexpected answer {delivery:?}");
    }
    let acknowledged: BTreeSet<&str> = deliveries.iter().filter(|d| d.status.is_success()).map(|d| d.id.as_str()).collect();
    assert!(deliveries.iter().any(|d| d.sent_at > restored_at && d.status.is_success()), "ingest resumed after recovery");

    // Every acknowledged webhook is stored exactly once; the provider redelivers the refused
    // ones, and they too end up stored once.
    let pool = sqlx::PgPool::connect(&database.url).await.unwrap();
    let stored: Vec<(String, i64)> =
        sqlx::query_as("SELECT external_id, COUNT(*) FROM messages GROUP BY external_id").fetch_all(&pool).await.unwrap();
    let stored: BTreeMap<String, i64> = stored.into_iter().collect();
    for id in &acknowledged {
        assert_eq!(stored.get(*id), Some(&1), "acknowledged webhook {id} stored exactly once");
    }
    for delivery in deliveries.iter().filter(|d| !d.status.is_success()) {
        let status = post(&client, &node.base, whatsapp_text(&delivery.id, "16505550001", "load")).await;
        assert!(status.is_success(), "redelivery of {} after recovery answered {status}", delivery.id);
    }
    let (total, distinct): (i64, i64) =
        sqlx::query_as("SELECT COUNT(*), COUNT(DISTINCT external_id) FROM messages WHERE external_id LIKE 'wamid.OUTAGE%'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(total, distinct, "no duplicates");
    assert_eq!(total as usize, deliveries.len(), "every delivery stored once in the end");
    pool.close().await;
}
