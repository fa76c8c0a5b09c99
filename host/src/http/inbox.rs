//! The agent inbox: a static web app (`inbox/` at the repository root) compiled into the
//! binary, served at `/` with its files under `/assets/`. It talks to the gateway only through
//! the public REST API and the live stream, like any integration.
//!
//! Nobody who installs Switchboard runs a front-end build: the app is plain ES modules with a
//! vendored Preact, htm and signals, wired by an import map in `index.html`.

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use rust_embed::Embed;
use std::sync::LazyLock;

#[derive(Embed)]
#[folder = "../inbox/"]
struct Assets;

/// The inline import map is the page's only inline script; the policy allows exactly it.
static CONTENT_SECURITY_POLICY: LazyLock<HeaderValue> = LazyLock::new(|| {
    let index = Assets::get("index.html").map(|file| String::from_utf8_lossy(&file.data).into_owned()).unwrap_or_default();
    let import_map = index
        .split_once("<script type=\"importmap\">")
        .and_then(|(_, rest)| rest.split_once("</script>"))
        .map(|(map, _)| map)
        .unwrap_or_default();
    use base64::Engine;
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(import_map.as_bytes()));
    let policy = format!(
        "default-src 'self'; script-src 'self' 'sha256-{hash}'; style-src 'self'; img-src 'self' data: https:; \
         media-src 'self' https:; connect-src 'self'; manifest-src 'self'; worker-src 'self'; \
         frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    );
    HeaderValue::from_str(&policy).unwrap_or_else(|_| HeaderValue::from_static("default-src 'self'"))
});

fn serve(path: &str, request: &HeaderMap) -> Response {
    let Some(file) = Assets::get(path) else {
        return super::error::ApiError::not_found("not_found", "no such file").into_response();
    };
    // The embedded file's hash: a new build serves new files, a browser revalidates cheaply.
    let etag = format!("\"{}\"", hex_prefix(&file.metadata.sha256_hash()));
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    // Always revalidate: after an upgrade every agent gets the new app at the next load.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY.clone());
    if request.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).is_some_and(|tags| tags.split(',').any(|t| t.trim() == etag)) {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    let mime = file.metadata.mimetype();
    let content_type = if mime.starts_with("text/") || mime.contains("javascript") || mime.contains("json") || mime.contains("manifest") {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_string()
    };
    if let Ok(value) = HeaderValue::from_str(&content_type) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    (StatusCode::OK, headers, file.data.into_owned()).into_response()
}

fn hex_prefix(bytes: &[u8]) -> String {
    bytes.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// `GET /`: the app's page.
pub async fn index(request: HeaderMap) -> Response {
    serve("index.html", &request)
}

/// `GET /assets/{*path}`: the app's scripts, styles, icons and manifest.
pub async fn asset(Path(path): Path<String>, request: HeaderMap) -> Response {
    // Embedded names are plain relative paths; nothing else can match.
    if path.split('/').any(|part| part.is_empty() || part == "." || part == "..") || path == "index.html" {
        return super::error::ApiError::not_found("not_found", "no such file").into_response();
    }
    serve(&path, &request)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `index.html` preloads every module the app has, so none is found late, import by
    /// import; a module added without its `modulepreload` line fails here.
    #[test]
    fn every_module_is_preloaded() {
        let index = String::from_utf8(Assets::get("index.html").expect("index.html is embedded").data.into_owned()).unwrap();
        let modules: Vec<String> = Assets::iter().filter(|path| path.ends_with(".js") || path.ends_with(".mjs")).map(|path| path.to_string()).collect();
        assert!(modules.len() > 10, "{modules:?}");
        for module in modules {
            assert!(index.contains(&format!("<link rel=\"modulepreload\" href=\"/assets/{module}\">")), "{module} is not preloaded");
        }
    }

    /// The policy names the import map's hash, so the page's one inline script runs.
    #[test]
    fn the_policy_allows_the_import_map_and_nothing_else_inline() {
        let policy = CONTENT_SECURITY_POLICY.to_str().unwrap();
        assert!(policy.contains("script-src 'self' 'sha256-"), "{policy}");
        assert!(!policy.contains("unsafe-inline") && !policy.contains("unsafe-eval"), "{policy}");
    }
}
