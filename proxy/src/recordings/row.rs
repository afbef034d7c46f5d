//! What the database knows of a recording: one row per recorded session, and the filter
//! the list is searched with.

/// One recorded session, as listed. The events live in `file` (a name inside the data
/// directory's `recordings/`); `ended_at` stays empty if the proxy died mid-session.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RecordingRow {
    pub id: String,
    pub kind: String,
    pub user: String,
    pub target: String,
    pub login: String,
    pub started_at: u64,
    pub ended_at: Option<u64>,
    pub file: String,
    pub bytes: u64,
    pub end_reason: Option<String>,
    /// The proxy writing it (its writer id), while it is written; see
    /// [`crate::recordings::completer`].
    pub writer: Option<String>,
    /// When the writer last said it was still writing (Unix seconds).
    pub heartbeat_at: Option<u64>,
}

/// Which recordings to list; every field that is set must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordingFilter {
    pub user: Option<String>,
    pub target: Option<String>,
    pub login: Option<String>,
    pub kind: Option<String>,
    /// Started at or after (Unix seconds).
    pub from: Option<u64>,
    /// Started before (Unix seconds).
    pub to: Option<u64>,
    /// Only these ids (a text search narrows to them); `None`: any.
    pub ids: Option<Vec<String>>,
}
