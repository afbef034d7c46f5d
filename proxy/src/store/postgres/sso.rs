//! [`SsoStore`] on PostgreSQL.

use super::PostgresStore;
use crate::accounts::user::UserId;
use crate::sso::flow::Flow;
use crate::store::Result;
use crate::store::sso::SsoStore;

impl SsoStore for PostgresStore {
    fn put_flow(&self, token_hash: &str, f: &Flow, now: u64) -> Result<()> {
        let (hash, f) = (token_hash.to_string(), f.clone());
        self.run(move |c| async move {
            c.execute("DELETE FROM sso_flows WHERE expires_at < $1", &[&(now as i64)]).await?;
            c.execute(
                "INSERT INTO sso_flows (token_hash, connector, binding_hash, pkce_verifier, nonce, user_id, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[&hash, &f.connector, &f.binding_hash, &f.pkce_verifier, &f.nonce, &f.user, &(f.expires_at as i64)],
            )
            .await?;
            Ok(())
        })
    }

    fn take_flow(&self, token_hash: &str, now: u64) -> Result<Option<Flow>> {
        let hash = token_hash.to_string();
        self.run(move |c| async move {
            let row = c
                .query_opt(
                    "DELETE FROM sso_flows WHERE token_hash = $1 \
                     RETURNING connector, binding_hash, pkce_verifier, nonce, user_id, expires_at",
                    &[&hash],
                )
                .await?;
            let flow = row
                .map(|row| -> Result<Flow> {
                    Ok(Flow {
                        connector: row.try_get(0)?,
                        binding_hash: row.try_get(1)?,
                        pkce_verifier: row.try_get(2)?,
                        nonce: row.try_get(3)?,
                        user: row.try_get(4)?,
                        expires_at: row.try_get::<_, i64>(5)? as u64,
                    })
                })
                .transpose()?;
            Ok(flow.filter(|f| f.expires_at > now))
        })
    }

    fn sso_user(&self, connector: &str, subject: &str) -> Result<Option<(UserId, String)>> {
        let (connector, subject) = (connector.to_string(), subject.to_string());
        self.run(move |c| async move {
            let row = c
                .query_opt(
                    "SELECT user_id, issuer FROM sso_identities WHERE connector = $1 AND subject = $2",
                    &[&connector, &subject],
                )
                .await?;
            row.map(|row| -> Result<(UserId, String)> { Ok((row.try_get(0)?, row.try_get(1)?)) }).transpose()
        })
    }

    fn link_sso(&self, connector: &str, subject: &str, issuer: &str, user: UserId, now: u64) -> Result<bool> {
        let (connector, subject, issuer) = (connector.to_string(), subject.to_string(), issuer.to_string());
        self.run(move |c| async move {
            let inserted = c
                .execute(
                    "INSERT INTO sso_identities (connector, subject, issuer, user_id, created_at) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (connector, subject) DO NOTHING",
                    &[&connector, &subject, &issuer, &user, &(now as i64)],
                )
                .await?;
            Ok(inserted == 1)
        })
    }

    fn sso_links(&self, user: UserId) -> Result<Vec<String>> {
        self.run(move |c| async move {
            let rows =
                c.query("SELECT connector FROM sso_identities WHERE user_id = $1 ORDER BY connector", &[&user]).await?;
            rows.iter().map(|row| Ok(row.try_get(0)?)).collect()
        })
    }
}
