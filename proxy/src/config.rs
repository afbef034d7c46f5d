//! `gatehouse.toml`: every setting has a default, so `gatehouse start` with no file runs
//! a complete local instance.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde::{Deserialize, Deserializer};

use crate::access::rbac::Roles;
use crate::inventory::nodes::Node;

/// The longest a web session may last, whatever the config says.
pub const MAX_SESSION_TTL: Duration = Duration::from_secs(12 * 3600);

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Socket address the HTTPS server binds.
    pub listen: SocketAddr,
    /// The address people type; used in invite links and as the WebAuthn origin.
    pub public_url: String,
    /// The WebAuthn relying party id; by default the host of `public_url`. A parent
    /// domain (say `example.com` for `gatehouse.example.com`) keeps passkeys valid if
    /// the proxy moves within it.
    pub webauthn_rp_id: Option<String>,
    /// SQLite database, CA keys, TLS certificate and audit log live here.
    pub data_dir: PathBuf,
    /// The built web app (trunk's `dist/`).
    pub web_root: PathBuf,
    /// A certificate and key to serve; without them a self-signed one is made.
    pub tls: Option<TlsFiles>,
    #[serde(deserialize_with = "duration")]
    pub session_ttl: Duration,
    #[serde(deserialize_with = "duration")]
    pub invite_ttl: Duration,
    pub signin: SignInPolicy,
    pub log_format: LogFormat,
    /// Nodes listed here, beside those added with `gatehouse nodes add`.
    pub nodes: Vec<Node>,
    /// Desktops listed here (passwords from files), beside those added with
    /// `gatehouse desktops add`.
    pub desktops: Vec<crate::inventory::desktops::ConfigDesktop>,
    /// The graphics the proxy offers desktops: `"remotefx"` (used when the desktop
    /// offers it too) and `"bitmap"` (plain bitmaps, which every desktop can send).
    /// Default: both; `["bitmap"]` asks for plain bitmaps only.
    pub desktop_codecs: Vec<crate::rdp::connect::Codec>,
    /// Web apps listed here, beside those added with `gatehouse apps add`.
    pub apps: Vec<crate::inventory::apps::ConfigApp>,
    /// How requests to apps are signed, timed and audited.
    pub app_access: crate::apps::Settings,
    /// Role name → what it grants. Without a `[roles]` table: `admin` reaches every
    /// node as root.
    pub roles: Roles,
    pub ssh: SshSettings,
    pub limits: Limits,
    /// Where the state lives: SQLite in `data_dir` unless `url` names a PostgreSQL
    /// server (for several proxies).
    pub database: DatabaseSettings,
    /// The CA keys and the desktop vault key (default: `data_dir/ca`). Several proxies
    /// read the same keys: copy this folder to each, or point them all at one.
    pub keys_dir: Option<PathBuf>,
    /// Where Prometheus scrapes `/metrics` (plain HTTP; an operator's network only).
    /// Off unless set.
    pub metrics_listen: Option<SocketAddr>,
    /// Load balancers whose `X-Forwarded-For` names the client (their own addresses, as
    /// the proxy sees them). Empty: every request is taken to come from its peer.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    pub recordings: RecordingsSettings,
    /// Which credentials may be enrolled as trusted devices (`[device_trust]`).
    pub device_trust: crate::devices::Policy,
    /// Single sign-on connectors (OpenID Connect), one button each on the sign-in page.
    pub sso: Vec<SsoConnector>,
    pub access_requests: AccessRequestSettings,
}

/// Just-in-time access requests (the roles that may be requested are in `[roles]`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccessRequestSettings {
    /// A JSON POST here when a request is made, approved, denied or revoked: `https://`,
    /// or `http://` to a loopback address.
    pub webhook_url: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `postgres://user:password@host:port/database?sslmode=require`; SQLite when absent.
    pub url: Option<String>,
    /// The PostgreSQL schema to keep the tables in (default: the user's search path).
    pub schema: Option<String>,
    /// Connections each proxy keeps at most.
    pub pool_size: usize,
    /// PEM certificates that sign the server's: TLS to the database, checked against
    /// these (with `sslmode=require` in the URL, a connection without TLS is refused).
    pub ca_file: Option<PathBuf>,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        DatabaseSettings { url: None, schema: None, pool_size: 16, ca_file: None }
    }
}

/// Where recordings go. Without `store`, in `data_dir/recordings/` as files (the
/// default); with it, written to the `spool` folder first and uploaded to an
/// S3-compatible object store as the session runs.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RecordingsSettings {
    /// `s3://BUCKET/PREFIX` (the prefix may be empty).
    pub store: Option<String>,
    /// The S3 API's address (`https://…`; `http://` only with `allow_http` on a loopback
    /// address). Default: `AWS_ENDPOINT`, else Amazon's own for the region.
    pub endpoint: Option<String>,
    /// Default: `AWS_REGION` / `AWS_DEFAULT_REGION`.
    pub region: Option<String>,
    /// Default: `AWS_ACCESS_KEY_ID`.
    pub access_key_id: Option<String>,
    /// Default: `AWS_SECRET_ACCESS_KEY`. Better kept in `secret_access_key_file`.
    pub secret_access_key: Option<String>,
    /// A file holding the secret access key (surrounding whitespace ignored).
    pub secret_access_key_file: Option<PathBuf>,
    /// Lets the endpoint be plain `http://`: only for a loopback address (a store on the
    /// proxy's own machine), since recordings would otherwise cross a network in the clear.
    pub allow_http: bool,
    /// Where a recording is written while its session runs (and until uploaded).
    /// Default: `data_dir/recordings`. Each proxy needs its own.
    pub spool: Option<PathBuf>,
}

/// An `s3://BUCKET/PREFIX` address, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreUrl {
    pub bucket: String,
    /// Without leading or trailing `/`; empty for the bucket's root.
    pub prefix: String,
}

impl StoreUrl {
    pub fn parse(text: &str) -> anyhow::Result<StoreUrl> {
        let rest = text.strip_prefix("s3://").with_context(|| {
            format!("store = {text:?}: only S3-compatible stores are supported, as s3://BUCKET/PREFIX")
        })?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let bucket_ok = (3..=63).contains(&bucket.len())
            && bucket.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        if !bucket_ok {
            anyhow::bail!(
                "store = {text:?}: {bucket:?} is not a bucket name (3 to 63 lowercase letters, digits, dots and hyphens)"
            );
        }
        let prefix = prefix.trim_matches('/').to_string();
        if prefix.split('/').any(|s| s.is_empty() || s == "." || s == "..") && !prefix.is_empty() {
            anyhow::bail!("store = {text:?}: the prefix {prefix:?} has an empty, `.` or `..` segment");
        }
        Ok(StoreUrl { bucket: bucket.to_string(), prefix })
    }
}

impl RecordingsSettings {
    fn check(&self) -> anyhow::Result<()> {
        let Some(store) = &self.store else {
            if self.endpoint.is_some() || self.access_key_id.is_some() || self.secret_access_key.is_some() {
                anyhow::bail!("[recordings] has object store settings but no `store = \"s3://BUCKET/PREFIX\"`");
            }
            return Ok(());
        };
        StoreUrl::parse(store)?;
        if self.secret_access_key.is_some() && self.secret_access_key_file.is_some() {
            anyhow::bail!("[recordings] give secret_access_key or secret_access_key_file, not both");
        }
        if let Some(endpoint) = &self.endpoint {
            let url = url::Url::parse(endpoint)
                .with_context(|| format!("[recordings] endpoint {endpoint:?} is not a URL"))?;
            match url.scheme() {
                "https" => {}
                "http" if !self.allow_http => anyhow::bail!(
                    "[recordings] endpoint {endpoint:?} is plain http: recordings would travel unencrypted. Use https, or set allow_http = true for a store on this machine's loopback address"
                ),
                "http" => {
                    let loopback = match url.host() {
                        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                        Some(url::Host::Domain(name)) => name == "localhost",
                        None => false,
                    };
                    if !loopback {
                        anyhow::bail!(
                            "[recordings] allow_http is only for a loopback endpoint (127.0.0.1, ::1, localhost), not {endpoint:?}: use https"
                        );
                    }
                }
                other => anyhow::bail!("[recordings] endpoint {endpoint:?}: the scheme must be https, not {other}"),
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SshSettings {
    /// The addresses nodes see the proxy's connections come from (IPs or CIDR ranges),
    /// written as `source-address` into every certificate a node accepts. Empty: the
    /// address of the proxy's own route to each node, which is right unless NAT or
    /// several proxies sit between them.
    pub source_addresses: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// SSH sessions one user may have open at once.
    pub ssh_sessions_per_user: usize,
    /// Desktop sessions one user may have open at once.
    pub desktop_sessions_per_user: usize,
    /// Below this much free space (MiB) where recordings are written, new recorded
    /// sessions are refused and running ones end, their recordings whole.
    pub min_free_disk_mb: u64,
    /// How long a moderated session may stay paused (its last moderator gone) before it
    /// ends, in seconds.
    pub moderator_grace_secs: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            ssh_sessions_per_user: 10,
            desktop_sessions_per_user: 4,
            min_free_disk_mb: 256,
            moderator_grace_secs: 60,
        }
    }
}

/// `192.0.2.7`, `2001:db8::1`, `192.0.2.0/24`: what OpenSSH's source-address takes.
fn check_source_address(text: &str) -> anyhow::Result<()> {
    let (ip, prefix) = match text.split_once('/') {
        Some((ip, prefix)) => (ip, Some(prefix)),
        None => (text, None),
    };
    let ip: std::net::IpAddr = ip.parse().with_context(|| format!("{text:?} is not an IP address or CIDR range"))?;
    if let Some(prefix) = prefix {
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let bits: u8 = prefix.parse().with_context(|| format!("{text:?}: the prefix is not a number"))?;
        if bits > max {
            anyhow::bail!("{text:?}: the prefix is longer than {max} bits");
        }
    }
    Ok(())
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SignInPolicy {
    /// Failed sign-ins for one user name within `failure_window` that lock it.
    pub max_failures: u32,
    #[serde(deserialize_with = "duration")]
    pub failure_window: Duration,
    #[serde(deserialize_with = "duration")]
    pub lockout: Duration,
    /// Sign-in attempts one client address may make per minute.
    pub attempts_per_ip_per_minute: u32,
    pub min_password_length: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 3080)),
            public_url: "https://localhost:3080".into(),
            webauthn_rp_id: None,
            data_dir: PathBuf::from(".gatehouse"),
            web_root: PathBuf::from("dist"),
            tls: None,
            session_ttl: MAX_SESSION_TTL,
            invite_ttl: Duration::from_secs(3600),
            signin: SignInPolicy::default(),
            log_format: LogFormat::Text,
            nodes: Vec::new(),
            desktops: Vec::new(),
            desktop_codecs: vec![crate::rdp::connect::Codec::RemoteFx, crate::rdp::connect::Codec::Bitmap],
            apps: Vec::new(),
            app_access: crate::apps::Settings::default(),
            roles: crate::access::rbac::default_roles(),
            ssh: SshSettings::default(),
            limits: Limits::default(),
            database: DatabaseSettings::default(),
            keys_dir: None,
            metrics_listen: None,
            trusted_proxies: Vec::new(),
            recordings: RecordingsSettings::default(),
            sso: Vec::new(),
            access_requests: AccessRequestSettings::default(),
            device_trust: crate::devices::Policy::default(),
        }
    }
}

impl Default for SignInPolicy {
    fn default() -> Self {
        SignInPolicy {
            max_failures: 5,
            failure_window: Duration::from_secs(15 * 60),
            lockout: Duration::from_secs(15 * 60),
            attempts_per_ip_per_minute: 30,
            min_password_length: 10,
        }
    }
}

impl Config {
    /// The folder of the CA keys and the desktop vault key.
    pub fn keys_dir(&self) -> PathBuf {
        self.keys_dir.clone().unwrap_or_else(|| self.data_dir.join("ca"))
    }

    /// Reads a config file; relative paths in it are taken from the file's folder.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Config> {
        let Some(path) = path else {
            return Ok(Config::default());
        };
        let text =
            std::fs::read_to_string(path).with_context(|| format!("cannot read the config file {}", path.display()))?;
        let mut config =
            Config::parse(&text).with_context(|| format!("the config file {} is not valid", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        config.data_dir = base.join(&config.data_dir);
        config.web_root = base.join(&config.web_root);
        if let Some(tls) = &mut config.tls {
            tls.cert = base.join(&tls.cert);
            tls.key = base.join(&tls.key);
        }
        if let Some(ca_file) = &mut config.database.ca_file {
            *ca_file = base.join(&*ca_file);
        }
        if let Some(keys_dir) = &mut config.keys_dir {
            *keys_dir = base.join(&*keys_dir);
        }
        if let Some(spool) = &mut config.recordings.spool {
            *spool = base.join(&*spool);
        }
        if let Some(file) = &mut config.recordings.secret_access_key_file {
            *file = base.join(&*file);
        }
        for connector in &mut config.sso {
            connector.client_secret_file = base.join(&connector.client_secret_file);
            if let Some(ca_file) = &mut connector.ca_file {
                *ca_file = base.join(&*ca_file);
            }
        }
        Ok(config)
    }

    pub fn parse(text: &str) -> anyhow::Result<Config> {
        let mut config: Config = toml::from_str(text)?;
        config.public_url = config.public_url.trim_end_matches('/').to_string();
        if !config.public_url.starts_with("https://") {
            anyhow::bail!("public_url must start with https:// (got {:?})", config.public_url);
        }
        if config.session_ttl > MAX_SESSION_TTL || config.session_ttl.is_zero() {
            anyhow::bail!("session_ttl must be between 1s and 12h");
        }
        for address in &config.ssh.source_addresses {
            check_source_address(address).context("[ssh] source_addresses")?;
        }
        crate::access::rbac::check_roles(&config.roles).map_err(anyhow::Error::msg)?;
        config.device_trust.validate().map_err(anyhow::Error::msg)?;
        if config.limits.ssh_sessions_per_user == 0 || config.limits.desktop_sessions_per_user == 0 {
            anyhow::bail!("[limits] sessions per user must be at least 1");
        }
        config.recordings.check()?;
        for connector in &config.sso {
            connector.check(&config.roles)?;
        }
        if let Some(url) = &config.access_requests.webhook_url {
            crate::webhook::check_url(url).map_err(anyhow::Error::msg).context("[access_requests]")?;
        }
        let mut names = std::collections::BTreeSet::new();
        for node in &config.nodes {
            if !names.insert(&node.name) {
                anyhow::bail!("the node {} is listed twice", node.name);
            }
        }
        Ok(config)
    }
}

/// Single sign-on (`[[sso]]`): what [`crate::sso`] runs with.
/// One identity provider, as configured.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SsoConnector {
    /// In URLs and the audit: lowercase letters, digits and `-`.
    pub name: String,
    /// On the sign-in page's button: "Sign in with …".
    pub display_name: String,
    /// The issuer URL; its `/.well-known/openid-configuration` is read at each sign-in.
    /// `https://`, or `http://` on a loopback address only.
    pub issuer: String,
    pub client_id: String,
    /// A file holding the client secret (surrounding whitespace ignored).
    pub client_secret_file: PathBuf,
    /// Asked for besides `openid`. Default: `profile`, `email`.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// The claim the account's name comes from (an `email` gives its local part).
    #[serde(default = "default_username_claim")]
    pub username_claim: String,
    /// Whether a Gatehouse passkey follows the provider's sign-in.
    #[serde(default)]
    pub passkey: PasskeyAfter,
    /// PEM certificates that sign the provider's TLS certificate, besides the system's.
    pub ca_file: Option<PathBuf>,
    /// Claims to roles. Someone no rule gives a role is refused.
    #[serde(default)]
    pub roles: Vec<ClaimRule>,
}

fn default_scopes() -> Vec<String> {
    vec!["profile".into(), "email".into()]
}

fn default_username_claim() -> String {
    "preferred_username".into()
}

impl SsoConnector {
    /// What can be checked without the provider: the name, the issuer's scheme, and that
    /// every mapped role exists.
    pub fn check(&self, roles: &crate::access::rbac::Roles) -> anyhow::Result<()> {
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 32
            && self.name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !name_ok {
            anyhow::bail!("[[sso]] name {:?}: use lowercase letters, digits and - (at most 32)", self.name);
        }
        let issuer = url::Url::parse(&self.issuer)
            .with_context(|| format!("[[sso]] {}: issuer {:?} is not a URL", self.name, self.issuer))?;
        let loopback = match issuer.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(host)) => host == "localhost",
            None => false,
        };
        if !(issuer.scheme() == "https" || (issuer.scheme() == "http" && loopback)) {
            anyhow::bail!(
                "[[sso]] {}: the issuer must be https:// (http:// only on a loopback address), got {:?}",
                self.name,
                self.issuer
            );
        }
        if self.roles.is_empty() {
            anyhow::bail!(
                "[[sso]] {}: map at least one claim to roles ([[sso.roles]]), or nobody can sign in",
                self.name
            );
        }
        for rule in &self.roles {
            if let Some(missing) = rule.roles.iter().find(|role| !roles.contains_key(*role)) {
                anyhow::bail!(
                    "[[sso]] {}: the claim {:?} maps to the role {missing:?}, which [roles] does not define",
                    self.name,
                    rule.claim
                );
            }
        }
        Ok(())
    }
}

/// `claim` holds `value` (a string equal to it, or a list with it in) → these roles.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimRule {
    pub claim: String,
    pub value: String,
    pub roles: Vec<String>,
}

/// When a Gatehouse passkey is asked for after the provider has signed someone in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PasskeyAfter {
    /// When any role the person gets asks for a passkey before each SSH session
    /// (`require_session_mfa`): whoever holds such roles proves a factor of ours too.
    #[default]
    MfaRoles,
    Always,
    Never,
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    humantime::parse_duration(&text).map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_the_defaults() {
        let config = Config::parse("").unwrap();
        assert_eq!(config.listen.port(), 3080);
        assert_eq!(config.session_ttl, MAX_SESSION_TTL);
        assert_eq!(config.signin.max_failures, 5);
    }

    #[test]
    fn desktops_are_offered_remotefx_unless_the_config_says_bitmaps_only() {
        use crate::rdp::connect::Codec;
        assert_eq!(Config::parse("").unwrap().desktop_codecs, [Codec::RemoteFx, Codec::Bitmap]);
        assert_eq!(Config::parse("desktop_codecs = [\"bitmap\"]").unwrap().desktop_codecs, [Codec::Bitmap]);
        let err = Config::parse("desktop_codecs = [\"h264\"]").unwrap_err().to_string();
        assert!(err.contains("h264") && err.contains("remotefx"), "{err}");
    }

    #[test]
    fn durations_are_human_readable() {
        let config = Config::parse("session_ttl = \"2h\"\n[signin]\nlockout = \"30s\"\n").unwrap();
        assert_eq!(config.session_ttl, Duration::from_secs(7200));
        assert_eq!(config.signin.lockout, Duration::from_secs(30));
    }

    #[test]
    fn session_ttl_over_twelve_hours_is_refused() {
        assert!(Config::parse("session_ttl = \"13h\"").is_err());
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = Config::parse("listn = \"127.0.0.1:1\"").unwrap_err();
        assert!(format!("{err:#}").contains("listn"));
    }

    #[test]
    fn nodes_and_roles_come_from_the_file() {
        let config = Config::parse(
            "[[nodes]]\nname = \"web-1\"\naddr = \"127.0.0.1:2222\"\nlabels = { env = \"dev\" }\n\
             [roles.dev]\nnode_labels = { env = \"dev\" }\nlogins = [\"ubuntu\"]\nssh_mode = \"direct\"\n",
        )
        .unwrap();
        assert_eq!(config.nodes[0].name.as_str(), "web-1");
        assert_eq!(config.roles["dev"].logins, ["ubuntu"]);
        assert_eq!(config.roles["dev"].ssh_mode, crate::access::rbac::SshMode::Direct);
        assert!(!config.roles.contains_key("admin"), "a [roles] table replaces the default");
    }

    #[test]
    fn bad_nodes_are_refused_with_the_reason() {
        let err = Config::parse("[[nodes]]\nname = \"Web 1\"\naddr = \"h:22\"\n").unwrap_err();
        assert!(format!("{err:#}").contains("node name"), "{err:#}");
        let err = Config::parse("[[nodes]]\nname = \"w\"\naddr = \"h\"\n").unwrap_err();
        assert!(format!("{err:#}").contains("HOST:PORT"), "{err:#}");
        let twice = "[[nodes]]\nname = \"w\"\naddr = \"h:1\"\n[[nodes]]\nname = \"w\"\naddr = \"h:2\"\n";
        assert!(format!("{:#}", Config::parse(twice).unwrap_err()).contains("twice"));
    }

    #[test]
    fn source_addresses_are_addresses_or_ranges() {
        let config =
            Config::parse("[ssh]\nsource_addresses = [\"10.0.0.2\", \"192.0.2.0/24\", \"2001:db8::/64\"]\n").unwrap();
        assert_eq!(config.ssh.source_addresses.len(), 3);
        for bad in ["proxy.example", "10.0.0.0/33", "10.0.0.1/x"] {
            let text = format!("[ssh]\nsource_addresses = [\"{bad}\"]\n");
            assert!(Config::parse(&text).is_err(), "{bad}");
        }
    }

    #[test]
    fn limits_have_defaults_and_a_recorded_role_cannot_forward() {
        let config = Config::parse("").unwrap();
        assert_eq!((config.limits.ssh_sessions_per_user, config.limits.min_free_disk_mb), (10, 256));
        let err = Config::parse("[roles.x]\nnode_labels = { env = \"a\" }\nlogins = [\"a\"]\nport_forwarding = true\n")
            .unwrap_err();
        assert!(format!("{err:#}").contains("ssh_mode = \"direct\""), "{err:#}");
        assert!(Config::parse("[limits]\nssh_sessions_per_user = 0\n").is_err());
    }

    #[test]
    fn recordings_stay_local_by_default_and_an_s3_store_is_checked() {
        let config = Config::parse("").unwrap();
        assert!(config.recordings.store.is_none() && config.recordings.spool.is_none());
        let config = Config::parse(
            "[recordings]\nstore = \"s3://rec-bucket/team/a/\"\nendpoint = \"http://127.0.0.1:3900\"\nallow_http = true\n",
        )
        .unwrap();
        let url = StoreUrl::parse(config.recordings.store.as_deref().unwrap()).unwrap();
        assert_eq!(url, StoreUrl { bucket: "rec-bucket".into(), prefix: "team/a".into() });
        assert_eq!(StoreUrl::parse("s3://rec-bucket").unwrap().prefix, "");
        let refused = |text: &str| format!("{:#}", Config::parse(&format!("[recordings]\n{text}\n")).unwrap_err());
        assert!(refused("store = \"gs://b/p\"").contains("only S3"));
        assert!(refused("store = \"s3://B_/p\"").contains("bucket name"));
        assert!(refused("store = \"s3://bkt/a//b\"").contains("empty"));
        assert!(refused("store = \"s3://bkt\"\nendpoint = \"http://127.0.0.1:1\"").contains("allow_http"));
        assert!(
            refused("store = \"s3://bkt\"\nendpoint = \"http://store.example:1\"\nallow_http = true")
                .contains("loopback")
        );
        assert!(refused("endpoint = \"https://s3.example\"").contains("no `store"));
    }

    /// The README's example is the one that parses: requestable roles and the webhook.
    #[test]
    fn the_readmes_access_request_example_is_valid_and_checked() {
        let readme = include_str!("../../README.md");
        let section = readme.split("## Access requests").nth(1).unwrap();
        let example = section.split("```toml\n").nth(1).unwrap().split("```").next().unwrap();
        let config = Config::parse(example).unwrap();
        let ops = &config.roles["ops"];
        assert_eq!(
            (ops.requestable_by.as_slice(), ops.max_duration, ops.approvals),
            (&["dev".to_string()][..], Some(4 * 3600), Some(2))
        );
        assert_eq!(ops.reviewers, ["lead"]);
        assert_eq!(config.access_requests.webhook_url.as_deref(), Some("https://hooks.example.com/gatehouse"));
        let no_reviewers = example.replace("reviewers = [\"lead\"]", "");
        assert!(format!("{:#}", Config::parse(&no_reviewers).unwrap_err()).contains("names no reviewers"));
        let plain = example.replace("https://hooks.example.com", "http://hooks.example.com");
        assert!(format!("{:#}", Config::parse(&plain).unwrap_err()).contains("loopback"));
    }

    /// The README's example of joined and moderated sessions parses, and a moderated
    /// role that could not hold input (direct) or names no defined role is refused.
    #[test]
    fn the_readmes_joined_sessions_example_is_valid_and_checked() {
        use crate::access::rbac::JoinMode;
        let readme = include_str!("../../README.md");
        let section = readme.split("## Joined and moderated sessions").nth(1).unwrap();
        let example = section.split("```toml\n").nth(1).unwrap().split("```").next().unwrap();
        let config = Config::parse(example).unwrap();
        assert_eq!(config.roles["pairing"].join_sessions, [JoinMode::Observer, JoinMode::Peer]);
        assert_eq!(config.roles["contractor"].require_moderator, ["auditor"]);
        assert_eq!(config.limits.moderator_grace_secs, 60);
        let direct = example.replace("logins = [\"deploy\"]", "logins = [\"deploy\"]\nssh_mode = \"direct\"");
        assert!(format!("{:#}", Config::parse(&direct).unwrap_err()).contains("moderation needs"));
        let unknown = example.replace("require_moderator = [\"auditor\"]", "require_moderator = [\"nobody\"]");
        assert!(format!("{:#}", Config::parse(&unknown).unwrap_err()).contains("not defined"));
    }

    #[test]
    fn sso_connectors_are_checked_against_the_roles() {
        let roles = "[roles.dev]\nnode_labels = { env = \"dev\" }\nlogins = [\"dev\"]\n";
        let connector = |issuer: &str, role: &str| {
            format!(
                "{roles}[[sso]]\nname = \"corp\"\ndisplay_name = \"Corp\"\nissuer = \"{issuer}\"\nclient_id = \"gh\"\n\
                 client_secret_file = \"secret\"\n[[sso.roles]]\nclaim = \"groups\"\nvalue = \"dev\"\nroles = [\"{role}\"]\n"
            )
        };
        let config = Config::parse(&connector("https://idp.example", "dev")).unwrap();
        assert_eq!(config.sso[0].scopes, ["profile", "email"]);
        assert_eq!(config.sso[0].username_claim, "preferred_username");
        assert!(Config::parse(&connector("http://127.0.0.1:9000", "dev")).is_ok(), "plain http on loopback");
        let refused = |text: String| format!("{:#}", Config::parse(&text).unwrap_err());
        assert!(refused(connector("http://idp.example", "dev")).contains("https://"));
        assert!(refused(connector("https://idp.example", "ops")).contains("\"ops\""));
    }

    #[test]
    fn plain_http_public_url_is_refused() {
        assert!(Config::parse("public_url = \"http://localhost:3080\"").is_err());
    }
}
