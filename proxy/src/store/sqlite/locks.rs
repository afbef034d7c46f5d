//! [`LockStore`] on SQLite.

use rusqlite::params;

use super::SqliteStore;
use crate::access::locks::{Lock, LockTarget, NewLock};
use crate::store::locks::LockStore;
use crate::store::{Result, StoreError};

impl LockStore for SqliteStore {
    fn add_lock(&self, lock: &NewLock, now: u64) -> Result<i64> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO locks (target_kind, target, reason, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![lock.target.kind(), lock.target.name(), lock.reason, now as i64, lock.expires_at.map(|t| t as i64)],
        )?;
        Ok(conn.last_insert_rowid())
    }

    fn active_locks(&self, now: u64) -> Result<Vec<Lock>> {
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
                let target = LockTarget::from_parts(&kind, name)
                    .ok_or_else(|| StoreError::Corrupt(format!("lock {id} has the unknown kind {kind:?}")))?;
                Ok(Lock { id, target, reason, created_at, expires_at })
            })
            .collect()
    }

    fn remove_lock(&self, id: i64) -> Result<bool> {
        Ok(self.conn().execute("DELETE FROM locks WHERE id = ?1", [id])? == 1)
    }
}
