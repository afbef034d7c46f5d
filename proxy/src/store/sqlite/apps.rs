//! [`AppStore`] on SQLite, and the apps of [`InventoryStore`](crate::store::inventory::InventoryStore).

use rusqlite::{OptionalExtension, params};

use super::SqliteStore;
use crate::apps::keys::StoredKey;
use crate::apps::session::{AppSession, Launch};
use crate::inventory::apps::{App, AppUri};
use crate::inventory::nodes::{NodeName, format_labels, parse_labels};
use crate::store::apps::AppStore;
use crate::store::{Result, StoreError};

impl SqliteStore {
    pub(super) fn put_app_row(&self, app: &App) -> Result<()> {
        self.conn().execute(
            "INSERT INTO apps (name, uri, labels, host_header, rewrite_redirects) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(name) DO UPDATE SET uri = excluded.uri, labels = excluded.labels,
                host_header = excluded.host_header, rewrite_redirects = excluded.rewrite_redirects",
            params![
                app.name.as_str(),
                app.uri.origin(),
                format_labels(&app.labels),
                app.host_header,
                app.rewrite_redirects
            ],
        )?;
        Ok(())
    }

    pub(super) fn list_app_rows(&self) -> Result<Vec<App>> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare("SELECT name, uri, labels, host_header, rewrite_redirects FROM apps ORDER BY name")?;
        let rows = stmt
            .query_map([], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, Option<String>>(3)?,
                    row.get::<_, bool>(4)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter()
            .map(|(name, uri, labels, host_header, rewrite_redirects)| {
                let corrupt = |e: String| StoreError::Corrupt(format!("app {name:?}: {e}"));
                Ok(App {
                    name: NodeName::parse(&name).map_err(|e| corrupt(e.to_string()))?,
                    uri: AppUri::parse(&uri).map_err(|e| corrupt(e.to_string()))?,
                    labels: parse_labels(&labels).map_err(|e| corrupt(e.to_string()))?,
                    host_header,
                    rewrite_redirects,
                })
            })
            .collect()
    }

    pub(super) fn remove_app_row(&self, name: &str) -> Result<bool> {
        Ok(self.conn().execute("DELETE FROM apps WHERE name = ?1", [name])? == 1)
    }
}

fn key_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredKey> {
    Ok(StoredKey {
        kid: row.get(0)?,
        public_key: row.get(1)?,
        private_sealed: row.get(2)?,
        created_at: row.get::<_, i64>(3)? as u64,
        signs_from: row.get::<_, i64>(4)? as u64,
        retired_at: row.get::<_, Option<i64>>(5)?.map(|at| at as u64),
    })
}

impl AppStore for SqliteStore {
    fn app_keys(&self) -> Result<Vec<StoredKey>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT kid, public_key, private_sealed, created_at, signs_from, retired_at FROM app_keys ORDER BY created_at DESC, kid DESC",
        )?;
        let keys = stmt.query_map([], key_row)?.collect::<rusqlite::Result<_>>()?;
        Ok(keys)
    }

    fn add_app_key(&self, key: &StoredKey) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute("UPDATE app_keys SET retired_at = ?1 WHERE retired_at IS NULL", [key.signs_from as i64])?;
        tx.execute(
            "INSERT INTO app_keys (kid, public_key, private_sealed, created_at, signs_from) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![key.kid, key.public_key, key.private_sealed, key.created_at as i64, key.signs_from as i64],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn add_first_app_key(&self, key: &StoredKey) -> Result<bool> {
        let inserted = self.conn().execute(
            "INSERT INTO app_keys (kid, public_key, private_sealed, created_at, signs_from)
             SELECT ?1, ?2, ?3, ?4, ?5 WHERE NOT EXISTS (SELECT 1 FROM app_keys)",
            params![key.kid, key.public_key, key.private_sealed, key.created_at as i64, key.signs_from as i64],
        )?;
        Ok(inserted == 1)
    }

    fn put_app_launch(&self, token_hash: &str, l: &Launch, now: u64) -> Result<()> {
        let conn = self.conn();
        conn.execute("DELETE FROM app_launches WHERE expires_at <= ?1", [now as i64])?;
        conn.execute(
            "INSERT INTO app_launches (token_hash, state_hash, app, username, web_session, path, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![token_hash, l.state_hash, l.app, l.user, l.web_session, l.path, l.expires_at as i64],
        )?;
        Ok(())
    }

    fn take_app_launch(&self, token_hash: &str, now: u64) -> Result<Option<Launch>> {
        let launch = self
            .conn()
            .query_row(
                "DELETE FROM app_launches WHERE token_hash = ?1
                 RETURNING state_hash, app, username, web_session, path, expires_at",
                [token_hash],
                |row| {
                    Ok(Launch {
                        state_hash: row.get(0)?,
                        app: row.get(1)?,
                        user: row.get(2)?,
                        web_session: row.get(3)?,
                        path: row.get(4)?,
                        expires_at: row.get::<_, i64>(5)? as u64,
                    })
                },
            )
            .optional()?;
        Ok(launch.filter(|l| l.expires_at > now))
    }

    fn put_app_session(&self, token_hash: &str, s: &AppSession, now: u64) -> Result<()> {
        let conn = self.conn();
        conn.execute("DELETE FROM app_sessions WHERE expires_at <= ?1", [now as i64])?;
        conn.execute(
            "INSERT INTO app_sessions (token_hash, app, username, web_session, created_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![token_hash, s.app, s.user, s.web_session, s.created_at as i64, s.expires_at as i64],
        )?;
        Ok(())
    }

    fn app_session(&self, token_hash: &str, now: u64) -> Result<Option<AppSession>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT app, username, web_session, created_at, expires_at FROM app_sessions
                 WHERE token_hash = ?1 AND expires_at > ?2",
                params![token_hash, now as i64],
                app_session_row,
            )
            .optional()?)
    }

    fn end_app_sessions(&self, web_session: &str) -> Result<Vec<AppSession>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "DELETE FROM app_sessions WHERE web_session = ?1
             RETURNING app, username, web_session, created_at, expires_at",
        )?;
        let ended = stmt.query_map([web_session], app_session_row)?.collect::<rusqlite::Result<_>>()?;
        Ok(ended)
    }
}

fn app_session_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<AppSession> {
    Ok(AppSession {
        app: row.get(0)?,
        user: row.get(1)?,
        web_session: row.get(2)?,
        created_at: row.get::<_, i64>(3)? as u64,
        expires_at: row.get::<_, i64>(4)? as u64,
    })
}
