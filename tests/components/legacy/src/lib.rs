//! `test-legacy`: a channel plugin built against `switchboard:channel@0.1.0`, as every plugin
//! was before 0.2.0 added `setup`. The host must keep loading it and serving its webhooks and
//! sends, and say plainly that it has no setup guide or connection check.
//!
//! It is deliberately simple: every `POST` is accepted, its body is one text message from the
//! party named by the `from` query parameter, and every send succeeds with an id derived from
//! the host's message id.

wit_bindgen::generate!({
    path: "../../../wit/channel/v0.1.0",
    world: "channel",
});

use exports::switchboard::channel::plugin::Guest;
use switchboard::channel::types::*;

struct Legacy;

impl Guest for Legacy {
    fn metadata() -> PluginInfo {
        PluginInfo {
            name: "test-legacy".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Test component built against switchboard:channel@0.1.0".into(),
            capabilities: Capabilities::TEXT,
        }
    }

    fn verify(request: IncomingRequest) -> Verdict {
        if request.method == "POST" {
            Verdict::Accept
        } else {
            Verdict::Reject(Rejection { kind: RejectionKind::BadRequest, message: "POST only".into() })
        }
    }

    fn parse(request: IncomingRequest) -> Result<Parsed, Rejection> {
        let from = request.query.iter().find(|(key, _)| key == "from").map(|(_, value)| value.clone());
        let Some(from) = from else {
            return Err(Rejection { kind: RejectionKind::BadRequest, message: "no `from` query parameter".into() });
        };
        let text = String::from_utf8(request.body)
            .map_err(|_| Rejection { kind: RejectionKind::BadRequest, message: "body is not UTF-8".into() })?;
        let id = request.query.iter().find(|(key, _)| key == "id").map(|(_, value)| value.clone()).unwrap_or_else(|| format!("legacy-{}", text.len()));
        let message = InboundMessage {
            external_id: id,
            sender: Party { id: from, phone: None, email: None, display_name: None, username: None },
            recipient: None,
            kind: MessageKind::Text,
            text: Some(text),
            attachments: Vec::new(),
            reply_to: None,
            timestamp_ms: switchboard::channel::clock::now_ms(),
            echo: false,
            extra_json: None,
        };
        Ok(Parsed { events: vec![Event::Message(message)], response: None })
    }

    fn send(message: OutboundMessage) -> Result<SendReceipt, SendError> {
        Ok(SendReceipt { external_id: format!("legacy-out-{}", message.message_id), status: DeliveryStatus::Sent })
    }
}

export!(Legacy);
