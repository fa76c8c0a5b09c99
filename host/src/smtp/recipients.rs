//! Which channel a `RCPT TO` address belongs to: one of a mail channel's configured addresses,
//! or a plus-address of one (`support+anything@example.com`, which is how replies carry a
//! conversation's token). Anything else is refused at `RCPT TO`, so the listener is never a
//! relay. Addresses compare without case: mail systems treat local parts that way in practice.

use std::collections::HashMap;

/// Served addresses (lower case) → channel id.
#[derive(Debug, Default, Clone)]
pub struct Recipients {
    by_address: HashMap<String, String>,
}

impl Recipients {
    pub fn new<'a>(served: impl IntoIterator<Item = (&'a str, &'a [String])>) -> Self {
        let mut by_address = HashMap::new();
        for (channel_id, addresses) in served {
            for address in addresses {
                by_address.insert(address.to_ascii_lowercase(), channel_id.to_string());
            }
        }
        Self { by_address }
    }

    pub fn is_empty(&self) -> bool {
        self.by_address.is_empty()
    }

    /// The channel serving `address`, if any.
    pub fn channel_for(&self, address: &str) -> Option<&str> {
        let address = address.trim().to_ascii_lowercase();
        let (local, domain) = address.rsplit_once('@')?;
        let base = local.split_once('+').map_or(local, |(base, _tag)| base);
        if base.is_empty() || domain.is_empty() {
            return None;
        }
        self.by_address.get(&format!("{base}@{domain}")).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn served_addresses_and_their_plus_addresses_only() {
        let support = vec!["Support@Example.com".to_string()];
        let sales = vec!["sales@example.com".to_string()];
        let recipients = Recipients::new([("email", support.as_slice()), ("sales", sales.as_slice())]);
        assert_eq!(recipients.channel_for("support@example.com"), Some("email"));
        assert_eq!(recipients.channel_for("SUPPORT+tk7q2@EXAMPLE.COM"), Some("email"));
        assert_eq!(recipients.channel_for("sales@example.com"), Some("sales"));
        for refused in ["someone@example.com", "support@example.org", "support", "+x@example.com", "support@", "support@evil.com@example.com"] {
            assert_eq!(recipients.channel_for(refused), None, "{refused}");
        }
    }
}
