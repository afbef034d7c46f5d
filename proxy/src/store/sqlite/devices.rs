//! [`DeviceStore`] on SQLite.

use rusqlite::{OptionalExtension, params};

use super::SqliteStore;
use crate::accounts::user::UserId;
use crate::devices::device::Enrolled;
use crate::devices::device::{Attestation, Device};
use crate::store::Result;
use crate::store::devices::DeviceStore;

const DEVICE_COLUMNS: &str = "d.id, d.user_id, u.name, d.name, d.created_at, d.credential_id, d.passkey, \
     d.attestation_format, d.aaguid, d.attestation_certified, d.backup_eligible, d.enrolled_at, d.last_used_at";
const FROM: &str = "FROM devices d JOIN users u ON u.id = d.user_id";

fn device_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Device> {
    let credential_id: Option<String> = row.get(5)?;
    let enrolled = match (credential_id, row.get::<_, Option<String>>(6)?, row.get::<_, Option<i64>>(11)?) {
        (Some(credential_id), Some(passkey_json), Some(enrolled_at)) => Some(Enrolled {
            credential_id,
            passkey_json,
            attestation: Attestation {
                format: row.get::<_, Option<String>>(7)?.unwrap_or_else(|| "none".into()),
                aaguid: row.get(8)?,
                certified: row.get::<_, Option<bool>>(9)?.unwrap_or(false),
                backup_eligible: row.get::<_, Option<bool>>(10)?.unwrap_or(true),
            },
            enrolled_at: enrolled_at as u64,
            last_used_at: row.get::<_, Option<i64>>(12)?.map(|t| t as u64),
        }),
        _ => None,
    };
    Ok(Device {
        id: row.get(0)?,
        user_id: row.get(1)?,
        owner: row.get(2)?,
        name: row.get(3)?,
        created_at: row.get::<_, i64>(4)? as u64,
        enrolled,
    })
}

impl DeviceStore for SqliteStore {
    fn add_device(&self, user: UserId, name: &str, token_hash: &str, expires_at: u64, now: u64) -> Result<Option<i64>> {
        let conn = self.conn();
        let added = conn.execute(
            "INSERT INTO devices (user_id, name, token_hash, token_expires_at, created_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (user_id, name) DO NOTHING",
            params![user, name, token_hash, expires_at as i64, now as i64],
        )?;
        Ok((added == 1).then(|| conn.last_insert_rowid()))
    }

    fn device_by_token(&self, token_hash: &str, now: u64) -> Result<Option<Device>> {
        let conn = self.conn();
        let row = conn
            .query_row(
                &format!("SELECT {DEVICE_COLUMNS} {FROM} WHERE d.token_hash = ?1 AND d.token_expires_at > ?2"),
                params![token_hash, now as i64],
                device_from_row,
            )
            .optional()?;
        Ok(row)
    }

    fn enrol_device(
        &self,
        token_hash: &str,
        credential_id: &str,
        passkey_json: &str,
        attestation: &Attestation,
        now: u64,
    ) -> Result<bool> {
        let changed = self.conn().execute(
            "UPDATE devices SET token_hash = NULL, token_expires_at = NULL, credential_id = ?2, passkey = ?3,
                 attestation_format = ?4, aaguid = ?5, attestation_certified = ?6, backup_eligible = ?7, enrolled_at = ?8
             WHERE token_hash = ?1 AND token_expires_at > ?8",
            params![
                token_hash,
                credential_id,
                passkey_json,
                attestation.format,
                attestation.aaguid,
                attestation.certified,
                attestation.backup_eligible,
                now as i64
            ],
        )?;
        Ok(changed == 1)
    }

    fn devices_of(&self, user: UserId) -> Result<Vec<Device>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!("SELECT {DEVICE_COLUMNS} {FROM} WHERE d.user_id = ?1 ORDER BY d.id"))?;
        let rows = stmt.query_map([user], device_from_row)?.collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    fn all_devices(&self) -> Result<Vec<Device>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!("SELECT {DEVICE_COLUMNS} {FROM} ORDER BY u.name, d.id"))?;
        let rows = stmt.query_map([], device_from_row)?.collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    fn device(&self, id: i64) -> Result<Option<Device>> {
        let conn = self.conn();
        let row = conn
            .query_row(&format!("SELECT {DEVICE_COLUMNS} {FROM} WHERE d.id = ?1"), [id], device_from_row)
            .optional()?;
        Ok(row)
    }

    fn device_used(&self, id: i64, passkey_json: &str, now: u64) -> Result<()> {
        self.conn().execute(
            "UPDATE devices SET passkey = ?2, last_used_at = ?3 WHERE id = ?1",
            params![id, passkey_json, now as i64],
        )?;
        Ok(())
    }

    fn remove_device(&self, id: i64) -> Result<bool> {
        Ok(self.conn().execute("DELETE FROM devices WHERE id = ?1", [id])? == 1)
    }

    fn existing_devices(&self, ids: &[i64]) -> Result<Vec<i64>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let conn = self.conn();
        // The ids as one JSON array: one statement whatever their number.
        let list = serde_json::to_string(ids).map_err(|e| crate::store::StoreError::Corrupt(e.to_string()))?;
        let mut stmt = conn.prepare("SELECT id FROM devices WHERE id IN (SELECT value FROM json_each(?1))")?;
        let rows = stmt.query_map([list], |row| row.get(0))?.collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }
}
