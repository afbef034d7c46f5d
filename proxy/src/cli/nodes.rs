//! `gatehouse nodes`: add, list, sign host certificates for and check SSH nodes.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Subcommand;

use super::open::{authorities, inventory, open_store};
use crate::config::Config;
use crate::inventory::nodes;
use crate::ssh::check as node_check;
use crate::{auth, ca};

#[derive(Subcommand)]
pub enum NodesCommand {
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

#[derive(clap::Args)]
pub struct HostCertArgs {
    /// The node's host public key (e.g. a copy of /etc/ssh/ssh_host_ed25519_key.pub).
    #[arg(long)]
    pub host_key: Option<PathBuf>,
    /// Where to write the certificate; default: beside the key, as OpenSSH names it
    /// (KEY-cert.pub).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// How long the host certificate is valid.
    #[arg(long, default_value = "52weeks", value_parser = humantime::parse_duration)]
    pub validity: Duration,
}

pub fn run(config: Config, command: NodesCommand) -> anyhow::Result<()> {
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
            let all = inventory(&config, &store)?.nodes()?;
            let node = all.iter().find(|n| n.name == name).with_context(|| format!("there is no node named {name}"))?;
            let cas = authorities(&config)?;
            sign_host_certificate(&cas, node, &cert, &config)?;
        }
        NodesCommand::List => {
            for node in inventory(&config, &store)?.nodes()? {
                println!("{:<24} {:<24} {}", node.name, node.addr, nodes::format_labels(&node.labels));
            }
        }
        NodesCommand::Check { name, login } => {
            let name = nodes::NodeName::parse(&name)?;
            let all = inventory(&config, &store)?.nodes()?;
            let node = all.iter().find(|n| n.name == name).with_context(|| format!("there is no node named {name}"))?;
            let login = match login {
                Some(login) => login,
                None => crate::access::rbac::first_login(&config.roles, node)
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
            let principals = gatehouse_ssh_policy::host_principals(node.name.as_str(), &node.addr);
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
    for line in node_check::sshd_lines(node.name.as_str()) {
        println!("   {line}");
    }
    println!("Each Gatehouse certificate names one principal, LOGIN@{}, lasts about a minute and must come", node.name);
    println!("from the proxy's address; the AuthorizedPrincipalsCommand line makes sshd admit a login only");
    println!("with a certificate for that login on this node. Then prove it: gatehouse nodes check {}", node.name);
    Ok(())
}
