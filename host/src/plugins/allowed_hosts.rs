//! The outbound-host allowlist of a channel instance, parsed once from `allowed_hosts`.
//!
//! An entry is `host`, `host:port` or `*.domain[:port]`. Without a port, only the scheme's
//! default port (80 for http, 443 for https) is allowed, so `example.com` does not silently
//! open `example.com:22`.

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    host: HostPattern,
    port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Exact(String),
    /// `*.example.com`: any subdomain, not the apex.
    Subdomains(String),
}

#[derive(Debug, Clone, Default)]
pub struct AllowedHosts {
    entries: Vec<Entry>,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid allowed_hosts entry `{0}`: use `host`, `host:port` or `*.domain`")]
pub struct InvalidEntry(String);

impl AllowedHosts {
    pub fn parse(entries: &[String]) -> Result<Self, InvalidEntry> {
        let entries = entries
            .iter()
            .map(|raw| {
                let entry = raw.trim().to_ascii_lowercase();
                let (host, port) = match entry.rsplit_once(':') {
                    Some((host, port)) => (host.to_string(), Some(port.parse::<u16>().map_err(|_| InvalidEntry(raw.clone()))?)),
                    None => (entry.clone(), None),
                };
                if host.is_empty() || host.contains('/') {
                    return Err(InvalidEntry(raw.clone()));
                }
                let host = match host.strip_prefix("*.") {
                    Some(domain) if !domain.is_empty() => HostPattern::Subdomains(domain.to_string()),
                    _ => HostPattern::Exact(host),
                };
                Ok(Entry { host, port })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { entries })
    }

    /// Whether `url` may be called.
    pub fn allows(&self, url: &reqwest::Url) -> bool {
        let Some(host) = url.host_str().map(|h| h.to_ascii_lowercase()) else {
            return false;
        };
        let Some(port) = url.port_or_known_default() else {
            return false;
        };
        let default_port = match url.scheme() {
            "http" => 80,
            "https" => 443,
            _ => return false,
        };
        self.entries.iter().any(|entry| {
            let host_matches = match &entry.host {
                HostPattern::Exact(exact) => *exact == host,
                HostPattern::Subdomains(domain) => host.ends_with(&format!(".{domain}")),
            };
            host_matches && entry.port.unwrap_or(default_port) == port
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(entries: &[&str], url: &str) -> bool {
        let hosts = AllowedHosts::parse(&entries.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        hosts.allows(&reqwest::Url::parse(url).unwrap())
    }

    #[test]
    fn exact_host_default_port_only() {
        assert!(allowed(&["graph.facebook.com"], "https://graph.facebook.com/v21.0/1/messages"));
        assert!(!allowed(&["graph.facebook.com"], "https://graph.facebook.com:8443/"));
        assert!(!allowed(&["graph.facebook.com"], "https://evil.com/?graph.facebook.com"));
        assert!(!allowed(&["graph.facebook.com"], "https://graph.facebook.com.evil.com/"));
    }

    #[test]
    fn explicit_port_and_wildcards() {
        assert!(allowed(&["127.0.0.1:9000"], "http://127.0.0.1:9000/x"));
        assert!(!allowed(&["127.0.0.1:9000"], "http://127.0.0.1:9001/x"));
        assert!(allowed(&["*.twilio.com"], "https://api.twilio.com/2010-04-01"));
        assert!(!allowed(&["*.twilio.com"], "https://twilio.com/"));
        assert!(!allowed(&[], "https://example.com/"));
        assert!(!allowed(&["example.com"], "ftp://example.com/"));
    }

    #[test]
    fn rejects_malformed_entries() {
        assert!(AllowedHosts::parse(&["host:notaport".into()]).is_err());
        assert!(AllowedHosts::parse(&["https://host/path".into()]).is_err());
    }
}
