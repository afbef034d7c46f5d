//! `gatehouse start`: opens everything, composes the [`Gatehouse`], and serves.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;

use super::logging;
use super::open::{archive, authorities, open_store, vault};
use crate::accounts::Accounts;
use crate::config::Config;
use crate::gate::Gatehouse;
use crate::inventory::Inventory;
use crate::recordings as recording;
use crate::sessions as live;
use crate::store::accounts::AccountStore;
use crate::{audit, auth, http, passkeys};

pub fn run(config: Config) -> anyhow::Result<()> {
    logging::init(config.log_format)?;
    let store = open_store(&config)?;
    let cas = authorities(&config)?;
    let host_ca = cas.host.fingerprint();
    let vault = Arc::new(vault(&config)?);
    super::open::agree_keys(&config, store.as_ref(), &cas, &vault)?;
    let accounts = Accounts::new(store.clone(), store.clone(), vault.clone(), &config)
        .with_host_ca_pin(host_ca.to_string())
        .with_single_sign_on(store.clone());
    match accounts.seal_legacy_secrets() {
        Ok(0) => {}
        Ok(n) => tracing::info!(users = n, "sealed TOTP secrets stored in the clear by an older Gatehouse"),
        Err(err) => tracing::error!(%err, "cannot seal the TOTP secrets of an older database"),
    }
    let first_invite = accounts.first_admin_invite(auth::now())?;
    let audit = audit::Audit::open(store.clone(), &config.data_dir.join("audit.jsonl"))?;
    // Held for the process's life: the spool is this proxy's alone.
    let (archive, _spool_lock) = archive(&config, true)?;
    let archive = Arc::new(archive);
    match archive.objects() {
        Some(objects) => {
            tracing::info!(store = objects.name(), spool = %archive.spool().display(), "recordings go to the object store")
        }
        None => tracing::info!(folder = %archive.spool().display(), "recordings are kept as files"),
    }
    let runtime = tokio::runtime::Runtime::new()?;
    match runtime.block_on(recording::completer::complete(&archive, store.as_ref(), auth::now())) {
        Ok(0) => {}
        Ok(n) => tracing::warn!(recordings = n, "recordings cut short by their proxy stopping were marked so"),
        Err(err) => tracing::error!(%err, "cannot check for recordings cut short"),
    }
    let assets = http::assets::Assets::load(&config.web_root);
    let (raw, gzip, brotli) = assets.total_bytes();
    tracing::info!(raw_bytes = raw, gzip_bytes = gzip, brotli_bytes = brotli, "web app size");
    let (cert, key) = http::server::tls_files(&config)?;
    let acceptor = http::server::acceptor(&cert, &key)?;
    let passkeys = passkeys::Passkeys::new(&config.public_url, config.webauthn_rp_id.as_deref(), store.clone())
        .context("cannot set up passkeys (WebAuthn)")?;
    let inventory = Inventory::new(store.clone(), vault.clone(), &config.nodes, &config.desktops, &config.apps)?;
    let apps = crate::apps::Apps::new(store.clone(), vault, &config.public_url, config.app_access.clone());
    apps.ensure_key(auth::now()).context("cannot make the key that signs apps' identity assertions")?;
    if apps.origins.is_none() {
        tracing::warn!(public_url = %config.public_url, "the public URL's host is an address, so web apps cannot be served (each needs a name under it)");
    }
    let sso = crate::sso::Sso::new(&config.sso, &config.public_url, store.clone())?;
    let (webhook, webhook_task) = match config.access_requests.webhook_url.clone() {
        Some(url) => {
            let (webhook, task) = crate::webhook::Webhook::new(url);
            (Some(webhook), Some(task))
        }
        None => (None, None),
    };
    let gatehouse = Arc::new(Gatehouse {
        accounts,
        passkeys,
        store: store.clone(),
        inventory: inventory.clone(),
        roles: config.roles.clone(),
        cas,
        data_dir: config.data_dir.clone(),
        archive: archive.clone(),
        public_url: config.public_url.clone(),
        audit,
        live: Arc::new(live::Live::default()),
        limits: config.limits.clone(),
        desktop_codecs: config.desktop_codecs.clone(),
        ssh_source_addresses: (!config.ssh.source_addresses.is_empty()).then(|| config.ssh.source_addresses.join(",")),
        viewings: Mutex::new(audit::Viewings::default()),
        passes: crate::gate::passes::Passes::new(store.clone()),
        sso,
        requests: crate::gate::requests::AccessRequests::new(
            store.clone(),
            config.roles.clone(),
            webhook,
            config.public_url.clone(),
        ),
        devices: crate::devices::Devices::new(store.clone(), config.device_trust.clone(), &config.public_url),
        apps,
        shared: Arc::default(),
        videos: crate::recordings::video::Exports::new(&config.data_dir),
    });
    let policy = live::Policy {
        roles: config.roles.clone(),
        inventory,
        recordings_dir: archive.spool().to_path_buf(),
        min_free_bytes: config.limits.min_free_disk_mb << 20,
    };
    let (live_sessions, audit_state) = (gatehouse.live.clone(), gatehouse.clone());
    let requests_state = gatehouse.clone();
    let app = http::router(http::AppState::new(gatehouse, assets, config.signin.attempts_per_ip_per_minute));

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
        if let Some(addr) = config.metrics_listen {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr} for metrics"))?;
            tracing::info!(%addr, "metrics at /metrics");
            tokio::spawn(http::ops::serve_metrics(listener, live_sessions.clone()));
        }
        tokio::spawn(live::sweep(live_sessions, store.clone(), policy));
        if let Some(task) = webhook_task {
            tokio::spawn(task);
        }
        tokio::spawn(recording::completer::run(archive, store.clone()));
        tokio::spawn(async move {
            // Summaries of throttled audit kinds, even when nothing follows a burst.
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                audit_state.audit.flush(auth::now());
            }
        });
        tokio::spawn(clean_up_expired(store));
        tokio::spawn(async move {
            // Expired access requests, audited and announced once across the cluster.
            let mut tick = tokio::time::interval(Duration::from_secs(2));
            loop {
                tick.tick().await;
                if let Err(err) = requests_state.requests.note_expired(&requests_state.audit, auth::now()) {
                    tracing::warn!(%err, "cannot check for expired access requests");
                }
            }
        });
        tokio::select! {
            () = http::server::serve(listener, acceptor, app, config.trusted_proxies.clone().into()) => {}
            _ = shutdown_signal() => tracing::info!("shutting down"),
        }
        anyhow::Ok(())
    })
}

async fn clean_up_expired(store: Arc<dyn AccountStore>) {
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
