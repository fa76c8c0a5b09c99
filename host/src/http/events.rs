//! `GET /api/v1/events`: the live stream, as Server-Sent Events.
//!
//! Each event carries its id, so a client that reconnects with `Last-Event-ID` (browsers do
//! this by themselves) receives exactly what it missed.

use crate::auth::Principal;
use super::error::ApiError;
use super::AppState;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::{Stream, StreamExt};
use std::convert::Infallible;

/// Resuming the stream.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct ResumeHeader {
    /// Resume after this event id (browsers send it by themselves when they reconnect).
    #[param(rename = "Last-Event-ID", nullable = false)]
    last_event_id: Option<i64>,
}

/// The token for clients that cannot set headers.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct TokenQuery {
    /// The bearer token, for clients that cannot set headers (`EventSource`); accepted on
    /// this route only.
    #[param(nullable = false)]
    access_token: Option<String>,
}

#[utoipa::path(get, path = "/events", tag = "live",
    params(ResumeHeader, TokenQuery),
    responses(
        (status = 200, description = "text/event-stream of `message.created`, `message.updated`, `conversation.updated`, `note.created`, `presence.updated` and `contact.typing` (a web chat visitor is writing) events; an agent receives those of conversations they may see", content_type = "text/event-stream"),
        (status = 400, description = "`Last-Event-ID` is not an event id", body = super::error::ErrorBody),
        super::error::Unauthorized, super::error::Unavailable),
    security(("bearer" = [])))]
pub async fn stream(
    caller: Principal,
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let after = match headers.get("last-event-id") {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(|text| text.trim().parse::<i64>().ok())
                .ok_or_else(|| ApiError::bad_request("invalid_last_event_id", "Last-Event-ID must be an event id"))?,
        ),
    };
    let events = state.live.subscribe(after).await?;
    tracing::debug!(caller = caller.name(), ?after, "live stream opened");
    // End the stream on shutdown (or graceful shutdown would wait on it forever), and after
    // `server.live_stream_max_secs`; the client resumes where it left off.
    let mut shutdown = state.shutdown.clone();
    let max_duration = std::time::Duration::from_secs(state.server.live_stream_max_secs);
    let stopping = async move {
        tokio::select! {
            _ = shutdown.wait_for(|stopping| *stopping) => {}
            () = tokio::time::sleep(max_duration) => {}
        }
    };
    // Agents hear only of conversations they may see; admins of all.
    let audience = caller.viewer().map(|agent_id| match &caller {
        Principal::Agent { teams, .. } => (agent_id, teams.clone()),
        Principal::Bootstrap => (agent_id, Vec::new()),
    });
    let events = events.filter(move |event| {
        std::future::ready(audience.as_ref().is_none_or(|(agent_id, teams)| event.audience.admits(*agent_id, teams)))
    });
    let stream = events.take_until(stopping).map(|event| Ok(Event::default().id(event.id.to_string()).event(&event.kind).data(&event.payload)));
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
