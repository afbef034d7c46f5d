//! `gatehouse recordings`: list, cat, export, import and reindex session recordings.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;

use super::open::{archive, open_store};
use crate::config::Config;
use crate::recordings as recording;

#[derive(Subcommand)]
pub enum RecordingsCommand {
    /// List recordings, newest first, one JSON object per line.
    List {
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Write a recording's output bytes to stdout, as the node sent them (like `cat` of
    /// the session), and report on stderr how the recording ends.
    Cat {
        id: String,
        /// What the client sent instead (recorded for sessions without a pty).
        #[arg(long)]
        input: bool,
    },
    /// Write a terminal recording as an asciicast v2 file (asciinema's format), or a
    /// desktop recording as a video (WebM or MP4, made by ffmpeg; progress on stderr).
    Export {
        id: String,
        /// Where to write; default: standard output (a video needs a file).
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// A video's format, webm or mp4; default: from the output's extension, else webm.
        #[arg(long)]
        format: Option<String>,
        /// A video's frames a second (1 to 30).
        #[arg(long, default_value_t = crate::recordings::video::DEFAULT_FPS)]
        fps: u32,
    },
    /// Import an asciicast v2 file (`.cast`) as a recording; prints the new id.
    Import {
        file: PathBuf,
        /// Whose session it is listed as.
        #[arg(long, default_value = "imported")]
        user: String,
        /// The node it is listed under.
        #[arg(long, default_value = "import")]
        target: String,
    },
    /// Write the search file of a finished terminal recording (the screen's text over
    /// time, which searches read instead of replaying the recording), in place of any it
    /// has; for recordings made before search files, or whose search file was lost or
    /// damaged. A search writes a missing one by itself; this does it ahead of time.
    /// Desktop recordings have no text and are left as they are.
    #[command(group(clap::ArgGroup::new("which").required(true).args(["id", "all"])))]
    Reindex {
        /// The recording.
        id: Option<String>,
        /// Every recording.
        #[arg(long)]
        all: bool,
    },
}

/// The whole recording file of `row`, from wherever it is (the object store too).
fn read_recording(config: &Config, row: &crate::recordings::row::RecordingRow) -> anyhow::Result<Vec<u8>> {
    let (archive, _) = archive(config, false)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime
        .block_on(async { archive.open(row, crate::recordings::archive::Part::Recording).await?.read_all().await })
        .with_context(|| format!("cannot read the recording {}", row.id))
}

/// Encodes a desktop recording to `output`, saying how far it is on stderr.
fn export_video(
    bytes: &[u8],
    format: crate::recordings::video::Format,
    fps: u32,
    output: &std::path::Path,
) -> anyhow::Result<()> {
    use std::sync::atomic::Ordering;
    let progress = crate::recordings::video::Progress::default();
    let finished = std::sync::atomic::AtomicBool::new(false);
    let encoded = std::thread::scope(|scope| {
        scope.spawn(|| {
            let mut said = u64::MAX;
            loop {
                // Read after `finished`: the last look sees the last frame counted.
                let last = finished.load(Ordering::Acquire);
                let (done, total) = (progress.done.load(Ordering::Relaxed), progress.total.load(Ordering::Relaxed));
                let percent = (done * 100).checked_div(total).unwrap_or(0);
                if total > 0 && percent / 5 != said / 5 {
                    eprintln!("{percent:>3}% ({done} of {total} frames)");
                    said = percent;
                }
                if last {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
        });
        let encoded = crate::recordings::video::encode(bytes, format, fps, output, &progress);
        finished.store(true, Ordering::Release);
        encoded
    });
    let len = encoded?;
    eprintln!("Wrote {} ({len} bytes, {} at {fps} frames a second).", output.display(), format.name());
    Ok(())
}

pub fn run(config: Config, command: RecordingsCommand) -> anyhow::Result<()> {
    use std::io::Write;
    let store = open_store(&config)?;
    match command {
        RecordingsCommand::List { limit } => {
            for row in store.list_recordings(limit)? {
                println!("{}", serde_json::to_string(&row)?);
            }
        }
        RecordingsCommand::Cat { id, input } => {
            let row = store.recording(&id)?.with_context(|| format!("there is no recording {id:?}"))?;
            let bytes = read_recording(&config, &row)?;
            let read = gatehouse_recording::read_all(&bytes)?;
            std::io::stdout().write_all(&if input { read.input() } else { read.output() })?;
            for (at, len, why) in &read.skipped {
                eprintln!("skipped a damaged record of {len} bytes at byte {at}: {why}");
            }
            match (&read.tail, read.end()) {
                (gatehouse_recording::Tail::Torn { at, bytes }, _) => {
                    eprintln!("the recording was cut short: {bytes} bytes of an unfinished record at byte {at}")
                }
                (_, Some(end)) => eprintln!("ended: {}", end.reason),
                (_, None) => eprintln!("the recording has no end record: the session was cut short"),
            }
        }
        RecordingsCommand::Export { id, output, format, fps } => {
            let row = store.recording(&id)?.with_context(|| format!("there is no recording {id:?}"))?;
            if recording::kind(&row.kind) == gatehouse_proto::api::RecordingKind::Desktop {
                let output = output.with_context(|| {
                    format!("{id} is a desktop recording: it is exported as a video, so give a file with --output")
                })?;
                let format = format
                    .or_else(|| output.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase))
                    .unwrap_or_else(|| "webm".into());
                let format = crate::recordings::video::Format::parse(&format)?;
                let bytes = read_recording(&config, &row)?;
                return export_video(&bytes, format, fps, &output);
            }
            let bytes = read_recording(&config, &row)?;
            let read = gatehouse_recording::read_all(&bytes)?;
            let cast =
                gatehouse_recording::cast::export(read.header.as_ref().unwrap_or(&Default::default()), &read.events);
            match output {
                Some(path) => {
                    std::fs::write(&path, cast).with_context(|| format!("cannot write {}", path.display()))?
                }
                None => std::io::stdout().write_all(cast.as_bytes())?,
            }
        }
        RecordingsCommand::Import { file, user, target } => {
            let text = std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let imported = gatehouse_recording::cast::import(&text)
                .with_context(|| format!("{} cannot be imported", file.display()))?;
            for (line, why) in &imported.skipped {
                eprintln!("skipped line {line}: {why}");
            }
            let id = recording::write_imported(
                &config.data_dir,
                store.as_ref(),
                imported.header,
                &imported.events,
                &user,
                &target,
            )
            .context("cannot write the recording")?;
            // With an object store, the recording goes there like any other (and leaves
            // the local folder, so every proxy reads the same copy).
            let (archive, _) = archive(&config, false)?;
            if let Some(objects) = archive.objects() {
                tokio::runtime::Runtime::new()?
                    .block_on(async {
                        for part in recording::part::Part::ALL {
                            let file =
                                recording::directory(&config.data_dir).join(recording::part::file_name(&id, part)?);
                            if part == recording::part::Part::Search && !file.exists() {
                                continue;
                            }
                            objects.put_whole(&id, part, &file).await?;
                            std::fs::remove_file(&file)?;
                        }
                        std::io::Result::Ok(())
                    })
                    .context("cannot upload the imported recording to the object store")?;
            }
            println!("{id}");
        }
        RecordingsCommand::Reindex { id, all } => {
            let rows = match (id, all) {
                (Some(id), _) => vec![store.recording(&id)?.with_context(|| format!("there is no recording {id:?}"))?],
                (None, _) => store.list_recordings(u32::MAX)?,
            };
            let (archive, _) = archive(&config, false)?;
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let mut failed = 0;
            for row in rows {
                match runtime.block_on(recording::search::reindex(&archive, &row)) {
                    Ok(recording::search::Reindexed::Written { bytes }) => {
                        println!("{}: search file written ({bytes} bytes)", row.id)
                    }
                    Ok(recording::search::Reindexed::NoText) => println!("{}: no text to search (a desktop's)", row.id),
                    Ok(recording::search::Reindexed::NotFinished) => {
                        println!("{}: still being written; its search file is written as it goes", row.id)
                    }
                    Err(err) => {
                        eprintln!("{}: cannot write its search file: {err}", row.id);
                        failed += 1;
                    }
                }
            }
            if failed > 0 {
                anyhow::bail!(
                    "{failed} recording(s) could not be reindexed (above); searches of them replay the recording"
                );
            }
        }
    }
    Ok(())
}
