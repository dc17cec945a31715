//! Who may do what: the permission rules of the Team, Security and Audit sections, and who may
//! hear about whom.

use super::ClientIp;
use super::member::{MemberKind, Permission, Permissions};

/// Who is asking: the person acting, as the rules see them, and where they act from. Every use
/// case of the service takes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub account_id: String,
    pub member_id: String,
    pub kind: MemberKind,
    pub primary: bool,
    pub permissions: Permissions,
    /// The client's address, as recorded in the audit log.
    pub ip: ClientIp,
    /// The session the request came through; `None` when acting outside one (the command line,
    /// fixtures).
    pub session_id: Option<String>,
}

/// The person acted upon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target<'a> {
    pub kind: MemberKind,
    pub primary: bool,
    pub permissions: &'a Permissions,
}

impl Actor {
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
        match self.kind {
            MemberKind::Admin if self.primary => Permissions::all(),
            MemberKind::Admin => self.permissions.clone(),
            MemberKind::Agent => Permissions::default(),
        }
    }

    /// May see the Team subsection of this kind, session data included.
    pub fn can_view(&self, kind: MemberKind) -> bool {
        self.has(section_permission(kind))
    }

    /// May end this person's sessions. Nobody but the primary administrator can touch the
    /// primary administrator.
    pub fn can_manage(&self, target: Target<'_>) -> bool {
        if !self.can_view(target.kind) {
            return false;
        }
        if target.primary {
            return self.primary && self.kind == MemberKind::Admin;
        }
        true
    }

    /// May change this person's password, e-mail or permissions, or disable them: as
    /// [`Actor::can_manage`], and for an administrator the actor must hold every permission the
    /// target holds, so that nobody gains more than they hold by becoming someone else.
    pub fn can_administer(&self, target: Target<'_>) -> bool {
        self.can_manage(target)
            && (target.kind == MemberKind::Agent
                || target
                    .permissions
                    .is_subset_of(&self.effective_permissions()))
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

    /// May hear, as it happens, that this person's sessions or record changed: the viewers of
    /// their Team section, and the person themselves.
    pub fn follows(&self, member_id: &str, kind: MemberKind) -> bool {
        member_id == self.member_id || self.can_view(kind)
    }

    /// May see who the account linked to `member_id`'s is (name and id) rather than only that
    /// one exists: the viewers of the linked person's section, and the person themselves (both
    /// accounts are theirs).
    pub fn sees_linked(&self, member_id: &str, linked_kind: MemberKind) -> bool {
        member_id == self.member_id || self.can_view(linked_kind)
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
            ip: ClientIp::from_recorded("192.0.2.1"),
            session_id: None,
        }
    }

    static NONE: Permissions = Permissions::EMPTY;

    fn target(kind: MemberKind, primary: bool, permissions: &Permissions) -> Target<'_> {
        Target {
            kind,
            primary,
            permissions,
        }
    }

    fn primary_target() -> Target<'static> {
        target(MemberKind::Admin, true, &NONE)
    }

    fn sub_target() -> Target<'static> {
        target(MemberKind::Admin, false, &NONE)
    }

    fn agent_target() -> Target<'static> {
        target(MemberKind::Agent, false, &NONE)
    }

    #[test]
    fn primary_can_do_everything() {
        let p = admin(true, &[]);
        let all = Permissions::all();
        assert!(p.can_manage(primary_target()) && p.can_manage(sub_target()));
        assert!(p.can_manage(agent_target()));
        assert!(p.can_administer(target(MemberKind::Admin, false, &all)));
        assert!(p.can_change_security() && p.can_read_audit());
        assert!(p.can_grant(&Permissions::all()));
    }

    #[test]
    fn sub_admins_need_the_section_permission() {
        let agents_only = admin(false, &[Permission::TeamAgents]);
        assert!(agents_only.can_manage(agent_target()));
        assert!(!agents_only.can_view(MemberKind::Admin));
        assert!(!agents_only.can_manage(sub_target()));
        assert!(!agents_only.can_change_security());
        let none = admin(false, &[]);
        assert!(!none.can_view(MemberKind::Agent));
    }

    #[test]
    fn no_sub_admin_can_touch_the_primary() {
        let all = admin(false, &Permission::ALL);
        assert!(all.can_view(MemberKind::Admin));
        assert!(all.can_manage(sub_target()));
        assert!(!all.can_manage(primary_target()));
        assert!(!all.can_administer(primary_target()));
    }

    #[test]
    fn nobody_gains_more_than_they_hold() {
        let admins_only = admin(false, &[Permission::TeamAdmins]);
        let everything = Permissions::all();
        let same = Permissions::new(vec![Permission::TeamAdmins]);
        let stronger = target(MemberKind::Admin, false, &everything);
        // Ending a stronger sub-administrator's sessions is allowed; becoming them is not.
        assert!(admins_only.can_manage(stronger));
        assert!(!admins_only.can_administer(stronger));
        assert!(admins_only.can_administer(target(MemberKind::Admin, false, &same)));
        assert!(admins_only.can_administer(sub_target()));
        // Agents hold no permissions: their section's permission is enough.
        let agents_only = admin(false, &[Permission::TeamAgents]);
        assert!(agents_only.can_administer(agent_target()));
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
            kind: MemberKind::Agent,
            permissions: Permissions::all(),
            ..admin(false, &[])
        };
        assert!(!a.can_view(MemberKind::Agent) && !a.can_manage(agent_target()));
        assert!(!a.can_change_security() && !a.can_read_audit());
    }

    #[test]
    fn who_follows_whom() {
        let agents_only = admin(false, &[Permission::TeamAgents]);
        assert!(agents_only.follows("someone", MemberKind::Agent));
        assert!(!agents_only.follows("someone", MemberKind::Admin));
        assert!(agents_only.follows("me", MemberKind::Admin));
        assert!(!agents_only.sees_linked("agent", MemberKind::Admin));
        assert!(agents_only.sees_linked("admin", MemberKind::Agent));
        assert!(agents_only.sees_linked("me", MemberKind::Agent));
    }
}
