//! `gatehouse users`: add, list, reset and re-role users.

use std::sync::Arc;

use clap::Subcommand;

use super::open::{authorities, open_store, vault};
use crate::accounts::{self, Accounts};
use crate::auth;
use crate::config::Config;

#[derive(Subcommand)]
pub enum UsersCommand {
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

pub fn run(config: Config, command: UsersCommand) -> anyhow::Result<()> {
    let store = open_store(&config)?;
    let pin = authorities(&config)?.host.fingerprint().to_string();
    let accounts = Accounts::new(store.clone(), store.clone(), Arc::new(vault(&config)?), &config)
        .with_host_ca_pin(pin)
        .with_single_sign_on(store.clone());
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
                let links = store.sso_links(user.id)?;
                let state = match (user.is_enrolled(), links.first()) {
                    (true, _) => "enrolled".to_string(),
                    (false, Some(connector)) => format!("sso:{connector}"),
                    (false, None) => "invited".to_string(),
                };
                println!("{:<24} {:<10} {}", user.name, state, user.roles.join(","));
            }
        }
    }
    Ok(())
}
