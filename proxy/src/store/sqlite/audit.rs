//! [`AuditStore`] on SQLite.

use rusqlite::params;

use super::SqliteStore;
use crate::audit::record::AuditRecord;
use crate::store::Result;
use crate::store::audit::AuditStore;

impl AuditStore for SqliteStore {
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
}
