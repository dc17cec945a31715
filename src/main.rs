//! The `deskward` command line: `serve`, `account create`, `migrate` and `demo`.
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use ipnet::IpNet;

use deskward::clock::SystemClock;
use deskward::events::EventBus;
use deskward::server::{self, ServerConfig};
use deskward::service::NewAccountRequest;
use deskward::service::{Service, ServiceConfig, ServiceError};
use deskward::store::{self, redact_url};
use deskward::web::WebConfig;

/// jemalloc, with its background threads on (see `main`): under glibc's allocator the server
/// kept about 16 of the 22 MiB a burst of sign-ins took, in per-thread arenas it never trims
/// (BENCHMARKS.md, "Resident memory after load").
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser)]
#[command(
    name = "deskward",
    version,
    about = "Team access and session control for a helpdesk"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service.
    Serve(Box<ServeArgs>),
    /// Manage accounts.
    Account {
        #[command(subcommand)]
        command: AccountCommand,
    },
    /// Apply database migrations and exit.
    Migrate(DbArgs),
    /// Start the service on a fresh database seeded with a realistic team.
    Demo(DemoArgs),
    /// Copy a running SQLite database consistently into a new file.
    Backup(BackupArgs),
    /// Print the OpenAPI 3.1 description of the HTTP API (docs/openapi.json), or write it.
    Openapi(OpenapiArgs),
    /// Seed a large data set for benchmarks (10,000 agents by default) into an empty database.
    SeedLarge(SeedLargeArgs),
    /// Write docs/reverse-proxy.md's nginx or Caddy configuration, filled in for loopback
    /// addresses, into a directory and print the file to run (for the benchmarks).
    #[command(hide = true)]
    ProxyConfig(ProxyConfigArgs),
}

#[derive(Args)]
struct ProxyConfigArgs {
    #[arg(value_enum)]
    proxy: ProxyKind,
    /// Where the proxy listens.
    #[arg(long)]
    listen: SocketAddr,
    /// Where Deskward listens (served with --path-prefix /deskward).
    #[arg(long)]
    deskward: SocketAddr,
    /// Where the guarded app listens.
    #[arg(long)]
    app: SocketAddr,
    /// An existing directory for the configuration (and nginx's pid, logs and temporary files).
    #[arg(long)]
    dir: std::path::PathBuf,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ProxyKind {
    Nginx,
    Caddy,
}

#[derive(Subcommand)]
enum AccountCommand {
    /// Create an account and its primary administrator. The password is read from
    /// DESKWARD_ADMIN_PASSWORD or asked for on the terminal.
    Create(CreateArgs),
}

#[derive(Args)]
struct DbArgs {
    #[arg(
        long,
        env = "DESKWARD_DATABASE_URL",
        default_value = "sqlite://deskward.db"
    )]
    database_url: String,
}

#[derive(Args)]
struct ServeArgs {
    #[arg(long, env = "DESKWARD_BIND", default_value = "127.0.0.1:8080")]
    bind: SocketAddr,
    #[command(flatten)]
    db: DbArgs,
    /// Serve many accounts: the account is the first label of the host (acme.example.com).
    #[arg(long, env = "DESKWARD_BASE_DOMAIN")]
    base_domain: Option<String>,
    /// Proxies (CIDR) whose X-Forwarded-For and X-Forwarded-Proto are believed. Repeatable.
    #[arg(
        long = "trusted-proxy",
        env = "DESKWARD_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    trusted_proxies: Vec<IpNet>,
    /// The site is served over HTTPS (by a proxy in front): Secure cookies and HSTS.
    #[arg(long, env = "DESKWARD_HTTPS")]
    https: bool,
    /// Seconds without any open tab before an agent goes Offline.
    #[arg(long, env = "DESKWARD_PRESENCE_GRACE_SECS", default_value_t = 30)]
    presence_grace_secs: u64,
    /// Seconds between sweeps that mark idle sessions expired.
    #[arg(long, env = "DESKWARD_SWEEP_SECS", default_value_t = 15)]
    sweep_secs: u64,
    /// Seconds a request body may keep the server waiting once it stops arriving; then the
    /// request gets 408 and the connection closes. Event streams are not limited by it.
    #[arg(
        long,
        env = "DESKWARD_BODY_READ_TIMEOUT_SECS",
        default_value_t = 30,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    body_read_timeout_secs: u64,
    /// Connections served at once (each open tab holds one for its event stream); past it new
    /// connections wait until one closes. Keep `ulimit -n` above it.
    #[arg(
        long,
        env = "DESKWARD_MAX_CONNECTIONS",
        default_value_t = 25_000,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    max_connections: u64,
    /// Connections one client address (IPv6: its /64) may hold at once; past it its new
    /// connections get 503 and close, so one client cannot take every connection. Default: a
    /// tenth of --max-connections (at least 1). Addresses of --trusted-proxy are exempt.
    #[arg(
        long,
        env = "DESKWARD_MAX_CONNECTIONS_PER_CLIENT",
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    max_connections_per_client: Option<u64>,
    #[command(flatten)]
    guard: GuardArgs,
    /// Serve Prometheus metrics at GET /metrics on this separate address (e.g.
    /// 127.0.0.1:9187); off by default. The main address never serves them.
    #[arg(long, env = "DESKWARD_METRICS_BIND")]
    metrics_bind: Option<SocketAddr>,
    #[command(flatten)]
    keep: KeepArgs,
    #[command(flatten)]
    pool: PoolArgs,
    /// A file holding the secret key the authenticator (TOTP) and device-pass secrets are
    /// derived from, so the database alone does not hold them (at least 32 characters, e.g.
    /// `openssl rand -hex 32`). Or give the key itself in DESKWARD_SECRET_KEY. Without
    /// either, the secrets are random rows of the database. See docs/operations.md.
    #[arg(long, env = "DESKWARD_SECRET_KEY_FILE")]
    secret_key_file: Option<std::path::PathBuf>,
    #[command(flatten)]
    mail: MailArgs,
}

/// E-mail; see docs/email.md.
#[derive(Args)]
struct MailArgs {
    /// The SMTP server: smtp://[user:pass@]host[:port] (STARTTLS when offered; add
    /// ?tls=required to refuse sending without it) or smtps://… (TLS from the first byte).
    /// Without it, messages are .eml files in --mail-dir.
    #[arg(long, env = "DESKWARD_SMTP_URL")]
    smtp_url: Option<String>,
    /// One more CA (PEM) to trust for the SMTP server's certificate.
    #[arg(long, env = "DESKWARD_SMTP_CA_FILE")]
    smtp_ca_file: Option<std::path::PathBuf>,
    /// Where messages are written as .eml files when there is no --smtp-url.
    #[arg(long, env = "DESKWARD_MAIL_DIR", default_value = "deskward-mail")]
    mail_dir: std::path::PathBuf,
    /// The sender: "Name <address>".
    #[arg(long, env = "DESKWARD_MAIL_FROM")]
    mail_from: Option<String>,
    /// The origin (and prefix) links in e-mails point at, e.g. https://help.example.com; with
    /// --base-domain, each account's host under it. Default: the address served on.
    #[arg(long, env = "DESKWARD_PUBLIC_URL")]
    public_url: Option<String>,
}

impl MailArgs {
    /// The mail settings these flags stand for; the error names the flag that is wrong.
    fn config(self) -> Result<deskward::service::mail::MailConfig, String> {
        use deskward::service::mailer::{SmtpSettings, Transport, parse_from};
        let transport = match self.smtp_url {
            Some(url) => {
                let mut s = SmtpSettings::parse(&url).map_err(|e| format!("--smtp-url: {e}"))?;
                if let Some(path) = &self.smtp_ca_file {
                    s = s
                        .with_ca_file(path)
                        .map_err(|e| format!("--smtp-ca-file: {e}"))?;
                }
                Transport::Smtp(s)
            }
            None if self.smtp_ca_file.is_some() => {
                return Err("--smtp-ca-file: needs --smtp-url".to_string());
            }
            None => Transport::Files(self.mail_dir),
        };
        let from = match self.mail_from {
            Some(f) => parse_from(&f).map_err(|e| format!("--mail-from: {e}"))?,
            None => deskward::service::mail::default_from(),
        };
        let public_url = self
            .public_url
            .map(|u| parse_public_url(&u).map_err(|e| format!("--public-url: {e}")))
            .transpose()?;
        Ok(deskward::service::mail::MailConfig {
            transport,
            from,
            public_url,
            ..Default::default()
        })
    }
}

/// An http(s) URL with a host, no query and no fragment.
fn parse_public_url(text: &str) -> Result<url::Url, String> {
    let u = url::Url::parse(text.trim()).map_err(|e| format!("not a URL ({e})"))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(format!(
            "must start with https:// or http://, not {}://",
            u.scheme()
        ));
    }
    if u.host_str().is_none_or(str::is_empty) {
        return Err("names no host".to_string());
    }
    if u.query().is_some() || u.fragment().is_some() || !u.username().is_empty() {
        return Err("takes an origin and a path only (no user, query or #fragment)".to_string());
    }
    Ok(u)
}

/// The secret key from `--secret-key-file` or `DESKWARD_SECRET_KEY`, if any; the error names
/// where it came from and what is wrong.
fn secret_key(
    file: Option<&std::path::Path>,
) -> Result<Option<deskward::service::keys::SecretKey>, String> {
    use deskward::service::keys::SecretKey;
    let inline = std::env::var("DESKWARD_SECRET_KEY").ok();
    match (file, inline) {
        (Some(_), Some(_)) => Err(
            "give the secret key once: --secret-key-file (DESKWARD_SECRET_KEY_FILE) or \
             DESKWARD_SECRET_KEY, not both"
                .to_string(),
        ),
        (Some(path), None) => {
            let what = format!("--secret-key-file {}", path.display());
            let text =
                std::fs::read_to_string(path).map_err(|e| format!("{what}: cannot read: {e}"))?;
            SecretKey::from_text(&text, &what).map(Some)
        }
        (None, Some(text)) => SecretKey::from_text(&text, "DESKWARD_SECRET_KEY").map(Some),
        (None, None) => Ok(None),
    }
}

/// PostgreSQL connections; see docs/postgres-at-scale.md.
#[derive(Args)]
struct PoolArgs {
    /// PostgreSQL connections this instance's pool may hold; each instance also opens two
    /// for events. Instances × (pool + 2) must fit the server's and role's connection limits.
    #[arg(
        long,
        env = "DESKWARD_DB_POOL_SIZE",
        default_value_t = 16,
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    db_pool_size: u32,
    /// Seconds a request waits for a free PostgreSQL connection before it is answered 503.
    #[arg(
        long,
        env = "DESKWARD_DB_ACQUIRE_TIMEOUT_SECS",
        default_value_t = 5,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    db_acquire_timeout_secs: u64,
    /// Where the event relay's LISTEN connection goes when --database-url points at a pooler
    /// in transaction mode (PgBouncer): LISTEN needs a session of its own, so this names the
    /// server directly. Default: the database URL.
    #[arg(long, env = "DESKWARD_LISTEN_DATABASE_URL")]
    listen_database_url: Option<String>,
}

/// Webhook targets and how long old rows are kept; see docs/webhooks.md and
/// docs/operations.md.
#[derive(Args)]
struct KeepArgs {
    /// Allow webhook targets on loopback and private ranges (a receiver on this host or LAN).
    #[arg(long, env = "DESKWARD_WEBHOOK_ALLOW_PRIVATE")]
    webhook_allow_private: bool,
    /// Allow a single sign-on identity provider on loopback and private ranges (an
    /// on-premises Keycloak), and over plain http.
    #[arg(long, env = "DESKWARD_SSO_ALLOW_PRIVATE")]
    sso_allow_private: bool,
    /// Days ended sessions, webhook deliveries and e-mail messages are kept before the sweep
    /// deletes them.
    #[arg(
        long,
        env = "DESKWARD_RETENTION_DAYS",
        default_value_t = 400,
        value_parser = retention_days
    )]
    retention_days: i64,
    /// Days audit entries are kept (longer than the rest: investigations look back further).
    #[arg(
        long,
        env = "DESKWARD_AUDIT_RETENTION_DAYS",
        default_value_t = 730,
        value_parser = retention_days
    )]
    audit_retention_days: i64,
}

/// A retention age in days: at least 1, at most `MAX_DAYS` (10,000 years). A larger one
/// would run the cut-off past any calendar (and, in milliseconds, past `i64`), which once
/// wrapped into the future and deleted everything at start.
fn retention_days(text: &str) -> Result<i64, String> {
    use deskward::service::retention::MAX_DAYS;
    let days: i64 = text
        .trim()
        .parse()
        .map_err(|_| format!("must be a whole number of days from 1 to {MAX_DAYS}"))?;
    if !(1..=MAX_DAYS).contains(&days) {
        return Err(format!(
            "must be from 1 to {MAX_DAYS} days (10,000 years); {days} is past any calendar"
        ));
    }
    Ok(days)
}

/// Deskward in front of another app (forward auth); see docs/reverse-proxy.md.
#[derive(Args)]
struct GuardArgs {
    /// Serve everything under this path (e.g. /deskward), so Deskward shares one host with the
    /// app it guards.
    #[arg(long, env = "DESKWARD_PATH_PREFIX", default_value = "")]
    path_prefix: String,
    /// Where agents land after signing in without `rd` (an absolute URL, or a path on the
    /// same host); default: Deskward's own agent page.
    #[arg(long, env = "DESKWARD_AGENT_HOME")]
    agent_home: Option<String>,
    /// An origin besides the request's own that sign-in may return to (`rd`), such as
    /// https://help.example.com. Repeatable.
    #[arg(
        long = "return-origin",
        env = "DESKWARD_RETURN_ORIGINS",
        value_delimiter = ','
    )]
    return_origins: Vec<String>,
    /// One sign-in for every host under this domain (e.g. example.com): the cookies carry
    /// `Domain=` it (`__Secure-` prefixed over HTTPS instead of `__Host-`), and `rd` may name
    /// any host under it.
    #[arg(long, env = "DESKWARD_COOKIE_DOMAIN")]
    cookie_domain: Option<String>,
    /// A TOML file of access rules for the verify endpoints (docs/reverse-proxy.md, "Access
    /// rules"); read again on SIGHUP.
    #[arg(long, env = "DESKWARD_ACCESS_RULES")]
    access_rules: Option<std::path::PathBuf>,
}

impl GuardArgs {
    /// The web settings these flags stand for; the error names the flag that is wrong.
    fn apply(self, web: &mut WebConfig) -> Result<(), String> {
        web.path_prefix = deskward::web::prefix::normalize(&self.path_prefix)?;
        web.agent_home = self
            .agent_home
            .map(|h| deskward::web::return_to::parse_agent_home(&h))
            .transpose()?;
        web.return_origins = self
            .return_origins
            .iter()
            .map(|o| deskward::web::return_to::parse_origin(o))
            .collect::<Result<_, _>>()?;
        web.cookie_domain = self
            .cookie_domain
            .map(|d| deskward::web::return_to::parse_cookie_domain(&d))
            .transpose()?;
        web.access_rules = self
            .access_rules
            .as_deref()
            .map(deskward::access_rules::RulesFile::load)
            .transpose()?;
        Ok(())
    }
}

#[derive(Args)]
struct CreateArgs {
    #[arg(long)]
    name: String,
    #[arg(long)]
    slug: Option<String>,
    #[arg(long)]
    admin_name: String,
    #[arg(long)]
    admin_email: String,
    #[command(flatten)]
    db: DbArgs,
}

#[derive(Args)]
struct BackupArgs {
    /// The file to write; it must not exist yet.
    #[arg(long)]
    to: std::path::PathBuf,
    #[command(flatten)]
    db: DbArgs,
}

#[derive(Args)]
struct OpenapiArgs {
    /// Write it to this file (e.g. docs/openapi.json) instead of printing it.
    #[arg(long)]
    out: Option<std::path::PathBuf>,
}

#[derive(Args)]
struct SeedLargeArgs {
    #[command(flatten)]
    db: DbArgs,
    #[arg(long, default_value_t = 10_000)]
    agents: usize,
    #[arg(long, default_value_t = 20_000)]
    active_sessions: usize,
    #[arg(long, default_value_t = 200_000)]
    ended_sessions: usize,
}

#[derive(Args)]
struct DemoArgs {
    #[arg(long, env = "DESKWARD_BIND", default_value = "127.0.0.1:8080")]
    bind: SocketAddr,
    /// Where the demo data goes; the file is replaced.
    #[arg(long, default_value = "sqlite://deskward-demo.db")]
    database_url: String,
    /// Number of agents to create.
    #[arg(long, default_value_t = 36)]
    agents: usize,
    /// Seed the data and exit instead of serving.
    #[arg(long)]
    seed_only: bool,
    /// Serve Deskward alone, even when nginx is installed (by default the demo then runs a
    /// sample helpdesk guarded by Deskward behind nginx on --bind).
    #[arg(long)]
    no_proxy: bool,
}

fn main() -> ExitCode {
    // jemalloc gives freed memory back to the system only as it allocates again, unless its
    // background threads purge it: without them a quiet server after a burst kept all of it.
    if let Err(e) = tikv_jemalloc_ctl::background_thread::write(true) {
        eprintln!(
            "note: jemalloc's background threads are off ({e}); memory freed after a burst of load comes back more slowly"
        );
    }
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,sqlx=warn".into());
    // Colours only for a person at a terminal: a log file or journal gets plain text, and
    // every request's span is written without them (a tenth of a `/me` was the colouring).
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    if std::env::var("DESKWARD_LOG_FORMAT").is_ok_and(|f| f == "json") {
        logs.json().init();
    } else {
        logs.init();
    }
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("error: {msg}");
            ExitCode::from(2)
        }
    }
}

async fn open(url: &str) -> Result<Arc<dyn store::Store>, String> {
    open_with(url, &store::PoolConfig::default()).await
}

async fn open_with(url: &str, pool: &store::PoolConfig) -> Result<Arc<dyn store::Store>, String> {
    store::connect_with(url, pool).await.map_err(|e| {
        format!(
            "cannot open database {}: {}",
            redact_url(url),
            first_line(&e.to_string())
        )
    })
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").to_string()
}

async fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Serve(a) => {
            let mut web = WebConfig {
                base_domain: a
                    .base_domain
                    .map(|d| d.trim_matches('.').to_ascii_lowercase()),
                trusted_proxies: a.trusted_proxies,
                https: a.https,
                ..WebConfig::default()
            };
            a.guard.apply(&mut web)?;
            if let Some(rules) = &web.access_rules {
                deskward::access_rules::reload_on_sighup(rules.clone())?;
                tracing::info!(
                    file = %rules.path().display(),
                    rules = rules.current().len(),
                    "access rules in force"
                );
            }
            let mail = a.mail.config()?;
            let key = secret_key(a.secret_key_file.as_deref())?;
            let prefix = web.path_prefix.clone();
            let pool = store::PoolConfig {
                size: a.pool.db_pool_size,
                acquire_timeout: Duration::from_secs(a.pool.db_acquire_timeout_secs),
            };
            let store = open_with(&a.db.database_url, &pool).await?;
            let metrics_listener = match a.metrics_bind {
                Some(addr) => Some(
                    std::net::TcpListener::bind(addr)
                        .map_err(|e| format!("cannot listen on {addr} for metrics: {e}"))?,
                ),
                None => None,
            };
            let config = ServerConfig {
                web,
                service: ServiceConfig {
                    presence_grace_ms: (a.presence_grace_secs * 1000) as i64,
                },
                sweep_interval: Duration::from_secs(a.sweep_secs.max(1)),
                body_read_timeout: Duration::from_secs(a.body_read_timeout_secs),
                max_connections: usize::try_from(a.max_connections).unwrap_or(usize::MAX),
                max_connections_per_client: a
                    .max_connections_per_client
                    .map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
                webhooks: deskward::service::delivery::DeliveryConfig {
                    allow_private: a.keep.webhook_allow_private,
                    ..Default::default()
                },
                retention: deskward::service::retention::RetentionConfig {
                    days: a.keep.retention_days,
                    audit_days: a.keep.audit_retention_days,
                    ..Default::default()
                },
                metrics_listener,
                mail,
                sso_allow_private: a.keep.sso_allow_private,
                ..ServerConfig::default()
            };
            let events = deskward::relay::events_between(
                &a.db.database_url,
                a.pool.listen_database_url.as_deref(),
            )
            .await;
            let svc = server::build(store, Arc::new(SystemClock), events, &config);
            svc.use_secret_key(key).await?;
            let listener = tokio::net::TcpListener::bind(a.bind)
                .await
                .map_err(|e| format!("cannot listen on {}: {e}", a.bind))?;
            // The address really listened on: with port 0 the kernel picks one, and whoever
            // started us (a supervisor, a test) learns it from this line.
            let bound = listener.local_addr().unwrap_or(a.bind);
            let needs_setup = svc.needs_setup().await.unwrap_or(false);
            tracing::info!(
                address = %bound,
                database = %redact_url(&a.db.database_url),
                "Deskward is listening"
            );
            if let Some(m) = a.metrics_bind {
                tracing::info!(address = %m, "metrics at /metrics");
            }
            if needs_setup {
                println!("First run: open http://{bound}{prefix}/setup to create your account.");
            } else {
                println!("Deskward is running at http://{bound}{prefix}/");
            }
            server::serve(svc, config, listener, server::shutdown_signal())
                .await
                .map_err(|e| format!("server error: {e}"))
        }
        Command::Account {
            command: AccountCommand::Create(a),
        } => {
            let password = match std::env::var("DESKWARD_ADMIN_PASSWORD") {
                Ok(p) => p,
                Err(_) => rpassword::prompt_password("Password for the primary administrator: ")
                    .map_err(|_| {
                        "no password: set DESKWARD_ADMIN_PASSWORD or run on a terminal".to_string()
                    })?,
            };
            let store = open(&a.db.database_url).await?;
            let svc = Service::new(
                store,
                Arc::new(SystemClock),
                EventBus::new(),
                ServiceConfig::default(),
            );
            let (account, _) = svc
                .create_account(
                    NewAccountRequest {
                        name: a.name,
                        slug: a.slug,
                        admin_name: a.admin_name,
                        admin_email: a.admin_email,
                        admin_password: password,
                    },
                    false,
                )
                .await
                .map_err(describe)?;
            println!("id: {}", account.id);
            println!("slug: {}", account.slug);
            Ok(())
        }
        Command::Backup(a) => {
            let bytes = deskward::backup::sqlite(&a.db.database_url, &a.to).await?;
            println!(
                "backed up {} to {} ({bytes} bytes)",
                redact_url(&a.db.database_url),
                a.to.display()
            );
            Ok(())
        }
        Command::Openapi(a) => {
            let text = deskward::web::api::openapi::json();
            match a.out {
                Some(path) => std::fs::write(&path, text)
                    .map_err(|e| format!("cannot write {}: {e}", path.display())),
                None => {
                    print!("{text}");
                    Ok(())
                }
            }
        }
        Command::Migrate(a) => {
            open(&a.database_url).await?;
            println!("migrations applied to {}", redact_url(&a.database_url));
            Ok(())
        }
        Command::SeedLarge(a) => {
            let store = open(&a.db.database_url).await?;
            if store.account_count().await.map_err(|e| e.to_string())? > 0 {
                return Err("seed-large needs an empty database".to_string());
            }
            let started = std::time::Instant::now();
            let now = deskward::clock::Clock::now(&SystemClock);
            deskward::demo::seed_large(
                &store,
                deskward::demo::LargeSet {
                    agents: a.agents,
                    active_sessions: a.active_sessions,
                    ended_sessions: a.ended_sessions,
                },
                now,
            )
            .await?;
            println!(
                "seeded {} agents, {} active and {} ended sessions in {:.1} s; sign in as admin@bench.example / {}",
                a.agents,
                a.active_sessions,
                a.ended_sessions,
                started.elapsed().as_secs_f64(),
                deskward::demo::DEMO_PASSWORD
            );
            Ok(())
        }
        Command::ProxyConfig(a) => {
            use deskward::guarded;
            let at = guarded::Addresses {
                proxy: a.listen,
                deskward: a.deskward,
                app: a.app,
            };
            let path = match a.proxy {
                ProxyKind::Nginx => guarded::write_nginx(guarded::GUIDE, &at, &a.dir)?,
                ProxyKind::Caddy => {
                    let path = a.dir.join("Caddyfile");
                    let text = guarded::caddyfile(guarded::GUIDE, &at)?;
                    std::fs::write(&path, text)
                        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                    path
                }
            };
            println!("{}", path.display());
            Ok(())
        }
        Command::Demo(a) => {
            deskward::demo::run(&a.database_url, a.bind, a.agents, a.seed_only, !a.no_proxy).await
        }
    }
}

fn describe(e: ServiceError) -> String {
    match e {
        ServiceError::Invalid { field, message } if !message.contains(&field) => {
            format!("{field}: {message}")
        }
        other => other.to_string(),
    }
}
