//! [`ClusterStore`] on SQLite (one proxy, or several on one machine sharing the file).

use rusqlite::{OptionalExtension, params};

use super::SqliteStore;
use crate::store::Result;
use crate::store::cluster::ClusterStore;

impl ClusterStore for SqliteStore {
    fn agree_key(&self, name: &str, fingerprint: &str) -> Result<String> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO cluster_keys (name, fingerprint) VALUES (?1, ?2) ON CONFLICT(name) DO NOTHING",
            params![name, fingerprint],
        )?;
        Ok(conn.query_row("SELECT fingerprint FROM cluster_keys WHERE name = ?1", [name], |row| row.get(0))?)
    }

    fn cluster_key(&self, name: &str) -> Result<Option<String>> {
        Ok(self
            .conn()
            .query_row("SELECT fingerprint FROM cluster_keys WHERE name = ?1", [name], |row| row.get(0))
            .optional()?)
    }

    fn ping(&self) -> Result<()> {
        self.conn().query_row("SELECT 1", [], |_| Ok(()))?;
        Ok(())
    }
}
