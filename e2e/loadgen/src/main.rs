//! The load benchmark's SSH client (`e2e/bench/load.mjs` drives it): many real SSH
//! sessions in one process, each over the proxy's SSH WebSocket (as the browser's russh
//! connects) or straight to sshd (the baseline), each typing a key a second and timing
//! the key's echo.
//!
//! ```text
//! gatehouse-loadgen PROXY_CERT_PEM
//! ```
//! Commands arrive on stdin, one JSON value a line:
//! - `{"open": {"id", "url", "cookie", "origin", "login", "command", "seed", "certificate"}}`:
//!   a session. `url` is `wss://…/api/v1/nodes/NODE/ssh?login=…` or `tcp://HOST:PORT`;
//!   `seed` is the Ed25519 key's 32 bytes in hex, `certificate` its OpenSSH certificate.
//!   The session asks for a pty, runs `command`, types `T{id}!` (so its recording can be
//!   found), then a key (`a`…`z` in turn) every second, at a phase of its own.
//! - `"measure"`: from now on, keys sent are timed (the steady phase starts).
//! - `"stop"`: stop typing, wait up to 3 s for echoes still on their way, close every
//!   session, print the result and exit.
//!
//! Lines out: `{"opened": id}`, `{"failed": id, "error"}` (could not open),
//! `{"dropped": id, "error"}` (ended before the stop), and last `{"result": …}`: the echo
//! latencies (µs) of the keys timed, and per session what it received (length and
//! SHA-256, to compare with its recording).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use futures_util::{SinkExt, StreamExt};
use russh::keys::PublicKeyOrCertificate;
use russh::keys::ssh_key::private::Ed25519Keypair;
use russh::keys::ssh_key::{Certificate, PrivateKey};
use russh::{ChannelMsg, client};
use serde::Deserialize;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio_rustls::rustls;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum Command {
    Open(Spec),
    Measure,
    Stop,
}

#[derive(Deserialize)]
struct Spec {
    id: u32,
    url: String,
    cookie: Option<String>,
    origin: Option<String>,
    login: String,
    command: String,
    seed: String,
    certificate: String,
}

/// What every session shares: whether keys are timed now, and the times measured.
struct Shared {
    measuring: AtomicBool,
    latencies_us: Mutex<Vec<u64>>,
    tls: Arc<rustls::ClientConfig>,
}

/// What a session reports when it ends.
struct Report {
    id: u32,
    dropped: Option<String>,
    received: Vec<u8>,
    keys_timed: u64,
    echoes_missing: u64,
    out_of_order: u64,
}

fn main() -> anyhow::Result<()> {
    let ca = std::env::args().nth(1).context("usage: gatehouse-loadgen PROXY_CERT_PEM")?;
    let tls = tls_config(&ca)?;
    // Commands are read on a thread of their own (stdin blocks).
    let (commands, mut incoming) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            let Ok(line) = line else { break };
            if commands.send(line).is_err() {
                break;
            }
        }
    });
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let shared = Arc::new(Shared { measuring: AtomicBool::new(false), latencies_us: Mutex::default(), tls });
        let (stop, stopped) = watch::channel(false);
        let mut sessions = Vec::new();
        while let Some(line) = incoming.recv().await {
            match serde_json::from_str::<Command>(&line).with_context(|| format!("not a command: {line}"))? {
                Command::Open(spec) => sessions.push(tokio::spawn(session(spec, shared.clone(), stopped.clone()))),
                Command::Measure => shared.measuring.store(true, Ordering::Relaxed),
                Command::Stop => break,
            }
        }
        let _ = stop.send(true);
        let mut reports = Vec::new();
        for session in sessions {
            if let Ok(Some(report)) = session.await {
                reports.push(report);
            }
        }
        let latencies = std::mem::take(&mut *shared.latencies_us.lock().unwrap_or_else(|e| e.into_inner()));
        let sessions: Vec<_> = reports
            .iter()
            .map(|r| {
                json!({
                    "id": r.id,
                    "dropped": r.dropped,
                    "received": r.received.len(),
                    "sha256": sha256_hex(&r.received),
                    "keys_timed": r.keys_timed,
                    "echoes_missing": r.echoes_missing,
                    "out_of_order": r.out_of_order,
                })
            })
            .collect();
        println!("{}", json!({ "result": { "latencies_us": latencies, "sessions": sessions } }));
        Ok(())
    })
}

/// One session from open to stop. `None` if it never opened (already reported).
async fn session(spec: Spec, shared: Arc<Shared>, stop: watch::Receiver<bool>) -> Option<Report> {
    let id = spec.id;
    let (connection, channel) = match open(&spec, &shared).await {
        Ok(opened) => opened,
        Err(err) => {
            println!("{}", json!({ "failed": id, "error": format!("{err:#}") }));
            return None;
        }
    };
    println!("{}", json!({ "opened": id }));
    let report = type_and_time(id, channel, &shared, stop).await;
    let _ = connection.disconnect(russh::Disconnect::ByApplication, "", "en").await;
    if let Some(why) = &report.dropped {
        println!("{}", json!({ "dropped": id, "error": why }));
    }
    Some(report)
}

/// Connects, signs in with the certificate, and starts `command` on a pty.
async fn open(spec: &Spec, shared: &Shared) -> anyhow::Result<(client::Handle<AnyHost>, russh::Channel<client::Msg>)> {
    let key = PrivateKey::from(Ed25519Keypair::from_seed(&seed(&spec.seed)?));
    let certificate = Certificate::from_openssh(spec.certificate.trim()).context("the certificate does not parse")?;
    let config = Arc::new(client::Config {
        inactivity_timeout: None,
        keepalive_interval: None,
        nodelay: true,
        ..client::Config::default()
    });
    let mut handle = if let Some(addr) = spec.url.strip_prefix("tcp://") {
        let tcp = TcpStream::connect(addr).await.with_context(|| format!("cannot reach {addr}"))?;
        tcp.set_nodelay(true)?;
        client::connect_stream(config, tcp, AnyHost).await?
    } else {
        let (stream, closed) = websocket(spec, shared).await?;
        match client::connect_stream(config, stream, AnyHost).await {
            Ok(handle) => handle,
            Err(err) => {
                let why = closed.lock().unwrap_or_else(|e| e.into_inner()).clone();
                bail!("{err} ({})", why.unwrap_or_else(|| "the socket gave no reason".into()));
            }
        }
    };
    let auth = handle.authenticate_openssh_cert(spec.login.clone(), Arc::new(key), certificate).await?;
    if !auth.success() {
        bail!("the server refused the certificate");
    }
    let channel = handle.channel_open_session().await?;
    channel.request_pty(true, "xterm", 80, 24, 0, 0, &[]).await?;
    channel.exec(true, spec.command.as_bytes()).await?;
    Ok((handle, channel))
}

/// Types a key a second (once the command runs) and times each echo, until the stop.
async fn type_and_time(
    id: u32,
    mut channel: russh::Channel<client::Msg>,
    shared: &Shared,
    mut stop: watch::Receiver<bool>,
) -> Report {
    let mut report =
        Report { id, dropped: None, received: Vec::new(), keys_timed: 0, echoes_missing: 0, out_of_order: 0 };
    // Sessions spread their keys over the second.
    let phase = Duration::from_millis(u64::from(id).wrapping_mul(379) % 1000);
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + phase, Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Keys on their way: the key, when it was sent, whether it is timed.
    let mut waiting: VecDeque<(u8, Instant, bool)> = VecDeque::new();
    let mut next = 0u8;
    if channel.data_bytes(format!("T{id}!").into_bytes()).await.is_err() {
        report.dropped = Some("the session closed before its first key".into());
        return report;
    }
    let mut drain_until: Option<tokio::time::Instant> = None;
    loop {
        let drain = async {
            match drain_until {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = stop.changed(), if drain_until.is_none() => {
                drain_until = Some(tokio::time::Instant::now() + Duration::from_secs(3));
                if waiting.is_empty() { break; }
            }
            () = drain => break,
            _ = tick.tick(), if drain_until.is_none() => {
                let key = b'a' + next % 26;
                next = next.wrapping_add(1);
                let timed = shared.measuring.load(Ordering::Relaxed);
                waiting.push_back((key, Instant::now(), timed));
                if timed { report.keys_timed += 1; }
                if channel.data_bytes(vec![key]).await.is_err() {
                    report.dropped = Some("the session stopped taking input".into());
                    break;
                }
            }
            message = channel.wait() => match message {
                Some(ChannelMsg::Data { data }) => {
                    let at = Instant::now();
                    for &byte in data.iter().filter(|b| b.is_ascii_lowercase()) {
                        match waiting.front() {
                            Some(&(key, sent, timed)) if key == byte => {
                                waiting.pop_front();
                                if timed {
                                    let us = at.duration_since(sent).as_micros() as u64;
                                    shared.latencies_us.lock().unwrap_or_else(|e| e.into_inner()).push(us);
                                }
                            }
                            // Before the steady phase a key may be echoed twice (typed before
                            // the program made its terminal raw); only the steady phase counts.
                            _ if shared.measuring.load(Ordering::Relaxed) => report.out_of_order += 1,
                            _ => {}
                        }
                    }
                    report.received.extend_from_slice(&data);
                    if drain_until.is_some() && waiting.is_empty() { break; }
                }
                Some(ChannelMsg::ExitStatus { exit_status }) => {
                    report.dropped = Some(format!("the command exited with status {exit_status}"));
                    break;
                }
                Some(ChannelMsg::Eof | ChannelMsg::Close) | None => {
                    report.dropped = Some("the server closed the session".into());
                    break;
                }
                Some(_) => {}
            },
        }
    }
    report.echoes_missing = waiting.iter().filter(|(_, _, timed)| *timed).count() as u64;
    let _ = channel.close().await;
    report
}

/// The proxy's SSH WebSocket as a byte stream for russh (one end of a duplex pipe, the
/// other copied to and from the socket), and where the socket's close reason lands.
async fn websocket(spec: &Spec, shared: &Shared) -> anyhow::Result<(DuplexStream, Arc<Mutex<Option<String>>>)> {
    let mut request = spec.url.as_str().into_client_request()?;
    let uri = request.uri().clone();
    let host = uri.host().context("the URL names no host")?.to_string();
    let port = uri.port_u16().unwrap_or(443);
    for (name, value) in [("cookie", &spec.cookie), ("origin", &spec.origin)] {
        if let Some(value) = value {
            request.headers_mut().insert(name, value.parse()?);
        }
    }
    let tcp = TcpStream::connect((host.as_str(), port)).await.with_context(|| format!("cannot reach {host}:{port}"))?;
    tcp.set_nodelay(true)?;
    let name = rustls::pki_types::ServerName::try_from(host.clone())?;
    let tls = tokio_rustls::TlsConnector::from(shared.tls.clone()).connect(name, tcp).await?;
    // tungstenite zeroes its whole read buffer before every read: keep it one TLS record
    // (as the proxy does), not 128 KiB, or the generator's CPU is mostly that.
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default().read_buffer_size(16 * 1024);
    let (socket, _) = tokio_tungstenite::client_async_with_config(request, tls, Some(config)).await?;
    let (ours, theirs) = tokio::io::duplex(64 * 1024);
    let closed = Arc::new(Mutex::new(None));
    tokio::spawn(pump(socket, theirs, closed.clone()));
    Ok((ours, closed))
}

/// Copies binary frames into the pipe and the pipe's bytes out as binary frames, until
/// either side ends.
async fn pump<S>(socket: tokio_tungstenite::WebSocketStream<S>, pipe: DuplexStream, closed: Arc<Mutex<Option<String>>>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (mut ws_tx, mut ws_rx) = socket.split();
    let (mut pipe_rx, mut pipe_tx) = tokio::io::split(pipe);
    let inward = async {
        while let Some(Ok(message)) = ws_rx.next().await {
            match message {
                Message::Binary(data) if pipe_tx.write_all(&data).await.is_err() => break,
                Message::Close(frame) => {
                    let why = frame.map_or("closed".to_string(), |f| format!("closed {}: {}", f.code, f.reason));
                    *closed.lock().unwrap_or_else(|e| e.into_inner()) = Some(why);
                    break;
                }
                _ => {}
            }
        }
    };
    let outward = async {
        let mut buf = vec![0u8; 32 * 1024];
        while let Ok(n) = pipe_rx.read(&mut buf).await {
            if n == 0 || ws_tx.send(Message::Binary(buf[..n].to_vec().into())).await.is_err() {
                break;
            }
        }
    };
    tokio::select! {
        () = inward => {}
        () = outward => {}
    }
}

/// TLS that trusts exactly the proxy's own (self-signed) certificate.
fn tls_config(pem_path: &str) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(pem_path).with_context(|| format!("cannot read {pem_path}"))?;
    for cert in CertificateDer::pem_slice_iter(&pem) {
        roots.add(cert?)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

fn seed(hex: &str) -> anyhow::Result<[u8; 32]> {
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| hex.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect::<Option<_>>()
        .ok_or_else(|| anyhow!("the seed is not hex"))?;
    bytes.try_into().map_err(|_| anyhow!("the seed is not 32 bytes"))
}

fn sha256_hex(data: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, data).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// The benchmark does not check host keys: it measures, it does not guard anything.
struct AnyHost;

impl client::Handler for AnyHost {
    type Error = russh::Error;

    async fn check_server_key(&mut self, _key: &PublicKeyOrCertificate) -> Result<bool, Self::Error> {
        Ok(true)
    }
}
