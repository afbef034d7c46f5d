//! [`PassStore`] on SQLite.

use rusqlite::{OptionalExtension, params};

use super::SqliteStore;
use crate::gate::ticket::MfaTicket;
use crate::store::Result;
use crate::store::passes::PassStore;

impl PassStore for SqliteStore {
    fn put_ticket(&self, token_hash: &str, t: &MfaTicket, now: u64) -> Result<()> {
        let conn = self.conn();
        conn.execute("DELETE FROM mfa_tickets WHERE expires_at < ?1", [now as i64])?;
        conn.execute(
            "INSERT INTO mfa_tickets (token_hash, username, node, login, expires_at, device_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![token_hash, t.user, t.node, t.login, t.expires_at as i64, t.device],
        )?;
        Ok(())
    }

    fn take_ticket(&self, token_hash: &str, now: u64) -> Result<Option<MfaTicket>> {
        let ticket = self
            .conn()
            .query_row(
                "DELETE FROM mfa_tickets WHERE token_hash = ?1 RETURNING username, node, login, expires_at, device_id",
                [token_hash],
                |row| {
                    Ok(MfaTicket {
                        user: row.get(0)?,
                        node: row.get(1)?,
                        login: row.get(2)?,
                        expires_at: row.get::<_, i64>(3)? as u64,
                        device: row.get(4)?,
                    })
                },
            )
            .optional()?;
        Ok(ticket.filter(|t| t.expires_at >= now))
    }

    fn note_certified(&self, user: &str, node: &str, login: &str, valid_until: u64, now: u64) -> Result<()> {
        let conn = self.conn();
        conn.execute("DELETE FROM certified_logins WHERE valid_until < ?1", [now as i64])?;
        conn.execute(
            "INSERT INTO certified_logins (username, node, login, valid_until) VALUES (?1, ?2, ?3, ?4)",
            params![user, node, login, valid_until as i64],
        )?;
        Ok(())
    }

    fn certified_logins(&self, user: &str, node: &str, now: u64) -> Result<Vec<String>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT login FROM certified_logins WHERE username = ?1 AND node = ?2 AND valid_until >= ?3 ORDER BY rowid",
        )?;
        let logins =
            stmt.query_map(params![user, node, now as i64], |row| row.get(0))?.collect::<rusqlite::Result<_>>()?;
        Ok(logins)
    }
}
