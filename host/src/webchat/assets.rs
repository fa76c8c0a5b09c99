//! The widget script (`/widget/v1.js`) and the demo shop page (`/demo/webchat`), from the
//! repository's `widget/` folder, compiled into the binary like the inbox.
//!
//! The script runs on other sites' pages, so it is served for cross-origin use
//! (`Cross-Origin-Resource-Policy: cross-origin`) and cached for an hour: a site's visitors
//! should not revalidate it on every page view, and an upgrade reaches them within the hour.

use crate::http::AppState;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use rust_embed::Embed;

#[derive(Embed)]
#[folder = "../widget/"]
struct Files;

/// The demo page's policy: its own scripts only (the widget), inline styles (the page's one
/// `<style>`), and connections to this origin (the widget's API and socket).
const DEMO_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
     connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

fn missing() -> Response {
    crate::http::ApiError::not_found("not_found", "no such file").into_response()
}

/// `GET /widget/v1.js`.
pub async fn widget() -> Response {
    let Some(file) = Files::get("v1.js") else { return missing() };
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/javascript; charset=utf-8")),
            (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600")),
            (header::HeaderName::from_static("cross-origin-resource-policy"), HeaderValue::from_static("cross-origin")),
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*")),
            (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        ],
        file.data.into_owned(),
    )
        .into_response()
}

/// `GET /demo/webchat`: a sample shop with the widget of the first web chat channel.
pub async fn demo(State(state): State<AppState>) -> Response {
    let Some(channel) = state.webchat.first() else {
        return crate::http::ApiError::not_found("no_webchat_channel", "no channel has a [channels.webchat] table in config.toml").into_response();
    };
    let Some(file) = Files::get("demo.html") else { return missing() };
    let page = String::from_utf8_lossy(&file.data).replace("{{CHANNEL}}", &channel.id);
    let mut response = Html(page).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(DEMO_POLICY));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
