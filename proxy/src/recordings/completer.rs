//! Finishing recordings whose proxy died: the upload completer.
//!
//! Each proxy is a writer with an id of its own, kept in its spool folder, which it
//! holds locked while it runs (so no two running proxies share one). A recording's row
//! names its writer, and the writer refreshes `heartbeat_at` on all its unfinished
//! rows every [`HEARTBEAT_EVERY`]. Every proxy, at start-up and then periodically, looks
//! at the unfinished rows and takes over ([`should_take_over`]) those whose writer has
//! stopped: its own from before a restart (it holds their spool folder now, so their
//! writer is gone) at once, anyone else's once the heartbeat is [`STALE_AFTER`] old. The
//! takeover is a compare-and-set on the row, so of several proxies one finishes it.
//! Finishing reads only the database and wherever the recording's bytes are (the object
//! store, when there is one; never another proxy's spool): the row gets the size that
//! is stored and an end reason that says it was cut short. What is stored ends on a
//! whole record, so it plays to there.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::archive::{self, Archive, Part, Place};
use super::row::RecordingRow;
use crate::store::backend::Store;

/// How often a proxy says its recordings are still being written.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(2);
/// A heartbeat this old (seconds) means the writer has stopped.
pub const STALE_AFTER: u64 = 10;
/// How often the completer looks.
const COMPLETE_EVERY: Duration = Duration::from_secs(3);

/// Whether the proxy `me` should finish `row` now: not if it ended or is being written
/// (here, or by a writer whose heartbeat is fresh).
pub fn should_take_over(row: &RecordingRow, me: &str, writing_here: bool, now: u64) -> bool {
    if row.ended_at.is_some() {
        return false;
    }
    match &row.writer {
        // Ours, but not being written: from before this proxy restarted on its spool,
        // or one it claimed and could not finish.
        Some(writer) if writer == me => !writing_here,
        // Someone else's (or, without a writer, from before writers were recorded):
        // once its heartbeat has stopped.
        _ => row.heartbeat_at.is_none_or(|at| now.saturating_sub(at) > STALE_AFTER),
    }
}

/// The end reason of a recording its proxy's stopping cut short (files only).
pub const CUT_SHORT: &str = "cut short: the proxy stopped during the session";

/// Whether a recording that ended for `end_reason` was cut short by its proxy stopping
/// ([`CUT_SHORT`] or [`CUT_SHORT_UPLOADED`]).
pub fn cut_short(end_reason: Option<&str>) -> bool {
    end_reason.is_some_and(|reason| reason.starts_with("cut short:"))
}

/// The end reason of a recording finished from what its proxy had uploaded.
pub const CUT_SHORT_UPLOADED: &str = "cut short: the proxy recording it stopped during the session; it plays to the last part that had reached the object store";

/// Finishes every recording [`should_take_over`] says this proxy should; returns how many.
pub async fn complete(archive: &Archive, store: &dyn Store, now: u64) -> crate::store::Result<usize> {
    let mut finished = 0;
    for row in store.unfinished_recordings()? {
        if !should_take_over(&row, archive.writer(), archive::is_live(&row.id), now) {
            continue;
        }
        if !store.claim_recording(&row.id, row.writer.as_deref(), row.heartbeat_at, archive.writer(), now)? {
            continue; // another proxy took it first, or its writer came back
        }
        let (ended_at, bytes) = match archive.open(&row, Part::Recording).await {
            Ok(place) => (last_written(&place, &row).await, place.len()),
            Err(err) => {
                tracing::warn!(recording = %row.id, %err, "a recording cut short has no bytes to be found");
                (row.heartbeat_at.unwrap_or(row.started_at).max(row.started_at), 0)
            }
        };
        let reason = if archive.objects().is_some() { CUT_SHORT_UPLOADED } else { CUT_SHORT };
        store.finish_recording(&row.id, ended_at, bytes, reason)?;
        tracing::warn!(recording = %row.id, writer = ?row.writer, bytes, "finished a recording its proxy had stopped writing");
        finished += 1;
    }
    Ok(finished)
}

/// When the recording was last written to: a file's modification time; in the object
/// store, the writer's last heartbeat.
async fn last_written(place: &Place<'_>, row: &RecordingRow) -> u64 {
    let heartbeat = row.heartbeat_at.unwrap_or(row.started_at).max(row.started_at);
    match place {
        Place::File { path, .. } => tokio::fs::metadata(path)
            .await
            .ok()
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(heartbeat, |d| d.as_secs()),
        Place::Objects { .. } => heartbeat,
    }
}

/// Runs for the proxy's life: the heartbeat of this proxy's recordings, and the
/// completer for everyone's.
pub async fn run(archive: Arc<Archive>, store: Arc<dyn Store>) {
    let mut heartbeat = tokio::time::interval(HEARTBEAT_EVERY);
    let mut completer = tokio::time::interval(COMPLETE_EVERY);
    for tick in [&mut heartbeat, &mut completer] {
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    }
    loop {
        tokio::select! {
            _ = heartbeat.tick() => {
                if let Err(err) = store.heartbeat_recordings(archive.writer(), crate::auth::now()) {
                    tracing::warn!(%err, "cannot refresh the heartbeat of this proxy's recordings; another proxy may finish them as cut short");
                }
            }
            _ = completer.tick() => match complete(&archive, store.as_ref(), crate::auth::now()).await {
                Ok(0) => {}
                Ok(n) => tracing::warn!(recordings = n, "recordings cut short by their proxy stopping were finished"),
                Err(err) => tracing::warn!(%err, "cannot look for recordings whose proxy stopped"),
            },
        }
    }
}

/// This proxy's writer id, kept in `spool/.writer`, and the lock on the spool folder
/// that makes it this proxy's alone while it runs (held as long as the file is open).
pub fn claim_spool(spool: &Path) -> std::io::Result<(String, std::fs::File)> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::create_dir_all(spool)?;
    let lock = std::fs::OpenOptions::new().create(true).append(true).mode(0o600).open(spool.join(".lock"))?;
    if rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_err() {
        return Err(std::io::Error::other(format!(
            "another Gatehouse is running with the recordings spool {}; give each proxy its own `[recordings] spool` folder",
            spool.display()
        )));
    }
    let id_file = spool.join(".writer");
    let id = match std::fs::read_to_string(&id_file) {
        Ok(text) if !text.trim().is_empty() => text.trim().to_string(),
        _ => {
            let id = archive::new_id();
            std::fs::write(&id_file, &id)?;
            id
        }
    };
    Ok((id, lock))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use object_store::ObjectStore;

    use super::*;
    use crate::recordings::objects::Objects;
    use crate::store::recordings::RecordingStore as _;
    use crate::store::sqlite::SqliteStore;

    fn row(id: &str, writer: Option<&str>, heartbeat_at: Option<u64>) -> RecordingRow {
        RecordingRow {
            id: id.into(),
            kind: "ssh".into(),
            user: "alice".into(),
            target: "web-1".into(),
            login: "ubuntu".into(),
            started_at: 1000,
            ended_at: None,
            file: format!("{id}.ghrec"),
            bytes: 0,
            end_reason: None,
            writer: writer.map(str::to_string),
            heartbeat_at,
        }
    }

    #[test]
    fn a_recording_is_taken_over_only_once_its_writer_has_stopped() {
        let now = 2000;
        // Another proxy's, heartbeat fresh: it is still writing.
        assert!(!should_take_over(&row("a", Some("b"), Some(now - 3)), "me", false, now));
        assert!(!should_take_over(&row("a", Some("b"), Some(now - STALE_AFTER)), "me", false, now));
        // ...and stale: it stopped.
        assert!(should_take_over(&row("a", Some("b"), Some(now - STALE_AFTER - 1)), "me", false, now));
        // Ours and being written here: never; ours and not (a restart): at once.
        assert!(!should_take_over(&row("a", Some("me"), Some(now - 100)), "me", true, now));
        assert!(should_take_over(&row("a", Some("me"), Some(now)), "me", false, now));
        // From before writers were recorded: nobody writes it.
        assert!(should_take_over(&row("a", None, None), "me", false, now));
        // Ended: nothing to do.
        let ended = RecordingRow { ended_at: Some(1500), ..row("a", Some("b"), Some(0)) };
        assert!(!should_take_over(&ended, "me", false, now));
    }

    #[tokio::test]
    async fn a_dead_proxys_recording_is_finished_from_the_object_store_once() {
        let objects: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
        let dir = std::env::temp_dir().join(format!("gh-complete-{}", archive::new_id()));
        let spool = dir.join("spool-b");
        let archive = |writer: &str| {
            Archive::with_objects(
                &dir,
                spool.clone(),
                Objects::new(objects.clone(), "rec", "memory".into()),
                writer.into(),
            )
        };
        let (b, c) = (archive("proxy-b"), archive("proxy-c"));
        let store = SqliteStore::in_memory().unwrap();
        // Proxy a died 20 s ago with 30 bytes of its recording uploaded in two chunks.
        store.insert_recording(&row("aa", Some("proxy-a"), Some(1000))).unwrap();
        let stored = b.objects().unwrap();
        stored.put_chunk("aa", Part::Recording, 0, vec![1; 20]).await.unwrap();
        stored.put_chunk("aa", Part::Recording, 20, vec![2; 10]).await.unwrap();
        // Proxy d is alive.
        store.insert_recording(&row("dd", Some("proxy-d"), Some(1015))).unwrap();

        assert_eq!(complete(&b, &store, 1020).await.unwrap(), 1);
        assert_eq!(complete(&c, &store, 1021).await.unwrap(), 0, "finished once");
        let finished = store.recording("aa").unwrap().unwrap();
        assert_eq!((finished.ended_at, finished.bytes), (Some(1000), 30));
        assert!(cut_short(finished.end_reason.as_deref()), "{:?}", finished.end_reason);
        assert_eq!(store.recording("dd").unwrap().unwrap().ended_at, None, "a live proxy's recording is left");
        assert!(!spool.join("aa.ghrec").exists(), "nothing was read from a spool");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_spool_is_one_running_proxys_and_keeps_its_writer_id() {
        let dir = std::env::temp_dir().join(format!("gh-spool-{}", archive::new_id()));
        let (id, lock) = claim_spool(&dir).unwrap();
        let err = claim_spool(&dir).unwrap_err();
        assert!(err.to_string().contains("own `[recordings] spool`"), "{err}");
        drop(lock);
        assert_eq!(claim_spool(&dir).unwrap().0, id, "the same writer after a restart");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
