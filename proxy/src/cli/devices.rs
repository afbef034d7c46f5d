//! `gatehouse devices`: register a trusted device for its owner (printing its one-time
//! enrolment link), list devices, remove one (the sessions it opened end).

use anyhow::Context;
use clap::Subcommand;

use super::open::open_store;
use crate::audit::{Audit, Kind};
use crate::auth;
use crate::config::Config;
use crate::devices::{self, Devices};

#[derive(Subcommand)]
pub enum DevicesCommand {
    /// Register a device and print a one-time enrolment link (valid 24 hours) for its
    /// owner to open, signed in, on that device.
    Add {
        name: String,
        /// The user the device belongs to.
        #[arg(long)]
        owner: String,
    },
    /// Every device: its number, owner, name, and what its attestation said.
    List,
    /// Remove a device by its number (from `gatehouse devices list`); the sessions it
    /// opened end within 2 seconds.
    Remove { id: i64 },
}

pub fn run(config: Config, command: DevicesCommand) -> anyhow::Result<()> {
    let store = open_store(&config)?;
    let devices = Devices::new(store.clone(), config.device_trust.clone(), &config.public_url);
    let audit = Audit::open(store.clone(), &config.data_dir.join("audit.jsonl"))
        .with_context(|| format!("cannot open the audit log in {}", config.data_dir.display()))?;
    let now = auth::now();
    match command {
        DevicesCommand::Add { name, owner } => {
            let user = store.user_by_name(&owner)?.with_context(|| format!("there is no user named {owner:?}"))?;
            let (id, link) = devices.register(&user, &name, now)?;
            let name = devices::check_name(&name)?;
            audit.record(
                Kind::DeviceAdded,
                Some(&user.name),
                None,
                &format!("device {name:?} ({id}), by the command line"),
            );
            println!("Registered device {id}, {name:?}, for {}.", user.name);
            println!(
                "Have {} open this one-time link on that device, signed in (valid for {} hours):",
                user.name,
                devices::ENROLMENT_TTL_SECS / 3600
            );
            println!("  {link}");
        }
        DevicesCommand::List => {
            println!(
                "{:<4} {:<20} {:<24} {:<10} {:<8} {:<38} binding",
                "id", "owner", "name", "state", "format", "aaguid"
            );
            for device in devices.all()? {
                let (state, format, aaguid, binding) = match &device.enrolled {
                    Some(e) => (
                        "enrolled",
                        e.attestation.format.clone(),
                        e.attestation.aaguid.clone().unwrap_or_else(|| "-".into()),
                        if e.attestation.hardware_bound() { "hardware-bound" } else { "may be synced" },
                    ),
                    None => ("waiting", "-".into(), "-".into(), "-"),
                };
                println!(
                    "{:<4} {:<20} {:<24} {:<10} {:<8} {:<38} {binding}",
                    device.id, device.owner, device.name, state, format, aaguid
                );
            }
        }
        DevicesCommand::Remove { id } => {
            let device = devices.remove(id)?;
            audit.record(
                Kind::DeviceRemoved,
                Some(&device.owner),
                None,
                &format!("device {:?} ({id}), by the command line", device.name),
            );
            println!(
                "Removed device {id}, {:?} of {}; the sessions it opened end within 2 seconds.",
                device.name, device.owner
            );
        }
    }
    Ok(())
}
