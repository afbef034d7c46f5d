//! The `gatehouse` command line: `start` serves; the rest administer the data directory
//! (users, nodes, desktops, apps, trusted devices, locks, recordings, the CAs, the audit log). One file per
//! command; each calls the library and prints.

pub mod apps;
pub mod desktops;
pub mod devices;
pub mod locks;
pub mod logging;
pub mod migrate;
pub mod nodes;
pub mod open;
pub mod recordings;
pub mod requests;
pub mod start;
pub mod users;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::Config;

#[derive(Parser)]
#[command(name = "gatehouse", version, about = "Zero-trust access from a plain browser")]
pub struct Cli {
    /// The config file; without one, every setting has its default.
    #[arg(long, short, global = true, env = "GATEHOUSE_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Serve the web app and the API over HTTPS.
    Start,
    /// Manage users.
    #[command(subcommand)]
    Users(users::UsersCommand),
    /// Manage SSH nodes.
    #[command(subcommand)]
    Nodes(nodes::NodesCommand),
    /// Manage remote desktops (RDP).
    #[command(subcommand)]
    Desktops(desktops::DesktopsCommand),
    /// Manage web apps, and the key that signs the identity each request to one carries.
    #[command(subcommand)]
    Apps(apps::AppsCommand),
    /// Trusted devices: register one for its owner, list, remove.
    #[command(subcommand)]
    Devices(devices::DevicesCommand),
    /// Print a certificate authority's public key (`user` or `host`), as sshd_config's
    /// TrustedUserCAKeys and known_hosts' @cert-authority lines take it.
    Ca {
        #[arg(value_parser = ["user", "host"])]
        which: String,
    },
    /// Print the newest audit records (also in data_dir/audit.jsonl), newest first.
    Audit {
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Session recordings.
    #[command(subcommand)]
    Recordings(recordings::RecordingsCommand),
    /// Lock a user, a node, a desktop or an app: nobody signs in as, reaches or opens it, and its
    /// live sessions end within two seconds.
    #[command(subcommand)]
    Lock(locks::LockCommand),
    /// Just-in-time access requests: list, approve, deny, revoke.
    #[command(subcommand)]
    Requests(requests::RequestsCommand),
    /// Make the CA keys and the desktop vault key in `keys_dir`, once, for several
    /// proxies (each is given a copy); one proxy alone makes them at its first start.
    Keys {
        #[arg(value_parser = ["init"])]
        action: String,
    },
    /// Copy a single proxy's deployment (SQLite, keys, recordings) into the PostgreSQL
    /// cluster this config names; run again to resume, it copies nothing twice.
    Migrate(migrate::MigrateArgs),
}

/// Parses the command line and runs the command.
pub fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = Config::load(cli.config.as_deref())?;
    match cli.command {
        Command::Start => start::run(config),
        Command::Users(command) => users::run(config, command),
        Command::Nodes(command) => nodes::run(config, command),
        Command::Desktops(command) => desktops::run(config, command),
        Command::Apps(command) => apps::run(config, command),
        Command::Devices(command) => devices::run(config, command),
        Command::Keys { .. } => open::init_keys(&config),
        Command::Migrate(args) => migrate::run(config, args),
        Command::Ca { which } => {
            let cas = open::authorities(&config)?;
            let ca = if which == "user" { &cas.user } else { &cas.host };
            println!("{}", ca.public_key_line());
            Ok(())
        }
        Command::Audit { limit } => {
            for record in open::open_store(&config)?.recent_audit(limit)? {
                println!("{}", serde_json::to_string(&record)?);
            }
            Ok(())
        }
        Command::Recordings(command) => recordings::run(config, command),
        Command::Lock(command) => locks::run(config, command),
        Command::Requests(command) => requests::run(config, command),
    }
}
