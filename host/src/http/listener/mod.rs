//! The HTTP transport's front door: accepting TCP connections and serving HTTP/1.1 on them,
//! with the limits that keep slow or greedy clients from holding the gateway.
//!
//! `axum::serve` takes every connection and never times out a client that stops sending
//! (measured: 200 connections that each sent most of a 1 MiB body and stalled pinned 200 MB
//! for as long as they stayed open). So the accept loop is ours, on hyper's HTTP/1 server:
//!
//! - **connection caps:** at most `server.max_connections` open at once, and at most
//!   `server.max_connections_per_ip` from one address; a connection over either cap gets a JSON
//!   `503`/`429` and is closed before any HTTP parsing ([`crate::connection_limits`]);
//! - **header read timeout:** a client must finish sending a request head within
//!   `server.header_read_timeout_ms` (this also closes idle keep-alive connections);
//! - **body read timeout:** every request body must arrive within `server.body_read_timeout_ms`
//!   of its head ([`with_body_deadline`]); handlers read bodies with [`read_body`], and a body
//!   that is late or over its cap is answered (`408`/`413`) and its connection closed, which
//!   releases its buffers;
//! - **JSON for hyper's own refusals:** requests hyper cannot parse are answered by hyper
//!   itself, before the router; [`json_errors`] gives those answers the same JSON error body as
//!   every other error.

mod json_errors;

use crate::config::ServerConfig;
use crate::connection_limits::{ConnectionLimits, ListenerMetrics};
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt;

/// Serve `app` on `listener` until `shutdown` turns true, then stop accepting, let every open
/// connection finish its in-flight request, and return once all have closed.
pub async fn serve(listener: TcpListener, app: Router, settings: &ServerConfig, mut shutdown: watch::Receiver<bool>) {
    let limits = Arc::new(ConnectionLimits::new(settings.max_connections, settings.max_connections_per_ip, ListenerMetrics::HTTP));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(Duration::from_millis(settings.header_read_timeout_ms))
        .max_header_size(settings.max_header_bytes)
        // One flat write buffer per connection: the JSON rewrite of hyper's own error
        // answers (see `json_errors`) relies on seeing each response head whole.
        .writev(false);
    let http = Arc::new(http);
    // Each connection task holds a receiver; when all are dropped, every connection is done.
    let (connections_done, connections_open) = watch::channel(());
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, or a connection reset before accept: keep
                    // serving the others, and give the system a moment to recover.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = stopping(&mut shutdown) => break,
        };
        // Small writes (SSE events, short JSON answers) must not wait on Nagle's algorithm for
        // the peer's delayed ACK: measured, it added ~35 ms to the live stream's p99.
        let _ = stream.set_nodelay(true);
        let permit = match limits.admit(remote.ip()) {
            Ok(permit) => permit,
            Err(refusal) => {
                tokio::spawn(json_errors::refuse(stream, refusal));
                continue;
            }
        };
        let service = app.clone().map_request(move |mut request: Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(ConnectInfo(remote));
            request.map(Body::new)
        });
        let http = http.clone();
        let mut shutdown = shutdown.clone();
        let open = connections_open.clone();
        tokio::spawn(async move {
            let io = TokioIo::new(json_errors::JsonErrors::new(stream));
            let connection = http.serve_connection(io, TowerToHyperService::new(service)).with_upgrades();
            let mut connection = std::pin::pin!(connection);
            let mut draining = false;
            loop {
                tokio::select! {
                    result = connection.as_mut() => {
                        if let Err(error) = result {
                            tracing::debug!(%remote, %error, "connection ended with an error");
                        }
                        break;
                    }
                    () = stopping(&mut shutdown), if !draining => {
                        draining = true;
                        connection.as_mut().graceful_shutdown();
                    }
                }
            }
            drop(permit);
            drop(open);
        });
    }
    drop(listener);
    drop(connections_open);
    connections_done.closed().await;
}

/// Resolves once `shutdown` turns true (or its sender is gone).
async fn stopping(shutdown: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns is dropped here, before any other await.
    let _ = shutdown.wait_for(|stopping| *stopping).await;
}

/// Why reading a request body failed.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the request body is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("the request body did not arrive in time")]
    TimedOut,
    #[error("the request body could not be read: {0}")]
    Unreadable(String),
}

impl BodyError {
    /// Classify a body-reading error by what its source chain holds.
    pub fn classify(error: &(dyn std::error::Error + 'static), limit: usize) -> Self {
        let mut chain = std::iter::successors(Some(error), |e| e.source());
        match chain.find(|e| e.is::<http_body_util::LengthLimitError>() || e.is::<DeadlineExceeded>()) {
            Some(e) if e.is::<DeadlineExceeded>() => Self::TimedOut,
            Some(_) => Self::TooLarge { limit },
            None => Self::Unreadable(error.to_string()),
        }
    }
}

/// Read a whole request body, refusing it once it exceeds `limit` bytes (a `Content-Length`
/// over the limit before anything is read) or once its deadline ([`with_body_deadline`])
/// passes.
///
/// On failure the rest of the body is never read, so hyper closes the connection after the
/// error answer and frees what the connection held.
pub async fn read_body(body: Body, content_length: Option<u64>, limit: usize) -> Result<bytes::Bytes, BodyError> {
    if content_length.is_some_and(|length| length > limit as u64) {
        return Err(BodyError::TooLarge { limit });
    }
    let result = axum::body::to_bytes(body, limit).await.map_err(|error| BodyError::classify(&error, limit));
    // A failed read may have buffered up to `limit` bytes, now freed; so is a large body once
    // its request is done. Either way the heap is worth trimming afterwards.
    if result.as_ref().map_or(true, |bytes| bytes.len() >= crate::memory::LARGE_BODY) {
        crate::memory::large_body_released();
    }
    result
}

/// Give every request body a deadline, `timeout` from when its head arrived. A per-read idle
/// timeout (tower-http's `RequestBodyTimeout`) would let a client that sends a byte every few
/// seconds hold its connection and buffers for ever; a total deadline does not.
pub async fn with_body_deadline(timeout: Duration, request: Request<Body>, next: axum::middleware::Next) -> axum::response::Response {
    let request = request.map(|body| Body::new(DeadlineBody { inner: body, deadline: Box::pin(tokio::time::sleep(timeout)) }));
    next.run(request).await
}

/// The body's deadline passed before it was read in full.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
pub struct DeadlineExceeded;

struct DeadlineBody {
    inner: Body,
    deadline: std::pin::Pin<Box<tokio::time::Sleep>>,
}

impl http_body::Body for DeadlineBody {
    type Data = bytes::Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        if self.deadline.as_mut().poll(cx).is_ready() {
            return std::task::Poll::Ready(Some(Err(Box::new(DeadlineExceeded))));
        }
        std::pin::Pin::new(&mut self.inner).poll_frame(cx).map_err(Into::into)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    #[tokio::test]
    async fn read_body_enforces_limit_and_declared_length() {
        let body = Body::from(vec![b'a'; 100]);
        assert!(matches!(read_body(body, None, 99).await, Err(BodyError::TooLarge { limit: 99 })));
        let body = Body::from(vec![b'a'; 10]);
        assert!(matches!(read_body(body, Some(1000), 99).await, Err(BodyError::TooLarge { .. })));
        let body = Body::from(vec![b'a'; 99]);
        assert_eq!(read_body(body, Some(99), 99).await.unwrap().len(), 99);
    }

    #[tokio::test]
    async fn a_stalled_body_times_out_at_its_deadline() {
        // A client that sends part of its body and then nothing more.
        let partial = futures_util::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"partial"))]);
        let stalled = Body::from_stream(partial.chain(futures_util::stream::pending()));
        let body = Body::new(DeadlineBody { inner: stalled, deadline: Box::pin(tokio::time::sleep(Duration::from_millis(50))) });
        let result = read_body(body, None, 1024).await;
        assert!(matches!(result, Err(BodyError::TimedOut)), "{result:?}");
    }
}
