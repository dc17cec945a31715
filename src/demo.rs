//! `deskward demo`: a fresh database seeded with a realistic team, so a newcomer sees every
//! state of the Team pages in a minute.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use crate::clock::SystemClock;
use crate::domain::ClientIp;
use crate::domain::member::{AgentStatus, MemberKind};
use crate::events::EventBus;
use crate::server::{self, ServerConfig};
use crate::service::{LoginRequest, NewAccountRequest, NewPerson, Service};
use crate::store;

pub const DEMO_PASSWORD: &str = "demo-password-2026";
pub const DEMO_ADMIN: &str = "olivia@northwind.example";

const AGENT_NAMES: [&str; 48] = [
    "Aaliyah Brooks",
    "Ben Carter",
    "Chloé Dubois",
    "Dmitri Volkov",
    "Elena García",
    "Farah Haddad",
    "Gabriel Silva",
    "Hannah Schmidt",
    "Ibrahim Khan",
    "Jade Nguyen",
    "Kenji Tanaka",
    "Lena Fischer",
    "Mateo Rossi",
    "Nadia Petrova",
    "Oscar Lindqvist",
    "Priya Sharma",
    "Quentin Moreau",
    "Rosa Martínez",
    "Samuel Okafor",
    "Tara Quinn",
    "Uma Patel",
    "Victor Hugo Lima",
    "Wen Li",
    "Ximena Cruz",
    "Yusuf Demir",
    "Zoe Taylor",
    "Amir Rahimi",
    "Beatriz Costa",
    "Caleb Johnson",
    "Daria Nowak",
    "Emil Jensen",
    "Fatima Zahra",
    "George Evans",
    "Hiro Sato",
    "Isla MacLeod",
    "Jonas Weber",
    "Kaya Yilmaz",
    "Liam O'Brien",
    "Maya Cohen",
    "Noah Williams",
    "Olga Ivanova",
    "Pablo Ruiz",
    "Rin Kobayashi",
    "Sofia Esposito",
    "Tomás Herrera",
    "Ursula Berg",
    "Valentina Greco",
    "William Chen",
];

const BROWSERS: [(&str, [u8; 4]); 6] = [
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
        [203, 0, 113, 24],
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
        [198, 51, 100, 7],
    ),
    (
        "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
        [192, 0, 2, 61],
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
        [203, 0, 113, 80],
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
        [100, 64, 12, 9],
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
        [198, 51, 100, 133],
    ),
];

/// Where the demo's own actions (outside any browser) come from.
const LOCALHOST: ClientIp = ClientIp(Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));

fn email_of(name: &str) -> String {
    let local: String = name
        .to_lowercase()
        .chars()
        .map(|c| match c {
            'é' | 'è' => 'e',
            'á' => 'a',
            'í' => 'i',
            ' ' => '.',
            c if c.is_ascii_alphanumeric() => c,
            _ => '-',
        })
        .collect();
    format!("{local}@northwind.example")
}

/// Seeds the demo team into `svc`'s empty database.
pub async fn seed(svc: &Service, agents: usize) -> Result<(), String> {
    let err = |e: crate::service::ServiceError| e.to_string();
    let (account, primary) = svc
        .create_account(
            NewAccountRequest {
                name: "Northwind Support".into(),
                slug: Some("northwind".into()),
                admin_name: "Olivia Park".into(),
                admin_email: DEMO_ADMIN.into(),
                admin_password: DEMO_PASSWORD.into(),
            },
            true,
        )
        .await
        .map_err(err)?;
    let root = svc
        .actor_of(&account.id, &primary.id, LOCALHOST)
        .await
        .map_err(err)?;
    let add = |kind, name: &str, email: String, perms: &[&str]| NewPerson {
        kind,
        name: name.to_string(),
        email,
        password: Some(DEMO_PASSWORD.to_string()),
        permissions: perms.iter().map(|p| p.to_string()).collect(),
    };
    let subs = [
        ("Sam Agents-Only", vec!["team.agents"]),
        ("Tara Quinn", vec!["team.agents", "team.admins"]),
        ("Sid Security", vec!["security", "audit"]),
    ];
    for (name, perms) in &subs {
        svc.add_person(&root, add(MemberKind::Admin, name, email_of(name), perms))
            .await
            .map_err(err)?;
    }
    let login = |email: String, kind, i: usize| LoginRequest {
        account_id: account.id.clone(),
        email,
        password: DEMO_PASSWORD.to_string(),
        as_kind: Some(kind),
        ip: ClientIp::from(IpAddr::from(BROWSERS[i % BROWSERS.len()].1)),
        user_agent: BROWSERS[i % BROWSERS.len()].0.to_string(),
        device_pass: None,
    };
    // The primary administrator and Tara (a linked pair: she is an agent too) are signed in.
    svc.login(login(DEMO_ADMIN.into(), MemberKind::Admin, 1))
        .await
        .map_err(err)?;
    svc.login(login(email_of("Tara Quinn"), MemberKind::Admin, 0))
        .await
        .map_err(err)?;
    for (i, name) in AGENT_NAMES.iter().copied().take(agents).enumerate() {
        let v = svc
            .add_person(&root, add(MemberKind::Agent, name, email_of(name), &[]))
            .await
            .map_err(err)?;
        let agent = svc
            .actor_of(&account.id, &v.member.id, LOCALHOST)
            .await
            .map_err(err)?;
        match i % 5 {
            // Signed in from one browser, Online.
            0 | 1 => {
                svc.login(login(v.member.email.clone(), MemberKind::Agent, i))
                    .await
                    .map_err(err)?;
                svc.set_own_status(&agent, AgentStatus::Online)
                    .await
                    .map_err(err)?;
            }
            // Signed in from two browsers, gone Offline (tabs closed, session still active).
            2 => {
                svc.login(login(v.member.email.clone(), MemberKind::Agent, i))
                    .await
                    .map_err(err)?;
                svc.login(login(v.member.email.clone(), MemberKind::Agent, i + 3))
                    .await
                    .map_err(err)?;
            }
            // Was signed in; an administrator ended the session.
            3 => {
                svc.login(login(v.member.email.clone(), MemberKind::Agent, i))
                    .await
                    .map_err(err)?;
                svc.end_person_sessions(&root, MemberKind::Agent, &v.member.id)
                    .await
                    .map_err(err)?;
            }
            // Never signed in.
            _ => {}
        }
    }
    Ok(())
}

/// Replaces the demo database, seeds it and serves it (unless `seed_only`).
/// Seeds the demo data into `url` and serves it on `bind`. With `proxy` and nginx installed,
/// `bind` is nginx in front of a sample helpdesk that Deskward guards (`guarded::serve_demo`).
pub async fn run(
    url: &str,
    bind: SocketAddr,
    agents: usize,
    seed_only: bool,
    proxy: bool,
) -> Result<(), String> {
    if let Some(path) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        let path = path.split('?').next().unwrap_or(path);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{path}{suffix}"));
        }
    }
    let store = store::connect(url)
        .await
        .map_err(|e| format!("cannot open database {}: {e}", store::redact_url(url)))?;
    if store.account_count().await.map_err(|e| e.to_string())? > 0 {
        return Err(format!(
            "{} already holds data; the demo needs an empty database",
            store::redact_url(url)
        ));
    }
    let nginx = proxy
        .then(|| crate::guarded::find_program("nginx"))
        .flatten();
    let mut config = ServerConfig::default();
    if nginx.is_some() {
        config.web = crate::guarded::web_config();
    }
    // Links in e-mails point where people open the demo (nginx, when it is in front).
    config.mail.public_url =
        url::Url::parse(&format!("http://{bind}{}", config.web.path_prefix)).ok();
    let mail_dir = match &config.mail.transport {
        crate::service::mailer::Transport::Files(dir) => {
            std::path::absolute(dir).unwrap_or_else(|_| dir.clone())
        }
        crate::service::mailer::Transport::Smtp(_) => std::path::PathBuf::new(),
    };
    let svc = server::build(store, Arc::new(SystemClock), EventBus::new(), &config);
    seed(&svc, agents).await?;
    svc.housekeeping().await;
    println!("Demo data is ready: Northwind Support, {agents} agents, 4 administrators.");
    println!("Sign in as the primary administrator: {DEMO_ADMIN} / {DEMO_PASSWORD}");
    println!(
        "Sub-administrators (same password): sam.agents-only@northwind.example (Agents only),"
    );
    println!(
        "  tara.quinn@northwind.example (Agents and Administrators; also an agent: a linked account),"
    );
    println!("  sid.security@northwind.example (Security and Audit only).");
    println!("Agents: e.g. aaliyah.brooks@northwind.example, same password.");
    println!(
        "E-mails (password resets) are written as .eml files into {}",
        mail_dir.display()
    );
    if seed_only {
        return Ok(());
    }
    if let Some(nginx) = nginx {
        return crate::guarded::serve_demo(svc, config, bind, &nginx, DEMO_ADMIN).await;
    }
    if proxy {
        println!(
            "(With nginx installed, the demo also shows Deskward guarding a sample helpdesk; \
             see docs/reverse-proxy.md.)"
        );
    }
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .map_err(|e| format!("cannot listen on {bind}: {e}"))?;
    println!("Open http://{bind}/login");
    server::serve(svc, config, listener, server::shutdown_signal())
        .await
        .map_err(|e| format!("server error: {e}"))
}

/// Sizes of the large data set the benchmarks use.
#[derive(Debug, Clone, Copy)]
pub struct LargeSet {
    pub agents: usize,
    pub active_sessions: usize,
    pub ended_sessions: usize,
}

/// Seeds a large team straight through the store (one shared password hash, so it takes
/// seconds, not the hours 10,000 argon2 hashes would): an account "bench" with its primary
/// administrator, `agents` agents, `active_sessions` live and `ended_sessions` ended
/// sessions spread over them (signed out through `SessionStore::end_sessions`, the one ending
/// path, so each has its audit row like a real one). Deterministic for a given size.
pub async fn seed_large(
    store: &Arc<dyn store::Store>,
    set: LargeSet,
    now: i64,
) -> Result<(String, String), String> {
    use crate::domain::member::Permissions;
    use crate::domain::session::EndReason;
    use crate::store::{EndSessions, NewAccount, NewMember, NewSession, Which};
    let e = |e: store::StoreError| e.to_string();
    let hash = crate::service::passwords::hash(DEMO_PASSWORD.to_string())
        .await
        .map_err(|e| e.to_string())?;
    let account = NewAccount {
        id: "ac_bench".into(),
        slug: "bench".into(),
        name: "Bench Support".into(),
        created_at: now,
    };
    let admin = NewMember {
        id: "ad_bench_primary".into(),
        account_id: account.id.clone(),
        kind: MemberKind::Admin,
        name: "Bench Admin".into(),
        email: "admin@bench.example".into(),
        email_norm: "admin@bench.example".into(),
        password_hash: hash.clone(),
        primary: true,
        permissions: Permissions::all(),
        created_at: now,
    };
    store
        .create_account(&account, &admin, false)
        .await
        .map_err(e)?;
    let mut rng: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut ids = Vec::with_capacity(set.agents);
    for i in 0..set.agents {
        let first = AGENT_NAMES[i % AGENT_NAMES.len()];
        let name = format!("{first} {i:05}");
        let email = format!("agent{i:05}@bench.example");
        let m = NewMember {
            id: format!("ag_bench_{i:05}"),
            account_id: account.id.clone(),
            kind: MemberKind::Agent,
            name,
            email: email.clone(),
            email_norm: email,
            password_hash: hash.clone(),
            primary: false,
            permissions: Permissions::default(),
            created_at: now,
        };
        store.insert_member(&m).await.map_err(e)?;
        ids.push(m.id);
    }
    let total = set.active_sessions + set.ended_sessions;
    for k in 0..total {
        let member = &ids[(next() as usize) % ids.len().max(1)];
        let (ua, ip) = BROWSERS[k % BROWSERS.len()];
        let started = now - (next() % 3_600_000) as i64;
        let s = NewSession {
            id: format!("se_bench_{k:07}"),
            account_id: account.id.clone(),
            member_id: member.clone(),
            member_kind: MemberKind::Agent,
            token_hash: format!("{:064x}", k),
            csrf_token: format!("{:064x}", k + 1),
            started_at: started,
            ip: ClientIp::from(IpAddr::from(ip)),
            user_agent: ua.to_string(),
            device: crate::domain::device::describe(ua),
            auth_methods: crate::domain::signin::AuthMethods::password(),
            mfa_enrollment: false,
            sso: None,
        };
        store.insert_session(&s).await.map_err(e)?;
        if k >= set.active_sessions {
            store
                .end_sessions(&EndSessions {
                    account_id: Some(account.id.clone()),
                    which: Which::Session(s.id.clone()),
                    reason: EndReason::Logout,
                    by: None,
                    ip: None,
                    at: started + 1000,
                })
                .await
                .map_err(e)?;
        }
        // Checkpoints are the server's background job; a seeding run does its own.
        if k % 20_000 == 0 {
            store.checkpoint().await.map_err(e)?;
        }
    }
    // A third of the agents Online now, after their history (an ending sets an agent Offline).
    for id in ids.iter().step_by(3) {
        store
            .set_status(
                &account.id,
                id,
                AgentStatus::Online,
                Some(AgentStatus::Online),
            )
            .await
            .map_err(e)?;
    }
    store.checkpoint().await.map_err(e)?;
    Ok((account.id, admin.id))
}
