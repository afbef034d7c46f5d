//! The audit trail as persisted: appended to, read newest first.

use super::Result;
use crate::audit::record::AuditRecord;

/// The audit trail.
pub trait AuditStore: Send + Sync {
    fn append_audit(&self, record: &AuditRecord) -> Result<()>;
    fn recent_audit(&self, limit: u32) -> Result<Vec<AuditRecord>>;
}
