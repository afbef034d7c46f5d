//! The [`Store`] in one SQLite file in the data directory: the connection and its
//! settings, and the numbered migrations of the schema. Each aggregate's store is
//! implemented in a file of its own beside this one.
//!
//! [`Store`]: crate::store::backend::Store

mod accounts;
mod apps;
mod audit;
mod cluster;
mod devices;
mod inventory;
mod locks;
mod passes;
mod passkeys;
mod recordings;
mod requests;
mod sso;

use std::path::Path;
use std::sync::Mutex;

use rusqlite::Connection;

use crate::store::{Result, StoreError};

impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> StoreError {
        StoreError::Database(Box::new(err))
    }
}

pub struct SqliteStore {
    conn: Mutex<Connection>,
}

/// The schema's history, oldest first: entry `i` moves a database from version `i` to
/// `i + 1` (`PRAGMA user_version`). Never edit an entry that has shipped; add one.
/// Version 1 is the schema from before versions were counted, written with `IF NOT
/// EXISTS`, so a database made then is brought to version 1 by running it again.
pub(crate) const MIGRATIONS: &[&str] =
    &[SCHEMA_V1, SCHEMA_V2, SCHEMA_V3, SCHEMA_V4, SCHEMA_V5, SCHEMA_V6, SCHEMA_V7, SCHEMA_V8];

/// Web apps: those added with `gatehouse apps add`, the keys that sign the identity
/// each request to an app carries (the private half sealed by the vault), launches under
/// way and app sessions (each bound to the web session it came from).
const SCHEMA_V8: &str = "
CREATE TABLE apps (
    name TEXT PRIMARY KEY,
    uri TEXT NOT NULL,
    labels TEXT NOT NULL,
    host_header TEXT,
    rewrite_redirects INTEGER NOT NULL
);
CREATE TABLE app_keys (
    kid TEXT PRIMARY KEY,
    public_key BLOB NOT NULL,
    private_sealed BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    signs_from INTEGER NOT NULL,
    retired_at INTEGER
);
CREATE TABLE app_launches (
    token_hash TEXT PRIMARY KEY,
    state_hash TEXT NOT NULL,
    app TEXT NOT NULL,
    username TEXT NOT NULL,
    web_session TEXT NOT NULL,
    path TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE TABLE app_sessions (
    token_hash TEXT PRIMARY KEY,
    app TEXT NOT NULL,
    username TEXT NOT NULL,
    web_session TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX app_sessions_by_web_session ON app_sessions(web_session);
";

/// What every proxy of a cluster shares: MFA tickets, the logins direct-mode
/// certificates were signed for, sign-in attempts per client address, and the
/// fingerprints of the keys they all hold.
const SCHEMA_V3: &str = "
CREATE TABLE mfa_tickets (
    token_hash TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    node TEXT NOT NULL,
    login TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE TABLE certified_logins (
    username TEXT NOT NULL,
    node TEXT NOT NULL,
    login TEXT NOT NULL,
    valid_until INTEGER NOT NULL
);
CREATE INDEX certified_logins_by_user ON certified_logins(username, node);
CREATE TABLE signin_attempts (
    ip TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX signin_attempts_by_ip ON signin_attempts(ip, at);
CREATE TABLE cluster_keys (
    name TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL
);
";

/// Which proxy writes a recording, and when it last said it still does: several
/// proxies share one database, and one finishes another's recordings only once that
/// one has stopped (`recordings::completer`).
const SCHEMA_V4: &str = "
ALTER TABLE recordings ADD COLUMN writer TEXT;
ALTER TABLE recordings ADD COLUMN heartbeat_at INTEGER;
CREATE INDEX recordings_unfinished ON recordings(writer) WHERE ended_at IS NULL;
";

/// Single sign-on: which account each identity provider's subject is, and the
/// sign-ins under way (any proxy may get the provider's callback).
const SCHEMA_V5: &str = "
CREATE TABLE sso_identities (
    connector TEXT NOT NULL,
    subject TEXT NOT NULL,
    issuer TEXT NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (connector, subject)
);
CREATE TABLE sso_flows (
    token_hash TEXT PRIMARY KEY,
    connector TEXT NOT NULL,
    binding_hash TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    nonce TEXT NOT NULL,
    user_id INTEGER REFERENCES users(id) ON DELETE CASCADE,
    expires_at INTEGER NOT NULL
);
";

/// Access requests (`access::requests`) and each reviewer's verdict, one per reviewer.
const SCHEMA_V6: &str = "
CREATE TABLE access_requests (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL,
    role TEXT NOT NULL,
    reason TEXT NOT NULL,
    duration_secs INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    state TEXT NOT NULL,
    decided_at INTEGER,
    expires_at INTEGER,
    revoked_by TEXT,
    revoked_at INTEGER,
    revoke_comment TEXT,
    expiry_noted INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX access_requests_by_user ON access_requests(username, expires_at);
CREATE INDEX access_requests_by_state ON access_requests(state);
CREATE TABLE access_request_reviews (
    request_id INTEGER NOT NULL REFERENCES access_requests(id) ON DELETE CASCADE,
    reviewer TEXT NOT NULL,
    approve INTEGER NOT NULL,
    comment TEXT NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY (request_id, reviewer)
);
";

/// Trusted devices (a one-time enrolment token's hash until the owner enrols its
/// credential), and which device a passed session check was answered by.
const SCHEMA_V7: &str = "
CREATE TABLE devices (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    token_hash TEXT UNIQUE,
    token_expires_at INTEGER,
    credential_id TEXT UNIQUE,
    passkey TEXT,
    attestation_format TEXT,
    aaguid TEXT,
    attestation_certified INTEGER,
    backup_eligible INTEGER,
    created_at INTEGER NOT NULL,
    enrolled_at INTEGER,
    last_used_at INTEGER,
    UNIQUE (user_id, name)
);
ALTER TABLE mfa_tickets ADD COLUMN device_id INTEGER;
";

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

    /// The columns of `table` (one of [`crate::store::copy::TABLES`]).
    pub(crate) fn columns(&self, table: &str) -> Result<Vec<String>> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT name FROM pragma_table_info(?1)")?;
        let columns = stmt.query_map([table], |row| row.get(0))?.collect::<rusqlite::Result<_>>()?;
        Ok(columns)
    }

    /// Up to `limit` rows of `table` after the key `after`, in key order: what
    /// [`crate::store::copy`] reads a batch at a time.
    pub(crate) fn rows_after(
        &self,
        table: &str,
        columns: &[String],
        key: &[&str],
        after: Option<&[crate::store::Cell]>,
        limit: usize,
    ) -> Result<Vec<Vec<crate::store::Cell>>> {
        use crate::store::Cell;
        use rusqlite::types::{Value, ValueRef};
        let quoted = |c: &str| format!("\"{c}\"");
        let list = columns.iter().map(|c| quoted(c)).collect::<Vec<_>>().join(", ");
        let keys = key.iter().map(|c| quoted(c)).collect::<Vec<_>>().join(", ");
        let marks = (1..=key.len()).map(|i| format!("?{i}")).collect::<Vec<_>>().join(", ");
        let filter = if after.is_some() { format!("WHERE ({keys}) > ({marks})") } else { String::new() };
        let sql = format!("SELECT {list} FROM \"{table}\" {filter} ORDER BY {keys} LIMIT {limit}");
        let values: Vec<Value> = after
            .unwrap_or_default()
            .iter()
            .map(|cell| match cell {
                Cell::Null => Value::Null,
                Cell::Integer(i) => Value::Integer(*i),
                Cell::Text(t) => Value::Text(t.clone()),
                Cell::Blob(b) => Value::Blob(b.clone()),
            })
            .collect();
        let conn = self.conn();
        let mut stmt = conn.prepare(&sql)?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(values.iter()), |row| {
                (0..columns.len())
                    .map(|i| {
                        Ok(match row.get_ref(i)? {
                            ValueRef::Null => Cell::Null,
                            ValueRef::Integer(i) => Cell::Integer(i),
                            ValueRef::Real(f) => Cell::Text(f.to_string()),
                            ValueRef::Text(t) => Cell::Text(String::from_utf8_lossy(t).into_owned()),
                            ValueRef::Blob(b) => Cell::Blob(b.to_vec()),
                        })
                    })
                    .collect::<rusqlite::Result<Vec<_>>>()
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite half-written (statements are
        // atomic), so a poisoned lock is safe to keep using.
        self.conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::accounts::AccountStore as _;
    use crate::store::inventory::InventoryStore as _;

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
}
