//! The audit trail: sign-ins, failures, lockouts, sign-outs and denials, written as JSON
//! lines to `audit.jsonl` in the data directory and as rows in the database.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::store::{AuditRecord, Store};

pub struct Audit {
    store: Arc<dyn Store>,
    file: Mutex<File>,
}

impl Audit {
    pub fn open(store: Arc<dyn Store>, path: &Path) -> std::io::Result<Audit> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Audit { store, file: Mutex::new(file) })
    }

    /// Records one event. Failing to write the trail is logged loudly but does not fail
    /// the request that caused it.
    pub fn record(&self, kind: &str, user: Option<&str>, ip: Option<std::net::IpAddr>, detail: &str) {
        let record = AuditRecord {
            at: crate::auth::now(),
            kind: kind.to_string(),
            user: user.map(String::from),
            ip: ip.map(|ip| ip.to_string()),
            detail: detail.to_string(),
        };
        tracing::info!(target: "audit", kind, user, ip = record.ip.as_deref(), detail);
        if let Err(err) = self.store.append_audit(&record) {
            tracing::error!(%err, kind, "cannot write the audit record to the database");
        }
        let line = match serde_json::to_string(&record) {
            Ok(line) => line,
            Err(err) => {
                tracing::error!(%err, "cannot serialise an audit record");
                return;
            }
        };
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(err) = writeln!(file, "{line}") {
            tracing::error!(%err, kind, "cannot append to audit.jsonl");
        }
    }
}
