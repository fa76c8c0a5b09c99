//! `switchboard-bench`: the Switchboard benchmark harness. Run it with `cargo xtask bench`
//! (see docs/performance.md).
//!
//! It starts the real `switchboard` binary per scenario (pinned to core 0), drives it from this
//! process (pinned to core 1), prints a report and writes `report.json`.

mod graph;
mod inbox;
mod load;
mod machine;
mod report;
mod scenarios;
mod server;
mod sse;
mod webhook;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Instant, SystemTime};

#[derive(Parser)]
#[command(name = "switchboard-bench", about = "Benchmark the Switchboard gateway (run it with `cargo xtask bench`)")]
struct Cli {
    #[command(subcommand)]
    command: Option<Hidden>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Subcommand)]
enum Hidden {
    /// The trivial baseline server (started by the harness itself).
    #[command(hide = true)]
    BaselineServer {
        #[arg(long)]
        listen: SocketAddr,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Scenario {
    Baseline,
    Ingest,
    /// The ingest scenario with the gateway on a scratch PostgreSQL database.
    IngestPostgres,
    /// The ingest scenario on SQLite with the five bundled routing policies chained.
    IngestRouted,
    Live,
    Outbound,
    /// The outbound scenario with the gateway on a scratch PostgreSQL database.
    OutboundPostgres,
    /// The outbound scenario with two gateways draining one scratch PostgreSQL outbox.
    #[value(name = "outbound-postgres-2-nodes")]
    OutboundPostgres2Nodes,
    Plugin,
    Storage,
    /// The agent inbox in headless Chromium: first paint and scrolling of 10,000 conversations.
    Inbox,
}

#[derive(clap::Args)]
struct RunArgs {
    /// The gateway binary under test.
    #[arg(long, default_value = "target/release/switchboard")]
    switchboard: PathBuf,
    /// Where whatsapp.wasm is.
    #[arg(long, default_value = "target/plugins")]
    plugins: PathBuf,
    /// Where report.json (and scratch data, under work/) go.
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
    /// A ~1 minute smoke run: shorter phases, fewer messages, 10k conversations only.
    #[arg(long)]
    quick: bool,
    /// Scenarios to run (default: all), comma separated.
    #[arg(long, value_enum, value_delimiter = ',')]
    scenarios: Vec<Scenario>,
    /// Open-loop ingest rates, webhooks/s [default: 1000,2500,5000,10000].
    #[arg(long, value_delimiter = ',')]
    rates: Option<Vec<u64>>,
    /// Seconds per open-loop ingest rate [default: 12; quick 3].
    #[arg(long)]
    phase_secs: Option<f64>,
    /// Seconds of each closed-loop max-throughput run, after 1 s warm-up [default: 10; quick 4].
    #[arg(long)]
    max_secs: Option<f64>,
    /// Connections of the closed-loop (max throughput) driver.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Open loop: requests in flight at most (later ones wait, and the wait is counted).
    #[arg(long, default_value_t = 2048)]
    max_inflight: usize,
    /// Open loop: stop scheduling (saturated) once the requests outstanding amount to this many
    /// seconds of the throughput measured so far.
    #[arg(long, default_value_t = 2.0)]
    max_backlog_secs: f64,
    /// PostgreSQL server for the ingest-postgres scenario, which creates (and drops) a scratch
    /// database there [default: $TEST_DATABASE_URL, else postgres://postgres@127.0.0.1:5432/test].
    #[arg(long)]
    postgres_url: Option<String>,
    /// Distinct customers in the ingest and live scenarios.
    #[arg(long, default_value_t = 5000)]
    senders: u64,
    /// Webhooks/s during the live-stream scenario.
    #[arg(long, default_value_t = 1000)]
    live_rate: u64,
    /// Seconds of the live-stream scenario [default: 15; quick 5].
    #[arg(long)]
    live_secs: Option<f64>,
    /// Agents connected to the live stream.
    #[arg(long, default_value_t = 50)]
    agents: usize,
    /// Conversations the outbound scenario replies into [default: 1000; quick 200].
    #[arg(long)]
    outbound_conversations: Option<u64>,
    /// Replies the outbound scenario queues [default: 10000; quick 2000].
    #[arg(long)]
    outbound_replies: Option<u64>,
    /// `outbox.concurrency` of the gateways in the outbound scenarios: the sends each keeps in
    /// flight, which is also how many a crash can leave unrecorded (and re-sent).
    #[arg(long, default_value_t = 64)]
    outbox_concurrency: u32,
    /// Give up waiting for the outbox after this many seconds.
    #[arg(long, default_value_t = 90.0)]
    outbound_timeout_secs: f64,
    /// Latency of the fake Graph API, ms.
    #[arg(long, default_value_t = 20)]
    graph_latency_ms: u64,
    /// Share of fake Graph API requests answered 429 (code 130429, Retry-After: 0), %.
    #[arg(long, default_value_t = 5.0)]
    graph_429_pct: f64,
    /// Share of fake Graph API requests answered 503, %.
    #[arg(long, default_value_t = 3.0)]
    graph_503_pct: f64,
    /// handle_webhook calls timed in the plugin runtime scenario [default: 5000; quick 2000].
    #[arg(long)]
    plugin_calls: Option<u64>,
    /// Conversation counts at which storage is measured [default: 10000,100000; quick 10000].
    #[arg(long, value_delimiter = ',')]
    storage_counts: Option<Vec<u64>>,
    /// Time budget of the storage scenario; a count that would not fit (projected from the
    /// measured ingest rate) is skipped and the report says so [default: 120; quick 40].
    #[arg(long)]
    storage_budget_secs: Option<f64>,
    /// The Python with Playwright for the inbox scenario [default: $SWITCHBOARD_TEST_VENV/bin/python,
    /// else target/py/bin/python].
    #[arg(long)]
    python: Option<PathBuf>,
    /// Sequential requests per list-latency measurement.
    #[arg(long, default_value_t = 200)]
    list_requests: usize,
    /// Do not pin the server and the harness to separate cores.
    #[arg(long)]
    no_pin: bool,
    /// Before each scenario, wait up to this long for other work on the machine to stop
    /// (less than 10% of a core busy outside the harness). Phases disturbed anyway are flagged.
    #[arg(long, default_value_t = 0.0)]
    wait_idle_secs: f64,
    /// Write every phase's raw samples (scheduled/sent/done times, status) as CSV under <out>/samples.
    #[arg(long)]
    dump_samples: bool,
    /// Keep the scenario databases under <out>/work.
    #[arg(long)]
    keep_data: bool,
}

/// Where the PostgreSQL scenario looks when neither `--postgres-url` nor `TEST_DATABASE_URL`
/// says: the local server the test suite uses.
const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

fn main() {
    let cli = Cli::parse();
    if let Some(Hidden::BaselineServer { listen }) = cli.command {
        if let Err(error) = server::run_baseline_server(listen) {
            eprintln!("baseline-server: {error:#}");
            std::process::exit(1);
        }
        return;
    }
    match run(cli.run) {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(error) => {
            eprintln!("bench: {error:#}");
            std::process::exit(2);
        }
    }
}

/// Returns whether every scenario ran and every correctness check passed.
fn run(args: RunArgs) -> Result<bool> {
    let started = Instant::now();
    // Machine facts first: `nproc` must see every core, before this process is pinned.
    let machine = machine::MachineInfo::collect();
    let has_taskset = machine::taskset_available();
    let pinned = !args.no_pin && has_taskset && machine.nproc >= 2 && machine::pin_self("1");
    let pinning = report::Pinning {
        applied: pinned,
        server_cpus: pinned.then(|| "0".into()),
        driver_cpus: pinned.then(|| "1".into()),
        note: if pinned {
            "servers run under `taskset -c 0`, this harness (driver, fake Graph API, agents) pinned with `taskset -a -cp 1`; \
             the plugin scenario's cold compile may use every core"
                .into()
        } else if args.no_pin {
            "disabled with --no-pin".into()
        } else if !has_taskset {
            "taskset not found: server and driver share every core".into()
        } else if machine.nproc < 2 {
            "a single core: server and driver share it".into()
        } else {
            "taskset failed: server and driver share every core".into()
        },
    };
    // One worker thread when pinned to one core: more would only contend for it.
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if pinned {
        builder.worker_threads(1);
    }
    let runtime = builder.enable_all().build()?;
    runtime.block_on(run_scenarios(args, machine, pinning, started))
}

async fn run_scenarios(args: RunArgs, machine: machine::MachineInfo, pinning: report::Pinning, started: Instant) -> Result<bool> {
    let q = args.quick;
    let now = SystemTime::now();
    let postgres_url = args
        .postgres_url
        .clone()
        .or_else(|| std::env::var("TEST_DATABASE_URL").ok().filter(|url| !url.is_empty()))
        .unwrap_or_else(|| DEFAULT_POSTGRES_URL.into());
    let settings = scenarios::Settings {
        quick: q,
        rates: args.rates.clone().unwrap_or_else(|| vec![1000, 2500, 5000, 10_000]),
        phase_s: args.phase_secs.unwrap_or(if q { 3.0 } else { 12.0 }),
        max_s: args.max_secs.unwrap_or(if q { 4.0 } else { 10.0 }),
        warmup_s: 1.0,
        server_warmup_s: if q { 1.0 } else { 3.0 },
        connections: args.connections,
        max_inflight: args.max_inflight,
        max_backlog_s: args.max_backlog_secs,
        senders: args.senders.max(1),
        baseline_check_s: if q { 2.0 } else { 5.0 },
        live_rate: args.live_rate,
        live_s: args.live_secs.unwrap_or(if q { 5.0 } else { 15.0 }),
        agents: args.agents,
        outbound_conversations: args.outbound_conversations.unwrap_or(if q { 200 } else { 1000 }).max(1),
        outbound_replies: args.outbound_replies.unwrap_or(if q { 2000 } else { 10_000 }),
        outbound_timeout_s: args.outbound_timeout_secs,
        outbox_concurrency: args.outbox_concurrency.max(1),
        faults: graph::Faults {
            latency_ms: args.graph_latency_ms,
            rate_limited_pct: args.graph_429_pct,
            unavailable_pct: args.graph_503_pct,
        },
        plugin_calls: args.plugin_calls.unwrap_or(if q { 2000 } else { 5000 }).max(1),
        storage_counts: args.storage_counts.clone().unwrap_or_else(|| if q { vec![10_000] } else { vec![10_000, 100_000] }),
        storage_budget_s: args.storage_budget_secs.unwrap_or(if q { 40.0 } else { 120.0 }),
        list_requests: args.list_requests.max(1),
        postgres_admin_url: scenarios::without_password(&postgres_url),
        run_tag: machine::file_stamp(now).chars().filter(char::is_ascii_digit).collect(),
    };
    let absolute = |p: &PathBuf| -> Result<PathBuf> {
        std::fs::canonicalize(p).with_context(|| format!("{} not found", p.display()))
    };
    let switchboard = absolute(&args.switchboard).context("the switchboard binary (build it with `cargo build --release -p switchboard`)")?;
    let plugins = absolute(&args.plugins)?;
    anyhow::ensure!(plugins.join("whatsapp.wasm").exists(), "{} has no whatsapp.wasm (run `cargo xtask plugins`)", plugins.display());
    std::fs::create_dir_all(&args.out)?;
    let out = absolute(&args.out)?;
    let work = out.join("work");
    std::fs::create_dir_all(&work)?;
    let ctx = scenarios::Ctx {
        env: server::Env {
            switchboard: switchboard.clone(),
            plugins,
            plugin_cache: out.join("plugin-cache"),
            work: work.clone(),
            pin_server: pinning.applied,
            ticks_per_s: machine::clock_ticks(),
        },
        settings,
        pinned: pinning.applied,
        nproc: machine.nproc,
        wait_idle: std::time::Duration::from_secs_f64(args.wait_idle_secs.max(0.0)),
        quiet_waits: Default::default(),
        dump_dir: args.dump_samples.then(|| out.join("samples")),
        dumped: Default::default(),
    };
    let selected = |s: Scenario| args.scenarios.is_empty() || args.scenarios.contains(&s);
    eprintln!(
        "bench: {} run on {} ({} cores, {}); pinning {}",
        if q { "quick" } else { "full" },
        machine.hostname,
        machine.nproc,
        machine.cpu_model,
        if pinning.applied { "applied (server core 0, driver core 1)" } else { "not applied" }
    );
    let mut results = report::Scenarios::default();
    let mut errors = Vec::new();
    let mut skipped = Vec::new();
    let mut note_error = |name: &str, error: anyhow::Error| {
        eprintln!("bench: scenario {name} failed: {error:#}");
        errors.push(format!("{name}: {error:#}"));
    };
    if selected(Scenario::Baseline) {
        eprintln!("bench: [1/8] baseline (trivial handler)");
        ctx.settle("baseline").await;
        match scenarios::baseline(&ctx).await {
            Ok(r) => results.baseline = Some(r),
            Err(e) => note_error("baseline", e),
        }
    }
    if selected(Scenario::Ingest) {
        eprintln!("bench: [2/8] ingest");
        ctx.settle("ingest").await;
        match scenarios::ingest(&ctx, results.baseline.as_ref(), &scenarios::IngestDb::Sqlite).await {
            Ok(r) => results.ingest = Some(r),
            Err(e) => note_error("ingest", e),
        }
    }
    if selected(Scenario::IngestPostgres) {
        eprintln!("bench: [3/8] ingest on PostgreSQL");
        match scenarios::postgres_database(&postgres_url).await {
            Ok(db) => {
                let db = scenarios::IngestDb::Postgres(db);
                ctx.settle(db.scenario()).await;
                match scenarios::ingest(&ctx, results.baseline.as_ref(), &db).await {
                    Ok(r) => results.ingest_postgres = Some(r),
                    Err(e) => note_error(db.scenario(), e),
                }
            }
            Err(reason) => {
                eprintln!("bench:   skipped: {reason}");
                skipped.push(report::Skipped { scenario: "ingest-postgres".into(), reason });
            }
        }
    }
    if selected(Scenario::IngestRouted) {
        eprintln!("bench: [3b/8] ingest with the routing chain");
        let db = scenarios::IngestDb::SqliteRouted;
        ctx.settle(db.scenario()).await;
        match scenarios::ingest(&ctx, results.baseline.as_ref(), &db).await {
            Ok(r) => results.ingest_routed = Some(r),
            Err(e) => note_error(db.scenario(), e),
        }
    }
    if selected(Scenario::Live) {
        eprintln!("bench: [4/8] live stream");
        ctx.settle("live").await;
        match scenarios::live(&ctx).await {
            Ok(r) => results.live = Some(r),
            Err(e) => note_error("live", e),
        }
    }
    if selected(Scenario::Outbound) {
        eprintln!("bench: [5/8] outbound");
        ctx.settle("outbound").await;
        match scenarios::outbound(&ctx, None, 1).await {
            Ok(r) => results.outbound = Some(r),
            Err(e) => note_error("outbound", e),
        }
    }
    for (scenario, nodes, step) in [(Scenario::OutboundPostgres, 1, "5b/8"), (Scenario::OutboundPostgres2Nodes, 2, "5c/8")] {
        if !selected(scenario) {
            continue;
        }
        let name = if nodes == 1 { "outbound-postgres" } else { "outbound-postgres-2-nodes" };
        eprintln!("bench: [{step}] outbound on PostgreSQL, {nodes} node(s)");
        match scenarios::postgres_database(&postgres_url).await {
            Ok(db) => {
                ctx.settle(name).await;
                match scenarios::outbound(&ctx, Some(&db), nodes).await {
                    Ok(r) if nodes == 1 => results.outbound_postgres = Some(r),
                    Ok(r) => results.outbound_postgres_2_nodes = Some(r),
                    Err(e) => note_error(name, e),
                }
            }
            Err(reason) => {
                eprintln!("bench:   skipped: {reason}");
                skipped.push(report::Skipped { scenario: name.into(), reason });
            }
        }
    }
    if selected(Scenario::Plugin) {
        eprintln!("bench: [6/8] plugin runtime (in process)");
        ctx.settle("plugin").await;
        match scenarios::plugin(&ctx).await {
            Ok(r) => results.plugin = Some(r),
            Err(e) => note_error("plugin", e),
        }
    }
    if selected(Scenario::Storage) {
        eprintln!("bench: [7/8] storage growth");
        ctx.settle("storage").await;
        match scenarios::storage(&ctx).await {
            Ok(r) => results.storage = Some(r),
            Err(e) => note_error("storage", e),
        }
    }
    if selected(Scenario::Inbox) {
        eprintln!("bench: [8/8] the inbox in Chromium");
        match inbox::python(args.python.as_ref()) {
            Ok(python) => {
                ctx.settle("inbox").await;
                match inbox::inbox(&ctx, &python).await {
                    Ok(r) => results.inbox = Some(r),
                    Err(e) => note_error("inbox", e),
                }
            }
            Err(reason) => {
                eprintln!("bench:   skipped: {reason}");
                skipped.push(report::Skipped { scenario: "inbox".into(), reason: reason.to_string() });
            }
        }
    }
    let verification_passed = [
        results.ingest.as_ref().map(|r| r.verification.ok),
        results.ingest_postgres.as_ref().map(|r| r.verification.ok),
        results.ingest_routed.as_ref().map(|r| r.verification.ok),
        results.live.as_ref().map(|r| r.verification.ok),
        results.storage.as_ref().map(|r| r.verification.ok),
    ]
    .into_iter()
    .flatten()
    .all(|ok| ok);
    let targets = report::targets(&results);
    let ingest_comparison = report::ingest_comparison(&results, &skipped, &errors);
    let mut disturbed_phases = Vec::new();
    {
        let mut note = |scenario: &str, p: &load::PhaseReport| {
            if p.disturbed {
                disturbed_phases.push(format!("{scenario}/{}", p.name));
            }
        };
        if let Some(b) = &results.baseline {
            note("baseline", &b.max);
            note("baseline", &b.driver_check);
        }
        for (scenario, i) in [("ingest", &results.ingest), ("ingest-postgres", &results.ingest_postgres), ("ingest-routed", &results.ingest_routed)]
            .into_iter()
            .filter_map(|(scenario, i)| Some((scenario, i.as_ref()?)))
        {
            i.open_loop.iter().for_each(|p| note(scenario, p));
            note(scenario, &i.max);
        }
        if let Some(l) = &results.live {
            note("live", &l.ingest);
        }
        if let Some(st) = &results.storage {
            st.checkpoints.iter().for_each(|c| note("storage", &c.ingest));
        }
    }
    let report = report::Report {
        harness: format!("switchboard-bench {}", env!("CARGO_PKG_VERSION")),
        machine,
        pinning,
        switchboard_binary: switchboard.display().to_string(),
        settings: ctx.settings.clone(),
        scenarios: results,
        scenario_errors: errors,
        skipped_scenarios: skipped,
        ingest_comparison,
        quiet_waits: ctx.quiet_waits.lock().unwrap().clone(),
        disturbed_phases,
        targets,
        verification_passed,
        total_seconds: started.elapsed().as_secs_f64(),
    };
    print!("{}", report::render(&report));
    let json = serde_json::to_string_pretty(&report)?;
    let path = out.join("report.json");
    std::fs::write(&path, &json).with_context(|| format!("writing {}", path.display()))?;
    let stamped = out.join(format!("report-{}.json", machine::file_stamp(now)));
    std::fs::write(&stamped, &json)?;
    println!("report: {} (and {})", path.display(), stamped.display());
    if !args.keep_data {
        let _ = std::fs::remove_dir_all(&work);
    }
    Ok(verification_passed && report.scenario_errors.is_empty())
}
