//! Prometheus metrics: one place that names every metric, so dashboards and code agree.
//!
//! The recorder is process-global (the `metrics` facade allows one), installed on first use;
//! `/metrics` renders it.

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

/// Webhook requests that reached a configured channel. Labels: `channel`.
pub const WEBHOOKS_RECEIVED: &str = "switchboard_webhooks_received_total";
/// Webhook requests refused or failed. Labels: `channel`, `reason`.
pub const WEBHOOKS_REJECTED: &str = "switchboard_webhooks_rejected_total";
/// Inbound messages seen again (redeliveries), not stored twice. Labels: `channel`.
pub const WEBHOOK_DUPLICATES: &str = "switchboard_webhook_duplicate_messages_total";
/// Messages stored from webhooks. Labels: `channel`.
pub const MESSAGES_INGESTED: &str = "switchboard_messages_ingested_total";
/// From request arrival to durable commit. Labels: `channel`.
pub const INGEST_LATENCY: &str = "switchboard_webhook_ingest_seconds";
/// Webhooks committed per group commit.
pub const INGEST_BATCH_SIZE: &str = "switchboard_ingest_batch_size";
/// Plugin call duration. Labels: `plugin`, `call`.
pub const PLUGIN_CALL_DURATION: &str = "switchboard_plugin_call_seconds";
/// Plugin calls that failed in the sandbox. Labels: `plugin`, `call`, `reason` (`trap`, `timeout`, `memory`).
pub const PLUGIN_FAILURES: &str = "switchboard_plugin_failures_total";
/// Routing policies skipped in a chain run. Labels: `policy` (the configured name), `reason`
/// (`trap`, `timeout`, `memory`, or `error` when the policy answered with one).
pub const ROUTING_POLICY_SKIPPED: &str = "switchboard_routing_policy_skipped_total";
/// Routing runs applied. Labels: `trigger` (`message`, `capacity`).
pub const ROUTING_RUNS: &str = "switchboard_routing_runs_total";
/// Time from a customer message's commit to its routing decision being applied (the lag of
/// the routing stage behind ingest).
pub const ROUTING_LAG: &str = "switchboard_routing_lag_seconds";
/// Plugin time spent on webhooks the plugin refused (forged signatures, malformed bodies),
/// including the wait for a turn; `_sum` is the total cost. Labels: `channel`, `reason`
/// (`bad_signature`, `handshake_rejected`, `malformed_payload`).
pub const PLUGIN_REJECTED_SECONDS: &str = "switchboard_plugin_rejected_seconds";
/// Plugin output cut or dropped by the host's size rules (`plugins::output_limits`).
/// Labels: `channel`, `field`.
pub const PLUGIN_OUTPUT_LIMITED: &str = "switchboard_plugin_output_limited_total";
/// Outbox rows waiting for delivery. Labels: `channel`.
pub const OUTBOX_DEPTH: &str = "switchboard_outbox_depth";
/// Delivery attempts. Labels: `channel`, `outcome` (`sent`, `retry`, `failed`, `dead`).
pub const OUTBOX_ATTEMPTS: &str = "switchboard_outbox_attempts_total";
/// Messages given up on after retries ran out. Labels: `channel`.
pub const OUTBOX_DEAD_LETTERS: &str = "switchboard_outbox_dead_letters_total";
/// Claimed replies put back because their recipient was sent to too recently (the pair rate
/// limit). Labels: `channel`.
pub const OUTBOX_DEFERRED: &str = "switchboard_outbox_deferred_total";
/// Results written per outbox result transaction.
pub const OUTBOX_RESULT_BATCH_SIZE: &str = "switchboard_outbox_result_batch_size";
/// One outbox result transaction, from its first statement to its commit.
pub const OUTBOX_RESULT_WRITE: &str = "switchboard_outbox_result_write_seconds";
/// A finished send's wait for its result to be written: the time it keeps its place among
/// the `concurrency` in flight after the provider answered.
pub const OUTBOX_RESULT_WAIT: &str = "switchboard_outbox_result_wait_seconds";
/// One claim round across the channels.
pub const OUTBOX_CLAIM: &str = "switchboard_outbox_claim_seconds";
/// 1 for each plugin build serving on this node. Labels: `world` (`channel`, `router`),
/// `plugin` (the file's stem), `version`, `wit` (the contract version), `sha256`.
pub const PLUGIN_BUILD_INFO: &str = "switchboard_plugin_build_info";
/// When the build serving a plugin file was loaded (Unix seconds). Labels: `world`, `plugin`.
pub const PLUGIN_LOADED_AT: &str = "switchboard_plugin_loaded_timestamp_seconds";
/// Client connections open now.
pub const OPEN_CONNECTIONS: &str = "switchboard_http_connections";
/// Connections answered and closed at the door. Labels: `reason` (`max_connections`, `max_connections_per_ip`).
pub const CONNECTIONS_REFUSED: &str = "switchboard_http_connections_refused_total";
/// SMTP sessions open now.
pub const SMTP_CONNECTIONS: &str = "switchboard_smtp_connections";
/// SMTP connections answered `421` and closed at the door. Labels: `reason`.
pub const SMTP_CONNECTIONS_REFUSED: &str = "switchboard_smtp_connections_refused_total";
/// Messages the SMTP listener refused or could not store. Labels: `reason`
/// (`unknown_recipient`, `too_large`, `refused`, `failed`).
pub const SMTP_REFUSED: &str = "switchboard_smtp_refused_total";
/// Clients connected to the live stream.
pub const LIVE_CONNECTIONS: &str = "switchboard_live_stream_connections";
/// 1 while this node runs cluster-wide background work (the outbox worker, pruning), else 0.
pub const CLUSTER_LEADER: &str = "switchboard_cluster_leader";
/// Database pool connections. Labels: `pool` (`read`, `write` on SQLite; `postgres`), `state` (`open`, `idle`).
pub const DB_POOL_CONNECTIONS: &str = "switchboard_db_pool_connections";

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Install the recorder (once per process) and return the handle `/metrics` renders.
pub fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let latency_buckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &latency_buckets)
            .and_then(|b| b.set_buckets_for_metric(Matcher::Suffix("_batch_size".into()), &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0]));
        match builder.and_then(|b| b.install_recorder()) {
            Ok(handle) => handle,
            Err(error) => {
                // Another recorder is installed (an embedding application's): keep ours detached.
                tracing::warn!(%error, "cannot install the metrics recorder; /metrics will be empty");
                PrometheusBuilder::new().build_recorder().handle()
            }
        }
    })
}
