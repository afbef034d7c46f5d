//! The proxy's SSH client to a node in a recorded session: connect, check the node's
//! host certificate as the browser would, and sign in with a certificate of its own.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use gatehouse_ssh_policy::{HostCertError, check_host};
use russh::client;
use russh::keys::PublicKeyOrCertificate;
use tokio::net::TcpStream;

use super::certificate::CERT_SKEW_SECS;
use super::{CHANNEL_BUFFER, Target};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

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
pub async fn authenticate_node(
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
            file_transfer: Default::default(),
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
