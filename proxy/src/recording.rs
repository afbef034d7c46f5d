//! Writing session recordings as the session runs.
//!
//! One file per session in `data_dir/recordings/`, in the format of
//! [`gatehouse_proto::recording`]. Events go through a bounded queue to one writer task,
//! which appends them, flushes at least once a second and at the end, and updates the
//! recordings table. Because records are only ever appended, a kill leaves at worst one
//! torn record at the tail, which the reader reports and skips.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gatehouse_proto::pb::{self, RecordingEvent, RecordingHeader, recording_event::Event};
use gatehouse_proto::recording::{self, VERSION};
use tokio::sync::mpsc;

use crate::store::{RecordingRow, Store};

const FLUSH_EVERY: Duration = Duration::from_secs(1);
const QUEUE: usize = 256;

/// What the session knows at its start.
pub struct Meta {
    pub user: String,
    pub target: String,
    pub login: String,
    pub cols: u32,
    pub rows: u32,
    pub term: String,
    pub command: String,
}

/// The session's side of a recording. Cheap to clone; every clone feeds the same file.
#[derive(Clone)]
pub struct Recorder {
    id: Arc<str>,
    tx: mpsc::Sender<Entry>,
    started: Instant,
}

enum Entry {
    Event(RecordingEvent),
    /// The last event; the writer answers with the file's size once it is on disk.
    End(RecordingEvent, tokio::sync::oneshot::Sender<u64>),
}

pub fn directory(data_dir: &Path) -> PathBuf {
    data_dir.join("recordings")
}

/// A new random session id: 16 bytes of hex.
pub fn new_id() -> String {
    let mut bytes = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).expect("the system random source failed");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Recorder {
    /// Creates the file, writes the header, registers the recording, and starts the
    /// writer task. Fails (and the session must not start) if the file cannot be made.
    pub fn start(data_dir: &Path, store: Arc<dyn Store>, meta: Meta) -> std::io::Result<Recorder> {
        let dir = directory(data_dir);
        std::fs::create_dir_all(&dir)?;
        let id = new_id();
        let file_name = format!("{id}.ghrec");
        let started_at_ms = crate::auth::now_ms();
        let header = RecordingHeader {
            version: VERSION,
            session_id: id.clone(),
            kind: pb::SessionKind::Ssh.into(),
            user: meta.user.clone(),
            target: meta.target.clone(),
            login: meta.login.clone(),
            started_at_ms,
            cols: meta.cols,
            rows: meta.rows,
            command: meta.command,
            term: meta.term,
        };
        let file = OpenOptions::new().write(true).create_new(true).mode(0o600).open(dir.join(&file_name))?;
        let mut out = BufWriter::with_capacity(64 * 1024, file);
        out.write_all(&recording::encode_start(&header))?;
        out.flush()?;
        let row = RecordingRow {
            id: id.clone(),
            kind: "ssh".into(),
            user: meta.user,
            target: meta.target,
            login: meta.login,
            started_at: started_at_ms / 1000,
            ended_at: None,
            file: file_name,
            bytes: 0,
            end_reason: None,
        };
        store.insert_recording(&row).map_err(std::io::Error::other)?;
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(write_loop(id.clone(), out, rx, store));
        Ok(Recorder { id: id.into(), tx, started: Instant::now() })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    fn offset_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Output the node sent, in the order it sent it. Waits if the disk falls behind.
    pub async fn output(&self, data: &[u8]) {
        let event = RecordingEvent {
            offset_ms: self.offset_ms(),
            event: Some(Event::Output(pb::Output { data: data.to_vec() })),
        };
        let _ = self.tx.send(Entry::Event(event)).await;
    }

    pub async fn resize(&self, cols: u32, rows: u32) {
        let event = RecordingEvent { offset_ms: self.offset_ms(), event: Some(Event::Resize(pb::Resize { cols, rows })) };
        let _ = self.tx.send(Entry::Event(event)).await;
    }

    /// Writes the end record and waits until it is on disk. Returns the file's size.
    pub async fn end(&self, reason: &str, exit_status: Option<i32>) -> u64 {
        let event = RecordingEvent {
            offset_ms: self.offset_ms(),
            event: Some(Event::End(pb::End { reason: reason.to_string(), exit_status })),
        };
        let (done, size) = tokio::sync::oneshot::channel();
        if self.tx.send(Entry::End(event, done)).await.is_err() {
            return 0;
        }
        size.await.unwrap_or(0)
    }
}

async fn write_loop(id: String, mut out: BufWriter<File>, mut rx: mpsc::Receiver<Entry>, store: Arc<dyn Store>) {
    let mut tick = tokio::time::interval(FLUSH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut dirty = false;
    let mut failed = false;
    let mut last_offset = 0;
    let mut end_reason = "the session's connection was lost before it ended".to_string();
    loop {
        tokio::select! {
            entry = rx.recv() => match entry {
                Some(Entry::Event(event)) => {
                    last_offset = event.offset_ms;
                    let bytes = recording::encode_event(&event);
                    if !failed && let Err(err) = out.write_all(&bytes) {
                        tracing::error!(recording = %id, %err, "cannot write the recording");
                        failed = true;
                    }
                    dirty = true;
                }
                Some(Entry::End(event, done)) => {
                    if let Some(Event::End(end)) = &event.event {
                        end_reason = match end.exit_status {
                            Some(status) => format!("{} (exit status {status})", end.reason),
                            None => end.reason.clone(),
                        };
                    }
                    let bytes = recording::encode_event(&event);
                    let result = out.write_all(&bytes).and_then(|()| out.flush()).and_then(|()| out.get_ref().sync_data());
                    if let Err(err) = result {
                        tracing::error!(recording = %id, %err, "cannot finish the recording");
                    }
                    let _ = done.send(out.get_ref().metadata().map(|m| m.len()).unwrap_or(0));
                    break;
                }
                None => {
                    // Every sender is gone without an end record: write one that says so.
                    let event = RecordingEvent {
                        offset_ms: last_offset,
                        event: Some(Event::End(pb::End { reason: end_reason.clone(), exit_status: None })),
                    };
                    let bytes = recording::encode_event(&event);
                    let _ = out.write_all(&bytes).and_then(|()| out.flush());
                    break;
                }
            },
            _ = tick.tick(), if dirty => {
                if let Err(err) = out.flush() {
                    tracing::error!(recording = %id, %err, "cannot flush the recording");
                }
                dirty = false;
            }
        }
    }
    let size = out.get_ref().metadata().map(|m| m.len()).unwrap_or(0);
    if let Err(err) = store.finish_recording(&id, crate::auth::now(), size, &end_reason) {
        tracing::error!(recording = %id, %err, "cannot mark the recording finished");
    }
}

/// Opens a recording file for reading by id, refusing anything that is not one of ours.
pub fn open(data_dir: &Path, row: &RecordingRow) -> std::io::Result<File> {
    let name = Path::new(&row.file);
    if name.components().count() != 1 || !row.file.ends_with(".ghrec") {
        return Err(std::io::Error::other(format!("refusing the recording path {:?}", row.file)));
    }
    File::open(directory(data_dir).join(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SqliteStore;

    #[tokio::test]
    async fn a_session_is_written_in_order_and_registered() {
        let dir = std::env::temp_dir().join(format!("gh-rec-{}", new_id()));
        let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().unwrap());
        let meta = Meta {
            user: "alice".into(),
            target: "web-1".into(),
            login: "ubuntu".into(),
            cols: 80,
            rows: 24,
            term: "xterm-256color".into(),
            command: String::new(),
        };
        let recorder = Recorder::start(&dir, store.clone(), meta).unwrap();
        recorder.output(b"$ ls\r\n").await;
        recorder.resize(120, 40).await;
        recorder.output(b"a b c\r\n").await;
        let size = recorder.end("exit", Some(0)).await;

        let row = store.recording(recorder.id()).unwrap().unwrap();
        assert_eq!(row.bytes, size);
        assert_eq!(row.end_reason.as_deref(), Some("exit (exit status 0)"));
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut open(&dir, &row).unwrap(), &mut bytes).unwrap();
        assert_eq!(bytes.len() as u64, size);
        let read = recording::read_all(&bytes).unwrap();
        let header = read.header.clone().unwrap();
        assert_eq!((header.user.as_str(), header.cols, header.rows), ("alice", 80, 24));
        assert_eq!(read.output(), b"$ ls\r\na b c\r\n");
        assert!(matches!(read.events[1].event, Some(Event::Resize(pb::Resize { cols: 120, rows: 40 }))));
        assert_eq!(read.end().unwrap().exit_status, Some(0));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn a_recorder_dropped_without_an_end_still_ends_the_file() {
        let dir = std::env::temp_dir().join(format!("gh-rec-{}", new_id()));
        let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().unwrap());
        let meta = Meta {
            user: "a".into(),
            target: "n".into(),
            login: "l".into(),
            cols: 80,
            rows: 24,
            term: String::new(),
            command: "true".into(),
        };
        let recorder = Recorder::start(&dir, store.clone(), meta).unwrap();
        let id = recorder.id().to_string();
        recorder.output(b"x").await;
        drop(recorder);
        let row = loop {
            let row = store.recording(&id).unwrap().unwrap();
            if row.ended_at.is_some() {
                break row;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        let bytes = std::fs::read(directory(&dir).join(&row.file)).unwrap();
        let read = recording::read_all(&bytes).unwrap();
        assert_eq!(read.output(), b"x");
        assert!(read.end().unwrap().reason.contains("lost"));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
