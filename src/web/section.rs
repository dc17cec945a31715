//! The two Team sections as types: each handler is written once and routed twice (`…/agents…`
//! with [`Agents`], `…/admins…` with [`Admins`]), so the sections cannot drift apart.

use crate::domain::member::MemberKind;

pub trait Section: Send + Sync + 'static {
    const KIND: MemberKind;
}

pub struct Agents;
pub struct Admins;

impl Section for Agents {
    const KIND: MemberKind = MemberKind::Agent;
}

impl Section for Admins {
    const KIND: MemberKind = MemberKind::Admin;
}
