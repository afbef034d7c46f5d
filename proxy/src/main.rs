//! `gatehouse`: the proxy binary and its admin command line.

use gatehouse::access::locks;
use gatehouse::cli::logging;
use gatehouse::inventory::{desktops, nodes};
use gatehouse::rdp::connect as rdp;
use gatehouse::recordings as recording;
use gatehouse::sessions as live;
use gatehouse::ssh::check as node_check;
use gatehouse::{accounts, audit, auth, ca, config, http, passkeys, store, vault};

use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};

use accounts::Accounts;
use config::Config;
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
    /// Manage SSH nodes.
    #[command(subcommand)]
    Nodes(NodesCommand),
    /// Manage remote desktops (RDP).
    #[command(subcommand)]
    Desktops(DesktopsCommand),
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
    Recordings(RecordingsCommand),
    /// Lock a user, a node or a desktop: nobody signs in as, reaches or opens it, and its
    /// live sessions end within two seconds.
    #[command(subcommand)]
    Lock(LockCommand),
}

#[derive(Subcommand)]
enum LockCommand {
    /// Lock a user: they cannot sign in or connect, and their sessions end.
    User(LockArgs),
    /// Lock a node: nobody can connect to it, and its sessions end.
    Node(LockArgs),
    /// Lock a desktop: nobody can open it, and its sessions end.
    Desktop(LockArgs),
    /// The locks in force.
    List,
    /// Remove a lock by its number (from `gatehouse lock list`).
    Remove { id: i64 },
}

#[derive(clap::Args)]
struct LockArgs {
    name: String,
    /// Why: the people the lock stops read it.
    #[arg(long)]
    reason: String,
    /// How long the lock holds (e.g. 2h, 3days); without it, until removed.
    #[arg(long = "for", value_parser = humantime::parse_duration)]
    duration: Option<Duration>,
}

#[derive(Subcommand)]
enum RecordingsCommand {
    /// List recordings, newest first, one JSON object per line.
    List {
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Write a recording's output bytes to stdout, as the node sent them (like `cat` of
    /// the session), and report on stderr how the recording ends.
    Cat {
        id: String,
        /// What the client sent instead (recorded for sessions without a pty).
        #[arg(long)]
        input: bool,
    },
    /// Write a terminal recording as an asciicast v2 file (asciinema's format).
    Export {
        id: String,
        /// Where to write; default: standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Import an asciicast v2 file (`.cast`) as a recording; prints the new id.
    Import {
        file: PathBuf,
        /// Whose session it is listed as.
        #[arg(long, default_value = "imported")]
        user: String,
        /// The node it is listed under.
        #[arg(long, default_value = "import")]
        target: String,
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
    /// Clear a user's password, authenticator app and passkeys, end their sessions, and
    /// print a new invite link (for a lost device or a compromised account).
    Reset { name: String },
    /// Replace a user's roles; their live sessions the new roles do not allow end.
    SetRoles {
        name: String,
        /// Roles, comma-separated or repeated.
        #[arg(long, value_delimiter = ',', required = true)]
        roles: Vec<String>,
    },
}

#[derive(Subcommand)]
enum NodesCommand {
    /// Register a node; with --host-key, also sign its host certificate. Prints the
    /// sshd_config lines the node needs.
    Add {
        name: String,
        /// The node's sshd, HOST:PORT.
        #[arg(long)]
        addr: String,
        /// key=value,key=value
        #[arg(long, default_value = "")]
        labels: String,
        #[command(flatten)]
        cert: HostCertArgs,
    },
    /// Sign a host certificate for a registered node's host key.
    SignHost {
        name: String,
        #[command(flatten)]
        cert: HostCertArgs,
    },
    /// List the nodes, from the config file and the database.
    List,
    /// Prove the node enforces Gatehouse's certificates: it must accept one for its own
    /// name and refuse those for another node, another login, another address and the
    /// session CA.
    Check {
        name: String,
        /// The login to try (default: the first login the roles grant on the node).
        #[arg(long)]
        login: Option<String>,
    },
}

#[derive(Subcommand)]
enum DesktopsCommand {
    /// Register an RDP desktop and the account the proxy signs in with. The password is
    /// read from --password-file, or else from the first line of standard input; it is
    /// sealed with the proxy's key and never shown again.
    Add {
        name: String,
        /// The RDP server, HOST:PORT.
        #[arg(long)]
        addr: String,
        /// key=value,key=value
        #[arg(long, default_value = "")]
        labels: String,
        /// The RDP account.
        #[arg(long)]
        user: String,
        #[arg(long)]
        domain: Option<String>,
        /// nla (CredSSP, the default) or tls.
        #[arg(long, default_value = "nla")]
        security: String,
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
    /// List the desktops (never their passwords).
    List,
    /// Connect to a desktop as the proxy would, and report what the server answered.
    /// With no pin yet, nothing is sent until you give --pin (compare it with the
    /// desktop's certificate first) or --trust-first-use.
    Check {
        name: String,
        /// The SHA-256 of the desktop's TLS certificate you expect (`SHA256:…`).
        #[arg(long)]
        pin: Option<String>,
        /// Pin whatever certificate the desktop presents now.
        #[arg(long, conflicts_with = "pin")]
        trust_first_use: bool,
    },
}

#[derive(clap::Args)]
struct HostCertArgs {
    /// The node's host public key (e.g. a copy of /etc/ssh/ssh_host_ed25519_key.pub).
    #[arg(long)]
    host_key: Option<PathBuf>,
    /// Where to write the certificate; default: beside the key, as OpenSSH names it
    /// (KEY-cert.pub).
    #[arg(long)]
    out: Option<PathBuf>,
    /// How long the host certificate is valid.
    #[arg(long, default_value = "52weeks", value_parser = humantime::parse_duration)]
    validity: Duration,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = Config::load(cli.config.as_deref())?;
    match cli.command {
        Command::Start => start(config),
        Command::Users(command) => users(config, command),
        Command::Nodes(command) => nodes_command(config, command),
        Command::Desktops(command) => desktops_command(config, command),
        Command::Ca { which } => {
            let cas = authorities(&config)?;
            let ca = if which == "user" { &cas.user } else { &cas.host };
            println!("{}", ca.public_key_line());
            Ok(())
        }
        Command::Audit { limit } => {
            for record in open_store(&config)?.recent_audit(limit)? {
                println!("{}", serde_json::to_string(&record)?);
            }
            Ok(())
        }
        Command::Recordings(command) => recordings_command(config, command),
        Command::Lock(command) => lock_command(config, command),
    }
}

fn lock_command(config: Config, command: LockCommand) -> anyhow::Result<()> {
    use locks::{LockTarget, NewLock};
    let store = open_store(&config)?;
    let now = auth::now();
    let (target, args) = match command {
        LockCommand::List => {
            for lock in store.active_locks(now)? {
                let until = lock
                    .expires_at
                    .map_or("until removed".to_string(), |at| format!("until {}", locks::format_time(at)));
                println!(
                    "{:<4} {:<8} {:<24} {:<30} {}",
                    lock.id,
                    lock.target.kind(),
                    lock.target.name(),
                    until,
                    lock.reason
                );
            }
            return Ok(());
        }
        LockCommand::Remove { id } => {
            if !store.remove_lock(id)? {
                anyhow::bail!("there is no lock {id}; `gatehouse lock list` shows them");
            }
            println!("Removed lock {id}.");
            return Ok(());
        }
        LockCommand::User(args) => {
            let user =
                store.user_by_name(&args.name)?.with_context(|| format!("there is no user named {:?}", args.name))?;
            (LockTarget::User(user.name), args)
        }
        LockCommand::Node(args) => {
            let name = nodes::NodeName::parse(&args.name)?;
            if !nodes::merge(&config.nodes, store.list_nodes()?).iter().any(|n| n.name == name) {
                anyhow::bail!("there is no node named {name}");
            }
            (LockTarget::Node(name.to_string()), args)
        }
        LockCommand::Desktop(args) => {
            let vault = vault(&config)?;
            if !all_desktops(&config, store.as_ref(), &vault)?.iter().any(|(d, _)| d.name.as_str() == args.name) {
                anyhow::bail!("there is no desktop named {:?}", args.name);
            }
            (LockTarget::Desktop(args.name.clone()), args)
        }
    };
    let reason = locks::check_reason(&args.reason).map_err(anyhow::Error::msg)?;
    let expires_at = args.duration.map(|d| locks::expiry(now, d)).transpose().map_err(anyhow::Error::msg)?;
    let lock = NewLock { target: target.clone(), reason, expires_at };
    let id = store.add_lock(&lock, now)?;
    if let LockTarget::User(name) = &target
        && let Some(user) = store.user_by_name(name)?
    {
        store.delete_sessions_of(user.id)?;
    }
    let until = expires_at.map_or("until removed".to_string(), |at| format!("until {}", locks::format_time(at)));
    println!(
        "Locked the {} {} {until} (lock {id}); its live sessions end within 2 seconds.",
        target.kind(),
        target.name()
    );
    Ok(())
}

fn recordings_command(config: Config, command: RecordingsCommand) -> anyhow::Result<()> {
    use std::io::{Read, Write};
    let store = open_store(&config)?;
    match command {
        RecordingsCommand::List { limit } => {
            for row in store.list_recordings(limit)? {
                println!("{}", serde_json::to_string(&row)?);
            }
        }
        RecordingsCommand::Cat { id, input } => {
            let row = store.recording(&id)?.with_context(|| format!("there is no recording {id:?}"))?;
            let mut bytes = Vec::new();
            recording::open(&config.data_dir, &row)
                .and_then(|mut file| file.read_to_end(&mut bytes))
                .with_context(|| format!("cannot read the recording file {}", row.file))?;
            let read = gatehouse_recording::read_all(&bytes)?;
            std::io::stdout().write_all(&if input { read.input() } else { read.output() })?;
            for (at, len, why) in &read.skipped {
                eprintln!("skipped a damaged record of {len} bytes at byte {at}: {why}");
            }
            match (&read.tail, read.end()) {
                (gatehouse_recording::Tail::Torn { at, bytes }, _) => {
                    eprintln!("the recording was cut short: {bytes} bytes of an unfinished record at byte {at}")
                }
                (_, Some(end)) => eprintln!("ended: {}", end.reason),
                (_, None) => eprintln!("the recording has no end record: the session was cut short"),
            }
        }
        RecordingsCommand::Export { id, output } => {
            let row = store.recording(&id)?.with_context(|| format!("there is no recording {id:?}"))?;
            if recording::kind(&row.kind) == gatehouse_proto::api::RecordingKind::Desktop {
                anyhow::bail!(
                    "{id} is a desktop recording: it has no terminal text for asciicast; play it in the web player"
                );
            }
            let mut bytes = Vec::new();
            recording::open(&config.data_dir, &row)
                .and_then(|mut file| file.read_to_end(&mut bytes))
                .with_context(|| format!("cannot read the recording file {}", row.file))?;
            let read = gatehouse_recording::read_all(&bytes)?;
            let cast =
                gatehouse_recording::cast::export(read.header.as_ref().unwrap_or(&Default::default()), &read.events);
            match output {
                Some(path) => {
                    std::fs::write(&path, cast).with_context(|| format!("cannot write {}", path.display()))?
                }
                None => std::io::stdout().write_all(cast.as_bytes())?,
            }
        }
        RecordingsCommand::Import { file, user, target } => {
            let text = std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let imported = gatehouse_recording::cast::import(&text)
                .with_context(|| format!("{} cannot be imported", file.display()))?;
            for (line, why) in &imported.skipped {
                eprintln!("skipped line {line}: {why}");
            }
            let id = recording::write_imported(
                &config.data_dir,
                store.as_ref(),
                imported.header,
                &imported.events,
                &user,
                &target,
            )
            .context("cannot write the recording")?;
            println!("{id}");
        }
    }
    Ok(())
}

/// The database, in a data directory only its owner can enter (0700), in files only its
/// owner can read (0600; SQLite gives the WAL and shared-memory files the database's mode).
fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let dir = &config.data_dir;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create the data directory {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("cannot make the data directory {} private", dir.display()))?;
    let path = dir.join("gatehouse.db");
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("cannot create the database {}", path.display()))?;
    let store = SqliteStore::open(&path).with_context(|| format!("cannot open the database {}", path.display()))?;
    for suffix in ["", "-wal", "-shm"] {
        let file = dir.join(format!("gatehouse.db{suffix}"));
        if file.exists() {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
                .with_context(|| format!("cannot make {} private", file.display()))?;
        }
    }
    Ok(Arc::new(store))
}

fn users(config: Config, command: UsersCommand) -> anyhow::Result<()> {
    let store = open_store(&config)?;
    let pin = authorities(&config)?.host.fingerprint().to_string();
    let accounts = Accounts::new(store.clone(), Arc::new(vault(&config)?), &config).with_host_ca_pin(pin);
    match command {
        UsersCommand::Add { name, roles } => {
            let link = accounts.add_user(&name, &roles, auth::now())?;
            println!("Added {name} with roles {}.", roles.join(", "));
            println!(
                "Send them this one-time invite link (valid for {}):",
                humantime::format_duration(config.invite_ttl)
            );
            println!("  {link}");
        }
        UsersCommand::Reset { name } => {
            let link = accounts.reset_user(&name, auth::now()).map_err(|err| match err {
                accounts::AuthError::BadCredentials => anyhow::anyhow!("there is no user named {name:?}"),
                other => other.into(),
            })?;
            println!(
                "Reset {name}: password, authenticator app and passkeys cleared; their sessions end within 2 seconds."
            );
            println!("Send them this one-time invite link to enrol again:");
            println!("  {link}");
        }
        UsersCommand::SetRoles { name, roles } => {
            let user = accounts.set_roles(&name, &roles).map_err(|err| match err {
                accounts::AuthError::BadCredentials => anyhow::anyhow!("there is no user named {name:?}"),
                other => other.into(),
            })?;
            println!(
                "{} now has the roles {}; sessions the old roles allowed and these do not end within 2 seconds.",
                user.name,
                user.roles.join(", ")
            );
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

fn vault(config: &Config) -> anyhow::Result<vault::Vault> {
    let dir = config.data_dir.join("ca");
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&dir)?;
    Ok(vault::Vault::load_or_create(&dir.join("desktop_key"))?)
}

/// Every desktop, from the config file and the database, with its password opened.
fn all_desktops(
    config: &Config,
    store: &dyn Store,
    vault: &vault::Vault,
) -> anyhow::Result<Vec<(desktops::Desktop, String)>> {
    let mut all = Vec::new();
    for d in &config.desktops {
        let password = std::fs::read_to_string(&d.password_file)
            .with_context(|| format!("cannot read the password file of desktop {}", d.name))?
            .trim_end_matches(['\r', '\n'])
            .to_string();
        all.push((d.desktop()?, password));
    }
    for (desktop, sealed) in store.list_desktops()? {
        if all.iter().any(|(d, _)| d.name == desktop.name) {
            continue;
        }
        let password = vault.open(desktop.name.as_str(), &sealed)?;
        all.push((desktop, password));
    }
    all.sort_by(|a, b| a.0.name.as_str().cmp(b.0.name.as_str()));
    Ok(all)
}

fn desktops_command(config: Config, command: DesktopsCommand) -> anyhow::Result<()> {
    let store = open_store(&config)?;
    let vault = vault(&config)?;
    match command {
        DesktopsCommand::Add { name, addr, labels, user, domain, security, password_file } => {
            let desktop = desktops::Desktop {
                name: nodes::NodeName::parse(&name)?,
                addr,
                labels: nodes::parse_labels(&labels)?,
                username: user,
                domain,
                security: desktops::Security::parse(&security)?,
                // A new address or account: the next check pins the certificate again.
                tls_pin: None,
            };
            nodes::check_addr(&desktop.addr)?;
            if desktop.username.is_empty() {
                return Err(desktops::DesktopError::NoUser.into());
            }
            let password = match password_file {
                Some(path) => {
                    std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?
                }
                None => {
                    let mut line = String::new();
                    std::io::stdin().read_line(&mut line)?;
                    line
                }
            };
            let password = password.trim_end_matches(['\r', '\n']).to_string();
            if password.is_empty() {
                return Err(desktops::DesktopError::NoPassword.into());
            }
            store.put_desktop(&desktop, &vault.seal(desktop.name.as_str(), &password))?;
            println!(
                "Added desktop {} at {} as {} ({}).",
                desktop.name,
                desktop.addr,
                desktop.username,
                desktop.security.as_str()
            );
            println!("Check it with: gatehouse desktops check {}", desktop.name);
        }
        DesktopsCommand::List => {
            for (desktop, _) in all_desktops(&config, store.as_ref(), &vault)? {
                println!(
                    "{:<20} {:<22} {:<12} {:<4} {}",
                    desktop.name,
                    desktop.addr,
                    desktop.username,
                    desktop.security.as_str(),
                    nodes::format_labels(&desktop.labels)
                );
            }
        }
        DesktopsCommand::Check { name, pin, trust_first_use } => {
            let (mut desktop, password) = all_desktops(&config, store.as_ref(), &vault)?
                .into_iter()
                .find(|(d, _)| d.name.as_str() == name)
                .with_context(|| format!("there is no desktop named {name:?}"))?;
            let pinned_before = desktop.tls_pin.is_some();
            if let Some(pin) = pin {
                if !pin.starts_with("SHA256:") {
                    anyhow::bail!("a pin is the certificate's SHA-256 as this command prints it: SHA256:…");
                }
                if desktop.tls_pin.as_ref().is_some_and(|pinned| *pinned != pin) {
                    anyhow::bail!(
                        "{name} is already pinned to {}; add the desktop again to change its pin",
                        desktop.tls_pin.unwrap_or_default()
                    );
                }
                // The connection must present exactly this certificate before the account goes.
                desktop.tls_pin = Some(pin);
            }
            let runtime = tokio::runtime::Runtime::new()?;
            match runtime.block_on(rdp::check(&desktop, password, Duration::from_secs(3), trust_first_use)) {
                Ok(report) => {
                    println!(
                        "Connected to {} ({}) as {}: desktop {}x{}; {} graphics updates ({} bytes) in the first 3 s.",
                        desktop.name,
                        desktop.addr,
                        desktop.username,
                        report.width,
                        report.height,
                        report.fast_path_pdus,
                        report.bytes
                    );
                    if !pinned_before {
                        if config.desktops.iter().any(|d| d.name == name) {
                            println!(
                                "Its TLS certificate is {}; put it in the config as tls_pin to pin it.",
                                report.certificate_pin
                            );
                        } else {
                            store.pin_desktop(&name, &report.certificate_pin)?;
                            println!("Pinned its TLS certificate: {}", report.certificate_pin);
                        }
                    }
                }
                Err(err) => anyhow::bail!("{}: {}", desktop.name, err.explain()),
            }
        }
    }
    Ok(())
}

fn authorities(config: &Config) -> anyhow::Result<ca::Authorities> {
    let dir = config.data_dir.join("ca");
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&dir)?;
    Ok(ca::Authorities::load_or_create(&dir)?)
}

fn nodes_command(config: Config, command: NodesCommand) -> anyhow::Result<()> {
    let store = open_store(&config)?;
    match command {
        NodesCommand::Add { name, addr, labels, cert } => {
            let node =
                nodes::Node { name: nodes::NodeName::parse(&name)?, addr, labels: nodes::parse_labels(&labels)? };
            nodes::check_addr(&node.addr)?;
            if config.nodes.iter().any(|n| n.name == node.name) {
                anyhow::bail!("the node {} is defined in the config file; change it there", node.name);
            }
            store.put_node(&node)?;
            println!("Node {} registered at {} ({}).", node.name, node.addr, nodes::format_labels(&node.labels));
            let cas = authorities(&config)?;
            sign_host_certificate(&cas, &node, &cert, &config)?;
        }
        NodesCommand::SignHost { name, cert } => {
            let name = nodes::NodeName::parse(&name)?;
            let all = nodes::merge(&config.nodes, store.list_nodes()?);
            let node = all.iter().find(|n| n.name == name).with_context(|| format!("there is no node named {name}"))?;
            let cas = authorities(&config)?;
            sign_host_certificate(&cas, node, &cert, &config)?;
        }
        NodesCommand::List => {
            for node in nodes::merge(&config.nodes, store.list_nodes()?) {
                println!("{:<24} {:<24} {}", node.name, node.addr, nodes::format_labels(&node.labels));
            }
        }
        NodesCommand::Check { name, login } => {
            let name = nodes::NodeName::parse(&name)?;
            let all = nodes::merge(&config.nodes, store.list_nodes()?);
            let node = all.iter().find(|n| n.name == name).with_context(|| format!("there is no node named {name}"))?;
            let login = match login {
                Some(login) => login,
                None => config
                    .roles
                    .values()
                    .filter(|role| role.matches(node))
                    .flat_map(|role| role.logins.first().cloned())
                    .next()
                    .with_context(|| format!("no role grants a login on {name}; give one with --login"))?,
            };
            let cas = authorities(&config)?;
            let findings = tokio::runtime::Runtime::new()?.block_on(node_check::check(&cas, node, &login));
            let mut failed = 0;
            for finding in &findings {
                if finding.passed {
                    println!("ok    {}", finding.what);
                } else {
                    failed += 1;
                    println!("FAIL  {}: {}", finding.what, finding.fix);
                }
            }
            if failed > 0 {
                anyhow::bail!(
                    "{name} does not enforce Gatehouse's certificates ({failed} of the checks above failed); fix what they say, reload its sshd, and check again"
                );
            }
            println!("{name} enforces Gatehouse's certificates: one login, this node only, from the proxy only.");
        }
    }
    Ok(())
}

/// What a node's sshd_config needs to enforce Gatehouse's certificates.
fn node_sshd_lines(node: &str) -> [String; 5] {
    [
        "TrustedUserCAKeys /etc/ssh/gatehouse_user_ca.pub".into(),
        "HostCertificate /etc/ssh/ssh_host_ed25519_key-cert.pub".into(),
        // sshd turns the login it is asked for into the one principal it accepts.
        format!("AuthorizedPrincipalsCommand /bin/echo %u@{node}"),
        "AuthorizedPrincipalsCommandUser nobody".into(),
        "AuthorizedKeysFile none".into(),
    ]
}

/// Signs the host certificate when a host key is given, then prints what the node's
/// sshd_config needs.
fn sign_host_certificate(
    cas: &ca::Authorities,
    node: &nodes::Node,
    args: &HostCertArgs,
    config: &Config,
) -> anyhow::Result<()> {
    let user_ca_file = config.data_dir.join("ca").join("user_ca.pub");
    let cert_line = match &args.host_key {
        None => {
            println!();
            println!("No host key given. To sign the node's host certificate, copy its public host key here and run:");
            println!("  gatehouse nodes sign-host {} --host-key ssh_host_ed25519_key.pub", node.name);
            None
        }
        Some(key_path) => {
            let text = std::fs::read_to_string(key_path)
                .with_context(|| format!("cannot read the host key {}", key_path.display()))?;
            let host_key = russh::keys::ssh_key::PublicKey::from_openssh(text.trim())
                .with_context(|| format!("{} is not an OpenSSH public key", key_path.display()))?;
            let host = node.addr.rsplit_once(':').map_or(node.addr.as_str(), |(h, _)| h);
            let mut principals = vec![node.name.to_string()];
            if host != node.name.as_str() {
                principals.push(host.to_string());
            }
            let now = auth::now();
            // A little slack for clocks that run behind.
            let cert = cas.host.sign_host(
                &host_key,
                &principals,
                &format!("gatehouse node {}", node.name),
                now.saturating_sub(300),
                now + args.validity.as_secs(),
            )?;
            let out = args.out.clone().unwrap_or_else(|| {
                let key = key_path.to_string_lossy();
                PathBuf::from(format!("{}-cert.pub", key.strip_suffix(".pub").unwrap_or(&key)))
            });
            std::fs::write(&out, format!("{}\n", cert.to_openssh()?))
                .with_context(|| format!("cannot write the certificate to {}", out.display()))?;
            println!();
            println!("Host certificate for {} written to {}", principals.join(", "), out.display());
            println!(
                "(signed by the host CA {}, valid for {}).",
                cas.host.fingerprint(),
                humantime::format_duration(args.validity)
            );
            Some(out)
        }
    };
    println!();
    println!("On the node:");
    println!(
        "1. Save the Gatehouse user CA as /etc/ssh/gatehouse_user_ca.pub (a copy is in {}):",
        user_ca_file.display()
    );
    println!("   {}", cas.user.public_key_line());
    match cert_line {
        Some(out) => println!("2. Copy {} next to the host key on the node.", out.display()),
        None => println!("2. Sign the host certificate (above) and copy it next to the host key on the node."),
    }
    println!("3. Add to /etc/ssh/sshd_config, then reload sshd:");
    for line in node_sshd_lines(node.name.as_str()) {
        println!("   {line}");
    }
    println!("Each Gatehouse certificate names one principal, LOGIN@{}, lasts about a minute and must come", node.name);
    println!("from the proxy's address; the AuthorizedPrincipalsCommand line makes sshd admit a login only");
    println!("with a certificate for that login on this node. Then prove it: gatehouse nodes check {}", node.name);
    Ok(())
}

fn start(config: Config) -> anyhow::Result<()> {
    logging::init(config.log_format)?;
    let store = open_store(&config)?;
    let cas = authorities(&config)?;
    let host_ca = cas.host.fingerprint();
    let vault = Arc::new(vault(&config)?);
    let accounts = Accounts::new(store.clone(), vault.clone(), &config).with_host_ca_pin(host_ca.to_string());
    match accounts.seal_legacy_secrets() {
        Ok(0) => {}
        Ok(n) => tracing::info!(users = n, "sealed TOTP secrets stored in the clear by an older Gatehouse"),
        Err(err) => tracing::error!(%err, "cannot seal the TOTP secrets of an older database"),
    }
    let first_invite = first_admin_invite(&accounts, store.as_ref())?;
    let audit = audit::Audit::open(store.clone(), &config.data_dir.join("audit.jsonl"))?;
    match recording::close_interrupted(store.as_ref(), &config.data_dir) {
        Ok(0) => {}
        Ok(n) => tracing::warn!(recordings = n, "recordings cut short by the proxy stopping were marked so"),
        Err(err) => tracing::error!(%err, "cannot check for recordings cut short"),
    }
    let assets = http::assets::Assets::load(&config.web_root);
    let (raw, gzip) = assets.total_bytes();
    tracing::info!(raw_bytes = raw, gzip_bytes = gzip, "web app size");
    let (cert, key) = http::server::tls_files(&config)?;
    let acceptor = http::server::acceptor(&cert, &key)?;
    let passkeys = passkeys::Passkeys::new(&config.public_url, config.webauthn_rp_id.as_deref(), store.clone())
        .context("cannot set up passkeys (WebAuthn)")?;
    let state = http::AppState::new(http::Shared {
        accounts,
        passkeys,
        mfa_tickets: Mutex::new(Default::default()),
        store: store.clone(),
        config_nodes: config.nodes.clone(),
        config_desktops: config.desktops.iter().map(|d| d.desktop()).collect::<Result<_, _>>()?,
        config_desktop_passwords: config.desktops.iter().map(|d| (d.name.clone(), d.password_file.clone())).collect(),
        vault,
        roles: config.roles.clone(),
        cas,
        data_dir: config.data_dir.clone(),
        public_url: config.public_url.clone(),
        audit,
        assets,
        signin_limiter: Mutex::new(auth::rate_limit::RateLimiter::new(config.signin.attempts_per_ip_per_minute)),
        live: Arc::new(live::Live::default()),
        limits: config.limits.clone(),
        ssh_source_addresses: (!config.ssh.source_addresses.is_empty()).then(|| config.ssh.source_addresses.join(",")),
        viewings: Mutex::new(audit::Viewings::default()),
        certified: Mutex::new(Vec::new()),
    });
    let policy = live::Policy {
        roles: config.roles.clone(),
        config_nodes: config.nodes.clone(),
        config_desktops: state.config_desktops.clone(),
        recordings_dir: recording::directory(&config.data_dir),
        min_free_bytes: config.limits.min_free_disk_mb << 20,
    };
    let (live_sessions, audit_state) = (state.live.clone(), state.clone());
    let app = http::router(state);

    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        tracing::info!(addr = %config.listen, "listening");
        println!("Gatehouse is ready at {}", config.public_url);
        println!("Host CA fingerprint (browsers pin it): {host_ca}");
        if let Some(link) = first_invite {
            println!("First sign-in: open this one-time link to set the admin's password and TOTP:");
            println!("  {link}");
        }
        tokio::spawn(live::sweep(live_sessions, store.clone(), policy));
        tokio::spawn(async move {
            // Summaries of throttled audit kinds, even when nothing follows a burst.
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                audit_state.audit.flush(auth::now());
            }
        });
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
