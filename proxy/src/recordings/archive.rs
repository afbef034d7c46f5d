//! Where a recording's bytes are, for everyone who reads them (the player's Range
//! reads, search, export, the command line, the upload completer): one question,
//! [`Archive::open`], answered with a [`Place`] that has a length and ranged reads.
//!
//! In order: the spool, while this proxy is writing the recording (or has not finished
//! uploading it); the object store, when one is configured; `data_dir/recordings/`
//! (where every recording is without an object store, and where recordings made or
//! imported before one was configured stay).

use std::ops::Range;
use std::path::{Path, PathBuf};

use super::objects::{Layout, Objects};
pub use super::part::{Part, file_name};
use super::row::RecordingRow;

/// Recordings whose bytes are in this proxy's spool: being written here, or not yet
/// uploaded.
static LIVE: std::sync::Mutex<std::collections::BTreeSet<String>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

/// Whether this proxy is writing recording `id` (or has not finished uploading it):
/// its bytes are in this proxy's spool.
pub fn is_live(id: &str) -> bool {
    LIVE.lock().is_ok_and(|live| live.contains(id))
}

pub(super) fn set_live(id: &str, live: bool) {
    if let Ok(mut set) = LIVE.lock() {
        if live {
            set.insert(id.to_string());
        } else {
            set.remove(id);
        }
    }
}

/// `data_dir/recordings/`: where recordings are without an object store.
pub fn directory(data_dir: &Path) -> PathBuf {
    data_dir.join("recordings")
}

/// A new random recording (and session) id: 16 bytes of hex.
pub fn new_id() -> String {
    let mut bytes = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .expect("the system random source failed");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Where recordings are written and read.
#[derive(Debug)]
pub struct Archive {
    /// Where this proxy writes recordings while their sessions run.
    spool: PathBuf,
    /// `data_dir/recordings/`: every recording without an object store, and the ones
    /// from before there was one.
    local: PathBuf,
    objects: Option<Objects>,
    /// This proxy as a writer of recordings (see `recordings::completer`).
    writer: String,
}

/// One part of one recording, found.
pub enum Place<'a> {
    File { path: PathBuf, len: u64 },
    Objects { objects: &'a Objects, id: String, part: Part, layout: Layout },
}

impl Place<'_> {
    pub fn len(&self) -> u64 {
        match self {
            Place::File { len, .. } => *len,
            Place::Objects { layout, .. } => layout.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes in `range`, cut at the end.
    pub async fn read(&self, range: Range<u64>) -> std::io::Result<Vec<u8>> {
        match self {
            Place::File { path, len } => {
                use tokio::io::{AsyncReadExt, AsyncSeekExt};
                let end = range.end.min(*len);
                if range.start >= end {
                    return Ok(Vec::new());
                }
                let mut file = tokio::fs::File::open(path).await?;
                file.seek(std::io::SeekFrom::Start(range.start)).await?;
                let mut out = Vec::with_capacity((end - range.start) as usize);
                file.take(end - range.start).read_to_end(&mut out).await?;
                Ok(out)
            }
            Place::Objects { objects, id, part, layout } => objects.read(id, *part, layout, range).await,
        }
    }

    pub async fn read_all(&self) -> std::io::Result<Vec<u8>> {
        self.read(0..self.len()).await
    }

    /// Whether the bytes come from the object store (for logs and tests).
    pub fn in_object_store(&self) -> bool {
        matches!(self, Place::Objects { .. })
    }
}

impl Archive {
    /// Recordings in files only, in `data_dir/recordings/` (the default).
    pub fn local(data_dir: &Path, writer: String) -> Archive {
        let dir = directory(data_dir);
        Archive { spool: dir.clone(), local: dir, objects: None, writer }
    }

    /// Recordings spooled in `spool` and kept in `objects`.
    pub fn with_objects(data_dir: &Path, spool: PathBuf, objects: Objects, writer: String) -> Archive {
        Archive { spool, local: directory(data_dir), objects: Some(objects), writer }
    }

    pub fn spool(&self) -> &Path {
        &self.spool
    }

    pub fn objects(&self) -> Option<&Objects> {
        self.objects.as_ref()
    }

    pub fn writer(&self) -> &str {
        &self.writer
    }

    /// A part of a recording being written here, in the spool.
    pub fn spooled(&self, id: &str, part: Part) -> std::io::Result<PathBuf> {
        Ok(self.spool.join(file_name(id, part)?))
    }

    /// Finds `part` of `row`'s recording.
    pub async fn open(&self, row: &RecordingRow, part: Part) -> std::io::Result<Place<'_>> {
        let name = file_name(&row.id, part)?;
        if is_live(&row.id) {
            // Unless the upload finished and took the spool copy away in the meantime.
            if let Some(place) = file(self.spool.join(&name)).await? {
                return Ok(place);
            }
        }
        if let Some(objects) = &self.objects
            && let Some(layout) = objects.layout(&row.id, part, row.ended_at.is_some()).await?
        {
            return Ok(Place::Objects { objects, id: row.id.clone(), part, layout });
        }
        if let Some(place) = file(self.local.join(&name)).await? {
            return Ok(place);
        }
        let in_store = self.objects.as_ref().map(|o| format!(", nor in {}", o.name())).unwrap_or_default();
        Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("it is not in {}{in_store}", self.local.display()),
        ))
    }
}

async fn file(path: PathBuf) -> std::io::Result<Option<Place<'static>>> {
    match tokio::fs::metadata(&path).await {
        Ok(meta) => Ok(Some(Place::File { path, len: meta.len() })),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err),
    }
}
