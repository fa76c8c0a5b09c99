//! Store-level tests run on both backends: SQLite always, PostgreSQL when
//! `TEST_DATABASE_URL` names a server (`.ci/run` sets it).

use super::scratch::ScratchDatabase;
use super::Store;
use crate::config::DatabaseConfig;

/// A store on a database of its own, removed when this is dropped.
pub struct TestStore {
    pub store: Store,
    settings: DatabaseConfig,
    _database: TestDatabase,
}

impl TestStore {
    /// Another node on the same database: a second store on PostgreSQL. SQLite supports one
    /// process per database file (docs/deployment.md), so there it is the same store.
    pub async fn another_node(&self) -> Store {
        match self._database {
            TestDatabase::Sqlite(_) => self.store.clone(),
            TestDatabase::Postgres(_) => Store::open(&self.settings).await.expect("second store opens"),
        }
    }
}

enum TestDatabase {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres(#[allow(dead_code)] ScratchDatabase),
}

impl std::ops::Deref for TestStore {
    type Target = Store;
    fn deref(&self) -> &Store {
        &self.store
    }
}

pub async fn sqlite() -> TestStore {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("test.db").display());
    let settings = DatabaseConfig { url, max_connections: 2, max_batch: 16, ..Default::default() };
    let store = Store::open(&settings).await.expect("SQLite store opens");
    TestStore { store, settings, _database: TestDatabase::Sqlite(dir) }
}

/// `None` when `TEST_DATABASE_URL` is not set.
pub async fn postgres() -> Option<TestStore> {
    let admin_url = std::env::var("TEST_DATABASE_URL").ok().filter(|url| !url.is_empty())?;
    let database = ScratchDatabase::create(&admin_url).await.expect("creating a scratch PostgreSQL database");
    let settings = DatabaseConfig { url: database.url.clone(), max_connections: 4, max_batch: 16, ..Default::default() };
    let store = Store::open(&settings).await.expect("PostgreSQL store opens");
    Some(TestStore { store, settings, _database: TestDatabase::Postgres(database) })
}

/// For each `async fn name(store: TestStore)`, a test module `name` with `sqlite` and
/// `postgres` tests.
macro_rules! on_both_backends {
    ($($test:ident),* $(,)?) => {
        $(
            mod $test {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$test($crate::store::testing::sqlite().await).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    match $crate::store::testing::postgres().await {
                        Some(store) => super::$test(store).await,
                        None => eprintln!("skipped: set TEST_DATABASE_URL to run this test on PostgreSQL"),
                    }
                }
            }
        )*
    };
}
pub(crate) use on_both_backends;

/// A Messenger channel with one customer's conversation (their message `m_inbound`); returns
/// the conversation's id.
pub async fn seeded_conversation(store: &Store) -> i64 {
    use crate::model::{Event, InboundMessage, MessageKind, Party};
    let info = crate::model::PluginInfo::bare("m");
    store.upsert_channel("messenger", "messenger", &info).await.expect("channel");
    let message = Event::Message(InboundMessage {
        external_id: "m_inbound".into(),
        sender: Party { id: "psid-1".into(), display_name: Some("Ana".into()), ..Party::default() },
        recipient: Some("page-1".into()),
        kind: MessageKind::Text,
        text: Some("hello".into()),
        attachments: vec![],
        reply_to: None,
        timestamp_ms: 1,
        echo: false,
        extra: None,
    });
    let request = super::ingest::IngestRequest {
        channel_id: "messenger".into(),
        request_id: "r".into(),
        raw_body: bytes::Bytes::new(),
        events: vec![message],
        threads: Vec::new(),
        claims: Vec::new(),
    };
    store.ingest(request).await.expect("ingest");
    let page = store.list_conversations(None, None, &Default::default(), super::views::Sort::Newest, 10, None).await.expect("list");
    page.items[0].id
}
