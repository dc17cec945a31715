//! People (agents and administrators): the rows, the linked account derived from the e-mail,
//! the Team list with its filters, edits and presence status.

use async_trait::async_trait;

use super::StoreResult;
use crate::domain::member::{AgentStatus, MemberKind, Permissions};
use crate::domain::time::Millis;

/// The other half of a linked pair (same e-mail, other kind).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedRef {
    pub kind: MemberKind,
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub id: String,
    pub account_id: String,
    pub kind: MemberKind,
    pub name: String,
    pub email: String,
    pub primary: bool,
    pub permissions: Permissions,
    /// Effective presence, what routing and the Team page show.
    pub status: AgentStatus,
    /// The agent's own last choice, restored when a tab connects again.
    pub status_choice: AgentStatus,
    pub disabled: bool,
    /// Added without a password and has not yet set one with the invitation link: no
    /// password opens the account until then.
    pub invited: bool,
    pub created_at: Millis,
    pub linked: Option<LinkedRef>,
    /// Their own IANA time zone, when they set one (`domain::zone::Zone` checked it).
    pub time_zone: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NewMember {
    pub id: String,
    pub account_id: String,
    pub kind: MemberKind,
    pub name: String,
    pub email: String,
    pub email_norm: String,
    pub password_hash: String,
    pub primary: bool,
    pub permissions: Permissions,
    pub created_at: Millis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionFilter {
    Active,
    None,
    /// Active, and outside the office networks (`network=outside`).
    OutsideOffice,
}

/// A page of the Team list. `active_after` is the last-activity cutoff that makes a
/// not-yet-swept idle session count as inactive, so lists are exact between sweeps.
#[derive(Debug, Clone)]
pub struct MemberQuery {
    pub kind: MemberKind,
    pub session: Option<SessionFilter>,
    pub status: Option<AgentStatus>,
    pub search: Option<String>,
    pub active_after: Millis,
    pub offset: i64,
    pub limit: i64,
}

#[derive(Debug, Clone, Default)]
pub struct MemberPatch {
    pub name: Option<String>,
    pub email: Option<(String, String)>,
    pub password_hash: Option<String>,
    pub disabled: Option<bool>,
    pub permissions: Option<Permissions>,
}

/// A person's credentials, read only by sign-in.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub member: Member,
    pub password_hash: String,
}

/// Which holders of an address refuse a write that puts someone on it or sets their password:
/// `true` for a holder who may not share it. Checked inside the writing transaction, with the
/// address locked, so that no concurrent write can put an administrator on the address between
/// the check and the write.
pub type AddressRule<'a> = &'a (dyn Fn(&Member) -> bool + Send + Sync);

/// People of an account.
#[async_trait]
pub trait PeopleStore: Send + Sync {
    /// Adds a person. Like every write of an address, it holds the address's lock.
    async fn insert_member(&self, m: &NewMember) -> StoreResult<Member> {
        self.insert_member_checked(m, &|_| false).await
    }
    /// Adds a person unless someone already on the address is refused by `refuses`
    /// ([`StoreError::AddressRefused`]), in one transaction with the address locked.
    async fn insert_member_checked(
        &self,
        m: &NewMember,
        refuses: AddressRule<'_>,
    ) -> StoreResult<Member>;
    async fn member(&self, account_id: &str, id: &str) -> StoreResult<Member>;
    /// The people with these ids in the account, by id; unknown ids are skipped.
    async fn members(&self, account_id: &str, ids: &[String]) -> StoreResult<Vec<Member>>;
    async fn credentials_by_email(
        &self,
        account_id: &str,
        email_norm: &str,
    ) -> StoreResult<Vec<Credentials>>;
    async fn password_hash(&self, account_id: &str, id: &str) -> StoreResult<String>;
    async fn list_members(
        &self,
        account_id: &str,
        q: &MemberQuery,
    ) -> StoreResult<(Vec<Member>, i64)>;
    async fn update_member(
        &self,
        account_id: &str,
        id: &str,
        patch: &MemberPatch,
    ) -> StoreResult<Member> {
        self.update_member_checked(account_id, id, patch, &|_| false)
            .await
    }
    /// Changes a person. A new address, or a new password on the one they have, is refused
    /// ([`StoreError::AddressRefused`]) when someone else on that address is refused by
    /// `refuses`, checked in the same transaction with the address locked.
    async fn update_member_checked(
        &self,
        account_id: &str,
        id: &str,
        patch: &MemberPatch,
        refuses: AddressRule<'_>,
    ) -> StoreResult<Member>;
    /// Sets an agent's effective status and, when given, their own choice.
    async fn set_status(
        &self,
        account_id: &str,
        id: &str,
        status: AgentStatus,
        choice: Option<AgentStatus>,
    ) -> StoreResult<Member>;
    /// Sets (or, with None, unsets) a person's own time zone, a name already checked.
    async fn set_time_zone(
        &self,
        account_id: &str,
        id: &str,
        time_zone: Option<&str>,
    ) -> StoreResult<Member>;
}
