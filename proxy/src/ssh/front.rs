//! The proxy's SSH server for the browser in a recorded session: its host certificate
//! for the node's name, the browser's certificate checked
//! ([`gatehouse_ssh_policy::check_user`]), then the node signed in to and one session
//! channel handed to the [`super::bridge`].

use std::sync::Arc;
use std::time::Duration;

use gatehouse_ssh_policy::{Opened, check_user};
use russh::keys::PrivateKey;
use russh::keys::ssh_key::{Certificate, HashAlg};
use russh::{Channel, ChannelId, server};

use super::bridge::{Bridge, Outcome};
use super::node::{NodeConnection, NodeHandle, authenticate_node};
use super::{Audit, CHANNEL_BUFFER, Target};
use crate::audit::Kind;
use crate::gate::Gatehouse;

/// The server configuration for one connection: our host key, certified for the node's
/// name (the browser checks that name, as it would on the node itself).
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

pub struct Front {
    gatehouse: Arc<Gatehouse>,
    target: Target,
    audit: Audit,
    /// The node's connection: waiting for sign-in, then shared with the bridge.
    pending: Option<NodeConnection>,
    node: Option<Arc<NodeHandle>>,
    outcome: Option<tokio::sync::oneshot::Sender<Outcome>>,
    opened: bool,
    /// The file channel (the `sftp` subsystem) is open; one per connection.
    files_opened: bool,
    recording: super::sftp_bridge::RecordingSlot,
    /// `Some(sentence)` once the session must end from outside ([`crate::sessions`]).
    ended: tokio::sync::watch::Receiver<Option<String>>,
    /// The session as others may join it, for the bridge.
    pub shared: Option<(
        Arc<crate::sessions::shared::SharedSession>,
        tokio::sync::mpsc::Receiver<crate::sessions::shared::PeerInput>,
    )>,
    /// The session needs a moderator: no file channel beside it.
    moderated: bool,
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
            files_opened: false,
            recording: Default::default(),
            ended,
            shared: None,
            moderated: false,
        };
        (front, rx)
    }

    /// The second session channel: only for the `sftp` subsystem, inspected.
    async fn open_files(
        &mut self,
        channel: Channel<server::Msg>,
        reply: server::ChannelOpenHandle,
        session: &mut server::Session,
    ) -> Result<(), russh::Error> {
        let allowed = self.target.file_transfer;
        // Moderators watch the terminal only: files moved beside it would go unwatched.
        if self.moderated {
            self.refuse_forwarding("a file channel in a moderated session");
            reply.reject(russh::ChannelOpenFailure::AdministrativelyProhibited).await;
            return Ok(());
        }
        let node = self.node.clone();
        let (Some(node), false, true) = (node, self.files_opened, allowed.download() || allowed.upload()) else {
            if !self.files_opened {
                self.refuse_forwarding("a second channel (file transfer is not allowed by the roles)");
            }
            reply.reject(russh::ChannelOpenFailure::AdministrativelyProhibited).await;
            return Ok(());
        };
        match node.channel_open_session().await {
            Ok(back) => {
                self.files_opened = true;
                reply.accept().await;
                let bridge = super::sftp_bridge::SftpBridge {
                    front_handle: session.handle(),
                    target: self.target.clone(),
                    allowed,
                    audit: self.audit.clone(),
                    recording: self.recording.clone(),
                };
                tokio::spawn(bridge.run(channel, back));
            }
            Err(err) => {
                tracing::warn!(node = %self.target.node, %err, "the node would not open a file channel");
                reply.reject(russh::ChannelOpenFailure::ConnectFailed).await;
            }
        }
        Ok(())
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
            // One session per connection (the browser opens one tab per connection),
            // and one file channel beside it when the roles allow file transfer.
            return self.open_files(channel, reply, session).await;
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
                    archive: self.gatehouse.archive.clone(),
                    outcome: self.outcome.take(),
                    audit: self.audit.clone(),
                    ended: self.ended.clone(),
                    recording: self.recording.clone(),
                    shared: {
                        let shared = self.shared.take();
                        self.moderated = shared.as_ref().is_some_and(|(s, _)| !s.opened.moderators.is_empty());
                        shared
                    },
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
