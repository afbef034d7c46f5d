//! [`LockStore`] on PostgreSQL.

use super::PostgresStore;
use crate::access::locks::{Lock, LockTarget, NewLock};
use crate::store::locks::LockStore;
use crate::store::{Result, StoreError};

impl LockStore for PostgresStore {
    fn add_lock(&self, lock: &NewLock, now: u64) -> Result<i64> {
        let (kind, name) = (lock.target.kind().to_string(), lock.target.name().to_string());
        let (reason, expires_at) = (lock.reason.clone(), lock.expires_at.map(|t| t as i64));
        self.run(move |c| async move {
            let row = c
                .query_one(
                    "INSERT INTO locks (target_kind, target, reason, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)
                     RETURNING id",
                    &[&kind, &name, &reason, &(now as i64), &expires_at],
                )
                .await?;
            Ok(row.try_get(0)?)
        })
    }

    fn active_locks(&self, now: u64) -> Result<Vec<Lock>> {
        self.run(move |c| async move {
            let rows = c
                .query(
                    "SELECT id, target_kind, target, reason, created_at, expires_at FROM locks
                     WHERE expires_at IS NULL OR expires_at > $1 ORDER BY id",
                    &[&(now as i64)],
                )
                .await?;
            rows.iter()
                .map(|row| {
                    let id: i64 = row.try_get(0)?;
                    let kind: String = row.try_get(1)?;
                    let target = LockTarget::from_parts(&kind, row.try_get(2)?)
                        .ok_or_else(|| StoreError::Corrupt(format!("lock {id} has the unknown kind {kind:?}")))?;
                    Ok(Lock {
                        id,
                        target,
                        reason: row.try_get(3)?,
                        created_at: row.try_get::<_, i64>(4)? as u64,
                        expires_at: row.try_get::<_, Option<i64>>(5)?.map(|t| t as u64),
                    })
                })
                .collect()
        })
    }

    fn remove_lock(&self, id: i64) -> Result<bool> {
        self.run(move |c| async move { Ok(c.execute("DELETE FROM locks WHERE id = $1", &[&id]).await? == 1) })
    }
}
