//! One-time webhook tokens (`switchboard:channel/replay`, new in 0.2.0), for providers whose
//! signature covers a nonce rather than the whole request (Mailgun signs `timestamp` + `token`,
//! not the body). A correct signature proves the provider made the request once; it does not
//! stop anyone who saw it from sending it again, so the nonce must be claimed as well.
//!
//! The host writes the claim in the same transaction as the request's events: a request that
//! fails on the host's side leaves its nonce unclaimed and the provider's retry still goes
//! through, while a stored one can never be replayed within the time to live.

use crate::bindings::switchboard::channel::replay;

/// Claim `nonce` for this channel instance for `ttl_ms` from now. `false` means a request
/// with this nonce was already stored: refuse this one as a replay. Choose a time to live at
/// least as long as the window in which a signed timestamp is accepted, so that a nonce cannot
/// expire while its signature is still fresh.
pub fn claim(nonce: &str, ttl_ms: u64) -> bool {
    replay::claim(nonce, ttl_ms)
}
