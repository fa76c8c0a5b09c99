//! The widget's WebSocket: visitor frames in, live events out (the protocol is in
//! `docs/channels/webchat.md`).
//!
//! The socket keeps no state a reconnect would need: what the visitor wrote goes through the
//! inbound pipeline and is stored before it is acknowledged, and what they receive is the live
//! feed from the cursor they give, filtered to their own messages on this channel and to
//! agents typing in their conversation. So a dropped connection loses nothing, a resend is
//! stored once (the plugin keys messages by the widget's client id), and every tab of the
//! visitor sees the same thing.

use super::session::Session;
use super::WebchatChannel;
use super::VisitorMessage;
use crate::inbound::{self, ChatArrival, InboundError, Received};
use crate::media::MediaStore;
use crate::model::{Attachment, DeliveryStatus, MediaKind, Party};
use crate::plugins::{ChatAction, ChatVisitor};
use crate::realtime::LiveFeed;
use crate::store::live::{LiveEvent, LiveEventKind};
use crate::store::presence::{ConversationPresence, PresenceState};
use crate::store::views::MessageView;
use crate::store::webchat::ContactTyping;
use crate::store::Store;
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use bytes::Bytes;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The largest frame a visitor may send: a message at the longest limit, in UTF-8, with room.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;
/// Files one message may carry.
const MAX_ATTACHMENTS: usize = 10;
/// How often the socket pings, so proxies keep it and a dead peer is found.
const PING_EVERY: Duration = Duration::from_secs(25);
/// A visitor's `typing: true` is announced again after this, and lapses in the inbox after
/// [`TYPING_LAPSES`] without another.
const TYPING_REPEAT: Duration = Duration::from_secs(4);
const TYPING_LAPSES: Duration = Duration::from_secs(8);
/// Close codes: the session token is not valid (start a new session); a failure on our side
/// (reconnect and resend).
const CLOSE_INVALID_SESSION: u16 = 4401;
const CLOSE_INTERNAL: u16 = 1011;
const CLOSE_GOING_AWAY: u16 = 1001;

/// What a socket needs from the gateway.
pub struct Context {
    pub store: Store,
    pub media: MediaStore,
    pub live: LiveFeed,
    pub channel: Arc<WebchatChannel>,
    pub peer: SocketAddr,
    pub shutdown: tokio::sync::watch::Receiver<bool>,
    /// The socket is closed after this (`server.live_stream_max_secs`); the widget resumes.
    pub max_lifetime: Duration,
}

/// A frame from the widget.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum ClientFrame {
    Message {
        client_id: String,
        #[serde(default)]
        text: Option<String>,
        #[serde(default)]
        attachments: Vec<UploadRef>,
    },
    Typing { typing: bool },
    Read { up_to: i64 },
    Email { email: String },
}

/// A file the visitor uploaded, named in a message.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UploadRef {
    upload: String,
    #[serde(default)]
    filename: Option<String>,
    #[serde(default)]
    mime_type: Option<String>,
}

/// A frame to the widget.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ServerFrame<'a> {
    Ready { cursor: i64 },
    Message { cursor: i64, message: &'a VisitorMessage },
    Ack { client_id: &'a str },
    Typing { typing: bool, name: Option<&'a str> },
    EmailSaved { email: &'a str },
    Error { code: &'static str, message: &'a str, client_id: Option<&'a str> },
}

#[derive(Deserialize)]
struct LiveMessage {
    message: MessageView,
}

/// Why the connection ends.
enum End {
    /// The visitor left, or the network did.
    Gone,
    /// Close with this code and reason.
    Close(u16, &'static str),
}

static FRAMES: AtomicU64 = AtomicU64::new(0);

/// One visitor connection, until it closes.
struct Connection {
    context: Context,
    session: Session,
    visitor: ChatVisitor,
    party: Party,
    /// The visitor's conversations seen so far: agents typing there is forwarded.
    conversations: BTreeSet<i64>,
    /// The agent typing as last told to the widget.
    agent_typing: Option<String>,
    /// When the visitor's typing was last announced, and as what.
    typing_announced: Option<(bool, Instant)>,
}

/// Serve one upgraded socket for `session` (closed at once when the token was not valid),
/// starting with the live events after `after`.
pub async fn serve(mut socket: WebSocket, context: Context, session: Option<Session>, after: Option<i64>) {
    let Some(session) = session else {
        close(&mut socket, CLOSE_INVALID_SESSION, "the session is not valid: start a new one").await;
        return;
    };
    let mut connection = Connection::new(context, session);
    let end = connection.run(&mut socket, after).await;
    if let End::Close(code, reason) = end {
        close(&mut socket, code, reason).await;
    }
}

async fn close(socket: &mut WebSocket, code: u16, reason: &'static str) {
    let _ = socket.send(Message::Close(Some(CloseFrame { code, reason: reason.into() }))).await;
}

impl Connection {
    fn new(context: Context, session: Session) -> Self {
        let party = session.party();
        let visitor = ChatVisitor { id: session.visitor_id.clone(), verified_identifier: session.identifier.clone(), name: session.name.clone(), locale: session.locale.clone() };
        Self { context, session, visitor, party, conversations: BTreeSet::new(), agent_typing: None, typing_announced: None }
    }

    async fn run(&mut self, socket: &mut WebSocket, after: Option<i64>) -> End {
        let store = self.context.store.clone();
        let start = match after {
            Some(after) => after,
            None => match store.latest_live_event_id().await {
                Ok(id) => id,
                Err(_) => return End::Close(CLOSE_INTERNAL, "try again"),
            },
        };
        let Ok(events) = self.context.live.subscribe(Some(start)).await else { return End::Close(CLOSE_INTERNAL, "try again") };
        let mut events = std::pin::pin!(events);
        match store.visitor_conversation(&self.context.channel.id, &self.session.visitor_id).await {
            Ok(conversation) => self.conversations.extend(conversation),
            Err(_) => return End::Close(CLOSE_INTERNAL, "try again"),
        }
        if send(socket, &ServerFrame::Ready { cursor: start }).await.is_err() {
            return End::Gone;
        }
        let mut shutdown = self.context.shutdown.clone();
        let stopping = async move {
            let _ = shutdown.wait_for(|stopping| *stopping).await;
        };
        let mut stopping = std::pin::pin!(stopping);
        let lifetime = tokio::time::sleep(self.context.max_lifetime);
        let mut lifetime = std::pin::pin!(lifetime);
        let mut ping = tokio::time::interval(PING_EVERY);
        ping.reset();
        loop {
            let step = tokio::select! {
                () = &mut stopping => Err(End::Close(CLOSE_GOING_AWAY, "the server is restarting")),
                () = &mut lifetime => Err(End::Close(CLOSE_GOING_AWAY, "reconnect")),
                _ = ping.tick() => socket.send(Message::Ping(Bytes::new())).await.map_err(|_| End::Gone),
                event = events.next() => match event {
                    Some(event) => self.forward(socket, &event).await,
                    None => Err(End::Close(CLOSE_GOING_AWAY, "reconnect")),
                },
                frame = socket.recv() => match frame {
                    Some(Ok(Message::Text(text))) => self.handle(socket, text.as_str()).await,
                    Some(Ok(Message::Binary(_))) => error(socket, "bad_frame", "frames are JSON text", None).await,
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => Ok(()),
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => Err(End::Gone),
                },
            };
            // However it ends, a visitor who was typing is not any more.
            if let Err(end) = step {
                self.stop_typing().await;
                return end;
            }
        }
    }

    /// Send the widget what `event` tells the visitor, if anything.
    async fn forward(&mut self, socket: &mut WebSocket, event: &LiveEvent) -> Result<(), End> {
        let channel_id = self.context.channel.id.as_str();
        if event.kind == LiveEventKind::MessageCreated.as_str() || event.kind == LiveEventKind::MessageUpdated.as_str() {
            // Most events are about someone else: a substring test before any parsing.
            if !event.payload.contains(&self.session.visitor_id) {
                return Ok(());
            }
            let Ok(LiveMessage { message }) = serde_json::from_str::<LiveMessage>(&event.payload) else { return Ok(()) };
            let Some(visible) = VisitorMessage::of(&message, channel_id, &self.session.visitor_id) else { return Ok(()) };
            self.conversations.insert(message.conversation_id);
            send(socket, &ServerFrame::Message { cursor: event.id, message: &visible }).await?;
            if visible.direction == "out" && visible.status == "sent" {
                // It reached the widget: the agent sees it delivered.
                let receipt = ChatAction::Receipt { status: DeliveryStatus::Delivered, up_to_ms: visible.created_at };
                self.act(socket, receipt, Bytes::from_static(b"{\"type\":\"delivered\"}")).await?;
            }
        } else if event.kind == LiveEventKind::PresenceUpdated.as_str() {
            let Ok(presence) = serde_json::from_str::<ConversationPresence>(&event.payload) else { return Ok(()) };
            if !self.conversations.contains(&presence.conversation_id) {
                return Ok(());
            }
            let typing = presence.agents.iter().find(|agent| agent.state == PresenceState::Typing).map(|agent| agent.name.clone());
            if typing != self.agent_typing {
                send(socket, &ServerFrame::Typing { typing: typing.is_some(), name: typing.as_deref() }).await?;
                self.agent_typing = typing;
            }
        }
        Ok(())
    }

    /// Act on one frame from the widget.
    async fn handle(&mut self, socket: &mut WebSocket, text: &str) -> Result<(), End> {
        let channel = self.context.channel.clone();
        if let Err(wait) = channel.per_ip.check(&self.context.peer.ip()) {
            let message = super::too_fast(wait);
            let client_id = serde_json::from_str::<serde_json::Value>(text).ok().and_then(|v| v.get("client_id")?.as_str().map(str::to_string));
            return error(socket, "rate_limited", &message, client_id.as_deref()).await;
        }
        let frame = match serde_json::from_str::<ClientFrame>(text) {
            Ok(frame) => frame,
            Err(problem) => return error(socket, "bad_frame", &format!("not a frame this server understands: {problem}"), None).await,
        };
        let raw = Bytes::copy_from_slice(text.as_bytes());
        match frame {
            ClientFrame::Message { client_id, text, attachments } => self.message(socket, client_id, text, attachments, raw).await,
            ClientFrame::Typing { typing } => self.typing(typing).await,
            ClientFrame::Read { up_to } => {
                let store = &self.context.store;
                match store.visitor_reply_time(&channel.id, &self.session.visitor_id, up_to).await {
                    Ok(Some(created)) => self.act(socket, ChatAction::Receipt { status: DeliveryStatus::Read, up_to_ms: created }, raw).await.map(drop),
                    Ok(None) => error(socket, "bad_frame", "no such reply in this chat", None).await,
                    Err(_) => Err(End::Close(CLOSE_INTERNAL, "try again")),
                }
            }
            ClientFrame::Email { email } => match self.act(socket, ChatAction::Email(email.trim().to_string()), raw).await? {
                true => send(socket, &ServerFrame::EmailSaved { email: email.trim() }).await,
                false => Ok(()),
            },
        }
    }

    async fn message(&mut self, socket: &mut WebSocket, client_id: String, text: Option<String>, uploads: Vec<UploadRef>, raw: Bytes) -> Result<(), End> {
        let channel = self.context.channel.clone();
        let client = Some(client_id.as_str());
        if let Err(wait) = channel.per_session.check(&self.session.visitor_id) {
            return error(socket, "rate_limited", &super::too_fast(wait), client).await;
        }
        let chars = text.as_deref().map_or(0, |text| text.trim().chars().count());
        if chars > channel.config.max_message_chars {
            let message = format!("Your message is too long ({chars} characters): please keep it under {}.", channel.config.max_message_chars);
            return error(socket, "message_too_long", &message, client).await;
        }
        if uploads.len() > MAX_ATTACHMENTS {
            return error(socket, "too_many_files", &format!("Send at most {MAX_ATTACHMENTS} files at once."), client).await;
        }
        let mut attachments = Vec::with_capacity(uploads.len());
        for upload in uploads {
            if !self.context.media.contains(&upload.upload).await {
                return error(socket, "upload_missing", "A file was not uploaded: attach it again.", client).await;
            }
            let Ok(mime_type) = channel.upload_type(upload.mime_type.as_deref().unwrap_or_default()) else {
                return error(socket, "upload_type_not_allowed", "Files of this type cannot be sent here.", client).await;
            };
            attachments.push(Attachment {
                kind: media_kind(&mime_type),
                reference: format!("{}{}", crate::media::MEDIA_PREFIX, upload.upload),
                url: None,
                mime_type: Some(mime_type),
                filename: super::clean_filename(upload.filename),
                caption: None,
                sha256: Some(upload.upload),
            });
        }
        let action = ChatAction::Message { client_id: client_id.clone(), text, attachments, received_at_ms: crate::clock::now_ms() };
        if self.act_for(socket, action, raw, client).await? {
            self.stop_typing().await;
            send(socket, &ServerFrame::Ack { client_id: &client_id }).await?;
        }
        Ok(())
    }

    /// The visitor started or stopped typing: tell the agents, on a change or when a `true`
    /// would lapse; never before the visitor has a conversation.
    async fn typing(&mut self, typing: bool) -> Result<(), End> {
        let due = match self.typing_announced {
            Some((announced, at)) => announced != typing || (typing && at.elapsed() >= TYPING_REPEAT),
            None => typing,
        };
        if !due {
            return Ok(());
        }
        let Some(conversation_id) = self.conversations.last().copied() else { return Ok(()) };
        let announcement = ContactTyping {
            conversation_id,
            channel_id: self.context.channel.id.clone(),
            typing,
            expires_at: crate::clock::now_ms() + TYPING_LAPSES.as_millis() as i64,
        };
        // Typing is a courtesy: a failure to announce it is not worth the connection.
        if let Err(error) = self.context.store.announce_contact_typing(&announcement).await {
            tracing::debug!(%error, "announcing a visitor's typing failed");
        }
        self.typing_announced = Some((typing, Instant::now()));
        Ok(())
    }

    async fn stop_typing(&mut self) {
        if matches!(self.typing_announced, Some((true, _))) {
            let _ = self.typing(false).await;
        }
    }

    async fn act(&mut self, socket: &mut WebSocket, action: ChatAction, raw: Bytes) -> Result<bool, End> {
        self.act_for(socket, action, raw, None).await
    }

    /// Run `action` through the inbound pipeline. `Ok(true)` once stored; `Ok(false)` when the
    /// plugin refused it (the widget is told why); a failure on our side closes the socket, so
    /// the widget reconnects and resends what was not acknowledged.
    async fn act_for(&mut self, socket: &mut WebSocket, action: ChatAction, raw: Bytes, client_id: Option<&str>) -> Result<bool, End> {
        let request_id = format!("webchat-{}", FRAMES.fetch_add(1, Ordering::Relaxed));
        let is_email = matches!(action, ChatAction::Email(_));
        let arrival = ChatArrival { visitor: &self.visitor, party: &self.party, action, raw };
        match inbound::receive_chat(&self.context.store, &self.context.channel.plugin, &request_id, arrival).await {
            Ok(Received::Stored { .. } | Received::Answered(_)) => Ok(true),
            Err(InboundError::Refused(rejection)) => {
                let code = if is_email { "invalid_email" } else { "refused" };
                error(socket, code, &rejection.message, client_id).await?;
                Ok(false)
            }
            Err(failure) => {
                tracing::warn!(channel = self.context.channel.id, request_id, error = %failure, "a web chat action was not stored");
                Err(End::Close(CLOSE_INTERNAL, "not stored: reconnect and send again"))
            }
        }
    }
}

fn media_kind(mime_type: &str) -> MediaKind {
    match mime_type.split('/').next().unwrap_or_default() {
        "image" => MediaKind::Image,
        "audio" => MediaKind::Audio,
        "video" => MediaKind::Video,
        _ if mime_type == "application/pdf" => MediaKind::Document,
        _ => MediaKind::File,
    }
}

async fn send(socket: &mut WebSocket, frame: &ServerFrame<'_>) -> Result<(), End> {
    let text = serde_json::to_string(frame).map_err(|_| End::Close(CLOSE_INTERNAL, "try again"))?;
    socket.send(Message::Text(text.into())).await.map_err(|_| End::Gone)
}

async fn error(socket: &mut WebSocket, code: &'static str, message: &str, client_id: Option<&str>) -> Result<(), End> {
    send(socket, &ServerFrame::Error { code, message, client_id }).await
}
