//! The load driver: open-loop (fixed arrival rate) and closed-loop (max throughput) webhook
//! senders, and the latency statistics they produce.
//!
//! **Open loop.** Request `i` is *scheduled* at `t0 + i / rate`, whatever happened to earlier
//! requests. A scheduler task spawns every due request as its own task at its scheduled
//! instant; its latency is measured from that scheduled instant, not from when it actually got
//! onto the wire, so time spent queueing behind a slow server (or for a free connection) is
//! counted: this corrects for coordinated omission. The uncorrected "service time" (from the
//! actual send) is recorded as well, for comparison. If the backlog of scheduled-but-unanswered
//! requests amounts to more than `max_backlog` seconds of the throughput measured so far (the
//! queueing delay a new request would see), the server cannot keep up: the phase stops
//! scheduling, is marked saturated, and what was already scheduled is still sent and measured.
//!
//! **Closed loop.** `connections` workers each send, wait for the answer, and send again.
//! This finds the maximum throughput, but its latencies are *not* corrected (a closed loop
//! slows down with the server by construction); reports label it as such.

use crate::webhook::{mix, WebhookFactory};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// Where webhooks go.
#[derive(Clone)]
pub struct Target {
    pub client: reqwest::Client,
    pub url: String,
}

/// The HTTP client every driver uses: a large pool of keep-alive connections over loopback.
pub fn http_client(timeout: Option<Duration>) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(8192)
        .pool_idle_timeout(Duration::from_secs(120));
    if let Some(timeout) = timeout {
        builder = builder.timeout(timeout);
    }
    builder.build().expect("building the HTTP client")
}

/// Which customer sends message `seq`.
#[derive(Clone, Copy, Debug)]
pub enum Senders {
    /// Spread over a pool of this many customers (many messages per conversation).
    Pool(u64),
    /// Customer `offset + seq`: every message starts a new conversation.
    Unique { offset: u64 },
}

impl Senders {
    fn sender(self, seq: u64) -> u64 {
        match self {
            Self::Pool(size) => mix(seq) % size.max(1),
            Self::Unique { offset } => offset + seq,
        }
    }
}

/// What the driver knows about one request.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    pub seq: u64,
    /// When it should have been sent (open loop) or was due (closed loop: = `sent`).
    pub scheduled: Instant,
    pub sent: Instant,
    /// When the whole response had arrived.
    pub done: Instant,
    /// HTTP status; 0 for a transport error.
    pub status: u16,
}

impl Sample {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Shared plumbing for one phase's requests.
#[derive(Clone)]
pub struct Generator {
    pub target: Target,
    pub factory: Arc<WebhookFactory>,
    /// Next message sequence number (shared by every phase against one server).
    pub seqs: Arc<AtomicU64>,
    pub senders: Senders,
}

#[derive(Default)]
struct Collector {
    samples: Mutex<Vec<Sample>>,
    errors: Mutex<BTreeMap<String, u64>>,
}

impl Collector {
    fn error(&self, kind: String) {
        *self.errors.lock().unwrap().entry(kind).or_default() += 1;
    }
}

async fn fire(generator: &Generator, collector: &Collector, seq: u64, scheduled: Instant) {
    let hook = generator.factory.make(seq, generator.senders.sender(seq));
    let sent = Instant::now();
    let result = generator
        .target
        .client
        .post(&generator.target.url)
        .header("content-type", "application/json")
        .header("x-hub-signature-256", hook.signature)
        .body(hook.body)
        .send()
        .await;
    let status = match result {
        Ok(response) => {
            let status = response.status().as_u16();
            match response.bytes().await {
                Ok(_) => {
                    if !(200..300).contains(&status) {
                        collector.error(format!("HTTP {status}"));
                    }
                    status
                }
                Err(error) => {
                    collector.error(classify(&error));
                    0
                }
            }
        }
        Err(error) => {
            collector.error(classify(&error));
            0
        }
    };
    let done = Instant::now();
    collector.samples.lock().unwrap().push(Sample { seq, scheduled, sent, done, status });
}

fn classify(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "transport: timeout".into()
    } else if error.is_connect() {
        "transport: connect".into()
    } else if error.is_body() || error.is_decode() {
        "transport: body".into()
    } else {
        let mut text = format!("transport: {error}");
        text.truncate(120);
        text
    }
}

/// The raw outcome of one phase.
pub struct PhaseRun {
    pub mode: Mode,
    pub samples: Vec<Sample>,
    pub errors: BTreeMap<String, u64>,
    /// Start of the measured window.
    pub window_start: Instant,
    /// End of the measured window (open loop: last answer; closed loop: the deadline).
    pub window_end: Instant,
    /// Requests the open loop meant to send but did not (saturated).
    pub not_sent: u64,
    pub aborted_after: Option<Duration>,
    /// Closed loop: samples sent before this were warm-up and are excluded from statistics.
    pub warmup_until: Option<Instant>,
}

#[derive(Clone, Copy, Debug, Serialize, PartialEq)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    OpenLoop { target_rate: f64 },
    ClosedLoop { connections: usize },
}

/// Send at `rate` per second for `duration`, open loop. Stop early (saturated) once the backlog
/// exceeds `max_backlog` seconds' worth of the answers measured so far.
pub async fn open_loop(generator: &Generator, rate: f64, duration: Duration, max_inflight: usize, max_backlog: Duration) -> PhaseRun {
    let total = (rate * duration.as_secs_f64()).round() as u64;
    let interval_ns = 1e9 / rate;
    let collector = Arc::new(Collector::default());
    collector.samples.lock().unwrap().reserve(total as usize);
    let outstanding = Arc::new(AtomicU64::new(0));
    let completed = Arc::new(AtomicU64::new(0));
    let permits = Arc::new(Semaphore::new(max_inflight.max(1)));
    let t0 = Instant::now() + Duration::from_millis(20);
    let at = |i: u64| t0 + Duration::from_nanos((i as f64 * interval_ns) as u64);
    let mut i = 0u64;
    let mut aborted_after = None;
    'schedule: while i < total {
        let now = Instant::now();
        while i < total && at(i) <= now {
            let elapsed = now.saturating_duration_since(t0).as_secs_f64();
            // For the first second (connections are still being opened), go by the target rate.
            let throughput = if elapsed >= 1.0 { completed.load(Ordering::Relaxed) as f64 / elapsed } else { rate };
            let limit = (throughput * max_backlog.as_secs_f64()).max(500.0) as u64;
            if outstanding.load(Ordering::Relaxed) >= limit {
                aborted_after = Some(now.saturating_duration_since(t0));
                break 'schedule;
            }
            outstanding.fetch_add(1, Ordering::Relaxed);
            let seq = generator.seqs.fetch_add(1, Ordering::Relaxed);
            let scheduled = at(i);
            let (generator, collector, outstanding, completed, permits) =
                (generator.clone(), collector.clone(), outstanding.clone(), completed.clone(), permits.clone());
            tokio::spawn(async move {
                // Waiting for a free connection slot counts: latency runs from `scheduled`.
                let permit = permits.acquire_owned().await;
                fire(&generator, &collector, seq, scheduled).await;
                drop(permit);
                completed.fetch_add(1, Ordering::Relaxed);
                outstanding.fetch_sub(1, Ordering::Relaxed);
            });
            i += 1;
        }
        if i < total {
            tokio::time::sleep_until(at(i).into()).await;
        }
    }
    // Let everything already scheduled finish (requests time out after 30 s at worst).
    let drain_deadline = Instant::now() + Duration::from_secs(60);
    while outstanding.load(Ordering::Relaxed) > 0 && Instant::now() < drain_deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let samples = std::mem::take(&mut *collector.samples.lock().unwrap());
    let errors = std::mem::take(&mut *collector.errors.lock().unwrap());
    let window_end = samples.iter().map(|s| s.done).max().unwrap_or(t0).max(at(i.saturating_sub(1)));
    PhaseRun {
        mode: Mode::OpenLoop { target_rate: rate },
        samples,
        errors,
        window_start: t0,
        window_end,
        not_sent: total - i,
        aborted_after,
        warmup_until: None,
    }
}

/// When a closed loop stops.
#[derive(Clone, Copy, Debug)]
pub enum Stop {
    /// After this long (the first `warmup` excluded from statistics).
    After { duration: Duration, warmup: Duration },
    /// After exactly this many requests have been sent.
    Count(u64),
}

/// `connections` workers, each sending its next request as soon as the previous is answered.
pub async fn closed_loop(generator: &Generator, connections: usize, stop: Stop) -> PhaseRun {
    let collector = Arc::new(Collector::default());
    let issued = Arc::new(AtomicU64::new(0));
    let t0 = Instant::now();
    let (deadline, warmup_until) = match stop {
        Stop::After { duration, warmup } => (Some(t0 + warmup + duration), Some(t0 + warmup)),
        Stop::Count(_) => (None, None),
    };
    let mut workers = Vec::with_capacity(connections);
    for _ in 0..connections.max(1) {
        let (generator, collector, issued) = (generator.clone(), collector.clone(), issued.clone());
        workers.push(tokio::spawn(async move {
            loop {
                match stop {
                    Stop::After { .. } => {
                        if Instant::now() >= deadline.unwrap() {
                            break;
                        }
                    }
                    Stop::Count(limit) => {
                        if issued.fetch_add(1, Ordering::Relaxed) >= limit {
                            break;
                        }
                    }
                }
                let seq = generator.seqs.fetch_add(1, Ordering::Relaxed);
                fire(&generator, &collector, seq, Instant::now()).await;
            }
        }));
    }
    for worker in workers {
        let _ = worker.await;
    }
    let samples = std::mem::take(&mut *collector.samples.lock().unwrap());
    let errors = std::mem::take(&mut *collector.errors.lock().unwrap());
    let window_end = deadline.unwrap_or_else(|| samples.iter().map(|s| s.done).max().unwrap_or(t0));
    PhaseRun {
        mode: Mode::ClosedLoop { connections },
        samples,
        errors,
        window_start: warmup_until.unwrap_or(t0),
        window_end,
        not_sent: 0,
        aborted_after: None,
        warmup_until,
    }
}

/// Latency percentiles, in milliseconds.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Latency {
    pub count: usize,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    /// From durations in nanoseconds (nearest-rank percentiles).
    pub fn from_nanos(mut values: Vec<u64>) -> Self {
        if values.is_empty() {
            return Self::default();
        }
        values.sort_unstable();
        let n = values.len();
        let pick = |p: f64| {
            let rank = ((p * n as f64).ceil() as usize).clamp(1, n);
            values[rank - 1] as f64 / 1e6
        };
        let sum: u128 = values.iter().map(|v| u128::from(*v)).sum();
        Self {
            count: n,
            mean_ms: sum as f64 / n as f64 / 1e6,
            p50_ms: pick(0.50),
            p90_ms: pick(0.90),
            p95_ms: pick(0.95),
            p99_ms: pick(0.99),
            p999_ms: pick(0.999),
            max_ms: values[n - 1] as f64 / 1e6,
        }
    }

    pub fn from_durations(values: impl IntoIterator<Item = Duration>) -> Self {
        Self::from_nanos(values.into_iter().map(|d| d.as_nanos() as u64).collect())
    }
}

/// One phase, summarised for the report.
#[derive(Clone, Debug, Serialize)]
pub struct PhaseReport {
    pub name: String,
    pub mode: Mode,
    /// Length of the measured window, seconds.
    pub window_s: f64,
    pub sent: u64,
    pub ok_2xx: u64,
    pub non_2xx: u64,
    pub transport_errors: u64,
    /// Open loop only: scheduled requests never sent because the backlog limit was hit.
    pub not_sent: u64,
    /// The server could not keep up with the target rate (open loop).
    pub saturated: bool,
    pub aborted_after_s: Option<f64>,
    /// 2xx answers per second over the measured window.
    pub achieved_rate: f64,
    /// Open loop: from the scheduled send time (coordinated-omission corrected).
    /// Closed loop: from the actual send (uncorrected, by construction).
    pub latency: Latency,
    /// From the actual send, for comparison with `latency`.
    pub service_time: Latency,
    pub errors: BTreeMap<String, u64>,
    /// CPU used by the server process during the phase, % of one core.
    pub server_cpu_pct: Option<f64>,
    /// CPU used by this harness during the phase, % of one core.
    pub driver_cpu_pct: Option<f64>,
    /// CPU used by the PostgreSQL processes serving the server's database, % of one core
    /// (`None` on SQLite, which runs inside the server process).
    pub database_cpu_pct: Option<f64>,
    /// CPU used by everything else on the machine during the phase, % of one core. Anything
    /// well above 0 means the measurement was disturbed by other work.
    pub other_cpu_pct: Option<f64>,
    /// Server CPU time per 2xx answer, µs (PostgreSQL's processes not included).
    pub server_cpu_us_per_request: Option<f64>,
    /// Other work used more than 15% of a core during the phase: treat with suspicion.
    pub disturbed: bool,
}

impl PhaseReport {
    /// Server and database CPU per 2xx answer, µs: what a webhook costs the system under test
    /// whether the database runs inside the server (SQLite) or beside it (PostgreSQL).
    pub fn system_cpu_us_per_request(&self) -> Option<f64> {
        let pct = self.server_cpu_pct? + self.database_cpu_pct.unwrap_or(0.0);
        (self.achieved_rate > 0.0).then(|| pct / 100.0 / self.achieved_rate * 1e6)
    }

    pub fn from_run(name: &str, run: &PhaseRun) -> Self {
        let measured: Vec<&Sample> = run
            .samples
            .iter()
            .filter(|s| run.warmup_until.is_none_or(|warm| s.sent >= warm))
            .collect();
        let ok_in_window = run
            .samples
            .iter()
            .filter(|s| s.ok() && s.done >= run.window_start && s.done <= run.window_end)
            .count() as u64;
        let window = run.window_end.saturating_duration_since(run.window_start).as_secs_f64().max(1e-9);
        let ok_2xx = measured.iter().filter(|s| s.ok()).count() as u64;
        let transport_errors = measured.iter().filter(|s| s.status == 0).count() as u64;
        Self {
            name: name.to_string(),
            mode: run.mode,
            window_s: window,
            sent: measured.len() as u64,
            ok_2xx,
            non_2xx: measured.len() as u64 - ok_2xx - transport_errors,
            transport_errors,
            not_sent: run.not_sent,
            saturated: run.aborted_after.is_some(),
            aborted_after_s: run.aborted_after.map(|d| d.as_secs_f64()),
            achieved_rate: ok_in_window as f64 / window,
            latency: Latency::from_durations(measured.iter().map(|s| s.done - s.scheduled)),
            service_time: Latency::from_durations(measured.iter().map(|s| s.done - s.sent)),
            errors: run.errors.clone(),
            server_cpu_pct: None,
            driver_cpu_pct: None,
            database_cpu_pct: None,
            other_cpu_pct: None,
            server_cpu_us_per_request: None,
            disturbed: false,
        }
    }
}
