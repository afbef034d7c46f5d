//! HTTPS: rustls over tokio, HTTP/1.1 with upgrades (WebSockets come later), one task
//! per connection so a slow TLS handshake never holds up anyone else.

use std::fs::OpenOptions;
use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::{self, pki_types::pem::PemObject};
use tower::ServiceExt;

use crate::config::Config;

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the certificate and key come from: the config, or a self-signed pair made in
/// the data directory on first start.
pub fn tls_files(config: &Config) -> anyhow::Result<(PathBuf, PathBuf)> {
    if let Some(tls) = &config.tls {
        return Ok((tls.cert.clone(), tls.key.clone()));
    }
    let dir = config.data_dir.join("tls");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let names = self_signed_names(&config.public_url);
    // The names it was made for, beside it: a certificate made before apps (or for
    // another public URL) is made again.
    let made_for = dir.join("names.txt");
    let current = std::fs::read_to_string(&made_for).is_ok_and(|text| text == names.join("\n"));
    if !cert.exists() || !key.exists() || !current {
        make_self_signed(&dir, &cert, &key, &names)?;
        std::fs::write(&made_for, names.join("\n"))?;
    }
    Ok((cert, key))
}

/// `localhost`, `127.0.0.1`, the public URL's host, and every app's name under it
/// (`*.<host>`).
fn self_signed_names(public_url: &str) -> Vec<String> {
    let host = public_url
        .trim_start_matches("https://")
        .split(['/', ':'])
        .next()
        .filter(|h| !h.is_empty())
        .unwrap_or("localhost");
    let mut names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    if !names.iter().any(|n| n == host) {
        names.push(host.to_string());
    }
    if let Some(origins) = crate::apps::origin::Origins::from_public_url(public_url) {
        names.push(origins.wildcard());
    }
    names
}

fn make_self_signed(dir: &Path, cert_path: &Path, key_path: &Path, names: &[String]) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut params = rcgen::CertificateParams::new(names.to_vec())?;
    let year = 1970 + (crate::auth::now() / 31_556_952) as i32;
    params.not_before = rcgen::date_time_ymd(year - 1, 1, 1);
    params.not_after = rcgen::date_time_ymd(year + 1, 12, 31);
    params.distinguished_name.push(rcgen::DnType::CommonName, "Gatehouse (self-signed)");
    let key = rcgen::KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    std::fs::write(cert_path, cert.pem())?;
    let mut file = OpenOptions::new().create(true).truncate(true).write(true).mode(0o600).open(key_path)?;
    file.write_all(key.serialize_pem().as_bytes())?;
    tracing::info!(cert = %cert_path.display(), "made a self-signed TLS certificate");
    Ok(())
}

pub fn acceptor(cert: &Path, key: &Path) -> anyhow::Result<TlsAcceptor> {
    let certs = rustls::pki_types::CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("cannot read the TLS certificate {}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("the TLS certificate {} is not valid PEM", cert.display()))?;
    let key = rustls::pki_types::PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("cannot read the TLS key {}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("the TLS certificate and key do not match")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Accepts connections until the process ends.
/// Serves `app` on `listener`; requests from `trusted` (load balancers) are taken to
/// come from the address their `X-Forwarded-For` names.
pub async fn serve(listener: TcpListener, acceptor: TlsAcceptor, app: Router, trusted: Arc<[std::net::IpAddr]>) {
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(err) => {
                // Out of file descriptors and the like: wait a little instead of spinning.
                tracing::warn!(%err, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let (acceptor, app, trusted) = (acceptor.clone(), app.clone(), trusted.clone());
        tokio::spawn(async move { connection(tcp, peer, acceptor, app, trusted).await });
    }
}

async fn connection(
    tcp: tokio::net::TcpStream,
    peer: SocketAddr,
    acceptor: TlsAcceptor,
    app: Router,
    trusted: Arc<[std::net::IpAddr]>,
) {
    let _ = tcp.set_nodelay(true);
    let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(err)) => {
            tracing::debug!(%peer, %err, "TLS handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "TLS handshake timed out");
            return;
        }
    };
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        let client = super::forwarded::client(peer, request.headers(), &trusted);
        request.extensions_mut().insert(ConnectInfo(client));
        app.clone().oneshot(request)
    });
    let result = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades()
        .await;
    if let Err(err) = result {
        tracing::debug!(%peer, %err, "connection ended with an error");
    }
}
