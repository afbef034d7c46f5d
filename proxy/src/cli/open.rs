//! Opening what the commands work on, in the data directory: the database, the
//! certificate authorities, the desktop vault, the inventory.

use std::os::unix::fs::DirBuilderExt;
use std::sync::Arc;

use anyhow::Context;

use crate::ca;
use crate::config::Config;
use crate::inventory::Inventory;
use crate::store::backend::Store;
use crate::store::sqlite::SqliteStore;
use crate::vault;

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

pub fn vault(config: &Config) -> anyhow::Result<vault::Vault> {
    let dir = config.data_dir.join("ca");
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&dir)?;
    Ok(vault::Vault::load_or_create(&dir.join("desktop_key"))?)
}

pub fn authorities(config: &Config) -> anyhow::Result<ca::Authorities> {
    let dir = config.data_dir.join("ca");
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&dir)?;
    Ok(ca::Authorities::load_or_create(&dir)?)
}

/// The nodes and desktops of the config file and the database.
pub fn inventory(config: &Config, store: &Arc<dyn Store>) -> anyhow::Result<Inventory> {
    Ok(Inventory::new(store.clone(), Arc::new(vault(config)?), &config.nodes, &config.desktops)?)
}
