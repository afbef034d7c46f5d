//! Recorded SSH: the browser's SSH connection ends here, at an in-process russh server,
//! and the proxy opens its own SSH connection to the node and carries the session
//! between the two, writing what the node sends to a recording.
//!
//! ```text
//! browser (russh client) ──ws──▶ Front (russh server) ─ bridge ─ russh client ──tcp──▶ sshd
//!                                                         └──▶ Recorder
//! ```
//! - The front presents the proxy's host key with a certificate from the host CA for the
//!   node's name, so the browser's pin check is the same as for a node.
//! - The front accepts only a user certificate from the session CA (which no node
//!   trusts) for this user, this login and this node.
//! - The back connects (and checks the node's host certificate) before the browser's SSH
//!   starts, so a dead or untrusted node is a clear refusal; it signs in, with a fresh
//!   key and a certificate for `login@node` from the proxy's own address that is valid
//!   for a minute either side of now, only after the browser has signed in.
//! - One session channel per connection: a shell or one command, never a subsystem, a
//!   file-transfer server run as a command, or any forwarding. Without a pty, what the
//!   client sends is recorded too.
//! - When the identity behind the session goes ([`crate::sessions`]), the bridge ends the
//!   recording with the reason and the socket closes with it.
//! - Each direction awaits the other side's SSH window, so a slow browser slows the node
//!   instead of filling the proxy's memory.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use gatehouse_ssh_policy::{HostCertError, Opened, check_host, check_user};
use russh::keys::ssh_key::{Certificate, HashAlg};
use russh::keys::{PrivateKey, PublicKeyOrCertificate};
use russh::{Channel, ChannelId, ChannelMsg, client, server};
use tokio::net::TcpStream;

use super::certificate::CERT_SKEW_SECS;
use super::channel::{Input, Pty, RecordedChannel, Request, Verdict};
use crate::audit::Kind;
use crate::gate::Gatehouse;
use crate::recordings::{self, Recorder};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Writes an audit record of this session's user: `(kind, detail)`.
pub type Audit = Arc<dyn Fn(Kind, &str) + Send + Sync>;

/// Who is connecting where, decided by RBAC before the socket was accepted.
#[derive(Clone, Debug)]
pub struct Target {
    pub user: String,
    pub node: String,
    pub addr: String,
    pub login: String,
    /// The `source-address` for the proxy's certificate to the node: the configured
    /// egress addresses, or (`None`) the address of the connection the proxy made.
    pub source_addresses: Option<String>,
}

// ---------------------------------------------------------------------------------------
// The back: the proxy's client to the node.

/// Checks the node's host certificate against our host CA, as the browser would
/// ([`gatehouse_ssh_policy::check_host`]).
pub struct NodeCheck {
    /// The host CA's fingerprint, `SHA256:…`.
    host_ca: String,
    node: String,
    verdict: Arc<Mutex<Option<HostCertError>>>,
}

impl client::Handler for NodeCheck {
    type Error = russh::Error;

    async fn check_server_key(&mut self, key: &PublicKeyOrCertificate) -> Result<bool, Self::Error> {
        match check_host(key, &self.host_ca, &self.node, crate::auth::now()) {
            Ok(_) => Ok(true),
            Err(why) => {
                if let Ok(mut verdict) = self.verdict.lock() {
                    *verdict = Some(why);
                }
                Ok(false)
            }
        }
    }
}

pub type NodeHandle = client::Handle<NodeCheck>;

/// The proxy's connection to a node, checked, not yet signed in.
pub struct NodeConnection {
    pub handle: NodeHandle,
    /// Our end's address: where the node sees the connection come from.
    pub local_ip: std::net::IpAddr,
}

/// Connects to the node and checks its host certificate; signing in comes later, once
/// the browser has proved its own certificate. The error is a sentence for the person.
pub async fn connect_node(cas: &crate::ca::Authorities, target: &Target) -> Result<NodeConnection, String> {
    let name = &target.node;
    let tcp = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&target.addr)).await {
        Ok(Ok(tcp)) => tcp,
        Ok(Err(err)) => {
            return Err(format!(
                "Cannot reach {name} ({}): {err}. The node may be down; try again later.",
                target.addr
            ));
        }
        Err(_) => return Err(format!("{name} ({}) did not answer within 10 s. The node may be down.", target.addr)),
    };
    let _ = tcp.set_nodelay(true);
    let local_ip = tcp.local_addr().map_err(|err| format!("Cannot use the connection to {name}: {err}."))?.ip();
    let mut config = client::Config::default();
    config.preferred.host_key_certificates = std::borrow::Cow::Borrowed(&[russh::keys::ssh_key::Algorithm::Ed25519]);
    config.keepalive_interval = Some(Duration::from_secs(30));
    config.inactivity_timeout = None;
    config.channel_buffer_size = CHANNEL_BUFFER;
    let verdict = Arc::new(Mutex::new(None));
    let check = NodeCheck { host_ca: cas.host.fingerprint().to_string(), node: name.clone(), verdict: verdict.clone() };
    let connected = tokio::time::timeout(CONNECT_TIMEOUT, client::connect_stream(Arc::new(config), tcp, check)).await;
    match connected {
        Ok(Ok(handle)) => Ok(NodeConnection { handle, local_ip }),
        Ok(Err(err)) => {
            if let Some(why) = verdict.lock().ok().and_then(|mut v| v.take()) {
                return Err(format!(
                    "Gatehouse does not trust {name}. {why} An admin must run `gatehouse nodes sign-host`."
                ));
            }
            Err(format!("The SSH handshake with {name} failed: {err}."))
        }
        Err(_) => Err(format!("{name} did not finish the SSH handshake within 10 s.")),
    }
}

/// The proxy's certificate to a node in recorded mode: the node's own principal for the
/// login, from the proxy's address, a minute either side of now, nothing but a pty.
pub fn node_grant(target: &Target, local_ip: std::net::IpAddr, now: u64) -> crate::ca::UserGrant {
    crate::ca::UserGrant {
        principal: gatehouse_ssh_policy::principal(&target.login, &target.node),
        key_id: gatehouse_ssh_policy::recorded_key_id(&target.user),
        source_address: Some(target.source_addresses.clone().unwrap_or_else(|| local_ip.to_string())),
        extensions: crate::ca::Extensions::default(),
        valid_after: now.saturating_sub(CERT_SKEW_SECS),
        valid_before: now + CERT_SKEW_SECS,
    }
}

/// Signs in to the node as the login, with a fresh key and a certificate from
/// [`node_grant`].
async fn authenticate_node(
    node: &mut NodeConnection,
    cas: &crate::ca::Authorities,
    target: &Target,
) -> Result<(), String> {
    let name = &target.node;
    let key = crate::ca::ephemeral_key("gatehouse recorded session");
    let grant = node_grant(target, node.local_ip, crate::auth::now());
    let cert = cas
        .user
        .sign_user(key.public_key(), &grant)
        .map_err(|err| format!("Gatehouse could not sign a certificate for {name}: {err}"))?;
    match node.handle.authenticate_openssh_cert(target.login.clone(), Arc::new(key), cert).await {
        Ok(result) if result.success() => Ok(()),
        Ok(_) => Err(format!(
            "{name} refused Gatehouse's certificate for {}: the node may not trust the Gatehouse user CA, may lack the AuthorizedPrincipalsCommand line that `gatehouse nodes add` prints, or has no user {}",
            target.login, target.login
        )),
        Err(err) => Err(format!("signing in to {name} failed: {err}")),
    }
}

// ---------------------------------------------------------------------------------------
// The front: the proxy's server for the browser.

/// The server configuration for one connection: our host key, certified for the node's
/// name (the browser checks that name, as it would on the node itself).
/// Messages (each at most one 32 KiB packet) a russh session may queue for a bridged
/// channel. russh grants the peer more window as data arrives, not as we take it, so
/// this queue is what stops a peer; when it is full the session's loop waits, and with
/// it the window updates the other direction needs. A deep queue keeps a session that
/// sends and receives at full speed at once (a big paste into a busy program) moving:
/// measured with `cat` echoing input, 100 (russh's default) stalled at 64 MB each way,
/// 512 carried 64 MB and stalled at 128 MB. A real fix needs windows granted as we
/// consume, which russh 0.65 does not offer.
const CHANNEL_BUFFER: usize = 512;

pub fn front_config(cas: &crate::ca::Authorities, node: &str) -> Result<server::Config, String> {
    let key: &PrivateKey = &cas.proxy_host_key;
    let now = crate::auth::now();
    let cert = cas
        .host
        .sign_host(
            key.public_key(),
            &[node.to_string()],
            gatehouse_ssh_policy::RECORDING_PROXY_KEY_ID,
            now.saturating_sub(300),
            now + 86_400,
        )
        .map_err(|err| format!("cannot certify the proxy's host key: {err}"))?;
    let mut methods = russh::MethodSet::empty();
    methods.push(russh::MethodKind::PublicKey);
    Ok(server::Config {
        keys: vec![key.clone()],
        certificates: vec![cert],
        methods,
        auth_rejection_time: Duration::from_millis(300),
        auth_rejection_time_initial: Some(Duration::ZERO),
        inactivity_timeout: None,
        keepalive_interval: Some(Duration::from_secs(30)),
        nodelay: true,
        channel_buffer_size: CHANNEL_BUFFER,
        ..server::Config::default()
    })
}

/// What the front reports to the caller when the session ends.
#[derive(Debug, Default)]
pub struct Outcome {
    pub recording: Option<String>,
    pub end: String,
}

pub struct Front {
    gatehouse: Arc<Gatehouse>,
    target: Target,
    audit: Audit,
    /// The node's connection: waiting for sign-in, then shared with the bridge.
    pending: Option<NodeConnection>,
    node: Option<Arc<NodeHandle>>,
    outcome: Option<tokio::sync::oneshot::Sender<Outcome>>,
    opened: bool,
    /// `Some(sentence)` once the session must end from outside ([`crate::sessions`]).
    ended: tokio::sync::watch::Receiver<Option<String>>,
}

impl Front {
    /// The front, and where the session's outcome arrives once its bridge has finished
    /// (never, if no session channel was opened).
    pub fn new(
        gatehouse: Arc<Gatehouse>,
        target: Target,
        node: NodeConnection,
        audit: Audit,
        ended: tokio::sync::watch::Receiver<Option<String>>,
    ) -> (Front, tokio::sync::oneshot::Receiver<Outcome>) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let front = Front {
            gatehouse,
            target,
            audit,
            pending: Some(node),
            node: None,
            outcome: Some(tx),
            opened: false,
            ended,
        };
        (front, rx)
    }

    fn refuse_forwarding(&self, what: &str) {
        (self.audit)(
            Kind::SshDenied,
            &format!("node {} as {}: {what} in a recorded session", self.target.node, self.target.login),
        );
    }
}

impl server::Handler for Front {
    type Error = russh::Error;

    /// The browser proves its certificate; only then does the proxy sign in to the node.
    async fn auth_openssh_certificate(&mut self, user: &str, cert: &Certificate) -> Result<server::Auth, Self::Error> {
        let session_ca = self.gatehouse.cas.session.public_key().fingerprint(HashAlg::Sha256);
        let opened = Opened { user: &self.target.user, node: &self.target.node, login: &self.target.login };
        if let Err(why) = check_user(cert, user, opened, &session_ca, crate::auth::now()) {
            (self.audit)(Kind::SshDenied, &format!("node {}: {why}", self.target.node));
            return Ok(server::Auth::reject());
        }
        let Some(mut node) = self.pending.take() else {
            return Ok(server::Auth::reject());
        };
        match authenticate_node(&mut node, &self.gatehouse.cas, &self.target).await {
            Ok(()) => {
                self.node = Some(Arc::new(node.handle));
                Ok(server::Auth::Accept)
            }
            Err(why) => {
                tracing::warn!(node = %self.target.node, %why, "recorded session: the node refused the proxy");
                (self.audit)(Kind::SshNodeFailed, &format!("node {}: {why}", self.target.node));
                Ok(server::Auth::reject())
            }
        }
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<server::Msg>,
        reply: server::ChannelOpenHandle,
        session: &mut server::Session,
    ) -> Result<(), Self::Error> {
        if self.opened {
            // One session per connection: the browser opens one tab per connection.
            reply.reject(russh::ChannelOpenFailure::AdministrativelyProhibited).await;
            return Ok(());
        }
        let Some(node) = self.node.clone() else {
            reply.reject(russh::ChannelOpenFailure::AdministrativelyProhibited).await;
            return Ok(());
        };
        match node.channel_open_session().await {
            Ok(back) => {
                self.opened = true;
                reply.accept().await;
                let bridge = Bridge {
                    front_handle: session.handle(),
                    node,
                    target: self.target.clone(),
                    store: self.gatehouse.store.clone(),
                    data_dir: self.gatehouse.data_dir.clone(),
                    outcome: self.outcome.take(),
                    audit: self.audit.clone(),
                    ended: self.ended.clone(),
                };
                tokio::spawn(bridge.run(channel, back));
            }
            Err(err) => {
                tracing::warn!(node = %self.target.node, %err, "the node would not open a session channel");
                reply.reject(russh::ChannelOpenFailure::ConnectFailed).await;
            }
        }
        Ok(())
    }

    // Forwarding of any kind: what crosses it could not be recorded, so never.
    async fn channel_open_direct_tcpip(
        &mut self,
        _channel: Channel<server::Msg>,
        host: &str,
        port: u32,
        _originator_address: &str,
        _originator_port: u32,
        reply: server::ChannelOpenHandle,
        _session: &mut server::Session,
    ) -> Result<(), Self::Error> {
        self.refuse_forwarding(&format!("a forwarded connection to {host}:{port}"));
        reply.reject(russh::ChannelOpenFailure::AdministrativelyProhibited).await;
        Ok(())
    }

    async fn channel_open_direct_streamlocal(
        &mut self,
        _channel: Channel<server::Msg>,
        socket_path: &str,
        reply: server::ChannelOpenHandle,
        _session: &mut server::Session,
    ) -> Result<(), Self::Error> {
        self.refuse_forwarding(&format!("a forwarded connection to the socket {socket_path}"));
        reply.reject(russh::ChannelOpenFailure::AdministrativelyProhibited).await;
        Ok(())
    }

    async fn tcpip_forward(
        &mut self,
        address: &str,
        port: &mut u32,
        _session: &mut server::Session,
    ) -> Result<bool, Self::Error> {
        self.refuse_forwarding(&format!("remote forwarding of {address}:{port}"));
        Ok(false)
    }

    async fn streamlocal_forward(
        &mut self,
        socket_path: &str,
        _session: &mut server::Session,
    ) -> Result<bool, Self::Error> {
        self.refuse_forwarding(&format!("remote forwarding of the socket {socket_path}"));
        Ok(false)
    }

    /// Agent forwarding is never passed to the node (the bridge drops the request and
    /// audits it). russh 0.65 answers this request itself, with what this returns, even
    /// when the client asked for no answer (OpenSSH never does): an unasked "failure"
    /// would be taken by the client as the answer to its next request (the pty or the
    /// command) and break the session, so the answer is "yes" and nothing is forwarded.
    async fn agent_request(
        &mut self,
        _channel: ChannelId,
        _session: &mut server::Session,
    ) -> Result<bool, Self::Error> {
        Ok(true)
    }
}

// ---------------------------------------------------------------------------------------
// The bridge: one session channel, both directions.

struct Bridge {
    front_handle: server::Handle,
    node: Arc<NodeHandle>,
    target: Target,
    store: Arc<dyn crate::store::backend::Store>,
    data_dir: std::path::PathBuf,
    outcome: Option<tokio::sync::oneshot::Sender<Outcome>>,
    audit: Audit,
    ended: tokio::sync::watch::Receiver<Option<String>>,
}

/// What both directions of a bridged channel need: the channel's decisions and its
/// recording, behind a lock held only between awaits.
#[derive(Default)]
struct Shared {
    channel: RecordedChannel,
    recorder: Option<Recorder>,
}

impl Bridge {
    async fn run(self, front: Channel<server::Msg>, back: Channel<client::Msg>) {
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
                            Ok(Input::Forward | Input::HoldAndForward) => {}
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
                        let _ = back_tx.window_change(*col_width, *row_height, *pix_width, *pix_height).await;
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
                    (Verdict::Start(command), message) => {
                        if let Err(end) = this.begin(&lock, &command, want_reply).await {
                            break this.refuse_unrecorded(front_id, want_reply, &end).await;
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
        let ended_from_outside = crate::sessions::wait(self.ended.clone());
        let end: String = tokio::select! {
            biased;
            end = ended_from_outside => end,
            end = browser_to_node => end,
            end = node_to_browser => end,
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
        Recorder::start(&self.data_dir, self.store.clone(), meta)
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

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;

    fn target() -> Target {
        Target {
            user: "alice".into(),
            node: "web-1".into(),
            addr: "127.0.0.1:22".into(),
            login: "ubuntu".into(),
            source_addresses: None,
        }
    }

    #[test]
    fn the_proxys_certificate_to_a_node_is_one_login_there_from_its_own_address() {
        let ip: std::net::IpAddr = "10.0.0.2".parse().unwrap();
        let grant = node_grant(&target(), ip, NOW);
        assert_eq!(grant.principal, "ubuntu@web-1");
        assert_eq!(grant.source_address.as_deref(), Some("10.0.0.2"));
        assert_eq!((grant.valid_after, grant.valid_before), (NOW - 60, NOW + 60));
        assert_eq!(grant.extensions, crate::ca::Extensions::default());
        let configured = Target { source_addresses: Some("192.0.2.0/24".into()), ..target() };
        assert_eq!(node_grant(&configured, ip, NOW).source_address.as_deref(), Some("192.0.2.0/24"));
    }
}
