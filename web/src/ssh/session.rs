//! One SSH session over one socket: connect, check the host certificate against the
//! pin, sign in with the connection's certificate and the page's key, open a shell with
//! a pty, then carry input, output and resizes until either side ends. What comes
//! before (key, certificate, passkey check) is `connect`'s.

use std::sync::{Arc, Mutex};

use russh::ChannelMsg;
use russh::client::{self, Handler};
use russh::keys::PublicKeyOrCertificate;
use russh::keys::ssh_key::{Algorithm, Certificate};
use tokio::sync::mpsc;

use super::key::{KeyKind, PageKey};
use super::socket;
use gatehouse_ssh_policy::{HostCertError, RECORDING_PROXY_KEY_ID, check_host};

use gatehouse_proto::api::close::MFA_REQUIRED;

/// What the tab is told while an attempt runs.
#[derive(Debug, Clone)]
pub enum Event {
    /// The page's key is ready; which kind it is.
    Key(KeyKind),
    /// Waiting for the passkey check the roles ask for before this session.
    Confirming,
    /// Certified; the socket is opening.
    Connecting,
    /// The shell is open; `recorded` when the proxy's recording server answered.
    Connected {
        recorded: bool,
    },
    Output(Vec<u8>),
    /// The Files panel's SFTP session opened (or why it could not), once the shell runs;
    /// never sent when the roles allow no file transfer.
    Files(Result<super::files::Remote, String>),
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// The session ended, or could not start; the sentence says how.
    Closed(String),
    /// The node could not prove it is who the pinned CA says: possible interception.
    PinMismatch(String),
}

/// The proxy closed the socket with 4428: the roles ask for a passkey check first.
pub struct PasskeyFirst {
    /// The proxy's sentence.
    pub reason: String,
}

/// What the tab asks for.
pub enum Command {
    Input(Vec<u8>),
    Resize { cols: u16, rows: u16 },
}

struct Client {
    pin: String,
    node: String,
    verdict: Arc<Mutex<Option<HostCertError>>>,
    /// The key id of the host certificate that passed the pin check.
    host_key_id: Arc<Mutex<Option<String>>>,
}

impl Handler for Client {
    type Error = russh::Error;

    async fn check_server_key(&mut self, key: &PublicKeyOrCertificate) -> Result<bool, Self::Error> {
        // SystemTime::now() panics in wasm: the browser's clock, in seconds.
        let now = (js_sys::Date::now() / 1000.0) as u64;
        match check_host(key, &self.pin, &self.node, now) {
            Ok(key_id) => {
                if let Ok(mut slot) = self.host_key_id.lock() {
                    *slot = Some(key_id);
                }
                Ok(true)
            }
            Err(err) => {
                if let Ok(mut verdict) = self.verdict.lock() {
                    *verdict = Some(err);
                }
                Ok(false)
            }
        }
    }
}

/// Everything one connection needs, decided before its socket opens.
pub struct Plan<'a> {
    pub node: &'a str,
    pub login: &'a str,
    pub key: &'a PageKey,
    /// For this node and login, from the certificate request or the passkey check.
    pub certificate: Certificate,
    /// The pinned host CA every host certificate must be signed by.
    pub pin: &'a str,
    /// The one-time ticket of a passed passkey check, if the roles ask for one.
    pub ticket: Option<String>,
    /// What the Files panel may move: nothing opens its channel when this is none.
    pub file_transfer: super::files::Allowed,
    /// The page's name for the tab (`?tab=`), to find its session in `GET /api/v1/live`.
    pub tab: &'a str,
    pub cols: u16,
    pub rows: u16,
}

fn config() -> client::Config {
    let mut config = client::Config::default();
    // Ask for the host certificate, not just the key.
    config.preferred.host_key_certificates = std::borrow::Cow::Borrowed(&[Algorithm::Ed25519]);
    // No AES hardware in wasm: ChaCha20-Poly1305 is the fast cipher here.
    config.preferred.cipher =
        std::borrow::Cow::Borrowed(&[russh::cipher::CHACHA20_POLY1305, russh::cipher::AES_256_GCM]);
    // Room for a whole window of small packets (a pty echoing a paste): the patched
    // russh grants window as we read, and a full queue would stop the session's loop,
    // window updates and all, while this tab waits to send (vendor/russh/GATEHOUSE.md).
    config.channel_buffer_size = 4096;
    config
}

fn socket_url(plan: &Plan) -> String {
    let host = web_sys::window().and_then(|w| w.location().host().ok()).unwrap_or_default();
    let mut url = format!(
        "wss://{host}/api/v1/nodes/{}/ssh?login={}",
        js_sys::encode_uri_component(plan.node),
        js_sys::encode_uri_component(plan.login)
    );
    if let Some(ticket) = &plan.ticket {
        url.push_str(&format!("&mfa={}", js_sys::encode_uri_component(ticket)));
    }
    url.push_str(&format!("&tab={}", js_sys::encode_uri_component(plan.tab)));
    url
}

/// Runs the session until it ends, reporting to `events`. `Err` when the proxy asks
/// for a passkey check first (then nothing was sent to the node).
pub async fn run(
    plan: Plan<'_>,
    commands: &mut mpsc::UnboundedReceiver<Command>,
    events: &impl Fn(Event),
) -> Result<End, PasskeyFirst> {
    let socket = match socket::open(&socket_url(&plan)).await {
        Ok(socket) => socket,
        Err(closed) if closed.code == MFA_REQUIRED => return Err(PasskeyFirst { reason: closed.reason }),
        Err(closed) => return Ok(End::Closed(closed.reason)),
    };
    // A close code of 4000 or more carries the proxy's own sentence.
    let closed = socket.closed.clone();
    let lost = closed.clone();
    let proxy_said = move || closed.borrow().clone().filter(|c| c.code >= 4000);
    // 1006: the socket dropped without a close frame, so no proxy said goodbye: the one
    // this tab reached stopped, or the network between them went.
    let proxy_lost = move || lost.borrow().as_ref().is_some_and(|c| c.code == 1006);
    let ended_by_proxy = |fallback: String| proxy_said().map(|c| c.reason).unwrap_or(fallback);

    let verdict = Arc::new(Mutex::new(None));
    let host_key_id = Arc::new(Mutex::new(None));
    let handler = Client {
        pin: plan.pin.to_string(),
        node: plan.node.to_string(),
        verdict: verdict.clone(),
        host_key_id: host_key_id.clone(),
    };
    let mut handle = match client::connect_stream(Arc::new(config()), socket.stream, handler).await {
        Ok(handle) => handle,
        Err(err) => {
            if let Some(pin_error) = verdict.lock().ok().and_then(|mut v| v.take()) {
                return Ok(End::PinMismatch(pin_error.to_string()));
            }
            if let Some(refusal) = proxy_said().filter(|c| c.code == MFA_REQUIRED) {
                return Err(PasskeyFirst { reason: refusal.reason });
            }
            return Ok(End::Closed(ended_by_proxy(format!("The SSH connection failed: {err}."))));
        }
    };
    match plan.key.sign_in(&mut handle, plan.login, plan.certificate).await {
        Ok(true) => {}
        Ok(false) => {
            return Ok(End::Closed(format!(
                "{} refused the certificate for {}. The node may not trust the Gatehouse user CA.",
                plan.node, plan.login
            )));
        }
        Err(err) => return Ok(End::Closed(ended_by_proxy(format!("Signing in to the node failed: {err}.")))),
    }
    let channel = match open_shell(&handle, plan.cols, plan.rows).await {
        Ok(channel) => channel,
        Err(reason) => return Ok(End::Closed(reason)),
    };
    let recorded = host_key_id.lock().ok().and_then(|id| id.clone()).as_deref() == Some(RECORDING_PROXY_KEY_ID);
    events(Event::Connected { recorded });
    let allowed = plan.file_transfer;
    let files = async {
        if allowed.any() {
            events(Event::Files(super::files::Remote::open(&handle, allowed).await));
        }
    };
    let ((), exit) = tokio::join!(files, carry(channel, commands, events));
    let reason = match exit {
        Some(0) => "The session ended.".to_string(),
        Some(code) => format!("The session ended with exit status {code}."),
        None if proxy_lost() => "The connection to Gatehouse was lost: the proxy this tab reached stopped, or the network dropped. Reconnect opens a new session (through another proxy, if there are several).".to_string(),
        None => ended_by_proxy(
            "The connection to the node closed without the session ending: the node may have stopped or restarted."
                .to_string(),
        ),
    };
    let _ = handle.disconnect(russh::Disconnect::ByApplication, "", "en").await;
    Ok(End::Closed(reason))
}

async fn open_shell<H: Handler>(
    handle: &client::Handle<H>,
    cols: u16,
    rows: u16,
) -> Result<russh::Channel<client::Msg>, String> {
    let channel =
        handle.channel_open_session().await.map_err(|err| format!("The node would not open a session: {err}."))?;
    let opened = async {
        channel.request_pty(true, "xterm-256color", u32::from(cols), u32::from(rows), 0, 0, &[]).await?;
        channel.request_shell(true).await
    };
    opened.await.map_err(|err| format!("The node would not start a shell: {err}."))?;
    Ok(channel)
}

/// Carries output to the tab and its input and resizes to the node until the channel
/// closes or the tab goes away. The shell's exit status, if it gave one.
async fn carry(
    mut channel: russh::Channel<client::Msg>,
    commands: &mut mpsc::UnboundedReceiver<Command>,
    events: &impl Fn(Event),
) -> Option<u32> {
    let mut exit = None;
    loop {
        tokio::select! {
            message = channel.wait() => match message {
                Some(ChannelMsg::Data { data }) => events(Event::Output(data.to_vec())),
                Some(ChannelMsg::ExtendedData { data, .. }) => events(Event::Output(data.to_vec())),
                Some(ChannelMsg::ExitStatus { exit_status }) => exit = Some(exit_status),
                Some(ChannelMsg::Eof) => {}
                Some(ChannelMsg::Close) | None => break,
                Some(_) => {}
            },
            command = commands.recv() => match command {
                Some(Command::Input(bytes)) => {
                    if channel.data_bytes(bytes).await.is_err() {
                        break;
                    }
                }
                Some(Command::Resize { cols, rows }) => {
                    let _ = channel.window_change(u32::from(cols), u32::from(rows), 0, 0).await;
                }
                None => break,
            },
        }
    }
    exit
}
