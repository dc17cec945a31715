//! Who may do what: the permission rules of the Team, Security and Audit sections.

use super::member::{MemberKind, Permission, Permissions};

/// The signed-in person acting, as the rules need to see them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub account_id: String,
    pub member_id: String,
    pub kind: MemberKind,
    pub primary: bool,
    pub permissions: Permissions,
}

/// The person acted upon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target<'a> {
    pub member_id: &'a str,
    pub kind: MemberKind,
    pub primary: bool,
}

impl Actor {
    pub fn is_admin(&self) -> bool {
        self.kind == MemberKind::Admin
    }

    /// The primary administrator has every permission; a sub-administrator only those granted;
    /// agents none.
    pub fn has(&self, p: Permission) -> bool {
        match self.kind {
            MemberKind::Agent => false,
            MemberKind::Admin => self.primary || self.permissions.contains(p),
        }
    }

    /// The permissions this actor effectively holds (all of them for the primary administrator).
    pub fn effective_permissions(&self) -> Permissions {
        if self.kind == MemberKind::Admin && self.primary {
            Permissions::all()
        } else if self.kind == MemberKind::Admin {
            self.permissions.clone()
        } else {
            Permissions::default()
        }
    }

    /// May see the Team subsection of this kind, session data included.
    pub fn can_view(&self, kind: MemberKind) -> bool {
        self.has(section_permission(kind))
    }

    /// May end the sessions of, disable or edit this person. Nobody but the primary
    /// administrator can touch the primary administrator.
    pub fn can_manage(&self, target: Target<'_>) -> bool {
        if !self.can_view(target.kind) {
            return false;
        }
        if target.primary {
            return self.primary && self.kind == MemberKind::Admin;
        }
        true
    }

    /// May create people of this kind. Sub-administrators can only grant permissions they hold.
    pub fn can_grant(&self, requested: &Permissions) -> bool {
        requested.is_subset_of(&self.effective_permissions())
    }

    pub fn can_change_security(&self) -> bool {
        self.has(Permission::Security)
    }

    pub fn can_read_audit(&self) -> bool {
        self.has(Permission::Audit)
    }
}

/// The permission guarding the Team subsection of a kind.
pub fn section_permission(kind: MemberKind) -> Permission {
    match kind {
        MemberKind::Agent => Permission::TeamAgents,
        MemberKind::Admin => Permission::TeamAdmins,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admin(primary: bool, perms: &[Permission]) -> Actor {
        Actor {
            account_id: "ac".into(),
            member_id: "me".into(),
            kind: MemberKind::Admin,
            primary,
            permissions: Permissions::new(perms.to_vec()),
        }
    }

    const PRIMARY: Target<'static> = Target {
        member_id: "p",
        kind: MemberKind::Admin,
        primary: true,
    };
    const SUB: Target<'static> = Target {
        member_id: "s",
        kind: MemberKind::Admin,
        primary: false,
    };
    const AGENT: Target<'static> = Target {
        member_id: "a",
        kind: MemberKind::Agent,
        primary: false,
    };

    #[test]
    fn primary_can_do_everything() {
        let p = admin(true, &[]);
        assert!(p.can_manage(PRIMARY) && p.can_manage(SUB) && p.can_manage(AGENT));
        assert!(p.can_change_security() && p.can_read_audit());
        assert!(p.can_grant(&Permissions::all()));
    }

    #[test]
    fn sub_admins_need_the_section_permission() {
        let agents_only = admin(false, &[Permission::TeamAgents]);
        assert!(agents_only.can_manage(AGENT));
        assert!(!agents_only.can_view(MemberKind::Admin));
        assert!(!agents_only.can_manage(SUB));
        assert!(!agents_only.can_change_security());
        let none = admin(false, &[]);
        assert!(!none.can_view(MemberKind::Agent));
    }

    #[test]
    fn no_sub_admin_can_touch_the_primary() {
        let all = admin(false, &Permission::ALL);
        assert!(all.can_view(MemberKind::Admin));
        assert!(all.can_manage(SUB));
        assert!(!all.can_manage(PRIMARY));
    }

    #[test]
    fn sub_admins_grant_only_what_they_hold() {
        let s = admin(false, &[Permission::TeamAgents, Permission::TeamAdmins]);
        assert!(s.can_grant(&Permissions::new(vec![Permission::TeamAgents])));
        assert!(!s.can_grant(&Permissions::new(vec![Permission::Security])));
    }

    #[test]
    fn agents_reach_nothing() {
        let a = Actor {
            account_id: "ac".into(),
            member_id: "a".into(),
            kind: MemberKind::Agent,
            primary: false,
            permissions: Permissions::all(),
        };
        assert!(!a.can_view(MemberKind::Agent) && !a.can_manage(AGENT));
        assert!(!a.can_change_security() && !a.can_read_audit());
    }
}
