//! The machine the benchmark ran on, CPU pinning, and per-process CPU and memory readings.

use serde::Serialize;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Clone, Debug, Serialize)]
pub struct MachineInfo {
    pub hostname: String,
    /// `nproc --all`.
    pub nproc: usize,
    pub cpu_model: String,
    pub memory_total_mb: u64,
    pub kernel: String,
    pub build_profile: &'static str,
    /// UTC, RFC 3339.
    pub date: String,
    pub git_revision: Option<String>,
    /// 1-minute load average when the run started (other work on the machine skews results).
    pub load_average_at_start: Option<f64>,
}

impl MachineInfo {
    /// Read before pinning (so `nproc` sees every core).
    pub fn collect() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find(|line| line.starts_with("model name"))
            .and_then(|line| line.split_once(':'))
            .map(|(_, model)| model.trim().to_string())
            .unwrap_or_else(|| "unknown".into());
        let nproc = command_output("nproc", &["--all"])
            .and_then(|text| text.trim().parse().ok())
            .or_else(|| std::thread::available_parallelism().ok().map(usize::from))
            .unwrap_or(1);
        let memory_total_mb = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|text| text.lines().find(|l| l.starts_with("MemTotal:")).and_then(kb_field))
            .map(|kb| kb / 1024)
            .unwrap_or(0);
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .or_else(|| command_output("hostname", &[]))
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|| "unknown".into());
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").map(|k| k.trim().to_string()).unwrap_or_default();
        let git_revision = command_output("git", &["rev-parse", "--short", "HEAD"]).map(|rev| {
            let dirty = command_output("git", &["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.trim().is_empty());
            format!("{}{}", rev.trim(), if dirty { " (uncommitted changes)" } else { "" })
        });
        Self {
            hostname,
            nproc,
            cpu_model,
            memory_total_mb,
            kernel,
            build_profile: if cfg!(debug_assertions) { "debug" } else { "release" },
            date: rfc3339(SystemTime::now()),
            git_revision,
            load_average_at_start: load_average(),
        }
    }
}

fn command_output(program: &str, args: &[&str]) -> Option<String> {
    let output = Command::new(program).args(args).output().ok()?;
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

fn kb_field(line: &str) -> Option<u64> {
    line.split_whitespace().nth(1)?.parse().ok()
}

pub fn taskset_available() -> bool {
    Command::new("taskset").arg("--version").output().is_ok_and(|o| o.status.success())
}

/// Pin every thread of this process to `cpus` (a taskset list such as `1` or `0-1`).
/// Threads created later inherit the affinity of the thread that creates them.
pub fn pin_self(cpus: &str) -> bool {
    Command::new("taskset")
        .args(["-a", "-cp", cpus, &std::process::id().to_string()])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Clock ticks per second for `/proc/<pid>/stat`.
pub fn clock_ticks() -> f64 {
    command_output("getconf", &["CLK_TCK"]).and_then(|t| t.trim().parse().ok()).unwrap_or(100.0)
}

/// User + system CPU time of `pid` (or this process), in clock ticks.
pub fn cpu_ticks(pid: Option<u32>) -> Option<u64> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/stat"),
        None => "/proc/self/stat".into(),
    };
    let text = std::fs::read_to_string(path).ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let after = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// CPU ticks of every thread of `pid`, summed by thread name (trailing digits and `-`/`_`
/// removed, so `sqlx-sqlite-worker-3` counts as `sqlx-sqlite-worker`).
pub fn thread_ticks(pid: u32) -> std::collections::BTreeMap<String, u64> {
    let mut out = std::collections::BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return out };
    for task in tasks.flatten() {
        let Ok(text) = std::fs::read_to_string(task.path().join("stat")) else { continue };
        let (Some(open), Some(close)) = (text.find('('), text.rfind(')')) else { continue };
        let name = text[open + 1..close].trim_end_matches(|c: char| c.is_ascii_digit() || c == '-' || c == '_' || c == '#').to_string();
        let fields: Vec<&str> = text[close + 2..].split_whitespace().collect();
        let ticks = fields.get(11).and_then(|u| u.parse::<u64>().ok()).unwrap_or(0)
            + fields.get(12).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
        *out.entry(name).or_insert(0) += ticks;
    }
    out
}

/// Resident set size of `pid`, in KiB (`VmRSS` from `/proc/<pid>/status`).
pub fn rss_kb(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines().find(|l| l.starts_with("VmRSS:")).and_then(kb_field)
}

/// Busy CPU time of the whole machine (every core), in clock ticks, from `/proc/stat`.
pub fn machine_busy_ticks() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    let line = text.lines().next()?.strip_prefix("cpu ")?;
    let v: Vec<u64> = line.split_whitespace().filter_map(|f| f.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    Some(v.first()? + v.get(1)? + v.get(2)? + v.get(5)? + v.get(6)? + v.get(7)?)
}

/// The 1-minute load average.
pub fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg").ok()?.split_whitespace().next()?.parse().ok()
}

/// Whether a PostgreSQL process title (`postgres: 15/main: user database host(port) state`,
/// what `/proc/<pid>/cmdline` reads after the server rewrote it) names `database`.
fn serves_database(cmdline: &[u8], database: &str) -> bool {
    let title = String::from_utf8_lossy(cmdline);
    title.starts_with("postgres:") && title.split(['\0', ' ']).any(|word| word == database)
}

/// CPU ticks of every PostgreSQL process working on `database` (the backends of its
/// connections, autovacuum workers), by PID. The server forks one process per connection, so
/// these are separate from the gateway's process and would otherwise count as "other" work.
pub fn database_ticks(database: &str) -> std::collections::BTreeMap<u32, u64> {
    let mut out = std::collections::BTreeMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else { return out };
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        if serves_database(&cmdline, database)
            && let Some(ticks) = cpu_ticks(Some(pid))
        {
            out.insert(pid, ticks);
        }
    }
    out
}

/// Ticks used between two [`database_ticks`] readings. Processes that started in between
/// count from zero; those that exited in between are lost (the gateway's pool keeps its
/// connections, so this is rare).
pub fn database_delta(start: &std::collections::BTreeMap<u32, u64>, now: &std::collections::BTreeMap<u32, u64>) -> u64 {
    now.iter().map(|(pid, ticks)| ticks.saturating_sub(start.get(pid).copied().unwrap_or(0))).sum()
}

/// CPU used during a phase, each in % of one core.
pub struct CpuUse {
    pub server: Option<f64>,
    pub driver: Option<f64>,
    /// The PostgreSQL processes serving the server's database, when it has one (SQLite runs
    /// inside the server process).
    pub database: Option<f64>,
    /// Everything else on the machine (other processes, the kernel outside them): noise.
    pub other: Option<f64>,
}

/// Measures the CPU a process (and this one, and a PostgreSQL database's processes) used
/// between two points.
pub struct CpuMeter {
    pid: Option<u32>,
    database: Option<String>,
    server_start: Option<u64>,
    self_start: Option<u64>,
    database_start: std::collections::BTreeMap<u32, u64>,
    machine_start: Option<u64>,
    started: std::time::Instant,
    ticks_per_s: f64,
}

impl CpuMeter {
    pub fn start(pid: Option<u32>, ticks_per_s: f64) -> Self {
        Self::start_with_database(pid, None, ticks_per_s)
    }

    /// Also measure the PostgreSQL processes working on `database` (a database name).
    pub fn start_with_database(pid: Option<u32>, database: Option<&str>, ticks_per_s: f64) -> Self {
        Self {
            pid,
            database: database.map(str::to_string),
            server_start: pid.and_then(|p| cpu_ticks(Some(p))),
            self_start: cpu_ticks(None),
            database_start: database.map(database_ticks).unwrap_or_default(),
            machine_start: machine_busy_ticks(),
            started: std::time::Instant::now(),
            ticks_per_s,
        }
    }

    /// CPU used since `start`.
    pub fn finish(&self) -> CpuUse {
        let wall = self.started.elapsed().as_secs_f64().max(1e-9);
        let delta = |start: Option<u64>, now: Option<u64>| Some(now?.saturating_sub(start?));
        let pct = |ticks: Option<u64>| ticks.map(|t| t as f64 / self.ticks_per_s / wall * 100.0);
        let server = delta(self.server_start, self.pid.and_then(|p| cpu_ticks(Some(p))));
        let driver = delta(self.self_start, cpu_ticks(None));
        let database = self.database.as_deref().map(|name| database_delta(&self.database_start, &database_ticks(name)));
        let machine = delta(self.machine_start, machine_busy_ticks());
        let other = machine.map(|m| m.saturating_sub(server.unwrap_or(0) + driver.unwrap_or(0) + database.unwrap_or(0)));
        CpuUse { server: pct(server), driver: pct(driver), database: pct(database), other: pct(other) }
    }
}

/// UTC date-time as RFC 3339 (`2025-01-31T12:34:56Z`).
pub fn rfc3339(time: SystemTime) -> String {
    let (y, mo, d, h, mi, s) = civil(time);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// UTC timestamp for file names (`20250131T123456Z`).
pub fn file_stamp(time: SystemTime) -> String {
    let (y, mo, d, h, mi, s) = civil(time);
    format!("{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z")
}

fn civil(time: SystemTime) -> (i64, u32, u32, u64, u64, u64) {
    let secs = time.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's days-from-civil inverse.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, rem / 3600, rem % 3600 / 60, rem % 60)
}

/// How busy the machine is outside this process, in % of one core, over `window`.
pub async fn busy_elsewhere(window: std::time::Duration, ticks_per_s: f64) -> Option<f64> {
    let (machine, me) = (machine_busy_ticks()?, cpu_ticks(None)?);
    tokio::time::sleep(window).await;
    let (machine2, me2) = (machine_busy_ticks()?, cpu_ticks(None)?);
    let other = (machine2 - machine).saturating_sub(me2 - me);
    Some(other as f64 / ticks_per_s / window.as_secs_f64() * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn dates() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(UNIX_EPOCH + Duration::from_secs(1_700_000_000)), "2023-11-14T22:13:20Z");
        assert_eq!(file_stamp(UNIX_EPOCH + Duration::from_secs(951_782_400)), "20000229T000000Z");
    }

    #[test]
    fn postgres_process_titles() {
        let db = "switchboard_scratch_12_0_345";
        assert!(serves_database(b"postgres: 15/main: postgres switchboard_scratch_12_0_345 127.0.0.1(50412) idle\0\0", db));
        assert!(serves_database(b"postgres: 15/main: autovacuum worker switchboard_scratch_12_0_345", db));
        assert!(!serves_database(b"postgres: 15/main: postgres switchboard_scratch_12_0_3456 127.0.0.1(50412) idle", db));
        assert!(!serves_database(b"postgres: 15/main: walwriter ", db));
        assert!(!serves_database(b"psql\0switchboard_scratch_12_0_345\0", db));
    }
}
