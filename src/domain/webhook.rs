//! Webhooks as rules: the event types, an endpoint's filter, the body every event is sent as,
//! the Standard Webhooks signature, the retry schedule and which target addresses are refused.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hmac::{KeyInit, Mac};
use serde_json::{Value, json};

use super::time::{DAY, HOUR, MINUTE, Millis, rfc3339};

/// What a delivery reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    SessionStarted,
    SessionEnded,
    PresenceChanged,
    MemberCreated,
    MemberUpdated,
    MemberDisabled,
}

impl EventType {
    pub const ALL: [EventType; 6] = [
        EventType::SessionStarted,
        EventType::SessionEnded,
        EventType::PresenceChanged,
        EventType::MemberCreated,
        EventType::MemberUpdated,
        EventType::MemberDisabled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::SessionStarted => "session.started",
            EventType::SessionEnded => "session.ended",
            EventType::PresenceChanged => "presence.changed",
            EventType::MemberCreated => "member.created",
            EventType::MemberUpdated => "member.updated",
            EventType::MemberDisabled => "member.disabled",
        }
    }

    pub fn parse(s: &str) -> Option<EventType> {
        Self::ALL.into_iter().find(|e| e.as_str() == s)
    }
}

/// Which events an endpoint wants: every one (`["*"]`) or the ones named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventFilter {
    All,
    Only(Vec<EventType>),
}

impl EventFilter {
    /// Reads the `events` list of a registration; the error is the sentence for a 422.
    pub fn parse(names: &[String]) -> Result<EventFilter, String> {
        if names.is_empty() {
            return Err("events must name at least one event type, or be [\"*\"]".to_string());
        }
        if names.iter().any(|n| n == "*") {
            return if names.len() == 1 {
                Ok(EventFilter::All)
            } else {
                Err("\"*\" stands for every event type and comes alone".to_string())
            };
        }
        let mut out = Vec::new();
        for n in names {
            let t = EventType::parse(n).ok_or_else(|| {
                let known: Vec<&str> = EventType::ALL.iter().map(|e| e.as_str()).collect();
                format!("unknown event type \"{n}\"; known: {}", known.join(", "))
            })?;
            if !out.contains(&t) {
                out.push(t);
            }
        }
        Ok(EventFilter::Only(out))
    }

    pub fn matches(&self, t: EventType) -> bool {
        match self {
            EventFilter::All => true,
            EventFilter::Only(list) => list.contains(&t),
        }
    }

    pub fn names(&self) -> Vec<String> {
        match self {
            EventFilter::All => vec!["*".to_string()],
            EventFilter::Only(list) => list.iter().map(|e| e.as_str().to_string()).collect(),
        }
    }

    /// As stored: a JSON array of the names.
    pub fn to_db(&self) -> String {
        serde_json::to_string(&self.names()).unwrap_or_else(|_| "[]".to_string())
    }

    /// A stored filter; unknown names (from a newer version) are ignored.
    pub fn from_db(text: &str) -> EventFilter {
        let names: Vec<String> = serde_json::from_str(text).unwrap_or_default();
        if names.iter().any(|n| n == "*") {
            return EventFilter::All;
        }
        EventFilter::Only(names.iter().filter_map(|n| EventType::parse(n)).collect())
    }
}

/// Whose events an endpoint carries: what the administrator who created it may see, as the
/// Team section shows it to them now (the people of the sections they may view, and
/// themselves). An endpoint is no way around the Team permissions: a `security`-only
/// sub-administrator's endpoint hears about nobody but them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audience {
    /// Created before endpoints recorded their creator: every event, as then.
    Everyone,
    /// The creator as the permission rules see them; `None` while they are disabled (they
    /// see nothing now).
    Creator(Option<super::policy::Actor>),
}

impl Audience {
    /// From the creator's stored row: id, kind, primary, permissions (as stored), disabled.
    pub fn of_creator(
        account_id: &str,
        creator: Option<(&str, &str, bool, &str, bool)>,
    ) -> Audience {
        let Some((id, kind, primary, permissions, disabled)) = creator else {
            return Audience::Everyone;
        };
        let kind = kind.parse::<super::member::MemberKind>();
        match kind {
            Ok(kind) if !disabled => Audience::Creator(Some(super::policy::Actor {
                account_id: account_id.to_string(),
                member_id: id.to_string(),
                kind,
                primary,
                permissions: super::member::Permissions::from_db(permissions),
                ip: super::ClientIp::UNKNOWN,
                session_id: None,
            })),
            _ => Audience::Creator(None),
        }
    }

    /// Whether an event about this person goes to the endpoint.
    pub fn includes(&self, member_id: &str, kind: super::member::MemberKind) -> bool {
        match self {
            Audience::Everyone => true,
            Audience::Creator(None) => false,
            Audience::Creator(Some(actor)) => actor.follows(member_id, kind),
        }
    }
}

/// The person an event is about, as the body shows them.
#[derive(Debug, Clone)]
pub struct PersonData<'a> {
    pub id: &'a str,
    pub kind: &'a str,
    pub email: &'a str,
    pub name: &'a str,
}

/// The body of one event: `{"type", "timestamp", "data": {"person", …extra}}`. `extra` holds
/// the event's own fields (`session`, `reason`, `ended_by`, `status`).
pub fn body(t: EventType, at: Millis, person: &PersonData<'_>, extra: Value) -> String {
    let mut data = json!({
        "person": {
            "id": person.id,
            "kind": person.kind,
            "email": person.email,
            "name": person.name,
        }
    });
    if let (Some(d), Value::Object(more)) = (data.as_object_mut(), extra) {
        d.extend(more);
    }
    json!({ "type": t.as_str(), "timestamp": rfc3339(at), "data": data }).to_string()
}

/// A new endpoint secret: `whsec_` and 32 random bytes in standard base64.
pub fn secret_from_bytes(bytes: &[u8]) -> String {
    use base64::Engine;
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// The `webhook-signature` value: `v1,` + base64 HMAC-SHA256 of `id.timestamp.body`, keyed by
/// the secret's decoded bytes (Standard Webhooks).
pub fn signature(secret: &str, msg_id: &str, timestamp_secs: i64, body: &str) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let key = b64
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .unwrap_or_default();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).expect("HMAC takes any key");
    mac.update(format!("{msg_id}.{timestamp_secs}.{body}").as_bytes());
    format!("v1,{}", b64.encode(mac.finalize().into_bytes()))
}

/// Delays after each failed attempt (the Standard Webhooks schedule): the first retry within
/// 30 s, then growing, 27.6 h in all (at least 24 h); after the last, the delivery fails.
pub const RETRY_DELAYS: [Millis; 7] = [
    5_000,
    5 * MINUTE,
    30 * MINUTE,
    2 * HOUR,
    5 * HOUR,
    10 * HOUR,
    10 * HOUR,
];

/// When to try again after `attempts` attempts have failed, or None: give up.
pub fn next_attempt(attempts: i64, now: Millis) -> Option<Millis> {
    let i = usize::try_from(attempts).ok()?.checked_sub(1)?;
    RETRY_DELAYS.get(i).map(|d| now + d)
}

/// The whole schedule, for docs and tests.
pub fn retry_span() -> Millis {
    RETRY_DELAYS.iter().sum()
}

const _: () = assert!(RETRY_DELAYS[0] <= 30_000);
const _: () = {
    let mut sum = 0;
    let mut i = 0;
    while i < RETRY_DELAYS.len() {
        sum += RETRY_DELAYS[i];
        i += 1;
    }
    assert!(sum >= DAY);
};

/// Whether a target address is refused unless private targets are allowed: loopback,
/// private, link-local, unique-local, unspecified, shared (CGNAT), documentation, multicast
/// and broadcast ranges, and the same ranges written inside IPv6.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (64..128).contains(&o[1]))
                || (o[0] == 192 && o[1] == 0 && o[2] == 0)
                || (o[0] == 198 && (18..20).contains(&o[1]))
                || o[0] >= 240
        }
        IpAddr::V6(v6) => match embedded_ipv4(v6) {
            Embedded::Refused => true,
            // A translator or tunnel delivers to the IPv4 address inside, so that address is
            // what the rules judge; a private one would be reached through it.
            Embedded::V4(v4s) => v4s.into_iter().any(|v4| is_private(IpAddr::V4(v4))),
            Embedded::None => {
                let seg = v6.segments();
                v6.is_loopback()
                    || v6.is_unspecified()
                    || v6.is_multicast()
                    || (seg[0] & 0xfe00) == 0xfc00
                    || (seg[0] & 0xffc0) == 0xfe80
                    || (seg[0] == 0x2001 && seg[1] == 0x0db8)
            }
        },
    }
}

/// What an IPv6 address carries of IPv4.
enum Embedded {
    /// Not one of the prefixes that embed IPv4.
    None,
    /// The IPv4 addresses traffic to it reaches (Teredo: the relay and the client).
    V4(Vec<Ipv4Addr>),
    /// A prefix whose IPv4 cannot be read reliably (local-use NAT64, where the operator picks
    /// where the address sits; the deprecated IPv4-compatible form and the rest of `::/64`;
    /// the rest of `64:ff9b::/32`): refused whole.
    Refused,
}

fn embedded_ipv4(v6: Ipv6Addr) -> Embedded {
    let seg = v6.segments();
    let low = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    match seg {
        // ::ffff:0:0/96, IPv4-mapped.
        [0, 0, 0, 0, 0, 0xffff, hi, lo] => Embedded::V4(vec![low(hi, lo)]),
        // ::ffff:0:0:0/96, IPv4-translated (SIIT).
        [0, 0, 0, 0, 0xffff, 0, hi, lo] => Embedded::V4(vec![low(hi, lo)]),
        // ::1 and :: keep their own IPv6 meaning (loopback, unspecified), judged below.
        [0, 0, 0, 0, 0, 0, 0, 0 | 1] => Embedded::None,
        // ::/96 IPv4-compatible (deprecated) and anything else in ::/64.
        [0, 0, 0, 0, ..] => Embedded::Refused,
        // 64:ff9b::/96, the well-known NAT64 prefix: DNS64 gives every IPv4-only host one.
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => Embedded::V4(vec![low(hi, lo)]),
        // 64:ff9b:1::/48 (local-use NAT64) and the rest of 64:ff9b::/32.
        [0x64, 0xff9b, ..] => Embedded::Refused,
        // 2002::/16, 6to4: the IPv4 address follows the prefix.
        [0x2002, hi, lo, ..] => Embedded::V4(vec![low(hi, lo)]),
        // 2001::/32, Teredo: the server's address, then the client's with its bits inverted.
        [0x2001, 0, shi, slo, _, _, chi, clo] => Embedded::V4(vec![low(shi, slo), low(!chi, !clo)]),
        _ => Embedded::None,
    }
}

/// Checks a target URL's form: http or https, a host, no credentials. Addresses are checked
/// after name resolution, by the caller.
pub fn check_url(text: &str) -> Result<url::Url, String> {
    let u = url::Url::parse(text.trim()).map_err(|e| format!("url is not a valid URL: {e}"))?;
    if u.scheme() != "https" && u.scheme() != "http" {
        return Err("url must start with https:// or http://".to_string());
    }
    if u.host_str().is_none_or(str::is_empty) {
        return Err("url must name a host".to_string());
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err("url must not carry a user name or password".to_string());
    }
    if text.len() > 2000 {
        return Err("url must be at most 2000 characters".to_string());
    }
    Ok(u)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endpoint_hears_what_its_creator_may_see() {
        use crate::domain::member::MemberKind::{Admin, Agent};
        let security_only =
            Audience::of_creator("ac", Some(("ad_s", "admin", false, "security", false)));
        assert!(!security_only.includes("ad_primary", Admin));
        assert!(!security_only.includes("ag_1", Agent));
        assert!(security_only.includes("ad_s", Admin), "their own events");
        let agents = Audience::of_creator(
            "ac",
            Some(("ad_a", "admin", false, "security,team.agents", false)),
        );
        assert!(agents.includes("ag_1", Agent) && !agents.includes("ad_primary", Admin));
        let primary = Audience::of_creator("ac", Some(("ad_p", "admin", true, "", false)));
        assert!(primary.includes("ad_x", Admin) && primary.includes("ag_1", Agent));
        let disabled = Audience::of_creator("ac", Some(("ad_p", "admin", true, "", true)));
        assert!(!disabled.includes("ag_1", Agent));
        assert!(Audience::of_creator("ac", None).includes("ad_primary", Admin));
    }

    #[test]
    fn filters_parse_and_match() {
        let all = EventFilter::parse(&["*".to_string()]).unwrap();
        assert!(all.matches(EventType::MemberDisabled));
        let some = EventFilter::parse(&["session.ended".to_string()]).unwrap();
        assert!(some.matches(EventType::SessionEnded));
        assert!(!some.matches(EventType::SessionStarted));
        assert_eq!(EventFilter::from_db(&some.to_db()), some);
        assert!(EventFilter::parse(&[]).is_err());
        assert!(EventFilter::parse(&["session.nope".to_string()]).is_err());
        assert!(EventFilter::parse(&["*".to_string(), "session.ended".to_string()]).is_err());
    }

    #[test]
    fn signature_matches_the_standard_webhooks_example() {
        // The example of the Standard Webhooks specification.
        let sig = signature(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn retries_start_soon_and_cover_a_day() {
        assert_eq!(next_attempt(1, 0), Some(5_000));
        assert_eq!(next_attempt(7, 0), Some(10 * HOUR));
        assert_eq!(next_attempt(8, 0), None);
        assert!(retry_span() >= DAY);
    }

    #[test]
    fn private_targets() {
        for a in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_private(a.parse().unwrap()), "{a}");
        }
        for a in ["93.184.216.34", "2606:4700::1111", "1.1.1.1"] {
            assert!(!is_private(a.parse().unwrap()), "{a}");
        }
    }

    /// IPv6 prefixes that carry an IPv4 address are judged by that address (or refused whole
    /// where it cannot be read): (address, refused).
    #[test]
    fn ipv4_inside_ipv6() {
        for (a, refused) in [
            // IPv4-mapped, ::ffff:0:0/96.
            ("::ffff:10.0.0.1", true),
            ("::ffff:169.254.169.254", true),
            ("::ffff:93.184.216.34", false),
            // IPv4-translated, ::ffff:0:0:0/96.
            ("::ffff:0:127.0.0.1", true),
            ("::ffff:0:a9fe:a9fe", true),
            ("::ffff:0:192.168.1.1", true),
            ("::ffff:0:93.184.216.34", false),
            // IPv4-compatible, ::/96 (deprecated), and the rest of ::/64: refused whole.
            ("::127.0.0.1", true),
            ("::93.184.216.34", true),
            ("::1:0:0:1", true),
            // NAT64, 64:ff9b::/96: judged by the address inside.
            ("64:ff9b::127.0.0.1", true),
            ("64:ff9b::10.1.2.3", true),
            ("64:ff9b::93.184.216.34", false),
            // Local-use NAT64, 64:ff9b:1::/48: refused whole.
            ("64:ff9b:1::5db8:d822", true),
            ("64:ff9b:1:7f00:1::", true),
            // 6to4, 2002::/16.
            ("2002:7f00:1::1", true),
            ("2002:a9fe:a9fe::", true),
            ("2002:c0a8:101:1::1", true),
            ("2002:5db8:d822::1", false),
            // Teredo, 2001::/32: the server, then the client inverted.
            ("2001:0:7f00:1::5db8:d822", true),
            ("2001:0:5db8:d822::80ff:fffe", true),
            ("2001:0:5db8:d822::f5ff:fffe", true),
            ("2001:0:5db8:d822::a247:27dd", false),
            // Not embedding: other 2001 space stays public, documentation stays refused.
            ("2001:4860::8888", false),
            ("2001:db8::1", true),
        ] {
            assert_eq!(is_private(a.parse().unwrap()), refused, "{a}");
        }
    }

    #[test]
    fn urls() {
        assert!(check_url("https://hooks.example.com/x").is_ok());
        assert!(check_url("ftp://example.com").is_err());
        assert!(check_url("https://u:p@example.com").is_err());
        assert!(check_url("nonsense").is_err());
    }
}
