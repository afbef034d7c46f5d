//! Gatehouse's state behind one small interface ([`Store`]), so a multi-proxy deployment
//! can put PostgreSQL behind it later. [`SqliteStore`] keeps it in one file in the data
//! directory. Times are Unix seconds, passed in by the caller.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};

use crate::accounts::session::Session;
use crate::accounts::user::{Invite, User, UserId};
use crate::audit::record::AuditRecord;
use crate::auth::lockout::Attempt;
use crate::inventory::nodes::{Node, NodeName, format_labels, parse_labels};
use crate::passkeys::credential::StoredPasskey;
use crate::recordings::row::{RecordingFilter, RecordingRow};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the database failed: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("a user named {0:?} already exists")]
    UserExists(String),
    #[error("the stored data is corrupt: {0}")]
    Corrupt(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Everything Gatehouse persists. Token arguments are SHA-256 hashes, never tokens.
pub trait Store: Send + Sync {
    fn create_user(&self, name: &str, roles: &[String], now: u64) -> Result<UserId>;
    fn user_by_name(&self, name: &str) -> Result<Option<User>>;
    fn user_by_id(&self, id: UserId) -> Result<Option<User>>;
    fn list_users(&self) -> Result<Vec<User>>;
    /// `totp_secret` is sealed by the caller ([`crate::vault`]): the store never holds
    /// a TOTP secret in the clear.
    fn set_credentials(&self, user: UserId, password_hash: &str, totp_secret: &[u8], totp_step: u64) -> Result<()>;
    /// Marks the TOTP step used, atomically: false if it (or a later one) already was,
    /// so one code never signs in twice, however many requests race.
    fn use_totp_step(&self, user: UserId, step: u64) -> Result<bool>;
    /// Replaces the (sealed) TOTP secret, keeping the last step used.
    fn set_totp_secret(&self, user: UserId, sealed: &[u8]) -> Result<()>;
    fn set_roles(&self, user: UserId, roles: &[String]) -> Result<()>;
    /// Ends every web session of the user.
    fn delete_sessions_of(&self, user: UserId) -> Result<usize>;
    /// The session proved a factor again at `now`.
    fn confirm_session(&self, token_hash: &str, now: u64) -> Result<()>;
    fn add_lock(&self, lock: &crate::access::locks::NewLock, now: u64) -> Result<i64>;
    /// The locks in force at `now`, oldest first.
    fn active_locks(&self, now: u64) -> Result<Vec<crate::access::locks::Lock>>;
    fn remove_lock(&self, id: i64) -> Result<bool>;
    /// Forgets the user's password, TOTP and passkeys, and ends their sessions and
    /// invites: they must enrol again.
    fn reset_user(&self, user: UserId) -> Result<()>;
    /// Enrolment with a passkey: the password, and no TOTP.
    fn set_password(&self, user: UserId, password_hash: &str) -> Result<()>;

    fn create_invite(&self, user: UserId, token_hash: &str, expires_at: u64) -> Result<()>;
    /// An unused, unexpired invite.
    fn invite(&self, token_hash: &str, now: u64) -> Result<Option<Invite>>;
    fn set_invite_totp(&self, invite: i64, secret: &[u8]) -> Result<()>;
    /// Marks every invite of the user used. False when this one was already used.
    fn consume_invites(&self, invite: i64, user: UserId) -> Result<bool>;

    /// Atomically: refuses the attempt if the name is locked or already has
    /// `max_failures` failures since `window_start` (and then locks it until
    /// `lock_until`); otherwise counts it as a failure, which a success clears.
    fn begin_attempt(
        &self,
        username: &str,
        now: u64,
        window_start: u64,
        max_failures: u32,
        lock_until: u64,
    ) -> Result<Attempt>;
    fn clear_failures(&self, username: &str) -> Result<()>;
    fn lock(&self, username: &str, until: u64) -> Result<()>;

    fn create_session(&self, token_hash: &str, user: UserId, csrf: &str, now: u64, expires_at: u64) -> Result<()>;
    /// A live session with its user; expired ones are never returned.
    fn session(&self, token_hash: &str, now: u64) -> Result<Option<Session>>;
    fn delete_session(&self, token_hash: &str) -> Result<()>;
    fn delete_expired(&self, now: u64) -> Result<usize>;

    /// Adds a node, or replaces the one of the same name.
    fn put_node(&self, node: &Node) -> Result<()>;
    fn list_nodes(&self) -> Result<Vec<Node>>;

    fn append_audit(&self, record: &AuditRecord) -> Result<()>;
    fn recent_audit(&self, limit: u32) -> Result<Vec<AuditRecord>>;

    /// Adds a desktop, or replaces the one of the same name; the password comes sealed.
    fn put_desktop(&self, desktop: &crate::inventory::desktops::Desktop, sealed_password: &[u8]) -> Result<()>;
    /// Every desktop with its sealed password.
    fn list_desktops(&self) -> Result<Vec<(crate::inventory::desktops::Desktop, Vec<u8>)>>;
    fn pin_desktop(&self, name: &str, pin: &str) -> Result<()>;

    fn add_passkey(&self, user: UserId, name: &str, credential_id: &str, passkey_json: &str, now: u64) -> Result<i64>;
    fn passkeys(&self, user: UserId) -> Result<Vec<StoredPasskey>>;
    fn passkey_by_credential(&self, credential_id: &str) -> Result<Option<StoredPasskey>>;
    /// After a successful assertion: the credential's new state (counter) and when.
    fn passkey_used(&self, id: i64, passkey_json: &str, now: u64) -> Result<()>;
    fn remove_passkey(&self, user: UserId, id: i64) -> Result<bool>;
    /// A WebAuthn ceremony's state until its answer comes back (at most once).
    fn put_challenge(
        &self,
        id: &str,
        kind: &str,
        user: Option<UserId>,
        state_json: &str,
        expires_at: u64,
    ) -> Result<()>;
    /// Takes the challenge out: a second use finds nothing. Expired ones are `None`.
    fn take_challenge(&self, id: &str, kind: &str, now: u64) -> Result<Option<(Option<UserId>, String)>>;

    fn insert_recording(&self, row: &RecordingRow) -> Result<()>;
    fn finish_recording(&self, id: &str, ended_at: u64, bytes: u64, end_reason: &str) -> Result<()>;
    /// Newest first.
    fn list_recordings(&self, limit: u32) -> Result<Vec<RecordingRow>>;
    /// Newest first, filtered; with the number of matches over all pages.
    fn search_recordings(&self, filter: &RecordingFilter, offset: u32, limit: u32) -> Result<(Vec<RecordingRow>, u64)>;
    fn recording(&self, id: &str) -> Result<Option<RecordingRow>>;
}

pub struct SqliteStore {
    conn: Mutex<Connection>,
}

/// The schema's history, oldest first: entry `i` moves a database from version `i` to
/// `i + 1` (`PRAGMA user_version`). Never edit an entry that has shipped; add one.
/// Version 1 is the schema from before versions were counted, written with `IF NOT
/// EXISTS`, so a database made then is brought to version 1 by running it again.
const MIGRATIONS: &[&str] = &[SCHEMA_V1, SCHEMA_V2];

/// Locks, and the moment a web session last re-proved a factor.
const SCHEMA_V2: &str = "
ALTER TABLE sessions ADD COLUMN confirmed_at INTEGER;
CREATE TABLE locks (
    id INTEGER PRIMARY KEY,
    target_kind TEXT NOT NULL,
    target TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER
);
CREATE INDEX locks_by_target ON locks(target_kind, target);
";

const SCHEMA_V1: &str = "
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    roles TEXT NOT NULL,
    password_hash TEXT,
    totp_secret BLOB,
    totp_last_step INTEGER,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS invites (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    expires_at INTEGER NOT NULL,
    pending_totp_secret BLOB,
    used INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS signin_failures (
    username TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS signin_failures_by_name ON signin_failures(username, at);
CREATE TABLE IF NOT EXISTS lockouts (
    username TEXT PRIMARY KEY,
    until INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    token_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS nodes (
    name TEXT PRIMARY KEY,
    addr TEXT NOT NULL,
    labels TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    kind TEXT NOT NULL,
    user TEXT,
    ip TEXT,
    detail TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS desktops (
    name TEXT PRIMARY KEY,
    addr TEXT NOT NULL,
    labels TEXT NOT NULL,
    username TEXT NOT NULL,
    domain TEXT,
    security TEXT NOT NULL,
    password_sealed BLOB NOT NULL,
    tls_pin TEXT
);
CREATE TABLE IF NOT EXISTS passkeys (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    credential_id TEXT NOT NULL UNIQUE,
    passkey TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_used_at INTEGER
);
CREATE TABLE IF NOT EXISTS webauthn_challenges (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    user_id INTEGER,
    state TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS recordings (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    user TEXT NOT NULL,
    target TEXT NOT NULL,
    login TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    ended_at INTEGER,
    file TEXT NOT NULL,
    bytes INTEGER NOT NULL DEFAULT 0,
    end_reason TEXT
);
CREATE INDEX IF NOT EXISTS recordings_by_start ON recordings(started_at);
";

/// Brings the database to the newest schema, one version per transaction, and refuses a
/// database a newer Gatehouse has changed (it could hold what this one misreads).
fn migrate(conn: &mut Connection) -> Result<()> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(StoreError::Corrupt(format!(
            "the database is at schema version {version}, made by a newer Gatehouse than this one (which knows {known})"
        )));
    }
    for (from, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        // IMMEDIATE: two processes opening an old database at once migrate it once.
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let current: i64 = tx.pragma_query_value(None, "user_version", |row| row.get(0))?;
        if current > from as i64 {
            continue;
        }
        tx.execute_batch(sql)?;
        if from == 0 {
            // Databases from before desktop pinning lack a column version 1 has.
            let has_pin =
                tx.prepare("SELECT 1 FROM pragma_table_info('desktops') WHERE name = 'tls_pin'")?.exists([])?;
            if !has_pin {
                tx.execute_batch("ALTER TABLE desktops ADD COLUMN tls_pin TEXT")?;
            }
        }
        tx.pragma_update(None, "user_version", from as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

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

const RECORDING_COLUMNS: &str = "id, kind, user, target, login, started_at, ended_at, file, bytes, end_reason";

fn recording_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<RecordingRow> {
    Ok(RecordingRow {
        id: row.get(0)?,
        kind: row.get(1)?,
        user: row.get(2)?,
        target: row.get(3)?,
        login: row.get(4)?,
        started_at: row.get::<_, i64>(5)? as u64,
        ended_at: row.get::<_, Option<i64>>(6)?.map(|t| t as u64),
        file: row.get(7)?,
        bytes: row.get::<_, i64>(8)? as u64,
        end_reason: row.get(9)?,
    })
}

impl SqliteStore {
    pub fn open(path: &Path) -> Result<SqliteStore> {
        let conn = Connection::open(path)?;
        Self::init(conn)
    }

    /// A private in-memory database, for unit tests.
    #[cfg(test)]
    pub fn in_memory() -> Result<SqliteStore> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(mut conn: Connection) -> Result<SqliteStore> {
        // WAL lets the command line add users while the server runs; busy_timeout makes
        // the two wait for each other instead of failing.
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        migrate(&mut conn)?;
        Ok(SqliteStore { conn: Mutex::new(conn) })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite half-written (statements are
        // atomic), so a poisoned lock is safe to keep using.
        self.conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

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

impl Store for SqliteStore {
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

    fn set_roles(&self, user: UserId, roles: &[String]) -> Result<()> {
        self.conn().execute("UPDATE users SET roles = ?2 WHERE id = ?1", params![user, roles.join(",")])?;
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

    fn delete_sessions_of(&self, user: UserId) -> Result<usize> {
        Ok(self.conn().execute("DELETE FROM sessions WHERE user_id = ?1", [user])?)
    }

    fn confirm_session(&self, token_hash: &str, now: u64) -> Result<()> {
        self.conn()
            .execute("UPDATE sessions SET confirmed_at = ?2 WHERE token_hash = ?1", params![token_hash, now as i64])?;
        Ok(())
    }

    fn add_lock(&self, lock: &crate::access::locks::NewLock, now: u64) -> Result<i64> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO locks (target_kind, target, reason, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![lock.target.kind(), lock.target.name(), lock.reason, now as i64, lock.expires_at.map(|t| t as i64)],
        )?;
        Ok(conn.last_insert_rowid())
    }

    fn active_locks(&self, now: u64) -> Result<Vec<crate::access::locks::Lock>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, target_kind, target, reason, created_at, expires_at FROM locks
             WHERE expires_at IS NULL OR expires_at > ?1 ORDER BY id",
        )?;
        let rows = stmt
            .query_map([now as i64], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, String>(3)?,
                    row.get::<_, i64>(4)? as u64,
                    row.get::<_, Option<i64>>(5)?.map(|t| t as u64),
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter()
            .map(|(id, kind, name, reason, created_at, expires_at)| {
                let target = crate::access::locks::LockTarget::from_parts(&kind, name)
                    .ok_or_else(|| StoreError::Corrupt(format!("lock {id} has the unknown kind {kind:?}")))?;
                Ok(crate::access::locks::Lock { id, target, reason, created_at, expires_at })
            })
            .collect()
    }

    fn remove_lock(&self, id: i64) -> Result<bool> {
        Ok(self.conn().execute("DELETE FROM locks WHERE id = ?1", [id])? == 1)
    }

    fn delete_session(&self, token_hash: &str) -> Result<()> {
        self.conn().execute("DELETE FROM sessions WHERE token_hash = ?1", [token_hash])?;
        Ok(())
    }

    fn delete_expired(&self, now: u64) -> Result<usize> {
        let conn = self.conn();
        let sessions = conn.execute("DELETE FROM sessions WHERE expires_at <= ?1", [now as i64])?;
        conn.execute("DELETE FROM lockouts WHERE until <= ?1", [now as i64])?;
        conn.execute("DELETE FROM invites WHERE expires_at <= ?1", [now as i64])?;
        // Failures older than a day cannot count towards any sensible lockout window.
        conn.execute("DELETE FROM signin_failures WHERE at < ?1", [now.saturating_sub(86_400) as i64])?;
        Ok(sessions)
    }

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
                let corrupt =
                    |e: crate::inventory::nodes::NodeError| StoreError::Corrupt(format!("node {name:?}: {e}"));
                Ok(Node {
                    name: NodeName::parse(&name).map_err(corrupt)?,
                    addr,
                    labels: parse_labels(&labels).map_err(corrupt)?,
                })
            })
            .collect()
    }

    fn append_audit(&self, record: &AuditRecord) -> Result<()> {
        self.conn().execute(
            "INSERT INTO audit (at, kind, user, ip, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![record.at as i64, record.kind, record.user, record.ip, record.detail],
        )?;
        Ok(())
    }

    fn recent_audit(&self, limit: u32) -> Result<Vec<AuditRecord>> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT at, kind, user, ip, detail FROM audit ORDER BY id DESC LIMIT ?1")?;
        let records = stmt
            .query_map([limit], |row| {
                Ok(AuditRecord {
                    at: row.get::<_, i64>(0)? as u64,
                    kind: row.get(1)?,
                    user: row.get(2)?,
                    ip: row.get(3)?,
                    detail: row.get(4)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(records)
    }

    fn put_desktop(&self, d: &crate::inventory::desktops::Desktop, sealed_password: &[u8]) -> Result<()> {
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

    fn pin_desktop(&self, name: &str, pin: &str) -> Result<()> {
        self.conn().execute("UPDATE desktops SET tls_pin = ?2 WHERE name = ?1", params![name, pin])?;
        Ok(())
    }

    fn list_desktops(&self) -> Result<Vec<(crate::inventory::desktops::Desktop, Vec<u8>)>> {
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
                let desktop = crate::inventory::desktops::Desktop {
                    name: NodeName::parse(&name).map_err(|e| corrupt(e.to_string()))?,
                    addr,
                    labels: parse_labels(&labels).map_err(|e| corrupt(e.to_string()))?,
                    username,
                    domain,
                    security: crate::inventory::desktops::Security::parse(&security)
                        .map_err(|e| corrupt(e.to_string()))?,
                    tls_pin,
                };
                Ok((desktop, sealed))
            })
            .collect()
    }

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

    fn insert_recording(&self, r: &RecordingRow) -> Result<()> {
        self.conn().execute(
            &format!("INSERT INTO recordings ({RECORDING_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"),
            params![
                r.id,
                r.kind,
                r.user,
                r.target,
                r.login,
                r.started_at as i64,
                r.ended_at.map(|t| t as i64),
                r.file,
                r.bytes as i64,
                r.end_reason
            ],
        )?;
        Ok(())
    }

    fn finish_recording(&self, id: &str, ended_at: u64, bytes: u64, end_reason: &str) -> Result<()> {
        self.conn().execute(
            "UPDATE recordings SET ended_at = ?2, bytes = ?3, end_reason = ?4 WHERE id = ?1",
            params![id, ended_at as i64, bytes as i64, end_reason],
        )?;
        Ok(())
    }

    fn list_recordings(&self, limit: u32) -> Result<Vec<RecordingRow>> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare(&format!("SELECT {RECORDING_COLUMNS} FROM recordings ORDER BY started_at DESC, id LIMIT ?1"))?;
        let rows = stmt.query_map([limit], recording_from_row)?.collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    fn search_recordings(&self, filter: &RecordingFilter, offset: u32, limit: u32) -> Result<(Vec<RecordingRow>, u64)> {
        let mut clauses = Vec::new();
        let mut values: Vec<rusqlite::types::Value> = Vec::new();
        let mut text = |column: &str, value: &Option<String>| {
            if let Some(value) = value {
                values.push(value.clone().into());
                clauses.push(format!("{column} = ?{}", values.len()));
            }
        };
        text("user", &filter.user);
        text("target", &filter.target);
        text("login", &filter.login);
        text("kind", &filter.kind);
        if let Some(from) = filter.from {
            values.push((from as i64).into());
            clauses.push(format!("started_at >= ?{}", values.len()));
        }
        if let Some(to) = filter.to {
            values.push((to as i64).into());
            clauses.push(format!("started_at < ?{}", values.len()));
        }
        if let Some(ids) = &filter.ids {
            let mut marks = Vec::new();
            for id in ids {
                values.push(id.clone().into());
                marks.push(format!("?{}", values.len()));
            }
            clauses.push(if marks.is_empty() { "0".to_string() } else { format!("id IN ({})", marks.join(", ")) });
        }
        let filter_sql = if clauses.is_empty() { String::new() } else { format!("WHERE {}", clauses.join(" AND ")) };
        let conn = self.conn();
        let total: i64 = conn.query_row(
            &format!("SELECT COUNT(*) FROM recordings {filter_sql}"),
            rusqlite::params_from_iter(values.iter()),
            |row| row.get(0),
        )?;
        let mut stmt = conn.prepare(&format!(
            "SELECT {RECORDING_COLUMNS} FROM recordings {filter_sql} ORDER BY started_at DESC, id LIMIT {limit} OFFSET {offset}"
        ))?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(values.iter()), recording_from_row)?
            .collect::<rusqlite::Result<_>>()?;
        Ok((rows, total as u64))
    }

    fn recording(&self, id: &str) -> Result<Option<RecordingRow>> {
        let conn = self.conn();
        let row = conn
            .query_row(&format!("SELECT {RECORDING_COLUMNS} FROM recordings WHERE id = ?1"), [id], recording_from_row)
            .optional()?;
        Ok(row)
    }
}

#[cfg(test)]
impl SqliteStore {
    pub fn failures_since(&self, username: &str, since: u64) -> Result<u32> {
        Ok(self.conn().query_row(
            "SELECT COUNT(*) FROM signin_failures WHERE username = ?1 AND at >= ?2",
            params![username, since as i64],
            |row| row.get(0),
        )?)
    }

    pub fn locked_until(&self, username: &str, now: u64) -> Result<Option<u64>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT until FROM lockouts WHERE username = ?1 AND until > ?2",
                params![username, now as i64],
                |row| row.get::<_, i64>(0),
            )
            .optional()?
            .map(|until| until as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_with_user() -> (SqliteStore, UserId) {
        let store = SqliteStore::in_memory().unwrap();
        let id = store.create_user("alice", &["dev".into(), "ops".into()], 100).unwrap();
        (store, id)
    }

    #[test]
    fn user_names_are_unique() {
        let (store, _) = store_with_user();
        assert!(matches!(store.create_user("alice", &[], 1), Err(StoreError::UserExists(_))));
    }

    #[test]
    fn new_user_has_roles_and_is_not_enrolled() {
        let (store, _) = store_with_user();
        let user = store.user_by_name("alice").unwrap().unwrap();
        assert_eq!(user.roles, vec!["dev", "ops"]);
        assert!(!user.is_enrolled());
    }

    #[test]
    fn invite_is_single_use_and_expires() {
        let (store, id) = store_with_user();
        store.create_invite(id, "h1", 500).unwrap();
        let invite = store.invite("h1", 200).unwrap().unwrap();
        assert!(store.invite("h1", 500).unwrap().is_none(), "expired at 500");
        assert!(store.consume_invites(invite.id, id).unwrap());
        assert!(!store.consume_invites(invite.id, id).unwrap());
        assert!(store.invite("h1", 200).unwrap().is_none());
    }

    #[test]
    fn session_expires_at_its_time() {
        let (store, id) = store_with_user();
        store.create_session("s1", id, "csrf", 100, 200).unwrap();
        assert_eq!(store.session("s1", 199).unwrap().unwrap().user.name, "alice");
        assert!(store.session("s1", 200).unwrap().is_none());
        assert_eq!(store.delete_expired(200).unwrap(), 1);
    }

    #[test]
    fn deleted_session_is_gone() {
        let (store, id) = store_with_user();
        store.create_session("s1", id, "csrf", 100, 200).unwrap();
        store.delete_session("s1").unwrap();
        assert!(store.session("s1", 150).unwrap().is_none());
    }

    #[test]
    fn failures_count_inside_the_window_and_clear() {
        let (store, _) = store_with_user();
        for at in [10, 20, 30] {
            assert!(matches!(store.begin_attempt("alice", at, 0, 5, 999).unwrap(), Attempt::Counted { .. }));
        }
        assert_eq!(store.failures_since("alice", 15).unwrap(), 2);
        store.clear_failures("alice").unwrap();
        assert_eq!(store.failures_since("alice", 0).unwrap(), 0);
    }

    #[test]
    fn an_attempt_past_the_limit_locks_the_name_without_counting() {
        let (store, _) = store_with_user();
        for n in 1..=3 {
            assert_eq!(store.begin_attempt("alice", 100, 0, 3, 500).unwrap(), Attempt::Counted { failures: n });
        }
        assert_eq!(store.begin_attempt("alice", 101, 0, 3, 500).unwrap(), Attempt::Locked { until: 500 });
        assert_eq!(store.begin_attempt("alice", 102, 0, 3, 900).unwrap(), Attempt::Locked { until: 500 });
        assert_eq!(store.locked_until("alice", 102).unwrap(), Some(500));
        // Failures before the window do not count.
        assert_eq!(store.begin_attempt("bob", 100, 0, 1, 200).unwrap(), Attempt::Counted { failures: 1 });
        assert_eq!(store.begin_attempt("bob", 300, 250, 1, 400).unwrap(), Attempt::Counted { failures: 1 });
    }

    #[test]
    fn a_totp_step_is_used_once() {
        let (store, id) = store_with_user();
        assert!(store.use_totp_step(id, 10).unwrap());
        assert!(!store.use_totp_step(id, 10).unwrap());
        assert!(!store.use_totp_step(id, 9).unwrap());
        assert!(store.use_totp_step(id, 11).unwrap());
    }

    #[test]
    fn locks_hold_until_they_expire_or_are_removed() {
        use crate::access::locks::{LockTarget, NewLock};
        let store = SqliteStore::in_memory().unwrap();
        let forever = store
            .add_lock(
                &NewLock { target: LockTarget::User("alice".into()), reason: "left".into(), expires_at: None },
                100,
            )
            .unwrap();
        store
            .add_lock(
                &NewLock { target: LockTarget::Node("web-1".into()), reason: "patching".into(), expires_at: Some(200) },
                100,
            )
            .unwrap();
        let active = store.active_locks(150).unwrap();
        assert_eq!(active.len(), 2);
        assert_eq!(active[1].target, LockTarget::Node("web-1".into()));
        assert_eq!(store.active_locks(200).unwrap().len(), 1, "expired at 200");
        assert!(store.remove_lock(forever).unwrap());
        assert!(!store.remove_lock(forever).unwrap());
        assert!(store.active_locks(150).unwrap().iter().all(|l| l.id != forever));
    }

    #[test]
    fn a_session_remembers_a_confirmed_factor_and_ends_with_its_user() {
        let (store, id) = store_with_user();
        store.create_session("s1", id, "csrf", 100, 200).unwrap();
        store.create_session("s2", id, "csrf", 100, 200).unwrap();
        assert_eq!(store.session("s1", 110).unwrap().unwrap().confirmed_at, None);
        store.confirm_session("s1", 120).unwrap();
        let session = store.session("s1", 130).unwrap().unwrap();
        assert_eq!((session.confirmed_at, session.token_hash.as_str()), (Some(120), "s1"));
        assert_eq!(store.delete_sessions_of(id).unwrap(), 2);
        assert!(store.session("s2", 130).unwrap().is_none());
    }

    /// The schema as it was before migrations were numbered (and before desktops had a
    /// pin): a database made then opens, is migrated, and takes today's writes.
    #[test]
    fn a_database_from_before_migrations_is_brought_up_to_date() {
        let dir = std::env::temp_dir().join(format!("gh-migrate-{}", crate::recordings::new_id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("gatehouse.db");
        {
            let old = Connection::open(&path).unwrap();
            let before_pins = SCHEMA_V1.replace(
                "    password_sealed BLOB NOT NULL,\n    tls_pin TEXT\n",
                "    password_sealed BLOB NOT NULL\n",
            );
            assert_ne!(before_pins, SCHEMA_V1, "the old desktops table has no tls_pin");
            old.execute_batch(&before_pins).unwrap();
            old.execute("INSERT INTO users (name, roles, created_at) VALUES ('old', 'dev', 1)", []).unwrap();
            old.execute(
                "INSERT INTO desktops (name, addr, labels, username, security, password_sealed) VALUES ('d', 'h:1', '', 'u', 'nla', x'00')",
                [],
            )
            .unwrap();
        }
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.user_by_name("old").unwrap().unwrap().roles, ["dev"]);
        store.pin_desktop("d", "SHA256:x").unwrap();
        assert_eq!(store.list_desktops().unwrap()[0].0.tls_pin.as_deref(), Some("SHA256:x"));
        let id = store.user_by_name("old").unwrap().unwrap().id;
        store.create_session("s", id, "c", 1, 100).unwrap();
        store.confirm_session("s", 5).unwrap();
        let version: i64 = store.conn().pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
        drop(store);
        // Opening again changes nothing; a newer schema than ours is refused.
        SqliteStore::open(&path).unwrap();
        Connection::open(&path).unwrap().pragma_update(None, "user_version", 99).unwrap();
        let err = SqliteStore::open(&path).err().unwrap();
        assert!(err.to_string().contains("newer Gatehouse"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn lock_holds_until_its_time() {
        let (store, _) = store_with_user();
        store.lock("alice", 300).unwrap();
        assert_eq!(store.locked_until("alice", 299).unwrap(), Some(300));
        assert_eq!(store.locked_until("alice", 300).unwrap(), None);
    }

    #[test]
    fn nodes_are_kept_and_replaced_by_name() {
        let store = SqliteStore::in_memory().unwrap();
        let mut node = Node {
            name: NodeName::parse("web-1").unwrap(),
            addr: "127.0.0.1:22".into(),
            labels: parse_labels("env=dev").unwrap(),
        };
        store.put_node(&node).unwrap();
        node.addr = "127.0.0.1:2222".into();
        store.put_node(&node).unwrap();
        assert_eq!(store.list_nodes().unwrap(), vec![node]);
    }

    #[test]
    fn database_file_keeps_state_across_opens() {
        let dir = std::env::temp_dir().join(format!("gatehouse-store-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state.db");
        {
            let store = SqliteStore::open(&path).unwrap();
            store.create_user("bob", &["dev".into()], 1).unwrap();
        }
        let store = SqliteStore::open(&path).unwrap();
        assert!(store.user_by_name("bob").unwrap().is_some());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn recordings_are_listed_newest_first_and_finished_later() {
        let store = SqliteStore::in_memory().unwrap();
        let row = |id: &str, started_at| RecordingRow {
            id: id.into(),
            kind: "ssh".into(),
            user: "alice".into(),
            target: "web-1".into(),
            login: "ubuntu".into(),
            started_at,
            ended_at: None,
            file: format!("{id}.ghrec"),
            bytes: 0,
            end_reason: None,
        };
        store.insert_recording(&row("a", 10)).unwrap();
        store.insert_recording(&row("b", 20)).unwrap();
        store.finish_recording("a", 15, 1234, "exit 0").unwrap();
        let listed = store.list_recordings(10).unwrap();
        assert_eq!(listed.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["b", "a"]);
        let a = store.recording("a").unwrap().unwrap();
        assert_eq!((a.ended_at, a.bytes, a.end_reason.as_deref()), (Some(15), 1234, Some("exit 0")));
        assert!(store.recording("c").unwrap().is_none());
        let bob = RecordingRow { user: "bob".into(), ..row("c", 30) };
        store.insert_recording(&bob).unwrap();
        let only = |filter: RecordingFilter| {
            let (rows, total) = store.search_recordings(&filter, 0, 10).unwrap();
            (rows.into_iter().map(|r| r.id).collect::<Vec<_>>(), total)
        };
        assert_eq!(only(RecordingFilter::default()), (vec!["c".into(), "b".into(), "a".into()], 3));
        assert_eq!(only(RecordingFilter { user: Some("alice".into()), ..Default::default() }).1, 2);
        assert_eq!(only(RecordingFilter { from: Some(15), to: Some(30), ..Default::default() }).0, ["b"]);
        assert_eq!(only(RecordingFilter { ids: Some(vec!["a".into()]), ..Default::default() }).0, ["a"]);
        assert_eq!(only(RecordingFilter { ids: Some(vec![]), ..Default::default() }).1, 0);
        let (page, total) = store.search_recordings(&RecordingFilter::default(), 1, 1).unwrap();
        assert_eq!((page[0].id.as_str(), total), ("b", 3));
    }

    #[test]
    fn a_challenge_is_taken_once_and_not_after_it_expires() {
        let (store, user) = store_with_user();
        store.put_challenge("c1", "auth", Some(user), "{}", 200).unwrap();
        assert_eq!(store.take_challenge("c1", "register", 100).unwrap(), None, "another kind");
        assert_eq!(store.take_challenge("c1", "auth", 100).unwrap(), Some((Some(user), "{}".into())));
        assert_eq!(store.take_challenge("c1", "auth", 100).unwrap(), None, "used");
        store.put_challenge("c2", "auth", None, "{}", 200).unwrap();
        assert_eq!(store.take_challenge("c2", "auth", 201).unwrap(), None, "expired");
    }

    #[test]
    fn passkeys_belong_to_their_user() {
        let (store, alice) = store_with_user();
        let bob = store.create_user("bob", &[], 100).unwrap();
        let id = store.add_passkey(alice, "laptop", "cred-1", "{}", 100).unwrap();
        assert!(store.add_passkey(bob, "dup", "cred-1", "{}", 100).is_err(), "credential ids are unique");
        assert_eq!(store.passkeys(alice).unwrap().len(), 1);
        assert_eq!(store.passkey_by_credential("cred-1").unwrap().unwrap().user_id, alice);
        store.passkey_used(id, "{\"n\":1}", 150).unwrap();
        assert_eq!(store.passkeys(alice).unwrap()[0].last_used_at, Some(150));
        assert!(!store.remove_passkey(bob, id).unwrap(), "not bob's");
        assert!(store.remove_passkey(alice, id).unwrap());
        assert!(store.passkeys(alice).unwrap().is_empty());
    }
}
