//! [`AuditStore`] on PostgreSQL.

use super::PostgresStore;
use crate::audit::record::AuditRecord;
use crate::store::Result;
use crate::store::audit::AuditStore;

impl AuditStore for PostgresStore {
    fn append_audit(&self, record: &AuditRecord) -> Result<()> {
        let r = record.clone();
        self.run(move |c| async move {
            c.execute(
                r#"INSERT INTO audit (at, kind, "user", ip, detail) VALUES ($1, $2, $3, $4, $5)"#,
                &[&(r.at as i64), &r.kind, &r.user, &r.ip, &r.detail],
            )
            .await?;
            Ok(())
        })
    }

    fn recent_audit(&self, limit: u32) -> Result<Vec<AuditRecord>> {
        self.run(move |c| async move {
            let rows = c
                .query(
                    r#"SELECT at, kind, "user", ip, detail FROM audit ORDER BY id DESC LIMIT $1"#,
                    &[&i64::from(limit)],
                )
                .await?;
            rows.iter()
                .map(|row| {
                    Ok(AuditRecord {
                        at: row.try_get::<_, i64>(0)? as u64,
                        kind: row.try_get(1)?,
                        user: row.try_get(2)?,
                        ip: row.try_get(3)?,
                        detail: row.try_get(4)?,
                    })
                })
                .collect()
        })
    }
}
