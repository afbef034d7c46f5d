//! [`DeviceStore`] on PostgreSQL.

use super::PostgresStore;
use crate::accounts::user::UserId;
use crate::devices::device::Enrolled;
use crate::devices::device::{Attestation, Device};
use crate::store::Result;
use crate::store::devices::DeviceStore;

const DEVICE_COLUMNS: &str = "d.id, d.user_id, u.name, d.name, d.created_at, d.credential_id, d.passkey, \
     d.attestation_format, d.aaguid, d.attestation_certified, d.backup_eligible, d.enrolled_at, d.last_used_at";
const FROM: &str = "FROM devices d JOIN users u ON u.id = d.user_id";

fn device_from_row(row: &tokio_postgres::Row) -> Result<Device> {
    let credential_id: Option<String> = row.try_get(5)?;
    let passkey_json: Option<String> = row.try_get(6)?;
    let enrolled_at: Option<i64> = row.try_get(11)?;
    let enrolled = match (credential_id, passkey_json, enrolled_at) {
        (Some(credential_id), Some(passkey_json), Some(enrolled_at)) => Some(Enrolled {
            credential_id,
            passkey_json,
            attestation: Attestation {
                format: row.try_get::<_, Option<String>>(7)?.unwrap_or_else(|| "none".into()),
                aaguid: row.try_get(8)?,
                certified: row.try_get::<_, Option<bool>>(9)?.unwrap_or(false),
                backup_eligible: row.try_get::<_, Option<bool>>(10)?.unwrap_or(true),
            },
            enrolled_at: enrolled_at as u64,
            last_used_at: row.try_get::<_, Option<i64>>(12)?.map(|t| t as u64),
        }),
        _ => None,
    };
    Ok(Device {
        id: row.try_get(0)?,
        user_id: row.try_get(1)?,
        owner: row.try_get(2)?,
        name: row.try_get(3)?,
        created_at: row.try_get::<_, i64>(4)? as u64,
        enrolled,
    })
}

impl DeviceStore for PostgresStore {
    fn add_device(&self, user: UserId, name: &str, token_hash: &str, expires_at: u64, now: u64) -> Result<Option<i64>> {
        let (name, hash) = (name.to_string(), token_hash.to_string());
        self.run(move |c| async move {
            let row = c
                .query_opt(
                    "INSERT INTO devices (user_id, name, token_hash, token_expires_at, created_at) VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (user_id, name) DO NOTHING RETURNING id",
                    &[&user, &name, &hash, &(expires_at as i64), &(now as i64)],
                )
                .await?;
            Ok(row.map(|row| row.try_get(0)).transpose()?)
        })
    }

    fn device_by_token(&self, token_hash: &str, now: u64) -> Result<Option<Device>> {
        let hash = token_hash.to_string();
        self.run(move |c| async move {
            let sql = format!("SELECT {DEVICE_COLUMNS} {FROM} WHERE d.token_hash = $1 AND d.token_expires_at > $2");
            c.query_opt(&sql, &[&hash, &(now as i64)]).await?.as_ref().map(device_from_row).transpose()
        })
    }

    fn enrol_device(
        &self,
        token_hash: &str,
        credential_id: &str,
        passkey_json: &str,
        attestation: &Attestation,
        now: u64,
    ) -> Result<bool> {
        let (hash, credential, json, a) =
            (token_hash.to_string(), credential_id.to_string(), passkey_json.to_string(), attestation.clone());
        self.run(move |c| async move {
            let changed = c
                .execute(
                    "UPDATE devices SET token_hash = NULL, token_expires_at = NULL, credential_id = $2, passkey = $3,
                         attestation_format = $4, aaguid = $5, attestation_certified = $6, backup_eligible = $7,
                         enrolled_at = $8
                     WHERE token_hash = $1 AND token_expires_at > $8",
                    &[&hash, &credential, &json, &a.format, &a.aaguid, &a.certified, &a.backup_eligible, &(now as i64)],
                )
                .await?;
            Ok(changed == 1)
        })
    }

    fn devices_of(&self, user: UserId) -> Result<Vec<Device>> {
        self.run(move |c| async move {
            let sql = format!("SELECT {DEVICE_COLUMNS} {FROM} WHERE d.user_id = $1 ORDER BY d.id");
            c.query(&sql, &[&user]).await?.iter().map(device_from_row).collect()
        })
    }

    fn all_devices(&self) -> Result<Vec<Device>> {
        self.run(move |c| async move {
            let sql = format!("SELECT {DEVICE_COLUMNS} {FROM} ORDER BY u.name, d.id");
            c.query(&sql, &[]).await?.iter().map(device_from_row).collect()
        })
    }

    fn device(&self, id: i64) -> Result<Option<Device>> {
        self.run(move |c| async move {
            let sql = format!("SELECT {DEVICE_COLUMNS} {FROM} WHERE d.id = $1");
            c.query_opt(&sql, &[&id]).await?.as_ref().map(device_from_row).transpose()
        })
    }

    fn device_used(&self, id: i64, passkey_json: &str, now: u64) -> Result<()> {
        let json = passkey_json.to_string();
        self.run(move |c| async move {
            c.execute("UPDATE devices SET passkey = $2, last_used_at = $3 WHERE id = $1", &[&id, &json, &(now as i64)])
                .await?;
            Ok(())
        })
    }

    fn remove_device(&self, id: i64) -> Result<bool> {
        self.run(move |c| async move { Ok(c.execute("DELETE FROM devices WHERE id = $1", &[&id]).await? == 1) })
    }

    fn existing_devices(&self, ids: &[i64]) -> Result<Vec<i64>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids = ids.to_vec();
        self.run(move |c| async move {
            let rows = c.query("SELECT id FROM devices WHERE id = ANY($1)", &[&ids]).await?;
            rows.iter().map(|row| Ok(row.try_get(0)?)).collect()
        })
    }
}
