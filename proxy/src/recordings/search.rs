//! Searching a recording: from its search file when it has a whole one for the
//! recording as it is, by replaying the recording otherwise (a recording still being
//! written, a desktop's, a text over several lines, a search file that is missing,
//! cut short or damaged). After a replay of a finished terminal recording its search
//! file is written where the recording is (its folder, or the object store), so the next
//! search reads it; `gatehouse recordings reindex` does the same ahead of time.

use gatehouse_proto::api::{RecordingKind, SearchHit};
use gatehouse_recording::search::{self as text, file};

use super::archive::{Archive, Part, Place};
use super::row::RecordingRow;

/// How a search was answered (for logs, operators and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answered {
    /// From the search file.
    File,
    /// By replaying the recording, and the search file was written from the replay.
    Written,
    /// By replaying the recording (nothing written).
    Replay,
}

impl Answered {
    pub fn name(self) -> &'static str {
        match self {
            Answered::File => "file",
            Answered::Written => "written",
            Answered::Replay => "replay",
        }
    }
}

/// Why a search has no answer: the recording itself cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum SearchFailed {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Recording(#[from] text::SearchError),
}

/// A search file can stand for the recording only once nothing more is written to it.
fn finished(row: &RecordingRow) -> bool {
    row.ended_at.is_some() && !super::is_live(&row.id) && super::kind(&row.kind) != RecordingKind::Desktop
}

/// Every moment `needle` came into view in `row`'s recording, oldest first.
pub async fn search(
    archive: &Archive,
    row: &RecordingRow,
    needle: &str,
) -> Result<(Vec<SearchHit>, Answered), SearchFailed> {
    let recording = archive.open(row, Part::Recording).await?;
    let len = recording.len();
    if finished(row) {
        match archive.open(row, Part::Search).await {
            Ok(place) => {
                let bytes = place.read_all().await?;
                let needle = needle.to_string();
                let answer = tokio::task::spawn_blocking(move || file::search(&bytes, len, &needle))
                    .await
                    .map_err(std::io::Error::other)?;
                match answer {
                    Ok(hits) => return Ok((hits, Answered::File)),
                    Err(file::FileError::Multiline) => {}
                    Err(err) => {
                        tracing::warn!(recording = %row.id, %err, "the recording's search file cannot be used; searching by replaying the recording, and writing the search file again");
                    }
                }
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => {
                tracing::warn!(recording = %row.id, %err, "cannot read the recording's search file; replaying the recording")
            }
        }
    }
    let bytes = recording.read_all().await?;
    let write = finished(row) && !needle.to_lowercase().contains('\n');
    let needle = needle.to_string();
    let (hits, built) = tokio::task::spawn_blocking(move || -> Result<_, text::SearchError> {
        if write && let Ok(Some(built)) = file::build(bytes.as_slice()) {
            // The same answer as the replay (the tests prove it), from one pass.
            if let Ok(hits) = file::search(&built, bytes.len() as u64, &needle) {
                return Ok((hits, Some(built)));
            }
        }
        Ok((text::search(bytes.as_slice(), &needle)?, None))
    })
    .await
    .map_err(std::io::Error::other)??;
    let Some(built) = built else { return Ok((hits, Answered::Replay)) };
    match store(row, &recording, built).await {
        Ok(()) => Ok((hits, Answered::Written)),
        Err(err) => {
            tracing::warn!(recording = %row.id, %err, "cannot write the recording's search file; the next search replays it again");
            Ok((hits, Answered::Replay))
        }
    }
}

/// Writes `row`'s search file beside its recording (found at `recording`): in the
/// same folder, or in the object store. A file is written whole and then renamed into
/// place, so a reader never sees half of one.
pub async fn store(row: &RecordingRow, recording: &Place<'_>, bytes: Vec<u8>) -> std::io::Result<()> {
    match recording {
        Place::File { path, .. } => {
            let name = super::part::file_name(&row.id, Part::Search)?;
            let dir = path.parent().ok_or_else(|| std::io::Error::other("the recording is in no folder"))?;
            let (target, temporary) = (dir.join(&name), dir.join(format!(".{name}.{}", super::new_id())));
            let written = tokio::task::spawn_blocking(move || {
                use std::io::Write;
                use std::os::unix::fs::OpenOptionsExt;
                let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&temporary)?;
                file.write_all(&bytes)?;
                file.sync_data()?;
                std::fs::rename(&temporary, &target).inspect_err(|_| {
                    let _ = std::fs::remove_file(&temporary);
                })
            });
            written.await.map_err(std::io::Error::other)?
        }
        Place::Objects { objects, .. } => objects.put_bytes(&row.id, Part::Search, bytes).await,
    }
}

/// What `gatehouse recordings reindex` did with one recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reindexed {
    Written {
        bytes: usize,
    },
    /// A desktop's, or one with no header: no text to search.
    NoText,
    /// Still being written: its search file is written as it goes.
    NotFinished,
}

/// Writes `row`'s search file from its recording, in place of any it had.
pub async fn reindex(archive: &Archive, row: &RecordingRow) -> Result<Reindexed, SearchFailed> {
    if row.ended_at.is_none() || super::is_live(&row.id) {
        return Ok(Reindexed::NotFinished);
    }
    if super::kind(&row.kind) == RecordingKind::Desktop {
        return Ok(Reindexed::NoText);
    }
    let recording = archive.open(row, Part::Recording).await?;
    let bytes = recording.read_all().await?;
    let built =
        tokio::task::spawn_blocking(move || file::build(bytes.as_slice())).await.map_err(std::io::Error::other)??;
    let Some(built) = built else { return Ok(Reindexed::NoText) };
    let len = built.len();
    store(row, &recording, built).await?;
    Ok(Reindexed::Written { bytes: len })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::recordings::{RecordingFiles, directory, new_id};
    use gatehouse_proto::pb::{self, RecordingEvent, RecordingHeader, recording_event::Event};

    fn row(id: &str, ended: bool) -> RecordingRow {
        RecordingRow {
            id: id.into(),
            kind: RecordingKind::Ssh.as_str().into(),
            user: "alice".into(),
            target: "web-1".into(),
            login: "ubuntu".into(),
            started_at: 1_700_000_000,
            ended_at: ended.then_some(1_700_000_060),
            file: format!("{id}.ghrec"),
            bytes: 0,
            end_reason: None,
            writer: None,
            heartbeat_at: None,
        }
    }

    /// A finished recording written as a session writes one, in `data_dir/recordings`.
    fn written(data_dir: &std::path::Path) -> (String, Vec<u8>) {
        let dir = directory(data_dir);
        std::fs::create_dir_all(&dir).unwrap();
        let id = new_id();
        let header = RecordingHeader { cols: 20, rows: 3, ..Default::default() };
        let mut files = RecordingFiles::create(&dir, &id, &header).unwrap();
        let events =
            [(0, "$ echo Needle\r\n"), (900, "Needle\r\n$ "), (3000, "\x1b[H\x1b[2J"), (5000, "a\r\nb\r\nneedle\r\n")];
        for (ms, text) in events {
            let output = pb::Output { data: text.as_bytes().to_vec() };
            files.append(&RecordingEvent { offset_ms: ms, event: Some(Event::Output(output)) }).unwrap();
        }
        files.finish().unwrap();
        (id.clone(), std::fs::read(dir.join(format!("{id}.ghrec"))).unwrap())
    }

    #[tokio::test]
    async fn a_search_reads_the_search_file_and_one_missing_or_damaged_is_written_again() {
        let data_dir = std::env::temp_dir().join(format!("gh-search-{}", new_id()));
        let archive = Archive::local(&data_dir, "w".into());
        let (id, recording) = written(&data_dir);
        let replayed = text::search(recording.as_slice(), "needle").unwrap();
        assert_eq!(replayed.iter().map(|h| h.offset_ms).collect::<Vec<_>>(), [0, 5000]);
        let (row, running) = (row(&id, true), row(&id, false));
        let search_file = directory(&data_dir).join(format!("{id}.ghsrch"));
        assert_eq!(search(&archive, &row, "needle").await.unwrap(), (replayed.clone(), Answered::File));

        std::fs::remove_file(&search_file).unwrap();
        assert_eq!(search(&archive, &row, "needle").await.unwrap(), (replayed.clone(), Answered::Written));
        assert_eq!(search(&archive, &row, "needle").await.unwrap(), (replayed.clone(), Answered::File));

        let whole = std::fs::read(&search_file).unwrap();
        std::fs::write(&search_file, &whole[..whole.len() / 2]).unwrap();
        assert_eq!(search(&archive, &row, "needle").await.unwrap(), (replayed.clone(), Answered::Written));
        let again = std::fs::read(&search_file).unwrap();
        assert_eq!(again.len(), whole.len(), "written whole again");
        assert!(file::check(&again, recording.len() as u64).is_ok());

        // Still being written: a replay, and nothing is written.
        std::fs::remove_file(&search_file).unwrap();
        assert_eq!(search(&archive, &running, "needle").await.unwrap(), (replayed.clone(), Answered::Replay));
        assert!(!search_file.exists());
        assert_eq!(reindex(&archive, &row).await.unwrap(), Reindexed::Written { bytes: whole.len() });
        assert!(file::check(&std::fs::read(&search_file).unwrap(), recording.len() as u64).is_ok());
        assert_eq!(reindex(&archive, &running).await.unwrap(), Reindexed::NotFinished);
        let _ = std::fs::remove_dir_all(data_dir);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn in_an_object_store_a_missing_search_file_is_put_there() {
        use object_store::ObjectStore;
        let data_dir = std::env::temp_dir().join(format!("gh-search-{}", new_id()));
        let (id, recording) = written(&data_dir);
        let memory: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
        let objects = super::super::objects::Objects::new(memory, "p", "memory".into());
        let dir = directory(&data_dir);
        objects.put_whole(&id, Part::Recording, &dir.join(format!("{id}.ghrec"))).await.unwrap();
        std::fs::remove_dir_all(&data_dir).unwrap();
        let archive = Archive::with_objects(&data_dir, data_dir.join("spool"), objects, "w".into());
        let row = row(&id, true);
        let replayed = text::search(recording.as_slice(), "NEEDLE").unwrap();
        assert_eq!(search(&archive, &row, "NEEDLE").await.unwrap(), (replayed.clone(), Answered::Written));
        let place = archive.open(&row, Part::Search).await.unwrap();
        assert!(place.in_object_store());
        assert_eq!(search(&archive, &row, "NEEDLE").await.unwrap(), (replayed, Answered::File));
        assert!(!data_dir.exists(), "nothing was written locally");
    }

    #[tokio::test]
    async fn a_desktop_recording_is_searched_as_before() {
        let data_dir = std::env::temp_dir().join(format!("gh-search-{}", new_id()));
        let dir = directory(&data_dir);
        std::fs::create_dir_all(&dir).unwrap();
        let id = new_id();
        let header = RecordingHeader { kind: pb::SessionKind::Desktop.into(), ..Default::default() };
        let mut files = RecordingFiles::create(&dir, &id, &header).unwrap();
        files.finish().unwrap();
        assert!(!dir.join(format!("{id}.ghsrch")).exists(), "a desktop has no search file");
        let row = RecordingRow { kind: RecordingKind::Desktop.as_str().into(), ..row(&id, true) };
        let archive = Archive::local(&data_dir, "w".into());
        assert_eq!(search(&archive, &row, "x").await.unwrap(), (Vec::new(), Answered::Replay));
        assert_eq!(reindex(&archive, &row).await.unwrap(), Reindexed::NoText);
        let _ = std::fs::remove_dir_all(data_dir);
    }
}
