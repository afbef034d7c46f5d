//! [`SsoStore`] on SQLite.

use rusqlite::{OptionalExtension, params};

use super::SqliteStore;
use crate::accounts::user::UserId;
use crate::sso::flow::Flow;
use crate::store::Result;
use crate::store::sso::SsoStore;

impl SsoStore for SqliteStore {
    fn put_flow(&self, token_hash: &str, f: &Flow, now: u64) -> Result<()> {
        let conn = self.conn();
        conn.execute("DELETE FROM sso_flows WHERE expires_at < ?1", [now as i64])?;
        conn.execute(
            "INSERT INTO sso_flows (token_hash, connector, binding_hash, pkce_verifier, nonce, user_id, expires_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![token_hash, f.connector, f.binding_hash, f.pkce_verifier, f.nonce, f.user, f.expires_at as i64],
        )?;
        Ok(())
    }

    fn take_flow(&self, token_hash: &str, now: u64) -> Result<Option<Flow>> {
        let flow = self
            .conn()
            .query_row(
                "DELETE FROM sso_flows WHERE token_hash = ?1 \
                 RETURNING connector, binding_hash, pkce_verifier, nonce, user_id, expires_at",
                [token_hash],
                |row| {
                    Ok(Flow {
                        connector: row.get(0)?,
                        binding_hash: row.get(1)?,
                        pkce_verifier: row.get(2)?,
                        nonce: row.get(3)?,
                        user: row.get(4)?,
                        expires_at: row.get::<_, i64>(5)? as u64,
                    })
                },
            )
            .optional()?;
        Ok(flow.filter(|f| f.expires_at > now))
    }

    fn sso_user(&self, connector: &str, subject: &str) -> Result<Option<(UserId, String)>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT user_id, issuer FROM sso_identities WHERE connector = ?1 AND subject = ?2",
                [connector, subject],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?)
    }

    fn link_sso(&self, connector: &str, subject: &str, issuer: &str, user: UserId, now: u64) -> Result<bool> {
        let inserted = self.conn().execute(
            "INSERT INTO sso_identities (connector, subject, issuer, user_id, created_at) VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT(connector, subject) DO NOTHING",
            params![connector, subject, issuer, user, now as i64],
        )?;
        Ok(inserted == 1)
    }

    fn sso_links(&self, user: UserId) -> Result<Vec<String>> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT connector FROM sso_identities WHERE user_id = ?1 ORDER BY connector")?;
        let links = stmt.query_map([user], |row| row.get(0))?.collect::<rusqlite::Result<_>>()?;
        Ok(links)
    }
}
