//! The bridge of a recorded session's second channel: the `sftp` subsystem only, with
//! every packet passed through the [`super::sftp`] inspector. Refused requests are
//! answered by the inspector's own status and audited; each file transferred is audited
//! (`ssh.file_transfer`) and marked in the session's recording. Nothing else is asked
//! for on this channel: a shell, a command or another subsystem is refused.

use std::sync::{Arc, Mutex, PoisonError};

use russh::{Channel, ChannelMsg, client, server};

use super::sftp::{Event, Inspector, file_channel_starts};
use super::{Audit, Target};
use crate::access::rbac::FileTransfer;
use crate::audit::Kind;
use crate::recordings::Recorder;

/// The recording of the session's shell, once it has started (shared with its bridge).
pub type RecordingSlot = Arc<Mutex<Option<Recorder>>>;

pub struct SftpBridge {
    pub front_handle: server::Handle,
    pub target: Target,
    pub allowed: FileTransfer,
    pub audit: Audit,
    pub recording: RecordingSlot,
}

impl SftpBridge {
    pub async fn run(self, front: Channel<server::Msg>, back: Channel<client::Msg>) {
        let front_id = front.id();
        let (mut front_rx, front_tx) = front.split();
        let (mut back_rx, back_tx) = back.split();
        let inspector = Mutex::new(Inspector::new(self.allowed));
        let inspect = || inspector.lock().unwrap_or_else(PoisonError::into_inner);
        let started = std::sync::atomic::AtomicBool::new(false);
        let this = &self;
        let (front_tx, back_tx) = (&front_tx, &back_tx);
        let browser_to_node = async {
            loop {
                match front_rx.wait().await {
                    Some(ChannelMsg::RequestSubsystem { want_reply, name })
                        if file_channel_starts(&name, started.load(std::sync::atomic::Ordering::Relaxed)) =>
                    {
                        started.store(true, std::sync::atomic::Ordering::Relaxed);
                        // The node's answer comes back as Success/Failure below.
                        if back_tx.request_subsystem(want_reply, "sftp").await.is_err() {
                            break "the node closed the file channel".to_string();
                        }
                    }
                    Some(ChannelMsg::Data { data }) if started.load(std::sync::atomic::Ordering::Relaxed) => {
                        let out = match inspect().from_client(&data) {
                            Ok(out) => out,
                            Err(violation) => {
                                this.refused(&format!("{violation} from the browser; the file channel was closed"));
                                break violation.to_string();
                            }
                        };
                        this.report(out.events).await;
                        if !out.to_client.is_empty() && front_tx.data_bytes(out.to_client).await.is_err() {
                            break "the browser stopped reading".to_string();
                        }
                        if !out.to_node.is_empty() && back_tx.data_bytes(out.to_node).await.is_err() {
                            break "the node stopped accepting files".to_string();
                        }
                    }
                    Some(ChannelMsg::Eof) => {
                        let _ = back_tx.eof().await;
                    }
                    Some(ChannelMsg::Close) | None => break "the browser closed the file channel".to_string(),
                    Some(
                        ChannelMsg::RequestShell { want_reply }
                        | ChannelMsg::Exec { want_reply, .. }
                        | ChannelMsg::RequestSubsystem { want_reply, .. }
                        | ChannelMsg::RequestPty { want_reply, .. }
                        | ChannelMsg::SetEnv { want_reply, .. }
                        | ChannelMsg::RequestX11 { want_reply, .. },
                    ) => {
                        this.refused("a request other than the sftp subsystem on the file channel");
                        if want_reply {
                            let _ = this.front_handle.channel_failure(front_id).await;
                        }
                    }
                    Some(ChannelMsg::Data { .. }) => {
                        this.refused("data before the sftp subsystem on the file channel");
                        break "data before the subsystem".to_string();
                    }
                    Some(_) => {}
                }
            }
        };
        let node_to_browser = async {
            loop {
                match back_rx.wait().await {
                    Some(ChannelMsg::Data { data }) => {
                        let events = match inspect().from_node(&data) {
                            Ok(events) => events,
                            Err(violation) => {
                                tracing::warn!(node = %this.target.node, %violation, "the node broke SFTP framing");
                                break violation.to_string();
                            }
                        };
                        this.report(events).await;
                        if front_tx.data_bytes(data).await.is_err() {
                            break "the browser stopped reading".to_string();
                        }
                    }
                    Some(ChannelMsg::ExtendedData { data, ext }) => {
                        let _ = front_tx.extended_data_bytes(ext, data).await;
                    }
                    Some(ChannelMsg::Success) => drop(this.front_handle.channel_success(front_id).await),
                    Some(ChannelMsg::Failure) => drop(this.front_handle.channel_failure(front_id).await),
                    Some(ChannelMsg::ExitStatus { exit_status }) => drop(front_tx.exit_status(exit_status).await),
                    Some(ChannelMsg::Eof) => drop(front_tx.eof().await),
                    Some(ChannelMsg::Close) | None => break "the node closed the file channel".to_string(),
                    Some(_) => {}
                }
            }
        };
        let end = tokio::select! {
            end = browser_to_node => end,
            end = node_to_browser => end,
        };
        let left = inspect().finish();
        self.report(left).await;
        tracing::debug!(node = %self.target.node, %end, "file channel ended");
        let _ = front_tx.close().await;
        let _ = back_tx.close().await;
    }

    fn refused(&self, detail: &str) {
        (self.audit)(Kind::SshDenied, &format!("node {} as {}: {detail}", self.target.node, self.target.login));
    }

    async fn report(&self, events: Vec<Event>) {
        for event in events {
            match event {
                Event::Refused { what } => self.refused(&format!("file transfer: {what}")),
                Event::Changed { what } => (self.audit)(
                    Kind::SshFileChange,
                    &format!("node {} as {}: {what}", self.target.node, self.target.login),
                ),
                Event::Transferred(t) => {
                    let sha = t.sha256.clone().unwrap_or_else(|| "none (not in order)".into());
                    (self.audit)(
                        Kind::SshFileTransfer,
                        &format!(
                            "node {} as {}: {} {} ({} bytes, sha256 {sha})",
                            self.target.node,
                            self.target.login,
                            t.direction.as_str(),
                            t.path,
                            t.bytes
                        ),
                    );
                    let recorder = self.recording.lock().unwrap_or_else(PoisonError::into_inner).clone();
                    if let Some(recorder) = recorder {
                        recorder
                            .transfer(gatehouse_proto::pb::Transfer {
                                path: t.path,
                                direction: t.direction.as_str().into(),
                                bytes: t.bytes,
                                sha256: t.sha256.unwrap_or_default(),
                            })
                            .await;
                    }
                }
            }
        }
    }
}
