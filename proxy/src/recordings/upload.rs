//! Uploading a recording to the object store while its session runs.
//!
//! The writer tells the uploader, after each flush, how long each file is; that is
//! always on a whole record (see [`super::objects`]). [`Plan`] decides when the bytes
//! not yet uploaded go up as a chunk: once a MiB is waiting, or two seconds after the
//! first of them was written, whichever comes first; so the store is at most a few
//! seconds or about a MiB behind the spool. The recording and the keyframes go before
//! the index, so an index entry in the store never points past what is stored. At the
//! end the whole files go up, the row is finished, the spool copy removed and the chunks
//! deleted, in that order: at every moment the recording can be read whole from
//! somewhere. The search file goes up only whole, at the end (a search of a recording
//! still being written replays it), and only if there is one (a desktop has none).

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use super::archive::{Archive, Part};
use crate::store::backend::Store;

/// Upload once this much is waiting...
pub const UPLOAD_BYTES: u64 = 1 << 20;
/// ...or once the oldest waiting byte is this old (milliseconds).
pub const UPLOAD_AFTER_MS: u64 = 2000;
/// After a failed upload, the next try waits this long (milliseconds).
const RETRY_AFTER_MS: u64 = 2000;
const TICK: Duration = Duration::from_millis(500);

/// How long each of a recording's files is (on a whole record).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lengths {
    pub recording: u64,
    pub index: u64,
    pub keyframes: u64,
}

impl Lengths {
    fn get(&self, part: Part) -> u64 {
        match part {
            Part::Recording => self.recording,
            Part::Index => self.index,
            Part::Keyframes => self.keyframes,
            Part::Search => 0,
        }
    }

    fn set(&mut self, part: Part, len: u64) {
        match part {
            Part::Recording => self.recording = len,
            Part::Index => self.index = len,
            Part::Keyframes => self.keyframes = len,
            Part::Search => {}
        }
    }
}

/// When which bytes go up. No I/O; time is an argument.
#[derive(Debug, Default)]
pub struct Plan {
    uploaded: Lengths,
    /// When bytes first waited since the last upload that caught up.
    waiting_since_ms: Option<u64>,
    not_before_ms: u64,
}

/// The order chunks go up in: the index last.
const ORDER: [Part; 3] = [Part::Recording, Part::Keyframes, Part::Index];

impl Plan {
    /// The chunks to upload now, in order: each part's bytes from what is uploaded to
    /// `written`. Upload them in this order and stop at the first that fails.
    pub fn due(&mut self, written: Lengths, now_ms: u64) -> Vec<(Part, Range<u64>)> {
        let waiting: u64 = ORDER.iter().map(|&p| written.get(p).saturating_sub(self.uploaded.get(p))).sum();
        if waiting == 0 {
            self.waiting_since_ms = None;
            return Vec::new();
        }
        let since = *self.waiting_since_ms.get_or_insert(now_ms);
        let due = waiting >= UPLOAD_BYTES || now_ms.saturating_sub(since) >= UPLOAD_AFTER_MS;
        if !due || now_ms < self.not_before_ms {
            return Vec::new();
        }
        ORDER
            .iter()
            .filter(|&&p| written.get(p) > self.uploaded.get(p))
            .map(|&p| (p, self.uploaded.get(p)..written.get(p)))
            .collect()
    }

    /// A chunk is in the store.
    pub fn uploaded(&mut self, part: Part, end: u64) {
        self.uploaded.set(part, end);
    }

    /// An upload failed: the rest of the round waits, and the next try a while.
    pub fn failed(&mut self, now_ms: u64) {
        self.not_before_ms = now_ms + RETRY_AFTER_MS;
    }

    /// Bytes written but not yet in the store.
    pub fn behind(&self, written: Lengths) -> u64 {
        ORDER.iter().map(|&p| written.get(p).saturating_sub(self.uploaded.get(p))).sum()
    }
}

/// What the writer tells the uploader.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    pub written: Lengths,
    /// The session ended and the files are complete: the row's end.
    pub end: Option<End>,
}

#[derive(Debug, Clone)]
pub struct End {
    pub ended_at: u64,
    pub reason: String,
}

/// Uploads recording `id` from the spool as `progress` says, until its end; then
/// finishes the row, removes the spool copy and says so on `done`. If the writer goes
/// away without an end (it failed), the files are uploaded as they are.
pub async fn run(
    archive: Arc<Archive>,
    store: Arc<dyn Store>,
    id: String,
    mut progress: tokio::sync::watch::Receiver<Progress>,
    done: std::sync::mpsc::Sender<()>,
) {
    let Some(objects) = archive.objects() else { return };
    let mut plan = Plan::default();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut writer_gone = false;
    let mut warned = false;
    loop {
        if !writer_gone {
            tokio::select! {
                _ = tick.tick() => {}
                changed = progress.changed() => writer_gone = changed.is_err(),
            }
        } else {
            tick.tick().await;
        }
        let now_ms = crate::auth::now_ms();
        let current = progress.borrow().clone();
        let end = match (&current.end, writer_gone) {
            (Some(end), _) => Some(end.clone()),
            (None, true) => Some(End { ended_at: now_ms / 1000, reason: "the recording writer failed".into() }),
            (None, false) => None,
        };
        let Some(end) = end else {
            for (part, range) in plan.due(current.written, now_ms) {
                let end = range.end;
                match upload_chunk(&archive, &id, part, range).await {
                    Ok(()) => plan.uploaded(part, end),
                    Err(err) => {
                        if !warned {
                            tracing::warn!(recording = %id, %err, behind = plan.behind(current.written), "cannot upload a part of the recording; it stays in the spool and is tried again");
                            warned = true;
                        }
                        plan.failed(now_ms);
                        break;
                    }
                }
            }
            continue;
        };
        match finish(&archive, &id).await {
            Ok(bytes) => {
                let bytes = if current.end.is_some() { current.written.recording } else { bytes };
                if let Err(err) = store.finish_recording(&id, end.ended_at, bytes, &end.reason) {
                    tracing::error!(recording = %id, %err, "cannot mark the recording finished");
                }
                for part in Part::ALL {
                    if let Ok(path) = archive.spooled(&id, part)
                        && let Err(err) = tokio::fs::remove_file(&path).await
                        && !(part == Part::Search && err.kind() == std::io::ErrorKind::NotFound)
                    {
                        tracing::warn!(recording = %id, %err, "cannot remove the spool copy of an uploaded recording");
                    }
                }
                super::archive::set_live(&id, false);
                if let Err(err) = objects.delete_chunks(&id).await {
                    tracing::warn!(recording = %id, %err, "cannot delete the chunks of an uploaded recording; the whole files are read");
                }
                let _ = done.send(());
                tracing::debug!(recording = %id, "recording uploaded");
                return;
            }
            Err(err) => {
                tracing::warn!(recording = %id, %err, "cannot upload the finished recording; it stays in the spool and is tried again");
                tokio::time::sleep(Duration::from_millis(RETRY_AFTER_MS)).await;
            }
        }
    }
}

async fn upload_chunk(archive: &Archive, id: &str, part: Part, range: Range<u64>) -> std::io::Result<()> {
    let Some(objects) = archive.objects() else { return Ok(()) };
    let place = super::archive::Place::File { path: archive.spooled(id, part)?, len: range.end };
    let bytes = place.read(range.clone()).await?;
    if (bytes.len() as u64) < range.end - range.start {
        return Err(std::io::Error::other("the spool file is shorter than the writer said"));
    }
    objects.put_chunk(id, part, range.start, bytes).await
}

/// Uploads the whole files; returns the recording's size.
async fn finish(archive: &Archive, id: &str) -> std::io::Result<u64> {
    let Some(objects) = archive.objects() else { return Ok(0) };
    let search = archive.spooled(id, Part::Search)?;
    if tokio::fs::try_exists(&search).await? {
        objects.put_whole(id, Part::Search, &search).await?;
    }
    // The index last, as for chunks.
    let mut size = 0;
    for part in ORDER {
        let len = objects.put_whole(id, part, &archive.spooled(id, part)?).await?;
        if part == Part::Recording {
            size = len;
        }
    }
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lengths(recording: u64, index: u64, keyframes: u64) -> Lengths {
        Lengths { recording, index, keyframes }
    }

    #[test]
    fn a_slow_session_goes_up_two_seconds_after_it_wrote() {
        let mut plan = Plan::default();
        assert!(plan.due(lengths(0, 0, 0), 0).is_empty());
        assert!(plan.due(lengths(100, 0, 0), 1000).is_empty(), "a moment after writing: waits");
        assert!(plan.due(lengths(150, 0, 0), 2500).is_empty(), "still under two seconds since the first byte");
        assert_eq!(plan.due(lengths(200, 0, 0), 3000), vec![(Part::Recording, 0..200)]);
        plan.uploaded(Part::Recording, 200);
        assert!(plan.due(lengths(200, 0, 0), 3100).is_empty(), "caught up");
        assert!(plan.due(lengths(210, 0, 0), 60_000).is_empty(), "the clock restarts at the next byte");
        assert_eq!(plan.due(lengths(210, 0, 0), 62_000), vec![(Part::Recording, 200..210)]);
    }

    #[test]
    fn a_mebibyte_waiting_goes_up_at_once_index_last() {
        let mut plan = Plan::default();
        let written = lengths(UPLOAD_BYTES, 40, 300);
        assert_eq!(
            plan.due(written, 0),
            vec![(Part::Recording, 0..UPLOAD_BYTES), (Part::Keyframes, 0..300), (Part::Index, 0..40)]
        );
    }

    #[test]
    fn after_a_failure_the_round_waits_and_picks_up_where_it_stopped() {
        let mut plan = Plan::default();
        let written = lengths(5000, 40, 300);
        assert!(plan.due(written, 0).is_empty());
        let round = plan.due(written, 5000);
        assert_eq!(round.len(), 3);
        plan.uploaded(Part::Recording, 5000);
        plan.failed(5000); // the keyframes failed: the index waits too
        assert!(plan.due(written, 6000).is_empty(), "backing off");
        assert_eq!(plan.behind(written), 340);
        assert_eq!(plan.due(written, 7000), vec![(Part::Keyframes, 0..300), (Part::Index, 0..40)]);
    }
}
