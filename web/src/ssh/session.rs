//! One SSH session: connect over the socket, check the host certificate against the
//! pin, authenticate with the certificate, open a shell with a pty, then carry input,
//! output and resizes until either side ends.

use std::sync::{Arc, Mutex};

use russh::ChannelMsg;
use russh::client::{self, Handler};
use russh::keys::PublicKeyOrCertificate;
use russh::keys::ssh_key::Algorithm;
use tokio::sync::mpsc;

use super::identity::Identity;
use super::pin::{self, PinError};
use super::socket;

/// The proxy's close code for "check a passkey first" (see the proxy's `http/ssh.rs`).
const MFA_REQUIRED: u16 = 4428;

/// What the tab is told.
#[derive(Debug, Clone)]
pub enum Event {
    /// The shell is open; `recorded` when the proxy's recording server answered.
    Connected { recorded: bool },
    Output(Vec<u8>),
    /// The session ended; the sentence says how.
    Ended(String),
    /// The node could not prove it is who the pinned CA says: possible interception.
    PinMismatch(String),
    /// The roles ask for a passkey check before this session.
    MfaRequired,
}

/// What the tab asks for.
pub enum Command {
    Input(Vec<u8>),
    Resize { cols: u16, rows: u16 },
}

struct Client {
    pin: String,
    node: String,
    verdict: Arc<Mutex<Option<PinError>>>,
    /// The key id of the host certificate that passed the pin check.
    host_key_id: Arc<Mutex<Option<String>>>,
}

impl Handler for Client {
    type Error = russh::Error;

    async fn check_server_key(&mut self, key: &PublicKeyOrCertificate) -> Result<bool, Self::Error> {
        // SystemTime::now() panics in wasm: the browser's clock, in seconds.
        let now = (js_sys::Date::now() / 1000.0) as u64;
        match pin::check(key, &self.pin, &self.node, now) {
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

pub struct Target {
    pub node: String,
    pub login: String,
    pub cols: u16,
    pub rows: u16,
    /// The one-time ticket of a passed session check, if the roles ask for one.
    pub mfa: Option<String>,
}

fn config() -> client::Config {
    let mut config = client::Config::default();
    // Ask for the host certificate, not just the key.
    config.preferred.host_key_certificates = std::borrow::Cow::Borrowed(&[Algorithm::Ed25519]);
    // No AES hardware in wasm: ChaCha20-Poly1305 is the fast cipher here.
    config.preferred.cipher =
        std::borrow::Cow::Borrowed(&[russh::cipher::CHACHA20_POLY1305, russh::cipher::AES_256_GCM]);
    config
}

/// Runs the session until it ends, reporting to `events`.
pub async fn run(identity: Identity, pin: String, target: Target, mut commands: mpsc::UnboundedReceiver<Command>, events: impl Fn(Event)) {
    let location = web_sys::window().map(|w| w.location());
    let host = location.as_ref().and_then(|l| l.host().ok()).unwrap_or_default();
    let mut url = format!(
        "wss://{host}/api/v1/nodes/{}/ssh?login={}",
        js_sys::encode_uri_component(&target.node),
        js_sys::encode_uri_component(&target.login)
    );
    if let Some(ticket) = &target.mfa {
        url.push_str(&format!("&mfa={}", js_sys::encode_uri_component(ticket)));
    }
    let socket = match socket::open(&url).await {
        Ok(socket) => socket,
        Err(closed) if closed.code == MFA_REQUIRED && target.mfa.is_none() => return events(Event::MfaRequired),
        Err(closed) => return events(Event::Ended(closed.reason)),
    };
    let closed = socket.closed.clone();
    let ended_by_proxy = move |fallback: String| -> String {
        closed.borrow().as_ref().filter(|c| c.code >= 4000).map(|c| c.reason.clone()).unwrap_or(fallback)
    };
    let verdict = Arc::new(Mutex::new(None));
    let host_key_id = Arc::new(Mutex::new(None));
    let handler = Client { pin, node: target.node.clone(), verdict: verdict.clone(), host_key_id: host_key_id.clone() };
    let mfa_refusal = {
        let closed = socket.closed.clone();
        move || closed.borrow().as_ref().is_some_and(|c| c.code == MFA_REQUIRED)
    };
    let mut handle = match client::connect_stream(Arc::new(config()), socket.stream, handler).await {
        Ok(handle) => handle,
        Err(err) => {
            if let Some(pin_error) = verdict.lock().ok().and_then(|mut v| v.take()) {
                return events(Event::PinMismatch(pin_error.to_string()));
            }
            if mfa_refusal() && target.mfa.is_none() {
                return events(Event::MfaRequired);
            }
            return events(Event::Ended(ended_by_proxy(format!("The SSH connection failed: {err}."))));
        }
    };
    let authenticated = handle
        .authenticate_openssh_cert(target.login.clone(), identity.key.clone(), identity.certificate.clone())
        .await;
    match authenticated {
        Ok(result) if result.success() => {}
        Ok(_) => {
            return events(Event::Ended(format!(
                "{} refused the certificate for {}. The node may not trust the Gatehouse user CA.",
                target.node, target.login
            )));
        }
        Err(err) => return events(Event::Ended(ended_by_proxy(format!("Signing in to the node failed: {err}.")))),
    }
    let mut channel = match handle.channel_open_session().await {
        Ok(channel) => channel,
        Err(err) => return events(Event::Ended(format!("The node would not open a session: {err}."))),
    };
    let opened = async {
        channel
            .request_pty(true, "xterm-256color", u32::from(target.cols), u32::from(target.rows), 0, 0, &[])
            .await?;
        channel.request_shell(true).await
    };
    if let Err(err) = opened.await {
        return events(Event::Ended(format!("The node would not start a shell: {err}.")));
    }
    let recorded = host_key_id.lock().ok().and_then(|id| id.clone()).as_deref()
        == Some(gatehouse_proto::api::RECORDING_PROXY_KEY_ID);
    events(Event::Connected { recorded });
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
    let reason = match exit {
        Some(0) => "The session ended.".to_string(),
        Some(code) => format!("The session ended with exit status {code}."),
        None => ended_by_proxy(
            "The connection to the node closed without the session ending: the node may have stopped or restarted."
                .to_string(),
        ),
    };
    let _ = handle.disconnect(russh::Disconnect::ByApplication, "", "en").await;
    events(Event::Ended(reason));
}
