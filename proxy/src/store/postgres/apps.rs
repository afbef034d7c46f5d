//! [`AppStore`] on PostgreSQL, and the apps of [`InventoryStore`](crate::store::inventory::InventoryStore).

use super::PostgresStore;
use crate::apps::keys::StoredKey;
use crate::apps::session::{AppSession, Launch};
use crate::inventory::apps::{App, AppUri};
use crate::inventory::nodes::{NodeName, format_labels, parse_labels};
use crate::store::apps::AppStore;
use crate::store::{Result, StoreError};

impl PostgresStore {
    pub(super) fn put_app_row(&self, app: &App) -> Result<()> {
        let (name, uri, labels, host, rewrite) = (
            app.name.to_string(),
            app.uri.origin().to_string(),
            format_labels(&app.labels),
            app.host_header.clone(),
            app.rewrite_redirects,
        );
        self.run(move |c| async move {
            c.execute(
                "INSERT INTO apps (name, uri, labels, host_header, rewrite_redirects) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (name) DO UPDATE SET uri = excluded.uri, labels = excluded.labels,
                    host_header = excluded.host_header, rewrite_redirects = excluded.rewrite_redirects",
                &[&name, &uri, &labels, &host, &rewrite],
            )
            .await?;
            Ok(())
        })
    }

    pub(super) fn list_app_rows(&self) -> Result<Vec<App>> {
        self.run(|c| async move {
            let rows = c
                .query("SELECT name, uri, labels, host_header, rewrite_redirects FROM apps ORDER BY name", &[])
                .await?;
            rows.iter()
                .map(|row| {
                    let name: String = row.try_get(0)?;
                    let corrupt = |e: String| StoreError::Corrupt(format!("app {name:?}: {e}"));
                    Ok(App {
                        name: NodeName::parse(&name).map_err(|e| corrupt(e.to_string()))?,
                        uri: AppUri::parse(row.try_get(1)?).map_err(|e| corrupt(e.to_string()))?,
                        labels: parse_labels(row.try_get(2)?).map_err(|e| corrupt(e.to_string()))?,
                        host_header: row.try_get(3)?,
                        rewrite_redirects: row.try_get(4)?,
                    })
                })
                .collect()
        })
    }

    pub(super) fn remove_app_row(&self, name: &str) -> Result<bool> {
        let name = name.to_string();
        self.run(move |c| async move { Ok(c.execute("DELETE FROM apps WHERE name = $1", &[&name]).await? == 1) })
    }
}

fn key_row(row: &tokio_postgres::Row) -> Result<StoredKey> {
    Ok(StoredKey {
        kid: row.try_get(0)?,
        public_key: row.try_get(1)?,
        private_sealed: row.try_get(2)?,
        created_at: row.try_get::<_, i64>(3)? as u64,
        signs_from: row.try_get::<_, i64>(4)? as u64,
        retired_at: row.try_get::<_, Option<i64>>(5)?.map(|at| at as u64),
    })
}

fn app_session_row(row: &tokio_postgres::Row) -> Result<AppSession> {
    Ok(AppSession {
        app: row.try_get(0)?,
        user: row.try_get(1)?,
        web_session: row.try_get(2)?,
        created_at: row.try_get::<_, i64>(3)? as u64,
        expires_at: row.try_get::<_, i64>(4)? as u64,
    })
}

impl AppStore for PostgresStore {
    fn app_keys(&self) -> Result<Vec<StoredKey>> {
        self.run(|c| async move {
            let rows = c
                .query(
                    "SELECT kid, public_key, private_sealed, created_at, signs_from, retired_at FROM app_keys
                     ORDER BY created_at DESC, kid DESC",
                    &[],
                )
                .await?;
            rows.iter().map(key_row).collect()
        })
    }

    fn add_app_key(&self, key: &StoredKey) -> Result<()> {
        let key = key.clone();
        self.run(move |mut c| async move {
            let tx = c.transaction().await?;
            let (at, from) = (key.created_at as i64, key.signs_from as i64);
            // Two rotations at once: one after the other, so only one key stays unretired.
            tx.execute("LOCK TABLE app_keys IN EXCLUSIVE MODE", &[]).await?;
            tx.execute("UPDATE app_keys SET retired_at = $1 WHERE retired_at IS NULL", &[&from]).await?;
            tx.execute(
                "INSERT INTO app_keys (kid, public_key, private_sealed, created_at, signs_from) VALUES ($1, $2, $3, $4, $5)",
                &[&key.kid, &key.public_key, &key.private_sealed, &at, &from],
            )
            .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn add_first_app_key(&self, key: &StoredKey) -> Result<bool> {
        let key = key.clone();
        self.run(move |mut c| async move {
            let tx = c.transaction().await?;
            // Two proxies starting at once: the lock makes the second see the first's key.
            tx.execute("LOCK TABLE app_keys IN EXCLUSIVE MODE", &[]).await?;
            let (at, from) = (key.created_at as i64, key.signs_from as i64);
            let inserted = tx
                .execute(
                    "INSERT INTO app_keys (kid, public_key, private_sealed, created_at, signs_from)
                     SELECT $1, $2, $3, $4, $5 WHERE NOT EXISTS (SELECT 1 FROM app_keys)",
                    &[&key.kid, &key.public_key, &key.private_sealed, &at, &from],
                )
                .await?;
            tx.commit().await?;
            Ok(inserted == 1)
        })
    }

    fn put_app_launch(&self, token_hash: &str, l: &Launch, now: u64) -> Result<()> {
        let (token_hash, l) = (token_hash.to_string(), l.clone());
        self.run(move |c| async move {
            c.execute("DELETE FROM app_launches WHERE expires_at <= $1", &[&(now as i64)]).await?;
            c.execute(
                "INSERT INTO app_launches (token_hash, state_hash, app, username, web_session, path, expires_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[&token_hash, &l.state_hash, &l.app, &l.user, &l.web_session, &l.path, &(l.expires_at as i64)],
            )
            .await?;
            Ok(())
        })
    }

    fn take_app_launch(&self, token_hash: &str, now: u64) -> Result<Option<Launch>> {
        let token_hash = token_hash.to_string();
        self.run(move |c| async move {
            let row = c
                .query_opt(
                    "DELETE FROM app_launches WHERE token_hash = $1
                     RETURNING state_hash, app, username, web_session, path, expires_at",
                    &[&token_hash],
                )
                .await?;
            let launch = row
                .map(|row| -> Result<Launch> {
                    Ok(Launch {
                        state_hash: row.try_get(0)?,
                        app: row.try_get(1)?,
                        user: row.try_get(2)?,
                        web_session: row.try_get(3)?,
                        path: row.try_get(4)?,
                        expires_at: row.try_get::<_, i64>(5)? as u64,
                    })
                })
                .transpose()?;
            Ok(launch.filter(|l| l.expires_at > now))
        })
    }

    fn put_app_session(&self, token_hash: &str, s: &AppSession, now: u64) -> Result<()> {
        let (token_hash, s) = (token_hash.to_string(), s.clone());
        self.run(move |c| async move {
            c.execute("DELETE FROM app_sessions WHERE expires_at <= $1", &[&(now as i64)]).await?;
            c.execute(
                "INSERT INTO app_sessions (token_hash, app, username, web_session, created_at, expires_at)
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[&token_hash, &s.app, &s.user, &s.web_session, &(s.created_at as i64), &(s.expires_at as i64)],
            )
            .await?;
            Ok(())
        })
    }

    fn app_session(&self, token_hash: &str, now: u64) -> Result<Option<AppSession>> {
        let token_hash = token_hash.to_string();
        self.run(move |c| async move {
            let row = c
                .query_opt(
                    "SELECT app, username, web_session, created_at, expires_at FROM app_sessions
                     WHERE token_hash = $1 AND expires_at > $2",
                    &[&token_hash, &(now as i64)],
                )
                .await?;
            row.as_ref().map(app_session_row).transpose()
        })
    }

    fn end_app_sessions(&self, web_session: &str) -> Result<Vec<AppSession>> {
        let web_session = web_session.to_string();
        self.run(move |c| async move {
            let rows = c
                .query(
                    "DELETE FROM app_sessions WHERE web_session = $1
                     RETURNING app, username, web_session, created_at, expires_at",
                    &[&web_session],
                )
                .await?;
            rows.iter().map(app_session_row).collect()
        })
    }
}
