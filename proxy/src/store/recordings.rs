//! Recordings as persisted: one row per recorded session (the events are in files),
//! listed and searched newest first.

use super::Result;
use crate::recordings::row::{RecordingFilter, RecordingRow};

/// The recordings table.
pub trait RecordingStore: Send + Sync {
    fn insert_recording(&self, row: &RecordingRow) -> Result<()>;
    fn finish_recording(&self, id: &str, ended_at: u64, bytes: u64, end_reason: &str) -> Result<()>;

    /// Newest first.
    fn list_recordings(&self, limit: u32) -> Result<Vec<RecordingRow>>;
    /// Newest first, filtered; with the number of matches over all pages.
    fn search_recordings(&self, filter: &RecordingFilter, offset: u32, limit: u32) -> Result<(Vec<RecordingRow>, u64)>;
    fn recording(&self, id: &str) -> Result<Option<RecordingRow>>;

    /// Every recording without an end, oldest first.
    fn unfinished_recordings(&self) -> Result<Vec<RecordingRow>>;
    /// `writer` is still writing its unfinished recordings, at `now`.
    fn heartbeat_recordings(&self, writer: &str, now: u64) -> Result<usize>;
    /// Makes `new_writer` the writer of an unfinished recording if its writer and
    /// heartbeat are still the ones seen (`None` matching an empty column); whether it did.
    /// Of several proxies taking over one recording, one wins.
    fn claim_recording(
        &self,
        id: &str,
        seen_writer: Option<&str>,
        seen_heartbeat: Option<u64>,
        new_writer: &str,
        now: u64,
    ) -> Result<bool>;
}
