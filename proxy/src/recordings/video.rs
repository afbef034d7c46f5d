//! Desktop recordings exported as video (WebM or MP4): the recording decoded by the
//! player's own decoder ([`gatehouse_desktop::video::Frames`]), sampled at a fixed rate,
//! and piped as raw RGBA frames to Debian's `ffmpeg`, which encodes and writes the file.
//!
//! An export runs on a blocking thread of its own task (not the request's: a client that
//! goes away does not leave it half started), at most [`RUNNING_MAX`] at once on a proxy,
//! ffmpeg on one thread at low priority (the sessions come first), for at most
//! [`DEADLINE_SECS`]. What is running or done is kept here, in memory, by recording and
//! format: the player starts one, asks how far it is, and downloads the file when it is
//! done; a second person asking for the same video gets the same file. The file is
//! written under a name of its own first and renamed when ffmpeg has finished, so a
//! failed or cut export never passes for a finished one; finished files are removed after
//! [`KEEP_SECS`], and whatever is in the folder at start-up (a crash's leftovers) too.
//! What ffmpeg said when it failed goes to the log; the person reads a sentence.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use gatehouse_desktop::video::{Frames, VideoError};
use gatehouse_proto::api::VideoExport;

/// Videos being made at once on one proxy.
pub const RUNNING_MAX: usize = 2;
/// How long a finished video stays for download.
pub const KEEP_SECS: u64 = 3600;
/// Frames a second, unless asked otherwise: enough for a desktop's changes, a third of
/// the encoding of 30.
pub const DEFAULT_FPS: u32 = 10;
/// The biggest recording made into a video from the web: it is read whole and decoded
/// in memory (the CLI, run by an admin on a machine of their choosing, has no limit).
pub const MAX_RECORDING_BYTES: u64 = 512 << 20;
/// The longest recording made into a video from the web (four hours: 144,000 frames).
pub const MAX_RECORDING_MS: u64 = 4 * 3600 * 1000;
/// An export still running after this long is stopped.
pub const DEADLINE_SECS: u64 = 3600;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    Webm,
    Mp4,
}

impl Format {
    pub fn parse(name: &str) -> Result<Format, ExportError> {
        match name {
            "webm" => Ok(Format::Webm),
            "mp4" => Ok(Format::Mp4),
            other => Err(ExportError::Format(other.to_string())),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Webm => "webm",
            Format::Mp4 => "mp4",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Webm => "video/webm",
            Format::Mp4 => "video/mp4",
        }
    }

    /// ffmpeg's arguments after its input: the codec (VP8 for WebM, H.264 for MP4, both
    /// with settings for speed over size) and the container.
    fn encoder_args(self) -> &'static [&'static str] {
        match self {
            Format::Webm => &["-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "3M", "-f", "webm"],
            Format::Mp4 => {
                &["-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-movflags", "+faststart", "-f", "mp4"]
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("a video is WebM or MP4 (format=webm or format=mp4), not {0:?}")]
    Format(String),
    #[error("the recording cannot be read: {0}")]
    Unreadable(String),
    #[error(transparent)]
    Video(#[from] VideoError),
    #[error(
        "ffmpeg is not installed on the proxy's machine, so videos cannot be made (Debian: apt install ffmpeg): {0}"
    )]
    NoFfmpeg(std::io::Error),
    #[error("ffmpeg failed: {0}")]
    Ffmpeg(String),
    #[error("it took longer than {DEADLINE_SECS} s and was stopped")]
    Deadline,
    #[error("the video cannot be written: {0}")]
    Write(std::io::Error),
}

/// How far one export is.
#[derive(Default)]
pub struct Progress {
    pub done: AtomicU64,
    pub total: AtomicU64,
}

/// Encodes the desktop recording in `recording` (the whole file) to `out` at `fps`,
/// counting frames in `progress`. Blocking: ffmpeg runs as a child process.
pub fn encode(recording: &[u8], format: Format, fps: u32, out: &Path, progress: &Progress) -> Result<u64, ExportError> {
    let read = gatehouse_recording::read_all(recording).map_err(|err| ExportError::Unreadable(err.to_string()))?;
    let mut frames = Frames::new(&read.events, fps)?;
    progress.total.store(frames.total(), Ordering::Relaxed);
    // Beside the output, a name no other export uses (two formats of one recording run
    // at once), made here and only here (create_new: not a file planted in its place).
    let name = out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let partial = out.with_file_name(format!(".{name}.{}.partial", random_suffix()));
    std::fs::OpenOptions::new().write(true).create_new(true).open(&partial).map_err(ExportError::Write)?;
    // As a `file:` URL, so a name starting with `-` is never read as an option.
    let target = format!("file:{}", std::path::absolute(&partial).map_err(ExportError::Write)?.display());
    let size = format!("{}x{}", frames.width(), frames.height());
    // Is ffmpeg there at all? (Run through `nice`, a missing ffmpeg is nice's error.)
    if let Err(err) = Command::new("ffmpeg").arg("-version").stdout(Stdio::null()).stderr(Stdio::null()).status() {
        let _ = std::fs::remove_file(&partial);
        return Err(ExportError::NoFfmpeg(err));
    }
    let started = std::time::Instant::now();
    let mut child = Command::new("nice")
        .args(["-n", "10", "ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-threads", "1"])
        .args(["-f", "rawvideo", "-pix_fmt", "rgba"])
        .args(["-video_size", &size, "-framerate", &fps.to_string(), "-i", "pipe:0"])
        // yuv420p (what players take) needs even sides.
        .args(["-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-pix_fmt", "yuv420p", "-an"])
        .args(format.encoder_args())
        .args(["-threads", "1"])
        .arg(&target)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(ExportError::NoFfmpeg)?;
    let mut stdin = child.stdin.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    // ffmpeg's complaints, read beside the writing so a full pipe cannot stall it.
    let complaints = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let mut written = Ok(());
    let mut late = false;
    while let Some(frame) = frames.next_frame() {
        if let Err(err) = stdin.write_all(frame) {
            written = Err(err);
            break;
        }
        progress.done.store(frames.done(), Ordering::Relaxed);
        if started.elapsed().as_secs() > DEADLINE_SECS {
            late = true;
            let _ = child.kill();
            break;
        }
    }
    drop(stdin);
    let status = child.wait().map_err(|err| ExportError::Ffmpeg(err.to_string()))?;
    let complaints = complaints.join().unwrap_or_default();
    if late {
        let _ = std::fs::remove_file(&partial);
        return Err(ExportError::Deadline);
    }
    if !status.success() || written.is_err() {
        let _ = std::fs::remove_file(&partial);
        let said = complaints.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_string();
        return Err(ExportError::Ffmpeg(match (said.is_empty(), written) {
            (false, _) => said,
            (true, Err(err)) => format!("it stopped taking frames ({err})"),
            (true, Ok(())) => format!("it exited with {status}"),
        }));
    }
    std::fs::rename(&partial, out).map_err(ExportError::Write)?;
    std::fs::metadata(out).map(|m| m.len()).map_err(ExportError::Write)
}

/// A few random hex digits, for a file name no one else picks.
fn random_suffix() -> String {
    let mut bytes = [0u8; 6];
    // The system's randomness cannot fail here in practice; a zero suffix still works
    // (create_new refuses a name in use).
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Fails the job if the task running it ends (a panic, a cancelled runtime) before it did.
pub struct RunGuard(pub Arc<Job>);

impl Drop for RunGuard {
    fn drop(&mut self) {
        self.0.abandoned();
    }
}

enum State {
    Running,
    Done { bytes: u64 },
    Failed(String),
}

/// One export: its file, how far it is, how it ended.
pub struct Job {
    pub format: Format,
    pub path: PathBuf,
    pub progress: Progress,
    state: Mutex<State>,
    finished_at: AtomicU64,
}

impl Job {
    pub fn report(&self) -> VideoExport {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (name, bytes, message) = match &*state {
            State::Running => ("running", None, None),
            State::Done { bytes } => ("done", Some(*bytes), None),
            State::Failed(why) => ("failed", None, Some(why.clone())),
        };
        VideoExport {
            state: name.into(),
            format: self.format.name().into(),
            frames_done: self.progress.done.load(Ordering::Relaxed),
            frames_total: self.progress.total.load(Ordering::Relaxed),
            bytes,
            message,
        }
    }

    pub fn done(&self) -> bool {
        matches!(*self.state.lock().unwrap_or_else(|p| p.into_inner()), State::Done { .. })
    }

    fn running(&self) -> bool {
        matches!(*self.state.lock().unwrap_or_else(|p| p.into_inner()), State::Running)
    }

    /// Runs the export (blocking) and records how it ended.
    pub fn run(&self, recording: &[u8], fps: u32) {
        match encode(recording, self.format, fps, &self.path, &self.progress) {
            Ok(bytes) => self.end(State::Done { bytes }),
            Err(err) => self.fail(&err),
        }
    }

    /// Ends the job as failed: the details to the log, a sentence for the person (what
    /// ffmpeg or the store said can name the proxy's folders).
    pub fn fail(&self, err: &ExportError) {
        tracing::warn!(path = %self.path.display(), %err, "a video export failed");
        let sentence = match err {
            ExportError::Ffmpeg(_) | ExportError::Write(_) => {
                "The video could not be made: ffmpeg or the proxy's disk failed (the proxy's log says which). Try again later.".to_string()
            }
            ExportError::Unreadable(_) => "The video could not be made: the recording cannot be read.".to_string(),
            other => format!("The video could not be made: {other}."),
        };
        self.end(State::Failed(sentence));
    }

    /// Still running, but whatever was running it went away: failed, so it does not
    /// hold a slot for ever.
    fn abandoned(&self) {
        if self.running() {
            self.end(State::Failed("The video could not be made: the proxy stopped making it. Try again.".into()));
        }
    }

    fn end(&self, state: State) {
        *self.state.lock().unwrap_or_else(|p| p.into_inner()) = state;
        self.finished_at.store(crate::auth::now(), Ordering::Relaxed);
    }
}

/// Why an export was not started.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    Busy,
}

/// The exports of this proxy, by recording and format.
pub struct Exports {
    dir: PathBuf,
    jobs: Mutex<HashMap<(String, Format), Arc<Job>>>,
}

impl Exports {
    /// The exports folder is this proxy's own (give each proxy its own `data_dir`);
    /// what a previous run left there is removed.
    pub fn new(data_dir: &Path) -> Exports {
        let dir = data_dir.join("exports");
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for entry in entries.flatten() {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        Exports { dir, jobs: Mutex::new(HashMap::new()) }
    }

    pub fn get(&self, id: &str, format: Format) -> Option<Arc<Job>> {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner()).get(&(id.to_string(), format)).cloned()
    }

    /// The export of `id` in `format`: the one running or done (a failed one is tried
    /// again), or a new one the caller must run (`true`). Old finished files go first.
    pub fn start(&self, id: &str, format: Format) -> Result<(Arc<Job>, bool), Refusal> {
        let mut jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        let now = crate::auth::now();
        jobs.retain(|_, job| {
            let stale = !job.running() && now.saturating_sub(job.finished_at.load(Ordering::Relaxed)) > KEEP_SECS;
            if stale {
                let _ = std::fs::remove_file(&job.path);
            }
            !stale
        });
        let key = (id.to_string(), format);
        if let Some(job) = jobs.get(&key).filter(|job| job.running() || job.done()) {
            return Ok((job.clone(), false));
        }
        if jobs.values().filter(|job| job.running()).count() >= RUNNING_MAX {
            return Err(Refusal::Busy);
        }
        let _ = std::fs::create_dir_all(&self.dir);
        // The id is a recording's (checked by the caller against the store); the name is
        // ours either way.
        let file: String = id.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
        let job = Arc::new(Job {
            format,
            path: self.dir.join(format!("{file}.{}", format.name())),
            progress: Progress::default(),
            state: Mutex::new(State::Running),
            finished_at: AtomicU64::new(0),
        });
        jobs.insert(key, job.clone());
        Ok((job, true))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A folder of the test's own, emptied first.
    fn folder(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("gatehouse-video-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn formats_are_named_and_nothing_else_is_taken() {
        assert_eq!(Format::parse("webm").unwrap(), Format::Webm);
        assert_eq!(Format::parse("mp4").unwrap().content_type(), "video/mp4");
        assert!(matches!(Format::parse("gif"), Err(ExportError::Format(_))));
        assert!(matches!(Format::parse("WEBM"), Err(ExportError::Format(_))));
    }

    #[test]
    fn one_job_per_recording_and_format_and_a_cap_on_running_ones() {
        let dir = folder("jobs");
        let exports = Exports::new(&dir);
        let (first, new) = exports.start("a", Format::Webm).unwrap();
        assert!(new);
        let (again, new) = exports.start("a", Format::Webm).unwrap();
        assert!(!new && Arc::ptr_eq(&first, &again), "the same export, not a second");
        let (_, new) = exports.start("a", Format::Mp4).unwrap();
        assert!(new, "another format is another file");
        assert_eq!(exports.start("b", Format::Webm).err(), Some(Refusal::Busy));
        // A failed one ends and may be tried again.
        first.run(b"not a recording", 10);
        let report = first.report();
        assert_eq!(report.state, "failed");
        assert!(report.message.unwrap().contains("cannot be read"));
        let (retry, new) = exports.start("a", Format::Webm).unwrap();
        assert!(new && !Arc::ptr_eq(&first, &retry));
        assert!(retry.path.starts_with(dir.join("exports")));
    }

    #[test]
    fn a_file_name_is_made_of_the_id_alone() {
        let dir = folder("names");
        let exports = Exports::new(&dir);
        let (job, _) = exports.start("../../etc/passwd", Format::Mp4).unwrap();
        assert_eq!(job.path, dir.join("exports").join("etcpasswd.mp4"));
    }
}
