//! `gatehouse migrate`: what a single proxy kept in SQLite, copied into the PostgreSQL
//! of a cluster. Users with their password hashes and sealed TOTP secrets, passkeys,
//! nodes, desktops with their sealed passwords, web apps and the keys that sign their
//! assertions (sealed), locks, the recordings' index and the
//! audit trail, every row under its own key: a row already there is left alone, so the
//! copy can be run again, or resumed after it stopped, and copies nothing twice.
//!
//! Left behind on purpose: web sessions and MFA tickets (people sign in again), pending
//! invites (issue new ones), sign-in failures and lockouts, WebAuthn challenges, app
//! launches and app sessions (people launch the app again), access
//! requests (they last hours at most: ask again; their steps are in the audit). The
//! columns copied are those both schemas have, so a row keeps what this Gatehouse knows.

use super::Result;
use super::postgres::PostgresStore;
use super::sqlite::SqliteStore;

/// The tables copied, parents first (passkeys name users), with their key columns and
/// whether the key is a number the database hands out.
pub const TABLES: &[(&str, &[&str], bool)] = &[
    ("users", &["id"], true),
    ("passkeys", &["id"], true),
    ("sso_identities", &["connector", "subject"], false),
    ("devices", &["id"], true),
    ("nodes", &["name"], false),
    ("desktops", &["name"], false),
    ("apps", &["name"], false),
    ("app_keys", &["kid"], false),
    ("locks", &["id"], true),
    ("recordings", &["id"], false),
    ("audit", &["id"], true),
];

/// Rows read from SQLite per batch.
const BATCH: usize = 500;

/// What one table's copy did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    pub table: &'static str,
    pub rows: u64,
    pub added: u64,
}

/// Copies every table of [`TABLES`] from `from` to `to`; `progress` hears of each table
/// as it finishes.
pub fn sqlite_to_postgres(from: &SqliteStore, to: &PostgresStore, progress: impl Fn(&Copied)) -> Result<Vec<Copied>> {
    let mut report = Vec::new();
    for (table, key, numbered) in TABLES {
        let wanted = to.columns(table)?;
        let columns: Vec<String> = from.columns(table)?.into_iter().filter(|c| wanted.contains(c)).collect();
        let mut copied = Copied { table, rows: 0, added: 0 };
        let mut after: Option<Vec<super::Cell>> = None;
        loop {
            let rows = from.rows_after(table, &columns, key, after.as_deref(), BATCH)?;
            let Some(last) = rows.last() else { break };
            after = Some(key.iter().map(|k| last[columns.iter().position(|c| c == k).unwrap_or(0)].clone()).collect());
            copied.rows += rows.len() as u64;
            copied.added += to.insert_missing(table, &columns, key, &rows)?;
            if rows.len() < BATCH {
                break;
            }
        }
        if *numbered {
            to.catch_up_identity(table)?;
        }
        progress(&copied);
        report.push(copied);
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::accounts::AccountStore as _;
    use crate::store::audit::AuditStore as _;
    use crate::store::passkeys::PasskeyStore as _;

    #[test]
    fn a_second_copy_adds_nothing_and_new_rows_get_new_ids() {
        let Some(to) = crate::store::postgres::tests::test_store() else {
            eprintln!("skipped: GATEHOUSE_TEST_POSTGRES is not set");
            return;
        };
        let from = SqliteStore::in_memory().unwrap();
        let ana = from.create_user("ana", &["dev".into()], 1).unwrap();
        from.set_credentials(ana, "$argon2id$hash", b"sealed-totp", 42).unwrap();
        from.add_passkey(ana, "laptop", "cred-1", "{\"k\":1}", 2).unwrap();
        for at in 0..1_203u64 {
            let record = crate::audit::record::AuditRecord {
                at,
                kind: "signin.ok".into(),
                user: Some("ana".into()),
                ip: None,
                detail: format!("n{at}"),
            };
            from.append_audit(&record).unwrap();
        }
        let first = sqlite_to_postgres(&from, &to, |_| {}).unwrap();
        let audit = first.iter().find(|c| c.table == "audit").unwrap();
        assert_eq!((audit.rows, audit.added), (1_203, 1_203), "in batches of {BATCH}");
        let again = sqlite_to_postgres(&from, &to, |_| {}).unwrap();
        assert!(again.iter().all(|c| c.added == 0), "{again:?}");
        let copied = to.user_by_name("ana").unwrap().unwrap();
        assert_eq!(copied.id, ana);
        assert_eq!((copied.password_hash.as_deref(), copied.totp_last_step), (Some("$argon2id$hash"), Some(42)));
        assert_eq!(copied.totp_secret.as_deref(), Some(&b"sealed-totp"[..]));
        assert_eq!(to.passkey_by_credential("cred-1").unwrap().unwrap().user_id, ana);
        // The identity columns continue after the copied ids.
        let bo = to.create_user("bo", &[], 3).unwrap();
        assert!(bo > ana);
    }
}
