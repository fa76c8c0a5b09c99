//! Agents' replies. The host is the provider: a reply is delivered by being stored and pushed to
//! the visitor's sockets, so `send` only decides what a website visitor can receive.

use switchboard_sdk::prelude::*;

/// Accept a text or media reply as `sent`, under an id derived from the host's message id
/// (stable across retries, so a retried send names the same message). Templates are refused
/// for good: they exist for providers' closed windows, which a website chat does not have.
pub fn accept(message: &OutboundMessage) -> Result<SendReceipt, SendError> {
    match &message.content {
        OutboundContent::Text(text) if text.trim().is_empty() => {
            Err(SendError::new(SendErrorKind::InvalidRequest, "an empty reply cannot be sent", false))
        }
        OutboundContent::Text(_) | OutboundContent::Media(_) => {
            Ok(SendReceipt { external_id: format!("webchat/{}", message.message_id), status: DeliveryStatus::Sent })
        }
        OutboundContent::Template(_) => Err(SendError::new(
            SendErrorKind::Unsupported,
            "web chat has no templates: write the reply as text",
            false,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(content: OutboundContent) -> OutboundMessage {
        OutboundMessage {
            message_id: "42".into(),
            recipient: Party { id: "v:1".into(), phone: None, email: None, display_name: None, username: None },
            content,
            reply_to: None,
        }
    }

    #[test]
    fn text_is_sent_under_a_stable_id() {
        let receipt = accept(&message(OutboundContent::Text("Hello".into()))).ok().map(|r| (r.external_id, r.status));
        assert_eq!(receipt, Some(("webchat/42".to_string(), DeliveryStatus::Sent)));
    }

    #[test]
    fn templates_and_empty_text_are_refused_for_good() {
        let template = Template { name: "hello".into(), language: "en".into(), parameters: vec![] };
        let refused = accept(&message(OutboundContent::Template(template))).err().map(|e| (e.kind, e.retryable));
        assert_eq!(refused, Some((SendErrorKind::Unsupported, false)));
        let empty = accept(&message(OutboundContent::Text("  ".into()))).err().map(|e| e.kind);
        assert_eq!(empty, Some(SendErrorKind::InvalidRequest));
    }
}
