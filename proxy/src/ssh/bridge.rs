//! The bridge of a recorded session: one session channel, both directions, between the
//! browser's side ([`super::front`]) and the node's ([`super::node`]), writing what the
//! node sends (and, without a pty, what the browser sends) to a recording. What each
//! message means is decided by [`super::channel`]; this only carries bytes. A session
//! others may join also hands the node's output to its [`SharedSession`] (the screen and
//! every participant's queue, never waiting on them), asks it whether input may pass (a
//! moderated session holds it), and carries what peers type to the node.

use std::sync::Arc;
use std::time::Duration;

use russh::{Channel, ChannelId, ChannelMsg, client, server};

use super::channel::{Input, Pty, RecordedChannel, Request, Verdict};
use super::node::NodeHandle;
use super::{Audit, Target};
use crate::audit::Kind;
use crate::recordings::{self, Recorder};
use crate::sessions::shared::{PeerInput, SharedSession};

/// What the front reports to the caller when the session ends.
#[derive(Debug, Default)]
pub struct Outcome {
    pub recording: Option<String>,
    pub end: String,
}

/// One bridged session channel: made by the front once the browser opened it.
pub struct Bridge {
    pub front_handle: server::Handle,
    pub node: Arc<NodeHandle>,
    pub target: Target,
    pub store: Arc<dyn crate::store::backend::Store>,
    pub archive: Arc<crate::recordings::archive::Archive>,
    pub outcome: Option<tokio::sync::oneshot::Sender<Outcome>>,
    pub audit: Audit,
    pub ended: tokio::sync::watch::Receiver<Option<String>>,
    /// Where the file channel ([`super::sftp_bridge`]) finds this session's recording.
    pub recording: super::sftp_bridge::RecordingSlot,
    /// The session as others join it, and what its peers type.
    pub shared: Option<(Arc<SharedSession>, tokio::sync::mpsc::Receiver<PeerInput>)>,
}

/// What both directions of a bridged channel need: the channel's decisions and its
/// recording, behind a lock held only between awaits.
#[derive(Default)]
struct Shared {
    channel: RecordedChannel,
    recorder: Option<Recorder>,
}

impl Bridge {
    pub async fn run(mut self, front: Channel<server::Msg>, back: Channel<client::Msg>) {
        let (sharing, typed) = match self.shared.take() {
            Some((session, typed)) => (Some(session), Some(typed)),
            None => (None, None),
        };
        let sharing = &sharing;
        let front_id = front.id();
        let (mut front_rx, front_tx) = front.split();
        let (mut back_rx, back_tx) = back.split();
        // Each direction has its own loop, run side by side: one waiting for the node's
        // window (while the node waits for us to read its output) must never stop the
        // other. What both need sits behind a lock held only between awaits.
        let shared = std::sync::Mutex::new(Shared::default());
        let lock = || shared.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let this = &self;
        let (front_tx, back_tx) = (&front_tx, &back_tx);
        let refused = |detail: &str| (this.audit)(Kind::SshDenied, &format!("node {}: {detail}", this.target.node));
        let browser_to_node = async {
            loop {
                let message = front_rx.wait().await;
                let (request, want_reply) = match &message {
                    Some(ChannelMsg::Data { data }) => {
                        if let Some(shared) = sharing
                            && let Err(notice) = shared.owner_input()
                        {
                            if let Some(notice) = notice {
                                let _ = front_tx.data_bytes(notice.into_bytes()).await;
                            }
                            continue;
                        }
                        let (fate, recorder) = {
                            let mut state = lock();
                            (state.channel.input(data), state.recorder.clone())
                        };
                        match fate {
                            Err(end) => break end.to_string(),
                            Ok(Input::RecordAndForward) => {
                                if let Some(rec) = recorder
                                    && !rec.input(data).await
                                {
                                    break crate::recordings::RECORDING_FAILED.to_string();
                                }
                            }
                            Ok(Input::Forward) => {
                                // Once others are in the session, who typed what is recorded.
                                let typist = sharing.as_ref().and_then(|s| s.typist(&this.target.user));
                                if let (Some(rec), Some(who)) = (recorder, typist)
                                    && !rec.input_by(data, Some(who)).await
                                {
                                    break crate::recordings::RECORDING_FAILED.to_string();
                                }
                            }
                            Ok(Input::HoldAndForward) => {}
                        }
                        if back_tx.data_bytes(data.clone()).await.is_err() {
                            break "the node stopped accepting input".to_string();
                        }
                        continue;
                    }
                    Some(ChannelMsg::WindowChange { col_width, row_height, pix_width, pix_height }) => {
                        let recording = {
                            let mut state = lock();
                            if state.channel.resize(*col_width, *row_height) { state.recorder.clone() } else { None }
                        };
                        if let Some(rec) = recording {
                            rec.resize(*col_width, *row_height).await;
                        }
                        if let Some(shared) = sharing {
                            shared.resize(*col_width, *row_height);
                        }
                        let _ = back_tx.window_change(*col_width, *row_height, *pix_width, *pix_height).await;
                        continue;
                    }
                    // While a moderated session waits or is paused, neither a signal nor
                    // an end of input reaches the node (either could end the program
                    // unwatched).
                    Some(ChannelMsg::Signal { .. } | ChannelMsg::Eof)
                        if sharing.as_ref().is_some_and(|s| !s.input_open()) =>
                    {
                        continue;
                    }
                    Some(ChannelMsg::Signal { signal }) => {
                        let _ = back_tx.signal(signal.clone()).await;
                        continue;
                    }
                    Some(ChannelMsg::Eof) => {
                        let _ = back_tx.eof().await;
                        continue;
                    }
                    Some(ChannelMsg::Close) | None => break "the browser closed the session".to_string(),
                    Some(ChannelMsg::RequestPty { want_reply, term, col_width, row_height, .. }) => {
                        (Request::Pty(Pty { term: term.clone(), cols: *col_width, rows: *row_height }), *want_reply)
                    }
                    Some(ChannelMsg::RequestShell { want_reply }) => (Request::Shell, *want_reply),
                    Some(ChannelMsg::Exec { want_reply, command }) => {
                        (Request::Exec(String::from_utf8_lossy(command).to_string()), *want_reply)
                    }
                    Some(ChannelMsg::SetEnv { want_reply, .. }) => (Request::Env, *want_reply),
                    Some(ChannelMsg::RequestSubsystem { want_reply, name }) => {
                        (Request::Subsystem(name.clone()), *want_reply)
                    }
                    Some(ChannelMsg::RequestX11 { want_reply, .. }) => (Request::X11, *want_reply),
                    // Answered by russh itself (see `Front::agent_request`); never forwarded.
                    Some(ChannelMsg::AgentForward { .. }) => (Request::AgentForward, false),
                    Some(_) => continue,
                };
                let verdict = lock().channel.request(request, want_reply);
                // Forwarded requests ask the node for its reply: the ledger pairs it up.
                let sent = match (verdict, message) {
                    (
                        Verdict::Forward,
                        Some(ChannelMsg::RequestPty {
                            term,
                            col_width,
                            row_height,
                            pix_width,
                            pix_height,
                            terminal_modes,
                            ..
                        }),
                    ) => back_tx
                        .request_pty(true, &term, col_width, row_height, pix_width, pix_height, &terminal_modes)
                        .await
                        .is_ok(),
                    (Verdict::Forward, Some(ChannelMsg::SetEnv { variable_name, variable_value, .. })) => {
                        let _ = back_tx.set_env(true, variable_name, variable_value).await;
                        true
                    }
                    (Verdict::Forward, _) => true,
                    // A shell may start while a moderated session waits (its input is held
                    // back); a command would run unwatched, so it may not.
                    (Verdict::Start(command), _)
                        if !command.is_empty() && sharing.as_ref().is_some_and(|s| !s.input_open()) =>
                    {
                        let message = "\r\nThis session needs a moderator before a command can run in it: open a shell and wait for one to join.\r\n";
                        let _ = this.front_handle.extended_data(front_id, 1, message.as_bytes().to_vec()).await;
                        if want_reply {
                            let _ = this.front_handle.channel_failure(front_id).await;
                        }
                        let _ = this.front_handle.close(front_id).await;
                        refused(&format!("command before a moderator joined: {command}"));
                        break "a command was refused before a moderator joined".to_string();
                    }
                    (Verdict::Start(command), message) => {
                        if let Err(end) = this.begin(&lock, &command, want_reply).await {
                            break this.refuse_unrecorded(front_id, want_reply, &end).await;
                        }
                        let recorder = lock().recorder.clone();
                        if let (Some(shared), Some(rec)) = (sharing, recorder) {
                            let pty = lock().channel.pty().clone();
                            shared.resize(pty.cols.max(1), pty.rows.max(1));
                            shared.recording_started(rec).await;
                        }
                        match message {
                            Some(ChannelMsg::Exec { command, .. }) => back_tx.exec(true, command).await.is_ok(),
                            _ => back_tx.request_shell(true).await.is_ok(),
                        }
                    }
                    (Verdict::Refuse { audit }, _) => {
                        if let Some(detail) = audit {
                            refused(&detail);
                        }
                        if want_reply {
                            let _ = this.front_handle.channel_failure(front_id).await;
                        }
                        true
                    }
                    (Verdict::Drop { audit }, _) => {
                        refused(&audit);
                        true
                    }
                    (Verdict::RefuseFileTransfer(what), message) => {
                        let command = match message {
                            Some(ChannelMsg::Exec { command, .. }) => String::from_utf8_lossy(&command).to_string(),
                            _ => String::new(),
                        };
                        break this.refuse_file_transfer(front_id, want_reply, what, &command).await;
                    }
                };
                if !sent {
                    break "the node closed the session".to_string();
                }
            }
        };
        let node_to_browser = async {
            loop {
                let message = back_rx.wait().await;
                match message {
                    Some(ChannelMsg::Data { data }) => {
                        let recording = lock().recorder.clone();
                        if let Some(rec) = recording
                            && !rec.output(&data).await
                        {
                            break crate::recordings::RECORDING_FAILED.to_string();
                        }
                        if let Some(shared) = sharing {
                            shared.output(&data);
                        }
                        if front_tx.data_bytes(data).await.is_err() {
                            break "the browser stopped reading".to_string();
                        }
                    }
                    Some(ChannelMsg::ExtendedData { data, ext }) => {
                        let recording = lock().recorder.clone();
                        if let Some(rec) = recording
                            && !rec.output(&data).await
                        {
                            break crate::recordings::RECORDING_FAILED.to_string();
                        }
                        if let Some(shared) = sharing {
                            shared.output(&data);
                        }
                        if front_tx.extended_data_bytes(ext, data).await.is_err() {
                            break "the browser stopped reading".to_string();
                        }
                    }
                    Some(ChannelMsg::Success | ChannelMsg::Failure) => {
                        let success = matches!(message, Some(ChannelMsg::Success));
                        let answer = lock().channel.reply(success);
                        match answer {
                            Some(true) => drop(this.front_handle.channel_success(front_id).await),
                            Some(false) => drop(this.front_handle.channel_failure(front_id).await),
                            None => {}
                        }
                    }
                    Some(ChannelMsg::ExitStatus { exit_status: status }) => {
                        lock().channel.exited(status);
                        let _ = front_tx.exit_status(status).await;
                    }
                    Some(ChannelMsg::ExitSignal { signal_name, core_dumped, error_message, lang_tag }) => {
                        let _ = self
                            .front_handle
                            .exit_signal_request(front_id, signal_name, core_dumped, error_message, lang_tag)
                            .await;
                    }
                    Some(ChannelMsg::Eof) => {
                        let _ = front_tx.eof().await;
                    }
                    Some(ChannelMsg::Close) => {
                        let _ = front_tx.close().await;
                        break lock().channel.node_closed().to_string();
                    }
                    None => {
                        let _ = front_tx.close().await;
                        break "the connection to the node was lost".to_string();
                    }
                    Some(_) => {}
                }
            }
        };
        // What peers type, to the node, recorded with who typed it.
        let peers_to_node = async {
            let Some(mut typed) = typed else { return std::future::pending::<String>().await };
            loop {
                let Some(PeerInput { user, data }) = typed.recv().await else {
                    return std::future::pending::<String>().await;
                };
                let recorder = lock().recorder.clone();
                if let Some(rec) = recorder
                    && !rec.input_by(&data, Some(user)).await
                {
                    break crate::recordings::RECORDING_FAILED.to_string();
                }
                if back_tx.data_bytes(data).await.is_err() {
                    break "the node stopped accepting input".to_string();
                }
            }
        };
        let ended_from_outside = crate::sessions::wait(self.ended.clone());
        let end: String = tokio::select! {
            biased;
            end = ended_from_outside => end,
            end = browser_to_node => end,
            end = node_to_browser => end,
            end = peers_to_node => end,
        };
        // Ended from outside (sign-out, a lock, …): that is the reason, whatever the
        // loops saw as the socket closed under them. The socket's close carries it to
        // the tab, so the channel is not closed first (the tab would read that instead).
        let outside = self.ended.borrow().clone();
        let end = outside.clone().unwrap_or(end);
        let (recorder, exit_status) = {
            let state = lock();
            (state.recorder.clone(), state.channel.exit_status())
        };
        let _ = back_tx.close().await;
        let _ = self.node.disconnect(russh::Disconnect::ByApplication, "", "en").await;
        if let Some(rec) = &recorder {
            rec.end(&end, exit_status.map(|s| s as i32)).await;
        }
        if let Some(outcome) = self.outcome {
            let _ = outcome.send(Outcome {
                recording: recorder.as_ref().map(|r| r.id().to_string()),
                end: match exit_status {
                    Some(status) => format!("{end}, exit status {status}"),
                    None => end,
                },
            });
        }
        if outside.is_some() {
            return;
        }
        // Give the browser a moment to read the close, then end its connection too.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let _ = self
            .front_handle
            .disconnect(russh::Disconnect::ByApplication, "The session ended.".into(), "en".into())
            .await;
    }

    /// Starts the recording of the channel's one program, with what the client sent
    /// before it (when there is no pty).
    async fn begin<'s>(
        &self,
        lock: &impl Fn() -> std::sync::MutexGuard<'s, Shared>,
        command: &str,
        want_reply: bool,
    ) -> Result<(), std::io::Error> {
        let pty = lock().channel.pty().clone();
        let recorder = self.start_recording(&pty, command)?;
        let early = {
            let mut state = lock();
            state.recorder = Some(recorder.clone());
            state.channel.program_started(want_reply)
        };
        *self.recording.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(recorder.clone());
        if !early.is_empty() && !recorder.input(&early).await {
            return Err(std::io::Error::other("the recording failed"));
        }
        Ok(())
    }

    /// A file-transfer server asked for as a command is refused with a sentence.
    async fn refuse_file_transfer(&self, id: ChannelId, want_reply: bool, what: &str, command: &str) -> String {
        (self.audit)(
            Kind::SshDenied,
            &format!("node {} as {}: {what} ({command:?}) in a recorded session", self.target.node, self.target.login),
        );
        let message = format!(
            "\r\nGatehouse refused to run {what} in this recorded session: file transfer is not part of recorded SSH. Ask an admin how to move files to {}.\r\n",
            self.target.node
        );
        // Accepted, then ended with the sentence and "cannot execute" (126): a client shows
        // what a program prints, where a refused request is only "exec request failed".
        if want_reply {
            let _ = self.front_handle.channel_success(id).await;
        }
        let _ = self.front_handle.extended_data(id, 1, message.into_bytes()).await;
        let _ = self.front_handle.exit_status_request(id, 126).await;
        let _ = self.front_handle.eof(id).await;
        let _ = self.front_handle.close(id).await;
        format!("refused {what}")
    }

    fn start_recording(&self, pty: &Pty, command: &str) -> std::io::Result<Recorder> {
        let meta = recordings::Meta {
            user: self.target.user.clone(),
            target: self.target.node.clone(),
            login: self.target.login.clone(),
            cols: if pty.cols == 0 { 80 } else { pty.cols },
            rows: if pty.rows == 0 { 24 } else { pty.rows },
            term: pty.term.clone(),
            command: command.to_string(),
            kind: gatehouse_proto::pb::SessionKind::Ssh,
        };
        Recorder::start(&self.archive, self.store.clone(), meta)
    }

    /// A session that must be recorded and cannot be does not start.
    async fn refuse_unrecorded(&self, id: ChannelId, want_reply: bool, err: &std::io::Error) -> String {
        tracing::error!(%err, "cannot start a recording; refusing the session");
        let message = "\r\nGatehouse cannot record this session (the proxy cannot write its recording), so it will not start it.\r\n";
        let _ = self.front_handle.extended_data(id, 1, message.as_bytes().to_vec()).await;
        if want_reply {
            let _ = self.front_handle.channel_failure(id).await;
        }
        let _ = self.front_handle.close(id).await;
        format!("the recording could not be written: {err}")
    }
}
