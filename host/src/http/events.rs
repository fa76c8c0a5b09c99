//! `GET /api/v1/events`: the live stream, as Server-Sent Events.
//!
//! Each event carries its id, so a client that reconnects with `Last-Event-ID` (browsers do
//! this by themselves) receives exactly what it missed.

use super::auth::StreamAgent;
use super::error::ApiError;
use super::AppState;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::{Stream, StreamExt};
use std::convert::Infallible;

#[utoipa::path(get, path = "/api/v1/events", tag = "live",
    params(("Last-Event-ID" = Option<i64>, Header, description = "Resume after this event id")),
    responses((status = 200, description = "text/event-stream of `message.created` and `message.updated` events", content_type = "text/event-stream")),
    security(("bearer" = [])))]
pub async fn stream(
    StreamAgent(agent): StreamAgent,
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
    tracing::debug!(agent = agent.name, ?after, "live stream opened");
    // End the stream on shutdown, or graceful shutdown would wait on it forever.
    let mut shutdown = state.shutdown.clone();
    let stopping = async move {
        let _ = shutdown.wait_for(|stopping| *stopping).await;
    };
    let stream = events.take_until(stopping).map(|event| Ok(Event::default().id(event.id.to_string()).event(&event.kind).data(&event.payload)));
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
