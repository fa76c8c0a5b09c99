//! How many connections a listener (HTTP, SMTP) may hold at once, in all and from one address.
//!
//! A slot is taken when a connection is accepted and given back when its [`ConnectionPermit`]
//! drops, whatever ended the connection. The per-address count lives in a map that only holds
//! addresses with open connections, so a scan from many addresses cannot grow it for good.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Counts open connections against the two caps.
pub struct ConnectionLimits {
    max_total: usize,
    max_per_ip: usize,
    open: Mutex<Open>,
    metrics: ListenerMetrics,
}

/// The series a listener's connections are counted in.
#[derive(Debug, Clone, Copy)]
pub struct ListenerMetrics {
    /// Gauge of connections open now.
    pub open: &'static str,
    /// Counter of connections refused at the door, labelled `reason`.
    pub refused: &'static str,
}

impl ListenerMetrics {
    pub const HTTP: Self = Self { open: crate::telemetry::OPEN_CONNECTIONS, refused: crate::telemetry::CONNECTIONS_REFUSED };
    pub const SMTP: Self = Self { open: crate::telemetry::SMTP_CONNECTIONS, refused: crate::telemetry::SMTP_CONNECTIONS_REFUSED };
}

#[derive(Default)]
struct Open {
    total: usize,
    by_ip: HashMap<IpAddr, usize>,
}

/// Why a connection was refused at the door.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The listener holds its `max_connections` connections already.
    Full,
    /// This address holds the listener's `max_connections_per_ip` connections already.
    TooManyFromAddress,
}

/// One admitted connection's slot; dropping it frees the slot.
pub struct ConnectionPermit {
    limits: Arc<ConnectionLimits>,
    ip: IpAddr,
}

impl ConnectionLimits {
    pub fn new(max_total: usize, max_per_ip: usize, metrics: ListenerMetrics) -> Self {
        Self { max_total: max_total.max(1), max_per_ip: max_per_ip.max(1), open: Mutex::default(), metrics }
    }

    /// Take a slot for a connection from `ip`, or say which cap it would break.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<ConnectionPermit, Refusal> {
        let mut open = self.open.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if open.total >= self.max_total {
            metrics::counter!(self.metrics.refused, "reason" => "max_connections").increment(1);
            return Err(Refusal::Full);
        }
        let from_ip = open.by_ip.entry(ip).or_default();
        if *from_ip >= self.max_per_ip {
            metrics::counter!(self.metrics.refused, "reason" => "max_connections_per_ip").increment(1);
            return Err(Refusal::TooManyFromAddress);
        }
        *from_ip += 1;
        open.total += 1;
        metrics::gauge!(self.metrics.open).set(open.total as f64);
        Ok(ConnectionPermit { limits: self.clone(), ip })
    }

    /// Connections open now.
    #[cfg(test)]
    pub fn open(&self) -> usize {
        self.open.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).total
    }
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        let mut open = self.limits.open.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        open.total = open.total.saturating_sub(1);
        if let Some(count) = open.by_ip.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                open.by_ip.remove(&self.ip);
            }
        }
        metrics::gauge!(self.limits.metrics.open).set(open.total as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_total_and_per_address_and_frees_on_drop() {
        let limits = Arc::new(ConnectionLimits::new(3, 2, ListenerMetrics::HTTP));
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let first = limits.admit(a).unwrap();
        let _second = limits.admit(a).unwrap();
        assert_eq!(limits.admit(a).err(), Some(Refusal::TooManyFromAddress));
        let third = limits.admit(b).unwrap();
        assert_eq!(limits.admit(b).err(), Some(Refusal::Full));
        drop(first);
        assert_eq!(limits.open(), 2);
        let _again = limits.admit(a).unwrap();
        drop(third);
        assert!(!limits.open.lock().unwrap().by_ip.contains_key(&b), "addresses without connections are forgotten");
    }
}
