//! [`PassStore`] and [`ClusterStore`] on PostgreSQL.

use super::PostgresStore;
use crate::gate::ticket::MfaTicket;
use crate::store::Result;
use crate::store::cluster::ClusterStore;
use crate::store::passes::PassStore;

impl PassStore for PostgresStore {
    fn put_ticket(&self, token_hash: &str, t: &MfaTicket, now: u64) -> Result<()> {
        let (hash, t) = (token_hash.to_string(), t.clone());
        self.run(move |c| async move {
            c.execute("DELETE FROM mfa_tickets WHERE expires_at < $1", &[&(now as i64)]).await?;
            c.execute(
                "INSERT INTO mfa_tickets (token_hash, username, node, login, expires_at, device_id)
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[&hash, &t.user, &t.node, &t.login, &(t.expires_at as i64), &t.device],
            )
            .await?;
            Ok(())
        })
    }

    fn take_ticket(&self, token_hash: &str, now: u64) -> Result<Option<MfaTicket>> {
        let hash = token_hash.to_string();
        self.run(move |c| async move {
            let row = c
                .query_opt(
                    "DELETE FROM mfa_tickets WHERE token_hash = $1 RETURNING username, node, login, expires_at, device_id",
                    &[&hash],
                )
                .await?;
            let ticket = row
                .map(|row| -> Result<MfaTicket> {
                    Ok(MfaTicket {
                        user: row.try_get(0)?,
                        node: row.try_get(1)?,
                        login: row.try_get(2)?,
                        expires_at: row.try_get::<_, i64>(3)? as u64,
                        device: row.try_get(4)?,
                    })
                })
                .transpose()?;
            Ok(ticket.filter(|t| t.expires_at >= now))
        })
    }

    fn note_certified(&self, user: &str, node: &str, login: &str, valid_until: u64, now: u64) -> Result<()> {
        let (user, node, login) = (user.to_string(), node.to_string(), login.to_string());
        self.run(move |c| async move {
            c.execute("DELETE FROM certified_logins WHERE valid_until < $1", &[&(now as i64)]).await?;
            c.execute(
                "INSERT INTO certified_logins (username, node, login, valid_until) VALUES ($1, $2, $3, $4)",
                &[&user, &node, &login, &(valid_until as i64)],
            )
            .await?;
            Ok(())
        })
    }

    fn certified_logins(&self, user: &str, node: &str, now: u64) -> Result<Vec<String>> {
        let (user, node) = (user.to_string(), node.to_string());
        self.run(move |c| async move {
            let rows = c
                .query(
                    "SELECT login FROM certified_logins WHERE username = $1 AND node = $2 AND valid_until >= $3 ORDER BY id",
                    &[&user, &node, &(now as i64)],
                )
                .await?;
            rows.iter().map(|row| Ok(row.try_get(0)?)).collect()
        })
    }
}

impl ClusterStore for PostgresStore {
    fn agree_key(&self, name: &str, fingerprint: &str) -> Result<String> {
        let (name, fingerprint) = (name.to_string(), fingerprint.to_string());
        self.run(move |c| async move {
            c.execute(
                "INSERT INTO cluster_keys (name, fingerprint) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                &[&name, &fingerprint],
            )
            .await?;
            Ok(c.query_one("SELECT fingerprint FROM cluster_keys WHERE name = $1", &[&name]).await?.try_get(0)?)
        })
    }

    fn cluster_key(&self, name: &str) -> Result<Option<String>> {
        let name = name.to_string();
        self.run(move |c| async move {
            let row = c.query_opt("SELECT fingerprint FROM cluster_keys WHERE name = $1", &[&name]).await?;
            row.map(|row| Ok(row.try_get(0)?)).transpose()
        })
    }

    fn ping(&self) -> Result<()> {
        PostgresStore::ping(self)
    }
}
