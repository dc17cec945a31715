//! People of an account: agents and administrators, their permissions and status.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MemberKind {
    Agent,
    Admin,
}

impl MemberKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MemberKind::Agent => "agent",
            MemberKind::Admin => "admin",
        }
    }

    /// The other side of a linked pair.
    pub fn other(self) -> Self {
        match self {
            MemberKind::Agent => MemberKind::Admin,
            MemberKind::Admin => MemberKind::Agent,
        }
    }

    /// The Team subsection's path segment for this kind.
    pub fn plural(self) -> &'static str {
        match self {
            MemberKind::Agent => "agents",
            MemberKind::Admin => "admins",
        }
    }
}

impl FromStr for MemberKind {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "agent" => Ok(MemberKind::Agent),
            "admin" => Ok(MemberKind::Admin),
            _ => Err(()),
        }
    }
}

impl fmt::Display for MemberKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A section a sub-administrator may be allowed to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Permission {
    TeamAgents,
    TeamAdmins,
    Security,
    Audit,
}

impl Permission {
    pub const ALL: [Permission; 4] = [
        Permission::TeamAgents,
        Permission::TeamAdmins,
        Permission::Security,
        Permission::Audit,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::TeamAgents => "team.agents",
            Permission::TeamAdmins => "team.admins",
            Permission::Security => "security",
            Permission::Audit => "audit",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Permission::TeamAgents => "Team → Agents",
            Permission::TeamAdmins => "Team → Administrators",
            Permission::Security => "Security settings",
            Permission::Audit => "Audit log",
        }
    }
}

impl FromStr for Permission {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Permission::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| format!("unknown permission \"{s}\""))
    }
}

/// A set of permissions, stored as a comma-separated list so both databases keep it in one
/// text column.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Permissions(Vec<Permission>);

impl Permissions {
    pub const EMPTY: Permissions = Permissions(Vec::new());

    pub fn new(mut list: Vec<Permission>) -> Self {
        list.sort();
        list.dedup();
        Self(list)
    }

    pub fn all() -> Self {
        Self(Permission::ALL.to_vec())
    }

    pub fn contains(&self, p: Permission) -> bool {
        self.0.contains(&p)
    }

    pub fn iter(&self) -> impl Iterator<Item = Permission> + '_ {
        self.0.iter().copied()
    }

    pub fn is_subset_of(&self, other: &Permissions) -> bool {
        self.0.iter().all(|p| other.contains(*p))
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.0.iter().map(|p| p.as_str()).collect()
    }

    /// Parses names as given by a client; the error names the first unknown one.
    pub fn parse_names<S: AsRef<str>>(names: &[S]) -> Result<Self, String> {
        names
            .iter()
            .map(|n| n.as_ref().trim().parse::<Permission>())
            .collect::<Result<Vec<_>, _>>()
            .map(Self::new)
    }

    pub fn to_db(&self) -> String {
        self.names().join(",")
    }

    /// Reads the stored form; unknown names (from a newer version) are ignored, not fatal.
    pub fn from_db(text: &str) -> Self {
        Self::new(
            text.split(',')
                .filter_map(|n| n.trim().parse::<Permission>().ok())
                .collect(),
        )
    }
}

/// An agent's Online/Offline status. It is presence, not the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AgentStatus {
    Online,
    Offline,
}

impl AgentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AgentStatus::Online => "online",
            AgentStatus::Offline => "offline",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            AgentStatus::Online => "Online",
            AgentStatus::Offline => "Offline",
        }
    }
}

impl FromStr for AgentStatus {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "online" => Ok(AgentStatus::Online),
            "offline" => Ok(AgentStatus::Offline),
            _ => Err(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_round_trip_and_reject_unknown() {
        let p = Permissions::parse_names(&["security", "team.agents", "security"]).unwrap();
        assert_eq!(p.to_db(), "team.agents,security");
        assert_eq!(Permissions::from_db(&p.to_db()), p);
        assert_eq!(Permissions::from_db(""), Permissions::default());
        assert_eq!(
            Permissions::parse_names(&["team.agents", "root"]).unwrap_err(),
            "unknown permission \"root\""
        );
        assert!(p.is_subset_of(&Permissions::all()));
        assert!(!Permissions::all().is_subset_of(&p));
    }

    #[test]
    fn kinds_pair_up() {
        assert_eq!(MemberKind::Agent.other(), MemberKind::Admin);
        assert_eq!("admin".parse::<MemberKind>(), Ok(MemberKind::Admin));
        assert!("root".parse::<MemberKind>().is_err());
    }
}
