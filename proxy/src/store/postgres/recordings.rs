//! [`RecordingStore`] on PostgreSQL.

use tokio_postgres::types::ToSql;

use super::PostgresStore;
use crate::recordings::row::{RecordingFilter, RecordingRow};
use crate::store::Result;
use crate::store::recordings::RecordingStore;

const RECORDING_COLUMNS: &str =
    r#"id, kind, "user", target, login, started_at, ended_at, file, bytes, end_reason, writer, heartbeat_at"#;

fn recording_from_row(row: &tokio_postgres::Row) -> Result<RecordingRow> {
    Ok(RecordingRow {
        id: row.try_get(0)?,
        kind: row.try_get(1)?,
        user: row.try_get(2)?,
        target: row.try_get(3)?,
        login: row.try_get(4)?,
        started_at: row.try_get::<_, i64>(5)? as u64,
        ended_at: row.try_get::<_, Option<i64>>(6)?.map(|t| t as u64),
        file: row.try_get(7)?,
        bytes: row.try_get::<_, i64>(8)? as u64,
        end_reason: row.try_get(9)?,
        writer: row.try_get(10)?,
        heartbeat_at: row.try_get::<_, Option<i64>>(11)?.map(|t| t as u64),
    })
}

/// A value of the search's WHERE clause.
enum Value {
    Text(String),
    Number(i64),
    Texts(Vec<String>),
}

impl Value {
    fn as_sql(&self) -> &(dyn ToSql + Sync) {
        match self {
            Value::Text(text) => text,
            Value::Number(number) => number,
            Value::Texts(texts) => texts,
        }
    }
}

impl RecordingStore for PostgresStore {
    fn insert_recording(&self, r: &RecordingRow) -> Result<()> {
        let r = r.clone();
        self.run(move |c| async move {
            c.execute(
                &format!(
                    "INSERT INTO recordings ({RECORDING_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
                ),
                &[
                    &r.id,
                    &r.kind,
                    &r.user,
                    &r.target,
                    &r.login,
                    &(r.started_at as i64),
                    &r.ended_at.map(|t| t as i64),
                    &r.file,
                    &(r.bytes as i64),
                    &r.end_reason,
                    &r.writer,
                    &r.heartbeat_at.map(|t| t as i64),
                ],
            )
            .await?;
            Ok(())
        })
    }

    fn finish_recording(&self, id: &str, ended_at: u64, bytes: u64, end_reason: &str) -> Result<()> {
        let (id, reason) = (id.to_string(), end_reason.to_string());
        self.run(move |c| async move {
            c.execute(
                "UPDATE recordings SET ended_at = $2, bytes = $3, end_reason = $4 WHERE id = $1",
                &[&id, &(ended_at as i64), &(bytes as i64), &reason],
            )
            .await?;
            Ok(())
        })
    }

    fn list_recordings(&self, limit: u32) -> Result<Vec<RecordingRow>> {
        self.run(move |c| async move {
            let sql = format!("SELECT {RECORDING_COLUMNS} FROM recordings ORDER BY started_at DESC, id LIMIT $1");
            c.query(&sql, &[&i64::from(limit)]).await?.iter().map(recording_from_row).collect()
        })
    }

    fn search_recordings(&self, filter: &RecordingFilter, offset: u32, limit: u32) -> Result<(Vec<RecordingRow>, u64)> {
        let mut clauses = Vec::new();
        let mut values = Vec::new();
        let mut add = |clause: &str, value: Value| {
            values.push(value);
            clauses.push(clause.replace('?', &format!("${}", values.len())));
        };
        for (column, value) in
            [(r#""user""#, &filter.user), ("target", &filter.target), ("login", &filter.login), ("kind", &filter.kind)]
        {
            if let Some(value) = value {
                add(&format!("{column} = ?"), Value::Text(value.clone()));
            }
        }
        if let Some(from) = filter.from {
            add("started_at >= ?", Value::Number(from as i64));
        }
        if let Some(to) = filter.to {
            add("started_at < ?", Value::Number(to as i64));
        }
        if let Some(ids) = &filter.ids {
            add("id = ANY(?)", Value::Texts(ids.clone()));
        }
        let filter_sql = if clauses.is_empty() { String::new() } else { format!("WHERE {}", clauses.join(" AND ")) };
        self.run(move |c| async move {
            let params: Vec<&(dyn ToSql + Sync)> = values.iter().map(Value::as_sql).collect();
            let total: i64 =
                c.query_one(&format!("SELECT COUNT(*) FROM recordings {filter_sql}"), &params).await?.try_get(0)?;
            let sql = format!(
                "SELECT {RECORDING_COLUMNS} FROM recordings {filter_sql} ORDER BY started_at DESC, id LIMIT {limit} OFFSET {offset}"
            );
            let rows = c.query(&sql, &params).await?.iter().map(recording_from_row).collect::<Result<_>>()?;
            Ok((rows, total as u64))
        })
    }

    fn unfinished_recordings(&self) -> Result<Vec<RecordingRow>> {
        self.run(|c| async move {
            let sql =
                format!("SELECT {RECORDING_COLUMNS} FROM recordings WHERE ended_at IS NULL ORDER BY started_at, id");
            c.query(&sql, &[]).await?.iter().map(recording_from_row).collect()
        })
    }

    fn heartbeat_recordings(&self, writer: &str, now: u64) -> Result<usize> {
        let writer = writer.to_string();
        self.run(move |c| async move {
            let changed = c
                .execute(
                    "UPDATE recordings SET heartbeat_at = $2 WHERE writer = $1 AND ended_at IS NULL",
                    &[&writer, &(now as i64)],
                )
                .await?;
            Ok(changed as usize)
        })
    }

    fn claim_recording(
        &self,
        id: &str,
        seen_writer: Option<&str>,
        seen_heartbeat: Option<u64>,
        new_writer: &str,
        now: u64,
    ) -> Result<bool> {
        let (id, seen_writer, new_writer) = (id.to_string(), seen_writer.map(str::to_string), new_writer.to_string());
        let seen_heartbeat = seen_heartbeat.map(|t| t as i64);
        self.run(move |c| async move {
            let changed = c
                .execute(
                    "UPDATE recordings SET writer = $4, heartbeat_at = $5
                     WHERE id = $1 AND ended_at IS NULL AND writer IS NOT DISTINCT FROM $2
                       AND heartbeat_at IS NOT DISTINCT FROM $3",
                    &[&id, &seen_writer, &seen_heartbeat, &new_writer, &(now as i64)],
                )
                .await?;
            Ok(changed == 1)
        })
    }

    fn recording(&self, id: &str) -> Result<Option<RecordingRow>> {
        let id = id.to_string();
        self.run(move |c| async move {
            let sql = format!("SELECT {RECORDING_COLUMNS} FROM recordings WHERE id = $1");
            c.query_opt(&sql, &[&id]).await?.as_ref().map(recording_from_row).transpose()
        })
    }
}
