//! [`AccountStore`] on SQLite.

use rusqlite::{OptionalExtension, params};

use super::SqliteStore;
use crate::accounts::session::Session;
use crate::accounts::user::{Invite, User, UserId};
use crate::auth::lockout::Attempt;
use crate::store::accounts::AccountStore;
use crate::store::{Result, StoreError};

const USER_COLUMNS: &str = "id, name, roles, password_hash, totp_secret, totp_last_step";

fn user_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
    let roles: String = row.get(2)?;
    Ok(User {
        id: row.get(0)?,
        name: row.get(1)?,
        roles: roles.split(',').filter(|r| !r.is_empty()).map(String::from).collect(),
        password_hash: row.get(3)?,
        totp_secret: row.get(4)?,
        totp_last_step: row.get::<_, Option<i64>>(5)?.map(|s| s as u64),
    })
}

impl AccountStore for SqliteStore {
    fn create_user(&self, name: &str, roles: &[String], now: u64) -> Result<UserId> {
        let conn = self.conn();
        let inserted = conn.execute(
            "INSERT INTO users (name, roles, created_at) VALUES (?1, ?2, ?3) ON CONFLICT(name) DO NOTHING",
            params![name, roles.join(","), now as i64],
        )?;
        if inserted == 0 {
            return Err(StoreError::UserExists(name.to_string()));
        }
        Ok(conn.last_insert_rowid())
    }

    fn user_by_name(&self, name: &str) -> Result<Option<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE name = ?1");
        Ok(self.conn().query_row(&sql, [name], user_from_row).optional()?)
    }

    fn user_by_id(&self, id: UserId) -> Result<Option<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1");
        Ok(self.conn().query_row(&sql, [id], user_from_row).optional()?)
    }

    fn list_users(&self) -> Result<Vec<User>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY name"))?;
        let users = stmt.query_map([], user_from_row)?.collect::<rusqlite::Result<_>>()?;
        Ok(users)
    }

    fn set_roles(&self, user: UserId, roles: &[String]) -> Result<()> {
        self.conn().execute("UPDATE users SET roles = ?2 WHERE id = ?1", params![user, roles.join(",")])?;
        Ok(())
    }

    fn set_credentials(&self, user: UserId, password_hash: &str, totp_secret: &[u8], totp_step: u64) -> Result<()> {
        self.conn().execute(
            "UPDATE users SET password_hash = ?2, totp_secret = ?3, totp_last_step = ?4 WHERE id = ?1",
            params![user, password_hash, totp_secret, totp_step as i64],
        )?;
        Ok(())
    }

    fn set_password(&self, user: UserId, password_hash: &str) -> Result<()> {
        self.conn().execute("UPDATE users SET password_hash = ?2 WHERE id = ?1", params![user, password_hash])?;
        Ok(())
    }

    fn use_totp_step(&self, user: UserId, step: u64) -> Result<bool> {
        let changed = self.conn().execute(
            "UPDATE users SET totp_last_step = ?2 WHERE id = ?1 AND (totp_last_step IS NULL OR totp_last_step < ?2)",
            params![user, step as i64],
        )?;
        Ok(changed == 1)
    }

    fn set_totp_secret(&self, user: UserId, sealed: &[u8]) -> Result<()> {
        self.conn().execute("UPDATE users SET totp_secret = ?2 WHERE id = ?1", params![user, sealed])?;
        Ok(())
    }

    fn reset_user(&self, user: UserId) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "UPDATE users SET password_hash = NULL, totp_secret = NULL, totp_last_step = NULL WHERE id = ?1",
            [user],
        )?;
        tx.execute("DELETE FROM passkeys WHERE user_id = ?1", [user])?;
        tx.execute("DELETE FROM sessions WHERE user_id = ?1", [user])?;
        tx.execute("DELETE FROM invites WHERE user_id = ?1", [user])?;
        tx.commit()?;
        Ok(())
    }

    fn create_invite(&self, user: UserId, token_hash: &str, expires_at: u64) -> Result<()> {
        self.conn().execute(
            "INSERT INTO invites (user_id, token_hash, expires_at) VALUES (?1, ?2, ?3)",
            params![user, token_hash, expires_at as i64],
        )?;
        Ok(())
    }

    fn invite(&self, token_hash: &str, now: u64) -> Result<Option<Invite>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT id, user_id, expires_at, pending_totp_secret FROM invites
                 WHERE token_hash = ?1 AND used = 0 AND expires_at > ?2",
                params![token_hash, now as i64],
                |row| {
                    Ok(Invite {
                        id: row.get(0)?,
                        user_id: row.get(1)?,
                        expires_at: row.get::<_, i64>(2)? as u64,
                        pending_totp_secret: row.get(3)?,
                    })
                },
            )
            .optional()?)
    }

    fn set_invite_totp(&self, invite: i64, secret: &[u8]) -> Result<()> {
        self.conn().execute("UPDATE invites SET pending_totp_secret = ?2 WHERE id = ?1", params![invite, secret])?;
        Ok(())
    }

    fn consume_invites(&self, invite: i64, user: UserId) -> Result<bool> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let claimed = tx.execute("UPDATE invites SET used = 1 WHERE id = ?1 AND used = 0", [invite])?;
        tx.execute("UPDATE invites SET used = 1 WHERE user_id = ?1", [user])?;
        tx.commit()?;
        Ok(claimed == 1)
    }

    fn begin_attempt(
        &self,
        username: &str,
        now: u64,
        window_start: u64,
        max_failures: u32,
        lock_until: u64,
    ) -> Result<Attempt> {
        let mut conn = self.conn();
        // IMMEDIATE takes the write lock first, so another process's attempt waits too.
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let locked: Option<i64> = tx
            .query_row(
                "SELECT until FROM lockouts WHERE username = ?1 AND until > ?2",
                params![username, now as i64],
                |row| row.get(0),
            )
            .optional()?;
        if let Some(until) = locked {
            return Ok(Attempt::Locked { until: until as u64 });
        }
        let failures: u32 = tx.query_row(
            "SELECT COUNT(*) FROM signin_failures WHERE username = ?1 AND at >= ?2",
            params![username, window_start as i64],
            |row| row.get(0),
        )?;
        if failures >= max_failures {
            tx.execute(
                "INSERT INTO lockouts (username, until) VALUES (?1, ?2)
                 ON CONFLICT(username) DO UPDATE SET until = excluded.until",
                params![username, lock_until as i64],
            )?;
            tx.execute("DELETE FROM signin_failures WHERE username = ?1", [username])?;
            tx.commit()?;
            return Ok(Attempt::Locked { until: lock_until });
        }
        tx.execute("INSERT INTO signin_failures (username, at) VALUES (?1, ?2)", params![username, now as i64])?;
        tx.commit()?;
        Ok(Attempt::Counted { failures: failures + 1 })
    }

    fn clear_failures(&self, username: &str) -> Result<()> {
        self.conn().execute("DELETE FROM signin_failures WHERE username = ?1", [username])?;
        Ok(())
    }

    fn count_client_attempt(&self, client: &str, now: u64, window_start: u64, per_window: u32) -> Result<bool> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute("DELETE FROM signin_attempts WHERE ip = ?1 AND at < ?2", params![client, window_start as i64])?;
        let made: u32 =
            tx.query_row("SELECT COUNT(*) FROM signin_attempts WHERE ip = ?1", [client], |row| row.get(0))?;
        if made >= per_window {
            return Ok(false);
        }
        tx.execute("INSERT INTO signin_attempts (ip, at) VALUES (?1, ?2)", params![client, now as i64])?;
        tx.commit()?;
        Ok(true)
    }

    fn lock(&self, username: &str, until: u64) -> Result<()> {
        self.conn().execute(
            "INSERT INTO lockouts (username, until) VALUES (?1, ?2)
             ON CONFLICT(username) DO UPDATE SET until = excluded.until",
            params![username, until as i64],
        )?;
        Ok(())
    }

    fn create_session(&self, token_hash: &str, user: UserId, csrf: &str, now: u64, expires_at: u64) -> Result<()> {
        self.conn().execute(
            "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![token_hash, user, csrf, now as i64, expires_at as i64],
        )?;
        Ok(())
    }

    fn session(&self, token_hash: &str, now: u64) -> Result<Option<Session>> {
        let row = self
            .conn()
            .query_row(
                "SELECT user_id, csrf_token, created_at, expires_at, confirmed_at FROM sessions
                 WHERE token_hash = ?1 AND expires_at > ?2",
                params![token_hash, now as i64],
                |row| {
                    Ok((
                        row.get::<_, i64>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, i64>(2)? as u64,
                        row.get::<_, i64>(3)? as u64,
                        row.get::<_, Option<i64>>(4)?.map(|t| t as u64),
                    ))
                },
            )
            .optional()?;
        let Some((user_id, csrf_token, created_at, expires_at, confirmed_at)) = row else {
            return Ok(None);
        };
        let user = self
            .user_by_id(user_id)?
            .ok_or_else(|| StoreError::Corrupt(format!("session of missing user {user_id}")))?;
        Ok(Some(Session { user, token_hash: token_hash.to_string(), csrf_token, created_at, expires_at, confirmed_at }))
    }

    fn sessions(&self, token_hashes: &[String], now: u64) -> Result<Vec<Session>> {
        // In process, a lookup each is as quick as one query, and keeps one code path.
        let mut sessions = Vec::new();
        for hash in token_hashes {
            sessions.extend(self.session(hash, now)?);
        }
        Ok(sessions)
    }

    fn confirm_session(&self, token_hash: &str, now: u64) -> Result<()> {
        self.conn()
            .execute("UPDATE sessions SET confirmed_at = ?2 WHERE token_hash = ?1", params![token_hash, now as i64])?;
        Ok(())
    }

    fn delete_session(&self, token_hash: &str) -> Result<()> {
        self.conn().execute("DELETE FROM sessions WHERE token_hash = ?1", [token_hash])?;
        Ok(())
    }

    fn delete_sessions_of(&self, user: UserId) -> Result<usize> {
        Ok(self.conn().execute("DELETE FROM sessions WHERE user_id = ?1", [user])?)
    }

    fn delete_expired(&self, now: u64) -> Result<usize> {
        let conn = self.conn();
        let sessions = conn.execute("DELETE FROM sessions WHERE expires_at <= ?1", [now as i64])?;
        conn.execute("DELETE FROM lockouts WHERE until <= ?1", [now as i64])?;
        conn.execute("DELETE FROM invites WHERE expires_at <= ?1", [now as i64])?;
        conn.execute("DELETE FROM signin_attempts WHERE at < ?1", [now.saturating_sub(3600) as i64])?;
        // Failures older than a day cannot count towards any sensible lockout window.
        conn.execute("DELETE FROM signin_failures WHERE at < ?1", [now.saturating_sub(86_400) as i64])?;
        Ok(sessions)
    }
}
