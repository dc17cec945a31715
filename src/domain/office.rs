//! Session policies as pure rules: the limit of sessions per person, office networks (CIDR
//! ranges compiled once into sorted intervals, so the check on every request is a binary
//! search) and what each role's network policy does with a session from outside them.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;

use super::ClientIp;
use super::member::MemberKind;

/// The per-person limit an account may set (agents): 1 to 10, or none.
pub const MAX_SESSIONS_LIMIT: i64 = 10;
/// At most this many office networks per account.
pub const MAX_OFFICE_NETWORKS: usize = 100;
/// A network's name, at most this many characters.
pub const MAX_NETWORK_NAME_CHARS: usize = 100;

/// Validates `max_sessions_per_person`.
pub fn check_max_sessions(n: i64) -> Result<(), String> {
    if (1..=MAX_SESSIONS_LIMIT).contains(&n) {
        Ok(())
    } else {
        Err(format!(
            "max_sessions_per_person must be between 1 and {MAX_SESSIONS_LIMIT}, or null for no limit, got {n}"
        ))
    }
}

/// How many live sessions this person may keep, given the account's limit (agents only) and
/// the cap that applies to everyone.
pub fn sessions_to_keep(kind: MemberKind, limit: Option<i64>, cap: usize) -> usize {
    match (kind, limit) {
        (MemberKind::Agent, Some(n)) if n >= 1 => (n as usize).min(cap),
        _ => cap,
    }
}

/// What a role's office-network policy does with sessions from outside every office network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NetworkPolicy {
    #[default]
    Off,
    /// Marks such sessions.
    Flag,
    /// Refuses sign-in from outside and ends a session at its first request from outside.
    Enforce,
}

impl NetworkPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            NetworkPolicy::Off => "off",
            NetworkPolicy::Flag => "flag",
            NetworkPolicy::Enforce => "enforce",
        }
    }
}

impl FromStr for NetworkPolicy {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Ok(match s {
            "off" => NetworkPolicy::Off,
            "flag" => NetworkPolicy::Flag,
            "enforce" => NetworkPolicy::Enforce,
            _ => return Err(()),
        })
    }
}

impl fmt::Display for NetworkPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One office network as configured: a range and a name people recognise.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OfficeNetwork {
    pub cidr: String,
    pub name: String,
}

/// Parses and normalises one entry (`10.1.2.3/8` becomes `10.0.0.0/8`; a bare address is its
/// own /32 or /128). The error names the entry as written.
pub fn parse_network(cidr: &str, name: &str) -> Result<OfficeNetwork, String> {
    let raw = cidr.trim();
    let net = raw
        .parse::<IpNet>()
        .or_else(|_| raw.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("\"{raw}\" is not an IPv4 or IPv6 CIDR range"))?;
    let name = name.trim();
    if name.chars().count() > MAX_NETWORK_NAME_CHARS {
        return Err(format!(
            "the name of {raw} is longer than {MAX_NETWORK_NAME_CHARS} characters"
        ));
    }
    Ok(OfficeNetwork {
        cidr: net.trunc().to_string(),
        name: name.to_string(),
    })
}

/// The office networks compiled for matching: merged, sorted address intervals per family.
/// Built once per change of the setting; `contains` is a binary search, so 100 ranges cost a
/// handful of comparisons per request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Networks {
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
}

impl Networks {
    pub fn compile(list: &[OfficeNetwork]) -> Networks {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for n in list {
            match n.cidr.parse::<IpNet>() {
                Ok(IpNet::V4(net)) => {
                    v4.push((u32::from(net.network()), u32::from(net.broadcast())))
                }
                Ok(IpNet::V6(net)) => {
                    v6.push((u128::from(net.network()), u128::from(net.broadcast())))
                }
                Err(_) => {}
            }
        }
        Networks {
            v4: merge(v4),
            v6: merge(v6),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    /// Whether the address lies in an office network. An IPv4 address written as IPv6
    /// (`::ffff:a.b.c.d`) is matched as the IPv4 address it is.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(a) => within(&self.v4, u32::from(a)),
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(v4) => within(&self.v4, u32::from(v4)),
                None => within(&self.v6, u128::from(a)),
            },
        }
    }

    /// Whether a client's address is outside every office network. With no networks
    /// configured nothing is outside; an unknown address is outside.
    pub fn is_outside(&self, ip: ClientIp) -> bool {
        if self.is_empty() {
            return false;
        }
        ip.ip().is_none_or(|a| !self.contains(a))
    }
}

fn merge<T: Ord + Copy + One>(mut v: Vec<(T, T)>) -> Vec<(T, T)> {
    v.sort_unstable();
    let mut out: Vec<(T, T)> = Vec::with_capacity(v.len());
    for (lo, hi) in v {
        match out.last_mut() {
            Some(last) if lo <= last.1.saturating_inc() => last.1 = last.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    out
}

fn within<T: Ord + Copy>(ranges: &[(T, T)], a: T) -> bool {
    // The last interval starting at or before `a` is the only one that can hold it.
    let i = ranges.partition_point(|(lo, _)| *lo <= a);
    i > 0 && a <= ranges[i - 1].1
}

/// Adjacent intervals merge too (10.0.0.0/25 and 10.0.0.128/25).
trait One {
    fn saturating_inc(self) -> Self;
}
impl One for u32 {
    fn saturating_inc(self) -> Self {
        self.saturating_add(1)
    }
}
impl One for u128 {
    fn saturating_inc(self) -> Self {
        self.saturating_add(1)
    }
}

/// The account's network policy per role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RolePolicies {
    pub agents: NetworkPolicy,
    pub admins: NetworkPolicy,
}

impl RolePolicies {
    /// The policy that governs this person. The primary administrator is never locked out:
    /// for them `enforce` only flags.
    pub fn for_person(&self, kind: MemberKind, primary: bool) -> NetworkPolicy {
        let p = match kind {
            MemberKind::Agent => self.agents,
            MemberKind::Admin => self.admins,
        };
        if primary && p == NetworkPolicy::Enforce {
            NetworkPolicy::Flag
        } else {
            p
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Networks {
        let parsed: Vec<_> = list.iter().map(|c| parse_network(c, "").unwrap()).collect();
        Networks::compile(&parsed)
    }

    #[test]
    fn limits_are_one_to_ten_for_agents_only() {
        assert!(check_max_sessions(0).is_err());
        assert!(check_max_sessions(1).is_ok());
        assert!(check_max_sessions(10).is_ok());
        assert!(check_max_sessions(11).is_err());
        assert_eq!(sessions_to_keep(MemberKind::Agent, Some(3), 100), 3);
        assert_eq!(sessions_to_keep(MemberKind::Agent, None, 100), 100);
        assert_eq!(sessions_to_keep(MemberKind::Admin, Some(1), 100), 100);
        // A stored limit below one (never accepted, but a row could hold it) means no limit,
        // not "keep none".
        assert_eq!(sessions_to_keep(MemberKind::Agent, Some(0), 100), 100);
        assert_eq!(sessions_to_keep(MemberKind::Agent, Some(-1), 100), 100);
        assert_eq!(sessions_to_keep(MemberKind::Agent, Some(5), 2), 2);
    }

    #[test]
    fn policies_read_back_what_they_write() {
        for p in [
            NetworkPolicy::Off,
            NetworkPolicy::Flag,
            NetworkPolicy::Enforce,
        ] {
            assert_eq!(p.as_str().parse(), Ok(p));
            assert_eq!(p.to_string(), p.as_str());
        }
        assert_eq!(NetworkPolicy::Enforce.as_str(), "enforce");
        assert_eq!(NetworkPolicy::Off.to_string(), "off");
    }

    #[test]
    fn a_name_of_exactly_the_limit_is_kept() {
        let name = "n".repeat(MAX_NETWORK_NAME_CHARS);
        assert_eq!(parse_network("10.0.0.0/8", &name).unwrap().name, name);
    }

    #[test]
    fn entries_are_normalised_or_named_when_bad() {
        assert_eq!(parse_network("10.1.2.3/8", "x").unwrap().cidr, "10.0.0.0/8");
        assert_eq!(
            parse_network(" 192.0.2.7 ", "").unwrap().cidr,
            "192.0.2.7/32"
        );
        assert_eq!(
            parse_network("2001:DB8::1/32", "").unwrap().cidr,
            "2001:db8::/32"
        );
        let e = parse_network("10.0.0.0/33", "").unwrap_err();
        assert!(e.contains("10.0.0.0/33"), "{e}");
        assert!(parse_network("riga", "").is_err());
        assert!(parse_network("10.0.0.0/8", &"n".repeat(101)).is_err());
    }

    #[test]
    fn matching_ipv4_and_ipv6() {
        let n = nets(&[
            "203.0.113.0/24",
            "10.0.0.0/8",
            "2001:db8:aa::/48",
            "127.0.0.5",
        ]);
        let has = |s: &str| n.contains(s.parse().unwrap());
        assert!(has("203.0.113.0"));
        assert!(has("203.0.113.255"));
        assert!(!has("203.0.114.0"));
        assert!(!has("203.0.112.255"));
        assert!(has("10.200.1.1"));
        assert!(has("127.0.0.5"));
        assert!(!has("127.0.0.6"));
        assert!(!has("127.0.0.4"));
        assert!(has("2001:db8:aa:ffff::1"));
        assert!(!has("2001:db8:ab::1"));
        assert!(has("::ffff:10.1.1.1"));
        let at = ClientIp::from_recorded;
        assert!(!n.is_outside(at("10.9.9.9")));
        assert!(n.is_outside(at("198.51.100.7")));
        assert!(n.is_outside(ClientIp::UNKNOWN));
        assert!(!Networks::default().is_outside(at("198.51.100.7")));
        assert!(!Networks::default().is_outside(ClientIp::UNKNOWN));
    }

    #[test]
    fn overlapping_and_adjacent_ranges_merge() {
        let n = nets(&["10.0.0.0/25", "10.0.0.128/25", "10.0.0.0/30", "0.0.0.0/0"]);
        assert_eq!(n.v4, vec![(0, u32::MAX)]);
        let n = nets(&["10.0.0.0/25", "10.0.0.128/25"]);
        assert_eq!(n.v4.len(), 1);
        let n = nets(&["2001:db8::/33", "2001:db8:8000::/33"]);
        assert_eq!(n.v6.len(), 1, "adjacent IPv6 ranges merge: {:?}", n.v6);
        let n = nets(&["::/0", "2001:db8::/32"]);
        assert!(n.contains("2001:db8::1".parse().unwrap()));
        assert!(!n.contains("192.0.2.1".parse().unwrap()));
    }

    #[test]
    fn a_hundred_ranges_still_match_exactly() {
        let list: Vec<String> = (0..100).map(|i| format!("10.{i}.0.0/16")).collect();
        let refs: Vec<&str> = list.iter().map(String::as_str).collect();
        let n = nets(&refs);
        assert!(n.contains("10.99.255.255".parse().unwrap()));
        assert!(!n.contains("10.100.0.0".parse().unwrap()));
    }

    #[test]
    fn the_primary_is_never_locked_out() {
        let p = RolePolicies {
            agents: NetworkPolicy::Enforce,
            admins: NetworkPolicy::Enforce,
        };
        assert_eq!(p.for_person(MemberKind::Admin, true), NetworkPolicy::Flag);
        assert_eq!(
            p.for_person(MemberKind::Admin, false),
            NetworkPolicy::Enforce
        );
        assert_eq!(
            p.for_person(MemberKind::Agent, false),
            NetworkPolicy::Enforce
        );
        assert_eq!("flag".parse(), Ok(NetworkPolicy::Flag));
        assert!("nope".parse::<NetworkPolicy>().is_err());
    }
}
