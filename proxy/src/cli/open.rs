//! Opening what the commands work on: the database (SQLite in the data directory, or
//! the PostgreSQL server of `[database] url`), the certificate authorities and the
//! desktop vault (in `keys_dir`), the inventory.
//!
//! One proxy makes its keys at first start. Several proxies share one set: with
//! PostgreSQL configured, a proxy never makes keys (`gatehouse keys init` does, once, and
//! each proxy is given a copy), and at start it checks its keys' fingerprints against
//! the ones the cluster recorded, refusing to serve with any other.

use std::os::unix::fs::DirBuilderExt;
use std::sync::Arc;

use anyhow::Context;

use crate::ca;
use crate::config::Config;
use crate::inventory::Inventory;
use crate::store::backend::Store;
use crate::store::postgres::PostgresStore;
use crate::store::sqlite::SqliteStore;
use crate::vault;

/// The files of `keys_dir`.
pub const KEY_FILES: [&str; 5] = ["user_ca", "session_ca", "host_ca", "proxy_host_key", "desktop_key"];

/// The database, in a data directory only its owner can enter (0700), in files only its
/// owner can read (0600; SQLite gives the WAL and shared-memory files the database's mode).
pub fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let dir = &config.data_dir;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create the data directory {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("cannot make the data directory {} private", dir.display()))?;
    if config.database.url.is_some() {
        let store = PostgresStore::connect(&config.database).context("cannot open the PostgreSQL database")?;
        return Ok(Arc::new(store));
    }
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

/// With PostgreSQL, the keys must all be there already: a proxy that made its own would
/// sign what no node of the cluster trusts, and seal what no other proxy opens.
fn shared_keys_present(config: &Config) -> anyhow::Result<std::path::PathBuf> {
    let dir = config.keys_dir();
    if config.database.url.is_some() {
        let missing: Vec<&str> = KEY_FILES.iter().copied().filter(|f| !dir.join(f).exists()).collect();
        if !missing.is_empty() {
            anyhow::bail!(
                "{} lacks {}. With [database] url set, every proxy uses one set of keys and none makes its own: \
                 run `gatehouse keys init` once and copy {} to every proxy (README: Running several proxies)",
                dir.display(),
                missing.join(", "),
                dir.display()
            );
        }
    }
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&dir)?;
    Ok(dir)
}

pub fn vault(config: &Config) -> anyhow::Result<vault::Vault> {
    let dir = shared_keys_present(config)?;
    Ok(vault::Vault::load_or_create(&dir.join("desktop_key"))?)
}

pub fn authorities(config: &Config) -> anyhow::Result<ca::Authorities> {
    let dir = shared_keys_present(config)?;
    Ok(ca::Authorities::load_or_create(&dir)?)
}

/// `gatehouse keys init`: makes the keys that are missing in `keys_dir`, and prints
/// their fingerprints.
pub fn init_keys(config: &Config) -> anyhow::Result<()> {
    let dir = config.keys_dir();
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&dir)?;
    let cas = ca::Authorities::load_or_create(&dir)?;
    let vault = vault::Vault::load_or_create(&dir.join("desktop_key"))?;
    println!("Keys in {} (copy this folder to every proxy):", dir.display());
    for (name, fingerprint) in fingerprints(&cas, &vault) {
        println!("  {name:<16} {fingerprint}");
    }
    Ok(())
}

fn fingerprints(cas: &ca::Authorities, vault: &vault::Vault) -> [(&'static str, String); 5] {
    use russh::keys::ssh_key::HashAlg;
    [
        ("user_ca", cas.user.fingerprint().to_string()),
        ("session_ca", cas.session.fingerprint().to_string()),
        ("host_ca", cas.host.fingerprint().to_string()),
        ("proxy_host_key", cas.proxy_host_key.fingerprint(HashAlg::Sha256).to_string()),
        ("desktop_key", vault.fingerprint().to_string()),
    ]
}

/// A proxy of a cluster serves only with the cluster's keys: the first proxy's
/// fingerprints are recorded, every later one must match them.
pub fn agree_keys(
    config: &Config,
    store: &dyn Store,
    cas: &ca::Authorities,
    vault: &vault::Vault,
) -> anyhow::Result<()> {
    if config.database.url.is_none() {
        return Ok(());
    }
    for (name, mine) in fingerprints(cas, vault) {
        let cluster = store.agree_key(name, &mine).context("cannot compare this proxy's keys with the cluster's")?;
        if cluster != mine {
            anyhow::bail!(
                "this proxy's {name} ({mine}) is not the cluster's ({cluster}): give it a copy of keys_dir from \
                 a proxy of the cluster ({})",
                config.keys_dir().display()
            );
        }
    }
    Ok(())
}

/// The nodes and desktops of the config file and the database.
pub fn inventory(config: &Config, store: &Arc<dyn Store>) -> anyhow::Result<Inventory> {
    Ok(Inventory::new(store.clone(), Arc::new(vault(config)?), &config.nodes, &config.desktops, &config.apps)?)
}

/// Where recordings are written and read, as `[recordings]` says. `take_spool`: this
/// process is the proxy, which writes recordings: it locks the spool for its life and
/// writes as the spool's writer id (the lock is the returned file); the other commands
/// only read.
pub fn archive(
    config: &Config,
    take_spool: bool,
) -> anyhow::Result<(crate::recordings::archive::Archive, Option<std::fs::File>)> {
    use crate::recordings::{archive::Archive, completer, objects::Objects};
    let settings = &config.recordings;
    let spool = settings.spool.clone().unwrap_or_else(|| crate::recordings::directory(&config.data_dir));
    let (writer, lock) = if take_spool {
        let (writer, lock) = completer::claim_spool(&spool)
            .with_context(|| format!("cannot use the recordings spool {}", spool.display()))?;
        (writer, Some(lock))
    } else {
        ("command-line".to_string(), None)
    };
    let Some(store) = &settings.store else {
        return Ok((Archive::local(&config.data_dir, writer), lock));
    };
    let url = crate::config::StoreUrl::parse(store)?;
    // The usual AWS_* variables first; what the config says wins.
    let mut builder = object_store::aws::AmazonS3Builder::from_env().with_bucket_name(&url.bucket);
    if let Some(endpoint) = &settings.endpoint {
        builder = builder.with_endpoint(endpoint);
    }
    if let Some(region) = &settings.region {
        builder = builder.with_region(region);
    }
    if let Some(key) = &settings.access_key_id {
        builder = builder.with_access_key_id(key);
    }
    if let Some(secret) = &settings.secret_access_key {
        builder = builder.with_secret_access_key(secret);
    }
    if let Some(file) = &settings.secret_access_key_file {
        let secret = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read [recordings] secret_access_key_file {}", file.display()))?;
        builder = builder.with_secret_access_key(secret.trim());
    }
    builder = builder.with_allow_http(settings.allow_http);
    let s3 = builder.build().with_context(|| format!("cannot use the object store {store}"))?;
    let objects = Objects::new(Arc::new(s3), &url.prefix, store.clone());
    Ok((Archive::with_objects(&config.data_dir, spool, objects, writer), lock))
}
