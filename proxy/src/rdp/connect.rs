//! The proxy's RDP client (IronRDP): TCP, the X.224 negotiation, TLS, CredSSP (NLA) or
//! TLS only, then the connection sequence up to the active stage. The desktop's
//! credentials come from the proxy's vault and never reach a browser.
//!
//! Today this backs `gatehouse desktops check`, which proves a desktop's configuration
//! against the real server; the browser session builds on it.

use std::net::SocketAddr;
use std::time::Duration;

use gatehouse_proto::layout::KeyboardLayout;
use ironrdp_connector::{BitmapConfig, ClientConnector, ConnectionResult, Credentials, DesktopSize, ServerName};
use ironrdp_pdu::gcc::KeyboardType;
use ironrdp_pdu::rdp::capability_sets::{
    BitmapCodecs, CaptureFlags, CodecProperty, EntropyBits, MajorPlatformType, RemoteFxContainer, RfxCaps, RfxCapset,
    RfxClientCapsContainer, RfxICap, RfxICapFlags,
};
use ironrdp_pdu::rdp::client_info::{PerformanceFlags, TimezoneInfo};
use tokio::net::TcpStream;

use crate::inventory::desktops::{Desktop, Security};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum RdpError {
    #[error("cannot reach {addr}: {source}")]
    Unreachable { addr: String, source: std::io::Error },
    #[error("{addr} did not answer within 10 s")]
    Timeout { addr: String },
    #[error("the TLS handshake with {addr} failed: {source}")]
    Tls { addr: String, source: std::io::Error },
    #[error("{0}")]
    Connector(String),
    #[error(
        "the TLS certificate of {addr} is not the one pinned for this desktop (pinned {pinned}, presented {presented}): someone may be intercepting the connection, so the account was not sent. If the desktop's certificate really changed, an admin runs `gatehouse desktops add` again and then `gatehouse desktops check`"
    )]
    CertificateChanged { addr: String, pinned: String, presented: String },
    #[error(
        "{addr} presented a TLS certificate with the fingerprint {presented}, and none is pinned for this desktop yet, so the account was not sent. Compare it with the desktop's own certificate, then run `gatehouse desktops check {name} --pin {presented}` (or `--trust-first-use` to pin whatever it presents now)"
    )]
    Unpinned { addr: String, name: String, presented: String },
    #[error(
        "{addr} offered only TLS, but this desktop is set up for NLA, so the account was not sent: if the desktop really has NLA turned off, an admin adds it again with --security tls"
    )]
    NlaRefused { addr: String },
    #[error(
        "the desktop ended the connection while checking the account ({detail}): the user name or password is probably wrong"
    )]
    SignInRefused { detail: String },
}

impl RdpError {
    /// A sentence for a person: what happened and what to do.
    pub fn explain(&self) -> String {
        match self {
            RdpError::SignInRefused { .. } => {
                format!("{self}. An admin can set the account again with `gatehouse desktops add`.")
            }
            RdpError::Unreachable { .. } | RdpError::Timeout { .. } => {
                format!("{self}. The desktop may be down; try again later.")
            }
            other => other.to_string(),
        }
    }

    /// [`Self::explain`] as a sentence on its own, for the page.
    pub fn sentence(&self) -> String {
        if let RdpError::SignInRefused { .. } = self {
            // The protocol detail is for the admin (the audit and the CLI), not the page.
            return "The desktop ended the connection while checking the account: the user name or password is probably wrong (the proxy holds that account, not you). An admin can set the account again with `gatehouse desktops add`.".to_string();
        }
        let explained = self.explain();
        let mut chars = explained.chars();
        chars.next().map(|first| first.to_uppercase().chain(chars).collect()).unwrap_or_default()
    }
}

/// A graphics codec the proxy may offer a desktop (`desktop_codecs` in the config).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
pub enum Codec {
    /// RemoteFX surface commands (MS-RDPRFX), when the desktop offers them too.
    #[serde(rename = "remotefx")]
    RemoteFx,
    /// Plain (interleaved or planar) bitmaps, which every desktop can send.
    #[serde(rename = "bitmap")]
    Bitmap,
}

const REMOTEFX_CODEC_ID: u8 = 3;

/// The codecs announced to the desktop for `codecs` (plain bitmaps need none).
fn bitmap_codecs(codecs: &[Codec]) -> BitmapCodecs {
    let mut announced = Vec::new();
    if codecs.contains(&Codec::RemoteFx) {
        announced.push(ironrdp_pdu::rdp::capability_sets::Codec {
            // MS-RDPBCGR 2.2.7.2.10.1.1: the id the client gives RemoteFX (3, as IronRDP's).
            id: REMOTEFX_CODEC_ID,
            property: CodecProperty::RemoteFx(RemoteFxContainer::ClientContainer(RfxClientCapsContainer {
                capture_flags: CaptureFlags::empty(),
                caps_data: RfxCaps(RfxCapset(vec![RfxICap {
                    flags: RfxICapFlags::empty(),
                    entropy_bits: EntropyBits::Rlgr3,
                }])),
            })),
        });
    }
    BitmapCodecs(announced)
}

/// Our defaults for IronRDP's connector configuration (it has no `Default`).
/// `layout` is the person's keyboard: the desktop maps the key positions sent with it.
pub fn connector_config(
    desktop: &Desktop,
    password: String,
    size: DesktopSize,
    layout: KeyboardLayout,
    codecs: &[Codec],
) -> ironrdp_connector::Config {
    ironrdp_connector::Config {
        desktop_size: size,
        monitor_layout: None,
        desktop_scale_factor: 0,
        desktop_physical_size: None,
        desktop_orientation: None,
        device_scale_factor: None,
        monitor_extended_layout: None,
        relative_mouse_input: false,
        enable_tls: true,
        enable_credssp: desktop.security == Security::Nla,
        enable_standard_rdp_security: false,
        credentials: Credentials::UsernamePassword { username: desktop.username.clone(), password },
        domain: desktop.domain.clone(),
        // What FreeRDP says. xrdp treats a build of 419 or less as a client that cannot
        // change size, and then resizes the X screen without activating us again.
        client_build: 2600,
        client_name: "gatehouse".to_string(),
        keyboard_type: KeyboardType::IBM_ENHANCED,
        keyboard_subtype: 0,
        keyboard_functional_keys_count: 12,
        keyboard_layout: layout.id(),
        connection_type: ironrdp_pdu::gcc::ConnectionType::Lan,
        ime_file_name: String::new(),
        bitmap: Some(BitmapConfig { lossy_compression: true, color_depth: 32, codecs: bitmap_codecs(codecs) }),
        dig_product_id: String::new(),
        client_dir: "C:\\\\Windows\\\\System32\\\\mstscax.dll".to_string(),
        alternate_shell: String::new(),
        work_dir: String::new(),
        remote_application_mode: false,
        rail_support_level: ironrdp_pdu::rdp::capability_sets::RailSupportLevel::empty(),
        platform: MajorPlatformType::UNIX,
        hardware_id: None,
        // Said in the clear before TLS: a neutral cookie, not the account's name (which
        // IronRDP sends by default).
        request_data: Some(ironrdp_pdu::nego::NegoRequestData::cookie("gatehouse".to_string())),
        // xrdp shows its own login screen unless the client asks to log on directly.
        autologon: true,
        enable_audio_playback: false,
        enable_audio_capture: false,
        performance_flags: PerformanceFlags::default(),
        license_cache: None,
        timezone_info: TimezoneInfo::default(),
        compression_type: None,
        enable_server_pointer: true,
        pointer_software_rendering: false,
        multitransport_flags: None,
        // The graphics pipeline (EGFX) comes later; fast-path bitmaps first.
        support_dyn_vc_gfx_protocol: false,
    }
}

/// Kerberos would need the network; NTLM, which we use, never asks.
struct NoNetwork;

impl ironrdp_tokio::NetworkClient for NoNetwork {
    async fn send(
        &mut self,
        _request: &ironrdp_connector::sspi::generator::NetworkRequest,
    ) -> ironrdp_connector::ConnectorResult<Vec<u8>> {
        Err(ironrdp_connector::general_err!("Kerberos is not supported by Gatehouse; use NTLM"))
    }
}

/// A connection in the active stage: what the server settled on, the stream, and the
/// pin of the certificate the desktop presented.
pub struct Active {
    pub result: ConnectionResult,
    pub framed: ironrdp_tokio::TokioFramed<ironrdp_tls::TlsStream<TcpStream>>,
    pub certificate_pin: String,
}

/// Connects to `desktop` and runs the connection sequence to the active stage, in at
/// most 30 s (a server that accepts and then stops answering must not hold the task).
/// With `clipboard`, the CLIPRDR channel is offered (the desktop may decline it).
pub async fn connect(
    desktop: &Desktop,
    password: String,
    size: DesktopSize,
    layout: KeyboardLayout,
    codecs: &[Codec],
    clipboard: Option<crate::rdp::clipboard::Notes>,
) -> Result<Active, RdpError> {
    connect_bounded(desktop, password, size, layout, codecs, clipboard, false).await
}

/// [`connect`]; with `trust_first_use`, a desktop with no pin yet gets the account
/// whatever certificate it presents (the admin asked for that); without, it gets
/// nothing until a pin exists.
async fn connect_bounded(
    desktop: &Desktop,
    password: String,
    size: DesktopSize,
    layout: KeyboardLayout,
    codecs: &[Codec],
    clipboard: Option<crate::rdp::clipboard::Notes>,
    trust_first_use: bool,
) -> Result<Active, RdpError> {
    let addr = desktop.addr.clone();
    let connecting = connect_unbounded(desktop, password, size, layout, codecs, clipboard, trust_first_use);
    match tokio::time::timeout(Duration::from_secs(30), connecting).await {
        Ok(result) => result,
        Err(_) => Err(RdpError::Connector(format!("{addr} did not finish the RDP connection sequence within 30 s"))),
    }
}

async fn connect_unbounded(
    desktop: &Desktop,
    password: String,
    size: DesktopSize,
    layout: KeyboardLayout,
    codecs: &[Codec],
    clipboard: Option<crate::rdp::clipboard::Notes>,
    trust_first_use: bool,
) -> Result<Active, RdpError> {
    let addr = desktop.addr.clone();
    let tcp = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&addr)).await {
        Ok(Ok(tcp)) => tcp,
        Ok(Err(source)) => return Err(RdpError::Unreachable { addr, source }),
        Err(_) => return Err(RdpError::Timeout { addr }),
    };
    let _ = tcp.set_nodelay(true);
    let client_addr: SocketAddr =
        tcp.local_addr().map_err(|source| RdpError::Unreachable { addr: addr.clone(), source })?;
    let host = addr.rsplit_once(':').map_or(addr.as_str(), |(host, _)| host).trim_matches(['[', ']']).to_string();
    let mut framed = ironrdp_tokio::TokioFramed::new(tcp);
    let mut connector = ClientConnector::new(connector_config(desktop, password, size, layout, codecs), client_addr);
    // The dynamic channels, for the display control channel: a desktop that opens it
    // changes size live instead of the page reconnecting.
    let display_control = ironrdp_displaycontrol::client::DisplayControlClient::new(|_| Ok(Vec::new()));
    connector = connector.with_static_channel(ironrdp_dvc::DrdynvcClient::new().with_dynamic_channel(display_control));
    if let Some(notes) = clipboard {
        let backend = crate::rdp::clipboard::Backend::new(notes);
        connector = connector.with_static_channel(ironrdp_cliprdr::CliprdrClient::new(Box::new(backend)));
    }
    let connector_error = |err: ironrdp_connector::ConnectorError| RdpError::Connector(format!("{err:#}"));
    let should_upgrade = ironrdp_tokio::connect_begin(&mut framed, &mut connector).await.map_err(connector_error)?;
    // A desktop set up for NLA that now answers "TLS only" is not the desktop we know (or
    // its settings changed): never let the account fall back to the weaker exchange.
    if desktop.security == Security::Nla
        && let ironrdp_connector::ClientConnectorState::EnhancedSecurityUpgrade { selected_protocol } = &connector.state
        && !selected_protocol
            .intersects(ironrdp_pdu::nego::SecurityProtocol::HYBRID | ironrdp_pdu::nego::SecurityProtocol::HYBRID_EX)
    {
        return Err(RdpError::NlaRefused { addr });
    }
    let tcp = framed.into_inner_no_leftover();
    let (tls, certificate) =
        ironrdp_tls::upgrade(tcp, &host).await.map_err(|source| RdpError::Tls { addr: addr.clone(), source })?;
    // Desktops present self-signed certificates: trust is the pin, checked before any
    // credential is sent (CredSSP, or the Client Info PDU with TLS only).
    let der = x509_cert::der::Encode::to_der(&certificate)
        .map_err(|err| RdpError::Connector(format!("the server's TLS certificate cannot be read: {err}")))?;
    let certificate_pin = crate::inventory::desktops::certificate_pin(&der);
    match &desktop.tls_pin {
        Some(pinned) if *pinned != certificate_pin => {
            return Err(RdpError::CertificateChanged { addr, pinned: pinned.clone(), presented: certificate_pin });
        }
        None if !trust_first_use => {
            return Err(RdpError::Unpinned { addr, name: desktop.name.to_string(), presented: certificate_pin });
        }
        _ => {}
    }
    let server_public_key = ironrdp_tls::extract_tls_server_public_key(&certificate)
        .ok_or_else(|| RdpError::Connector("the server's TLS certificate has no public key".into()))?
        .to_owned();
    let upgraded = ironrdp_tokio::mark_as_upgraded(should_upgrade, &mut connector);
    let mut framed = ironrdp_tokio::TokioFramed::new(tls);
    let outcome = ironrdp_tokio::connect_finalize(
        upgraded,
        connector,
        &mut framed,
        &mut NoNetwork,
        ServerName::new(host),
        server_public_key,
        None,
    )
    .await
    .map_err(|err| {
        let detail = format!("{err:#}");
        // With NLA the server checks the account inside CredSSP and, on a wrong one,
        // simply hangs up: say what that almost always means.
        if desktop.security == Security::Nla && !detail.to_lowercase().contains("tls") {
            RdpError::SignInRefused { detail: detail.rsplit(']').next().unwrap_or(&detail).trim().to_string() }
        } else {
            RdpError::Connector(detail)
        }
    })?;
    match outcome {
        ironrdp_connector::ConnectionOutcome::Connected(result) => Ok(Active { result, framed, certificate_pin }),
        _ => Err(RdpError::Connector(
            "the server redirected the connection elsewhere, which Gatehouse does not follow".into(),
        )),
    }
}

/// What `desktops check` reports: the size the server settled on, and the graphics
/// that arrived in the first seconds.
pub struct CheckReport {
    pub certificate_pin: String,
    pub width: u16,
    pub height: u16,
    pub fast_path_pdus: usize,
    pub bytes: usize,
}

/// Connects, then reads for up to `listen` to see the desktop's first graphics. A desktop
/// without a pin is refused before the account is sent, unless `trust_first_use`.
pub async fn check(
    desktop: &Desktop,
    password: String,
    listen: Duration,
    trust_first_use: bool,
) -> Result<CheckReport, RdpError> {
    let size = DesktopSize { width: 1024, height: 768 };
    // Plain bitmaps: a check only counts what arrives, and needs no frame acknowledgements.
    let mut active =
        connect_bounded(desktop, password, size, KeyboardLayout::EN_US, &[Codec::Bitmap], None, trust_first_use)
            .await?;
    let size = active.result.desktop_size;
    let mut report = CheckReport {
        certificate_pin: active.certificate_pin.clone(),
        width: size.width,
        height: size.height,
        fast_path_pdus: 0,
        bytes: 0,
    };
    let deadline = tokio::time::Instant::now() + listen;
    while let Ok(read) = tokio::time::timeout_at(deadline, active.framed.read_pdu()).await {
        let (action, frame) =
            read.map_err(|err| RdpError::Connector(format!("the desktop closed the connection: {err}")))?;
        report.bytes += frame.len();
        if action == ironrdp_pdu::Action::FastPath {
            report.fast_path_pdus += 1;
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remotefx_is_announced_only_when_offered() {
        assert!(bitmap_codecs(&[Codec::Bitmap]).0.is_empty(), "plain bitmaps need no codec");
        let offered = bitmap_codecs(&[Codec::RemoteFx, Codec::Bitmap]);
        assert!(
            matches!(offered.0.as_slice(), [codec] if codec.id == REMOTEFX_CODEC_ID
                && matches!(codec.property, CodecProperty::RemoteFx(RemoteFxContainer::ClientContainer(_)))),
            "{offered:?}"
        );
    }
}
