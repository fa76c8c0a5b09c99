//! Failover: a reply that cannot be delivered on its channel (WhatsApp's window closed, a
//! permanent failure, the channel down until retries ran out) goes out on another channel the
//! contact has, when `[channels.delivery] failover_to` says so.
//!
//! This module decides *whether* and *what*: the trigger must be one the channel fails over
//! on, the other channel must take the content (a template goes as its filled-in body, since
//! templates are a channel's own), and the reply must not have been opted out of. The store
//! then moves it, in the transaction that records the attempt, only if the contact can be
//! reached there and the reply has not failed over before ([`crate::store::outbox`]).

use crate::config::{Delivery, FailoverTrigger};
use crate::model::{Capability, OutboundContent, SendFailure};
use crate::plugins::Channels;
use crate::store::outbox::{FailoverTarget, OutboxJob};
use crate::store::{templates, Store};

/// What kind of end `failure` is, for `failover_on`; `None` for an opt-out, which a reply must
/// not get around by changing channels.
pub fn trigger(failure: &SendFailure, dead: bool) -> Option<FailoverTrigger> {
    match failure.kind.as_str() {
        "opted_out" => None,
        _ if dead => Some(FailoverTrigger::Dead),
        "window_closed" => Some(FailoverTrigger::WindowClosed),
        _ => Some(FailoverTrigger::Permanent),
    }
}

/// Where and what `job` should be sent instead after `failure`, if anywhere.
pub async fn plan(store: &Store, channels: &Channels, delivery: &Delivery, job: &OutboxJob, failure: &SendFailure, dead: bool) -> Option<FailoverTarget> {
    let failover = delivery.failover.as_ref()?;
    if !trigger(failure, dead).is_some_and(|trigger| failover.on.contains(&trigger)) {
        return None;
    }
    let info = channels.get(&failover.to)?.info();
    let capabilities = &info.capabilities;
    let content = match &job.message.content {
        OutboundContent::Text { .. } if capabilities.contains(&Capability::Text) => job.message.content.clone(),
        OutboundContent::Media { .. } if capabilities.contains(&Capability::Media) => job.message.content.clone(),
        OutboundContent::Template { name, language, parameters } if capabilities.contains(&Capability::Text) => {
            let stored = match store.template_languages(&job.channel_id, name).await {
                Ok(stored) => stored,
                Err(error) => {
                    tracing::warn!(%error, outbox_id = job.outbox_id, "failover: cannot read the template");
                    return None;
                }
            };
            let template = stored.into_iter().find(|t| t.language.eq_ignore_ascii_case(language))?;
            OutboundContent::Text { text: templates::render(&template.body, parameters) }
        }
        _ => return None,
    };
    Some(FailoverTarget { channel_id: failover.to.clone(), content })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(kind: &str) -> SendFailure {
        SendFailure { kind: kind.into(), code: None, message: "x".into(), retryable: false, retry_after_ms: None }
    }

    #[test]
    fn triggers() {
        assert_eq!(trigger(&failure("window_closed"), false), Some(FailoverTrigger::WindowClosed));
        assert_eq!(trigger(&failure("invalid_recipient"), false), Some(FailoverTrigger::Permanent));
        assert_eq!(trigger(&failure("unavailable"), true), Some(FailoverTrigger::Dead));
        assert_eq!(trigger(&failure("opted_out"), false), None, "an opt-out is not worked around");
    }
}
