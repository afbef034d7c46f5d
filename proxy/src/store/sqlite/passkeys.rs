//! [`PasskeyStore`] on SQLite.

use rusqlite::{OptionalExtension, params};

use super::SqliteStore;
use crate::accounts::user::UserId;
use crate::passkeys::credential::StoredPasskey;
use crate::store::Result;
use crate::store::passkeys::PasskeyStore;

const PASSKEY_COLUMNS: &str = "id, user_id, name, credential_id, passkey, created_at, last_used_at";

fn passkey_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredPasskey> {
    Ok(StoredPasskey {
        id: row.get(0)?,
        user_id: row.get(1)?,
        name: row.get(2)?,
        credential_id: row.get(3)?,
        passkey_json: row.get(4)?,
        created_at: row.get::<_, i64>(5)? as u64,
        last_used_at: row.get::<_, Option<i64>>(6)?.map(|t| t as u64),
    })
}

impl PasskeyStore for SqliteStore {
    fn add_passkey(&self, user: UserId, name: &str, credential_id: &str, passkey_json: &str, now: u64) -> Result<i64> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO passkeys (user_id, name, credential_id, passkey, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![user, name, credential_id, passkey_json, now as i64],
        )?;
        Ok(conn.last_insert_rowid())
    }

    fn passkeys(&self, user: UserId) -> Result<Vec<StoredPasskey>> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare(&format!("SELECT {PASSKEY_COLUMNS} FROM passkeys WHERE user_id = ?1 ORDER BY id"))?;
        let rows = stmt.query_map([user], passkey_from_row)?.collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    fn passkey_by_credential(&self, credential_id: &str) -> Result<Option<StoredPasskey>> {
        let conn = self.conn();
        let row = conn
            .query_row(
                &format!("SELECT {PASSKEY_COLUMNS} FROM passkeys WHERE credential_id = ?1"),
                [credential_id],
                passkey_from_row,
            )
            .optional()?;
        Ok(row)
    }

    fn passkey_used(&self, id: i64, passkey_json: &str, now: u64) -> Result<()> {
        self.conn().execute(
            "UPDATE passkeys SET passkey = ?2, last_used_at = ?3 WHERE id = ?1",
            params![id, passkey_json, now as i64],
        )?;
        Ok(())
    }

    fn remove_passkey(&self, user: UserId, id: i64) -> Result<bool> {
        Ok(self.conn().execute("DELETE FROM passkeys WHERE id = ?1 AND user_id = ?2", params![id, user])? == 1)
    }

    fn put_challenge(
        &self,
        id: &str,
        kind: &str,
        user: Option<UserId>,
        state_json: &str,
        expires_at: u64,
    ) -> Result<()> {
        let conn = self.conn();
        conn.execute(
            "DELETE FROM webauthn_challenges WHERE expires_at < ?1",
            [expires_at.saturating_sub(3600) as i64],
        )?;
        conn.execute(
            "INSERT INTO webauthn_challenges (id, kind, user_id, state, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![id, kind, user, state_json, expires_at as i64],
        )?;
        Ok(())
    }

    fn take_challenge(&self, id: &str, kind: &str, now: u64) -> Result<Option<(Option<UserId>, String)>> {
        let conn = self.conn();
        let row = conn
            .query_row(
                "DELETE FROM webauthn_challenges WHERE id = ?1 AND kind = ?2 RETURNING user_id, state, expires_at",
                params![id, kind],
                |row| Ok((row.get::<_, Option<i64>>(0)?, row.get::<_, String>(1)?, row.get::<_, i64>(2)? as u64)),
            )
            .optional()?;
        Ok(row.filter(|(_, _, expires_at)| *expires_at >= now).map(|(user, state, _)| (user, state)))
    }
}
