//! [`InventoryStore`] on SQLite.

use rusqlite::params;

use super::SqliteStore;
use crate::inventory::apps::App;
use crate::inventory::desktops::{Desktop, Security};
use crate::inventory::nodes::{Node, NodeError, NodeName, format_labels, parse_labels};
use crate::store::inventory::InventoryStore;
use crate::store::{Result, StoreError};

impl InventoryStore for SqliteStore {
    fn put_node(&self, node: &Node) -> Result<()> {
        self.conn().execute(
            "INSERT INTO nodes (name, addr, labels) VALUES (?1, ?2, ?3)
             ON CONFLICT(name) DO UPDATE SET addr = excluded.addr, labels = excluded.labels",
            params![node.name.as_str(), node.addr, format_labels(&node.labels)],
        )?;
        Ok(())
    }

    fn list_nodes(&self) -> Result<Vec<Node>> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT name, addr, labels FROM nodes ORDER BY name")?;
        let rows = stmt
            .query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?, row.get::<_, String>(2)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter()
            .map(|(name, addr, labels)| {
                let corrupt = |e: NodeError| StoreError::Corrupt(format!("node {name:?}: {e}"));
                Ok(Node {
                    name: NodeName::parse(&name).map_err(corrupt)?,
                    addr,
                    labels: parse_labels(&labels).map_err(corrupt)?,
                })
            })
            .collect()
    }

    fn put_desktop(&self, d: &Desktop, sealed_password: &[u8]) -> Result<()> {
        self.conn().execute(
            "INSERT INTO desktops (name, addr, labels, username, domain, security, password_sealed, tls_pin)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT(name) DO UPDATE SET addr = excluded.addr, labels = excluded.labels, username = excluded.username,
                domain = excluded.domain, security = excluded.security, password_sealed = excluded.password_sealed,
                tls_pin = excluded.tls_pin",
            params![
                d.name.as_str(),
                d.addr,
                format_labels(&d.labels),
                d.username,
                d.domain,
                d.security.as_str(),
                sealed_password,
                d.tls_pin
            ],
        )?;
        Ok(())
    }

    fn list_desktops(&self) -> Result<Vec<(Desktop, Vec<u8>)>> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare("SELECT name, addr, labels, username, domain, security, password_sealed, tls_pin FROM desktops ORDER BY name")?;
        let rows = stmt
            .query_map([], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, String>(3)?,
                    row.get::<_, Option<String>>(4)?,
                    row.get::<_, String>(5)?,
                    row.get::<_, Vec<u8>>(6)?,
                    row.get::<_, Option<String>>(7)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter()
            .map(|(name, addr, labels, username, domain, security, sealed, tls_pin)| {
                let corrupt = |e: String| StoreError::Corrupt(format!("desktop {name:?}: {e}"));
                let desktop = Desktop {
                    name: NodeName::parse(&name).map_err(|e| corrupt(e.to_string()))?,
                    addr,
                    labels: parse_labels(&labels).map_err(|e| corrupt(e.to_string()))?,
                    username,
                    domain,
                    security: Security::parse(&security).map_err(|e| corrupt(e.to_string()))?,
                    tls_pin,
                };
                Ok((desktop, sealed))
            })
            .collect()
    }

    fn pin_desktop(&self, name: &str, pin: &str) -> Result<()> {
        self.conn().execute("UPDATE desktops SET tls_pin = ?2 WHERE name = ?1", params![name, pin])?;
        Ok(())
    }

    fn put_app(&self, app: &App) -> Result<()> {
        self.put_app_row(app)
    }

    fn list_apps(&self) -> Result<Vec<App>> {
        self.list_app_rows()
    }

    fn remove_app(&self, name: &str) -> Result<bool> {
        self.remove_app_row(name)
    }
}
