//! The browser's SSH identity: an Ed25519 key made in this tab, in memory only (never
//! in storage), and the user certificate the proxy signs for it, which ends with the
//! web session.

use std::sync::Arc;

use gatehouse_proto::api::{SshCertificate, SshCertificateRequest};
use russh::keys::ssh_key::private::Ed25519Keypair;
use russh::keys::ssh_key::{Certificate, PrivateKey};

use crate::api::{self, Failure};

#[derive(Clone)]
pub struct Identity {
    pub key: Arc<PrivateKey>,
    pub certificate: Certificate,
    pub info: SshCertificate,
}

fn random_seed() -> Result<[u8; 32], Failure> {
    let mut seed = [0u8; 32];
    getrandom::getrandom(&mut seed).map_err(|err| Failure {
        status: 0,
        code: "random".into(),
        message: format!("This browser could not make a key ({err})."),
    })?;
    Ok(seed)
}

/// Makes a key and has the proxy certify it.
pub async fn obtain(csrf: &str) -> Result<Identity, Failure> {
    let key = PrivateKey::from(Ed25519Keypair::from_seed(&random_seed()?));
    let public_key = key.public_key().to_openssh().unwrap_or_default();
    let info: SshCertificate =
        api::post("/api/v1/ssh/certificate", &SshCertificateRequest { public_key }, csrf).await?;
    let certificate = Certificate::from_openssh(&info.certificate).map_err(|err| Failure {
        status: 0,
        code: "certificate".into(),
        message: format!("The proxy's certificate could not be read ({err})."),
    })?;
    Ok(Identity { key: Arc::new(key), certificate, info })
}
