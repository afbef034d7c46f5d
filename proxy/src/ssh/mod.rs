//! SSH: signing the browser's key for one decision ([`certificate`]); recorded sessions,
//! where the browser's SSH connection ends at the proxy's own server ([`front`]), the
//! proxy connects to the node itself ([`node`]) and the two are bridged and recorded
//! ([`bridge`], with the channel's decisions in [`channel`]); and the check that a node
//! enforces Gatehouse's certificates ([`check`]).
//!
//! ```text
//! browser (russh client) ──ws──▶ Front (russh server) ─ bridge ─ russh client ──tcp──▶ sshd
//!                                                         └──▶ Recorder
//! ```
//! - The front presents the proxy's host key with a certificate from the host CA for the
//!   node's name, so the browser's pin check is the same as for a node.
//! - The front accepts only a user certificate from the session CA (which no node
//!   trusts) for this user, this login and this node.
//! - The node's connection (and its host-certificate check) comes before the browser's
//!   SSH starts, so a dead or untrusted node is a clear refusal; the proxy signs in with
//!   a fresh key and a certificate for `login@node` from its own address, valid for a
//!   minute either side of now, only after the browser has signed in.
//! - One session channel per connection: a shell or one command, never a subsystem, a
//!   file-transfer server run as a command, or any forwarding. Without a pty, what the
//!   client sends is recorded too. A role with `file_transfer` also gets one second
//!   channel for the `sftp` subsystem only ([`sftp_bridge`]), every packet inspected,
//!   refused or audited by [`sftp`].
//! - When the identity behind the session goes ([`crate::sessions`]), the bridge ends the
//!   recording with the reason and the socket closes with it.
//! - Each direction awaits the other side's SSH window, so a slow browser slows the node
//!   instead of filling the proxy's memory.

pub mod bridge;
pub mod certificate;
pub mod channel;
pub mod check;
pub mod front;
pub mod moderation;
pub mod node;
pub mod sftp;
pub mod sftp_bridge;
mod window;

use std::sync::Arc;

use crate::audit::Kind;

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
    /// What a recorded session's file channel may carry ([`sftp`]); none: no channel.
    pub file_transfer: crate::access::rbac::FileTransfer,
}

/// Messages a russh session may queue for a bridged channel. The patched russh
/// (`vendor/russh/GATEHOUSE.md`) grants a peer window only as the bridge reads, so the
/// window is what holds a peer back, and the queue needs room for one window's worth of
/// packets: when it is full the session's loop waits, and with it the window updates the
/// other direction needs, which can close the old circle again. 512 did, once, in a CI
/// run of the 1 GiB test (after 468 MiB up and 871 down: packets under 4 KiB on a busy
/// machine). 4096 holds a 2 MiB window in packets of 512 bytes; the queue allocates as
/// it fills, and the window still bounds the bytes. ([`window`] has the russh test.)
const CHANNEL_BUFFER: usize = 4096;
