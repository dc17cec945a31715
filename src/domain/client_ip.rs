//! Where a request comes from: the client's IP address when the connection (and the trusted
//! proxies in front of it) tell it, or unknown. Determined once per request by the web layer
//! and carried as this type down to the store, which records it as text.

use std::fmt;
use std::net::IpAddr;

/// A client's address, or unknown (no peer address, as for a request that did not come
/// through a socket).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ClientIp(pub Option<IpAddr>);

/// How an unknown address is written: in sessions, audit rows, challenges, throttling keys
/// and every text that names the address. Rows hold it, so it never changes.
const UNKNOWN_TEXT: &str = "unknown";

impl ClientIp {
    pub const UNKNOWN: ClientIp = ClientIp(None);

    /// Reads an address as it was recorded. Text that is no address (the "unknown" written for
    /// a client without one) reads as unknown; an address reads as written, without
    /// re-canonicalising it, so what is shown is what was stored.
    pub fn from_recorded(text: &str) -> Self {
        ClientIp(text.parse().ok())
    }

    pub fn ip(self) -> Option<IpAddr> {
        self.0
    }
}

impl From<IpAddr> for ClientIp {
    fn from(ip: IpAddr) -> Self {
        ClientIp(Some(ip))
    }
}

impl From<Option<IpAddr>> for ClientIp {
    fn from(ip: Option<IpAddr>) -> Self {
        ClientIp(ip)
    }
}

/// The address as recorded and shown: the IP address, or `unknown`.
impl fmt::Display for ClientIp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(ip) => ip.fmt(f),
            None => f.write_str(UNKNOWN_TEXT),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_as_recorded_and_read_back() {
        for text in ["203.0.113.7", "2001:db8::1", "::ffff:192.0.2.1", "unknown"] {
            assert_eq!(ClientIp::from_recorded(text).to_string(), text);
        }
        assert_eq!(ClientIp::UNKNOWN.to_string(), "unknown");
        assert_eq!(ClientIp::from_recorded("unknown"), ClientIp::UNKNOWN);
        assert_eq!(ClientIp::from_recorded(""), ClientIp::UNKNOWN);
        assert_eq!(
            ClientIp::from_recorded("203.0.113.7").ip(),
            Some(IpAddr::from([203, 0, 113, 7]))
        );
    }
}
