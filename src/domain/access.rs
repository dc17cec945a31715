//! Access rules (`serve --access-rules FILE`): which request to the guarded app needs what,
//! read from TOML and checked in order by the verify endpoints, the first match winning and
//! `signed_in` applying when none does. Everything is checked as the file is read, so a rule
//! in force can no longer fail; a mistake is named with the line of its rule.

use std::fmt;
use std::ops::Range;

use regex::{Regex, RegexBuilder};
use serde::Deserialize;

use super::member::{MemberKind, Permission};
use super::policy::Actor;
use super::url_path;

/// What a request must bring to pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Require {
    /// Nobody needs to be signed in.
    Public,
    /// Anyone signed in (the default).
    SignedIn,
    /// That role exactly.
    Kind(MemberKind),
    /// An administrator holding it (the primary administrator holds every one).
    Permission(Permission),
    /// Nobody passes.
    Deny,
}

impl Require {
    fn parse(s: &str) -> Result<Require, String> {
        Ok(match s {
            "public" => Require::Public,
            "signed_in" => Require::SignedIn,
            "agent" => Require::Kind(MemberKind::Agent),
            "admin" => Require::Kind(MemberKind::Admin),
            "deny" => Require::Deny,
            other => Require::Permission(other.parse().map_err(|_| {
                format!(
                    "require: unknown value \"{other}\" (use public, signed_in, agent, admin, \
                     team.agents, team.admins, security, audit or deny)"
                )
            })?),
        })
    }

    /// Whether a signed-in person meets it (`Public` and `SignedIn` by being signed in).
    pub fn met_by(self, a: &Actor) -> bool {
        match self {
            Require::Public | Require::SignedIn => true,
            Require::Kind(k) => a.kind == k,
            Require::Permission(p) => a.has(p),
            Require::Deny => false,
        }
    }

    /// In words, for the refused page: "this page needs …".
    pub fn describe(self) -> String {
        match self {
            Require::Public | Require::SignedIn => "a signed-in account".to_string(),
            Require::Kind(MemberKind::Agent) => "an agent account".to_string(),
            Require::Kind(MemberKind::Admin) => "an administrator account".to_string(),
            Require::Permission(p) => format!("the “{}” permission", p.label()),
            Require::Deny => "nothing: nobody may open it".to_string(),
        }
    }
}

/// Which paths a rule is for.
#[derive(Debug, Clone)]
enum PathMatch {
    /// Normalized, no trailing slash (except `/` itself).
    Prefix(String),
    Regex(Regex),
}

/// Which hosts a rule is for (lower case, no port).
#[derive(Debug, Clone, PartialEq, Eq)]
enum HostMatch {
    Exact(String),
    /// `*.example.com`, kept as `.example.com`: any depth of subdomain, not the bare domain.
    Under(String),
}

/// One `[[rule]]`, checked.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Where it starts in the file (1-based), for the log and the refused page.
    pub line: usize,
    path: PathMatch,
    host: Option<HostMatch>,
    /// Upper case; `None`: every method.
    methods: Option<Vec<String>>,
    pub require: Require,
    /// Only from the account's office networks.
    pub office_only: bool,
}

/// The request a rule is matched against, each part already normalized: the host in lower
/// case without port or trailing dot ([`host_of`]), the path by [`url_path::normalize`], the
/// method in upper case (`None` when the proxy did not say).
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub host: &'a str,
    pub path: &'a str,
    pub method: Option<&'a str>,
}

/// What the rules ask of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub require: Require,
    pub office_only: bool,
    /// The matching rule's line; `None` for the default.
    pub line: Option<usize>,
}

impl Decision {
    pub const DEFAULT: Decision = Decision {
        require: Require::SignedIn,
        office_only: false,
        line: None,
    };
}

/// A rules file, checked.
#[derive(Debug, Clone, Default)]
pub struct AccessRules {
    rules: Vec<Rule>,
    uses_methods: bool,
}

/// A mistake in a rules file: the line of the rule (or of the syntax error) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RulesError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for RulesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for RulesError {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    rule: Vec<toml::Spanned<RawRule>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    path: Option<String>,
    regex: Option<String>,
    host: Option<String>,
    methods: Option<Vec<String>>,
    require: Option<String>,
    networks: Option<String>,
}

/// The 1-based line of a byte offset.
fn line_of(text: &str, at: usize) -> usize {
    text.as_bytes()[..at.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The line of a rule's `[[rule]]` header: its span starts at or after the header, so the
/// nearest header at or before the span's start.
fn rule_line(text: &str, span: &Range<usize>) -> usize {
    let start = span.start.min(text.len());
    let head = text[..start].rfind("[[").filter(|&i| {
        text[i..]
            .trim_start_matches("[[")
            .trim_start()
            .starts_with("rule")
    });
    let at_start = text[start..].trim_start().starts_with("[[");
    line_of(
        text,
        if at_start {
            start
        } else {
            head.unwrap_or(start)
        },
    )
}

/// Longest regular expression source taken, and the compiled size allowed: a rule is a
/// page pattern, and each is run on every request.
const MAX_REGEX_LEN: usize = 1_000;
const REGEX_SIZE_LIMIT: usize = 1 << 20;
/// At most this many rules: each is checked in turn on every request.
pub const MAX_RULES: usize = 1_000;

impl AccessRules {
    /// Reads and checks a rules file's text.
    pub fn parse(text: &str) -> Result<AccessRules, RulesError> {
        let raw: RawFile = toml::from_str(text).map_err(|e| RulesError {
            line: e.span().map_or(1, |s| line_of(text, s.start)),
            message: e.message().trim().to_string(),
        })?;
        if raw.rule.len() > MAX_RULES {
            return Err(RulesError {
                line: rule_line(text, &raw.rule[MAX_RULES].span()),
                message: format!("too many rules (at most {MAX_RULES})"),
            });
        }
        let mut rules = Vec::with_capacity(raw.rule.len());
        for spanned in raw.rule {
            let line = rule_line(text, &spanned.span());
            let rule = Rule::check(spanned.into_inner(), line)
                .map_err(|message| RulesError { line, message })?;
            rules.push(rule);
        }
        let uses_methods = rules.iter().any(|r| r.methods.is_some());
        Ok(AccessRules {
            rules,
            uses_methods,
        })
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Whether some rule depends on the method (a request whose method is unknown is then
    /// refused rather than judged without it).
    pub fn uses_methods(&self) -> bool {
        self.uses_methods
    }

    /// The first rule matching the request, or the default (`signed_in`).
    pub fn decide(&self, t: Target<'_>) -> Decision {
        self.rules
            .iter()
            .find(|r| r.matches(t))
            .map_or(Decision::DEFAULT, |r| Decision {
                require: r.require,
                office_only: r.office_only,
                line: Some(r.line),
            })
    }
}

impl Rule {
    fn check(raw: RawRule, line: usize) -> Result<Rule, String> {
        let path = match (raw.path, raw.regex) {
            (Some(_), Some(_)) => {
                return Err("a rule has `path` or `regex`, not both".to_string());
            }
            (None, None) => {
                return Err(
                    "a rule needs `path` (a prefix such as \"/admin\") or `regex`".to_string(),
                );
            }
            (Some(p), None) => PathMatch::Prefix(check_prefix(&p)?),
            (None, Some(r)) => PathMatch::Regex(check_regex(&r)?),
        };
        let host = raw.host.as_deref().map(check_host).transpose()?;
        let methods = raw.methods.map(check_methods).transpose()?;
        let require = Require::parse(raw.require.as_deref().ok_or_else(|| {
            "a rule needs `require` (public, signed_in, agent, admin, a permission or deny)"
                .to_string()
        })?)?;
        let office_only = match raw.networks.as_deref() {
            None => false,
            Some("office") => true,
            Some(other) => {
                return Err(format!(
                    "networks: unknown value \"{other}\" (the one value is \"office\")"
                ));
            }
        };
        Ok(Rule {
            line,
            path,
            host,
            methods,
            require,
            office_only,
        })
    }

    fn matches(&self, t: Target<'_>) -> bool {
        if let Some(h) = &self.host {
            let ok = match h {
                HostMatch::Exact(e) => t.host == e,
                HostMatch::Under(suffix) => t.host.ends_with(suffix.as_str()),
            };
            if !ok {
                return false;
            }
        }
        if let Some(m) = &self.methods {
            // An unknown method matches no method list (the caller refuses it first when
            // any rule has one).
            if !t.method.is_some_and(|tm| m.iter().any(|x| x == tm)) {
                return false;
            }
        }
        match &self.path {
            PathMatch::Prefix(p) => url_path::under(t.path, p),
            PathMatch::Regex(r) => r.is_match(t.path),
        }
    }
}

fn check_prefix(p: &str) -> Result<String, String> {
    if p.contains(['?', '#']) {
        return Err(format!(
            "path \"{p}\": a path only (no `?` or `#`); use `regex` for more"
        ));
    }
    let n = url_path::normalize(p.as_bytes()).map_err(|e| format!("path \"{p}\": {e}"))?;
    Ok(match n.strip_suffix('/') {
        Some(s) if !s.is_empty() => s.to_string(),
        _ => n,
    })
}

fn check_regex(r: &str) -> Result<Regex, String> {
    if r.len() > MAX_REGEX_LEN {
        return Err(format!("regex: longer than {MAX_REGEX_LEN} characters"));
    }
    RegexBuilder::new(r)
        .case_insensitive(true)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| {
            // The regex crate's message spans several lines; the log keeps one.
            let msg = e
                .to_string()
                .lines()
                .last()
                .unwrap_or("")
                .trim()
                .to_string();
            format!("regex \"{r}\": {msg}")
        })
}

fn check_host(h: &str) -> Result<HostMatch, String> {
    let bad = |why: &str| format!("host \"{h}\": {why}");
    let lower = h.trim_end_matches('.').to_ascii_lowercase();
    let (wild, name) = match lower.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, lower.as_str()),
    };
    if name.is_empty() {
        return Err(bad("empty"));
    }
    if name.contains(':') && !name.starts_with('[') {
        return Err(bad("no port (ports are ignored when matching)"));
    }
    let ipv6 = name.starts_with('[') && name.ends_with(']');
    if !ipv6
        && !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    {
        return Err(bad(
            "a host name (letters, digits, `-` and `.`), `*.` before a domain for its \
             subdomains, or an IP address",
        ));
    }
    if wild && (ipv6 || name.split('.').count() < 2) {
        return Err(bad(
            "`*.` needs a domain with a dot after it, such as *.example.com",
        ));
    }
    Ok(if wild {
        HostMatch::Under(format!(".{name}"))
    } else {
        HostMatch::Exact(name.to_string())
    })
}

fn check_methods(list: Vec<String>) -> Result<Vec<String>, String> {
    if list.is_empty() {
        return Err(
            "methods: an empty list matches nothing; leave it out for every method".to_string(),
        );
    }
    list.into_iter()
        .map(|m| {
            if !m.is_empty() && m.bytes().all(|b| b.is_ascii_alphabetic()) {
                Ok(m.to_ascii_uppercase())
            } else {
                Err(format!("methods: \"{m}\" is not an HTTP method"))
            }
        })
        .collect()
}

/// A request's host as rules compare it: lower case, without port or trailing dot; `None`
/// for what is no host (empty, or holding characters no host name has).
pub fn host_of(authority: &str) -> Option<String> {
    let host = if let Some(rest) = authority.strip_prefix('[') {
        let end = rest.find(']')?;
        let after = &rest[end + 1..];
        if !(after.is_empty() || after.starts_with(':')) {
            return None;
        }
        &authority[..end + 2]
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, port)| {
            if port.bytes().all(|b| b.is_ascii_digit()) {
                h
            } else {
                ""
            }
        })
    };
    let host = host.trim_end_matches('.');
    let ok = !host.is_empty()
        && host.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'[' | b']' | b':' | b'_')
        });
    ok.then(|| host.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::member::Permissions;

    const SAMPLE: &str = r#"
# comment
[[rule]]
path = "/help"
require = "public"

[[rule]]
path = "/Admin/"
require = "admin"

[[rule]]
regex = '^/reports(/|$)'
require = "audit"
networks = "office"

[[rule]]
path = "/api/cases"
methods = ["delete", "POST"]
require = "deny"

[[rule]]
host = "*.example.com"
path = "/"
require = "agent"

[[rule]]
host = "status.example.org"
path = "/"
require = "public"
"#;

    fn decide(rules: &AccessRules, host: &str, raw: &str, method: &str) -> Decision {
        let path = url_path::normalize(raw.as_bytes()).unwrap();
        rules.decide(Target {
            host,
            path: &path,
            method: Some(method),
        })
    }

    #[test]
    fn the_first_matching_rule_wins_and_none_means_signed_in() {
        let r = AccessRules::parse(SAMPLE).unwrap();
        assert_eq!(r.len(), 6);
        assert!(r.uses_methods());
        let d = |host, path, method| decide(&r, host, path, method);
        assert_eq!(d("desk.test", "/help/faq", "GET").require, Require::Public);
        assert_eq!(d("desk.test", "/help", "GET").line, Some(3));
        assert_eq!(d("desk.test", "/helpdesk", "GET"), Decision::DEFAULT);
        for hostile in [
            "/ADMIN/x",
            "/admin;/x",
            "/admin/../admin/x",
            "//admin",
            "/%61dmin",
        ] {
            assert_eq!(
                d("desk.test", hostile, "GET").require,
                Require::Kind(MemberKind::Admin),
                "{hostile}"
            );
        }
        assert_eq!(d("desk.test", "/administrator", "GET"), Decision::DEFAULT);
        let reports = d("desk.test", "/REPORTS/q3", "GET");
        assert_eq!(reports.require, Require::Permission(Permission::Audit));
        assert!(reports.office_only);
        assert_eq!(reports.line, Some(11));
        assert_eq!(d("desk.test", "/reportsx", "GET"), Decision::DEFAULT);
        assert_eq!(
            d("desk.test", "/api/cases/7", "DELETE").require,
            Require::Deny
        );
        assert_eq!(
            d("desk.test", "/api/cases/7", "POST").require,
            Require::Deny
        );
        assert_eq!(d("desk.test", "/api/cases/7", "GET"), Decision::DEFAULT);
        let agent = Require::Kind(MemberKind::Agent);
        assert_eq!(d("a.example.com", "/x", "GET").require, agent);
        assert_eq!(d("a.b.example.com", "/x", "GET").require, agent);
        assert_eq!(d("example.com", "/x", "GET"), Decision::DEFAULT);
        assert_eq!(d("badexample.com", "/x", "GET"), Decision::DEFAULT);
        assert_eq!(
            d("status.example.org", "/x", "GET").require,
            Require::Public
        );
        assert_eq!(d("www.status.example.org", "/x", "GET"), Decision::DEFAULT);
        // An unknown method matches no method list.
        let path = "/api/cases";
        let unknown = r.decide(Target {
            host: "desk.test",
            path,
            method: None,
        });
        assert_eq!(unknown, Decision::DEFAULT);
    }

    #[test]
    fn mistakes_are_named_with_their_rules_line() {
        for (text, line, needle) in [
            (
                "[[rule]]\npath = \"/a\"\nrequire = \"root\"\n",
                1,
                "unknown value \"root\"",
            ),
            ("\n\n[[rule]]\npath = \"/a\"\n", 3, "needs `require`"),
            ("[[rule]]\nrequire = \"admin\"\n", 1, "needs `path`"),
            (
                "[[rule]]\npath = \"/a\"\nregex = \"a\"\nrequire = \"admin\"\n",
                1,
                "not both",
            ),
            (
                "[[rule]]\npath = \"/a\"\nrequire = \"admin\"\n\n[[rule]]\nregex = \"(\"\nrequire = \"admin\"\n",
                5,
                "regex \"(\"",
            ),
            (
                "[[rule]]\npath = \"/a\"\nrequire = \"admin\"\nnetworks = \"home\"\n",
                1,
                "\"office\"",
            ),
            (
                "[[rule]]\npath = \"/a\"\nrequire = \"admin\"\nhost = \"a.test:80\"\n",
                1,
                "no port",
            ),
            (
                "[[rule]]\npath = \"/a\"\nrequire = \"admin\"\nhost = \"*.com\"\n",
                1,
                "*.",
            ),
            (
                "[[rule]]\npath = \"/a\"\nrequire = \"admin\"\nhost = \"a/b\"\n",
                1,
                "host \"a/b\"",
            ),
            (
                "[[rule]]\npath = \"/a\"\nrequire = \"admin\"\nmethods = []\n",
                1,
                "empty list",
            ),
            (
                "[[rule]]\npath = \"/a\"\nrequire = \"admin\"\nmethods = [\"GE T\"]\n",
                1,
                "not an HTTP method",
            ),
            (
                "[[rule]]\npath = \"/a%2fb\"\nrequire = \"admin\"\n",
                1,
                "encoded",
            ),
            (
                "[[rule]]\npath = \"admin\"\nrequire = \"admin\"\n",
                1,
                "start with /",
            ),
            (
                "[[rule]]\npath = \"/a?x\"\nrequire = \"admin\"\n",
                1,
                "a path only",
            ),
            (
                "[[rule]]\npath = \"/a\"\nrequire = \"admin\"\nwho = 1\n",
                4,
                "unknown field `who`",
            ),
            ("[[rule]]\npath = \"/a\"\n\nrequire = 3\n", 4, "string"),
            ("[[rule]]\npath = \"/a\"\nrequire = \"admin\n", 3, ""),
            ("[rules]\n", 1, "unknown field `rules`"),
        ] {
            let e = AccessRules::parse(text).unwrap_err();
            assert_eq!(e.line, line, "{text:?}: {e}");
            assert!(e.message.contains(needle), "{text:?}: {e}");
        }
    }

    #[test]
    fn an_empty_file_has_no_rules() {
        let r = AccessRules::parse("# nothing yet\n").unwrap();
        assert!(r.is_empty());
        assert!(!r.uses_methods());
    }

    #[test]
    fn requirements_follow_roles_and_permissions() {
        let actor = |kind, primary, perms: &[Permission]| Actor {
            account_id: "ac".into(),
            member_id: "m".into(),
            kind,
            primary,
            permissions: Permissions::new(perms.to_vec()),
            ip: crate::domain::ClientIp::from_recorded("127.0.0.1"),
            session_id: None,
        };
        let agent = actor(MemberKind::Agent, false, &[]);
        let sub = actor(MemberKind::Admin, false, &[Permission::Audit]);
        let primary = actor(MemberKind::Admin, true, &[]);
        assert!(Require::SignedIn.met_by(&agent));
        assert!(!Require::Deny.met_by(&primary));
        assert!(!Require::Kind(MemberKind::Admin).met_by(&agent));
        assert!(Require::Permission(Permission::Audit).met_by(&sub));
        assert!(!Require::Permission(Permission::Security).met_by(&sub));
        assert!(Require::Permission(Permission::Security).met_by(&primary));
    }

    #[test]
    fn hosts_lose_port_case_and_trailing_dot() {
        assert_eq!(
            host_of("Desk.Example.COM:8443").as_deref(),
            Some("desk.example.com")
        );
        assert_eq!(
            host_of("desk.example.com.").as_deref(),
            Some("desk.example.com")
        );
        assert_eq!(host_of("[::1]:80").as_deref(), Some("[::1]"));
        assert_eq!(host_of("127.0.0.1:80").as_deref(), Some("127.0.0.1"));
        for bad in ["", ":80", "a b", "a/b", "a@b", "[::1]x", "a:b"] {
            assert_eq!(host_of(bad), None, "{bad:?}");
        }
    }
}
