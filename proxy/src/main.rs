//! `gatehouse`: the proxy binary and its admin command line.

mod accounts;
mod audit;
mod auth;
mod config;
mod http;
mod store;

use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};

use accounts::Accounts;
use config::{Config, LogFormat};
use store::{SqliteStore, Store};

#[derive(Parser)]
#[command(name = "gatehouse", version, about = "Zero-trust access from a plain browser")]
struct Cli {
    /// The config file; without one, every setting has its default.
    #[arg(long, short, global = true, env = "GATEHOUSE_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the web app and the API over HTTPS.
    Start,
    /// Manage users.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Print the newest audit records (also in data_dir/audit.jsonl), newest first.
    Audit {
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
}

#[derive(Subcommand)]
enum UsersCommand {
    /// Add a user and print a one-time invite link (valid for `invite_ttl`, 1 hour by default).
    Add {
        name: String,
        /// Roles, comma-separated or repeated.
        #[arg(long, value_delimiter = ',', required = true)]
        roles: Vec<String>,
    },
    /// List users and whether they have finished enrolment.
    List,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = Config::load(cli.config.as_deref())?;
    match cli.command {
        Command::Start => start(config),
        Command::Users(command) => users(config, command),
        Command::Audit { limit } => {
            for record in open_store(&config)?.recent_audit(limit)? {
                println!("{}", serde_json::to_string(&record)?);
            }
            Ok(())
        }
    }
}

fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&config.data_dir)
        .with_context(|| format!("cannot create the data directory {}", config.data_dir.display()))?;
    let path = config.data_dir.join("gatehouse.db");
    let store = SqliteStore::open(&path).with_context(|| format!("cannot open the database {}", path.display()))?;
    Ok(Arc::new(store))
}

fn users(config: Config, command: UsersCommand) -> anyhow::Result<()> {
    let store = open_store(&config)?;
    let accounts = Accounts::new(store.clone(), &config);
    match command {
        UsersCommand::Add { name, roles } => {
            let link = accounts.add_user(&name, &roles, auth::now())?;
            println!("Added {name} with roles {}.", roles.join(", "));
            println!("Send them this one-time invite link (valid for {}):", humantime::format_duration(config.invite_ttl));
            println!("  {link}");
        }
        UsersCommand::List => {
            for user in store.list_users()? {
                let state = if user.is_enrolled() { "enrolled" } else { "invited" };
                println!("{:<24} {:<10} {}", user.name, state, user.roles.join(","));
            }
        }
    }
    Ok(())
}

fn start(config: Config) -> anyhow::Result<()> {
    init_logging(config.log_format);
    let store = open_store(&config)?;
    let accounts = Accounts::new(store.clone(), &config);
    let first_invite = first_admin_invite(&accounts, store.as_ref())?;
    let audit = audit::Audit::open(store.clone(), &config.data_dir.join("audit.jsonl"))?;
    let assets = http::assets::Assets::load(&config.web_root);
    let (raw, gzip) = assets.first_load_bytes();
    tracing::info!(raw_bytes = raw, gzip_bytes = gzip, "web app size");
    let (cert, key) = http::server::tls_files(&config)?;
    let acceptor = http::server::acceptor(&cert, &key)?;
    let state = http::AppState::new(http::Shared {
        accounts,
        audit,
        assets,
        signin_limiter: Mutex::new(auth::rate_limit::RateLimiter::new(config.signin.attempts_per_ip_per_minute)),
    });
    let app = http::router(state);

    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        tracing::info!(addr = %config.listen, "listening");
        println!("Gatehouse is ready at {}", config.public_url);
        if let Some(link) = first_invite {
            println!("First sign-in: open this one-time link to set the admin's password and TOTP:");
            println!("  {link}");
        }
        tokio::spawn(clean_up_expired(store));
        tokio::select! {
            () = http::server::serve(listener, acceptor, app) => {}
            _ = shutdown_signal() => tracing::info!("shutting down"),
        }
        anyhow::Ok(())
    })
}

/// On a fresh data directory, makes the `admin` user; while no admin has enrolled, each
/// start prints a new invite so the instance is never left without a way in.
fn first_admin_invite(accounts: &Accounts, store: &dyn Store) -> anyhow::Result<Option<String>> {
    let now = auth::now();
    let users = store.list_users()?;
    if users.is_empty() {
        return Ok(Some(accounts.add_user("admin", &["admin".to_string()], now)?));
    }
    if users.iter().any(|u| u.is_enrolled()) {
        return Ok(None);
    }
    match users.iter().find(|u| u.name == "admin") {
        Some(admin) => Ok(Some(accounts.invite(admin.id, now)?)),
        None => Ok(None),
    }
}

async fn clean_up_expired(store: Arc<dyn Store>) {
    let mut tick = tokio::time::interval(Duration::from_secs(600));
    loop {
        tick.tick().await;
        match store.delete_expired(auth::now()) {
            Ok(n) if n > 0 => tracing::info!(sessions = n, "removed expired sessions"),
            Ok(_) => {}
            Err(err) => tracing::warn!(%err, "cannot remove expired sessions"),
        }
    }
}

async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

fn init_logging(format: LogFormat) {
    let builder = tracing_subscriber::fmt().with_max_level(tracing::Level::INFO).with_target(true);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}
