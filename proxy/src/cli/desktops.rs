//! `gatehouse desktops`: add, list and check remote desktops.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Subcommand;

use super::open::{inventory, open_store, vault};
use crate::config::Config;
use crate::inventory::{desktops, nodes};
use crate::rdp::connect as rdp;

#[derive(Subcommand)]
pub enum DesktopsCommand {
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

pub fn run(config: Config, command: DesktopsCommand) -> anyhow::Result<()> {
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
            for desktop in inventory(&config, &store)?.desktops()? {
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
            let inventory = inventory(&config, &store)?;
            let mut desktop = inventory
                .desktops()?
                .into_iter()
                .find(|d| d.name.as_str() == name)
                .with_context(|| format!("there is no desktop named {name:?}"))?;
            let password = inventory.desktop_password(&name)?;
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
                        if inventory.is_configured_desktop(&name) {
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
