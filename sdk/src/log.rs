//! Debug logging of a plugin's webhook handling, worded the same for every channel: why a
//! request was refused, what a mapping skipped, and how many events came out. Ids and reasons
//! only, never message bodies or secrets.

use crate::bindings::switchboard::channel::logging;
use crate::prelude::{Event, HttpResponse, IncomingRequest, Parsed, Rejection, Verdict};

/// Log `message` at debug level.
pub fn debug(message: impl AsRef<str>) {
    logging::log(logging::Level::Debug, message.as_ref());
}

/// `verify`'s answer from a check of the request, logging why when it is a rejection.
pub fn verdict(request: &IncomingRequest, check: Result<(), Rejection>) -> Verdict {
    logged_verdict(request, match check {
        Ok(()) => Verdict::Accept,
        Err(rejection) => Verdict::Reject(rejection),
    })
}

/// `verdict`, logged when it is a rejection.
pub fn logged_verdict(request: &IncomingRequest, verdict: Verdict) -> Verdict {
    if let Verdict::Reject(rejection) = &verdict {
        debug(format!("webhook {} rejected: {}", request.method, rejection.message));
    }
    verdict
}

/// Log a body `parse` refused (for `Result::inspect_err`).
pub fn body_rejected(rejection: &Rejection) {
    debug(format!("webhook body rejected: {}", rejection.message));
}

/// `parse`'s answer, logging what the mapping skipped and how many events it produced.
pub fn parsed<'a>(events: Vec<Event>, skipped: impl IntoIterator<Item = &'a String>, response: Option<HttpResponse>) -> Parsed {
    for note in skipped {
        debug(format!("webhook item skipped: {note}"));
    }
    debug(format!("webhook mapped to {} event(s)", events.len()));
    Parsed { events, response }
}
