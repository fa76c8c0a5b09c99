//! The scenarios. Each starts its own server (except the in-process plugin runtime
//! scenario), measures, stops it, and returns a serialisable result. Ingest runs twice: on
//! SQLite, as every scenario does, and on a scratch PostgreSQL database.

use crate::graph::{FakeGraph, Faults, GraphStats};
use crate::load::{closed_loop, http_client, open_loop, Generator, Latency, PhaseReport, PhaseRun, Senders, Stop, Target};
use crate::machine::{pin_self, CpuMeter};
use crate::server::{Env, LogSummary, Options, Server};
use crate::sse::Agent;
use crate::webhook::{Webhook, WebhookFactory, ADMIN_TOKEN};
use anyhow::{bail, Context, Result};
use serde::Serialize;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use sqlx::{Connection, PgConnection};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use switchboard::store::scratch::ScratchDatabase;

/// Resolved settings for one run (after `--quick` and flags).
#[derive(Clone, Debug, Serialize)]
pub struct Settings {
    pub quick: bool,
    pub rates: Vec<u64>,
    pub phase_s: f64,
    pub max_s: f64,
    pub warmup_s: f64,
    /// Open-loop warm-up right after a server starts (ingest, live), excluded from results.
    pub server_warmup_s: f64,
    pub connections: usize,
    pub max_inflight: usize,
    pub max_backlog_s: f64,
    pub senders: u64,
    pub baseline_check_s: f64,
    pub live_rate: u64,
    pub live_s: f64,
    pub agents: usize,
    pub outbound_conversations: u64,
    pub outbound_replies: u64,
    pub outbound_timeout_s: f64,
    /// The gateways' `outbox.concurrency`.
    pub outbox_concurrency: u32,
    pub faults: Faults,
    pub plugin_calls: u64,
    pub storage_counts: Vec<u64>,
    pub storage_budget_s: f64,
    pub list_requests: usize,
    /// Where the PostgreSQL ingest scenario creates its scratch database (password removed).
    pub postgres_admin_url: String,
    /// Tag in generated message ids (unique per run).
    pub run_tag: String,
}

fn secs(value: f64) -> Duration {
    Duration::from_secs_f64(value.max(0.0))
}

/// A phase during which other work used more than this (% of one core) is flagged.
pub const DISTURBED_PCT: f64 = 15.0;

/// Waiting for the machine to quiet down before a scenario.
#[derive(Clone, Debug, Serialize)]
pub struct QuietWait {
    pub scenario: String,
    pub waited_s: f64,
    /// Other work when the scenario started, % of one core.
    pub busy_elsewhere_pct: Option<f64>,
    pub quiet: bool,
}

/// Shared state across scenarios.
pub struct Ctx {
    pub env: Env,
    pub settings: Settings,
    pub pinned: bool,
    pub nproc: usize,
    /// `--wait-idle-secs`.
    pub wait_idle: Duration,
    pub quiet_waits: std::sync::Mutex<Vec<QuietWait>>,
    /// `--dump-samples`: write every phase's raw samples as CSV here.
    pub dump_dir: Option<std::path::PathBuf>,
    pub dumped: AtomicU64,
}

impl Ctx {
    /// Before a scenario: wait (up to `--wait-idle-secs`) for other work on the machine to
    /// stop, and record how busy it was.
    pub async fn settle(&self, scenario: &str) {
        let started = Instant::now();
        let mut busy;
        loop {
            busy = crate::machine::busy_elsewhere(Duration::from_millis(500), self.env.ticks_per_s).await;
            let quiet = busy.is_none_or(|b| b < 10.0);
            if quiet || started.elapsed() >= self.wait_idle {
                if !quiet {
                    eprintln!("bench:   warning: other work is using {:.0}% of a core; results may be disturbed", busy.unwrap_or(0.0));
                }
                self.quiet_waits.lock().unwrap().push(QuietWait {
                    scenario: scenario.into(),
                    waited_s: started.elapsed().as_secs_f64(),
                    busy_elsewhere_pct: busy,
                    quiet,
                });
                return;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    pub(crate) fn generator(&self, server: &Server, scenario: &str, senders: Senders) -> Result<Generator> {
        Ok(Generator {
            target: Target { client: http_client(Some(Duration::from_secs(30))), url: format!("{}/webhooks/whatsapp", server.base) },
            factory: Arc::new(WebhookFactory::new(&format!("{scenario}{}", self.settings.run_tag))?),
            seqs: Arc::new(AtomicU64::new(0)),
            senders,
        })
    }

    fn backlog(&self, _rate: f64) -> Duration {
        secs(self.settings.max_backlog_s)
    }

    /// Run a phase under a CPU meter and print a progress line.
    pub(crate) async fn measure<F: Future<Output = PhaseRun>>(&self, name: &str, server_pid: Option<u32>, phase: F) -> (PhaseReport, PhaseRun) {
        self.measure_with_database(name, server_pid, None, phase).await
    }

    /// [`Ctx::measure`], also metering the PostgreSQL processes of `database` (a database
    /// name): they do part of the server's work outside its process.
    async fn measure_with_database<F: Future<Output = PhaseRun>>(
        &self,
        name: &str,
        server_pid: Option<u32>,
        database: Option<&str>,
        phase: F,
    ) -> (PhaseReport, PhaseRun) {
        let meter = CpuMeter::start_with_database(server_pid, database, self.env.ticks_per_s);
        let run = phase.await;
        let cpu = meter.finish();
        if let Some(dir) = &self.dump_dir {
            let index = self.dumped.fetch_add(1, Ordering::Relaxed);
            let file: String = name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
            let path = dir.join(format!("{index:02}-{file}.csv"));
            let mut csv = String::from("seq,scheduled_us,sent_us,done_us,status\n");
            let us = |t: Instant| t.saturating_duration_since(run.window_start).as_micros() as i64 - if t < run.window_start { run.window_start.duration_since(t).as_micros() as i64 } else { 0 };
            for x in &run.samples {
                csv.push_str(&format!("{},{},{},{},{}\n", x.seq, us(x.scheduled), us(x.sent), us(x.done), x.status));
            }
            if let Err(error) = std::fs::create_dir_all(dir).and_then(|_| std::fs::write(&path, csv)) {
                eprintln!("bench: cannot write {}: {error}", path.display());
            }
        }
        let mut report = PhaseReport::from_run(name, &run);
        report.server_cpu_pct = cpu.server;
        report.driver_cpu_pct = cpu.driver;
        report.database_cpu_pct = cpu.database;
        report.other_cpu_pct = cpu.other;
        report.disturbed = cpu.other.is_some_and(|other| other > DISTURBED_PCT);
        report.server_cpu_us_per_request =
            cpu.server.filter(|_| report.achieved_rate > 0.0).map(|pct| pct / 100.0 / report.achieved_rate * 1e6);
        eprintln!(
            "bench:   {:<28} {:>9.0}/s  p50 {:>8.2} ms  p99 {:>8.2} ms  max {:>8.2} ms  errors {}  cpu srv/drv/other {}/{}/{}%{}{}",
            name,
            report.achieved_rate,
            report.latency.p50_ms,
            report.latency.p99_ms,
            report.latency.max_ms,
            report.non_2xx + report.transport_errors,
            report.server_cpu_pct.map_or(-1.0, f64::round),
            report.driver_cpu_pct.map_or(-1.0, f64::round),
            report.other_cpu_pct.map_or(-1.0, f64::round),
            report.database_cpu_pct.map(|db| format!(" db {db:.0}%")).unwrap_or_default(),
            if report.saturated { "  SATURATED" } else { "" }
        );
        (report, run)
    }
}

fn acked(run: &PhaseRun) -> impl Iterator<Item = u64> + '_ {
    run.samples.iter().filter(|s| s.ok()).map(|s| s.seq)
}

// ---------------------------------------------------------------------------------------
// Correctness check
// ---------------------------------------------------------------------------------------

#[derive(Clone, Debug, Serialize)]
pub struct Verification {
    /// Webhooks answered 2xx.
    pub acked: u64,
    /// Of those, found in `messages` exactly once.
    pub stored_once: u64,
    pub missing: u64,
    pub duplicated: u64,
    /// Any `external_id` stored more than once in the whole table.
    pub duplicate_rows_in_table: u64,
    pub missing_examples: Vec<String>,
    pub ok: bool,
}

async fn open_db(path: &Path, read_only: bool) -> Result<SqlitePool> {
    let options = SqliteConnectOptions::new().filename(path).read_only(read_only).create_if_missing(false);
    SqlitePoolOptions::new().max_connections(1).connect_with(options).await.with_context(|| format!("opening {}", path.display()))
}

/// A stopped server's database, for verification.
#[derive(Clone, Copy)]
enum Stored<'a> {
    Sqlite(&'a Path),
    /// A connection URL.
    Postgres(&'a str),
}

/// Rows in `messages` per `external_id`. The statement is the same on both backends.
async fn stored_counts(db: Stored<'_>) -> Result<Vec<(String, i64)>> {
    const COUNTS: &str = "SELECT external_id, COUNT(*) FROM messages WHERE external_id IS NOT NULL GROUP BY external_id";
    match db {
        Stored::Sqlite(path) => {
            let pool = open_db(path, false).await?;
            let rows = sqlx::query_as(COUNTS).fetch_all(&pool).await?;
            pool.close().await;
            Ok(rows)
        }
        Stored::Postgres(url) => {
            let mut conn = PgConnection::connect(url).await.context("connecting to the scenario's PostgreSQL database")?;
            let rows = sqlx::query_as(COUNTS).fetch_all(&mut conn).await?;
            conn.close().await?;
            Ok(rows)
        }
    }
}

/// Every acknowledged webhook must be in `messages` exactly once. Run after the server stopped.
async fn verify(db: Stored<'_>, factory: &WebhookFactory, acked: impl IntoIterator<Item = u64>) -> Result<Verification> {
    let rows = stored_counts(db).await?;
    let duplicate_rows_in_table = rows.iter().filter(|(_, n)| *n > 1).count() as u64;
    let stored: HashMap<String, i64> = rows.into_iter().collect();
    let mut result =
        Verification { acked: 0, stored_once: 0, missing: 0, duplicated: 0, duplicate_rows_in_table, missing_examples: vec![], ok: false };
    for seq in acked {
        result.acked += 1;
        let wamid = factory.wamid(seq);
        match stored.get(&wamid) {
            Some(1) => result.stored_once += 1,
            Some(_) => result.duplicated += 1,
            None => {
                result.missing += 1;
                if result.missing_examples.len() < 5 {
                    result.missing_examples.push(wamid);
                }
            }
        }
    }
    result.ok = result.missing == 0 && result.duplicated == 0 && result.duplicate_rows_in_table == 0;
    Ok(result)
}

/// CPU seconds per server thread name since `before`.
fn thread_delta(before: &BTreeMap<String, u64>, pid: u32, ticks_per_s: f64) -> BTreeMap<String, f64> {
    crate::machine::thread_ticks(pid)
        .into_iter()
        .map(|(name, ticks)| {
            let earlier = before.get(&name).copied().unwrap_or(0);
            (name, ticks.saturating_sub(earlier) as f64 / ticks_per_s)
        })
        .filter(|(_, secs)| *secs > 0.0)
        .collect()
}

fn db_bytes(db: &Path) -> (u64, u64) {
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let wal = db.with_file_name(format!("{}-wal", db.file_name().unwrap_or_default().to_string_lossy()));
    (size(db), size(&wal))
}

/// A few figures from the gateway's own `/metrics`, as evidence of where time goes.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ServerMetrics {
    /// Mean webhooks per group commit.
    pub mean_ingest_batch: Option<f64>,
    pub ingest_batches: Option<f64>,
    /// Mean `handle_webhook` (verify + parse) inside the gateway, µs.
    pub mean_plugin_webhook_call_us: Option<f64>,
    /// Mean request-arrival-to-commit inside the gateway, ms.
    pub mean_server_ingest_ms: Option<f64>,
    /// Routing runs applied (`switchboard_routing_runs_total`), when routing is on.
    pub routing_runs: Option<f64>,
    /// Mean commit-to-decision lag of the routing stage, ms.
    pub mean_routing_lag_ms: Option<f64>,
    /// Policies skipped for a failure: must stay 0.
    pub routing_skipped: Option<f64>,
}

async fn scrape_metrics(base: &str) -> ServerMetrics {
    let Ok(response) = http_client(Some(Duration::from_secs(5))).get(format!("{base}/metrics")).send().await else {
        return ServerMetrics::default();
    };
    let text = response.text().await.unwrap_or_default();
    let sum = |name: &str, label: Option<&str>| -> Option<f64> {
        let mut found = None;
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let Some((key, value)) = line.rsplit_once(' ') else { continue };
            let metric = key.split('{').next().unwrap_or(key);
            if metric == name && label.is_none_or(|l| key.contains(l)) {
                *found.get_or_insert(0.0) += value.parse::<f64>().unwrap_or(0.0);
            }
        }
        found
    };
    let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    };
    let batches = sum("switchboard_ingest_batch_size_count", None);
    ServerMetrics {
        mean_ingest_batch: ratio(sum("switchboard_ingest_batch_size_sum", None), batches),
        ingest_batches: batches,
        mean_plugin_webhook_call_us: ratio(
            sum("switchboard_plugin_call_seconds_sum", Some("call=\"webhook\"")),
            sum("switchboard_plugin_call_seconds_count", Some("call=\"webhook\"")),
        )
        .map(|s| s * 1e6),
        mean_server_ingest_ms: ratio(sum("switchboard_webhook_ingest_seconds_sum", None), sum("switchboard_webhook_ingest_seconds_count", None))
            .map(|s| s * 1e3),
        routing_runs: sum("switchboard_routing_runs_total", None),
        mean_routing_lag_ms: ratio(sum("switchboard_routing_lag_seconds_sum", None), sum("switchboard_routing_lag_seconds_count", None)).map(|s| s * 1e3),
        routing_skipped: sum("switchboard_routing_policy_skipped_total", None),
    }
}

// ---------------------------------------------------------------------------------------
// 1. Baseline
// ---------------------------------------------------------------------------------------

#[derive(Clone, Debug, Serialize)]
pub struct BaselineResult {
    pub startup_ms: f64,
    /// Closed loop: the machine's HTTP ceiling for this driver.
    pub max: PhaseReport,
    /// Open loop at the highest ingest rate: shows the driver can pace it and what latency
    /// the driver itself adds.
    pub driver_check: PhaseReport,
}

pub async fn baseline(ctx: &Ctx) -> Result<BaselineResult> {
    let s = &ctx.settings;
    let server = Server::baseline(&ctx.env).await?;
    let generator = ctx.generator(&server, "B", Senders::Pool(s.senders))?;
    let stop = Stop::After { duration: secs(s.max_s), warmup: secs(s.warmup_s) };
    let (max, _) = ctx.measure(&format!("max ({} conns)", s.connections), Some(server.pid), closed_loop(&generator, s.connections, stop)).await;
    let rate = s.rates.iter().copied().max().unwrap_or(10_000) as f64;
    let (driver_check, _) = ctx
        .measure(
            &format!("open loop {rate}/s"),
            Some(server.pid),
            open_loop(&generator, rate, secs(s.baseline_check_s), s.max_inflight, ctx.backlog(rate)),
        )
        .await;
    let startup_ms = server.startup.as_secs_f64() * 1e3;
    server.stop().await?;
    Ok(BaselineResult { startup_ms, max, driver_check })
}

// ---------------------------------------------------------------------------------------
// 2. Ingest (on SQLite, and 2b. on PostgreSQL)
// ---------------------------------------------------------------------------------------

/// The database an ingest run stores into. Everything else about the two runs is the same,
/// so their results differ by the backend alone.
pub enum IngestDb {
    /// A new SQLite file in the scenario's folder, as every other scenario uses.
    Sqlite,
    /// SQLite, with the five bundled routing policies chained after every commit: the
    /// difference to `Sqlite` is what routing costs ingest on the same core.
    SqliteRouted,
    /// A new, empty PostgreSQL database, dropped with the value.
    Postgres(ScratchDatabase),
}

impl IngestDb {
    /// The scenario's name: its folder under `<out>/work` and its name in the report.
    pub fn scenario(&self) -> &'static str {
        match self {
            IngestDb::Sqlite => "ingest",
            IngestDb::SqliteRouted => "ingest-routed",
            IngestDb::Postgres(_) => "ingest-postgres",
        }
    }

    fn backend(&self) -> &'static str {
        match self {
            IngestDb::Sqlite | IngestDb::SqliteRouted => "sqlite",
            IngestDb::Postgres(_) => "postgres",
        }
    }

    /// Message-id tag, so the two runs' webhooks never share an id.
    fn tag(&self) -> &'static str {
        match self {
            IngestDb::Sqlite => "I",
            IngestDb::SqliteRouted => "IR",
            IngestDb::Postgres(_) => "IP",
        }
    }

    fn options(&self) -> Options {
        match self {
            IngestDb::Sqlite => Options::default(),
            IngestDb::SqliteRouted => Options { routing: true, ..Default::default() },
            IngestDb::Postgres(db) => Options { postgres: Some(db.url.clone()), ..Default::default() },
        }
    }

    /// The PostgreSQL database's name: its processes' titles carry it, which is how their CPU
    /// is metered.
    fn postgres_name(&self) -> Option<&str> {
        match self {
            IngestDb::Sqlite | IngestDb::SqliteRouted => None,
            IngestDb::Postgres(db) => db.url.split('?').next().and_then(|url| url.rsplit('/').next()),
        }
    }

    /// Where the stored messages are, once the server (whose SQLite file is `sqlite`) stopped.
    fn stored<'a>(&'a self, sqlite: Option<&'a Path>) -> Result<Stored<'a>> {
        match self {
            IngestDb::Sqlite | IngestDb::SqliteRouted => Ok(Stored::Sqlite(sqlite.context("no database")?)),
            IngestDb::Postgres(db) => Ok(Stored::Postgres(&db.url)),
        }
    }

    /// Bytes on disk while the server runs: the SQLite file and its WAL, or PostgreSQL's
    /// `pg_database_size` (its WAL belongs to the whole cluster, so it is not counted).
    async fn size(&self, server: &Server) -> Result<(u64, Option<u64>)> {
        match self {
            IngestDb::Sqlite | IngestDb::SqliteRouted => {
                let (db, wal) = db_bytes(server.db.as_deref().context("no database")?);
                Ok((db, Some(wal)))
            }
            IngestDb::Postgres(db) => {
                let mut conn = PgConnection::connect(&db.url).await?;
                let (bytes,): (i64,) = sqlx::query_as("SELECT pg_database_size(current_database())").fetch_one(&mut conn).await?;
                conn.close().await?;
                Ok((bytes.max(0) as u64, None))
            }
        }
    }
}

/// A scratch database on the PostgreSQL server at `admin_url`, or why there is none: the
/// PostgreSQL scenario is then skipped, not failed, since not every machine runs PostgreSQL.
pub async fn postgres_database(admin_url: &str) -> std::result::Result<ScratchDatabase, String> {
    const PATIENCE: Duration = Duration::from_secs(10);
    match tokio::time::timeout(PATIENCE, ScratchDatabase::create(admin_url)).await {
        Ok(Ok(db)) => Ok(db),
        Ok(Err(error)) => Err(format!("no PostgreSQL scratch database at {}: {error}", without_password(admin_url))),
        Err(_) => Err(format!("PostgreSQL at {} did not answer within {} s", without_password(admin_url), PATIENCE.as_secs())),
    }
}

/// `url` with any password replaced by `***`, for the report and the console.
pub fn without_password(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else { return url.to_string() };
    let authority_end = url[scheme_end..].find(['/', '?']).map_or(url.len(), |i| scheme_end + i);
    let Some(at) = url[scheme_end..authority_end].rfind('@').map(|i| scheme_end + i) else { return url.to_string() };
    match url[scheme_end..at].find(':') {
        Some(colon) => format!("{}:***{}", &url[..scheme_end + colon], &url[at..]),
        None => url.to_string(),
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct IngestResult {
    /// `sqlite` or `postgres`.
    pub database: &'static str,
    pub startup_ms: f64,
    pub sender_pool: u64,
    /// Right after start-up (connections, caches, allocator pools): not part of the results.
    pub warmup: PhaseReport,
    pub open_loop: Vec<PhaseReport>,
    pub max: PhaseReport,
    /// `max.achieved_rate / baseline max` when the baseline ran.
    pub ratio_to_baseline: Option<f64>,
    /// Baseline server CPU per request ÷ gateway (plus PostgreSQL) CPU per webhook, both at
    /// max throughput: the same ratio in server-side cost, unaffected by a driver-bound
    /// baseline.
    pub cpu_ratio_to_baseline: Option<f64>,
    pub server_metrics: ServerMetrics,
    pub db_bytes: u64,
    /// SQLite's WAL file; `None` on PostgreSQL, whose WAL is shared by the whole cluster.
    pub wal_bytes: Option<u64>,
    /// Server CPU seconds over the whole scenario, by thread name.
    pub server_thread_cpu_s: BTreeMap<String, f64>,
    /// CPU seconds of the PostgreSQL processes serving the database over the same span
    /// (`None` on SQLite).
    pub database_cpu_s: Option<f64>,
    pub server_log: LogSummary,
    pub verification: Verification,
}

/// Signed webhooks into a gateway storing them in `db`: a warm-up, open loop at each rate,
/// then closed-loop maximum; afterwards every acknowledged webhook must be stored exactly once.
pub async fn ingest(ctx: &Ctx, baseline: Option<&BaselineResult>, db: &IngestDb) -> Result<IngestResult> {
    let baseline_max = baseline.map(|b| b.max.achieved_rate);
    let baseline_cpu = baseline.and_then(|b| b.max.server_cpu_us_per_request);
    let s = &ctx.settings;
    let server = Server::switchboard(&ctx.env, db.scenario(), &db.options()).await?;
    let generator = ctx.generator(&server, db.tag(), Senders::Pool(s.senders))?;
    let database = db.postgres_name();
    let mut acked_seqs = Vec::new();
    let warm_rate = s.rates.iter().copied().min().unwrap_or(1000) as f64;
    let (warmup, run) = ctx
        .measure_with_database(
            &format!("warm-up {warm_rate}/s"),
            Some(server.pid),
            database,
            open_loop(&generator, warm_rate, secs(s.server_warmup_s), s.max_inflight, ctx.backlog(warm_rate)),
        )
        .await;
    acked_seqs.extend(acked(&run));
    let threads_before = crate::machine::thread_ticks(server.pid);
    let database_before = database.map(crate::machine::database_ticks);
    let mut phases = Vec::new();
    for &rate in &s.rates {
        let rate = rate as f64;
        let (report, run) = ctx
            .measure_with_database(
                &format!("open loop {rate}/s"),
                Some(server.pid),
                database,
                open_loop(&generator, rate, secs(s.phase_s), s.max_inflight, ctx.backlog(rate)),
            )
            .await;
        acked_seqs.extend(acked(&run));
        phases.push(report);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let stop = Stop::After { duration: secs(s.max_s), warmup: secs(s.warmup_s) };
    let (max, run) = ctx
        .measure_with_database(&format!("max ({} conns)", s.connections), Some(server.pid), database, closed_loop(&generator, s.connections, stop))
        .await;
    acked_seqs.extend(acked(&run));
    let server_thread_cpu_s = thread_delta(&threads_before, server.pid, ctx.env.ticks_per_s);
    let database_cpu_s = database.zip(database_before).map(|(name, before)| {
        crate::machine::database_delta(&before, &crate::machine::database_ticks(name)) as f64 / ctx.env.ticks_per_s
    });
    let server_metrics = scrape_metrics(&server.base).await;
    let (db_bytes, wal_bytes) = db.size(&server).await?;
    let sqlite = server.db.clone();
    let startup_ms = server.startup.as_secs_f64() * 1e3;
    let server_log = server.stop().await?;
    let verification = verify(db.stored(sqlite.as_deref())?, &generator.factory, acked_seqs).await?;
    eprintln!(
        "bench:   verification: {} acked, {} stored once, {} missing, {} duplicated",
        verification.acked, verification.stored_once, verification.missing, verification.duplicated
    );
    Ok(IngestResult {
        database: db.backend(),
        startup_ms,
        sender_pool: s.senders,
        warmup,
        open_loop: phases,
        ratio_to_baseline: baseline_max.filter(|b| *b > 0.0).map(|b| max.achieved_rate / b),
        cpu_ratio_to_baseline: match (baseline_cpu, max.system_cpu_us_per_request()) {
            (Some(b), Some(i)) if i > 0.0 => Some(b / i),
            _ => None,
        },
        max,
        server_metrics,
        db_bytes,
        wal_bytes,
        server_thread_cpu_s,
        database_cpu_s,
        server_log,
        verification,
    })
}

// ---------------------------------------------------------------------------------------
// 3. Live stream
// ---------------------------------------------------------------------------------------

#[derive(Clone, Debug, Serialize)]
pub struct LiveResult {
    pub agents: usize,
    pub connected: usize,
    /// Before the agents connect: not part of the results.
    pub warmup: PhaseReport,
    pub ingest: PhaseReport,
    /// From the webhook's 2xx (seen by the driver) to the event on an agent's stream, over
    /// every (event, agent) pair. Events that arrived before the 2xx count as 0.
    pub ack_to_stream: Latency,
    /// The worst agent's p99.
    pub worst_agent_p99_ms: f64,
    pub expected_deliveries: u64,
    pub delivered: u64,
    pub missing: u64,
    pub duplicates: u64,
    /// Events that reached the agent before the 2xx reached the driver.
    pub before_ack: u64,
    pub agent_errors: Vec<String>,
    pub server_log: LogSummary,
    pub verification: Verification,
}

pub async fn live(ctx: &Ctx) -> Result<LiveResult> {
    let s = &ctx.settings;
    let server = Server::switchboard(&ctx.env, "live", &Options::default()).await?;
    let generator = ctx.generator(&server, "L", Senders::Pool(s.senders))?;
    let rate = s.live_rate as f64;
    let (warmup, warm_run) = ctx
        .measure(
            &format!("warm-up {rate}/s"),
            Some(server.pid),
            open_loop(&generator, rate, secs(s.server_warmup_s), s.max_inflight, ctx.backlog(rate)),
        )
        .await;
    let sse_client = http_client(None);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut agents = Vec::new();
    for _ in 0..s.agents {
        agents.push(Agent::connect(&sse_client, &server.base, stop_rx.clone()).await?);
    }
    let (ingest, run) = ctx
        .measure(
            &format!("open loop {rate}/s, {} agents", s.agents),
            Some(server.pid),
            open_loop(&generator, rate, secs(s.live_s), s.max_inflight, ctx.backlog(rate)),
        )
        .await;
    let acks: HashMap<u64, Instant> = run.samples.iter().filter(|x| x.ok()).map(|x| (x.seq, x.done)).collect();
    // Let the streams catch up (10 s at most).
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && agents.iter().any(|a| a.received.load(Ordering::Relaxed) < acks.len() as u64) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = stop_tx.send(true);
    let mut deltas = Vec::new();
    let (mut delivered, mut duplicates, mut before_ack, mut worst_p99) = (0u64, 0u64, 0u64, 0f64);
    let mut agent_errors = Vec::new();
    let connected = agents.len();
    for agent in agents {
        let log = agent.finish().await;
        if let Some(error) = log.error {
            agent_errors.push(error);
        }
        let mut seen = std::collections::HashSet::with_capacity(log.arrivals.len());
        let mut mine = Vec::with_capacity(log.arrivals.len());
        for (seq, arrived) in log.arrivals {
            if !seen.insert(seq) {
                duplicates += 1;
                continue;
            }
            let Some(ack) = acks.get(&seq) else { continue };
            delivered += 1;
            if arrived < *ack {
                before_ack += 1;
            }
            mine.push(arrived.saturating_duration_since(*ack).as_nanos() as u64);
        }
        worst_p99 = worst_p99.max(Latency::from_nanos(mine.clone()).p99_ms);
        deltas.extend(mine);
    }
    let expected = acks.len() as u64 * connected as u64;
    let ack_to_stream = Latency::from_nanos(deltas);
    eprintln!(
        "bench:   2xx → agent stream: p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms  ({} of {} delivered)",
        ack_to_stream.p50_ms, ack_to_stream.p99_ms, ack_to_stream.max_ms, delivered, expected
    );
    drop(sse_client);
    let db = server.db.clone().context("no database")?;
    let server_log = server.stop().await?;
    let verification = verify(Stored::Sqlite(&db), &generator.factory, acks.keys().copied().chain(acked(&warm_run))).await?;
    Ok(LiveResult {
        agents: s.agents,
        connected,
        warmup,
        ingest,
        ack_to_stream,
        worst_agent_p99_ms: worst_p99,
        expected_deliveries: expected,
        delivered,
        missing: expected.saturating_sub(delivered),
        duplicates,
        before_ack,
        agent_errors,
        server_log,
        verification,
    })
}

// ---------------------------------------------------------------------------------------
// 4. Outbound
// ---------------------------------------------------------------------------------------

#[derive(Clone, Debug, Serialize)]
pub struct OutboundResult {
    /// Gateways draining the one outbox.
    pub nodes: usize,
    /// Each gateway's `outbox.concurrency`.
    pub concurrency: u32,
    /// Replies each node's worker sent (its `switchboard_outbox_attempts_total{outcome="sent"}`).
    pub sent_by_node: Vec<u64>,
    pub faults: Faults,
    pub conversations: u64,
    pub replies_requested: u64,
    pub replies_accepted: u64,
    pub reply_api_errors: BTreeMap<String, u64>,
    /// `POST /conversations/{id}/messages`, 32 concurrent clients (closed loop).
    pub queue_rate: f64,
    pub queue_latency: Latency,
    pub sent: u64,
    pub failed: u64,
    pub dead: u64,
    /// Still pending or sending when the harness stopped waiting.
    pub unfinished: u64,
    /// Provider opened (every reply queued) → last reply finished, from the outbox
    /// timestamps, seconds.
    pub drain_s: f64,
    /// Sent replies per second over `drain_s`: the outbox's throughput on a full backlog.
    pub sends_per_s: f64,
    /// Provider opened → each reply sent (outbox timestamps, ms resolution).
    pub open_to_sent: Latency,
    /// Server CPU while draining, % of one core, and by thread (seconds).
    pub drain_server_cpu_pct: Option<f64>,
    pub drain_server_thread_cpu_s: BTreeMap<String, f64>,
    /// Delivery attempts recorded by the gateway, by outcome.
    pub attempts: BTreeMap<String, u64>,
    /// The gateways' own account of the drain, summed over the nodes (their
    /// `switchboard_outbox_*` histograms; empty for a build without them).
    pub outbox_timings: OutboxTimings,
    pub provider: GraphStats,
    pub server_log: LogSummary,
}

/// Means of the outbox histograms a gateway exposes on `/metrics`, over every node.
#[derive(Clone, Debug, Default, Serialize)]
pub struct OutboxTimings {
    /// A finished send's wait for its result to be written, ms.
    pub result_wait_ms: Option<f64>,
    /// One result transaction, ms.
    pub result_write_ms: Option<f64>,
    /// Results per transaction.
    pub result_batch: Option<f64>,
    /// One claim round, ms.
    pub claim_ms: Option<f64>,
    pub claims: u64,
}

impl OutboxTimings {
    /// Read from the text of each node's `/metrics`.
    fn from_metrics(pages: &[String]) -> Self {
        let total = |name: &str| -> (f64, f64) {
            let mut sum = 0.0;
            let mut count = 0.0;
            for page in pages {
                for line in page.lines() {
                    let mut parts = line.split_whitespace();
                    let (Some(key), Some(value)) = (parts.next(), parts.next().and_then(|v| v.parse::<f64>().ok())) else { continue };
                    if key == format!("{name}_sum") {
                        sum += value;
                    } else if key == format!("{name}_count") {
                        count += value;
                    }
                }
            }
            (sum, count)
        };
        let mean = |name: &str, scale: f64| {
            let (sum, count) = total(name);
            (count > 0.0).then(|| sum / count * scale)
        };
        OutboxTimings {
            result_wait_ms: mean("switchboard_outbox_result_wait_seconds", 1e3),
            result_write_ms: mean("switchboard_outbox_result_write_seconds", 1e3),
            result_batch: mean("switchboard_outbox_result_batch_size", 1.0),
            claim_ms: mean("switchboard_outbox_claim_seconds", 1e3),
            claims: total("switchboard_outbox_claim_seconds").1 as u64,
        }
    }
}

/// The outbox's state as the outbound scenario reads it, from either backend (read only on
/// SQLite; times as Unix ms on both).
enum OutboxReader {
    Sqlite(SqlitePool),
    Postgres(PgConnection),
}

impl OutboxReader {
    async fn states(&mut self) -> Result<BTreeMap<String, u64>> {
        const STATES: &str = "SELECT state, COUNT(*) FROM outbox GROUP BY state";
        let rows: Vec<(String, i64)> = match self {
            Self::Sqlite(pool) => sqlx::query_as(STATES).fetch_all(&*pool).await?,
            Self::Postgres(conn) => sqlx::query_as(STATES).fetch_all(conn).await?,
        };
        Ok(rows.into_iter().map(|(k, v)| (k, v as u64)).collect())
    }

    /// When the last row changed, and when each sent one was sent.
    async fn times(&mut self) -> Result<(Option<i64>, Vec<i64>)> {
        let (last, sent): (Option<i64>, Vec<(i64,)>) = match self {
            Self::Sqlite(pool) => (
                sqlx::query_scalar("SELECT MAX(updated_at) FROM outbox").fetch_one(&*pool).await?,
                sqlx::query_as("SELECT updated_at FROM outbox WHERE state = 'sent'").fetch_all(&*pool).await?,
            ),
            Self::Postgres(conn) => (
                sqlx::query_scalar("SELECT (EXTRACT(EPOCH FROM MAX(updated_at)) * 1000)::bigint FROM outbox").fetch_one(&mut *conn).await?,
                sqlx::query_as("SELECT (EXTRACT(EPOCH FROM updated_at) * 1000)::bigint FROM outbox WHERE state = 'sent'").fetch_all(&mut *conn).await?,
            ),
        };
        Ok((last, sent.into_iter().map(|(at,)| at).collect()))
    }

    async fn attempts(&mut self) -> Result<Vec<(String, i64)>> {
        const ATTEMPTS: &str = "SELECT outcome, COUNT(*) FROM delivery_attempts GROUP BY outcome";
        Ok(match self {
            Self::Sqlite(pool) => sqlx::query_as(ATTEMPTS).fetch_all(&*pool).await?,
            Self::Postgres(conn) => sqlx::query_as(ATTEMPTS).fetch_all(conn).await?,
        })
    }

    async fn close(self) -> Result<()> {
        match self {
            Self::Sqlite(pool) => pool.close().await,
            Self::Postgres(conn) => conn.close().await?,
        }
        Ok(())
    }
}

/// The outbound scenario on SQLite (`postgres` none) or on a scratch PostgreSQL database.
/// The outbound drain: `nodes` gateways (more than one only on PostgreSQL) sharing one outbox.
/// Replies are queued through each node in turn; CPU figures are the first node's.
pub async fn outbound(ctx: &Ctx, postgres: Option<&ScratchDatabase>, nodes: usize) -> Result<OutboundResult> {
    let s = &ctx.settings;
    let graph = FakeGraph::start(s.faults).await?;
    let options = Options { graph: Some(graph.addr), outbound: Some(s.outbox_concurrency), postgres: postgres.map(|db| db.url.clone()), ..Default::default() };
    let name = match (postgres.is_some(), nodes) {
        (false, _) => "outbound".to_string(),
        (true, 1) => "outbound-postgres".to_string(),
        (true, n) => format!("outbound-postgres-{n}-nodes"),
    };
    if postgres.is_none() && nodes > 1 {
        bail!("several nodes need PostgreSQL");
    }
    let server = Server::switchboard(&ctx.env, &name, &options).await?;
    let mut others = Vec::new();
    for n in 1..nodes {
        others.push(Server::switchboard(&ctx.env, &format!("{name}-{n}"), &options).await?);
    }
    let bases: Arc<Vec<String>> = Arc::new(std::iter::once(&server).chain(&others).map(|node| node.base.clone()).collect());
    let generator = ctx.generator(&server, "O", Senders::Unique { offset: 0 })?;
    ctx.measure("seed conversations", Some(server.pid), closed_loop(&generator, 32, Stop::Count(s.outbound_conversations))).await;

    let api = http_client(Some(Duration::from_secs(30)));
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{}/api/v1/conversations?limit=200", server.base);
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page = json_value(api.get(&url).bearer_auth(ADMIN_TOKEN).send().await?).await?;
        ids.extend(page["items"].as_array().into_iter().flatten().filter_map(|c| c["id"].as_i64()));
        cursor = page["next_cursor"].as_str().map(str::to_string);
        if cursor.is_none() {
            break;
        }
    }
    if ids.is_empty() {
        bail!("no conversations were created");
    }

    // Queue the replies: 32 agents posting as fast as the API accepts.
    let next = Arc::new(AtomicU64::new(0));
    let results = Arc::new(std::sync::Mutex::new((Vec::new(), BTreeMap::<String, u64>::new())));
    let ids = Arc::new(ids);
    let queue_started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..32 {
        let (api, next, results, ids, bases) = (api.clone(), next.clone(), results.clone(), ids.clone(), bases.clone());
        let total = s.outbound_replies;
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    break;
                }
                let id = ids[(i % ids.len() as u64) as usize];
                let base = &bases[(i % bases.len() as u64) as usize];
                let body = format!(r#"{{"text":"Olá! Aqui é a equipe de suporte, resposta {i}. Como posso ajudar?"}}"#);
                let started = Instant::now();
                let outcome = api
                    .post(format!("{base}/api/v1/conversations/{id}/messages"))
                    .bearer_auth(ADMIN_TOKEN)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await;
                let mut guard = results.lock().unwrap();
                match outcome {
                    Ok(response) if response.status().is_success() => guard.0.push(started.elapsed()),
                    Ok(response) => *guard.1.entry(format!("HTTP {}", response.status().as_u16())).or_default() += 1,
                    Err(error) => *guard.1.entry(format!("transport: {error}")).or_default() += 1,
                }
            }
        }));
    }
    for worker in workers {
        let _ = worker.await;
    }
    let queue_elapsed = queue_started.elapsed().as_secs_f64();
    let (latencies, reply_api_errors) = std::mem::take(&mut *results.lock().unwrap());
    let accepted = latencies.len() as u64;
    eprintln!("bench:   queued {accepted} replies in {queue_elapsed:.2} s ({:.0}/s)", accepted as f64 / queue_elapsed);

    // Every reply is queued while the provider holds its requests; open it and time the
    // outbox draining the backlog.
    let drain_meter = CpuMeter::start(Some(server.pid), ctx.env.ticks_per_s);
    let threads_before = crate::machine::thread_ticks(server.pid);
    let opened_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis() as i64;
    graph.open();
    // Wait for the outbox to drain, reading the database (read-only on SQLite).
    let mut reader = match postgres {
        Some(db) => OutboxReader::Postgres(PgConnection::connect(&db.url).await.context("connecting to the scenario's PostgreSQL database")?),
        None => OutboxReader::Sqlite(open_db(&server.db.clone().context("no database")?, true).await?),
    };
    let deadline = Instant::now() + secs(s.outbound_timeout_s);
    let mut states: BTreeMap<String, u64>;
    loop {
        states = reader.states().await?;
        let finished: u64 = ["sent", "failed", "dead"].iter().map(|k| states.get(*k).copied().unwrap_or(0)).sum();
        if finished >= accepted || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let drain_cpu = drain_meter.finish();
    let drain_server_thread_cpu_s = thread_delta(&threads_before, server.pid, ctx.env.ticks_per_s);
    let (last, per_reply) = reader.times().await?;
    let attempts = reader.attempts().await?;
    reader.close().await?;
    let provider = graph.stats();
    // Who sent what, from each node's own counter.
    let mut sent_by_node = Vec::new();
    let mut pages = Vec::new();
    for base in bases.iter() {
        let metrics = api.get(format!("{base}/metrics")).send().await?.text().await?;
        let sent = metrics
            .lines()
            .find_map(|line| line.strip_prefix(r#"switchboard_outbox_attempts_total{channel="whatsapp",outcome="sent"} "#))
            .and_then(|value| value.trim().parse::<f64>().ok())
            .unwrap_or(0.0);
        sent_by_node.push(sent as u64);
        pages.push(metrics);
    }
    let server_log = server.stop().await?;
    for other in others {
        other.stop().await?;
    }
    graph.stop();

    let get = |k: &str| states.get(k).copied().unwrap_or(0);
    let sent = get("sent");
    let drain_s = match last {
        Some(b) if b > opened_ms => (b - opened_ms) as f64 / 1e3,
        _ => 0.0,
    };
    let result = OutboundResult {
        nodes,
        concurrency: s.outbox_concurrency,
        sent_by_node,
        faults: s.faults,
        conversations: ids.len() as u64,
        replies_requested: s.outbound_replies,
        replies_accepted: accepted,
        reply_api_errors,
        queue_rate: accepted as f64 / queue_elapsed,
        queue_latency: Latency::from_durations(latencies),
        sent,
        failed: get("failed"),
        dead: get("dead"),
        unfinished: get("pending") + get("sending"),
        drain_s,
        sends_per_s: if drain_s > 0.0 { sent as f64 / drain_s } else { 0.0 },
        drain_server_cpu_pct: drain_cpu.server,
        drain_server_thread_cpu_s,
        open_to_sent: Latency::from_nanos(per_reply.into_iter().map(|at| (at - opened_ms).max(0) as u64 * 1_000_000).collect()),
        attempts: attempts.into_iter().map(|(k, v)| (k, v as u64)).collect(),
        outbox_timings: OutboxTimings::from_metrics(&pages),
        provider,
        server_log,
    };
    eprintln!(
        "bench:   {} sent (by node: {:?}), {} failed, {} dead, {} unfinished in {:.2} s: {:.0} sends/s; provider saw {} requests ({} × 429, {} × 503, {} duplicates)",
        result.sent,
        result.sent_by_node,
        result.failed,
        result.dead,
        result.unfinished,
        result.drain_s,
        result.sends_per_s,
        result.provider.requests,
        result.provider.rate_limited_429,
        result.provider.unavailable_503,
        result.provider.duplicates
    );
    Ok(result)
}

async fn json_value(response: reqwest::Response) -> Result<serde_json::Value> {
    Ok(serde_json::from_slice(&response.error_for_status()?.bytes().await?)?)
}

// ---------------------------------------------------------------------------------------
// 5. Plugin runtime (in process)
// ---------------------------------------------------------------------------------------

#[derive(Clone, Debug, Serialize)]
pub struct PluginResult {
    pub wasm_bytes: u64,
    /// Cores the compile could use.
    pub compile_cpus: String,
    /// `PluginRuntime::new` (engine, pooling allocator, linker), ms.
    pub runtime_new_ms: f64,
    /// `ChannelPlugin::load` with an empty cache dir (compile + write cache + metadata call), ms.
    pub cold_load_ms: f64,
    /// `ChannelPlugin::load` on a second runtime with the same cache dir, ms.
    pub cached_load_ms: f64,
    pub calls: u64,
    /// `handle_webhook` (fresh instance, verify signature, parse), sequential on one core.
    pub call: Latency,
    pub calls_per_s: f64,
    pub failures: u64,
    /// `handle_webhook` of a `GET` subscription handshake: fresh instance + a trivial `verify`
    /// (no HMAC, no `parse`): roughly the fixed cost of a call.
    pub handshake_call: Latency,
    /// `handle_webhook` of a `POST` with a wrong signature: fresh instance + HMAC, no `parse`.
    pub bad_signature_call: Latency,
    /// The other in-process steps of one webhook, for a cost breakdown.
    pub breakdown: Breakdown,
}

/// What the ingest path costs without HTTP, measured in process on one core.
#[derive(Clone, Debug, Serialize)]
pub struct Breakdown {
    /// `identity::normalize_events` on one webhook's events (phone numbers to E.164).
    pub normalize_events: Latency,
    /// The whole inbound pipeline (`switchboard::inbound::receive`: plugin verify and parse,
    /// identities, group-commit store in SQLite WAL, synchronous=FULL) with
    /// `pipeline_concurrency` submitters: webhooks/s. (Before the pipeline module this
    /// measured `Store::ingest` alone, on events parsed beforehand.)
    pub pipeline_rate: f64,
    pub pipeline_concurrency: usize,
    pub pipeline_webhooks: u64,
    /// CPU of this process per stored webhook (plugin, writer task, SQLite thread), µs.
    pub pipeline_cpu_us_per_webhook: Option<f64>,
    pub pipeline_latency: Latency,
}

pub async fn plugin(ctx: &Ctx) -> Result<PluginResult> {
    use switchboard::config::Config;
    use switchboard::plugins::{ChannelPlugin, PluginRuntime, WebhookOutcome, WebhookRequest};
    let s = &ctx.settings;
    let dir = ctx.env.work.join("plugin");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    let cache = dir.join("cache");
    let text = crate::server::config_text(0, &dir.join("unused.db"), &ctx.env.plugins, &cache, &Options::default());
    let config = Config::parse(&text).context("parsing the generated config")?;
    let channel_config = config.channels.first().context("no channel")?.clone();
    let wasm_bytes = std::fs::metadata(ctx.env.plugins.join("whatsapp.wasm")).map(|m| m.len()).unwrap_or(0);

    // Compiling is a start-up cost: let it use every core (no server is running now).
    let all = format!("0-{}", ctx.nproc.max(1) - 1);
    let compile_cpus = if ctx.pinned && pin_self(&all) { all } else if ctx.pinned { "1".into() } else { "all".into() };
    let started = Instant::now();
    let runtime = PluginRuntime::new(&config.plugins)?;
    let runtime_new_ms = started.elapsed().as_secs_f64() * 1e3;
    let started = Instant::now();
    let channel = ChannelPlugin::load(&runtime, &channel_config).await?;
    let cold_load_ms = started.elapsed().as_secs_f64() * 1e3;
    drop(channel);
    drop(runtime);
    let runtime = PluginRuntime::new(&config.plugins)?;
    let started = Instant::now();
    let channel = Arc::new(ChannelPlugin::load(&runtime, &channel_config).await?);
    let cached_load_ms = started.elapsed().as_secs_f64() * 1e3;
    if ctx.pinned && !pin_self("1") {
        eprintln!("bench: warning: could not re-pin to core 1");
    }
    eprintln!("bench:   runtime {runtime_new_ms:.1} ms, cold load {cold_load_ms:.1} ms, cached load {cached_load_ms:.1} ms");

    let factory = WebhookFactory::new(&format!("P{}", s.run_tag))?;
    let request = |seq: u64| signed_request(factory.make(seq, seq % 1000));
    let mut failures = 0u64;
    for seq in 0..200 {
        let _ = channel.handle_webhook(request(seq)).await;
    }
    let requests: Vec<WebhookRequest> = (1000..1000 + s.plugin_calls).map(request).collect();
    let mut durations = Vec::with_capacity(requests.len());
    let all_started = Instant::now();
    for req in requests {
        let started = Instant::now();
        let outcome = channel.handle_webhook(req).await;
        durations.push(started.elapsed());
        match outcome {
            Ok(WebhookOutcome::Events { events, .. }) if !events.is_empty() => {}
            _ => failures += 1,
        }
    }
    let total = all_started.elapsed().as_secs_f64();
    let call = Latency::from_durations(durations);
    // Where the time goes: the fixed per-call cost, then the signature check.
    let breakdown_calls = (s.plugin_calls / 2).max(100);
    let handshake = WebhookRequest {
        method: "GET".into(),
        url: format!("http://127.0.0.1/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token={}&hub.challenge=1158201444", crate::webhook::VERIFY_TOKEN),
        query: vec![
            ("hub.mode".into(), "subscribe".into()),
            ("hub.verify_token".into(), crate::webhook::VERIFY_TOKEN.into()),
            ("hub.challenge".into(), "1158201444".into()),
        ],
        headers: vec![],
        body: vec![],
    };
    let mut durations = Vec::new();
    for _ in 0..breakdown_calls {
        let req = handshake.clone();
        let started = Instant::now();
        let outcome = channel.handle_webhook(req).await;
        durations.push(started.elapsed());
        if !matches!(outcome, Ok(WebhookOutcome::Respond(_))) {
            failures += 1;
        }
    }
    let handshake_call = Latency::from_durations(durations);
    let mut durations = Vec::new();
    for seq in 0..breakdown_calls {
        let mut req = request(100_000 + seq);
        req.headers[1].1 = format!("sha256={}", "0".repeat(64));
        let started = Instant::now();
        let outcome = channel.handle_webhook(req).await;
        durations.push(started.elapsed());
        if !matches!(outcome, Ok(WebhookOutcome::Reject(_))) {
            failures += 1;
        }
    }
    let bad_signature_call = Latency::from_durations(durations);
    let breakdown = breakdown(ctx, &channel, &factory, &dir).await?;
    eprintln!(
        "bench:   handle_webhook: p50 {:.1} µs  p99 {:.1} µs  mean {:.1} µs  ({:.0} calls/s, {failures} failures); handshake p50 {:.1} µs, bad signature p50 {:.1} µs",
        call.p50_ms * 1e3,
        call.p99_ms * 1e3,
        call.mean_ms * 1e3,
        s.plugin_calls as f64 / total,
        handshake_call.p50_ms * 1e3,
        bad_signature_call.p50_ms * 1e3,
    );
    Ok(PluginResult {
        wasm_bytes,
        compile_cpus,
        runtime_new_ms,
        cold_load_ms,
        cached_load_ms,
        calls: s.plugin_calls,
        call,
        calls_per_s: s.plugin_calls as f64 / total,
        failures,
        handshake_call,
        bad_signature_call,
        breakdown,
    })
}

/// `hook` as the plugin runtime receives a signed WhatsApp webhook.
fn signed_request(hook: Webhook) -> switchboard::plugins::WebhookRequest {
    switchboard::plugins::WebhookRequest {
        method: "POST".into(),
        url: "http://127.0.0.1/webhooks/whatsapp".into(),
        query: vec![],
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("x-hub-signature-256".into(), hook.signature),
            ("user-agent".into(), "facebookexternalua".into()),
        ],
        body: hook.body.into_bytes(),
    }
}

/// Identity normalisation alone, then the whole inbound pipeline, in process (no HTTP).
async fn breakdown(
    ctx: &Ctx,
    channel: &Arc<switchboard::plugins::ChannelPlugin>,
    factory: &WebhookFactory,
    dir: &Path,
) -> Result<Breakdown> {
    use switchboard::plugins::WebhookOutcome;
    let s = &ctx.settings;
    let count = s.plugin_calls;
    // Normalisation on its own, on events the plugin parsed.
    let mut durations = Vec::with_capacity(count as usize);
    for seq in 0..count {
        let hook = factory.make(400_000 + seq, seq % s.senders);
        let mut events = match channel.handle_webhook(signed_request(hook)).await {
            Ok(WebhookOutcome::Events { events, .. }) => events,
            other => bail!("the plugin did not parse a webhook: {other:?}"),
        };
        let started = Instant::now();
        switchboard::identity::normalize_events(&mut events);
        durations.push(started.elapsed());
    }
    let normalize_events = Latency::from_durations(durations);

    // The pipeline the webhook handler calls, with `concurrency` submitters.
    let db = dir.join("store.db");
    let settings = switchboard::config::DatabaseConfig { url: format!("sqlite://{}", db.display()), ..Default::default() };
    let store = switchboard::store::Store::open(&settings).await?;
    store.upsert_channel("whatsapp", "whatsapp", &channel.info()).await?;
    let concurrency = 64usize;
    let hooks: Vec<Webhook> = (0..count).map(|seq| factory.make(500_000 + seq, seq % s.senders)).collect();
    let queue = Arc::new(std::sync::Mutex::new(hooks));
    let latencies = Arc::new(std::sync::Mutex::new(Vec::with_capacity(count as usize)));
    let meter = CpuMeter::start(None, ctx.env.ticks_per_s);
    let started = Instant::now();
    let mut workers = Vec::new();
    for worker in 0..concurrency {
        let (store, channel, queue, latencies) = (store.clone(), channel.clone(), queue.clone(), latencies.clone());
        workers.push(tokio::spawn(async move {
            let mut n = 0;
            loop {
                let Some(hook) = queue.lock().unwrap().pop() else { break };
                let request = signed_request(hook);
                let raw_body = axum::body::Bytes::from(request.body.clone());
                n += 1;
                let t = Instant::now();
                let stored = switchboard::inbound::receive(&store, &channel, &format!("bench-{worker}-{n}"), request, raw_body).await;
                if matches!(stored, Ok(switchboard::inbound::Received::Stored { .. })) {
                    latencies.lock().unwrap().push(t.elapsed());
                }
            }
        }));
    }
    for worker in workers {
        worker.await?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = meter.finish();
    let latencies = std::mem::take(&mut *latencies.lock().unwrap());
    let stored = latencies.len() as u64;
    drop(store);
    if stored != count {
        bail!("the pipeline stored {stored} of {count} webhooks");
    }
    let rate = stored as f64 / elapsed;
    let result = Breakdown {
        normalize_events,
        pipeline_rate: rate,
        pipeline_concurrency: concurrency,
        pipeline_webhooks: stored,
        pipeline_cpu_us_per_webhook: cpu.driver.map(|pct| pct / 100.0 * elapsed / stored.max(1) as f64 * 1e6),
        pipeline_latency: Latency::from_durations(latencies),
    };
    eprintln!(
        "bench:   breakdown: normalize_events p50 {:.1} µs; inbound pipeline {:.0} webhooks/s ({} µs CPU each) on one core",
        result.normalize_events.p50_ms * 1e3,
        result.pipeline_rate,
        result.pipeline_cpu_us_per_webhook.map(|v| format!("{v:.0}")).unwrap_or("?".into())
    );
    Ok(result)
}

// ---------------------------------------------------------------------------------------
// 6. Storage growth
// ---------------------------------------------------------------------------------------

#[derive(Clone, Debug, Serialize)]
pub struct StorageCheckpoint {
    pub target_conversations: u64,
    pub conversations: u64,
    /// Closed-loop ingest of the webhooks that created them (unique senders).
    pub ingest: PhaseReport,
    pub rss_mb: f64,
    pub db_mb: f64,
    pub wal_mb: f64,
    /// `GET /api/v1/conversations?limit=50`, sequential requests.
    pub list_first_page: Latency,
    /// The same at a cursor about half-way through (reached by following `next_cursor`).
    pub list_deep_page: Latency,
    pub deep_page_offset: u64,
    /// A filtered, re-sorted first page: `status=open&priority=normal&assignee=unassigned&sort=priority`.
    pub list_filtered: Latency,
    /// `?q=` searches, by what they look for: a word of message text, part of a name, a phone
    /// fragment, and a term nothing matches.
    pub search: Vec<(String, Latency)>,
    /// How long after the last acknowledged webhook its message could be found by search.
    pub search_lag_s: f64,
    /// `GET /api/v1/conversations/counts`: every view's count and unread count at once.
    pub view_counts: Latency,
}

#[derive(Clone, Debug, Serialize)]
pub struct StorageResult {
    pub checkpoints: Vec<StorageCheckpoint>,
    /// Counts not run, and why.
    pub skipped: Vec<String>,
    pub idle_rss_mb: f64,
    pub server_log: LogSummary,
    pub verification: Verification,
}

async fn list_latency(api: &reqwest::Client, base: &str, cursor: Option<&str>, requests: usize) -> Result<Latency> {
    let query = match cursor {
        Some(c) => format!("limit=50&cursor={c}"),
        None => "limit=50".to_string(),
    };
    query_latency(api, base, &query, requests).await
}

/// `GET /api/v1/conversations?{query}`, `requests` times in sequence.
async fn query_latency(api: &reqwest::Client, base: &str, query: &str, requests: usize) -> Result<Latency> {
    get_latency(api, &format!("{base}/api/v1/conversations?{query}"), requests).await
}

/// Sequential `GET url` requests as the admin.
async fn get_latency(api: &reqwest::Client, url: &str, requests: usize) -> Result<Latency> {
    let mut durations = Vec::with_capacity(requests);
    for _ in 0..requests {
        let started = Instant::now();
        let response = api.get(url).bearer_auth(ADMIN_TOKEN).send().await?;
        if !response.status().is_success() {
            bail!("GET {url} answered {}", response.status());
        }
        response.bytes().await?;
        durations.push(started.elapsed());
    }
    Ok(Latency::from_durations(durations))
}

/// Follow `next_cursor` (200 per page) past about `offset` conversations.
async fn cursor_at(api: &reqwest::Client, base: &str, offset: u64) -> Result<(Option<String>, u64)> {
    let mut cursor: Option<String> = None;
    let mut skipped = 0;
    while skipped + 200 <= offset {
        let mut url = format!("{base}/api/v1/conversations?limit=200");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page = json_value(api.get(&url).bearer_auth(ADMIN_TOKEN).send().await?).await?;
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
        skipped += 200;
    }
    Ok((cursor, skipped))
}

pub async fn storage(ctx: &Ctx) -> Result<StorageResult> {
    let s = &ctx.settings;
    let scenario_started = Instant::now();
    let server = Server::switchboard(&ctx.env, "storage", &Options::default()).await?;
    let idle_rss_mb = server.rss_kb().unwrap_or(0) as f64 / 1024.0;
    let generator = ctx.generator(&server, "S", Senders::Unique { offset: 0 })?;
    let db = server.db.clone().context("no database")?;
    let api = http_client(Some(Duration::from_secs(30)));
    let mut acked_seqs = Vec::new();
    let mut checkpoints: Vec<StorageCheckpoint> = Vec::new();
    let mut skipped = Vec::new();
    let mut sent_so_far = 0u64;
    let mut counts = s.storage_counts.clone();
    counts.sort_unstable();
    for target in counts {
        if target <= sent_so_far {
            continue;
        }
        let n = target - sent_so_far;
        // Decide from the rate just measured whether this count fits the time budget.
        if let Some(last) = checkpoints.last() {
            let rate = last.ingest.achieved_rate.max(1.0);
            let projected = n as f64 / rate + 15.0;
            let elapsed = scenario_started.elapsed().as_secs_f64();
            if elapsed + projected > s.storage_budget_s {
                let note = format!(
                    "{target} conversations skipped: at the measured {rate:.0} webhooks/s it would take ~{projected:.0} s more, \
                     past the storage scenario budget of {:.0} s (--storage-budget-secs)",
                    s.storage_budget_s
                );
                eprintln!("bench:   {note}");
                skipped.push(note);
                break;
            }
        }
        let (ingest, run) = ctx
            .measure(&format!("ingest to {target} convs"), Some(server.pid), closed_loop(&generator, s.connections, Stop::Count(n)))
            .await;
        acked_seqs.extend(acked(&run));
        sent_so_far = target;
        let pool = open_db(&db, true).await?;
        let (conversations,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM conversations").fetch_one(&pool).await?;
        pool.close().await;
        let rss_mb = server.rss_kb().unwrap_or(0) as f64 / 1024.0;
        let (db_size, wal_size) = db_bytes(&db);
        let list_first_page = list_latency(&api, &server.base, None, s.list_requests).await?;
        let (cursor, deep_page_offset) = cursor_at(&api, &server.base, conversations as u64 / 2).await?;
        let list_deep_page = list_latency(&api, &server.base, cursor.as_deref(), s.list_requests).await?;
        let list_filtered = query_latency(&api, &server.base, "limit=50&status=open&priority=normal&assignee=unassigned&sort=priority", s.list_requests).await?;
        let view_counts = get_latency(&api, &format!("{}/api/v1/conversations/counts", server.base), s.list_requests).await?;
        // Search follows the data a moment later on SQLite (its indexer): wait for the newest.
        let last_seq = sent_so_far.saturating_sub(1);
        let waited = Instant::now();
        loop {
            let url = reqwest::Url::parse_with_params(&format!("{}/api/v1/conversations", server.base), &[("q", format!("pedido #{last_seq} "))])?;
            let page = json_value(api.get(url).bearer_auth(ADMIN_TOKEN).send().await?).await?;
            if page["items"].as_array().is_some_and(|items| !items.is_empty()) || waited.elapsed() > Duration::from_secs(120) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let search_lag_s = waited.elapsed().as_secs_f64();
        let some = last_seq / 2;
        let mut search = Vec::new();
        for (what, q) in [
            ("message text", format!("pedido #{some} ")),
            ("name", format!("Cliente {some}")),
            ("phone fragment", format!("{:08}", some % 100_000_000)),
            ("no match", "nothing-matches-this".to_string()),
        ] {
            let query = reqwest::Url::parse_with_params("http://x/", &[("limit", "50".to_string()), ("q", q)])?.query().unwrap_or_default().to_string();
            search.push((what.to_string(), query_latency(&api, &server.base, &query, s.list_requests).await?));
        }
        eprintln!(
            "bench:   filtered list p50/p99 {:.2}/{:.2} ms; view counts {:.2}/{:.2} ms; search lag {search_lag_s:.1} s; search p50/p99 {}",
            list_filtered.p50_ms,
            list_filtered.p99_ms,
            view_counts.p50_ms,
            view_counts.p99_ms,
            search.iter().map(|(what, l)| format!("{what} {:.2}/{:.2} ms", l.p50_ms, l.p99_ms)).collect::<Vec<_>>().join(", ")
        );
        eprintln!(
            "bench:   {conversations} conversations: RSS {rss_mb:.1} MiB, db {:.1} MiB + wal {:.1} MiB; list p50/p99 first {:.2}/{:.2} ms, deep {:.2}/{:.2} ms",
            db_size as f64 / 1048576.0,
            wal_size as f64 / 1048576.0,
            list_first_page.p50_ms,
            list_first_page.p99_ms,
            list_deep_page.p50_ms,
            list_deep_page.p99_ms
        );
        checkpoints.push(StorageCheckpoint {
            target_conversations: target,
            conversations: conversations as u64,
            ingest,
            rss_mb,
            db_mb: db_size as f64 / 1048576.0,
            wal_mb: wal_size as f64 / 1048576.0,
            list_first_page,
            list_deep_page,
            deep_page_offset,
            list_filtered,
            search,
            search_lag_s,
            view_counts,
        });
    }
    let server_log = server.stop().await?;
    let verification = verify(Stored::Sqlite(&db), &generator.factory, acked_seqs).await?;
    Ok(StorageResult { checkpoints, skipped, idle_rss_mb, server_log, verification })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_stay_out_of_the_report() {
        assert_eq!(without_password("postgres://postgres@127.0.0.1:5432/test"), "postgres://postgres@127.0.0.1:5432/test");
        assert_eq!(without_password("postgres://bench:s3cr3t@db.example:5432/test?sslmode=disable"), "postgres://bench:***@db.example:5432/test?sslmode=disable");
        assert_eq!(without_password("postgres://db.example/test?user=a@b"), "postgres://db.example/test?user=a@b");
        assert_eq!(without_password("not a url"), "not a url");
    }
}
