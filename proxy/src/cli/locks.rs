//! `gatehouse lock`: lock a user, a node or a desktop; list and remove locks.

use std::time::Duration;

use anyhow::Context;
use clap::Subcommand;

use super::open::{inventory, open_store};
use crate::access::locks::{self, LockTarget, NewLock};
use crate::auth;
use crate::config::Config;
use crate::inventory::nodes;

#[derive(Subcommand)]
pub enum LockCommand {
    /// Lock a user: they cannot sign in or connect, and their sessions end.
    User(LockArgs),
    /// Lock a node: nobody can connect to it, and its sessions end.
    Node(LockArgs),
    /// Lock a desktop: nobody can open it, and its sessions end.
    Desktop(LockArgs),
    /// Lock a web app: nobody can use it, and its requests in flight end.
    App(LockArgs),
    /// The locks in force.
    List,
    /// Remove a lock by its number (from `gatehouse lock list`).
    Remove { id: i64 },
}

#[derive(clap::Args)]
pub struct LockArgs {
    pub name: String,
    /// Why: the people the lock stops read it.
    #[arg(long)]
    pub reason: String,
    /// How long the lock holds (e.g. 2h, 3days); without it, until removed.
    #[arg(long = "for", value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,
}

pub fn run(config: Config, command: LockCommand) -> anyhow::Result<()> {
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
            if !inventory(&config, &store)?.nodes()?.iter().any(|n| n.name == name) {
                anyhow::bail!("there is no node named {name}");
            }
            (LockTarget::Node(name.to_string()), args)
        }
        LockCommand::Desktop(args) => {
            if !inventory(&config, &store)?.desktops()?.iter().any(|d| d.name.as_str() == args.name) {
                anyhow::bail!("there is no desktop named {:?}", args.name);
            }
            (LockTarget::Desktop(args.name.clone()), args)
        }
        LockCommand::App(args) => {
            if !inventory(&config, &store)?.apps()?.iter().any(|a| a.name.as_str() == args.name) {
                anyhow::bail!("there is no app named {:?}", args.name);
            }
            (LockTarget::App(args.name.clone()), args)
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
