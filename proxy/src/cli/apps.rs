//! `gatehouse apps`: add, list and remove web apps, and rotate the key that signs their
//! identity assertions.

use std::sync::Arc;

use clap::Subcommand;

use super::open::{inventory, open_store, vault};
use crate::apps::Apps;
use crate::audit::Kind;
use crate::config::Config;
use crate::inventory::apps::{AppUri, ConfigApp};
use crate::inventory::nodes;

#[derive(Subcommand)]
pub enum AppsCommand {
    /// Register a web app: people with a role whose app_labels match reach it at
    /// `https://NAME.<public host>`.
    Add {
        name: String,
        /// Where the app listens, http://HOST:PORT (the proxy's network).
        #[arg(long)]
        uri: String,
        /// key=value,key=value
        #[arg(long, default_value = "")]
        labels: String,
        /// The Host header the app gets (default: the URI's HOST:PORT).
        #[arg(long)]
        host: Option<String>,
        /// Leave redirects to the app's internal address as they are.
        #[arg(long)]
        no_rewrite_redirects: bool,
    },
    /// List the apps and their public addresses.
    List,
    /// Remove an app added with `apps add` (its requests in flight end).
    Remove { name: String },
    /// Sign identity assertions with a new key from now on. The old key stays in
    /// /.well-known/jwks.json until the tokens it signed have expired.
    RotateKey,
    /// List the signing keys.
    Keys,
}

pub fn run(config: Config, command: AppsCommand) -> anyhow::Result<()> {
    let store = open_store(&config)?;
    let now = crate::auth::now();
    let apps = || -> anyhow::Result<Apps> {
        Ok(Apps::new(store.clone(), Arc::new(vault(&config)?), &config.public_url, config.app_access.clone()))
    };
    match command {
        AppsCommand::Add { name, uri, labels, host, no_rewrite_redirects } => {
            AppUri::parse(&uri)?;
            let app = ConfigApp {
                name,
                uri,
                labels: nodes::parse_labels(&labels)?,
                host,
                rewrite_redirects: !no_rewrite_redirects,
            }
            .app()?;
            if inventory(&config, &store)?.is_configured_app(app.name.as_str()) {
                anyhow::bail!("the config file defines an app named {}; change it there", app.name);
            }
            store.put_app(&app)?;
            let origin = apps()?.origins.map(|o| o.app_origin(app.name.as_str()));
            println!("Added app {} ({}).", app.name, app.uri);
            match origin {
                Some(origin) => println!("People whose roles' app_labels match reach it at {origin}"),
                None => println!("The public URL's host is an address, so apps cannot be served until it is a name."),
            }
        }
        AppsCommand::List => {
            let origins = apps()?.origins;
            for app in inventory(&config, &store)?.apps()? {
                let public = origins.as_ref().map_or_else(String::new, |o| o.app_origin(app.name.as_str()));
                println!(
                    "{:<20} {:<28} {:<40} {}",
                    app.name,
                    app.uri.to_string(),
                    public,
                    nodes::format_labels(&app.labels)
                );
            }
        }
        AppsCommand::Remove { name } => {
            if inventory(&config, &store)?.is_configured_app(&name) {
                anyhow::bail!("the app {name} comes from the config file; remove it there");
            }
            if !store.remove_app(&name)? {
                anyhow::bail!("there is no app named {name:?} (`gatehouse apps list` shows them)");
            }
            println!("Removed app {name}; its requests in flight end within 2 seconds.");
        }
        AppsCommand::RotateKey => {
            let (kid, signs_from) = apps()?.rotate(now)?;
            let audit = crate::audit::Audit::open(store.clone(), &config.data_dir.join("audit.jsonl"))?;
            let from = crate::access::locks::format_time(signs_from);
            audit.record(Kind::AppKeyRotated, None, None, &format!("new key {kid}, signing from {from}"));
            println!(
                "Key {kid} is published now and signs identity assertions from {from}; the old key signs until then and stays published {} s longer.",
                config.app_access.token_ttl.as_secs() + crate::apps::keys::CLOCK_SKEW_SECS
            );
        }
        AppsCommand::Keys => {
            for key in apps()?.keys()? {
                let time = crate::access::locks::format_time;
                let state = match key.retired_at {
                    Some(at) if at <= now => format!("retired at {}", time(at)),
                    Some(at) => format!("signing until {}", time(at)),
                    None if key.signs_from > now => format!("published, signs from {}", time(key.signs_from)),
                    None => "signing".to_string(),
                };
                println!("{}  made {}  {state}", key.kid, crate::access::locks::format_time(key.created_at));
            }
        }
    }
    Ok(())
}
