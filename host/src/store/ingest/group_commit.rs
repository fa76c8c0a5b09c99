//! Group commit: handlers submit an [`IngestRequest`] and wait; one writer task applies
//! every request queued at that moment in one transaction and commits once. Nothing here
//! knows what a webhook means; [`super::rules::apply`] does.

use super::rules::apply;
use super::{IngestReport, IngestRequest};
use crate::store::db::{is_transient, is_unreachable, Millis};
use crate::store::live::PendingEvents;
use crate::store::{Db, StoreError};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, Notify};

struct Job {
    request: IngestRequest,
    reply: oneshot::Sender<Result<IngestReport, StoreError>>,
}

/// Handle to the group-commit writer task.
#[derive(Clone)]
pub struct IngestQueue {
    sender: mpsc::Sender<Job>,
}

impl IngestQueue {
    /// `committed` is signalled after each batch that stored something (for the live feed),
    /// and so is `routing` (for the routing stage, which routes what was just stored).
    pub(in crate::store) fn start(db: Db, max_batch: usize, committed: Arc<Notify>, routing: Arc<Notify>) -> Self {
        let (sender, receiver) = mpsc::channel(max_batch.max(1) * 4);
        tokio::spawn(run_writer(db, receiver, max_batch.max(1), committed, routing));
        Self { sender }
    }

    pub async fn submit(&self, request: IngestRequest) -> Result<IngestReport, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.sender.send(Job { request, reply }).await.map_err(|_| StoreError::WriterStopped)?;
        answer.await.map_err(|_| StoreError::WriterStopped)?
    }
}

async fn run_writer(db: Db, mut receiver: mpsc::Receiver<Job>, max_batch: usize, committed: Arc<Notify>, routing: Arc<Notify>) {
    let mut batch = Vec::with_capacity(max_batch);
    while receiver.recv_many(&mut batch, max_batch).await > 0 {
        metrics::histogram!(crate::telemetry::INGEST_BATCH_SIZE).record(batch.len() as f64);
        let results = commit_batch(&db, &batch).await;
        let wrote_events = results.iter().any(|result| result.is_ok());
        for (job, result) in batch.drain(..).zip(results) {
            // The handler may have gone away (client hung up); the data is committed regardless.
            let _ = job.reply.send(result);
        }
        if wrote_events {
            committed.notify_one();
            routing.notify_one();
        }
    }
}

/// Times one webhook's transaction is retried after PostgreSQL aborted it for a concurrent one.
const TRANSIENT_RETRIES: usize = 3;

/// Apply every job in one transaction; returns one result per job, in order.
async fn commit_batch(db: &Db, jobs: &[Job]) -> Vec<Result<IngestReport, StoreError>> {
    if jobs.len() > 1 {
        match commit_together(db, jobs).await {
            Ok(reports) => return reports.into_iter().map(Ok).collect(),
            Err(StoreError::Database(error)) if is_unreachable(&error) => return unreachable(jobs, &error),
            Err(error) => tracing::warn!(%error, batch = jobs.len(), "group commit failed; retrying webhooks one by one"),
        }
    }
    let mut results = Vec::with_capacity(jobs.len());
    for job in jobs {
        let mut result = commit_together(db, std::slice::from_ref(job)).await;
        for _ in 0..TRANSIENT_RETRIES {
            match &result {
                Err(StoreError::Database(error)) if is_transient(error) => {
                    result = commit_together(db, std::slice::from_ref(job)).await;
                }
                _ => break,
            }
        }
        if let Err(StoreError::Database(error)) = &result
            && is_unreachable(error) {
                // The rest would wait for the same dead database, one timeout each.
                results.extend(unreachable(&jobs[results.len()..], error));
                break;
            }
        let result = result.map(|mut reports| reports.remove(0));
        if let Err(error) = &result {
            tracing::error!(channel = job.request.channel_id, request_id = job.request.request_id, %error, "storing webhook failed");
        }
        results.push(result);
    }
    results
}

/// Fail every job at once: the database is out of reach. Nothing of theirs was committed (or,
/// if the connection broke during the commit, the provider's redelivery is deduplicated).
fn unreachable(jobs: &[Job], error: &sqlx::Error) -> Vec<Result<IngestReport, StoreError>> {
    tracing::error!(%error, webhooks = jobs.len(), "database unreachable; webhooks refused with 503");
    jobs.iter().map(|_| Err(StoreError::Unavailable(error.to_string()))).collect()
}

/// All of `jobs` in one transaction, or none of them.
async fn commit_together(db: &Db, jobs: &[Job]) -> Result<Vec<IngestReport>, StoreError> {
    let now = Millis(crate::clock::now_ms());
    let mut tx = db.begin().await?;
    let mut conn = tx.conn();
    let mut events = PendingEvents::default();
    let mut reports = Vec::with_capacity(jobs.len());
    for job in jobs {
        reports.push(apply(&mut conn, &job.request, now, &mut events).await?);
    }
    let logged: Vec<_> = jobs.iter().map(|job| &job.request).zip(&reports).collect();
    crate::store::webhook_log::append(&mut conn, &logged, now).await?;
    // The queue wakes the feed once per batch, after every transaction of it.
    events.commit(tx).await?;
    Ok(reports)
}

