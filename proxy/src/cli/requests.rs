//! `gatehouse requests`: list access requests, and approve, deny or revoke them as an
//! admin (under a name of your choosing, which the audit trail and the requester see).
//! An admin's approval counts as one, like a reviewer's; the requester still cannot
//! review their own request.

use clap::Subcommand;

use super::open::open_store;
use crate::access::locks::format_time;
use crate::access::requests::human;
use crate::audit::Audit;
use crate::auth;
use crate::config::Config;
use crate::gate::requests::{AccessRequests, Actor};

/// The longest the command waits for the webhook to take its event.
const WEBHOOK_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

#[derive(Subcommand)]
pub enum RequestsCommand {
    /// Pending requests, and those of the last week, newest first.
    List,
    /// Approve a request (one approval towards the role's threshold).
    Approve(ReviewArgs),
    /// Deny a request.
    Deny(ReviewArgs),
    /// End an approved request now: the sessions it allowed end within two seconds.
    Revoke(ReviewArgs),
}

#[derive(clap::Args)]
pub struct ReviewArgs {
    /// The request's number (from `gatehouse requests list`).
    pub id: i64,
    /// What the requester reads.
    #[arg(long, default_value = "")]
    pub comment: String,
    /// The name the review is recorded under.
    #[arg(long = "as", default_value = "admin")]
    pub reviewer: String,
}

pub fn run(config: Config, command: RequestsCommand) -> anyhow::Result<()> {
    let store = open_store(&config)?;
    let audit = Audit::open(store.clone(), &config.data_dir.join("audit.jsonl"))?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let _entered = runtime.enter();
    let (webhook, delivery) = match config.access_requests.webhook_url.clone() {
        Some(url) => {
            let (webhook, task) = crate::webhook::Webhook::new(url);
            (Some(webhook), Some(task))
        }
        None => (None, None),
    };
    let requests = AccessRequests::new(store, config.roles.clone(), webhook, config.public_url.clone());
    let now = auth::now();
    if let RequestsCommand::Approve(args) | RequestsCommand::Deny(args) | RequestsCommand::Revoke(args) = &command
        && args.reviewer.trim().is_empty()
    {
        anyhow::bail!("--as needs a name");
    }
    let outcome = match command {
        RequestsCommand::List => {
            for request in requests.recent(now)? {
                let info = requests.info(&request, None, now);
                let until = info.expires_at.map(|at| format!(" until {}", format_time(at))).unwrap_or_default();
                println!(
                    "{:<5} {:<16} {:<12} {:<8} {}/{} {:>6}{until}  {}",
                    info.id,
                    info.user,
                    info.role,
                    info.status,
                    info.approvals,
                    info.approvals_needed,
                    human(info.duration_secs),
                    info.reason
                );
            }
            None
        }
        RequestsCommand::Approve(args) => {
            let actor = Actor::Admin { name: &args.reviewer };
            Some(requests.review(&audit, None, actor, args.id, &verdict(true, &args), now)?)
        }
        RequestsCommand::Deny(args) => {
            let actor = Actor::Admin { name: &args.reviewer };
            Some(requests.review(&audit, None, actor, args.id, &verdict(false, &args), now)?)
        }
        RequestsCommand::Revoke(args) => {
            let actor = Actor::Admin { name: &args.reviewer };
            Some(requests.revoke(&audit, None, actor, args.id, &args.comment, now)?)
        }
    };
    if let Some(request) = outcome {
        let info = requests.info(&request, None, now);
        let sessions = if info.status == "revoked" { "; its sessions end within 2 seconds" } else { "" };
        println!(
            "Request {} ({} for role {}) is {} ({}/{} approvals){sessions}.",
            info.id, info.user, info.role, info.status, info.approvals, info.approvals_needed
        );
    }
    // Closing the queue lets the delivery finish what was queued, then end; a receiver
    // that does not answer holds the command for at most this long.
    drop(requests);
    if let Some(delivery) = delivery
        && runtime.block_on(tokio::time::timeout(WEBHOOK_WAIT, delivery)).is_err()
    {
        eprintln!("The webhook did not take the event within {} s; it was not delivered.", WEBHOOK_WAIT.as_secs());
    }
    Ok(())
}

fn verdict(approve: bool, args: &ReviewArgs) -> gatehouse_proto::api::ReviewAccessRequest {
    gatehouse_proto::api::ReviewAccessRequest { approve, comment: args.comment.clone() }
}
