//! [`PasskeyStore`] on PostgreSQL.

use super::PostgresStore;
use crate::accounts::user::UserId;
use crate::passkeys::credential::StoredPasskey;
use crate::store::Result;
use crate::store::passkeys::PasskeyStore;

const PASSKEY_COLUMNS: &str = "id, user_id, name, credential_id, passkey, created_at, last_used_at";

fn passkey_from_row(row: &tokio_postgres::Row) -> Result<StoredPasskey> {
    Ok(StoredPasskey {
        id: row.try_get(0)?,
        user_id: row.try_get(1)?,
        name: row.try_get(2)?,
        credential_id: row.try_get(3)?,
        passkey_json: row.try_get(4)?,
        created_at: row.try_get::<_, i64>(5)? as u64,
        last_used_at: row.try_get::<_, Option<i64>>(6)?.map(|t| t as u64),
    })
}

impl PasskeyStore for PostgresStore {
    fn add_passkey(&self, user: UserId, name: &str, credential_id: &str, passkey_json: &str, now: u64) -> Result<i64> {
        let (name, credential, json) = (name.to_string(), credential_id.to_string(), passkey_json.to_string());
        self.run(move |c| async move {
            let row = c
                .query_one(
                    "INSERT INTO passkeys (user_id, name, credential_id, passkey, created_at) VALUES ($1, $2, $3, $4, $5)
                     RETURNING id",
                    &[&user, &name, &credential, &json, &(now as i64)],
                )
                .await?;
            Ok(row.try_get(0)?)
        })
    }

    fn passkeys(&self, user: UserId) -> Result<Vec<StoredPasskey>> {
        self.run(move |c| async move {
            let sql = format!("SELECT {PASSKEY_COLUMNS} FROM passkeys WHERE user_id = $1 ORDER BY id");
            c.query(&sql, &[&user]).await?.iter().map(passkey_from_row).collect()
        })
    }

    fn passkey_by_credential(&self, credential_id: &str) -> Result<Option<StoredPasskey>> {
        let credential = credential_id.to_string();
        self.run(move |c| async move {
            let sql = format!("SELECT {PASSKEY_COLUMNS} FROM passkeys WHERE credential_id = $1");
            c.query_opt(&sql, &[&credential]).await?.as_ref().map(passkey_from_row).transpose()
        })
    }

    fn passkey_used(&self, id: i64, passkey_json: &str, now: u64) -> Result<()> {
        let json = passkey_json.to_string();
        self.run(move |c| async move {
            c.execute(
                "UPDATE passkeys SET passkey = $2, last_used_at = $3 WHERE id = $1",
                &[&id, &json, &(now as i64)],
            )
            .await?;
            Ok(())
        })
    }

    fn remove_passkey(&self, user: UserId, id: i64) -> Result<bool> {
        self.run(move |c| async move {
            Ok(c.execute("DELETE FROM passkeys WHERE id = $1 AND user_id = $2", &[&id, &user]).await? == 1)
        })
    }

    fn put_challenge(
        &self,
        id: &str,
        kind: &str,
        user: Option<UserId>,
        state_json: &str,
        expires_at: u64,
    ) -> Result<()> {
        let (id, kind, state) = (id.to_string(), kind.to_string(), state_json.to_string());
        self.run(move |c| async move {
            c.execute(
                "DELETE FROM webauthn_challenges WHERE expires_at < $1",
                &[&(expires_at.saturating_sub(3600) as i64)],
            )
            .await?;
            c.execute(
                "INSERT INTO webauthn_challenges (id, kind, user_id, state, expires_at) VALUES ($1, $2, $3, $4, $5)",
                &[&id, &kind, &user, &state, &(expires_at as i64)],
            )
            .await?;
            Ok(())
        })
    }

    fn take_challenge(&self, id: &str, kind: &str, now: u64) -> Result<Option<(Option<UserId>, String)>> {
        let (id, kind) = (id.to_string(), kind.to_string());
        self.run(move |c| async move {
            let row = c
                .query_opt(
                    "DELETE FROM webauthn_challenges WHERE id = $1 AND kind = $2 RETURNING user_id, state, expires_at",
                    &[&id, &kind],
                )
                .await?;
            let Some(row) = row else { return Ok(None) };
            let expires_at = row.try_get::<_, i64>(2)? as u64;
            if expires_at < now {
                return Ok(None);
            }
            Ok(Some((row.try_get(0)?, row.try_get(1)?)))
        })
    }
}
