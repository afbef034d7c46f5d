//! [`RequestStore`] on PostgreSQL.

use super::PostgresStore;
use crate::access::requests::{self, AccessRequest, Grant, Review, State};
use crate::store::requests::{NewRequest, RequestStore, Reviewed};
use crate::store::{Result, StoreError};

/// The columns of a request, then of one of its reviews (absent without reviews).
const SELECT: &str = "SELECT r.id, r.username, r.role, r.reason, r.duration_secs, r.created_at, r.state, r.decided_at,
        r.expires_at, r.revoked_by, r.revoked_at, r.revoke_comment, v.reviewer, v.approve, v.comment, v.at";

fn row(row: &tokio_postgres::Row) -> Result<(AccessRequest, Option<Review>)> {
    let id: i64 = row.try_get(0)?;
    let state: String = row.try_get(6)?;
    let state = State::parse(&state)
        .ok_or_else(|| StoreError::Corrupt(format!("access request {id} has the unknown state {state:?}")))?;
    let revoked = match (row.try_get::<_, Option<String>>(9)?, row.try_get::<_, Option<i64>>(10)?) {
        (Some(by), Some(at)) => Some((by, at as u64, row.try_get::<_, Option<String>>(11)?.unwrap_or_default())),
        _ => None,
    };
    let request = AccessRequest {
        id,
        user: row.try_get(1)?,
        role: row.try_get(2)?,
        reason: row.try_get(3)?,
        duration_secs: row.try_get::<_, i64>(4)? as u64,
        created_at: row.try_get::<_, i64>(5)? as u64,
        state,
        decided_at: row.try_get::<_, Option<i64>>(7)?.map(|t| t as u64),
        expires_at: row.try_get::<_, Option<i64>>(8)?.map(|t| t as u64),
        revoked,
        reviews: Vec::new(),
    };
    let review = match row.try_get::<_, Option<String>>(12)? {
        Some(reviewer) => Some(Review {
            reviewer,
            approve: row.try_get(13)?,
            comment: row.try_get(14)?,
            at: row.try_get::<_, i64>(15)? as u64,
        }),
        None => None,
    };
    Ok((request, review))
}

fn fold(rows: &[tokio_postgres::Row]) -> Result<Vec<AccessRequest>> {
    Ok(crate::store::requests::fold(rows.iter().map(row).collect::<Result<Vec<_>>>()?))
}

async fn one(c: &impl deadpool_postgres::GenericClient, id: i64) -> Result<Option<AccessRequest>> {
    let sql = format!(
        "{SELECT} FROM access_requests r LEFT JOIN access_request_reviews v ON v.request_id = r.id
         WHERE r.id = $1 ORDER BY v.at, v.reviewer"
    );
    Ok(fold(&c.query(&sql, &[&id]).await?)?.pop())
}

impl RequestStore for PostgresStore {
    fn create_request(&self, request: &NewRequest, now: u64) -> Result<i64> {
        let request = request.clone();
        self.run(move |c| async move {
            let row = c
                .query_one(
                    "INSERT INTO access_requests (username, role, reason, duration_secs, created_at, state)
                     VALUES ($1, $2, $3, $4, $5, 'pending') RETURNING id",
                    &[&request.user, &request.role, &request.reason, &(request.duration_secs as i64), &(now as i64)],
                )
                .await?;
            Ok(row.try_get(0)?)
        })
    }

    fn request(&self, id: i64) -> Result<Option<AccessRequest>> {
        self.run(move |c| async move { one(&c, id).await })
    }

    fn requests(&self, since: u64, limit: usize) -> Result<Vec<AccessRequest>> {
        self.run(move |c| async move {
            let sql = format!(
                "{SELECT} FROM (SELECT * FROM access_requests
                     WHERE state = 'pending' OR created_at > $1 OR expires_at > $1 OR revoked_at > $1
                     ORDER BY id DESC LIMIT $2) r
                 LEFT JOIN access_request_reviews v ON v.request_id = r.id ORDER BY r.id DESC, v.at, v.reviewer"
            );
            fold(&c.query(&sql, &[&(since as i64), &(limit as i64)]).await?)
        })
    }

    fn review_request(&self, id: i64, review: &Review, needed: u32) -> Result<Reviewed> {
        let review = review.clone();
        self.run(move |mut c| async move {
            let tx = c.transaction().await?;
            // The request's row locked: a concurrent review waits here, then sees ours.
            let Some(state) = tx
                .query_opt("SELECT state, duration_secs FROM access_requests WHERE id = $1 FOR UPDATE", &[&id])
                .await?
            else {
                return Ok(Reviewed::Missing);
            };
            let duration_secs = state.try_get::<_, i64>(1)? as u64;
            if state.try_get::<_, String>(0)? != State::Pending.as_str() {
                let request =
                    one(&tx, id).await?.ok_or_else(|| StoreError::Corrupt(format!("request {id} vanished")))?;
                return Ok(Reviewed::NotPending(request));
            }
            let inserted = tx
                .execute(
                    "INSERT INTO access_request_reviews (request_id, reviewer, approve, comment, at)
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (request_id, reviewer) DO NOTHING",
                    &[&id, &review.reviewer, &review.approve, &review.comment, &(review.at as i64)],
                )
                .await?;
            if inserted == 0 {
                return Ok(Reviewed::AlreadyReviewed);
            }
            let approvals: i64 = tx
                .query_one("SELECT COUNT(*) FROM access_request_reviews WHERE request_id = $1 AND approve", &[&id])
                .await?
                .try_get(0)?;
            let (state, expires_at) =
                requests::decide(review.approve, approvals as u32, needed, duration_secs, review.at);
            if state != State::Pending {
                tx.execute(
                    "UPDATE access_requests SET state = $2, decided_at = $3, expires_at = $4 WHERE id = $1",
                    &[&id, &state.as_str(), &(review.at as i64), &expires_at.map(|t| t as i64)],
                )
                .await?;
            }
            let request = one(&tx, id).await?.ok_or_else(|| StoreError::Corrupt(format!("request {id} vanished")))?;
            tx.commit().await?;
            Ok(Reviewed::Done(request))
        })
    }

    fn revoke_request(&self, id: i64, by: &str, comment: &str, now: u64) -> Result<Option<AccessRequest>> {
        let (by, comment) = (by.to_string(), comment.to_string());
        self.run(move |c| async move {
            let changed = c
                .execute(
                    "UPDATE access_requests SET state = 'revoked', revoked_by = $2, revoked_at = $3, revoke_comment = $4
                     WHERE id = $1 AND state = 'approved' AND expires_at > $3",
                    &[&id, &by, &(now as i64), &comment],
                )
                .await?;
            if changed == 0 {
                return Ok(None);
            }
            one(&c, id).await
        })
    }

    fn grants(&self, users: &[String], since: u64) -> Result<Vec<Grant>> {
        let users = users.to_vec();
        self.run(move |c| async move {
            let rows = c
                .query(
                    "SELECT id, username, role, expires_at, revoked_by, revoked_at FROM access_requests
                     WHERE username = ANY($1) AND state IN ('approved', 'revoked') AND expires_at > $2 ORDER BY id",
                    &[&users, &(since as i64)],
                )
                .await?;
            rows.iter()
                .map(|row| {
                    let revoked = match (row.try_get::<_, Option<String>>(4)?, row.try_get::<_, Option<i64>>(5)?) {
                        (Some(by), Some(at)) => Some((by, at as u64)),
                        _ => None,
                    };
                    Ok(Grant {
                        id: row.try_get(0)?,
                        user: row.try_get(1)?,
                        role: row.try_get(2)?,
                        expires_at: row.try_get::<_, i64>(3)? as u64,
                        revoked,
                    })
                })
                .collect()
        })
    }

    fn take_expired(&self, now: u64) -> Result<Vec<AccessRequest>> {
        self.run(move |c| async move {
            let rows = c
                .query(
                    "UPDATE access_requests SET expiry_noted = TRUE
                     WHERE state = 'approved' AND expires_at <= $1 AND NOT expiry_noted RETURNING id",
                    &[&(now as i64)],
                )
                .await?;
            let mut taken = Vec::new();
            for row in rows {
                taken.extend(one(&c, row.try_get(0)?).await?);
            }
            Ok(taken)
        })
    }
}
