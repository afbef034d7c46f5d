//! Writing session recordings as the session runs.
//!
//! Per session, in the spool folder (`data_dir/recordings/` unless `[recordings] spool`
//! says otherwise): `ID.ghrec` (the recording, in the format of
//! [`gatehouse_recording`]), `ID.ghidx` (the index: a [`Keyframe`] entry whenever
//! [`keyframes::Policy`] says one is due), `ID.ghkf` (the keyframes' screen states:
//! a terminal's from [`TerminalKeyframes`], a desktop's decoded here) and, for a
//! terminal, `ID.ghsrch` (the screen's text over time, which [`search`] answers from).
//! Events go through a bounded queue to one writer task, which appends them, flushes
//! at least once a second and at the end, and updates the recordings table. Because everything is only ever appended, a kill leaves at
//! worst one torn record at each tail, which the readers report and skip.
//!
//! With an object store, [`upload`] carries each flushed stretch to it while the session
//! runs and the whole files at its end; [`completer`] finishes the recordings of a proxy
//! that died; [`archive`] says where any recording's bytes are to be read.
pub mod archive;
pub mod completer;
pub mod objects;
pub mod part;
pub mod row;
pub mod search;
pub mod upload;
pub mod video;

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gatehouse_proto::api::RecordingKind;
use gatehouse_proto::pb::{self, Keyframe, RecordingEvent, RecordingHeader, recording_event::Event};
use gatehouse_recording::keyframes::{self, TerminalKeyframes};
use gatehouse_recording::search::file::SearchWriter;
use gatehouse_recording::{self as recording, VERSION};
use tokio::sync::mpsc;

use crate::store::backend::Store;
use archive::{Archive, set_live};
pub use archive::{directory, is_live, new_id};
pub use completer::{CUT_SHORT, cut_short};
use row::RecordingRow;

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
    pub kind: pb::SessionKind,
}

/// The session's side of a recording. Cheap to clone; every clone feeds the same file.
#[derive(Clone)]
pub struct Recorder {
    id: Arc<str>,
    tx: mpsc::Sender<Entry>,
    started: Instant,
    /// Set by the writer when the disk refuses a write: a session that must be recorded
    /// cannot go on unrecorded, so the session ends.
    failed: Arc<std::sync::atomic::AtomicBool>,
}

/// Why a session that is recorded ends when its recording cannot be written.
pub const RECORDING_FAILED: &str = "the recording could not be written (the proxy's disk may be full), and sessions here are always recorded, so it ended";

enum Entry {
    Event(RecordingEvent),
    /// Put what is buffered on disk (sent every second).
    Flush,
    /// The last event; the writer answers with the file's size once it is on disk.
    End(RecordingEvent, tokio::sync::oneshot::Sender<u64>),
}

/// A recording's kind from the name its row keeps ([`RecordingKind::as_str`]). A name
/// it does not know is read as a terminal's, as every recording was before desktops.
pub fn kind(stored: &str) -> RecordingKind {
    RecordingKind::from_name(stored).unwrap_or(RecordingKind::Ssh)
}

/// Bytes free for an unprivileged writer on the filesystem holding `path` (or its
/// nearest existing parent).
pub fn free_space(path: &Path) -> std::io::Result<u64> {
    let mut at = path;
    while !at.exists() {
        at = at.parent().ok_or_else(|| std::io::Error::other("no existing parent"))?;
    }
    let stats = rustix::fs::statvfs(at)?;
    Ok(stats.f_bavail.saturating_mul(stats.f_frsize))
}

impl Recorder {
    /// Creates the file, writes the header, registers the recording, and starts the
    /// writer task. Fails (and the session must not start) if the file cannot be made.
    pub fn start(archive: &Arc<Archive>, store: Arc<dyn Store>, meta: Meta) -> std::io::Result<Recorder> {
        let dir = archive.spool().to_path_buf();
        std::fs::create_dir_all(&dir)?;
        let id = new_id();
        let file_name = format!("{id}.ghrec");
        // Offsets count from this instant, and the header says when it was.
        let started = Instant::now();
        let started_at_ms = crate::auth::now_ms();
        let header = RecordingHeader {
            version: VERSION,
            session_id: id.clone(),
            kind: meta.kind.into(),
            user: meta.user.clone(),
            target: meta.target.clone(),
            login: meta.login.clone(),
            started_at_ms,
            cols: meta.cols,
            rows: meta.rows,
            command: meta.command,
            term: meta.term,
        };
        let out = RecordingFiles::create(&dir, &id, &header)?;
        let row = RecordingRow {
            id: id.clone(),
            kind: RecordingKind::from(meta.kind).as_str().into(),
            user: meta.user,
            target: meta.target,
            login: meta.login,
            started_at: started_at_ms / 1000,
            ended_at: None,
            file: file_name,
            bytes: 0,
            end_reason: None,
            writer: Some(archive.writer().to_string()),
            heartbeat_at: Some(started_at_ms / 1000),
        };
        // Live before the row exists: the completer never sees a row of ours that is
        // being written as one left over from before a restart.
        set_live(&id, true);
        if let Err(err) = store.insert_recording(&row) {
            set_live(&id, false);
            return Err(std::io::Error::other(err));
        }
        let (tx, rx) = mpsc::channel(QUEUE);
        let finish = match archive.objects() {
            None => Finish::Here,
            Some(_) => {
                let (progress, watched) =
                    tokio::sync::watch::channel(upload::Progress { written: out.lengths(), end: None });
                let (done, uploaded) = std::sync::mpsc::channel();
                tokio::spawn(upload::run(archive.clone(), store.clone(), id.clone(), watched, done));
                Finish::Upload { progress, uploaded }
            }
        };
        let uploads = matches!(finish, Finish::Upload { .. });
        let writer_id = id.clone();
        let writer_file = dir.join(format!("{id}.ghrec"));
        let failed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writer_failed = failed.clone();
        std::thread::Builder::new().name(format!("recording-{}", &id[..8])).spawn(move || {
            // Whatever happens in the writer (a panic in a decoder, say), the row is
            // finished and the recording leaves the live set.
            let (id, finisher) = (writer_id.clone(), store.clone());
            let file = writer_file;
            let failed = writer_failed.clone();
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
                write_loop(writer_id, out, rx, store, writer_failed, finish)
            }));
            if result.is_err() {
                failed.store(true, std::sync::atomic::Ordering::Relaxed);
                tracing::error!(recording = %id, "the recording writer failed; the recording ends here");
                if uploads {
                    // The uploader saw the writer go: it uploads what there is and ends the row.
                    return;
                }
                let size = std::fs::metadata(&file).map_or(0, |m| m.len());
                let _ = finisher.finish_recording(&id, crate::auth::now(), size, "the recording writer failed");
                set_live(&id, false);
            }
        })?;
        tokio::spawn(flush_ticker(tx.downgrade()));
        Ok(Recorder { id: id.into(), tx, started, failed })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    fn offset_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Output the node sent, in the order it sent it. Waits if the disk falls behind.
    /// False once the recording cannot be written: the session must end.
    pub async fn output(&self, data: &[u8]) -> bool {
        let event = RecordingEvent {
            offset_ms: self.offset_ms(),
            event: Some(Event::Output(pb::Output { data: data.to_vec() })),
        };
        self.tx.send(Entry::Event(event)).await.is_ok() && !self.failed()
    }

    /// The disk refused a write of this recording.
    /// What the client sent, for a session without a pty; `false` when the recording
    /// has failed and the session must end.
    pub async fn input(&self, data: &[u8]) -> bool {
        self.input_by(data, None).await
    }

    /// What someone typed, naming them (`participant`) in a session others joined.
    pub async fn input_by(&self, data: &[u8], participant: Option<String>) -> bool {
        let event = RecordingEvent {
            offset_ms: self.offset_ms(),
            event: Some(Event::Input(pb::Input { data: data.to_vec(), participant: participant.unwrap_or_default() })),
        };
        self.tx.send(Entry::Event(event)).await.is_ok() && !self.failed()
    }

    /// Someone joined (`joined`) or left the session as `mode`.
    pub async fn participant(&self, user: &str, mode: crate::access::rbac::JoinMode, joined: bool, moderator: bool) {
        let mode = match mode {
            crate::access::rbac::JoinMode::Observer => pb::ParticipantMode::Observer,
            crate::access::rbac::JoinMode::Peer => pb::ParticipantMode::Peer,
        };
        let event = RecordingEvent {
            offset_ms: self.offset_ms(),
            event: Some(Event::Participant(pb::Participant {
                user: user.to_string(),
                mode: mode.into(),
                joined,
                moderator,
            })),
        };
        let _ = self.tx.send(Entry::Event(event)).await;
    }

    pub fn failed(&self) -> bool {
        self.failed.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub async fn resize(&self, cols: u32, rows: u32) {
        let event =
            RecordingEvent { offset_ms: self.offset_ms(), event: Some(Event::Resize(pb::Resize { cols, rows })) };
        let _ = self.tx.send(Entry::Event(event)).await;
    }

    /// A file moved over SFTP in this session (a mark on the player's timeline).
    pub async fn transfer(&self, transfer: pb::Transfer) {
        let event = RecordingEvent { offset_ms: self.offset_ms(), event: Some(Event::Transfer(transfer)) };
        let _ = self.tx.send(Entry::Event(event)).await;
    }

    /// A desktop session reached the active stage: the decoder's parameters.
    pub async fn desktop_activated(&self, activated: pb::DesktopActivated) {
        let event = RecordingEvent { offset_ms: self.offset_ms(), event: Some(Event::DesktopActivated(activated)) };
        let _ = self.tx.send(Entry::Event(event)).await;
    }

    /// One fast-path update as the desktop sent it. Waits if the disk falls behind.
    /// False once the recording cannot be written: the session must end.
    pub async fn desktop_update(&self, pdu: &[u8]) -> bool {
        let event = RecordingEvent { offset_ms: self.offset_ms(), event: Some(Event::DesktopUpdate(pdu.to_vec())) };
        self.tx.send(Entry::Event(event)).await.is_ok() && !self.failed()
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

/// The writer: on its own thread, because it does file I/O and, for desktops, decodes
/// and compresses keyframes; none of that may hold up the tokio workers carrying
/// sessions. A ticker task asks it to flush every second while the session lives.
/// Who finishes the row at the end: the writer (files only), or the uploader once the
/// whole files are in the object store.
enum Finish {
    Here,
    Upload { progress: tokio::sync::watch::Sender<upload::Progress>, uploaded: std::sync::mpsc::Receiver<()> },
}

/// How long the end of a session waits for its recording to reach the object store
/// (the uploader carries on after that, for as long as it takes).
const UPLOAD_WAIT: Duration = Duration::from_secs(15);

fn write_loop(
    id: String,
    mut out: RecordingFiles,
    mut rx: mpsc::Receiver<Entry>,
    store: Arc<dyn Store>,
    failed_flag: Arc<std::sync::atomic::AtomicBool>,
    finish: Finish,
) {
    let mut dirty = false;
    let mut failed = false;
    let mut end_reason = "the session's connection was lost before it ended".to_string();
    loop {
        match rx.blocking_recv() {
            Some(Entry::Event(event)) => {
                if !failed && let Err(err) = out.append(&event) {
                    tracing::error!(recording = %id, %err, "cannot write the recording; the session will end");
                    failed = true;
                    failed_flag.store(true, std::sync::atomic::Ordering::Relaxed);
                }
                dirty = true;
            }
            Some(Entry::Flush) => {
                if dirty {
                    match out.flush() {
                        Ok(()) => {
                            if let Finish::Upload { progress, .. } = &finish {
                                progress.send_modify(|p| p.written = out.lengths());
                            }
                        }
                        Err(err) => {
                            tracing::error!(recording = %id, %err, "cannot flush the recording; the session will end");
                            failed = true;
                            failed_flag.store(true, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                }
                dirty = false;
            }
            Some(Entry::End(event, done)) => {
                if let Some(Event::End(end)) = &event.event {
                    end_reason = match end.exit_status {
                        Some(status) => format!("{} (exit status {status})", end.reason),
                        None => end.reason.clone(),
                    };
                }
                if let Err(err) = out.append(&event).and_then(|()| out.finish()) {
                    tracing::error!(recording = %id, %err, "cannot finish the recording");
                }
                // The row first: whoever waited for the end reads a finished recording.
                finish_row(&id, &out, &store, &end_reason, &finish);
                let _ = done.send(out.size());
                return;
            }
            None => {
                // Every sender is gone without an end record: write one that says so.
                let event = RecordingEvent {
                    offset_ms: out.last_offset_ms(),
                    event: Some(Event::End(pb::End { reason: end_reason.clone(), exit_status: None })),
                };
                let _ = out.append(&event).and_then(|()| out.finish());
                break;
            }
        }
    }
    finish_row(&id, &out, &store, &end_reason, &finish);
}

/// Marks the recording finished in the table and no longer live; with an object store,
/// has the uploader do so once the whole files are there, and waits for that a while.
fn finish_row(id: &str, out: &RecordingFiles, store: &Arc<dyn Store>, end_reason: &str, finish: &Finish) {
    match finish {
        Finish::Here => {
            if let Err(err) = store.finish_recording(id, crate::auth::now(), out.size(), end_reason) {
                tracing::error!(recording = %id, %err, "cannot mark the recording finished");
            }
            set_live(id, false);
        }
        Finish::Upload { progress, uploaded } => {
            let end = upload::End { ended_at: crate::auth::now(), reason: end_reason.to_string() };
            progress.send_modify(|p| {
                p.written = out.lengths();
                p.end = Some(end);
            });
            if uploaded.recv_timeout(UPLOAD_WAIT).is_err() {
                tracing::warn!(recording = %id, "the recording is not in the object store yet; it stays in the spool until it is");
            }
        }
    }
}

/// Asks the writer to flush every second, for as long as someone records: it holds only
/// a weak sender, so it never keeps a finished recording open.
async fn flush_ticker(tx: mpsc::WeakSender<Entry>) {
    let mut tick = tokio::time::interval(FLUSH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let Some(tx) = tx.upgrade() else { return };
        if tx.send(Entry::Flush).await.is_err() {
            return;
        }
    }
}

/// Writes a whole recording at once (an import), registers it, and returns its id.
pub fn write_imported(
    data_dir: &Path,
    store: &dyn Store,
    mut header: RecordingHeader,
    events: &[RecordingEvent],
    user: &str,
    target: &str,
) -> std::io::Result<String> {
    let dir = directory(data_dir);
    std::fs::create_dir_all(&dir)?;
    let id = new_id();
    header.session_id = id.clone();
    header.user = user.to_string();
    header.target = target.to_string();
    if header.started_at_ms == 0 {
        header.started_at_ms = crate::auth::now_ms();
    }
    let mut files = RecordingFiles::create(&dir, &id, &header)?;
    for event in events {
        files.append(event)?;
    }
    let last = events.last().map_or(0, |e| e.offset_ms);
    files.append(&RecordingEvent {
        offset_ms: last,
        event: Some(Event::End(pb::End { reason: "imported".into(), exit_status: None })),
    })?;
    files.finish()?;
    let row = RecordingRow {
        id: id.clone(),
        kind: RecordingKind::Ssh.as_str().into(),
        user: user.to_string(),
        target: target.to_string(),
        login: String::new(),
        started_at: header.started_at_ms / 1000,
        ended_at: Some((header.started_at_ms + last) / 1000),
        file: format!("{id}.ghrec"),
        bytes: files.size(),
        end_reason: Some("imported".into()),
        writer: None,
        heartbeat_at: None,
    };
    store.insert_recording(&row).map_err(std::io::Error::other)?;
    Ok(id)
}

/// The files of one recording, written in step: the recording, its index, the
/// keyframes' screens, and a terminal's search file. When a keyframe is due is
/// [`keyframes::Policy`]'s to say; a terminal's screen comes from [`TerminalKeyframes`],
/// which follows the output, and so does the search file's text.
pub struct RecordingFiles {
    rec: BufWriter<File>,
    idx: BufWriter<File>,
    kf: BufWriter<File>,
    /// A terminal's search file and what writes it (`None` for a desktop, and once
    /// finished).
    search: Option<(BufWriter<File>, SearchWriter)>,
    /// Bytes in each file so far.
    rec_len: u64,
    idx_len: u64,
    kf_len: u64,
    policy: keyframes::Policy,
    terminal: TerminalKeyframes,
    last_offset_ms: u64,
    /// A desktop recording's decoder (IronRDP, as in the browser): its keyframes are
    /// whole decoded screens. `None` for terminals, and before the desktop is active.
    desktop: Option<gatehouse_desktop::decoder::Decoder>,
    /// The desktop stream's codec context, stored after each keyframe.
    codec: gatehouse_desktop::codec_context::CodecContext,
    is_desktop: bool,
}

fn create_private(path: &Path) -> std::io::Result<BufWriter<File>> {
    let file = OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    Ok(BufWriter::with_capacity(64 * 1024, file))
}

impl RecordingFiles {
    pub fn create(dir: &Path, id: &str, header: &RecordingHeader) -> std::io::Result<RecordingFiles> {
        let mut rec = create_private(&dir.join(format!("{id}.ghrec")))?;
        let mut idx = create_private(&dir.join(format!("{id}.ghidx")))?;
        let kf = create_private(&dir.join(format!("{id}.ghkf")))?;
        let is_desktop = header.kind == i32::from(pb::SessionKind::Desktop);
        let search = if is_desktop {
            None
        } else {
            Some((create_private(&dir.join(format!("{id}.ghsrch")))?, SearchWriter::new()))
        };
        let start = recording::encode_start(header);
        rec.write_all(&start)?;
        idx.write_all(recording::INDEX_MAGIC)?;
        let mut files = RecordingFiles {
            rec,
            idx,
            kf,
            search,
            rec_len: start.len() as u64,
            idx_len: recording::INDEX_MAGIC.len() as u64,
            kf_len: 0,
            policy: keyframes::Policy::new(),
            terminal: TerminalKeyframes::new(header),
            last_offset_ms: 0,
            desktop: None,
            codec: gatehouse_desktop::codec_context::CodecContext::new(),
            is_desktop,
        };
        // A keyframe of the empty screen at the start: every seek has one to start from.
        // (A desktop's first keyframe comes once it has a screen; before it, a player
        // starts from the beginning of the file.)
        if !files.is_desktop {
            files.keyframe(0)?;
        }
        files.flush()?;
        Ok(files)
    }

    fn keyframe(&mut self, offset_ms: u64) -> std::io::Result<()> {
        if self.is_desktop {
            return self.desktop_keyframe(offset_ms);
        }
        let (state, cols, rows) = self.terminal.take();
        self.write_keyframe(offset_ms, cols, rows, &state)
    }

    /// Appends `state` to the keyframes file and its entry to the index, pointing at the
    /// next event's byte offset.
    fn write_keyframe(&mut self, offset_ms: u64, cols: u32, rows: u32, state: &[u8]) -> std::io::Result<()> {
        let entry = Keyframe {
            offset_ms,
            byte_offset: self.rec_len,
            cols,
            rows,
            screen_at: self.kf_len,
            screen_len: state.len() as u32,
        };
        self.kf.write_all(state)?;
        self.kf_len += state.len() as u64;
        let encoded = recording::index::encode_entry(&entry);
        self.idx.write_all(&encoded)?;
        self.idx_len += encoded.len() as u64;
        self.policy.taken(offset_ms, self.rec_len);
        Ok(())
    }

    /// A desktop keyframe: the decoded screen, RGBA, zlib-compressed (screens are
    /// mostly flat colour), with its size in `cols` × `rows`.
    fn desktop_keyframe(&mut self, offset_ms: u64) -> std::io::Result<()> {
        let Some(decoder) = &self.desktop else { return Ok(()) };
        let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        zlib.write_all(decoder.pixels())?;
        let state = zlib.finish()?;
        let (cols, rows) = (u32::from(decoder.width()), u32::from(decoder.height()));
        self.write_keyframe(offset_ms, cols, rows, &state)?;
        // What a decoder starting here needs to have seen first (RemoteFX's context).
        if !self.codec.pdus().is_empty() {
            let context = pb::DesktopCodecContext { updates: self.codec.pdus().to_vec() };
            let event = RecordingEvent { offset_ms, event: Some(Event::DesktopCodecContext(context)) };
            let bytes = recording::encode_event(&event);
            self.rec.write_all(&bytes)?;
            self.rec_len += bytes.len() as u64;
        }
        Ok(())
    }

    /// Appends one event, after a keyframe if one is due.
    pub fn append(&mut self, event: &RecordingEvent) -> std::io::Result<()> {
        // A terminal always has a screen; a desktop once it is active.
        let has_screen = !self.is_desktop || self.desktop.is_some();
        if self.policy.due(event, self.rec_len, has_screen) {
            self.keyframe(event.offset_ms)?;
        }
        let bytes = recording::encode_event(event);
        self.rec.write_all(&bytes)?;
        self.rec_len += bytes.len() as u64;
        self.last_offset_ms = event.offset_ms;
        self.terminal.follow(event);
        if let (Some((_, search)), Some(Event::Output(output))) = (&mut self.search, &event.event) {
            search.output(event.offset_ms, &output.data, &self.terminal.text());
        }
        match &event.event {
            Some(Event::DesktopActivated(activated)) if self.is_desktop => {
                self.desktop = Some(gatehouse_desktop::decoder::Decoder::new(activated));
                self.codec.reset();
            }
            Some(Event::DesktopUpdate(pdu)) => {
                self.codec.follow(pdu);
                // What the browser could not decode, the keyframe does not show either;
                // the recording itself keeps the bytes.
                if let Some(decoder) = &mut self.desktop
                    && let Err(err) = decoder.feed(pdu)
                {
                    tracing::debug!(%err, "a desktop update in the recording does not decode");
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The recording first: an index entry never points past what is on disk.
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.rec.flush()?;
        self.kf.flush()?;
        self.idx.flush()?;
        if let Some((file, search)) = &mut self.search {
            file.write_all(&search.take())?;
            file.flush()?;
        }
        Ok(())
    }

    /// Puts everything on disk; the search file gets its end, which says the recording
    /// is complete at this length.
    pub fn finish(&mut self) -> std::io::Result<()> {
        self.flush()?;
        self.rec.get_ref().sync_data()?;
        self.kf.get_ref().sync_data()?;
        self.idx.get_ref().sync_data()?;
        if let Some((mut file, search)) = self.search.take() {
            file.write_all(&search.finish(self.rec_len))?;
            file.flush()?;
            file.get_ref().sync_data()?;
        }
        Ok(())
    }

    pub fn size(&self) -> u64 {
        self.rec_len
    }

    /// What each file holds: on disk, whole records only, right after [`Self::flush`].
    pub fn lengths(&self) -> upload::Lengths {
        upload::Lengths { recording: self.rec_len, index: self.idx_len, keyframes: self.kf_len }
    }

    pub fn last_offset_ms(&self) -> u64 {
        self.last_offset_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::recordings::RecordingStore as _;
    use crate::store::sqlite::SqliteStore;

    #[test]
    fn desktop_keyframes_are_the_decoded_screen_and_point_after_themselves() {
        use gatehouse_desktop::testing::solid_bitmap;
        let dir = std::env::temp_dir().join(format!("gh-deskrec-{}", new_id()));
        std::fs::create_dir_all(&dir).unwrap();
        let header =
            RecordingHeader { session_id: "d".into(), kind: pb::SessionKind::Desktop.into(), ..Default::default() };
        let mut files = RecordingFiles::create(&dir, "d", &header).unwrap();
        let event = |offset_ms, event| RecordingEvent { offset_ms, event: Some(event) };
        let activated =
            pb::DesktopActivated { io_channel_id: 1003, user_channel_id: 1007, share_id: 1, width: 32, height: 16 };
        files.append(&event(0, Event::DesktopActivated(activated))).unwrap();
        files.append(&event(10, Event::DesktopUpdate(solid_bitmap(0, 0, 4, 4, [0, 0, 255, 0])))).unwrap();
        files.append(&event(3000, Event::DesktopUpdate(solid_bitmap(4, 0, 4, 4, [0, 255, 0, 0])))).unwrap();
        // Over five seconds later: a keyframe of the screen as it was before this update.
        files.append(&event(6000, Event::DesktopUpdate(solid_bitmap(8, 0, 4, 4, [255, 0, 0, 0])))).unwrap();
        files.append(&event(6500, Event::End(pb::End { reason: "done".into(), exit_status: None }))).unwrap();
        files.finish().unwrap();
        let (index, _) = recording::read_index(&std::fs::read(dir.join("d.ghidx")).unwrap()).unwrap();
        assert_eq!(
            index.iter().map(|k| k.offset_ms).collect::<Vec<_>>(),
            vec![10, 6000],
            "first paint, then after 5 s"
        );
        let keyframes = std::fs::read(dir.join("d.ghkf")).unwrap();
        let last = &index[1];
        assert_eq!((last.cols, last.rows), (32, 16));
        let slice = &keyframes[last.screen_at as usize..(last.screen_at + u64::from(last.screen_len)) as usize];
        let mut rgba = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::ZlibDecoder::new(slice), &mut rgba).unwrap();
        assert_eq!(rgba.len(), 32 * 16 * 4);
        let pixel = |x: usize, y: usize| &rgba[(y * 32 + x) * 4..(y * 32 + x) * 4 + 3];
        assert_eq!(pixel(0, 0), [255, 0, 0], "the first square");
        assert_eq!(pixel(5, 1), [0, 255, 0], "the second");
        assert_eq!(pixel(9, 1), [0, 0, 0], "not yet the third");
        // The keyframe's byte offset is where the third update's record starts.
        let recording = std::fs::read(dir.join("d.ghrec")).unwrap();
        let mut reader = gatehouse_recording::Reader::resume_at(last.byte_offset);
        reader.push(&recording[last.byte_offset as usize..]);
        let Some(gatehouse_recording::Item::Event { event, .. }) = reader.next_item().unwrap() else { panic!() };
        assert_eq!(event.offset_ms, 6000);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_recording_the_proxy_stopped_during_is_marked_cut_short_and_no_other_is() {
        let dir = std::env::temp_dir().join(format!("gh-cut-{}", new_id()));
        let store = SqliteStore::in_memory().unwrap();
        let row = |id: &str, ended_at: Option<u64>, end_reason: Option<&str>| RecordingRow {
            id: id.into(),
            kind: RecordingKind::Ssh.as_str().into(),
            user: "alice".into(),
            target: "web-1".into(),
            login: "ubuntu".into(),
            started_at: 1_700_000_000,
            ended_at,
            file: format!("{id}.ghrec"),
            bytes: 0,
            end_reason: end_reason.map(str::to_string),
            writer: Some("before-the-restart".into()),
            heartbeat_at: Some(crate::auth::now()),
        };
        store.insert_recording(&row("running", None, None)).unwrap();
        store.insert_recording(&row("ended", Some(1_700_000_060), Some("exit (exit status 0)"))).unwrap();
        // Started again on its spool: the writer is this proxy from before the restart.
        let archive = Archive::local(&dir, "before-the-restart".into());
        assert_eq!(completer::complete(&archive, &store, crate::auth::now()).await.unwrap(), 1);
        let reason = |id| store.recording(id).unwrap().unwrap().end_reason;
        assert!(cut_short(reason("running").as_deref()));
        assert!(!cut_short(reason("ended").as_deref()));
        assert!(!cut_short(None));
    }

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
            kind: pb::SessionKind::Ssh,
        };
        let recorder = Recorder::start(&Arc::new(Archive::local(&dir, "w".into())), store.clone(), meta).unwrap();
        recorder.output(b"$ ls\r\n").await;
        recorder.resize(120, 40).await;
        recorder.output(b"a b c\r\n").await;
        let size = recorder.end("exit", Some(0)).await;

        let row = store.recording(recorder.id()).unwrap().unwrap();
        assert_eq!(row.bytes, size);
        assert_eq!(row.end_reason.as_deref(), Some("exit (exit status 0)"));
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut File::open(directory(&dir).join(&row.file)).unwrap(), &mut bytes).unwrap();
        assert_eq!(bytes.len() as u64, size);
        let read = recording::read_all(&bytes).unwrap();
        let header = read.header.clone().unwrap();
        assert_eq!((header.user.as_str(), header.cols, header.rows), ("alice", 80, 24));
        assert_eq!(read.output(), b"$ ls\r\na b c\r\n");
        assert!(matches!(read.events[1].event, Some(Event::Resize(pb::Resize { cols: 120, rows: 40 }))));
        assert_eq!(read.end().unwrap().exit_status, Some(0));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn with_an_object_store_the_recording_ends_up_there_and_leaves_the_spool() {
        use object_store::ObjectStore;
        let dir = std::env::temp_dir().join(format!("gh-recup-{}", new_id()));
        let memory: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
        let objects = objects::Objects::new(memory.clone(), "p", "memory".into());
        let archive = Arc::new(Archive::with_objects(&dir, dir.join("spool"), objects, "w".into()));
        let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().unwrap());
        let meta = Meta {
            user: "alice".into(),
            target: "web-1".into(),
            login: "ubuntu".into(),
            cols: 80,
            rows: 24,
            term: String::new(),
            command: String::new(),
            kind: pb::SessionKind::Ssh,
        };
        let recorder = Recorder::start(&archive, store.clone(), meta).unwrap();
        recorder.output(b"uploaded while it runs\r\n").await;
        // Flushed within a second, uploaded within two more: readable from the store
        // while the session goes on.
        let id = recorder.id().to_string();
        let objects = archive.objects().unwrap();
        let layout = loop {
            if let Some(layout) = objects.layout(&id, archive::Part::Recording, false).await.unwrap() {
                break layout;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let stored = objects.read(&id, archive::Part::Recording, &layout, 0..layout.len()).await.unwrap();
        assert_eq!(recording::read_all(&stored).unwrap().output(), b"uploaded while it runs\r\n");
        assert!(matches!(layout, objects::Layout::Chunks(_)));
        recorder.output(b"and the rest at the end").await;
        let size = recorder.end("exit", Some(0)).await;

        let row = store.recording(&id).unwrap().unwrap();
        assert_eq!((row.bytes, row.end_reason.as_deref()), (size, Some("exit (exit status 0)")));
        for part in archive::Part::ALL {
            assert!(!archive.spooled(&id, part).unwrap().exists(), "the spool copy is gone");
            let place = archive.open(&row, part).await.unwrap();
            assert!(place.in_object_store());
        }
        let whole = archive.open(&row, archive::Part::Recording).await.unwrap().read_all().await.unwrap();
        assert_eq!(whole.len() as u64, size);
        let read = recording::read_all(&whole).unwrap();
        assert_eq!(read.output(), b"uploaded while it runs\r\nand the rest at the end");
        assert_eq!(read.end().unwrap().exit_status, Some(0));
        let (index, _) =
            recording::read_index(&archive.open(&row, archive::Part::Index).await.unwrap().read_all().await.unwrap())
                .unwrap();
        assert_eq!(index[0].offset_ms, 0, "the index is there too");
        let left: Vec<_> = futures_util::StreamExt::collect::<Vec<_>>(memory.list(None)).await;
        assert_eq!(left.len(), 4, "the chunks are deleted, four whole files stay (the search file too): {left:?}");
        let _ = std::fs::remove_dir_all(dir);
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
            kind: pb::SessionKind::Ssh,
        };
        let recorder = Recorder::start(&Arc::new(Archive::local(&dir, "w".into())), store.clone(), meta).unwrap();
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

    #[test]
    fn keyframes_are_taken_while_output_flows_and_rebuild_the_screen() {
        let dir = std::env::temp_dir().join(format!("gh-kf-{}", new_id()));
        std::fs::create_dir_all(&dir).unwrap();
        let header = RecordingHeader { version: VERSION, cols: 20, rows: 4, ..Default::default() };
        let mut files = RecordingFiles::create(&dir, "s", &header).unwrap();
        let output = |ms, text: &str| RecordingEvent {
            offset_ms: ms,
            event: Some(Event::Output(pb::Output { data: text.as_bytes().to_vec() })),
        };
        for (ms, text) in
            [(0, "one\r\n"), (1000, "two\r\n"), (6000, "\x1b[31mthree\x1b[0m\r\n"), (6500, "four"), (30_000, "!")]
        {
            files.append(&output(ms, text)).unwrap();
        }
        files.finish().unwrap();
        let index = std::fs::read(dir.join("s.ghidx")).unwrap();
        let (keyframes, tail) = recording::read_index(&index).unwrap();
        assert_eq!(tail, recording::Tail::Clean);
        // At the start, before the event at 6 s, and before the one at 30 s (after an idle gap).
        assert_eq!(keyframes.iter().map(|k| k.offset_ms).collect::<Vec<_>>(), [0, 6000, 30_000]);
        let screens = std::fs::read(dir.join("s.ghkf")).unwrap();
        let rec = std::fs::read(dir.join("s.ghrec")).unwrap();
        // Seek to 7 s: the keyframe at 6 s, then the events from its byte offset up to 7 s.
        let kf = &keyframes[1];
        let mut term = gatehouse_terminal::Terminal::new(kf.rows as u16, kf.cols as u16, 0);
        term.feed(&screens[kf.screen_at as usize..(kf.screen_at + u64::from(kf.screen_len)) as usize]);
        assert_eq!(term.text(), "one\ntwo");
        let mut reader = recording::Reader::resume_at(kf.byte_offset);
        reader.push(&rec[kf.byte_offset as usize..]);
        while let Some(recording::Item::Event { event, .. }) = reader.next_item().unwrap() {
            if event.offset_ms > 7000 {
                break;
            }
            if let Some(Event::Output(o)) = event.event {
                term.feed(&o.data);
            }
        }
        assert_eq!(term.text(), "one\ntwo\nthree\nfour");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_keyframe_inside_a_full_screen_program_keeps_the_screen_beneath() {
        let dir = std::env::temp_dir().join(format!("gh-kf-{}", new_id()));
        std::fs::create_dir_all(&dir).unwrap();
        let header = RecordingHeader { version: VERSION, cols: 20, rows: 4, ..Default::default() };
        let mut files = RecordingFiles::create(&dir, "s", &header).unwrap();
        let output = |ms, text: &str| RecordingEvent {
            offset_ms: ms,
            event: Some(Event::Output(pb::Output { data: text.as_bytes().to_vec() })),
        };
        files.append(&output(0, "$ vi\r\n\x1b[?1049h\x1b[H\x1b[2Jin vi")).unwrap();
        files.append(&output(6000, "!")).unwrap();
        files.finish().unwrap();
        let (keyframes, _) = recording::read_index(&std::fs::read(dir.join("s.ghidx")).unwrap()).unwrap();
        let kf = &keyframes[1];
        let screens = std::fs::read(dir.join("s.ghkf")).unwrap();
        let mut term = gatehouse_terminal::Terminal::new(4, 20, 0);
        term.feed(&screens[kf.screen_at as usize..(kf.screen_at + u64::from(kf.screen_len)) as usize]);
        assert_eq!(term.text(), "in vi");
        term.feed(b"\x1b[?1049l");
        assert_eq!(term.text(), "$ vi", "leaving vi shows the shell again");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
