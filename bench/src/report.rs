//! The report: JSON for machines, text for people, and the checks against the targets.

use crate::load::{Mode, PhaseReport};
use crate::machine::MachineInfo;
use crate::scenarios::{BaselineResult, IngestResult, LiveResult, OutboundResult, PluginResult, Settings, StorageResult};
use serde::Serialize;
use std::fmt::Write;

#[derive(Clone, Debug, Serialize)]
pub struct Pinning {
    /// Both the server and this harness were pinned.
    pub applied: bool,
    pub server_cpus: Option<String>,
    pub driver_cpus: Option<String>,
    pub note: String,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Scenarios {
    pub baseline: Option<BaselineResult>,
    pub ingest: Option<IngestResult>,
    /// The same ingest measurement with the gateway on PostgreSQL.
    pub ingest_postgres: Option<IngestResult>,
    /// The SQLite ingest measurement with the five routing policies chained after the commit.
    pub ingest_routed: Option<IngestResult>,
    pub live: Option<LiveResult>,
    pub outbound: Option<OutboundResult>,
    /// The outbound scenario on PostgreSQL.
    #[serde(default)]
    pub outbound_postgres: Option<OutboundResult>,
    /// The outbound scenario with two gateways draining one PostgreSQL outbox.
    pub outbound_postgres_2_nodes: Option<OutboundResult>,
    pub plugin: Option<PluginResult>,
    pub storage: Option<StorageResult>,
    pub inbox: Option<crate::inbox::InboxResult>,
}

/// A scenario that was selected but could not run here (say, no PostgreSQL server), and why.
/// Unlike a failure it does not fail the run, but the report says so.
#[derive(Clone, Debug, Serialize)]
pub struct Skipped {
    pub scenario: String,
    pub reason: String,
}

/// One backend's ingest figures, side by side with the other's.
#[derive(Clone, Debug, Serialize)]
pub struct IngestSummary {
    /// `sqlite` or `postgres`.
    pub database: String,
    /// Why there are no figures (skipped, or failed); `None` when measured.
    pub not_measured: Option<String>,
    /// Open-loop phases, then the closed-loop maximum (the warm-up is left out).
    pub phases: Vec<PhaseSummary>,
    /// Closed-loop maximum, 2xx/s.
    pub max_rate: Option<f64>,
    /// `max_rate` ÷ the trivial handler's ceiling.
    pub ratio_to_baseline: Option<f64>,
    /// The trivial handler's CPU per request ÷ this backend's server (+ database) CPU per
    /// webhook, at max throughput.
    pub cpu_ratio_to_baseline: Option<f64>,
    /// Server (+ database) CPU per webhook at max throughput, µs.
    pub cpu_us_per_webhook: Option<f64>,
    /// Highest open-loop rate sustained without errors or backlog.
    pub sustained_rate: Option<f64>,
    /// Every acknowledged webhook was stored exactly once.
    pub verified: Option<bool>,
}

#[derive(Clone, Debug, Serialize)]
pub struct PhaseSummary {
    pub phase: String,
    /// 2xx/s.
    pub rate: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Non-2xx answers and transport errors.
    pub errors: u64,
    pub saturated: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct TargetCheck {
    pub target: String,
    pub measured: Option<f64>,
    pub unit: String,
    /// `None` when the scenario did not run.
    pub pass: Option<bool>,
    pub note: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub harness: String,
    pub machine: MachineInfo,
    pub pinning: Pinning,
    pub switchboard_binary: String,
    pub settings: Settings,
    pub scenarios: Scenarios,
    /// Scenarios that failed to run, with the reason.
    pub scenario_errors: Vec<String>,
    /// Scenarios that could not run on this machine, with the reason.
    pub skipped_scenarios: Vec<Skipped>,
    /// Ingest on SQLite and on PostgreSQL, side by side (the ones that were selected).
    pub ingest_comparison: Vec<IngestSummary>,
    /// How busy the rest of the machine was before each scenario.
    pub quiet_waits: Vec<crate::scenarios::QuietWait>,
    /// Phases during which other work used > 15% of a core.
    pub disturbed_phases: Vec<String>,
    pub targets: Vec<TargetCheck>,
    /// Every correctness check passed (acked webhooks stored exactly once).
    pub verification_passed: bool,
    pub total_seconds: f64,
}

fn check(target: &str, measured: Option<f64>, unit: &str, pass: impl Fn(f64) -> bool, note: String) -> TargetCheck {
    TargetCheck { target: target.into(), measured, unit: unit.into(), pass: measured.map(pass), note }
}

fn open_phase(ingest: &IngestResult, rate: f64) -> Option<&PhaseReport> {
    ingest.open_loop.iter().find(|p| matches!(p.mode, Mode::OpenLoop { target_rate } if (target_rate - rate).abs() < 0.5))
}

/// The highest open-loop rate the gateway kept up with: no backlog, no errors, ≥ 99% of target.
fn sustained_rate(ingest: &IngestResult) -> f64 {
    let kept_up = |p: &&PhaseReport| match p.mode {
        Mode::OpenLoop { target_rate } => !p.saturated && p.non_2xx + p.transport_errors == 0 && p.achieved_rate >= 0.99 * target_rate,
        _ => false,
    };
    ingest.open_loop.iter().filter(kept_up).map(|p| p.achieved_rate).fold(0.0, f64::max)
}

/// Ingest per backend, for each ingest scenario that was selected: measured, skipped or failed.
pub fn ingest_comparison(s: &Scenarios, skipped: &[Skipped], errors: &[String]) -> Vec<IngestSummary> {
    [("sqlite", "ingest", &s.ingest), ("postgres", "ingest-postgres", &s.ingest_postgres)]
        .into_iter()
        .filter_map(|(database, scenario, result)| {
            let not_measured = skipped
                .iter()
                .find(|k| k.scenario == scenario)
                .map(|k| format!("skipped: {}", k.reason))
                .or_else(|| errors.iter().find_map(|e| e.strip_prefix(&format!("{scenario}: ")).map(|e| format!("failed: {e}"))));
            match (result, not_measured) {
                (Some(i), _) => Some(summarise(i)),
                (None, Some(reason)) => Some(IngestSummary {
                    database: database.into(),
                    not_measured: Some(reason),
                    phases: vec![],
                    max_rate: None,
                    ratio_to_baseline: None,
                    cpu_ratio_to_baseline: None,
                    cpu_us_per_webhook: None,
                    sustained_rate: None,
                    verified: None,
                }),
                (None, None) => None,
            }
        })
        .collect()
}

fn summarise(i: &IngestResult) -> IngestSummary {
    let phase = |p: &PhaseReport| PhaseSummary {
        phase: p.name.clone(),
        rate: p.achieved_rate,
        p50_ms: p.latency.p50_ms,
        p95_ms: p.latency.p95_ms,
        p99_ms: p.latency.p99_ms,
        max_ms: p.latency.max_ms,
        errors: p.non_2xx + p.transport_errors,
        saturated: p.saturated,
    };
    IngestSummary {
        database: i.database.into(),
        not_measured: None,
        phases: i.open_loop.iter().chain([&i.max]).map(phase).collect(),
        max_rate: Some(i.max.achieved_rate),
        ratio_to_baseline: i.ratio_to_baseline,
        cpu_ratio_to_baseline: i.cpu_ratio_to_baseline,
        cpu_us_per_webhook: i.max.system_cpu_us_per_request(),
        sustained_rate: Some(sustained_rate(i)),
        verified: Some(i.verification.ok),
    }
}

pub fn targets(s: &Scenarios) -> Vec<TargetCheck> {
    let mut out = Vec::new();
    // 1. Sustained signed webhooks/s: an open-loop phase at >= 10k/s that kept up, error free.
    let sustained = s.ingest.as_ref().map(|ingest| (sustained_rate(ingest), ingest.max.achieved_rate));
    out.push(TargetCheck {
        target: "≥ 10,000 signed webhooks/s sustained".into(),
        measured: sustained.map(|(best, _)| best),
        unit: "webhooks/s".into(),
        pass: sustained.map(|(best, _)| best >= 9_900.0),
        note: sustained
            .map(|(_, max)| format!("highest open-loop rate sustained without errors or backlog; closed-loop max {max:.0}/s"))
            .unwrap_or_default(),
    });
    let at_5k = s.ingest.as_ref().and_then(|i| open_phase(i, 5000.0));
    out.push(check(
        "p99 ≤ 25 ms at 5,000/s",
        at_5k.map(|p| p.latency.p99_ms),
        "ms",
        |v| v <= 25.0,
        at_5k
            .map(|p| {
                format!(
                    "open loop, latency from scheduled send; achieved {:.0}/s{}",
                    p.achieved_rate,
                    if p.saturated { ", saturated" } else { "" }
                )
            })
            .unwrap_or_else(|| "needs 5000 in --rates".into()),
    ));
    out.push(check(
        "ingest ≥ 25% of the trivial-handler ceiling",
        s.ingest.as_ref().and_then(|i| i.ratio_to_baseline).map(|r| r * 100.0),
        "%",
        |v| v >= 25.0,
        match (&s.ingest, &s.baseline) {
            (Some(i), Some(b)) => format!(
                "{:.0}/s vs {:.0}/s (closed loop, both); by server CPU per request {}",
                i.max.achieved_rate,
                b.max.achieved_rate,
                i.cpu_ratio_to_baseline.map(|c| format!("{:.1}%", c * 100.0)).unwrap_or("?".into())
            ),
            _ => "needs the baseline and ingest scenarios".into(),
        },
    ));
    out.push(check(
        "2xx-to-agent-stream p99 ≤ 50 ms",
        s.live.as_ref().map(|l| l.ack_to_stream.p99_ms),
        "ms",
        |v| v <= 50.0,
        s.live
            .as_ref()
            .map(|l| format!("{} agents at {:.0}/s; {} of {} deliveries missing", l.agents, l.ingest.achieved_rate, l.missing, l.expected_deliveries))
            .unwrap_or_default(),
    ));
    out.push(check(
        "plugin call ≤ 50 µs p50",
        s.plugin.as_ref().map(|p| p.call.p50_ms * 1e3),
        "µs",
        |v| v <= 50.0,
        s.plugin.as_ref().map(|p| format!("handle_webhook, fresh instance per call; p99 {:.1} µs", p.call.p99_ms * 1e3)).unwrap_or_default(),
    ));
    for (name, outbound) in [("outbound ≥ 2,000 sends/s", &s.outbound), ("outbound on PostgreSQL ≥ 2,000 sends/s", &s.outbound_postgres)] {
        out.push(check(
            name,
            outbound.as_ref().map(|o| o.sends_per_s),
            "sends/s",
            |v| v >= 2000.0,
            outbound
                .as_ref()
                .map(|o| {
                    format!(
                        "backlog of {} replies drained, concurrency {}; {} ms provider latency, {}% 429 + {}% 503; {} failed, {} dead",
                        o.replies_accepted, o.concurrency, o.faults.latency_ms, o.faults.rate_limited_pct, o.faults.unavailable_pct, o.failed, o.dead
                    )
                })
                .unwrap_or_default(),
        ));
    }
    out.push(check(
        "two PostgreSQL nodes drain one outbox without a duplicate send",
        s.outbound_postgres_2_nodes.as_ref().map(|o| o.provider.duplicates as f64),
        "duplicates",
        |v| v == 0.0,
        s.outbound_postgres_2_nodes
            .as_ref()
            .map(|o| format!("{} replies, sent by node {:?}, {} unfinished; {:.0} sends/s", o.replies_accepted, o.sent_by_node, o.unfinished, o.sends_per_s))
            .unwrap_or_default(),
    ));
    out
}

fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let line = |cells: Vec<&str>, out: &mut String| {
        out.push_str("  ");
        for (i, cell) in cells.iter().enumerate() {
            let pad = widths[i] - cell.chars().count();
            if i == 0 {
                out.push_str(cell);
                out.push_str(&" ".repeat(pad));
            } else {
                out.push_str(&" ".repeat(pad));
                out.push_str(cell);
            }
            out.push_str("  ");
        }
        out.truncate(out.trim_end().len());
        out.push('\n');
    };
    line(headers.to_vec(), &mut out);
    line(widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>().iter().map(String::as_str).collect(), &mut out);
    for row in rows {
        line(row.iter().map(String::as_str).collect(), &mut out);
    }
    out
}

fn ms(v: f64) -> String {
    if v >= 100.0 { format!("{v:.0}") } else if v >= 10.0 { format!("{v:.1}") } else { format!("{v:.2}") }
}

fn pct(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.0}%")).unwrap_or_else(|| "-".into())
}

fn phase_rows(phases: &[&PhaseReport]) -> String {
    // PostgreSQL's own processes get a column when they were metered.
    let with_database = phases.iter().any(|p| p.database_cpu_pct.is_some());
    let rows: Vec<Vec<String>> = phases
        .iter()
        .map(|p| {
            let mode = p.name.clone();
            let mut note = String::new();
            if p.saturated {
                let _ = write!(note, "SATURATED after {:.1} s, {} not sent", p.aborted_after_s.unwrap_or(0.0), p.not_sent);
            }
            if p.disturbed {
                let _ = write!(note, "{}DISTURBED by other work", if note.is_empty() { "" } else { "; " });
            }
            let mut row = vec![
                mode,
                format!("{:.0}", p.achieved_rate),
                ms(p.latency.p50_ms),
                ms(p.latency.p95_ms),
                ms(p.latency.p99_ms),
                ms(p.latency.max_ms),
                ms(p.service_time.p99_ms),
                p.non_2xx.to_string(),
                p.transport_errors.to_string(),
                pct(p.server_cpu_pct),
                p.server_cpu_us_per_request.map(|v| format!("{v:.0}")).unwrap_or_else(|| "-".into()),
            ];
            if with_database {
                row.push(pct(p.database_cpu_pct));
                row.push(p.system_cpu_us_per_request().map(|v| format!("{v:.0}")).unwrap_or_else(|| "-".into()));
            }
            row.extend([pct(p.driver_cpu_pct), pct(p.other_cpu_pct), note]);
            row
        })
        .collect();
    let mut headers = vec!["phase", "2xx/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "svc p99", "non-2xx", "transport", "srv CPU", "srv µs/req"];
    if with_database {
        headers.extend(["db CPU", "srv+db µs/req"]);
    }
    headers.extend(["drv CPU", "other CPU", "note"]);
    table(&headers, &rows)
}

pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let m = &report.machine;
    let s = &report.settings;
    let _ = writeln!(out, "\nSwitchboard benchmark — {}{}", m.date, if s.quick { " (quick run)" } else { "" });
    let _ = writeln!(out, "================================================================================");
    let _ = writeln!(
        out,
        "machine   {} · {} cores (nproc) · {} · {} MiB RAM · Linux {}",
        m.hostname, m.nproc, m.cpu_model, m.memory_total_mb, m.kernel
    );
    let _ = writeln!(out, "build     {} profile · switchboard {} · git {}", m.build_profile, report.switchboard_binary, m.git_revision.as_deref().unwrap_or("?"));
    let _ = writeln!(out, "pinning   {} — {}", if report.pinning.applied { "applied" } else { "NOT applied" }, report.pinning.note);
    let busy: Vec<String> = report
        .quiet_waits
        .iter()
        .map(|w| format!("{} {}", w.scenario, w.busy_elsewhere_pct.map(|b| format!("{b:.0}%")).unwrap_or("?".into())))
        .collect();
    let _ = writeln!(
        out,
        "noise     load average at start {} · other work before each scenario (% of a core): {}",
        m.load_average_at_start.map(|l| format!("{l:.2}")).unwrap_or("?".into()),
        busy.join(", ")
    );
    let _ = writeln!(out, "latency   open loop: from the scheduled send time (coordinated omission corrected); closed loop: per request, uncorrected");
    let _ = writeln!(out, "          `svc p99` = p99 from the actual send; CPU = % of one core during the phase (server, driver, everything else)");

    let sc = &report.scenarios;
    if let Some(b) = &sc.baseline {
        let _ = writeln!(out, "\n1. Baseline — trivial axum handler (reads the body, answers 200), same driver");
        out.push_str(&phase_rows(&[&b.max, &b.driver_check]));
        let _ = writeln!(
            out,
            "  ceiling: {:.0} requests/s{}",
            b.max.achieved_rate,
            if b.max.driver_cpu_pct.is_some_and(|d| d > 90.0) {
                format!(
                    " — driver-bound (driver {:.0}% of core 1, server {:.0}% of core 0): the server alone would go further",
                    b.max.driver_cpu_pct.unwrap_or(0.0),
                    b.max.server_cpu_pct.unwrap_or(0.0)
                )
            } else {
                String::new()
            }
        );
    }
    if let Some(i) = &sc.ingest {
        let title = format!("2. Ingest — signed WhatsApp webhooks, durable in SQLite before 2xx ({} senders)", i.sender_pool);
        ingest_section(&mut out, &title, i);
    }
    if let Some(i) = &sc.ingest_postgres {
        let title = format!("2b. Ingest on PostgreSQL — the same webhooks, durable in PostgreSQL before 2xx ({} senders)", i.sender_pool);
        ingest_section(&mut out, &title, i);
    }
    if let Some(i) = &sc.ingest_routed {
        let title = format!("2c. Ingest with routing — the same webhooks on SQLite, five policies chained after each commit ({} senders)", i.sender_pool);
        ingest_section(&mut out, &title, i);
        let sm = &i.server_metrics;
        let _ = writeln!(
            out,
            "  routing: {} runs applied, mean commit→decision {} ms, {} policy failures",
            sm.routing_runs.map(|v| format!("{v:.0}")).unwrap_or("-".into()),
            sm.mean_routing_lag_ms.map(|v| format!("{v:.1}")).unwrap_or("-".into()),
            sm.routing_skipped.map(|v| format!("{v:.0}")).unwrap_or("0".into()),
        );
        let plain = sc.ingest.as_ref().and_then(|plain| Some((plain, plain.open_loop.first()?)));
        if let (Some((plain, base)), Some(first)) = (plain, i.open_loop.first()) {
            let _ = writeln!(
                out,
                "  vs ingest without routing, first open-loop rate: 2xx p50 {} → {} ms, p99 {} → {} ms; max {:.0} → {:.0}/s",
                ms(base.latency.p50_ms),
                ms(first.latency.p50_ms),
                ms(base.latency.p99_ms),
                ms(first.latency.p99_ms),
                plain.max.achieved_rate,
                i.max.achieved_rate
            );
        }
    }
    if report.ingest_comparison.len() > 1 {
        comparison_section(&mut out, &report.ingest_comparison);
    }
    if let Some(l) = &sc.live {
        let _ = writeln!(out, "\n3. Live stream — {} agents on GET /api/v1/events while ingesting", l.agents);
        out.push_str(&phase_rows(&[&l.warmup, &l.ingest]));
        let a = &l.ack_to_stream;
        let _ = writeln!(
            out,
            "  2xx → event on agent stream: p50 {} ms · p95 {} ms · p99 {} ms · max {} ms (worst agent p99 {} ms)",
            ms(a.p50_ms),
            ms(a.p95_ms),
            ms(a.p99_ms),
            ms(a.max_ms),
            ms(l.worst_agent_p99_ms)
        );
        let _ = writeln!(
            out,
            "  deliveries {} of {} ({} missing, {} duplicates, {} arrived before the 2xx)",
            l.delivered, l.expected_deliveries, l.missing, l.duplicates, l.before_ack
        );
        verification_line(&mut out, &l.verification);
        log_line(&mut out, &l.server_log);
    }
    for (backend, o) in [("SQLite", &sc.outbound), ("PostgreSQL", &sc.outbound_postgres), ("PostgreSQL, two nodes", &sc.outbound_postgres_2_nodes)] {
        let Some(o) = o else { continue };
        let _ = writeln!(
            out,
            "\n4. Outbound on {backend} — fake Graph API: {} ms latency, {}% 429 (130429, Retry-After: 0), {}% 503",
            o.faults.latency_ms, o.faults.rate_limited_pct, o.faults.unavailable_pct
        );
        let _ = writeln!(out, "  replies are queued while the provider holds every request; then it opens and the outbox drains the backlog");
        let _ = writeln!(
            out,
            "  {} replies over {} conversations queued at {:.0}/s (API p50 {} ms, p99 {} ms){}; outbox.concurrency {}",
            o.replies_accepted,
            o.conversations,
            o.queue_rate,
            ms(o.queue_latency.p50_ms),
            ms(o.queue_latency.p99_ms),
            if o.reply_api_errors.is_empty() { String::new() } else { format!(", API errors {:?}", o.reply_api_errors) },
            o.concurrency
        );
        let _ = writeln!(
            out,
            "  drained: {} sent, {} failed, {} dead, {} unfinished in {:.2} s → {:.0} sends/s",
            o.sent, o.failed, o.dead, o.unfinished, o.drain_s, o.sends_per_s
        );
        let _ = writeln!(
            out,
            "  provider opened → reply sent: p50 {} ms, p99 {} ms, max {} ms",
            ms(o.open_to_sent.p50_ms),
            ms(o.open_to_sent.p99_ms),
            ms(o.open_to_sent.max_ms)
        );
        let _ = writeln!(out, "  server while draining: {} of core 0; by thread: {}", pct(o.drain_server_cpu_pct), threads_line(&o.drain_server_thread_cpu_s));
        let t = &o.outbox_timings;
        let _ = writeln!(
            out,
            "  gateway's account: result written {} ms after the send (mean), a result transaction {} ms for {} results; {} claims of {} ms",
            t.result_wait_ms.map_or("–".into(), ms),
            t.result_write_ms.map_or("–".into(), ms),
            t.result_batch.map_or("–".into(), |b| format!("{b:.1}")),
            t.claims,
            t.claim_ms.map_or("–".into(), ms)
        );
        let _ = writeln!(
            out,
            "  provider saw {} requests: {} ok, {} × 429, {} × 503, {} rejected, {} duplicates; attempts recorded {:?}; sent by node {:?}",
            o.provider.requests, o.provider.ok, o.provider.rate_limited_429, o.provider.unavailable_503, o.provider.rejected, o.provider.duplicates, o.attempts, o.sent_by_node
        );
        log_line(&mut out, &o.server_log);
    }
    if let Some(p) = &sc.plugin {
        let _ = writeln!(out, "\n5. Plugin runtime — in process, whatsapp.wasm ({} KiB)", p.wasm_bytes / 1024);
        let _ = writeln!(
            out,
            "  PluginRuntime::new {:.1} ms · cold load (compile, cores {}) {:.1} ms · load from cache {:.1} ms",
            p.runtime_new_ms, p.compile_cpus, p.cold_load_ms, p.cached_load_ms
        );
        let _ = writeln!(
            out,
            "  handle_webhook × {}: p50 {:.1} µs · p99 {:.1} µs · mean {:.1} µs · {:.0} calls/s on one core · {} failures",
            p.calls,
            p.call.p50_ms * 1e3,
            p.call.p99_ms * 1e3,
            p.call.mean_ms * 1e3,
            p.calls_per_s,
            p.failures
        );
        let _ = writeln!(
            out,
            "  breakdown (p50): GET handshake (fresh instance, no HMAC, no parse) {:.1} µs · bad signature (instance + HMAC) {:.1} µs · full {:.1} µs",
            p.handshake_call.p50_ms * 1e3,
            p.bad_signature_call.p50_ms * 1e3,
            p.call.p50_ms * 1e3
        );
        let b = &p.breakdown;
        let _ = writeln!(
            out,
            "  in process: identity::normalize_events p50 {:.1} µs · inbound pipeline, plugin to commit ({} submitters) {:.0} webhooks/s, {} µs CPU each, p99 {} ms",
            b.normalize_events.p50_ms * 1e3,
            b.pipeline_concurrency,
            b.pipeline_rate,
            b.pipeline_cpu_us_per_webhook.map(|v| format!("{v:.0}")).unwrap_or("?".into()),
            ms(b.pipeline_latency.p99_ms)
        );
    }
    if let Some(st) = &sc.storage {
        let _ = writeln!(out, "\n6. Storage growth — unique senders, closed-loop ingest; idle RSS {:.1} MiB", st.idle_rss_mb);
        let rows: Vec<Vec<String>> = st
            .checkpoints
            .iter()
            .map(|c| {
                vec![
                    c.conversations.to_string(),
                    format!("{:.0}", c.ingest.achieved_rate),
                    format!("{:.1}", c.rss_mb),
                    format!("{:.1}", c.db_mb),
                    format!("{:.1}", c.wal_mb),
                    format!("{} / {}", ms(c.list_first_page.p50_ms), ms(c.list_first_page.p99_ms)),
                    format!("{} / {}", ms(c.list_deep_page.p50_ms), ms(c.list_deep_page.p99_ms)),
                    c.deep_page_offset.to_string(),
                ]
            })
            .collect();
        out.push_str(&table(
            &["conversations", "ingest/s", "RSS MiB", "db MiB", "wal MiB", "list p50/p99 ms", "deep p50/p99 ms", "deep offset"],
            &rows,
        ));
        for c in &st.checkpoints {
            let _ = writeln!(
                out,
                "  at {} conversations: filtered list p50/p99 {} / {} ms; view counts {} / {} ms; search (found {:.1} s after the last ack) {}",
                c.conversations,
                ms(c.list_filtered.p50_ms),
                ms(c.list_filtered.p99_ms),
                ms(c.view_counts.p50_ms),
                ms(c.view_counts.p99_ms),
                c.search_lag_s,
                c.search.iter().map(|(what, l)| format!("{what} {} / {} ms", ms(l.p50_ms), ms(l.p99_ms))).collect::<Vec<_>>().join(" · ")
            );
        }
        for note in &st.skipped {
            let _ = writeln!(out, "  note: {note}");
        }
        verification_line(&mut out, &st.verification);
        log_line(&mut out, &st.server_log);
    }
    if let Some(ib) = &report.scenarios.inbox {
        let b = &ib.browser;
        let _ = writeln!(out, "\n7. The inbox in headless Chromium — {} conversations (ingested at {:.0}/s)", ib.conversations, ib.ingest.achieved_rate);
        let _ = writeln!(
            out,
            "  first contentful paint p50 {} ms (max {}) · first list row p50 {} ms (max {}) over {} page loads",
            b["first_paint_ms"]["p50"], b["first_paint_ms"]["max"], b["first_row_ms"]["p50"], b["first_row_ms"]["max"], b["runs"]
        );
        let _ = writeln!(
            out,
            "  scrolling {} frames: interval p50 {} ms, p99 {} ms, {} over 50 ms; at most {} rows in the page; afterwards: {}",
            b["scroll"]["frames"], b["scroll"]["frame_p50_ms"], b["scroll"]["frame_p99_ms"], b["scroll"]["frames_over_50ms"], b["scroll"]["max_rows_in_dom"], b["scroll"]["list_after"]
        );
    }
    for error in &report.scenario_errors {
        let _ = writeln!(out, "\nSCENARIO FAILED: {error}");
    }
    for skipped in &report.skipped_scenarios {
        let _ = writeln!(out, "\nSCENARIO SKIPPED: {} — {}", skipped.scenario, skipped.reason);
    }
    let _ = writeln!(out, "\nTargets");
    let rows: Vec<Vec<String>> = report
        .targets
        .iter()
        .map(|t| {
            vec![
                t.target.clone(),
                t.measured.map(|v| format!("{v:.1} {}", t.unit)).unwrap_or_else(|| "-".into()),
                match t.pass {
                    Some(true) => "met".into(),
                    Some(false) => "MISSED".into(),
                    None => "not run".into(),
                },
                t.note.clone(),
            ]
        })
        .collect();
    out.push_str(&table(&["target", "measured", "result", "how"], &rows));
    if !report.disturbed_phases.is_empty() {
        let _ = writeln!(
            out,
            "\nWARNING: other work on the machine used > 15% of a core during: {} — rerun on a quiet machine (see --wait-idle-secs)",
            report.disturbed_phases.join(", ")
        );
    }
    let _ = writeln!(
        out,
        "\ncorrectness: {} · total {:.0} s",
        if report.verification_passed { "every acknowledged webhook stored exactly once" } else { "FAILED (see above)" },
        report.total_seconds
    );
    out
}

/// One ingest run (either backend): its phases, the ratio to the baseline, where time went.
fn ingest_section(out: &mut String, title: &str, i: &IngestResult) {
    let _ = writeln!(out, "\n{title}");
    let mut phases: Vec<&PhaseReport> = vec![&i.warmup];
    phases.extend(i.open_loop.iter());
    phases.push(&i.max);
    out.push_str(&phase_rows(&phases));
    let cost = if i.database_cpu_s.is_some() { "server + PostgreSQL CPU" } else { "server CPU" };
    if let Some(r) = i.ratio_to_baseline {
        let _ = writeln!(
            out,
            "  max throughput = {:.1}% of the baseline ceiling; in {cost} per request the gateway costs {} the trivial handler",
            r * 100.0,
            i.cpu_ratio_to_baseline.map(|c| format!("{:.0}×", 1.0 / c)).unwrap_or("?".into())
        );
    }
    let sm = &i.server_metrics;
    let _ = writeln!(
        out,
        "  gateway /metrics: mean group-commit batch {}, mean plugin webhook call {} µs, mean arrival→commit {} ms",
        sm.mean_ingest_batch.map(|v| format!("{v:.1}")).unwrap_or("-".into()),
        sm.mean_plugin_webhook_call_us.map(|v| format!("{v:.0}")).unwrap_or("-".into()),
        sm.mean_server_ingest_ms.map(|v| format!("{v:.2}")).unwrap_or("-".into()),
    );
    let mib = |bytes: u64| bytes as f64 / 1048576.0;
    match i.wal_bytes {
        Some(wal) => {
            let _ = writeln!(out, "  database after the run: {:.1} MiB + {:.1} MiB WAL", mib(i.db_bytes), mib(wal));
        }
        None => {
            let _ = writeln!(out, "  database after the run: {:.1} MiB (pg_database_size; the cluster's WAL not counted)", mib(i.db_bytes));
        }
    }
    let _ = writeln!(out, "  server CPU by thread: {}", threads_line(&i.server_thread_cpu_s));
    if let Some(database_s) = i.database_cpu_s {
        let server_s: f64 = i.server_thread_cpu_s.values().sum();
        let _ = writeln!(
            out,
            "  PostgreSQL processes of the database: {database_s:.1} CPU-s over the same span ({:.0}% of the gateway's; not pinned)",
            database_s / server_s.max(1e-9) * 100.0
        );
    }
    verification_line(out, &i.verification);
    log_line(out, &i.server_log);
}

/// SQLite and PostgreSQL ingest, phase by phase, then each against the trivial handler.
fn comparison_section(out: &mut String, backends: &[IngestSummary]) {
    let _ = writeln!(out, "\nIngest by database — latency in ms, errors = non-2xx + transport, * = saturated");
    let label = |database: &str| if database == "postgres" { "PostgreSQL" } else { "SQLite" };
    let mut names: Vec<&str> = Vec::new();
    for phase in backends.iter().flat_map(|b| &b.phases) {
        if !names.contains(&phase.phase.as_str()) {
            names.push(&phase.phase);
        }
    }
    let headings: Vec<String> = backends.iter().map(|b| format!("{} 2xx/s", label(&b.database))).collect();
    let mut headers = vec!["phase"];
    for heading in &headings {
        headers.extend([heading.as_str(), "p50", "p95", "p99", "max", "errors"]);
    }
    let mut rows: Vec<Vec<String>> = names
        .iter()
        .map(|name| {
            let mut row = vec![name.to_string()];
            for backend in backends {
                match backend.phases.iter().find(|p| p.phase == *name) {
                    Some(p) => row.extend([
                        format!("{:.0}{}", p.rate, if p.saturated { "*" } else { "" }),
                        ms(p.p50_ms),
                        ms(p.p95_ms),
                        ms(p.p99_ms),
                        ms(p.max_ms),
                        p.errors.to_string(),
                    ]),
                    None => row.extend(std::iter::repeat_n("-".to_string(), 6)),
                }
            }
            row
        })
        .collect();
    let summary = |name: &str, value: &dyn Fn(&IngestSummary) -> Option<String>| {
        let mut row = vec![name.to_string()];
        for backend in backends {
            row.push(value(backend).unwrap_or_else(|| "-".into()));
            row.extend(std::iter::repeat_n(String::new(), 5));
        }
        row
    };
    rows.push(summary("sustained (open loop)", &|b| b.sustained_rate.map(|r| format!("{r:.0}"))));
    rows.push(summary("max ÷ baseline ceiling", &|b| b.ratio_to_baseline.map(|r| format!("{:.1}%", r * 100.0))));
    rows.push(summary("same, by CPU per request", &|b| b.cpu_ratio_to_baseline.map(|r| format!("{:.1}%", r * 100.0))));
    rows.push(summary("CPU µs per webhook at max", &|b| b.cpu_us_per_webhook.map(|v| format!("{v:.0}"))));
    out.push_str(&table(&headers, &rows));
    let _ = writeln!(out, "  CPU per webhook: the gateway's, plus PostgreSQL's processes for that database (SQLite runs inside the gateway)");
    for backend in backends {
        if let Some(reason) = &backend.not_measured {
            let _ = writeln!(out, "  {}: {reason}", label(&backend.database));
        }
    }
}

fn threads_line(threads: &std::collections::BTreeMap<String, f64>) -> String {
    let total: f64 = threads.values().sum();
    let mut sorted: Vec<_> = threads.iter().collect();
    sorted.sort_by(|a, b| b.1.total_cmp(a.1));
    let parts: Vec<String> = sorted.iter().take(5).map(|(n, s)| format!("{n} {:.0}%", *s / total.max(1e-9) * 100.0)).collect();
    format!("{} ({total:.1} CPU-s in all)", parts.join(", "))
}

fn verification_line(out: &mut String, v: &crate::scenarios::Verification) {
    let _ = writeln!(
        out,
        "  verification: {} — {} acked, {} stored exactly once, {} missing, {} duplicated{}",
        if v.ok { "ok" } else { "FAILED" },
        v.acked,
        v.stored_once,
        v.missing,
        v.duplicated,
        if v.missing_examples.is_empty() { String::new() } else { format!(" (e.g. {})", v.missing_examples.join(", ")) }
    );
}

fn log_line(out: &mut String, log: &crate::server::LogSummary) {
    if log.warnings + log.errors > 0 {
        let _ = writeln!(out, "  server log: {} warnings, {} errors; first: {}", log.warnings, log.errors, log.first_lines.first().map(String::as_str).unwrap_or(""));
    }
}
