//! First-run setup and `deskward account create`: an account and its primary administrator,
//! made together or not at all.

use crate::domain::audit::AuditKind;
use crate::domain::email::Email;
use crate::domain::member::{MemberKind, Permissions};
use crate::domain::name::{check_name, check_slug, slugify};
use crate::domain::password;
use crate::store::{Account, Member, NewAccount, NewMember, StoreError};

use super::{Service, ServiceError, ServiceResult, new_id, passwords};

/// Input of first-run setup and `deskward account create`.
pub struct NewAccountRequest {
    pub name: String,
    pub slug: Option<String>,
    pub admin_name: String,
    pub admin_email: String,
    pub admin_password: String,
}

impl Service {
    /// Creates an account and its primary administrator. With `only_if_empty` (first-run
    /// setup) it fails when any account already exists.
    pub async fn create_account(
        &self,
        req: NewAccountRequest,
        only_if_empty: bool,
    ) -> ServiceResult<(Account, Member)> {
        let name = check_name("name", &req.name)?;
        let admin_name = check_name("admin_name", &req.admin_name)?;
        let email = Email::parse(&req.admin_email)
            .map_err(|e| ServiceError::invalid("admin_email", e.to_string()))?;
        password::check_new_password(&req.admin_password)
            .map_err(|e| ServiceError::invalid("password", e.to_string()))?;
        let slug = match req.slug {
            Some(s) => check_slug(s.trim())?,
            None => slugify(&name),
        };
        let hash = passwords::hash(req.admin_password).await?;
        let now = self.now();
        let account = NewAccount {
            id: new_id("ac"),
            slug,
            name,
            created_at: now,
        };
        let admin = NewMember {
            id: new_id("ad"),
            account_id: account.id.clone(),
            kind: MemberKind::Admin,
            name: admin_name,
            email: email.as_str().to_string(),
            email_norm: email.normalized().to_string(),
            password_hash: hash,
            primary: true,
            permissions: Permissions::all(),
            created_at: now,
        };
        let account = match self
            .store
            .create_account(&account, &admin, only_if_empty)
            .await
        {
            Err(StoreError::Conflict { field: "account" }) => {
                return Err(ServiceError::Forbidden(
                    "setup has already been completed".to_string(),
                ));
            }
            other => other?,
        };
        let member = self.store.member(&account.id, &admin.id).await?;
        self.audit(
            &account.id,
            AuditKind::AccountCreated,
            Some(&member.id),
            None,
            None,
            format!(
                "account {} created with primary administrator {}",
                account.slug, member.email
            ),
        )
        .await;
        Ok((account, member))
    }

    /// Signs in the primary administrator who just made the account, in the browser that made
    /// it: that browser gets their device pass first, so no sign-in alert tells them about
    /// their own first sign-in. Otherwise as [`Service::login`].
    pub async fn login_after_setup(
        &self,
        mut req: super::signin::LoginRequest,
        admin: &Member,
    ) -> ServiceResult<super::signin::SignInStep> {
        let norm = crate::domain::email::normalize(&admin.email);
        req.device_pass = Some(
            self.device_pass(&admin.account_id, &admin.id, &norm)
                .await?,
        );
        self.login(req).await
    }

    /// Whether first-run setup is still open.
    pub async fn needs_setup(&self) -> ServiceResult<bool> {
        Ok(self.store.account_count().await? == 0)
    }
}
