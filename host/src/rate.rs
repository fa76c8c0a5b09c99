//! Token-bucket arithmetic: `rate` tokens a second, at most `burst` saved up.
//!
//! Two kinds of bucket use it: each channel's, kept in the database so that every node draws
//! from the same one ([`crate::store::Store::claim_paced`]), and each recipient's, which the
//! outbox worker keeps in memory ([`crate::outbox::pacing`]). It works in plain tokens and
//! seconds so that either clock (wall milliseconds in the database, `Instant` in memory) fits.
//!
//! Why not the `governor` crate: its GCRA answers "may I, now?" for one cell, but a claim needs
//! "how many may I take?" over a level stored in a row; both are these few lines.

/// A bucket's shape.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    /// Tokens gained a second; config validation keeps it above zero.
    pub rate: f64,
    /// The most tokens saved up, and the level of a bucket never drawn from.
    pub burst: f64,
}

/// The longest wait [`Bucket::secs_to_token`] reports, so that a bad rate cannot turn into an
/// endless (or, for `Duration`, a panicking infinite) sleep.
const LONGEST_WAIT_SECS: f64 = 3600.0;

impl Bucket {
    /// The level `elapsed_secs` after it was `tokens`: refilled at `rate`, capped at `burst`.
    /// Time running backwards (another node's clock) refills nothing.
    pub fn refilled(&self, tokens: f64, elapsed_secs: f64) -> f64 {
        (tokens + elapsed_secs.max(0.0) * self.rate).min(self.burst)
    }

    /// Seconds until a bucket at `tokens` holds a whole token; zero when it does.
    pub fn secs_to_token(&self, tokens: f64) -> f64 {
        if tokens >= 1.0 {
            0.0
        } else if self.rate > 0.0 {
            ((1.0 - tokens) / self.rate).min(LONGEST_WAIT_SECS)
        } else {
            LONGEST_WAIT_SECS
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refills_at_the_rate_up_to_the_burst() {
        let bucket = Bucket { rate: 10.0, burst: 5.0 };
        assert_eq!(bucket.refilled(0.0, 0.2), 2.0);
        assert_eq!(bucket.refilled(4.5, 1.0), 5.0, "capped at the burst");
        assert_eq!(bucket.refilled(1.0, -3.0), 1.0, "a clock behind refills nothing");
    }

    #[test]
    fn waits_for_the_missing_part_of_a_token() {
        let bucket = Bucket { rate: 4.0, burst: 4.0 };
        assert_eq!(bucket.secs_to_token(1.0), 0.0);
        assert_eq!(bucket.secs_to_token(0.5), 0.125);
        assert_eq!(Bucket { rate: 0.0, burst: 1.0 }.secs_to_token(0.0), LONGEST_WAIT_SECS);
    }
}
