//! `gatehouse nodes check NAME`: proves that a node enforces what Gatehouse's
//! certificates rely on, by signing in with one certificate it must accept and several
//! it must refuse (another node's, another login's, the wrong address, the session CA,
//! an unbound one from before node binding). Each refusal that does not happen comes
//! with the sentence that says what to fix on the node.

use std::sync::Arc;

use crate::ca::{Authorities, CertificateAuthority, Extensions, UserGrant};
use crate::inventory::nodes::Node;
use crate::ssh::certificate::CERT_SKEW_SECS;
use crate::ssh::{Target, node};
use gatehouse_ssh_policy::principal;

/// One sign-in attempt and what it showed.
pub struct Finding {
    pub what: String,
    /// The node did what it must.
    pub passed: bool,
    /// What to change on the node when it did not (or why the check could not run).
    pub fix: String,
}

/// A principal no node is called, for "another node's certificate".
const ELSEWHERE: &str = "gatehouse-check-elsewhere";

struct Probe {
    what: String,
    ca: Which,
    principal: String,
    source: Option<String>,
    accept: bool,
    fix: String,
}

enum Which {
    User,
    Session,
}

/// The line that makes a node's sshd admit a login only with a certificate naming
/// `login@node`: it turns the login it is asked for (`%u`) into that one principal.
pub fn principals_command(node: &str) -> String {
    format!("AuthorizedPrincipalsCommand /bin/echo %u@{node}")
}

/// What a node's sshd_config needs to enforce Gatehouse's certificates.
pub fn sshd_lines(node: &str) -> [String; 5] {
    [
        "TrustedUserCAKeys /etc/ssh/gatehouse_user_ca.pub".into(),
        "HostCertificate /etc/ssh/ssh_host_ed25519_key-cert.pub".into(),
        principals_command(node),
        "AuthorizedPrincipalsCommandUser nobody".into(),
        "AuthorizedKeysFile none".into(),
    ]
}

/// Runs every probe against `node`, signing in as `login`.
pub async fn check(cas: &Authorities, node: &Node, login: &str) -> Vec<Finding> {
    let name = node.name.to_string();
    let target = Target {
        user: "gatehouse-nodes-check".into(),
        node: name.clone(),
        addr: node.addr.clone(),
        login: login.to_string(),
        source_addresses: None,
        file_transfer: Default::default(),
    };
    let principals_line = principals_command(&name);
    let probes = [
        Probe {
            what: format!("a certificate for {login}@{name} from this proxy's address is accepted"),
            ca: Which::User,
            principal: principal(login, &name),
            source: None,
            accept: true,
            fix: format!(
                "the node must trust the Gatehouse user CA (TrustedUserCAKeys), map logins to {login}@{name} ({principals_line} with AuthorizedPrincipalsCommandUser nobody), and have a user {login}"
            ),
        },
        Probe {
            what: format!("a certificate for another node ({login}@{ELSEWHERE}) is refused"),
            ca: Which::User,
            principal: principal(login, ELSEWHERE),
            source: None,
            accept: false,
            fix: format!("add `{principals_line}` and `AuthorizedPrincipalsCommandUser nobody` to its sshd_config, so it admits only certificates for itself"),
        },
        Probe {
            what: format!("a certificate naming only the login ({login}), bound to no node, is refused"),
            ca: Which::User,
            principal: login.to_string(),
            source: None,
            accept: false,
            fix: format!("add `{principals_line}` and `AuthorizedPrincipalsCommandUser nobody` to its sshd_config: without it sshd admits any certificate that names the login"),
        },
        Probe {
            what: format!("a certificate for another login (gatehouse-check-other@{name}) is refused for {login}"),
            ca: Which::User,
            principal: principal("gatehouse-check-other", &name),
            source: None,
            accept: false,
            fix: format!("its AuthorizedPrincipalsCommand must print the login it is asked for (%u): `{principals_line}`"),
        },
        Probe {
            what: "a certificate that must come from another address (192.0.2.1) is refused".into(),
            ca: Which::User,
            principal: principal(login, &name),
            source: Some("192.0.2.1".into()),
            accept: false,
            fix: "its sshd ignores the certificate's source-address: use a current OpenSSH".into(),
        },
        Probe {
            what: "a certificate from the session CA (which only the proxy may accept) is refused".into(),
            ca: Which::Session,
            principal: principal(login, &name),
            source: None,
            accept: false,
            fix: "remove the Gatehouse session CA from its TrustedUserCAKeys: only the user CA (`gatehouse ca user`) belongs there".into(),
        },
    ];
    let mut findings = Vec::new();
    for probe in probes {
        let ca: &CertificateAuthority = match probe.ca {
            Which::User => &cas.user,
            Which::Session => &cas.session,
        };
        let finding = match attempt(cas, ca, &target, &probe).await {
            Ok(accepted) => Finding { what: probe.what, passed: accepted == probe.accept, fix: probe.fix },
            Err(why) => Finding { what: probe.what, passed: false, fix: why },
        };
        let stop = !finding.passed && probe.accept;
        findings.push(finding);
        // If the one certificate that must work does not, the refusals prove nothing.
        if stop {
            break;
        }
    }
    findings
}

/// Signs in once with a fresh key and a certificate for `probe`: did the node accept it?
async fn attempt(cas: &Authorities, ca: &CertificateAuthority, target: &Target, probe: &Probe) -> Result<bool, String> {
    let mut connection = node::connect_node(cas, target).await?;
    let now = crate::auth::now();
    let grant = UserGrant {
        principal: probe.principal.clone(),
        key_id: gatehouse_ssh_policy::NODES_CHECK_KEY_ID.into(),
        source_address: Some(probe.source.clone().unwrap_or_else(|| connection.local_ip.to_string())),
        extensions: Extensions::default(),
        valid_after: now.saturating_sub(CERT_SKEW_SECS),
        valid_before: now + CERT_SKEW_SECS,
    };
    let key = crate::ca::ephemeral_key("gatehouse nodes check");
    let cert =
        ca.sign_user(key.public_key(), &grant).map_err(|err| format!("cannot sign a test certificate: {err}"))?;
    let result = connection.handle.authenticate_openssh_cert(target.login.clone(), Arc::new(key), cert).await;
    let _ = connection.handle.disconnect(russh::Disconnect::ByApplication, "", "en").await;
    match result {
        Ok(outcome) => Ok(outcome.success()),
        Err(err) => Err(format!("signing in to {} failed: {err}", target.node)),
    }
}
