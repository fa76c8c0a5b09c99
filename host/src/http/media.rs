//! `GET /conversations/{id}/media/{sha256}`: an attachment kept in the media store, for agents
//! who may see the conversation one of whose messages names it.
//!
//! The bytes are customers' files: they are served as downloads (`Content-Disposition:
//! attachment`), never sniffed (`nosniff`), and under a sandboxing `Content-Security-Policy`,
//! so an HTML or SVG attachment opened from the inbox cannot run script as the inbox.

use super::error::{ApiError, ErrorBody, Unauthorized, Unavailable};
use super::AppState;
use crate::auth::Principal;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

/// The path parameters.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct MediaPath {
    /// The conversation's id.
    pub id: i64,
    /// The file's SHA-256, 64 lowercase hex digits, as in the attachment's `sha256`.
    #[param(pattern = "^[0-9a-f]{64}$")]
    pub sha256: String,
}

#[utoipa::path(get, path = "/conversations/{id}/media/{sha256}", tag = "conversations", params(MediaPath),
    responses(
        (status = 200, description = "The file's bytes, with its type and name", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 400, description = "`id` is not an integer or `sha256` not a SHA-256", body = ErrorBody),
        (status = 404, description = "No such conversation, or none of its messages has this file", body = ErrorBody),
        Unauthorized, Unavailable),
    security(("bearer" = [])))]
pub async fn download(caller: Principal, State(state): State<AppState>, path: Result<Path<MediaPath>, axum::extract::rejection::PathRejection>) -> Result<Response, ApiError> {
    let Path(MediaPath { id, sha256 }) = path?;
    if !crate::media::is_sha256(&sha256) {
        return Err(ApiError::bad_request("invalid_path", "`sha256` must be 64 lowercase hex digits"));
    }
    let not_found = || ApiError::not_found("not_found", format!("conversation {id} has no file {sha256}"));
    let stored = state.store.media_in_conversation(caller.viewer(), id, &sha256).await?;
    serve_stored(&state.media, &sha256, stored, not_found).await
}

/// The file `sha256` as a download, once the caller's right to it was checked (`stored`, the
/// attachment that names it; `None` when none does). Both `not_found` cases, no attachment and
/// no file on disk, answer the same, so a caller learns nothing about files it may not see.
pub(super) async fn serve_stored(
    media: &crate::media::MediaStore,
    sha256: &str,
    stored: Option<crate::store::mail::StoredMedia>,
    not_found: impl Fn() -> ApiError,
) -> Result<Response, ApiError> {
    let Some(stored) = stored else { return Err(not_found()) };
    match media.get(sha256).await {
        Ok(Some(bytes)) => Ok(file_response(bytes, &stored)),
        Ok(None) => Err(not_found()),
        Err(error) => Err(ApiError::unavailable("media_unavailable", format!("reading the file failed: {error}"))),
    }
}

/// A stored file as a download: its type (or `application/octet-stream`), its name, and headers
/// that keep a customer's file from ever running as a page of ours.
fn file_response(bytes: Vec<u8>, stored: &crate::store::mail::StoredMedia) -> Response {
    let content_type = stored
        .mime_type
        .as_deref()
        .and_then(|mime| mime.parse::<mime::Mime>().ok())
        .map_or_else(|| "application/octet-stream".to_string(), |mime| mime.essence_str().to_string());
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_str(&content_type).unwrap_or(HeaderValue::from_static("application/octet-stream")));
    headers.insert(header::CONTENT_DISPOSITION, disposition(stored.filename.as_deref()));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("sandbox; default-src 'none'"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=31536000, immutable"));
    response
}

/// `attachment; filename="…"; filename*=UTF-8''…` (RFC 6266): an ASCII fallback, and the real
/// name percent-encoded.
fn disposition(filename: Option<&str>) -> HeaderValue {
    let Some(name) = filename.filter(|name| !name.trim().is_empty()) else { return HeaderValue::from_static("attachment") };
    let fallback: String = name.chars().map(|c| if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' { c } else { '_' }).collect();
    let encoded: String = name
        .bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b"-._~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect();
    HeaderValue::from_str(&format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")).unwrap_or(HeaderValue::from_static("attachment"))
}

#[cfg(test)]
mod tests {
    use super::disposition;

    #[test]
    fn filenames_are_quoted_safely() {
        assert_eq!(disposition(None), "attachment");
        assert_eq!(disposition(Some("invoice 12.pdf")), "attachment; filename=\"invoice 12.pdf\"; filename*=UTF-8''invoice%2012.pdf");
        assert_eq!(disposition(Some("a\"b\r\n.txt")), "attachment; filename=\"a_b__.txt\"; filename*=UTF-8''a%22b%0D%0A.txt");
        assert_eq!(disposition(Some("Größe.pdf")), "attachment; filename=\"Gr__e.pdf\"; filename*=UTF-8''Gr%C3%B6%C3%9Fe.pdf");
    }
}
