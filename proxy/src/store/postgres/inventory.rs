//! [`InventoryStore`] on PostgreSQL.

use super::PostgresStore;
use crate::inventory::apps::App;
use crate::inventory::desktops::{Desktop, Security};
use crate::inventory::nodes::{Node, NodeName, format_labels, parse_labels};
use crate::store::inventory::InventoryStore;
use crate::store::{Result, StoreError};

impl InventoryStore for PostgresStore {
    fn put_node(&self, node: &Node) -> Result<()> {
        let (name, addr, labels) = (node.name.as_str().to_string(), node.addr.clone(), format_labels(&node.labels));
        self.run(move |c| async move {
            c.execute(
                "INSERT INTO nodes (name, addr, labels) VALUES ($1, $2, $3)
                 ON CONFLICT (name) DO UPDATE SET addr = excluded.addr, labels = excluded.labels",
                &[&name, &addr, &labels],
            )
            .await?;
            Ok(())
        })
    }

    fn list_nodes(&self) -> Result<Vec<Node>> {
        self.run(|c| async move {
            let rows = c.query("SELECT name, addr, labels FROM nodes ORDER BY name", &[]).await?;
            rows.iter()
                .map(|row| {
                    let name: String = row.try_get(0)?;
                    let corrupt = |e: String| StoreError::Corrupt(format!("node {name:?}: {e}"));
                    Ok(Node {
                        name: NodeName::parse(&name).map_err(|e| corrupt(e.to_string()))?,
                        addr: row.try_get(1)?,
                        labels: parse_labels(row.try_get(2)?).map_err(|e| corrupt(e.to_string()))?,
                    })
                })
                .collect()
        })
    }

    fn put_desktop(&self, d: &Desktop, sealed_password: &[u8]) -> Result<()> {
        let (name, labels, security) = (d.name.as_str().to_string(), format_labels(&d.labels), d.security.as_str());
        let (addr, username, domain, pin) = (d.addr.clone(), d.username.clone(), d.domain.clone(), d.tls_pin.clone());
        let sealed = sealed_password.to_vec();
        self.run(move |c| async move {
            c.execute(
                "INSERT INTO desktops (name, addr, labels, username, domain, security, password_sealed, tls_pin)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 ON CONFLICT (name) DO UPDATE SET addr = excluded.addr, labels = excluded.labels,
                    username = excluded.username, domain = excluded.domain, security = excluded.security,
                    password_sealed = excluded.password_sealed, tls_pin = excluded.tls_pin",
                &[&name, &addr, &labels, &username, &domain, &security, &sealed, &pin],
            )
            .await?;
            Ok(())
        })
    }

    fn list_desktops(&self) -> Result<Vec<(Desktop, Vec<u8>)>> {
        self.run(|c| async move {
            let rows = c
                .query(
                    "SELECT name, addr, labels, username, domain, security, password_sealed, tls_pin FROM desktops ORDER BY name",
                    &[],
                )
                .await?;
            rows.iter()
                .map(|row| {
                    let name: String = row.try_get(0)?;
                    let corrupt = |e: String| StoreError::Corrupt(format!("desktop {name:?}: {e}"));
                    let desktop = Desktop {
                        name: NodeName::parse(&name).map_err(|e| corrupt(e.to_string()))?,
                        addr: row.try_get(1)?,
                        labels: parse_labels(row.try_get(2)?).map_err(|e| corrupt(e.to_string()))?,
                        username: row.try_get(3)?,
                        domain: row.try_get(4)?,
                        security: Security::parse(row.try_get(5)?).map_err(|e| corrupt(e.to_string()))?,
                        tls_pin: row.try_get(7)?,
                    };
                    Ok((desktop, row.try_get(6)?))
                })
                .collect()
        })
    }

    fn pin_desktop(&self, name: &str, pin: &str) -> Result<()> {
        let (name, pin) = (name.to_string(), pin.to_string());
        self.run(move |c| async move {
            c.execute("UPDATE desktops SET tls_pin = $2 WHERE name = $1", &[&name, &pin]).await?;
            Ok(())
        })
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
