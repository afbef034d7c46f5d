//! One line of the audit trail, as the database and `audit.jsonl` keep it.

/// One line of the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditRecord {
    pub at: u64,
    pub kind: String,
    pub user: Option<String>,
    pub ip: Option<String>,
    pub detail: String,
}
