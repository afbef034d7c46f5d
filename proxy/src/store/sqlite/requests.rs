//! [`RequestStore`] on SQLite.

use rusqlite::params;

use super::SqliteStore;
use crate::access::requests::{self, AccessRequest, Grant, Review, State};
use crate::store::requests::{NewRequest, RequestStore, Reviewed};
use crate::store::{Result, StoreError};

/// The columns of a request, then of one of its reviews (absent without reviews).
const SELECT: &str = "SELECT r.id, r.username, r.role, r.reason, r.duration_secs, r.created_at, r.state, r.decided_at,
        r.expires_at, r.revoked_by, r.revoked_at, r.revoke_comment, v.reviewer, v.approve, v.comment, v.at";

type Row = (AccessRequest, Option<Review>);

fn row(row: &rusqlite::Row<'_>) -> rusqlite::Result<std::result::Result<Row, StoreError>> {
    let id: i64 = row.get(0)?;
    let state: String = row.get(6)?;
    let Some(state) = State::parse(&state) else {
        return Ok(Err(StoreError::Corrupt(format!("access request {id} has the unknown state {state:?}"))));
    };
    let revoked = match (row.get::<_, Option<String>>(9)?, row.get::<_, Option<i64>>(10)?) {
        (Some(by), Some(at)) => Some((by, at as u64, row.get::<_, Option<String>>(11)?.unwrap_or_default())),
        _ => None,
    };
    let request = AccessRequest {
        id,
        user: row.get(1)?,
        role: row.get(2)?,
        reason: row.get(3)?,
        duration_secs: row.get::<_, i64>(4)? as u64,
        created_at: row.get::<_, i64>(5)? as u64,
        state,
        decided_at: row.get::<_, Option<i64>>(7)?.map(|t| t as u64),
        expires_at: row.get::<_, Option<i64>>(8)?.map(|t| t as u64),
        revoked,
        reviews: Vec::new(),
    };
    let review = match row.get::<_, Option<String>>(12)? {
        Some(reviewer) => Some(Review {
            reviewer,
            approve: row.get::<_, i64>(13)? != 0,
            comment: row.get(14)?,
            at: row.get::<_, i64>(15)? as u64,
        }),
        None => None,
    };
    Ok(Ok((request, review)))
}

fn query(conn: &rusqlite::Connection, sql: &str, args: impl rusqlite::Params) -> Result<Vec<AccessRequest>> {
    let mut stmt = conn.prepare(sql)?;
    let rows = stmt.query_map(args, row)?.collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(crate::store::requests::fold(rows.into_iter().collect::<Result<Vec<_>>>()?))
}

fn one(conn: &rusqlite::Connection, id: i64) -> Result<Option<AccessRequest>> {
    let sql = format!(
        "{SELECT} FROM access_requests r LEFT JOIN access_request_reviews v ON v.request_id = r.id
         WHERE r.id = ?1 ORDER BY v.at, v.reviewer"
    );
    Ok(query(conn, &sql, [id])?.pop())
}

impl RequestStore for SqliteStore {
    fn create_request(&self, request: &NewRequest, now: u64) -> Result<i64> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO access_requests (username, role, reason, duration_secs, created_at, state)
             VALUES (?1, ?2, ?3, ?4, ?5, 'pending')",
            params![request.user, request.role, request.reason, request.duration_secs as i64, now as i64],
        )?;
        Ok(conn.last_insert_rowid())
    }

    fn request(&self, id: i64) -> Result<Option<AccessRequest>> {
        one(&self.conn(), id)
    }

    fn requests(&self, since: u64, limit: usize) -> Result<Vec<AccessRequest>> {
        let sql = format!(
            "{SELECT} FROM (SELECT * FROM access_requests
                 WHERE state = 'pending' OR created_at > ?1 OR expires_at > ?1 OR revoked_at > ?1
                 ORDER BY id DESC LIMIT ?2) r
             LEFT JOIN access_request_reviews v ON v.request_id = r.id ORDER BY r.id DESC, v.at, v.reviewer"
        );
        query(&self.conn(), &sql, params![since as i64, limit as i64])
    }

    fn review_request(&self, id: i64, review: &Review, needed: u32) -> Result<Reviewed> {
        let mut conn = self.conn();
        // IMMEDIATE: the write lock first, so no other review reads the count between
        // our insert and our update (the command line is another process).
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let Some(request) = one(&tx, id)? else {
            return Ok(Reviewed::Missing);
        };
        if request.state != State::Pending {
            return Ok(Reviewed::NotPending(request));
        }
        let inserted = tx.execute(
            "INSERT INTO access_request_reviews (request_id, reviewer, approve, comment, at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (request_id, reviewer) DO NOTHING",
            params![id, review.reviewer, review.approve as i64, review.comment, review.at as i64],
        )?;
        if inserted == 0 {
            return Ok(Reviewed::AlreadyReviewed);
        }
        let approvals: i64 = tx.query_row(
            "SELECT COUNT(*) FROM access_request_reviews WHERE request_id = ?1 AND approve = 1",
            [id],
            |r| r.get(0),
        )?;
        let (state, expires_at) =
            requests::decide(review.approve, approvals as u32, needed, request.duration_secs, review.at);
        if state != State::Pending {
            tx.execute(
                "UPDATE access_requests SET state = ?2, decided_at = ?3, expires_at = ?4 WHERE id = ?1",
                params![id, state.as_str(), review.at as i64, expires_at.map(|t| t as i64)],
            )?;
        }
        let now = one(&tx, id)?.ok_or_else(|| StoreError::Corrupt(format!("access request {id} vanished")))?;
        tx.commit()?;
        Ok(Reviewed::Done(now))
    }

    fn revoke_request(&self, id: i64, by: &str, comment: &str, now: u64) -> Result<Option<AccessRequest>> {
        let conn = self.conn();
        let changed = conn.execute(
            "UPDATE access_requests SET state = 'revoked', revoked_by = ?2, revoked_at = ?3, revoke_comment = ?4
             WHERE id = ?1 AND state = 'approved' AND expires_at > ?3",
            params![id, by, now as i64, comment],
        )?;
        if changed == 0 {
            return Ok(None);
        }
        one(&conn, id)
    }

    fn grants(&self, users: &[String], since: u64) -> Result<Vec<Grant>> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let conn = self.conn();
        // The names as one JSON array: one statement whatever their number.
        let names = serde_json::to_string(users).map_err(|e| StoreError::Database(Box::new(e)))?;
        let mut stmt = conn.prepare(
            "SELECT id, username, role, expires_at, revoked_by, revoked_at FROM access_requests
             WHERE username IN (SELECT value FROM json_each(?1)) AND state IN ('approved', 'revoked')
               AND expires_at > ?2 ORDER BY id",
        )?;
        let grants = stmt
            .query_map(params![names, since as i64], |row| {
                let revoked = match (row.get::<_, Option<String>>(4)?, row.get::<_, Option<i64>>(5)?) {
                    (Some(by), Some(at)) => Some((by, at as u64)),
                    _ => None,
                };
                Ok(Grant {
                    id: row.get(0)?,
                    user: row.get(1)?,
                    role: row.get(2)?,
                    expires_at: row.get::<_, i64>(3)? as u64,
                    revoked,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(grants)
    }

    fn take_expired(&self, now: u64) -> Result<Vec<AccessRequest>> {
        let conn = self.conn();
        let ids: Vec<i64> = conn
            .prepare(
                "UPDATE access_requests SET expiry_noted = 1
                 WHERE state = 'approved' AND expires_at <= ?1 AND expiry_noted = 0 RETURNING id",
            )?
            .query_map([now as i64], |row| row.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let mut taken = Vec::new();
        for id in ids {
            taken.extend(one(&conn, id)?);
        }
        Ok(taken)
    }
}
