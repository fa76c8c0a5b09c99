//! Every error is JSON, even the ones hyper sends by itself.
//!
//! hyper answers a request it cannot parse (a malformed request line or header, a head over
//! `server.max_header_bytes`, a URI over 64 KiB) on its own, before the router runs, with an
//! empty body: `HTTP/1.1 431 Request Header Fields Too Large`, `content-length: 0`, `date`.
//! hyper offers no hook to change that answer (hyperium/hyper#3911 proposes one), so
//! [`JsonErrors`] wraps the connection's socket and rewrites those heads on the way out.
//!
//! Recognising them is safe because they are the only responses that leave without a body
//! and without a `content-type`: every answer of ours carries a JSON body. The connection is
//! built with `writev(false)`, so hyper hands over each response head whole in one write, and
//! hyper closes the connection after such an answer, so nothing follows the rewritten one.

use crate::connection_limits::Refusal;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

/// The statuses hyper answers with on its own, and the JSON error each one becomes.
fn error_for(status: &[u8]) -> Option<(&'static str, &'static str)> {
    Some(match status {
        b"400" => ("malformed_request", "the request is not valid HTTP/1.1"),
        b"414" => ("uri_too_long", "the request URI is too long"),
        b"431" => ("headers_too_large", "the request headers are too large"),
        _ => return None,
    })
}

/// The byte string that opens every response head hyper writes.
const STATUS_LINE_START: &[u8] = b"HTTP/1.1 ";
/// A hyper-made error head is a status line and two short headers; ours are never this small.
const MAX_BARE_HEAD: usize = 256;

/// A response that has to be written out in full.
fn response(status_line: &[u8], code: &str, message: &str, extra_headers: &[(&str, &str)]) -> Vec<u8> {
    let body = serde_json::json!({ "error": { "code": code, "message": message } }).to_string();
    let mut out = Vec::with_capacity(status_line.len() + body.len() + 128);
    out.extend_from_slice(status_line);
    out.extend_from_slice(b"\r\ncontent-type: application/json\r\nconnection: close\r\n");
    for (name, value) in extra_headers {
        out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    out.extend_from_slice(format!("content-length: {}\r\n\r\n", body.len()).as_bytes());
    out.extend_from_slice(body.as_bytes());
    out
}

/// If `buf` starts with a head hyper made for a request it could not parse, its length and
/// the JSON response to write instead.
fn rewrite_bare_error(buf: &[u8]) -> Option<(usize, Vec<u8>)> {
    let window = &buf[..buf.len().min(MAX_BARE_HEAD)];
    let head_len = memchr::memmem::find(window, b"\r\n\r\n")? + 4;
    let head = &window[..head_len];
    let status = head.get(STATUS_LINE_START.len()..STATUS_LINE_START.len() + 3)?;
    let (code, message) = error_for(status)?;
    let lower = head.to_ascii_lowercase();
    let bare = memchr::memmem::find(&lower, b"\r\ncontent-length: 0\r\n").is_some()
        && memchr::memmem::find(&lower, b"\r\ncontent-type:").is_none();
    if !bare {
        return None;
    }
    let status_line_end = memchr::memmem::find(head, b"\r\n")?;
    Some((head_len, response(&head[..status_line_end], code, message, &[])))
}

/// A client connection's socket, rewriting hyper's bare error answers into JSON ones.
pub struct JsonErrors {
    inner: TcpStream,
    /// A rewritten answer not yet fully written to the socket.
    pending: Vec<u8>,
    written: usize,
}

impl JsonErrors {
    pub fn new(inner: TcpStream) -> Self {
        Self { inner, pending: Vec::new(), written: 0 }
    }

    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.pending.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.pending[self.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        self.pending.clear();
        self.written = 0;
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for JsonErrors {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for JsonErrors {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        ready!(this.poll_pending(cx))?;
        if buf.starts_with(STATUS_LINE_START)
            && let Some((consumed, replacement)) = rewrite_bare_error(buf) {
                this.pending = replacement;
                // hyper may count the head as written now; the replacement goes out in this
                // poll if the socket takes it, else in the next write, flush or shutdown.
                let _ = this.poll_pending(cx)?;
                return Poll::Ready(Ok(consumed));
            }
        // Pass everything up to the next response head, so that each head starts a write.
        let next_head = memchr::memmem::find(buf.get(1..).unwrap_or_default(), STATUS_LINE_START).map(|at| at + 1);
        Pin::new(&mut this.inner).poll_write(cx, &buf[..next_head.unwrap_or(buf.len())])
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Answer a connection refused at the door with a JSON error, then close it. Its request is
/// not read: the answer goes out at once and the client sees it when it reads.
pub async fn refuse(mut stream: TcpStream, refusal: Refusal) {
    let answer = match refusal {
        Refusal::Full => response(
            b"HTTP/1.1 503 Service Unavailable",
            "too_many_connections",
            "the server has too many open connections; retry shortly",
            &[("retry-after", "1")],
        ),
        Refusal::TooManyFromAddress => response(
            b"HTTP/1.1 429 Too Many Requests",
            "too_many_connections_from_address",
            "too many open connections from this address; reuse or close some",
            &[("retry-after", "1")],
        ),
    };
    // A client that does not read its answer must not hold this task.
    let write = async {
        stream.write_all(&answer).await?;
        stream.shutdown().await
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), write).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hyper_bare_heads_become_json_and_ours_pass() {
        let bare = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: Tue, 01 Dec 2026 07:11:18 GMT\r\n\r\n";
        let (consumed, replacement) = rewrite_bare_error(bare).expect("recognised");
        assert_eq!(consumed, bare.len());
        let text = String::from_utf8(replacement).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"), "{head}");
        assert!(head.contains("content-type: application/json"), "{head}");
        assert!(head.contains(&format!("content-length: {}", body.len())), "{head}");
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(json["error"]["code"], "headers_too_large");

        let ours = b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 0\r\n\r\n";
        assert!(rewrite_bare_error(ours).is_none(), "a head with a content type is ours");
        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
        assert!(rewrite_bare_error(ok).is_none());
        let with_body = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 12\r\n\r\n";
        assert!(rewrite_bare_error(with_body).is_none());
    }
}
