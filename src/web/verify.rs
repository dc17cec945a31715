//! Forward auth: the question a reverse proxy asks before every request to the app Deskward
//! guards, "may this request pass, and who is it?". `auth-request` answers nginx's
//! `auth_request`; `forward-auth` answers Traefik's `forwardAuth` and Caddy's `forward_auth`.
//!
//! The check is the same one every page and API call makes (`Service::authenticate`): the
//! session from memory, activity written at most once a minute, an ended session refused on
//! its very next check. What the proxy says about the original request (`X-Original-URL`,
//! `X-Forwarded-*`) is believed only from `--trusted-proxy` peers; from anyone else the answer
//! is as if there were no original request, so a forged header can at most lose its own `rd`.

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};

use crate::domain::member::{MemberKind, Permission};
use crate::domain::policy::Actor;
use crate::service::ServiceError;

use super::error::{ApiError, ErrorBody};
use super::verdict::{Style, check, granted, sign_in_needed};
use super::{AppState, access};

/// `GET {prefix}/api/v1/verify/auth-request`: 200 with the identity headers, or 401 whose
/// `Location` is the absolute sign-in URL (nginx turns it into a redirect), or 403.
#[utoipa::path(get, path = "/verify/auth-request", tag = "forward auth",
    operation_id = "verify_auth_request",
    security((), ("session" = [])),
    params(("require" = Option<Requirement>, Query, description = "`agent`, `admin` (that role exactly) or a permission; without it, the access rules of `serve --access-rules` decide")),
    responses(
        (status = 200, description = "A live session; `Remote-*` headers name the person: \
            `Remote-Id` is the person (linked agent and administrator accounts share \
            `Remote-User`, the e-mail)",
            headers(("Remote-User" = String), ("Remote-Email" = String), ("Remote-Name" = String),
                    ("Remote-Id" = String), ("Remote-Groups" = String),
                    ("Remote-Assertion" = String, description = "The same identity as a JWT signed with EdDSA (Ed25519), `kid` in its header, checked against `{prefix}/.well-known/jwks.json`: `iss` the public URL (`--public-url`), `aud` the origin of the original request, `sub` the person's id, `email`, `name`, `groups` (an array), `sid` (the session), `iat`, `exp` (60 s later)"))),
        (status = 401, description = "No live session; `Location` holds the sign-in URL", body = ErrorBody,
            headers(("Location" = String))),
        (status = 403, description = "`forbidden`: the person lacks `require` (or, without \
            `require=`, what the access rules ask of the original request: a role, a permission, \
            an office network; or `deny`, or an original URL that cannot be read safely). When \
            the original request's `Accept` names `text/html` the body is instead the refused \
            page (HTML): who is signed in, what the page needs, how to switch accounts", body = ErrorBody),
        (status = 422, description = "`invalid_input`: an unknown `require`", body = ErrorBody),
    ))]
pub async fn auth_request(State(state): State<AppState>, req: Request) -> Response {
    verify(&state, &req.into_parts().0, Style::AuthRequest).await
}

/// `GET {prefix}/api/v1/verify/forward-auth`: 200 with the identity headers; without a
/// session, 302 to sign-in for a page (GET or HEAD asking for HTML), else 401 JSON; or 403.
#[utoipa::path(get, path = "/verify/forward-auth", tag = "forward auth",
    operation_id = "verify_forward_auth",
    security((), ("session" = [])),
    params(("require" = Option<Requirement>, Query, description = "`agent`, `admin` (that role exactly) or a permission; without it, the access rules of `serve --access-rules` decide")),
    responses(
        (status = 200, description = "A live session; `Remote-*` headers name the person: \
            `Remote-Id` is the person (linked agent and administrator accounts share \
            `Remote-User`, the e-mail); `Cookie` is the request's cookies without Deskward's, \
            for a proxy that replaces the app's `Cookie` header with it (Traefik)",
            headers(("Remote-User" = String), ("Remote-Email" = String), ("Remote-Name" = String),
                    ("Remote-Id" = String), ("Remote-Groups" = String), ("Cookie" = String),
                    ("Remote-Assertion" = String, description = "The same identity as a JWT signed with EdDSA (Ed25519), `kid` in its header, checked against `{prefix}/.well-known/jwks.json`: `iss` the public URL (`--public-url`), `aud` the origin of the original request, `sub` the person's id, `email`, `name`, `groups` (an array), `sid` (the session), `iat`, `exp` (60 s later)"))),
        (status = 302, description = "No live session, for a page: to the sign-in URL",
            headers(("Location" = String))),
        (status = 401, description = "`unauthenticated`", body = ErrorBody),
        (status = 403, description = "`forbidden`: the person lacks `require` (or, without \
            `require=`, what the access rules ask of the original request: a role, a permission, \
            an office network; or `deny`, or an original URL that cannot be read safely). When \
            the original request's `Accept` names `text/html` the body is instead the refused \
            page (HTML): who is signed in, what the page needs, how to switch accounts", body = ErrorBody),
        (status = 422, description = "`invalid_input`: an unknown `require`", body = ErrorBody),
    ))]
pub async fn forward_auth(State(state): State<AppState>, req: Request) -> Response {
    verify(&state, &req.into_parts().0, Style::ForwardAuth).await
}

async fn verify(state: &AppState, parts: &Parts, style: Style) -> Response {
    let required = match Requirement::parse_query(parts.uri.query()) {
        Ok(r) => r,
        Err(message) => return ApiError::invalid(message).into_response(),
    };
    // `require=` in the query is the whole question; without it the access rules decide.
    if required.is_empty()
        && let Some(rules) = &state.cfg.access_rules
    {
        return access::verify(state, parts, style, &rules.current()).await;
    }
    match check(state, parts).await {
        Ok(p) => match required.iter().find(|r| !r.met_by(&p.actor)) {
            None => granted(state, parts, style, &p).await,
            // A page load gets the refused page, as under the access rules; a script the JSON.
            Some(r) if access::wants_html(parts) => {
                access::refuse_needing(state, parts, style, &p, r.as_rule())
            }
            Some(r) => ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("this page needs {}", r.describe()),
            )
            .into_response(),
        },
        Err(ServiceError::Unauthenticated(_)) => sign_in_needed(state, parts, style),
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// What a `require=` asks of the person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Requirement {
    /// That role exactly.
    Kind(MemberKind),
    /// An administrator holding it (the primary administrator holds every one).
    Permission(Permission),
}

impl Requirement {
    /// The same requirement as an access rule's, for the refused page.
    fn as_rule(&self) -> crate::domain::access::Require {
        use crate::domain::access::Require;
        match self {
            Requirement::Kind(k) => Require::Kind(*k),
            Requirement::Permission(p) => Require::Permission(*p),
        }
    }

    /// Every `require=` of the query (all must hold); an unknown value is a configuration
    /// mistake, refused so that it never lets anyone through.
    fn parse_query(query: Option<&str>) -> Result<Vec<Requirement>, String> {
        let Some(q) = query else {
            return Ok(Vec::new());
        };
        form_urlencoded::parse(q.as_bytes())
            .filter(|(k, _)| k == "require")
            .map(|(_, v)| match v.as_ref() {
                "agent" => Ok(Requirement::Kind(MemberKind::Agent)),
                "admin" => Ok(Requirement::Kind(MemberKind::Admin)),
                other => other
                    .parse::<Permission>()
                    .map(Requirement::Permission)
                    .map_err(|_| {
                        format!(
                            "require: unknown value \"{other}\" (use agent, admin, team.agents, \
                         team.admins, security or audit)"
                        )
                    }),
            })
            .collect()
    }

    fn met_by(self, a: &Actor) -> bool {
        match self {
            Requirement::Kind(k) => a.kind == k,
            Requirement::Permission(p) => a.has(p),
        }
    }

    /// Every value `parse_query` takes, as written in the query.
    fn values() -> impl Iterator<Item = &'static str> {
        ["agent", "admin"]
            .into_iter()
            .chain(Permission::ALL.into_iter().map(Permission::as_str))
    }

    fn describe(self) -> String {
        match self {
            Requirement::Kind(MemberKind::Agent) => "an agent account".to_string(),
            Requirement::Kind(MemberKind::Admin) => "an administrator account".to_string(),
            // In words as the pages name it: a person may read it where the proxy shows it.
            Requirement::Permission(p) => format!("the “{}” permission", p.label()),
        }
    }
}

/// Described from the values it reads, under the name of the query parameter.
impl utoipa::PartialSchema for Requirement {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some("What a verify endpoint may require of the person."))
            .enum_values(Some(Requirement::values()))
            .into()
    }
}

impl utoipa::ToSchema for Requirement {
    fn name() -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("Require")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::member::Permissions;

    fn actor(kind: MemberKind, primary: bool, perms: &[Permission]) -> Actor {
        Actor {
            account_id: "ac".into(),
            member_id: "m".into(),
            kind,
            primary,
            permissions: Permissions::new(perms.to_vec()),
            ip: crate::domain::ClientIp::from_recorded("127.0.0.1"),
            session_id: None,
        }
    }

    #[test]
    fn requirements_are_parsed_and_unknown_ones_refused() {
        assert_eq!(Requirement::parse_query(None).unwrap(), vec![]);
        assert_eq!(Requirement::parse_query(Some("x=1")).unwrap(), vec![]);
        assert_eq!(
            Requirement::parse_query(Some("require=admin&require=audit")).unwrap(),
            vec![
                Requirement::Kind(MemberKind::Admin),
                Requirement::Permission(Permission::Audit)
            ]
        );
        let e = Requirement::parse_query(Some("require=root")).unwrap_err();
        assert!(e.contains("\"root\""), "{e}");
        assert!(Requirement::parse_query(Some("require=")).is_err());
    }

    #[test]
    fn requirements_follow_roles_and_permissions() {
        let agent = actor(MemberKind::Agent, false, &[]);
        let sub = actor(MemberKind::Admin, false, &[Permission::Audit]);
        let primary = actor(MemberKind::Admin, true, &[]);
        let is = |r: Requirement, a: &Actor| r.met_by(a);
        assert!(is(Requirement::Kind(MemberKind::Agent), &agent));
        assert!(!is(Requirement::Kind(MemberKind::Agent), &sub));
        assert!(!is(Requirement::Kind(MemberKind::Admin), &agent));
        assert!(is(Requirement::Kind(MemberKind::Admin), &primary));
        assert!(is(Requirement::Permission(Permission::Audit), &sub));
        assert!(!is(Requirement::Permission(Permission::Security), &sub));
        assert!(is(Requirement::Permission(Permission::Security), &primary));
        assert!(!is(Requirement::Permission(Permission::Audit), &agent));
    }

    #[test]
    fn groups_name_the_role_and_what_it_holds() {
        use crate::web::verdict::groups;
        let groups = |a: &Actor| groups(a).join(",");
        assert_eq!(groups(&actor(MemberKind::Agent, false, &[])), "agent");
        assert_eq!(
            groups(&actor(
                MemberKind::Admin,
                false,
                &[Permission::Audit, Permission::TeamAgents]
            )),
            "admin,team.agents,audit"
        );
        assert_eq!(
            groups(&actor(MemberKind::Admin, true, &[])),
            "admin,primary,team.agents,team.admins,security,audit"
        );
    }
}
