//! What people can reach: SSH nodes, remote desktops and web apps, from the config file
//! and the database. [`Inventory`] is the one view of them that everything decides over:
//! the config wins on a name clash, and a desktop's password is opened here and nowhere
//! else.

pub mod apps;
pub mod desktops;
pub mod nodes;

use std::path::PathBuf;
use std::sync::Arc;

use apps::{App, ConfigApp};
use desktops::{ConfigDesktop, Desktop};
use nodes::{Node, NodeError};

use crate::store::StoreError;
use crate::store::inventory::InventoryStore;
use crate::vault::Vault;

/// Nodes and desktops as they are now. Cheap to clone: every part is shared.
#[derive(Clone)]
pub struct Inventory {
    store: Arc<dyn InventoryStore>,
    vault: Arc<Vault>,
    config_nodes: Arc<[Node]>,
    /// The config file's desktops, each with the file its password is read from.
    config_desktops: Arc<[(Desktop, PathBuf)]>,
    config_apps: Arc<[App]>,
}

/// Why the config file's inventory is not one.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error(transparent)]
    Node(#[from] NodeError),
    #[error(transparent)]
    App(#[from] apps::AppError),
}

/// Why a desktop's password cannot be had.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("there is no desktop named {0}")]
    NoSuchDesktop(String),
    #[error("cannot read the password file of desktop {0}: {1}")]
    File(String, std::io::Error),
    #[error("cannot open the sealed password of desktop {0}: {1}")]
    Sealed(String, crate::vault::VaultError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Inventory {
    pub fn new(
        store: Arc<dyn InventoryStore>,
        vault: Arc<Vault>,
        config_nodes: &[Node],
        config_desktops: &[ConfigDesktop],
        config_apps: &[ConfigApp],
    ) -> Result<Inventory, InventoryError> {
        let config_desktops = config_desktops
            .iter()
            .map(|d| Ok((d.desktop()?, d.password_file.clone())))
            .collect::<Result<_, NodeError>>()?;
        let config_apps = config_apps.iter().map(ConfigApp::app).collect::<Result<_, _>>()?;
        Ok(Inventory { store, vault, config_nodes: config_nodes.into(), config_desktops, config_apps })
    }

    /// Every web app, sorted by name.
    pub fn apps(&self) -> Result<Vec<App>, StoreError> {
        Ok(apps::merge(&self.config_apps, self.store.list_apps()?))
    }

    /// Whether the app named `name` comes from the config file.
    pub fn is_configured_app(&self, name: &str) -> bool {
        self.config_apps.iter().any(|a| a.name.as_str() == name)
    }

    /// Every node, sorted by name.
    pub fn nodes(&self) -> Result<Vec<Node>, StoreError> {
        Ok(nodes::merge(&self.config_nodes, self.store.list_nodes()?))
    }

    /// Every desktop, sorted by name.
    pub fn desktops(&self) -> Result<Vec<Desktop>, StoreError> {
        let config: Vec<Desktop> = self.config_desktops.iter().map(|(d, _)| d.clone()).collect();
        let added = self.store.list_desktops()?.into_iter().map(|(d, _)| d).collect();
        Ok(desktops::merge(&config, added))
    }

    /// Whether the desktop named `name` comes from the config file (which the command
    /// line cannot change).
    pub fn is_configured_desktop(&self, name: &str) -> bool {
        self.config_desktops.iter().any(|(d, _)| d.name.as_str() == name)
    }

    /// The password of the desktop named `name`: read from its file for a config
    /// desktop, opened from the vault for one added with the command line. Only to
    /// connect with; it never leaves the proxy.
    pub fn desktop_password(&self, name: &str) -> Result<String, PasswordError> {
        if let Some((_, file)) = self.config_desktops.iter().find(|(d, _)| d.name.as_str() == name) {
            let text = std::fs::read_to_string(file).map_err(|err| PasswordError::File(name.to_string(), err))?;
            return Ok(text.trim_end_matches(['\r', '\n']).to_string());
        }
        let added = self.store.list_desktops()?;
        let (_, sealed) = added
            .iter()
            .find(|(d, _)| d.name.as_str() == name)
            .ok_or_else(|| PasswordError::NoSuchDesktop(name.to_string()))?;
        self.vault.open(name, sealed).map_err(|err| PasswordError::Sealed(name.to_string(), err))
    }
}
