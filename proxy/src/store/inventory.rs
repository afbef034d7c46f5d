//! The inventory as persisted: nodes, desktops and web apps added with the command line
//! (the config file's are not stored), each desktop with its sealed password.

use super::Result;
use crate::inventory::apps::App;
use crate::inventory::desktops::Desktop;
use crate::inventory::nodes::Node;

/// Nodes and desktops.
pub trait InventoryStore: Send + Sync {
    /// Adds a node, or replaces the one of the same name.
    fn put_node(&self, node: &Node) -> Result<()>;
    fn list_nodes(&self) -> Result<Vec<Node>>;

    /// Adds a desktop, or replaces the one of the same name; the password comes sealed.
    fn put_desktop(&self, desktop: &Desktop, sealed_password: &[u8]) -> Result<()>;
    /// Every desktop with its sealed password.
    fn list_desktops(&self) -> Result<Vec<(Desktop, Vec<u8>)>>;
    fn pin_desktop(&self, name: &str, pin: &str) -> Result<()>;

    /// Adds an app, or replaces the one of the same name.
    fn put_app(&self, app: &App) -> Result<()>;
    fn list_apps(&self) -> Result<Vec<App>>;
    /// False if there was no such app.
    fn remove_app(&self, name: &str) -> Result<bool>;
}
