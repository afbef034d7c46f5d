//! [`AccountStore`] on PostgreSQL.

use super::PostgresStore;
use crate::accounts::session::Session;
use crate::accounts::user::{Invite, User, UserId};
use crate::auth::lockout::Attempt;
use crate::store::accounts::AccountStore;
use crate::store::{Result, StoreError};

const USER_COLUMNS: &str = "id, name, roles, password_hash, totp_secret, totp_last_step";

fn user_from_row(row: &tokio_postgres::Row) -> Result<User> {
    let roles: String = row.try_get(2)?;
    Ok(User {
        id: row.try_get(0)?,
        name: row.try_get(1)?,
        roles: roles.split(',').filter(|r| !r.is_empty()).map(String::from).collect(),
        password_hash: row.try_get(3)?,
        totp_secret: row.try_get(4)?,
        totp_last_step: row.try_get::<_, Option<i64>>(5)?.map(|s| s as u64),
    })
}

impl PostgresStore {
    fn user_where(&self, clause: &'static str, value: UserOrName) -> Result<Option<User>> {
        self.run(move |c| async move {
            let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE {clause}");
            let row = match &value {
                UserOrName::Id(id) => c.query_opt(&sql, &[id]).await?,
                UserOrName::Name(name) => c.query_opt(&sql, &[name]).await?,
            };
            row.as_ref().map(user_from_row).transpose()
        })
    }
}

enum UserOrName {
    Id(i64),
    Name(String),
}

impl AccountStore for PostgresStore {
    fn create_user(&self, name: &str, roles: &[String], now: u64) -> Result<UserId> {
        let (name, roles) = (name.to_string(), roles.join(","));
        self.run(move |c| async move {
            let row = c
                .query_opt(
                    "INSERT INTO users (name, roles, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING RETURNING id",
                    &[&name, &roles, &(now as i64)],
                )
                .await?;
            match row {
                Some(row) => Ok(row.try_get(0)?),
                None => Err(StoreError::UserExists(name)),
            }
        })
    }

    fn user_by_name(&self, name: &str) -> Result<Option<User>> {
        self.user_where("name = $1", UserOrName::Name(name.to_string()))
    }

    fn user_by_id(&self, id: UserId) -> Result<Option<User>> {
        self.user_where("id = $1", UserOrName::Id(id))
    }

    fn list_users(&self) -> Result<Vec<User>> {
        self.run(|c| async move {
            let rows = c.query(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY name"), &[]).await?;
            rows.iter().map(user_from_row).collect()
        })
    }

    fn set_roles(&self, user: UserId, roles: &[String]) -> Result<()> {
        let roles = roles.join(",");
        self.run(move |c| async move {
            c.execute("UPDATE users SET roles = $2 WHERE id = $1", &[&user, &roles]).await?;
            Ok(())
        })
    }

    fn set_credentials(&self, user: UserId, password_hash: &str, totp_secret: &[u8], totp_step: u64) -> Result<()> {
        let (hash, secret) = (password_hash.to_string(), totp_secret.to_vec());
        self.run(move |c| async move {
            c.execute(
                "UPDATE users SET password_hash = $2, totp_secret = $3, totp_last_step = $4 WHERE id = $1",
                &[&user, &hash, &secret, &(totp_step as i64)],
            )
            .await?;
            Ok(())
        })
    }

    fn set_password(&self, user: UserId, password_hash: &str) -> Result<()> {
        let hash = password_hash.to_string();
        self.run(move |c| async move {
            c.execute("UPDATE users SET password_hash = $2 WHERE id = $1", &[&user, &hash]).await?;
            Ok(())
        })
    }

    fn use_totp_step(&self, user: UserId, step: u64) -> Result<bool> {
        self.run(move |c| async move {
            let changed = c
                .execute(
                    "UPDATE users SET totp_last_step = $2 WHERE id = $1 AND (totp_last_step IS NULL OR totp_last_step < $2)",
                    &[&user, &(step as i64)],
                )
                .await?;
            Ok(changed == 1)
        })
    }

    fn set_totp_secret(&self, user: UserId, sealed: &[u8]) -> Result<()> {
        let sealed = sealed.to_vec();
        self.run(move |c| async move {
            c.execute("UPDATE users SET totp_secret = $2 WHERE id = $1", &[&user, &sealed]).await?;
            Ok(())
        })
    }

    fn reset_user(&self, user: UserId) -> Result<()> {
        self.run(move |mut c| async move {
            let tx = c.transaction().await?;
            tx.execute(
                "UPDATE users SET password_hash = NULL, totp_secret = NULL, totp_last_step = NULL WHERE id = $1",
                &[&user],
            )
            .await?;
            tx.execute("DELETE FROM passkeys WHERE user_id = $1", &[&user]).await?;
            tx.execute("DELETE FROM sessions WHERE user_id = $1", &[&user]).await?;
            tx.execute("DELETE FROM invites WHERE user_id = $1", &[&user]).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn create_invite(&self, user: UserId, token_hash: &str, expires_at: u64) -> Result<()> {
        let hash = token_hash.to_string();
        self.run(move |c| async move {
            c.execute(
                "INSERT INTO invites (user_id, token_hash, expires_at) VALUES ($1, $2, $3)",
                &[&user, &hash, &(expires_at as i64)],
            )
            .await?;
            Ok(())
        })
    }

    fn invite(&self, token_hash: &str, now: u64) -> Result<Option<Invite>> {
        let hash = token_hash.to_string();
        self.run(move |c| async move {
            let row = c
                .query_opt(
                    "SELECT id, user_id, expires_at, pending_totp_secret FROM invites
                     WHERE token_hash = $1 AND NOT used AND expires_at > $2",
                    &[&hash, &(now as i64)],
                )
                .await?;
            row.map(|row| {
                Ok(Invite {
                    id: row.try_get(0)?,
                    user_id: row.try_get(1)?,
                    expires_at: row.try_get::<_, i64>(2)? as u64,
                    pending_totp_secret: row.try_get(3)?,
                })
            })
            .transpose()
        })
    }

    fn set_invite_totp(&self, invite: i64, secret: &[u8]) -> Result<()> {
        let secret = secret.to_vec();
        self.run(move |c| async move {
            c.execute("UPDATE invites SET pending_totp_secret = $2 WHERE id = $1", &[&invite, &secret]).await?;
            Ok(())
        })
    }

    fn consume_invites(&self, invite: i64, user: UserId) -> Result<bool> {
        self.run(move |mut c| async move {
            let tx = c.transaction().await?;
            let claimed = tx.execute("UPDATE invites SET used = TRUE WHERE id = $1 AND NOT used", &[&invite]).await?;
            tx.execute("UPDATE invites SET used = TRUE WHERE user_id = $1", &[&user]).await?;
            tx.commit().await?;
            Ok(claimed == 1)
        })
    }

    fn begin_attempt(
        &self,
        username: &str,
        now: u64,
        window_start: u64,
        max_failures: u32,
        lock_until: u64,
    ) -> Result<Attempt> {
        let name = username.to_string();
        self.run(move |mut c| async move {
            let tx = c.transaction().await?;
            // One name's attempts wait for each other, whichever proxy they reach.
            tx.execute("SELECT pg_advisory_xact_lock(hashtext('signin:' || $1))", &[&name]).await?;
            let locked = tx
                .query_opt("SELECT until FROM lockouts WHERE username = $1 AND until > $2", &[&name, &(now as i64)])
                .await?;
            if let Some(row) = locked {
                return Ok(Attempt::Locked { until: row.try_get::<_, i64>(0)? as u64 });
            }
            let failures: i64 = tx
                .query_one(
                    "SELECT COUNT(*) FROM signin_failures WHERE username = $1 AND at >= $2",
                    &[&name, &(window_start as i64)],
                )
                .await?
                .try_get(0)?;
            if failures >= i64::from(max_failures) {
                tx.execute(
                    "INSERT INTO lockouts (username, until) VALUES ($1, $2)
                     ON CONFLICT (username) DO UPDATE SET until = excluded.until",
                    &[&name, &(lock_until as i64)],
                )
                .await?;
                tx.execute("DELETE FROM signin_failures WHERE username = $1", &[&name]).await?;
                tx.commit().await?;
                return Ok(Attempt::Locked { until: lock_until });
            }
            tx.execute("INSERT INTO signin_failures (username, at) VALUES ($1, $2)", &[&name, &(now as i64)]).await?;
            tx.commit().await?;
            Ok(Attempt::Counted { failures: failures as u32 + 1 })
        })
    }

    fn clear_failures(&self, username: &str) -> Result<()> {
        let name = username.to_string();
        self.run(move |c| async move {
            c.execute("DELETE FROM signin_failures WHERE username = $1", &[&name]).await?;
            Ok(())
        })
    }

    fn count_client_attempt(&self, client: &str, now: u64, window_start: u64, per_window: u32) -> Result<bool> {
        let client = client.to_string();
        self.run(move |mut c| async move {
            let tx = c.transaction().await?;
            tx.execute("SELECT pg_advisory_xact_lock(hashtext('client:' || $1))", &[&client]).await?;
            tx.execute("DELETE FROM signin_attempts WHERE ip = $1 AND at < $2", &[&client, &(window_start as i64)])
                .await?;
            let made: i64 =
                tx.query_one("SELECT COUNT(*) FROM signin_attempts WHERE ip = $1", &[&client]).await?.try_get(0)?;
            if made >= i64::from(per_window) {
                return Ok(false);
            }
            tx.execute("INSERT INTO signin_attempts (ip, at) VALUES ($1, $2)", &[&client, &(now as i64)]).await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    fn lock(&self, username: &str, until: u64) -> Result<()> {
        let name = username.to_string();
        self.run(move |c| async move {
            c.execute(
                "INSERT INTO lockouts (username, until) VALUES ($1, $2)
                 ON CONFLICT (username) DO UPDATE SET until = excluded.until",
                &[&name, &(until as i64)],
            )
            .await?;
            Ok(())
        })
    }

    fn create_session(&self, token_hash: &str, user: UserId, csrf: &str, now: u64, expires_at: u64) -> Result<()> {
        let (hash, csrf) = (token_hash.to_string(), csrf.to_string());
        self.run(move |c| async move {
            c.execute(
                "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
                &[&hash, &user, &csrf, &(now as i64), &(expires_at as i64)],
            )
            .await?;
            Ok(())
        })
    }

    fn session(&self, token_hash: &str, now: u64) -> Result<Option<Session>> {
        Ok(self.sessions(&[token_hash.to_string()], now)?.pop())
    }

    fn sessions(&self, token_hashes: &[String], now: u64) -> Result<Vec<Session>> {
        let hashes = token_hashes.to_vec();
        self.run(move |c| async move {
            let sql = format!(
                "SELECT s.token_hash, s.csrf_token, s.created_at, s.expires_at, s.confirmed_at, {} FROM sessions s
                 JOIN users u ON u.id = s.user_id WHERE s.token_hash = ANY($1) AND s.expires_at > $2",
                USER_COLUMNS.split(", ").map(|column| format!("u.{column}")).collect::<Vec<_>>().join(", ")
            );
            let rows = c.query(&sql, &[&hashes, &(now as i64)]).await?;
            rows.iter()
                .map(|row| {
                    let roles: String = row.try_get(7)?;
                    let user = User {
                        id: row.try_get(5)?,
                        name: row.try_get(6)?,
                        roles: roles.split(',').filter(|r| !r.is_empty()).map(String::from).collect(),
                        password_hash: row.try_get(8)?,
                        totp_secret: row.try_get(9)?,
                        totp_last_step: row.try_get::<_, Option<i64>>(10)?.map(|s| s as u64),
                    };
                    Ok(Session {
                        user,
                        token_hash: row.try_get(0)?,
                        csrf_token: row.try_get(1)?,
                        created_at: row.try_get::<_, i64>(2)? as u64,
                        expires_at: row.try_get::<_, i64>(3)? as u64,
                        confirmed_at: row.try_get::<_, Option<i64>>(4)?.map(|t| t as u64),
                    })
                })
                .collect()
        })
    }

    fn confirm_session(&self, token_hash: &str, now: u64) -> Result<()> {
        let hash = token_hash.to_string();
        self.run(move |c| async move {
            c.execute("UPDATE sessions SET confirmed_at = $2 WHERE token_hash = $1", &[&hash, &(now as i64)]).await?;
            Ok(())
        })
    }

    fn delete_session(&self, token_hash: &str) -> Result<()> {
        let hash = token_hash.to_string();
        self.run(move |c| async move {
            c.execute("DELETE FROM sessions WHERE token_hash = $1", &[&hash]).await?;
            Ok(())
        })
    }

    fn delete_sessions_of(&self, user: UserId) -> Result<usize> {
        self.run(
            move |c| async move { Ok(c.execute("DELETE FROM sessions WHERE user_id = $1", &[&user]).await? as usize) },
        )
    }

    fn delete_expired(&self, now: u64) -> Result<usize> {
        self.run(move |c| async move {
            let now = now as i64;
            let sessions = c.execute("DELETE FROM sessions WHERE expires_at <= $1", &[&now]).await?;
            c.execute("DELETE FROM lockouts WHERE until <= $1", &[&now]).await?;
            c.execute("DELETE FROM invites WHERE expires_at <= $1", &[&now]).await?;
            c.execute("DELETE FROM signin_attempts WHERE at < $1", &[&(now - 3600)]).await?;
            // Failures older than a day cannot count towards any sensible lockout window.
            c.execute("DELETE FROM signin_failures WHERE at < $1", &[&(now - 86_400)]).await?;
            Ok(sessions as usize)
        })
    }
}
