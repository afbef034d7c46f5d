//! [`RecordingStore`] on SQLite.

use rusqlite::{OptionalExtension, params};

use super::SqliteStore;
use crate::recordings::row::{RecordingFilter, RecordingRow};
use crate::store::Result;
use crate::store::recordings::RecordingStore;

const RECORDING_COLUMNS: &str =
    "id, kind, user, target, login, started_at, ended_at, file, bytes, end_reason, writer, heartbeat_at";

fn recording_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<RecordingRow> {
    Ok(RecordingRow {
        id: row.get(0)?,
        kind: row.get(1)?,
        user: row.get(2)?,
        target: row.get(3)?,
        login: row.get(4)?,
        started_at: row.get::<_, i64>(5)? as u64,
        ended_at: row.get::<_, Option<i64>>(6)?.map(|t| t as u64),
        file: row.get(7)?,
        bytes: row.get::<_, i64>(8)? as u64,
        end_reason: row.get(9)?,
        writer: row.get(10)?,
        heartbeat_at: row.get::<_, Option<i64>>(11)?.map(|t| t as u64),
    })
}

impl RecordingStore for SqliteStore {
    fn insert_recording(&self, r: &RecordingRow) -> Result<()> {
        self.conn().execute(
            &format!("INSERT INTO recordings ({RECORDING_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"),
            params![
                r.id,
                r.kind,
                r.user,
                r.target,
                r.login,
                r.started_at as i64,
                r.ended_at.map(|t| t as i64),
                r.file,
                r.bytes as i64,
                r.end_reason,
                r.writer,
                r.heartbeat_at.map(|t| t as i64)
            ],
        )?;
        Ok(())
    }

    fn finish_recording(&self, id: &str, ended_at: u64, bytes: u64, end_reason: &str) -> Result<()> {
        self.conn().execute(
            "UPDATE recordings SET ended_at = ?2, bytes = ?3, end_reason = ?4 WHERE id = ?1",
            params![id, ended_at as i64, bytes as i64, end_reason],
        )?;
        Ok(())
    }

    fn unfinished_recordings(&self) -> Result<Vec<RecordingRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {RECORDING_COLUMNS} FROM recordings WHERE ended_at IS NULL ORDER BY started_at, id"
        ))?;
        let rows = stmt.query_map([], recording_from_row)?.collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    fn heartbeat_recordings(&self, writer: &str, now: u64) -> Result<usize> {
        let changed = self.conn().execute(
            "UPDATE recordings SET heartbeat_at = ?2 WHERE writer = ?1 AND ended_at IS NULL",
            params![writer, now as i64],
        )?;
        Ok(changed)
    }

    fn claim_recording(
        &self,
        id: &str,
        seen_writer: Option<&str>,
        seen_heartbeat: Option<u64>,
        new_writer: &str,
        now: u64,
    ) -> Result<bool> {
        // `IS` compares NULL as equal to NULL (PostgreSQL: IS NOT DISTINCT FROM).
        let changed = self.conn().execute(
            "UPDATE recordings SET writer = ?4, heartbeat_at = ?5 \
             WHERE id = ?1 AND ended_at IS NULL AND writer IS ?2 AND heartbeat_at IS ?3",
            params![id, seen_writer, seen_heartbeat.map(|t| t as i64), new_writer, now as i64],
        )?;
        Ok(changed == 1)
    }

    fn list_recordings(&self, limit: u32) -> Result<Vec<RecordingRow>> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare(&format!("SELECT {RECORDING_COLUMNS} FROM recordings ORDER BY started_at DESC, id LIMIT ?1"))?;
        let rows = stmt.query_map([limit], recording_from_row)?.collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    fn search_recordings(&self, filter: &RecordingFilter, offset: u32, limit: u32) -> Result<(Vec<RecordingRow>, u64)> {
        let mut clauses = Vec::new();
        let mut values: Vec<rusqlite::types::Value> = Vec::new();
        let mut text = |column: &str, value: &Option<String>| {
            if let Some(value) = value {
                values.push(value.clone().into());
                clauses.push(format!("{column} = ?{}", values.len()));
            }
        };
        text("user", &filter.user);
        text("target", &filter.target);
        text("login", &filter.login);
        text("kind", &filter.kind);
        if let Some(from) = filter.from {
            values.push((from as i64).into());
            clauses.push(format!("started_at >= ?{}", values.len()));
        }
        if let Some(to) = filter.to {
            values.push((to as i64).into());
            clauses.push(format!("started_at < ?{}", values.len()));
        }
        if let Some(ids) = &filter.ids {
            let mut marks = Vec::new();
            for id in ids {
                values.push(id.clone().into());
                marks.push(format!("?{}", values.len()));
            }
            clauses.push(if marks.is_empty() { "0".to_string() } else { format!("id IN ({})", marks.join(", ")) });
        }
        let filter_sql = if clauses.is_empty() { String::new() } else { format!("WHERE {}", clauses.join(" AND ")) };
        let conn = self.conn();
        let total: i64 = conn.query_row(
            &format!("SELECT COUNT(*) FROM recordings {filter_sql}"),
            rusqlite::params_from_iter(values.iter()),
            |row| row.get(0),
        )?;
        let mut stmt = conn.prepare(&format!(
            "SELECT {RECORDING_COLUMNS} FROM recordings {filter_sql} ORDER BY started_at DESC, id LIMIT {limit} OFFSET {offset}"
        ))?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(values.iter()), recording_from_row)?
            .collect::<rusqlite::Result<_>>()?;
        Ok((rows, total as u64))
    }

    fn recording(&self, id: &str) -> Result<Option<RecordingRow>> {
        let conn = self.conn();
        let row = conn
            .query_row(&format!("SELECT {RECORDING_COLUMNS} FROM recordings WHERE id = ?1"), [id], recording_from_row)
            .optional()?;
        Ok(row)
    }
}
